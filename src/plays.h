/*
 * plays.h
 *		Listening history: one row of music_tm.plays per listen, merged across
 *		recently-played and Spotify's streaming-history exports.
 */
#ifndef MUSIC_TM_PLAYS_H
#define MUSIC_TM_PLAYS_H

#include "postgres.h"

#include "fmgr.h"
#include "utils/date.h"
#include "utils/jsonb.h"
#include "utils/timestamp.h"

#include "common.h"

/*
 * Caps on one call (SQLSTATE 54000 beyond them).  An export file is about
 * 12 MB and 20,000 entries; recently-played returns at most 50 items.
 */
#define MTM_MAX_HISTORY_ENTRIES 50000
#define MTM_MAX_HISTORY_BYTES (64 * 1024 * 1024)
#define MTM_MAX_RECENT_ITEMS 1000
#define MTM_MAX_RECENT_BYTES (16 * 1024 * 1024)

/*
 * Matching tolerance between sources, in microseconds: see plays.c.  Plays
 * that recently-played reports last 30 s or more, so two of them of one
 * track end at least 30 s apart, more than twice this.
 */
#define MTM_PLAY_TOLERANCE (10 * USECS_PER_SEC)

/*
 * How far past a recently-played time a stored export listen is looked for
 * (played_at may be the start of a listen: its end is then played_at plus
 * the milliseconds played).
 */
#define MTM_PLAY_LONGEST (6 * USECS_PER_HOUR)

/*
 * The account-data export's endTime is to the minute: the listen ended
 * within [endTime - 40 s, endTime + 70 s] (truncated or rounded to the
 * minute, with the same 10 s of slack as above).
 */
#define MTM_ACCOUNT_EARLY (40 * USECS_PER_SEC)
#define MTM_ACCOUNT_LATE (70 * USECS_PER_SEC)

typedef enum MtmPlaySource
{
	MTM_SOURCE_RECENT,			/* recently-played: played_at */
	MTM_SOURCE_EXPORT,			/* extended streaming history: ts */
	MTM_SOURCE_ACCOUNT			/* account data: endTime, to the minute */
} MtmPlaySource;

/* What became of one incoming listen. */
typedef enum MtmPlayFate
{
	MTM_PLAY_NEW,				/* a listen not stored yet: inserted */
	MTM_PLAY_MATCHED,			/* joins a listen another source stored */
	MTM_PLAY_UNCHANGED,			/* this source stored it before: a replay */
	MTM_PLAY_DUPLICATE,			/* repeated in the payload itself */
	MTM_PLAY_UNRESOLVED			/* account data: names of several songs, and
								 * no stored listen of one of them then */
} MtmPlayFate;

/* One incoming listen, from either source. */
typedef struct MtmPlay
{
	int			entry;			/* index in the payload, for messages */
	char	   *track_id;		/* canonical id */
	char	   *playable_id;	/* recently-played, relinked: else NULL */
	int			code;			/* set by mtm_plays_merge: track_id's number */
	TimestampTz at;				/* the source's time: played_at or ts */
	bool		has_ms;
	int32		ms_played;
	/* export fields; -1 is NULL, else 0 or 1 */
	int8		skipped;
	int8		shuffle;
	int8		offline;
	int8		incognito;
	bool		has_offline_at;
	TimestampTz offline_at;
	char	   *reason_start;
	char	   *reason_end;
	char	   *context_uri;	/* recently-played */
	/* account data: every track id its names may be, track_id among them */
	char	  **alt_ids;
	int			nalt;
	bool		ambiguous;		/* the ids are not one song */
	/* set by mtm_plays_merge */
	MtmPlayFate fate;
	int			match;			/* MATCHED: the stored listen it joins */
	const char *row_track;		/* the row written: its track_id, */
	TimestampTz row_end;		/* its ended_at as stored (MATCHED), */
	TimestampTz new_end;		/* and its ended_at after the call */
} MtmPlay;

typedef struct MtmPlayCounts
{
	int64		inserted;
	int64		matched;
	int64		unchanged;
	int64		duplicates;
	int64		unresolved;
} MtmPlayCounts;

