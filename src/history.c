/*
 * history.c
 *		Rank history: rank_history and chart_as_of, and the readers that the
 *		history, run statistics and picture families share.
 *
 * Everything is computed at read time from chart_entries and the chart
 * headers in music_tm.charts; nothing is stored at write time.  A snapshot
 * recorded late (an older date backfilled) or recorded again therefore
 * changes every later figure at once, with no bookkeeping to get wrong.
 *
 * Each call reads only the rows of its listener and range, and of them only
 * the track or the chart it is about:
 *	- snapshot dates come from the primary key of music_tm.charts;
 *	- one track's entries from the primary key of chart_entries, which
 *	  INCLUDEs rank so that the read is an index-only scan;
 *	- one chart from chart_entries_chart_idx (INCLUDE track_id, same reason);
 *	- the histories of a chart's tracks in one statement: one descent of the
 *	  primary key per track (a lateral join over the array of ids).
 * Figures are then computed in C in one pass.  All statements of a call run
 * read-only under the same snapshot, so a concurrent writer never makes a
 * call see half of a chart.
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
#include "chart.h"

PG_FUNCTION_INFO_V1(rank_history);
PG_FUNCTION_INFO_V1(chart_as_of);

/* $1 listener, $2 time_range, $3 lowest date, $4 highest date */
static MtmPlan dates_plan = {
	"SELECT snapshot_date FROM music_tm.charts"
	" WHERE listener OPERATOR(pg_catalog.=) $1"
	" AND time_range OPERATOR(pg_catalog.=) $2"
	" AND snapshot_date OPERATOR(pg_catalog.>=) $3"
	" AND snapshot_date OPERATOR(pg_catalog.<=) $4"
	" ORDER BY snapshot_date",
	4, {TEXTOID, InvalidOid, DATEOID, DATEOID}, NULL, InvalidOid
};

/* $1 listener, $2 time_range, $3 track_id */
static MtmPlan track_run_plan = {
	"SELECT snapshot_date, rank FROM music_tm.chart_entries"
	" WHERE listener OPERATOR(pg_catalog.=) $1"
	" AND time_range OPERATOR(pg_catalog.=) $2"
	" AND track_id OPERATOR(pg_catalog.=) $3"
	" ORDER BY snapshot_date",
	3, {TEXTOID, InvalidOid, TEXTOID}, NULL, InvalidOid
};

/*
 * $1 listener, $2 time_range, $3 track ids, $4 last date.  Written as a
 * lateral join over the ids so that each track is one descent of the primary
 * key (listener, time_range, track_id, snapshot_date <= $4).  OFFSET 0
 * keeps the subquery from being flattened: otherwise (as with a plain
 * "track_id = ANY ($3)") the planner may read the whole series up to $4
 * through the chart index and filter or hash-join it, since it guesses 10
 * ids where a chart has 50.  Rows come grouped by track, by date.
 */
static MtmPlan tracks_history_plan = {
	"SELECT e.track_id, e.snapshot_date, e.rank"
	" FROM pg_catalog.unnest($3) AS t(id),"
	" LATERAL (SELECT x.track_id, x.snapshot_date, x.rank"
	"   FROM music_tm.chart_entries x"
	"   WHERE x.listener OPERATOR(pg_catalog.=) $1"
	"   AND x.time_range OPERATOR(pg_catalog.=) $2"
	"   AND x.track_id OPERATOR(pg_catalog.=) t.id"
	"   AND x.snapshot_date OPERATOR(pg_catalog.<=) $4 OFFSET 0) e",
	4, {TEXTOID, InvalidOid, TEXTARRAYOID, DATEOID}, NULL, InvalidOid
};

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

