/*
 * plays_top.c
 *		Listening statistics by track and artist: top_tracks, top_artists,
 *		discoveries.
 *
 * Each reads the listener's plays once (mtm_walk_plays, plays_stats.c),
 * tallies them per track, then reads the distinct tracks' rows once (their
 * artist, ISRC and duration) and ranks: tracks by song (ISRC, charted
 * under the recording's smallest stored id, as charts from plays are) or by
 * id, artists by their first credited artist.
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "utils/builtins.h"

#include "plays.h"

PG_FUNCTION_INFO_V1(top_tracks);
PG_FUNCTION_INFO_V1(top_artists);
PG_FUNCTION_INFO_V1(discoveries);

/* $1 ISRCs: each recording's smallest stored id */

/* ---------------------------------------------------------------------
 * top_tracks, top_artists, discoveries: a tally per track
 * ---------------------------------------------------------------------
 */
static void
VisitTally(const MtmPlayView *v, void *arg)
{
	MtmTrackTally	   *t = arg;

	mtm_tally_play(mtm_tally_get(t, v->track_id), v);
}

/* A ranked row: a song, track or artist with what was counted for it. */
typedef struct Ranked
{
	const char *key;			/* ISRC, track id or artist name */
	const char *id;				/* the id shown (top_tracks) */
	const char *tie;			/* the last key of the ranking: id or key */
	int64		counted;
	int64		ms;
	int64		tracks;			/* distinct tracks (top_artists) */
	TimestampTz first;
} Ranked;

static int
CompareRankedKey(const void *a, const void *b)
{
	return strcmp(((const Ranked *) a)->key, ((const Ranked *) b)->key);
}

/*
 * The ranking of charts from plays: counted plays, then milliseconds (both
 * descending), then the first listen, then the id shown (tracks) or the
 * artist's name.
 */
static int
CompareRanked(const void *a, const void *b)
{
	const Ranked *x = a;
	const Ranked *y = b;

	if (x->counted != y->counted)
		return x->counted > y->counted ? -1 : 1;
	if (x->ms != y->ms)
		return x->ms > y->ms ? -1 : 1;
	if (x->first != y->first)
		return x->first < y->first ? -1 : 1;
	return strcmp(x->tie, y->tie);
}

/* Fold rows with one key into one (sorted by key first). */
static int
FoldRanked(Ranked *r, int n)
{
	int			m = 0;

	qsort(r, n, sizeof(Ranked), CompareRankedKey);
	for (int i = 0; i < n; i++)
	{
		if (m > 0 && strcmp(r[m - 1].key, r[i].key) == 0)
		{
			r[m - 1].counted += r[i].counted;
			r[m - 1].ms += r[i].ms;
			r[m - 1].tracks += r[i].tracks;
			r[m - 1].first = Min(r[m - 1].first, r[i].first);
			continue;
		}
		r[m++] = r[i];
	}
	return m;
}

/* Each ISRC's smallest stored track id, sorted by ISRC. */
static MtmSongId *
ReadSongs(MtmTrackTally *t, int *count)
{
	char	  **isrcs = palloc(sizeof(char *) * Max(t->n, 1));
	int			n = 0;

	for (int i = 0; i < t->n; i++)
		if (t->all[i]->isrc)
			isrcs[n++] = t->all[i]->isrc;
	return mtm_read_song_ids(isrcs, n, false, count);
}

static void
CheckHowMany(FunctionCallInfo fcinfo, int argno)
{
	int32		how_many = PG_GETARG_INT32(argno);

	if (how_many < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("how_many must not be negative"),
				 errdetail("Argument \"how_many\" is %d.", how_many)));
}

/*
 * top_tracks(listener, from_time, to_time, how_many, by_song): the most
 * played songs (ISRC when the stored track has one, charted under the
 * recording's smallest stored id) or tracks, ranked as charts from plays.
 */