/* A stored listen, as read back for matching (plays_stored.c). */
typedef struct StoredPlay
{
	TimestampTz ended_at;
	int			code;			/* track_id, interned */
	int			pcode;			/* playable_id, interned; -1 when NULL */
	bool		has_ms;
	int32		ms_played;
	bool		has_played_at;
	TimestampTz played_at;
	bool		has_export_ts;
	TimestampTz export_ts;
	bool		has_account;
	TimestampTz account_end;
	bool		taken;			/* joined by an incoming listen */
	TimestampTz new_end;		/* ended_at after the update */
} StoredPlay;

/* Another stored id of a recording (same ISRC), both interned. */
typedef struct MtmTwin
{
	int			id;
	int			twin;
} MtmTwin;

/* A stored listen under one of its ids (plays_stored.c groups them). */
typedef struct MtmRef
{
	TimestampTz at;				/* the incoming source's time of it, or
								 * DT_NOBEGIN */
	int			k;
} MtmRef;

/* plays_stored.c: ids numbered in strcmp order, and the reads of the merge */
typedef struct MtmIds MtmIds;
extern MtmIds *mtm_ids_create(int expected);
extern int	mtm_ids_intern(MtmIds *ids, const char *s);
extern int *mtm_ids_number(MtmIds *ids);
extern int	mtm_ids_count(const MtmIds *ids);
extern const char *mtm_ids_str(const MtmIds *ids, int code);
extern int	mtm_ids_text(MtmIds *ids, Datum id);
extern StoredPlay *mtm_read_stored(Datum listener, TimestampTz lo,
								   TimestampTz hi, MtmIds *ids, int *count);

/* A listen as the charts from plays count it: its track, ms (-1: none), end */
typedef struct MtmPeriodPlay
{
	int			code;
	int32		ms;
	TimestampTz ended_at;
} MtmPeriodPlay;
extern MtmPeriodPlay *mtm_read_period(Datum listener, TimestampTz lo,
									  TimestampTz hi, MtmIds *ids, int *count);
extern MtmTwin *mtm_read_twins(char **track_ids, int n, MtmIds *ids, int *count);

/* A recording and its smallest stored track id (mtm_read_song_ids). */
typedef struct MtmSongId
{
	char	   *isrc;
	char	   *id;
} MtmSongId;
extern MtmSongId *mtm_read_song_ids(char **isrcs, int n, bool latest, int *count);
extern const char *mtm_song_id(const MtmSongId *songs, int n, const char *isrc);
extern MtmRef *mtm_group_stored(const StoredPlay *s, int ns, int ncodes,
								MtmPlaySource source, int **startp);
extern int *mtm_group_twins(MtmTwin *twins, int ntwins, int ncodes);

extern void mtm_plays_merge(Datum listener, MtmPlaySource source,
							MtmPlay *plays, int n, bool tracks_recounted,
							TimestampTz now, MtmPlayCounts *counts);

/* What one import_streaming_history call did. */
typedef struct MtmImportSummary
{
	const char *format;
	int64		entries;
	int64		episodes;
	int64		audiobooks;
	int64		without_track;
	int64		unmatched;		/* account data kept in unmatched_plays */
	MtmPlayCounts plays;
	int64		tracks_inserted;
} MtmImportSummary;

/* plays_account.c: the account-data format */
extern void mtm_import_account(JsonbContainer *entries, Datum listener,
							   TimestampTz now, MtmImportSummary *sum);

/* plays_write.c: the statements that write what mtm_plays_merge decided */
extern void mtm_plays_write(Datum listener, MtmPlaySource source,
							MtmPlay *plays, int n, TimestampTz now,
							MtmPlayCounts *counts);

extern void mtm_lock_listener_plays(Datum listener);

/* plays_charts.c: the charts of the periods of these listen ends */
extern void mtm_play_charts_refresh(Datum listener, TimestampTz *times, int n,
									TimestampTz now);

