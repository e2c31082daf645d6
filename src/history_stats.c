/*
 * history_stats.c
 *		Run statistics (run_stats, all_run_stats) and artist rollups
 *		(artist_history, artist_run_stats).
 *
 * A run's figures come from one pass over its entries in date order (see
 * mtm_stats_add): streaks count consecutive snapshots of the series, found
 * by each entry's position in the series' snapshot list.
 *
 * all_run_stats walks the series' chart rows once in date order, keeping
 * one accumulator per track in a hash table keyed by the id (the hash table
 * holds a pointer to its own copy, hashed and compared by content); rows
 * come out by track id.
 *
 * An artist is matched against every artist credited on a track
 * (raw_json->'artists', by exact id or exact name), among the tracks that the
 * series ever charted (a first walk of the series collects them); a second
 * walk folds the artist's tracks per snapshot.
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "miscadmin.h"
#include "funcapi.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/hsearch.h"
#include "common/hashfn.h"
#include "catalog/pg_collation.h"
#include "utils/varlena.h"

#include "common.h"
#include "history.h"

PG_FUNCTION_INFO_V1(run_stats);
PG_FUNCTION_INFO_V1(all_run_stats);
PG_FUNCTION_INFO_V1(artist_history);
PG_FUNCTION_INFO_V1(artist_run_stats);

/*
 * $1 the tracks a series ever charted, $2 [{"id": artist}], $3 [{"name":
 * artist}] (ArtistProbe, built once, not per row): those of them that credit
 * the artist (one primary key probe per id).
 */
static MtmPlan artist_tracks_plan = {
	"SELECT t.track_id FROM music_tm.tracks t"
	" WHERE t.track_id OPERATOR(pg_catalog.=) ANY ($1)"
	" AND ((t.raw_json OPERATOR(pg_catalog.->) 'artists') OPERATOR(pg_catalog.@>) $2"
	"   OR (t.raw_json OPERATOR(pg_catalog.->) 'artists') OPERATOR(pg_catalog.@>) $3)",
	3, {TEXTARRAYOID, JSONBOID, JSONBOID}, NULL, InvalidOid
};

/* [{key: artist}]: what a track's artists array contains when it credits them. */
static Datum
ArtistProbe(const char *key, text *artist)
{
	JsonbParseState *state = NULL;
	JsonbValue	k;
	JsonbValue	v;
	JsonbValue *res;

	pushJsonbValue(&state, WJB_BEGIN_ARRAY, NULL);
	pushJsonbValue(&state, WJB_BEGIN_OBJECT, NULL);
	k.type = jbvString;
	k.val.string.val = (char *) key;
	k.val.string.len = strlen(key);
	pushJsonbValue(&state, WJB_KEY, &k);
	v.type = jbvString;
	v.val.string.val = VARDATA_ANY(artist);
	v.val.string.len = VARSIZE_ANY_EXHDR(artist);
	pushJsonbValue(&state, WJB_VALUE, &v);
	pushJsonbValue(&state, WJB_END_OBJECT, NULL);
	res = pushJsonbValue(&state, WJB_END_ARRAY, NULL);
	return JsonbPGetDatum(JsonbValueToJsonb(res));
}

#define STATS_COLS 10

/*
 * One row of run statistics: track_id, debut, last_seen, peak, peak_date,
 * periods_on_chart, periods_at_peak, periods_at_no1, longest_streak,
 * current_streak.
 */
static void
PutStats(ReturnSetInfo *rsinfo, Datum track_id, const MtmRunStats *st,
		 const MtmDates *dates)
{
	Datum		values[STATS_COLS];
	bool		nulls[STATS_COLS];

	memset(nulls, 0, sizeof(nulls));
	values[0] = track_id;
	values[1] = DateADTGetDatum(st->debut);
	values[2] = DateADTGetDatum(st->last_seen);
	values[3] = Int32GetDatum(st->peak);
	values[4] = DateADTGetDatum(st->peak_date);
	values[5] = Int32GetDatum(st->periods);
	values[6] = Int32GetDatum(st->at_peak);
	values[7] = Int32GetDatum(st->at_no1);
	values[8] = Int32GetDatum(st->longest);
	values[9] = Int32GetDatum(mtm_stats_current(st, dates));
	tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
}

