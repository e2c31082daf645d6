/*
 * extract.h
 *		JSONB extraction: reading the fields of a Spotify track object.
 */
#ifndef MUSIC_TM_EXTRACT_H
#define MUSIC_TM_EXTRACT_H

#include "postgres.h"

#include "utils/jsonb.h"

extern char *mtm_track_release_date_text(JsonbContainer *track);
extern char *mtm_track_isrc(JsonbContainer *track);

#endif							/* MUSIC_TM_EXTRACT_H */
