/*
 * track_store.h
 *		Storing Spotify track objects in music_tm.tracks: what the ingest
 *		family (pages, save_track) and the plays family (recently-played,
 *		exports) share.  Neither calls the other; both call this.
 */
#ifndef MUSIC_TM_TRACK_STORE_H
#define MUSIC_TM_TRACK_STORE_H

#include "postgres.h"

#include "utils/jsonb.h"
#include "utils/timestamp.h"

#include "common.h"

/* The columns of music_tm.tracks that come out of one track object. */
typedef struct MtmTrackRow
{
	char	   *track_id;		/* canonical: linked_from.id when relinked */
	char	   *playable_id;	/* top-level id when relinked, else NULL */
	char	   *name;
	char	   *artist_name;	/* first artist, NULL when none */
	char	   *album_name;		/* NULL when no album */
	bool		has_duration;
	int32		duration_ms;
	char	   *spotify_url;	/* external_urls.spotify, NULL when none */
	Jsonb	   *raw_json;		/* the object as given */
	int64		content_hash;	/* mtm_jsonb_hash(raw_json) */
	bool		parsed;			/* the columns above were read and checked */
	MtmWhere	where;			/* for the errors of checking them */
	/* set by mtm_store_tracks: what was stored before the call */
	bool		was_stored;
	char	   *old_isrc;		/* NULL when none */
	bool		old_has_duration;
	int32		old_duration;
} MtmTrackRow;

/*
 * The two ends of the statement that stores tracks, shared by save_track
 * (one row) and mtm_store_tracks (one VALUES row per track); the last
 * parameter is the transaction's start time.  An object whose content hash
 * is unchanged is not rewritten, and RETURNING tells an insert (xmax 0) from
 * an update.
 */
#define MTM_TRACK_INSERT \
	"INSERT INTO music_tm.tracks AS t" \
	" (track_id, name, artist_name, album_name, duration_ms," \
	"  spotify_url, raw_json, content_hash, created_at, updated_at)"
#define MTM_TRACK_ON_CONFLICT \
	" ON CONFLICT (track_id) DO UPDATE SET" \
	"  name = EXCLUDED.name, artist_name = EXCLUDED.artist_name," \
	"  album_name = EXCLUDED.album_name," \
	"  duration_ms = EXCLUDED.duration_ms," \
	"  spotify_url = EXCLUDED.spotify_url, raw_json = EXCLUDED.raw_json," \
	"  content_hash = EXCLUDED.content_hash," \
	"  updated_at = EXCLUDED.updated_at" \
	" WHERE t.content_hash OPERATOR(pg_catalog.<>) EXCLUDED.content_hash" \
	" RETURNING t.xmax OPERATOR(pg_catalog.=) 0"

/* What storing a batch of tracks did. */
typedef struct MtmTrackCounts
{
	int64		inserted;
	int64		updated;
	int64		unchanged;
	/*
	 * Updates that changed what the charts from plays count a track's
	 * listens by: its ISRC (its recording) or its duration (the length of a
	 * listen that says none).
	 */
	int64		recounted;
} MtmTrackCounts;

extern void mtm_parse_track(Jsonb *track, const MtmWhere *where,
							MtmTrackRow *row);
extern void mtm_parse_track_key(Jsonb *track, const MtmWhere *where,
								MtmTrackRow *row);
/* How mtm_store_tracks stores a batch. */
typedef enum MtmStoreMode
{
	MTM_STORE_UPSERT,			/* new and changed objects (pages) */
	MTM_STORE_RECOUNT,			/* the same, counting counts->recounted */
	MTM_STORE_STUBS				/* partial objects, never replacing one */
} MtmStoreMode;

extern void mtm_store_tracks(MtmTrackRow *rows, int n, TimestampTz now,
							 MtmStoreMode mode, MtmTrackCounts *counts);

#endif							/* MUSIC_TM_TRACK_STORE_H */