/*
 * run_stats(track_id text, time_range, listener) returns setof
 * (track_id, debut, last_seen, peak, peak_date, periods_on_chart,
 *  periods_at_peak, periods_at_no1, longest_streak, current_streak)
 *
 * One row, or none when the track never charted in the series.
 */
Datum
run_stats(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	MemoryContext cxt = CurrentMemoryContext;
	MtmSeries	series;
	MtmRun		run;
	MtmDates	dates = {0};
	MtmRunStats st;
	int			i;

	mtm_hist_track_args(fcinfo, "run_stats", &series);
	InitMaterializedSRF(fcinfo, 0);
	if (!mtm_load_track_series(&series, PG_GETARG_DATUM(0), DATEVAL_NOBEGIN,
							   DATEVAL_NOEND, &run, &dates, cxt))
		return (Datum) 0;

	mtm_stats_init(&st);
	for (i = 0; i < run.n; i++)
		mtm_stats_add(&st, mtm_date_ordinal(&dates, run.date[i]),
					  run.date[i], run.rank[i]);
	PutStats(rsinfo, PG_GETARG_DATUM(0), &st, &dates);
	return (Datum) 0;
}

/* One track's accumulator in all_run_stats' hash table. */
typedef struct TrackStats
{
	text	   *track_id;		/* hash key: a pointer, hashed by content */
	MtmRunStats st;
} TrackStats;

static uint32
TrackKeyHash(const void *key, Size keysize)
{
	const text *t = *(text *const *) key;

	return hash_bytes((const unsigned char *) VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t));
}

static int
TrackKeyMatch(const void *a, const void *b, Size keysize)
{
	return mtm_text_cmp(*(text *const *) a, *(text *const *) b);
}

/* Output order: by track id in the column's collation, as 1.x returned. */
static int
TrackStatsOrder(const void *a, const void *b)
{
	const text *x = (*(TrackStats *const *) a)->track_id;
	const text *y = (*(TrackStats *const *) b)->track_id;

	return varstr_cmp(VARDATA_ANY(x), VARSIZE_ANY_EXHDR(x),
					  VARDATA_ANY(y), VARSIZE_ANY_EXHDR(y), DEFAULT_COLLATION_OID);
}

static HTAB *
TrackTable(const char *name, Size entrysize, MemoryContext cxt)
{
	HASHCTL		ctl;

	memset(&ctl, 0, sizeof(ctl));
	ctl.keysize = sizeof(text *);
	ctl.entrysize = entrysize;
	ctl.hash = TrackKeyHash;
	ctl.match = TrackKeyMatch;
	ctl.hcxt = cxt;
	return hash_create(name, 256, &ctl,
					   HASH_ELEM | HASH_FUNCTION | HASH_COMPARE | HASH_CONTEXT);
}

/* The entry of a track, made on first sight with a copy of its id of its own. */
static void *
TrackEntry(HTAB *table, text *id, MemoryContext cxt, bool *found)
{
	text	  **entry = hash_search(table, &id, HASH_ENTER, found);

	if (!*found)
	{
		/* the key pointed into the buffer: keep a copy */
		*entry = (text *) MemoryContextAlloc(cxt, VARSIZE_ANY(id));
		memcpy(*entry, id, VARSIZE_ANY(id));
	}
	return entry;
}

/* all_run_stats' walk: the dates, and one accumulator per track. */
typedef struct AllWalk
{
	HTAB	   *tracks;
	MtmDates	dates;
	MemoryContext cxt;
} AllWalk;