/* The plan of p for the given enum OID, prepared and kept on first use. */
SPIPlanPtr
mtm_plan(MtmPlan *p, Oid range_type)
{
	Oid			types[4];
	int			i;

	if (p->plan != NULL && p->range_type == range_type)
		return p->plan;
	if (p->plan != NULL)
		SPI_freeplan(p->plan);
	p->plan = NULL;
	for (i = 0; i < p->nargs; i++)
		types[i] = OidIsValid(p->argtypes[i]) ? p->argtypes[i] : range_type;
	p->plan = SPI_prepare(p->sql, p->nargs, types);
	if (p->plan == NULL)
		elog(ERROR, "SPI_prepare failed for \"%s\": %s",
			 p->sql, SPI_result_code_string(SPI_result));
	SPI_keepplan(p->plan);
	p->range_type = range_type;
	return p->plan;
}

/* Run a kept read-only statement; its rows are in SPI_tuptable. */
void
mtm_spi_select(SPIPlanPtr plan, Datum *values, const char *nulls,
			   const char *what)
{
	int			ret = SPI_execute_plan(plan, values, nulls, true, 0);

	if (ret != SPI_OK_SELECT)
		elog(ERROR, "reading %s failed: %s", what, SPI_result_code_string(ret));
}

/* Snapshot dates of a series between from and to (inclusive), ascending. */
void
mtm_load_dates(const MtmSeries *s, DateADT from, DateADT to, MtmDates *out,
			   MemoryContext cxt)
{
	Datum		values[4];
	uint64		i;

	values[0] = s->listener;
	values[1] = s->range;
	values[2] = DateADTGetDatum(from);
	values[3] = DateADTGetDatum(to);
	mtm_spi_select(mtm_plan(&dates_plan, s->range_type), values, NULL,
				   "music_tm.charts");
	out->n = (int) SPI_processed;
	out->date = MemoryContextAlloc(cxt, sizeof(DateADT) * (out->n + 1));
	for (i = 0; i < SPI_processed; i++)
		out->date[i] = DatumGetDateADT(mtm_col(SPI_tuptable->vals[i],
										   SPI_tuptable->tupdesc, 1));
}

/* One track's entries in a series, ascending by date. */
void
mtm_load_track_run(const MtmSeries *s, Datum track_id, MtmRun *out,
				   MemoryContext cxt)
{
	Datum		values[3];
	uint64		i;

	values[0] = s->listener;
	values[1] = s->range;
	values[2] = track_id;
	mtm_spi_select(mtm_plan(&track_run_plan, s->range_type), values, NULL,
				   "music_tm.chart_entries");
	out->n = (int) SPI_processed;
	out->date = MemoryContextAlloc(cxt, sizeof(DateADT) * (out->n + 1));
	out->rank = MemoryContextAlloc(cxt, sizeof(int32) * (out->n + 1));
	for (i = 0; i < SPI_processed; i++)
	{
		HeapTuple	t = SPI_tuptable->vals[i];

		out->date[i] = DatumGetDateADT(mtm_col(t, SPI_tuptable->tupdesc, 1));
		out->rank[i] = DatumGetInt32(mtm_col(t, SPI_tuptable->tupdesc, 2));
	}
}

/*
 * Run the histories of several tracks up to a date (no order); the rows
 * (track_id, snapshot_date, rank) are left in SPI_tuptable.
 */
