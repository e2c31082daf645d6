/*
 * history.c
 *		Rank history: rank_history, and the argument checks, series readers
 *		and run statistics that the history, chart, run statistics and
 *		picture families share.
 *
 * Everything is computed at read time from the chart rows of
 * music_tm.charts; nothing is stored at write time.  A snapshot recorded
 * late (an older date backfilled) or recorded again therefore changes every
 * later figure at once, with no bookkeeping to get wrong.
 *
 * A chart is one row holding its ids in rank order, so one track's run is
 * read by walking the series' rows once in date order (the primary key) and
 * looking for the id in each: one read per snapshot of the series, which
 * also gives the snapshot dates.  All statements of a call run read-only
 * under the same snapshot, so a concurrent writer never makes a call see
 * half of a chart.
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "miscadmin.h"
#include "funcapi.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/syscache.h"

#include "common.h"
#include "history.h"

PG_FUNCTION_INFO_V1(rank_history);

/*
 * Raise 22004 for a NULL argument.  Our functions are not STRICT: a NULL
 * range or listener silently giving no rows would hide a bug in the caller.
 */
void
mtm_hist_require(FunctionCallInfo fcinfo, int argno, const char *argname,
				 const char *funcname)
{
	if (PG_ARGISNULL(argno))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("argument \"%s\" must not be null", argname),
				 errdetail("Argument \"%s\" of music_tm.%s is NULL.",
						   argname, funcname)));
}

/*
 * Fill a series from the time_range and listener arguments.  The enum's OID
 * comes from the call expression; a call without one (DirectFunctionCall)
 * looks it up in the catalog.
 */
void
mtm_hist_series(FunctionCallInfo fcinfo, int range_argno, int listener_argno,
				MtmSeries *series)
{
	series->range = PG_GETARG_DATUM(range_argno);
	series->listener = PG_GETARG_DATUM(listener_argno);
	series->range_type = get_fn_expr_argtype(fcinfo->flinfo, range_argno);
	series->tallies = false;
	if (!OidIsValid(series->range_type))
		series->range_type =
			GetSysCacheOid2(TYPENAMENSP, Anum_pg_type_oid,
							CStringGetDatum("time_range"),
							ObjectIdGetDatum(get_namespace_oid(MTM_SCHEMA, false)));
}

/* 22023 when a date range is reversed. */
void
mtm_hist_check_dates(DateADT from, DateADT to, const char *from_name,
					 const char *to_name)
{
	if (from > to)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("\"%s\" must not be later than \"%s\"", from_name, to_name),
				 errdetail("Argument \"%s\" is %s and argument \"%s\" is %s.",
						   from_name,
						   DatumGetCString(DirectFunctionCall1(date_out, DateADTGetDatum(from))),
						   to_name,
						   DatumGetCString(DirectFunctionCall1(date_out, DateADTGetDatum(to))))));
}

/* An empty list of dates, growing in cxt. */
void
mtm_dates_init(MtmDates *dates, MemoryContext cxt)
{
	dates->n = 0;
	dates->cap = 64;
	dates->date = MemoryContextAlloc(cxt, sizeof(DateADT) * dates->cap);
}

/* Append a date (callers add them in ascending order). */
void
mtm_dates_add(MtmDates *dates, DateADT d)
{
	if (dates->n == dates->cap)
	{
		dates->cap *= 2;
		dates->date = repalloc(dates->date, sizeof(DateADT) * dates->cap);
	}
	dates->date[dates->n++] = d;
}

/* Position of d in the snapshot list, or -1 when it is not a snapshot. */
int
mtm_date_ordinal(const MtmDates *dates, DateADT d)
{
	int			lo = 0;
	int			hi = dates->n - 1;

	while (lo <= hi)
	{
		int			mid = lo + (hi - lo) / 2;

		if (dates->date[mid] == d)
			return mid;
		if (dates->date[mid] < d)
			lo = mid + 1;
		else
			hi = mid - 1;
	}
	return -1;
}

void
mtm_stats_init(MtmRunStats *st)
{
	memset(st, 0, sizeof(*st));
	st->last_ordinal = -2;
}

/*
 * Add one entry (in date order).  A streak goes on when the entry stands in
 * the snapshot right after the previous entry's snapshot.
 */