static void
VisitAll(DateADT d, ArrayType *ids, void *arg)
{
	AllWalk    *w = arg;
	MtmIdIter	iter;
	int32		rank;
	text	   *id;

	mtm_dates_add(&w->dates, d);
	mtm_ids_begin(&iter, ids);
	while (mtm_ids_next(&iter, &rank, &id))
	{
		bool		found;
		TrackStats *ts = TrackEntry(w->tracks, id, w->cxt, &found);

		if (!found)
			mtm_stats_init(&ts->st);
		mtm_stats_add(&ts->st, w->dates.n - 1, d, rank);
	}
}

/*
 * all_run_stats(time_range, listener) returns the rows of run_stats for
 * every track the series ever charted, by track id.
 */
Datum
all_run_stats(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	MemoryContext cxt = CurrentMemoryContext;
	MtmSeries	series;
	AllWalk		w;
	HTAB	   *tracks;
	HASH_SEQ_STATUS seq;
	TrackStats *ts;
	TrackStats **sorted;
	long		ntracks;
	long		i;

	mtm_hist_require(fcinfo, 0, "time_range", "all_run_stats");
	mtm_hist_require(fcinfo, 1, "listener", "all_run_stats");
	mtm_hist_series(fcinfo, 0, 1, &series);
	InitMaterializedSRF(fcinfo, 0);

	tracks = TrackTable("music_tm all_run_stats", sizeof(TrackStats), cxt);
	w.tracks = tracks;
	w.cxt = cxt;
	mtm_dates_init(&w.dates, cxt);

	SPI_connect();
	mtm_scan_series(&series, DATEVAL_NOBEGIN, DATEVAL_NOEND, VisitAll, &w);
	SPI_finish();

	ntracks = hash_get_num_entries(tracks);
	sorted = MemoryContextAlloc(cxt, sizeof(TrackStats *) * (ntracks + 1));
	i = 0;
	hash_seq_init(&seq, tracks);
	while ((ts = hash_seq_search(&seq)) != NULL)
		sorted[i++] = ts;
	qsort(sorted, ntracks, sizeof(TrackStats *), TrackStatsOrder);
	for (i = 0; i < ntracks; i++)
	{
		CHECK_FOR_INTERRUPTS();
		PutStats(rsinfo, PointerGetDatum(sorted[i]->track_id), &sorted[i]->st, &w.dates);
	}
	hash_destroy(tracks);
	return (Datum) 0;
}

/* An artist's tracks folded per snapshot of the series. */
typedef struct ArtistSeries
{
	MtmDates	dates;
	int			ntracks;		/* distinct tracks of the artist charted */
	int32	   *count;			/* per snapshot: the artist's tracks on it */
	int32	   *best;			/* per snapshot: best rank (count > 0) */
	text	  **best_id;		/* per snapshot: the track at best */
	int			first;			/* first snapshot with count > 0, or -1 */
} ArtistSeries;

/*
 * One walk of the series: each chart's slots as numbers of the series'
 * distinct tracks (interned on first sight in an MtmIdTable), and the
 * chart's date.  The artist's tracks are known only after the walk (they
 * are looked up among the distinct tracks), so each chart is then counted
 * from its numbers, not walked again.
 */
typedef struct SeenWalk
{
	MemoryContext cxt;
	MtmIdTable	seen;			/* the series' distinct tracks: code -> copy */
	/* every chart's slots, chart after chart: rank and track number */
	int16	   *rank;
	int32	   *code;
	int64		nslots;
	int64		slot_cap;
	int64	   *start;			/* start[i]: chart i's first slot; start[n] the end */
	DateADT    *date;
	int			ncharts;
	int			chart_cap;
} SeenWalk;