void
mtm_select_tracks_history(const MtmSeries *s, Datum track_ids, DateADT upto)
{
	Datum		values[4];

	values[0] = s->listener;
	values[1] = s->range;
	values[2] = track_ids;
	values[3] = DateADTGetDatum(upto);
	mtm_spi_select(mtm_plan(&tracks_history_plan, s->range_type), values, NULL,
				   "music_tm.chart_entries");
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
 * the track's debut) to "to", copied into cxt.  Connects to SPI itself.
 * Returns false, with no dates read, when the track never charted.
 */
bool
mtm_load_track_series(const MtmSeries *s, Datum track_id, DateADT from,
					  DateADT to, MtmRun *run, MtmDates *dates,
					  MemoryContext cxt)
{
	SPI_connect();
	mtm_load_track_run(s, track_id, run, cxt);
	if (run->n > 0)
		mtm_load_dates(s, DATE_IS_NOBEGIN(from) ? run->date[0] : from, to,
					   dates, cxt);
	SPI_finish();
	return run->n > 0;
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
	MtmDates	dates = {0, NULL};
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
		/* entries on dates that are no snapshot cannot exist (foreign key) */
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

/* Per-track figures of chart_as_of. */
typedef struct AsOfSlot
{
	int32		periods;
	int32		peak;
	DateADT		debut;
	bool		has_last;
	int32		last;
} AsOfSlot;

/*
 * chart_as_of(as_of date, time_range music_tm.time_range, listener text)
 * returns setof (snapshot_date, rank, track_id, last_position, movement,
 *				  status, peak, periods_on_chart, debut)
 *
 * The latest chart of the series on or before as_of, with Billboard columns
 * computed from the snapshots up to that chart only.
 */
Datum
chart_as_of(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	MemoryContext cxt = CurrentMemoryContext;
	MtmSeries	series;
	MtmChart	chart;
	DateADT		prev_date = DATEVAL_NOBEGIN;
	bool		has_prev = false;
	AsOfSlot   *slots;
	int			i;

	mtm_hist_require(fcinfo, 0, "as_of", "chart_as_of");
	mtm_hist_require(fcinfo, 1, "time_range", "chart_as_of");
	mtm_hist_require(fcinfo, 2, "listener", "chart_as_of");
	mtm_hist_series(fcinfo, 1, 2, &series);
	InitMaterializedSRF(fcinfo, 0);

	SPI_connect();
	if (!mtm_load_chart(&series, PG_GETARG_DATEADT(0), &chart, &prev_date,
						&has_prev, cxt) || chart.n == 0)
	{
		SPI_finish();
		return (Datum) 0;
	}

	slots = MemoryContextAllocZero(cxt, sizeof(AsOfSlot) * chart.n);
	{
		ArrayType  *ids;
		Datum	   *elems = palloc(sizeof(Datum) * chart.n);
		uint64		r;

		for (i = 0; i < chart.n; i++)
			elems[i] = PointerGetDatum(chart.e[i].track_id);
		ids = construct_array(elems, chart.n, TEXTOID, -1, false, TYPALIGN_INT);
		mtm_select_tracks_history(&series, PointerGetDatum(ids), chart.date);

		for (r = 0; r < SPI_processed; r++)
		{
			HeapTuple	t = SPI_tuptable->vals[r];
			TupleDesc	desc = SPI_tuptable->tupdesc;
			int			k;
			DateADT		d;
			int32		rank;
			AsOfSlot   *s;

			if ((r & 1023) == 0)
				CHECK_FOR_INTERRUPTS();
			k = mtm_chart_find(&chart, DatumGetTextPP(mtm_col(t, desc, 1)));
			if (k < 0)
				continue;		/* cannot happen: we asked for these ids */
			d = DatumGetDateADT(mtm_col(t, desc, 2));
			rank = DatumGetInt32(mtm_col(t, desc, 3));
			s = &slots[k];
			if (s->periods == 0 || rank < s->peak)
				s->peak = rank;
			if (s->periods == 0 || d < s->debut)
				s->debut = d;
			s->periods++;
			if (has_prev && d == prev_date)
			{
				s->has_last = true;
				s->last = rank;
			}
		}
	}
	SPI_finish();

	for (i = 0; i < chart.n; i++)
	{
		AsOfSlot   *s = &slots[i];
		int32		rank = chart.e[i].rank;
		Datum		values[9];
		bool		nulls[9] = {false, false, false, false, false, false, false, false, false};
		const char *status;

		status = s->has_last ? (rank < s->last ? "UP" : rank > s->last ? "DOWN" : "SAME") :
			s->periods <= 1 ? "NEW" : "RE-ENTRY";
		values[0] = DateADTGetDatum(chart.date);
		values[1] = Int32GetDatum(rank);
		values[2] = PointerGetDatum(chart.e[i].track_id);
		values[3] = Int32GetDatum(s->last);
		nulls[3] = !s->has_last;
		values[4] = Int32GetDatum(s->last - rank);
		nulls[4] = !s->has_last;
		values[5] = CStringGetTextDatum(status);
		values[6] = Int32GetDatum(s->peak);
		values[7] = Int32GetDatum(s->periods);
		values[8] = DateADTGetDatum(s->debut);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}