void
mtm_stats_add(MtmRunStats *st, int ordinal, DateADT date, int32 rank)
{
	if (st->periods == 0)
		st->debut = date;
	st->last_seen = date;
	st->periods++;
	if (st->periods == 1 || rank < st->peak)
	{
		st->peak = rank;
		st->peak_date = date;
		st->at_peak = 1;
	}
	else if (rank == st->peak)
		st->at_peak++;
	if (rank == 1)
		st->at_no1++;
	if (ordinal >= 0 && ordinal == st->last_ordinal + 1)
		st->streak++;
	else
		st->streak = 1;
	st->last_ordinal = ordinal;
	if (st->streak > st->longest)
		st->longest = st->streak;
}

/* The current streak: 0 unless the run is on the series' latest snapshot. */
int32
mtm_stats_current(const MtmRunStats *st, const MtmDates *dates)
{
	if (st->periods == 0 || dates->n == 0 || st->last_ordinal != dates->n - 1)
		return 0;
	return st->streak;
}

/*
 * Arguments (track_id, time_range, listener) of the per-track functions:
 * none may be NULL; they name the series.
 */
void
mtm_hist_track_args(FunctionCallInfo fcinfo, const char *funcname,
					MtmSeries *series)
{
	mtm_hist_require(fcinfo, 0, "track_id", funcname);
	mtm_hist_require(fcinfo, 1, "time_range", funcname);
	mtm_hist_require(fcinfo, 2, "listener", funcname);
	mtm_hist_series(fcinfo, 1, 2, series);
}

/*
 * A track's run and the series' snapshot dates from "from" (DATEVAL_NOBEGIN:
 * the track's debut) to "to", copied into cxt, from one walk of the series.
 * The run has every entry of the track, also outside from..to.  Connects to
 * SPI itself.  Returns false, with no dates, when the track never charted.
 */
/* What a walk of the series collects for one track. */
typedef struct TrackWalk
{
	text	   *id;
	DateADT		from;
	DateADT		to;
	MtmRun	   *run;
	MtmDates   *dates;
	int			cap;
} TrackWalk;

static void
VisitForTrack(DateADT d, ArrayType *ids, void *arg)
{
	TrackWalk  *w = arg;
	int32		rank = mtm_ids_find(ids, w->id);

	if (rank > 0)
	{
		if (w->run->n == w->cap)
		{
			w->cap *= 2;
			w->run->date = repalloc(w->run->date, sizeof(DateADT) * w->cap);
			w->run->rank = repalloc(w->run->rank, sizeof(int32) * w->cap);
		}
		w->run->date[w->run->n] = d;
		w->run->rank[w->run->n++] = rank;
	}
	if (d > w->to || (DATE_IS_NOBEGIN(w->from) ? w->run->n == 0 : d < w->from))
		return;
	mtm_dates_add(w->dates, d);
}

bool
mtm_load_track_series(const MtmSeries *s, Datum track_id, DateADT from,
					  DateADT to, MtmRun *run, MtmDates *dates,
					  MemoryContext cxt)
{
	TrackWalk	w;

	w.id = DatumGetTextPP(track_id);
	w.from = from;
	w.to = to;
	w.run = run;
	w.dates = dates;
	w.cap = 64;
	run->n = 0;
	run->date = MemoryContextAlloc(cxt, sizeof(DateADT) * w.cap);
	run->rank = MemoryContextAlloc(cxt, sizeof(int32) * w.cap);
	mtm_dates_init(dates, cxt);

	SPI_connect();
	mtm_scan_series(s, DATEVAL_NOBEGIN, DATEVAL_NOEND, VisitForTrack, &w);
	SPI_finish();
	if (run->n == 0)
		dates->n = 0;
	return run->n > 0;
}

/* What a walk of the series collects for many tracks. */
typedef struct TracksWalk
{
	text	  **ids;			/* sorted by mtm_text_cmp, distinct */
	int			n;
	MtmRun	   *runs;			/* runs[k]: the entries of ids[k] */
	int		   *caps;
	MtmDates   *dates;
} TracksWalk;

static int
CompareTextPtr(const void *a, const void *b)
{
	return mtm_text_cmp(*(text *const *) a, *(text *const *) b);
}

static void
VisitForTracks(DateADT d, ArrayType *ids, void *arg)
{
	TracksWalk *w = arg;
	MtmIdIter	it;
	int32		rank;
	text	   *id;

	mtm_ids_begin(&it, ids);
	while (mtm_ids_next(&it, &rank, &id))
	{
		text	  **hit = bsearch(&id, w->ids, w->n, sizeof(text *), CompareTextPtr);
		MtmRun	   *run;
		int			k;

		if (hit == NULL)
			continue;
		k = hit - w->ids;
		run = &w->runs[k];
		if (run->n == w->caps[k])
		{
			w->caps[k] *= 2;
			run->date = repalloc(run->date, sizeof(DateADT) * w->caps[k]);
			run->rank = repalloc(run->rank, sizeof(int32) * w->caps[k]);
		}
		run->date[run->n] = d;
		run->rank[run->n++] = rank;
	}
	mtm_dates_add(w->dates, d);
}

