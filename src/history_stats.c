/*
 * history_stats.c
 *		Run statistics (run_stats, all_run_stats) and artist rollups
 *		(artist_history, artist_run_stats).
 *
 * A run's figures come from one pass over its entries in date order (see
 * mtm_stats_add): streaks count consecutive snapshots of the series, found
 * by each entry's position in the series' snapshot list.
 *
 * all_run_stats reads the whole series once, in primary key order (track_id,
 * snapshot_date), through a cursor, so memory stays flat however long the
 * history is; one output row per track.
 *
 * An artist is matched against every artist credited on a track
 * (raw_json->'artists', by exact id or exact name), among the tracks that the
 * series ever charted; their entries are then read with track_id = ANY($3)
 * on the primary key and folded per snapshot.
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "miscadmin.h"
#include "funcapi.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/datum.h"

#include "common.h"
#include "history.h"

PG_FUNCTION_INFO_V1(run_stats);
PG_FUNCTION_INFO_V1(all_run_stats);
PG_FUNCTION_INFO_V1(artist_history);
PG_FUNCTION_INFO_V1(artist_run_stats);

/* Rows per fetch of all_run_stats' cursor. */
#define MTM_FETCH_ROWS 10000

/* $1 listener, $2 time_range: the whole series in primary key order */
static MtmPlan series_entries_plan = {
	"SELECT track_id, snapshot_date, rank FROM music_tm.chart_entries"
	" WHERE listener OPERATOR(pg_catalog.=) $1"
	" AND time_range OPERATOR(pg_catalog.=) $2"
	" ORDER BY track_id, snapshot_date",
	2, {TEXTOID, InvalidOid}, NULL, InvalidOid
};

/* $1 listener, $2 time_range, $3 artist id or name */
static MtmPlan artist_tracks_plan = {
	"SELECT t.track_id FROM music_tm.tracks t"
	" WHERE t.track_id IN (SELECT e.track_id FROM music_tm.chart_entries e"
	"   WHERE e.listener OPERATOR(pg_catalog.=) $1"
	"   AND e.time_range OPERATOR(pg_catalog.=) $2)"
	" AND ((t.raw_json OPERATOR(pg_catalog.->) 'artists')"
	"      OPERATOR(pg_catalog.@>) pg_catalog.jsonb_build_array(pg_catalog.jsonb_build_object('id', $3))"
	"   OR (t.raw_json OPERATOR(pg_catalog.->) 'artists')"
	"      OPERATOR(pg_catalog.@>) pg_catalog.jsonb_build_array(pg_catalog.jsonb_build_object('name', $3)))",
	3, {TEXTOID, InvalidOid, TEXTOID}, NULL, InvalidOid
};

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
	MtmDates	dates = {0, NULL};
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

/*
 * all_run_stats(time_range, listener) returns the rows of run_stats for
 * every track the series ever charted, by track id.
 */