Datum
top_tracks(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	bool		by_song;
	int32		how_many;
	MtmTrackTally		t;
	Ranked	   *r;
	int			n = 0;
	MtmSongId  *songs = NULL;
	int			nsongs = 0;
	int			shown;
	MtmTrackTally		names;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(3) || PG_ARGISNULL(4))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("arguments \"listener\", \"how_many\" and \"by_song\" must not be null")));
	CheckHowMany(fcinfo, 3);
	how_many = PG_GETARG_INT32(3);
	by_song = PG_GETARG_BOOL(4);
	InitMaterializedSRF(fcinfo, 0);

	mtm_tally_init(&t);
	mtm_stats_connect();
	mtm_walk_plays(PG_GETARG_DATUM(0), mtm_arg_time(fcinfo, 1, DT_NOBEGIN),
			  mtm_arg_time(fcinfo, 2, DT_NOEND), (Datum) 0, VisitTally, &t);
	mtm_tally_read(&t, NULL);
	if (by_song)
		songs = ReadSongs(&t, &nsongs);

	r = palloc(sizeof(Ranked) * Max(t.n, 1));
	for (int i = 0; i < t.n; i++)
	{
		MtmTrackInfo *info = t.all[i];

		r[n].key = info->id;
		r[n].id = info->id;
		if (by_song && info->isrc)
		{
			const char *id = mtm_song_id(songs, nsongs, info->isrc);

			r[n].key = info->isrc;
			if (id)
				r[n].id = (char *) id;
		}
		r[n].counted = info->counted;
		r[n].ms = mtm_track_ms(info);
		r[n].tracks = 1;
		r[n].first = info->first;
		n++;
	}
	/* an ISRC and a track id never collide: ISRCs are 12 characters, ids 22 */
	if (by_song)
		n = FoldRanked(r, n);
	for (int i = 0; i < n; i++)
		r[i].tie = r[i].id;
	qsort(r, n, sizeof(Ranked), CompareRanked);

	/* the names of the ids shown: a recording's id may not have been played */
	shown = 0;
	while (shown < n && shown < how_many && r[shown].counted > 0)
		shown++;
	mtm_tally_init(&names);
	for (int i = 0; i < shown; i++)
	{
		MtmTrackInfo *played = mtm_tally_find(&t, r[i].id);

		if (played == NULL)
		{
			text	   *id = cstring_to_text(r[i].id);

			(void) mtm_tally_get(&names, id);
		}
	}
	mtm_tally_read(&names, NULL);
	SPI_finish();

	for (int i = 0; i < shown; i++)
	{
		MtmTrackInfo *s = mtm_tally_find(&t, r[i].id);
		Datum		values[6];
		bool		nulls[6] = {false, false, false, false, false, false};

		if (s == NULL)
			s = mtm_tally_find(&names, r[i].id);
		values[0] = Int64GetDatum(i + 1);
		values[1] = CStringGetTextDatum(r[i].id);
		nulls[2] = s == NULL || s->name == NULL;
		values[2] = nulls[2] ? (Datum) 0 : CStringGetTextDatum(s->name);
		nulls[3] = s == NULL || s->artist == NULL;
		values[3] = nulls[3] ? (Datum) 0 : CStringGetTextDatum(s->artist);
		values[4] = Int64GetDatum(r[i].counted);
		values[5] = mtm_minutes(r[i].ms);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}

/*
 * top_artists(listener, from_time, to_time, how_many): the most played
 * artists (first credited artist of each stored track), with minutes and
 * distinct tracks.
 */
