/*
 * ingest.h
 *		Snapshot upsert: save_track, save_snapshot_row, record_top_tracks.
 */
#ifndef MUSIC_TM_INGEST_H
#define MUSIC_TM_INGEST_H

#include "postgres.h"

#include "utils/jsonb.h"
#include "utils/timestamp.h"

#include "common.h"
#include "track_store.h"

/* What storing one track did. */
typedef enum MtmWriteResult
{
	MTM_INSERTED,
	MTM_UPDATED,
	MTM_UNCHANGED
} MtmWriteResult;

extern MtmWriteResult mtm_store_track(const MtmTrackRow *row, TimestampTz now);
extern const char *mtm_write_result_name(MtmWriteResult r);

#endif							/* MUSIC_TM_INGEST_H */
