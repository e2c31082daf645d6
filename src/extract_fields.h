/*
 * extract_fields.h
 *		One-pass extraction: every field of a Spotify track object from one
 *		detoast and one walk (music_tm.track_fields).
 */
#ifndef MUSIC_TM_EXTRACT_FIELDS_H
#define MUSIC_TM_EXTRACT_FIELDS_H

#include "postgres.h"

#include "fmgr.h"

/*
 * Columns of the composite type music_tm.track_fields, in order.  The install
 * script defines the type with exactly these columns; track_fields checks the
 * number and types of the columns once per call site.
 */
typedef enum MtmFieldColumn
{
	MTM_COL_ID,
	MTM_COL_NAME,
	MTM_COL_CANONICAL_ID,
	MTM_COL_URI,
	MTM_COL_SPOTIFY_URL,
	MTM_COL_PREVIEW_URL,
	MTM_COL_IS_LOCAL,
	MTM_COL_IS_EPISODE,
	MTM_COL_EXPLICIT,
	MTM_COL_POPULARITY,
	MTM_COL_DURATION_MS,
	MTM_COL_DURATION,
	MTM_COL_TRACK_NUMBER,
	MTM_COL_DISC_NUMBER,
	MTM_COL_ISRC,
	MTM_COL_EAN,
	MTM_COL_UPC,
	MTM_COL_ARTIST_NAMES,
	MTM_COL_ARTIST_IDS,
	MTM_COL_FIRST_ARTIST,
	MTM_COL_ALBUM_NAME,
	MTM_COL_ALBUM_ID,
	MTM_COL_ALBUM_TYPE,
	MTM_COL_RELEASE_DATE,
	MTM_COL_RELEASE_DATE_PRECISION,
	MTM_COL_RELEASE_YEAR,
	MTM_COL_COVER_URL,
	MTM_COL_PLAYABLE,
	MTM_NUM_COLUMNS
} MtmFieldColumn;

extern Datum track_fields(PG_FUNCTION_ARGS);

#endif							/* MUSIC_TM_EXTRACT_FIELDS_H */