/*
 * The runs of many tracks and every snapshot date of the series, from one
 * walk of it, copied into cxt.  ids: n distinct ids sorted with
 * mtm_text_sort_ids; runs[k] gets the entries of ids[k].  Connects to SPI
 * itself.
 */
void
mtm_load_tracks_runs(const MtmSeries *s, text **ids, int n, MtmRun *runs,
					 MtmDates *dates, MemoryContext cxt)
{
	TracksWalk	w;

	w.ids = ids;
	w.n = n;
	w.runs = runs;
	w.caps = MemoryContextAlloc(cxt, sizeof(int) * Max(n, 1));
	w.dates = dates;
	for (int k = 0; k < n; k++)
	{
		w.caps[k] = 16;
		runs[k].n = 0;
		runs[k].date = MemoryContextAlloc(cxt, sizeof(DateADT) * w.caps[k]);
		runs[k].rank = MemoryContextAlloc(cxt, sizeof(int32) * w.caps[k]);
	}
	mtm_dates_init(dates, cxt);

	SPI_connect();
	mtm_scan_series(s, DATEVAL_NOBEGIN, DATEVAL_NOEND, VisitForTracks, &w);
	SPI_finish();
}

/* Sort ids for mtm_load_tracks_runs and drop repeats; returns the count. */
int
mtm_text_sort_ids(text **ids, int n)
{
	int			kept = 0;

	if (n == 0)
		return 0;
	qsort(ids, n, sizeof(text *), CompareTextPtr);
	for (int i = 1; i < n; i++)
		if (mtm_text_cmp(ids[kept], ids[i]) != 0)
			ids[++kept] = ids[i];
	return kept + 1;
}

/* Index of id in ids (as sorted by mtm_text_sort_ids), or -1. */
int
mtm_text_find_id(text **ids, int n, text *id)
{
	text	  **hit = bsearch(&id, ids, n, sizeof(text *), CompareTextPtr);

	return hit ? (int) (hit - ids) : -1;
}

/*
 * rank_history(track_id text, time_range music_tm.time_range, listener text)
 * returns setof (snapshot_date, rank, previous_rank, movement, status)
 *
 * One row per snapshot of the series from the track's debut on.  Status:
 * NEW on the debut, RE-ENTRY back after a gap, UP / DOWN / SAME against the
 * previous snapshot, DROPPED on the first snapshot after it left (rank NULL,
 * previous_rank its last rank); later snapshots where it stays absent have
 * every column but the date NULL.  movement = previous_rank - rank, so
 * positive means up.
 */
Datum
rank_history(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	MemoryContext cxt = CurrentMemoryContext;
	MtmSeries	series;
	MtmRun		run;
	MtmDates	dates = {0};
	int			i;
	int			j = 0;
	bool		have_prev = false;
	int32		prev = 0;

	mtm_hist_track_args(fcinfo, "rank_history", &series);
	InitMaterializedSRF(fcinfo, 0);
	mtm_load_track_series(&series, PG_GETARG_DATUM(0), DATEVAL_NOBEGIN,
						  DATEVAL_NOEND, &run, &dates, cxt);

	for (i = 0; i < dates.n; i++)
	{
		Datum		values[5];
		bool		nulls[5] = {false, false, false, false, false};
		const char *status = NULL;
		bool		here;
		int32		rank = 0;

		CHECK_FOR_INTERRUPTS();
		/* the run's dates are snapshots of the series: it was read from them */
		while (j < run.n && run.date[j] < dates.date[i])
			j++;
		here = j < run.n && run.date[j] == dates.date[i];
		if (here)
			rank = run.rank[j++];

		values[0] = DateADTGetDatum(dates.date[i]);
		values[1] = Int32GetDatum(rank);
		nulls[1] = !here;
		values[2] = Int32GetDatum(prev);
		nulls[2] = !have_prev;
		values[3] = Int32GetDatum(prev - rank);
		nulls[3] = !(here && have_prev);
		if (here)
			status = i == 0 ? "NEW" : !have_prev ? "RE-ENTRY" :
				rank < prev ? "UP" : rank > prev ? "DOWN" : "SAME";
		else if (have_prev)
			status = "DROPPED";
		values[4] = status ? CStringGetTextDatum(status) : (Datum) 0;
		nulls[4] = status == NULL;
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);

		have_prev = here;
		prev = rank;
	}
	return (Datum) 0;
}