static void
VisitSeen(DateADT d, ArrayType *ids, void *arg)
{
	SeenWalk   *w = arg;
	MtmIdIter	iter;
	int32		rank;
	text	   *id;

	if (w->ncharts + 1 >= w->chart_cap)
	{
		w->chart_cap *= 2;
		w->start = repalloc(w->start, sizeof(int64) * w->chart_cap);
		w->date = repalloc(w->date, sizeof(DateADT) * w->chart_cap);
	}
	w->date[w->ncharts] = d;
	w->start[w->ncharts] = w->nslots;
	w->ncharts++;

	mtm_ids_begin(&iter, ids);
	while (mtm_ids_next(&iter, &rank, &id))
	{
		int			len = VARSIZE_ANY_EXHDR(id);
		const char *bytes = VARDATA_ANY(id);
		uint64		words[3];
		MtmIdSlot  *s;
		int32		code;

		mtm_id_words(bytes, len, words);
		s = mtm_idtab_probe(&w->seen, bytes, len, words);
		if (s->len != 0)
			code = s->code;
		else
		{
			/* first sight: keep a copy (the array is the buffer's) */
			text	   *copy = (text *) MemoryContextAlloc(w->cxt, VARSIZE_ANY(id));

			memcpy(copy, id, VARSIZE_ANY(id));
			code = mtm_idtab_add(&w->seen, s, copy, words);
		}
		if (w->nslots == w->slot_cap)
		{
			w->slot_cap *= 2;
			w->rank = repalloc_huge(w->rank, sizeof(int16) * w->slot_cap);
			w->code = repalloc_huge(w->code, sizeof(int32) * w->slot_cap);
		}
		w->rank[w->nslots] = (int16) rank;
		w->code[w->nslots] = code;
		w->nslots++;
	}
	w->start[w->ncharts] = w->nslots;
}

static void
LoadArtist(FunctionCallInfo fcinfo, const char *funcname, ArtistSeries *a)
{
	MemoryContext cxt = CurrentMemoryContext;
	MtmSeries	series;
	Datum		values[3];
	SeenWalk	w;
	bool	   *credited;

	mtm_hist_require(fcinfo, 0, "artist", funcname);
	mtm_hist_require(fcinfo, 1, "time_range", funcname);
	mtm_hist_require(fcinfo, 2, "listener", funcname);
	mtm_hist_series(fcinfo, 1, 2, &series);
	memset(a, 0, sizeof(*a));
	a->first = -1;

	SPI_connect();

	/* the walk: every chart's slots as numbers of the series' tracks */
	w.cxt = cxt;
	mtm_idtab_init(&w.seen, 256, cxt);
	w.slot_cap = 16384;
	w.nslots = 0;
	w.rank = MemoryContextAlloc(cxt, sizeof(int16) * w.slot_cap);
	w.code = MemoryContextAlloc(cxt, sizeof(int32) * w.slot_cap);
	w.chart_cap = 64;
	w.ncharts = 0;
	w.start = MemoryContextAlloc(cxt, sizeof(int64) * w.chart_cap);
	w.date = MemoryContextAlloc(cxt, sizeof(DateADT) * w.chart_cap);
	w.start[0] = 0;
	mtm_scan_series(&series, DATEVAL_NOBEGIN, DATEVAL_NOEND, VisitSeen, &w);
	if (w.seen.n == 0)
	{
		SPI_finish();
		return;
	}

	/* those of the series' tracks that credit the artist */
	{
		Datum	   *charted = MemoryContextAlloc(cxt, sizeof(Datum) * w.seen.n);

		for (int c = 0; c < w.seen.n; c++)
			charted[c] = PointerGetDatum(w.seen.ids[c]);
		values[0] = PointerGetDatum(construct_array(charted, w.seen.n, TEXTOID, -1,
													false, TYPALIGN_INT));
	}
	values[1] = ArtistProbe("id", PG_GETARG_TEXT_PP(0));
	values[2] = ArtistProbe("name", PG_GETARG_TEXT_PP(0));
	mtm_spi_select(mtm_plan(&artist_tracks_plan, InvalidOid), values, NULL,
				   "music_tm.tracks");
	credited = MemoryContextAllocZero(cxt, sizeof(bool) * w.seen.n);
	for (uint64 r = 0; r < SPI_processed; r++)
	{
		text	   *id = DatumGetTextPP(mtm_col(SPI_tuptable->vals[r],
												SPI_tuptable->tupdesc, 1));
		int32		code = mtm_idtab_find(&w.seen, VARDATA_ANY(id), VARSIZE_ANY_EXHDR(id));

		if (code >= 0 && !credited[code])
		{
			credited[code] = true;
			a->ntracks++;
		}
	}
	SPI_finish();
	if (a->ntracks == 0)
		return;

	/* each chart counted from its numbers: ranks come in order, best first */
	a->dates.n = w.ncharts;
	a->dates.date = w.date;
	a->count = MemoryContextAllocZero(cxt, sizeof(int32) * Max(w.ncharts, 1));
	a->best = MemoryContextAllocZero(cxt, sizeof(int32) * Max(w.ncharts, 1));
	a->best_id = MemoryContextAllocZero(cxt, sizeof(text *) * Max(w.ncharts, 1));
	for (int i = 0; i < w.ncharts; i++)
		for (int64 k = w.start[i]; k < w.start[i + 1]; k++)
		{
			if (!credited[w.code[k]])
				continue;
			if (a->count[i] == 0)
			{
				a->best[i] = w.rank[k];
				a->best_id[i] = unconstify(text *, w.seen.ids[w.code[k]]);
				if (a->first < 0)
					a->first = i;
			}
			a->count[i]++;
		}
}