/*
 * What plays_charts_add.c shares with plays_charts.c: a song's or track's
 * tally in a period, its ranking, the period of a time, the four series and
 * writing one of their charts.
 */
typedef struct MtmPlayTally
{
	char	   *id;				/* the id it is charted under */
	int			key;			/* the caller's number for it */
	int64		plays;
	int64		ms;
	TimestampTz first;
} MtmPlayTally;

struct MtmSlots;
extern void mtm_play_chart_of(MtmPlayTally *t, int n, struct MtmSlots *slots);
extern DateADT mtm_play_period(TimestampTz t, bool month, DateADT *to);
extern Oid	mtm_play_series(Datum *ranges);
extern void mtm_play_chart_write(Datum listener, Datum range, Oid range_type,
								 DateADT date, struct MtmSlots *slots,
								 struct MtmSlots *locked, TimestampTz now);

/*
 * plays_charts_add.c: the charts of the periods a merge changed, edited
 * from the listens a poll only added, or counted again
 */
typedef struct MtmPlayAdded
{
	const char *track_id;
	TimestampTz ended_at;
	int32		ms;				/* -1: none (recently-played) */
} MtmPlayAdded;
extern void mtm_play_charts_update(Datum listener, MtmPlaySource source,
								   const MtmPlay *plays, int n,
								   bool tracks_recounted, TimestampTz now);
extern bool mtm_parse_utc_time(const char *s, int len, TimestampTz *out);
extern void mtm_check_listener(Datum listener);

/*
 * plays_stats.c: the statistics' one read of a listener's plays (in
 * ended_at order, each row handed to visit), and their tally per track.
 */
#define MTM_COUNTED_MS 30000	/* a play counts from 30 s on */

/* One listen as the walk hands it over: valid during the visit only. */
typedef struct MtmPlayView
{
	TimestampTz ended_at;
	Timestamp	local;			/* in the walk's time zone, when asked for */
	bool		has_ms;
	int32		ms;
	text	   *track_id;		/* in the buffer: not detoasted, not copied */
} MtmPlayView;

typedef void (*MtmPlayVisit) (const MtmPlayView *row, void *arg);

/*
 * What the statistics know of one track: the tally of its listens in the
 * walk, then what music_tm.tracks says of it.  Kept apart from the hash
 * table's entries (which move when the table grows) so pointers to it stay.
 */
typedef struct MtmTrackInfo
{
	char	   *id;
	int64		counted;		/* plays counted (30 s or more) */
	int64		ms;				/* milliseconds known to have been played */
	int64		no_ms;			/* listens without ms_played */
	TimestampTz first;			/* first listen in the walk */
	TimestampTz first_counted;	/* first counted play */
	/* from music_tm.tracks */
	bool		stored;
	char	   *name;
	char	   *artist;
	char	   *isrc;
	bool		has_duration;
	int32		duration;
} MtmTrackInfo;

/* The tracks of a walk: the table, and each track once in an array. */
typedef struct MtmTrackTally
{
	struct tracktab_hash *tab;
	MtmTrackInfo **all;
	int			n;
	int			cap;
	char		buf[128];		/* the id being looked up, NUL-terminated */
} MtmTrackTally;

extern void mtm_stats_connect(void);
extern void mtm_walk_plays(Datum listener, TimestampTz from, TimestampTz to,
						   Datum tz, MtmPlayVisit visit, void *arg);
extern void mtm_tally_init(MtmTrackTally *t);
extern MtmTrackInfo *mtm_tally_get(MtmTrackTally *t, text *id_text);
extern MtmTrackInfo *mtm_tally_find(MtmTrackTally *t, const char *id);
extern void mtm_tally_play(MtmTrackInfo *info, const MtmPlayView *v);
extern void mtm_tally_read(MtmTrackTally *t, bool (*want) (const MtmTrackInfo *));
extern int64 mtm_track_ms(const MtmTrackInfo *info);
extern Datum mtm_minutes(int64 ms);
extern TimestampTz mtm_arg_time(FunctionCallInfo fcinfo, int argno, TimestampTz dflt);

#endif							/* MUSIC_TM_PLAYS_H */