Datum
all_run_stats(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	MemoryContext cxt = CurrentMemoryContext;
	MemoryContext rowcxt;
	MtmSeries	series;
	MtmDates	dates;
	MtmRunStats st;
	text	   *current = NULL;
	Portal		portal;
	Datum		values[2];

	mtm_hist_require(fcinfo, 0, "time_range", "all_run_stats");
	mtm_hist_require(fcinfo, 1, "listener", "all_run_stats");
	mtm_hist_series(fcinfo, 0, 1, &series);
	InitMaterializedSRF(fcinfo, 0);
	rowcxt = AllocSetContextCreate(cxt, "music_tm all_run_stats",
								   ALLOCSET_SMALL_SIZES);

	SPI_connect();
	mtm_load_dates(&series, DATEVAL_NOBEGIN, DATEVAL_NOEND, &dates, cxt);
	values[0] = series.listener;
	values[1] = series.range;
	portal = SPI_cursor_open(NULL, mtm_plan(&series_entries_plan, series.range_type),
							 values, NULL, true);
	mtm_stats_init(&st);
	for (;;)
	{
		uint64		r;

		SPI_cursor_fetch(portal, true, MTM_FETCH_ROWS);
		if (SPI_processed == 0)
			break;
		for (r = 0; r < SPI_processed; r++)
		{
			HeapTuple	t = SPI_tuptable->vals[r];
			TupleDesc	desc = SPI_tuptable->tupdesc;
			text	   *id = DatumGetTextPP(mtm_col(t, desc, 1));
			DateADT		d = DatumGetDateADT(mtm_col(t, desc, 2));

			if (current == NULL ||
				VARSIZE_ANY_EXHDR(id) != VARSIZE_ANY_EXHDR(current) ||
				memcmp(VARDATA_ANY(id), VARDATA_ANY(current),
					   VARSIZE_ANY_EXHDR(id)) != 0)
			{
				MemoryContext old;

				if (current != NULL)
					PutStats(rsinfo, PointerGetDatum(current), &st, &dates);
				MemoryContextReset(rowcxt);
				old = MemoryContextSwitchTo(rowcxt);
				current = (text *) DatumGetPointer(datumCopy(PointerGetDatum(id), false, -1));
				MemoryContextSwitchTo(old);
				mtm_stats_init(&st);
				CHECK_FOR_INTERRUPTS();
			}
			mtm_stats_add(&st, mtm_date_ordinal(&dates, d), d,
						  DatumGetInt32(mtm_col(t, desc, 3)));
		}
		SPI_freetuptable(SPI_tuptable);
	}
	SPI_cursor_close(portal);
	if (current != NULL)
		PutStats(rsinfo, PointerGetDatum(current), &st, &dates);
	SPI_finish();
	MemoryContextDelete(rowcxt);
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

static int
TextOrder(const text *a, const text *b)
{
	int			la = VARSIZE_ANY_EXHDR(a);
	int			lb = VARSIZE_ANY_EXHDR(b);
	int			c = memcmp(VARDATA_ANY(a), VARDATA_ANY(b), Min(la, lb));

	return c != 0 ? c : (la > lb) - (la < lb);
}

static void
LoadArtist(FunctionCallInfo fcinfo, const char *funcname, ArtistSeries *a)
{
	MemoryContext cxt = CurrentMemoryContext;
	MtmSeries	series;
	Datum		values[3];
	Datum	   *ids;
	uint64		r;
	int			i;

	mtm_hist_require(fcinfo, 0, "artist", funcname);
	mtm_hist_require(fcinfo, 1, "time_range", funcname);
	mtm_hist_require(fcinfo, 2, "listener", funcname);
	mtm_hist_series(fcinfo, 1, 2, &series);
	memset(a, 0, sizeof(*a));
	a->first = -1;

	SPI_connect();
	values[0] = series.listener;
	values[1] = series.range;
	values[2] = PG_GETARG_DATUM(0);
	mtm_spi_select(mtm_plan(&artist_tracks_plan, series.range_type), values,
				   NULL, "music_tm.tracks");
	a->ntracks = (int) SPI_processed;
	if (a->ntracks == 0)
	{
		SPI_finish();
		return;
	}
	ids = MemoryContextAlloc(cxt, sizeof(Datum) * a->ntracks);
	for (r = 0; r < SPI_processed; r++)
	{
		MemoryContext old = MemoryContextSwitchTo(cxt);

		ids[r] = datumCopy(mtm_col(SPI_tuptable->vals[r], SPI_tuptable->tupdesc, 1),
						   false, -1);
		MemoryContextSwitchTo(old);
	}
	mtm_load_dates(&series, DATEVAL_NOBEGIN, DATEVAL_NOEND, &a->dates, cxt);
	a->count = MemoryContextAllocZero(cxt, sizeof(int32) * (a->dates.n + 1));
	a->best = MemoryContextAllocZero(cxt, sizeof(int32) * (a->dates.n + 1));
	a->best_id = MemoryContextAllocZero(cxt, sizeof(text *) * (a->dates.n + 1));

	mtm_select_tracks_history(&series,
							  PointerGetDatum(construct_array(ids, a->ntracks, TEXTOID,
															  -1, false, TYPALIGN_INT)),
							  DATEVAL_NOEND);
	for (r = 0; r < SPI_processed; r++)
	{
		HeapTuple	t = SPI_tuptable->vals[r];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		text	   *id = DatumGetTextPP(mtm_col(t, desc, 1));
		int			o = mtm_date_ordinal(&a->dates, DatumGetDateADT(mtm_col(t, desc, 2)));
		int32		rank = DatumGetInt32(mtm_col(t, desc, 3));

		if (o < 0)
			continue;			/* cannot happen: foreign key */
		if (a->count[o] == 0 || rank < a->best[o] ||
			(rank == a->best[o] && TextOrder(id, a->best_id[o]) < 0))
		{
			MemoryContext old = MemoryContextSwitchTo(cxt);

			a->best[o] = rank;
			a->best_id[o] = (text *) DatumGetPointer(datumCopy(PointerGetDatum(id), false, -1));
			MemoryContextSwitchTo(old);
		}
		a->count[o]++;
	}
	SPI_finish();
	for (i = 0; i < a->dates.n; i++)
		if (a->count[i] > 0)
		{
			a->first = i;
			break;
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