/*
 * artist_history(artist text, time_range, listener) returns setof
 * (snapshot_date, tracks, best_rank, best_track_id)
 *
 * One row per snapshot of the series from the artist's debut on: how many of
 * their tracks were on the chart (0 when none; best_rank and best_track_id
 * NULL then) and the best placed of them.
 */
Datum
artist_history(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	ArtistSeries a;
	int			i;

	LoadArtist(fcinfo, "artist_history", &a);
	InitMaterializedSRF(fcinfo, 0);
	if (a.first < 0)
		return (Datum) 0;
	for (i = a.first; i < a.dates.n; i++)
	{
		Datum		values[4];
		bool		nulls[4] = {false, false, false, false};

		values[0] = DateADTGetDatum(a.dates.date[i]);
		values[1] = Int32GetDatum(a.count[i]);
		values[2] = Int32GetDatum(a.best[i]);
		nulls[2] = a.count[i] == 0;
		values[3] = PointerGetDatum(a.best_id[i]);
		nulls[3] = a.count[i] == 0;
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}

/*
 * artist_run_stats(artist text, time_range, listener) returns setof
 * (artist, tracks_charted, debut, last_seen, peak, peak_date,
 *  periods_on_chart, periods_at_peak, periods_at_no1, longest_streak,
 *  current_streak, most_tracks)
 *
 * Run statistics of the artist's presence: a snapshot counts when at least
 * one of their tracks is on it, at their best rank there.  most_tracks is
 * the most of their tracks on one chart.  No row for an artist the series
 * never charted.
 */
Datum
artist_run_stats(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	ArtistSeries a;
	MtmRunStats st;
	Datum		values[12];
	bool		nulls[12];
	int32		most = 0;
	int			i;

	LoadArtist(fcinfo, "artist_run_stats", &a);
	InitMaterializedSRF(fcinfo, 0);
	if (a.first < 0)
		return (Datum) 0;
	mtm_stats_init(&st);
	for (i = a.first; i < a.dates.n; i++)
	{
		if (a.count[i] == 0)
			continue;
		mtm_stats_add(&st, i, a.dates.date[i], a.best[i]);
		most = Max(most, a.count[i]);
	}
	memset(nulls, 0, sizeof(nulls));
	values[0] = PG_GETARG_DATUM(0);
	values[1] = Int32GetDatum(a.ntracks);
	values[2] = DateADTGetDatum(st.debut);
	values[3] = DateADTGetDatum(st.last_seen);
	values[4] = Int32GetDatum(st.peak);
	values[5] = DateADTGetDatum(st.peak_date);
	values[6] = Int32GetDatum(st.periods);
	values[7] = Int32GetDatum(st.at_peak);
	values[8] = Int32GetDatum(st.at_no1);
	values[9] = Int32GetDatum(st.longest);
	values[10] = Int32GetDatum(mtm_stats_current(&st, &a.dates));
	values[11] = Int32GetDatum(most);
	tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	return (Datum) 0;
}