Datum
top_artists(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	int32		how_many;
	MtmTrackTally		t;
	Ranked	   *r;
	int			n = 0;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(3))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("arguments \"listener\" and \"how_many\" must not be null")));
	CheckHowMany(fcinfo, 3);
	how_many = PG_GETARG_INT32(3);
	InitMaterializedSRF(fcinfo, 0);

	mtm_tally_init(&t);
	mtm_stats_connect();
	mtm_walk_plays(PG_GETARG_DATUM(0), mtm_arg_time(fcinfo, 1, DT_NOBEGIN),
			  mtm_arg_time(fcinfo, 2, DT_NOEND), (Datum) 0, VisitTally, &t);
	mtm_tally_read(&t, NULL);
	SPI_finish();

	r = palloc(sizeof(Ranked) * Max(t.n, 1));
	for (int i = 0; i < t.n; i++)
	{
		MtmTrackInfo *info = t.all[i];

		/* listens of tracks not stored, or without an artist, are left out */
		if (!info->stored || info->artist == NULL)
			continue;
		r[n].key = info->artist;
		r[n].id = info->id;
		r[n].counted = info->counted;
		r[n].ms = mtm_track_ms(info);
		r[n].tracks = 1;
		r[n].first = info->first;
		n++;
	}
	n = FoldRanked(r, n);
	for (int i = 0; i < n; i++)
		r[i].tie = r[i].key;
	qsort(r, n, sizeof(Ranked), CompareRanked);
	for (int i = 0; i < n && i < how_many && r[i].counted > 0; i++)
	{
		Datum		values[5];
		bool		nulls[5] = {false, false, false, false, false};

		values[0] = Int64GetDatum(i + 1);
		values[1] = CStringGetTextDatum(r[i].key);
		values[2] = Int64GetDatum(r[i].counted);
		values[3] = mtm_minutes(r[i].ms);
		values[4] = Int64GetDatum(r[i].tracks);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}

/*
 * discoveries(listener, from_time, to_time, by_artist): the tracks (or
 * artists) whose first counted play falls between two times, with the
 * counted plays since.  Reads the listener's whole history: a first play is
 * first only against everything before it.
 */
static bool
WasCounted(const MtmTrackInfo *info)
{
	return info->counted > 0;
}

static int
CompareDiscovery(const void *a, const void *b)
{
	const Ranked *x = a;
	const Ranked *y = b;

	if (x->first != y->first)
		return x->first < y->first ? -1 : 1;
	return strcmp(x->key, y->key);
}

Datum
discoveries(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	bool		by_artist;
	TimestampTz from;
	TimestampTz to;
	MtmTrackTally		t;
	Ranked	   *r;
	int			n = 0;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(3))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("arguments \"listener\" and \"by_artist\" must not be null")));
	by_artist = PG_GETARG_BOOL(3);
	from = mtm_arg_time(fcinfo, 1, DT_NOBEGIN);
	to = mtm_arg_time(fcinfo, 2, DT_NOEND);
	InitMaterializedSRF(fcinfo, 0);

	mtm_tally_init(&t);
	mtm_stats_connect();
	mtm_walk_plays(PG_GETARG_DATUM(0), DT_NOBEGIN, DT_NOEND, (Datum) 0, VisitTally, &t);
	if (by_artist)
		mtm_tally_read(&t, WasCounted);
	SPI_finish();

	r = palloc(sizeof(Ranked) * Max(t.n, 1));
	for (int i = 0; i < t.n; i++)
	{
		MtmTrackInfo *info = t.all[i];

		if (info->counted == 0)
			continue;
		if (by_artist && info->artist == NULL)
			continue;
		r[n].key = by_artist ? info->artist : info->id;
		r[n].id = info->id;
		r[n].counted = info->counted;
		r[n].ms = 0;
		r[n].tracks = 1;
		r[n].first = info->first_counted;
		n++;
	}
	if (by_artist)
		n = FoldRanked(r, n);
	qsort(r, n, sizeof(Ranked), CompareDiscovery);
	for (int i = 0; i < n; i++)
	{
		Datum		values[3];
		bool		nulls[3] = {false, false, false};

		if (r[i].first < from || r[i].first >= to)
			continue;
		values[0] = CStringGetTextDatum(r[i].key);
		values[1] = TimestampTzGetDatum(r[i].first);
		values[2] = Int64GetDatum(r[i].counted);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}
