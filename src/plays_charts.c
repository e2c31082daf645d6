/*
 * plays_charts.c
 *		Charts from plays: the listener's weekly and monthly charts of what
 *		they played, stored as top-tracks charts are (music_tm.charts), so
 *		that every history function reads them unchanged.
 *
 * The model: four more values of music_tm.time_range, four series per
 * listener, a chart per period dated by its first day (UTC):
 *	plays_week, plays_month				songs: a track's plays count for its
 *										recording (ISRC when the stored track
 *										has one, else the track id), charted
 *										under the recording's smallest stored
 *										track id;
 *	plays_week_track, plays_month_track	tracks: each track id on its own.
 * Weeks are ISO weeks (Monday to Sunday).  A chart ranks the songs (tracks)
 * by plays counted (30 s played or more; a listen only recently-played has
 * seen counts: it lists no shorter ones), ties broken by milliseconds played
 * (a listen without them counts its track's duration), then by the first
 * play, then by id; the top MTM_PLAY_CHART_SIZE.  A period with no counted
 * play has no chart.  Only stored tracks are charted (a chart names stored
 * tracks; every source stores the tracks it has names for).
 *
 * The charts stay current by themselves: every call that writes listens
 * rebuilds the periods of the listens it inserted or changed (both periods
 * when a listen's end moved from one to another), each chart written only
 * when it changed.  rebuild_play_charts makes all of a listener's charts
 * from scratch; the two give the same charts (tested).  One exception, said
 * in the README: when a track stored later gives a recording a smaller id,
 * charts already made keep the old id until rebuild_play_charts.
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/datetime.h"
#include "utils/fmgrprotos.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"

#include "chart_store.h"
#include "plays.h"

PG_FUNCTION_INFO_V1(rebuild_play_charts);

#define MTM_PLAY_CHART_SIZE 100
#define MTM_COUNTED_MS 30000

static const char *const series_names[4] = {
	"plays_week", "plays_month", "plays_week_track", "plays_month_track"
};

static SPIPlanPtr period_plan;
static SPIPlanPtr songs_plan;
static SPIPlanPtr span_plan;

/* $1 listener, $2..$5 the four series (tied to the enum's OID) */
static MtmPlan clear_plan = {
	"DELETE FROM music_tm.charts WHERE listener OPERATOR(pg_catalog.=) $1"
	" AND time_range IN ($2, $3, $4, $5)",
	5, {TEXTOID, InvalidOid, InvalidOid, InvalidOid, InvalidOid}, NULL, InvalidOid
};

static void
PreparePlans(void)
{
	Oid			t_period[3] = {TEXTOID, TIMESTAMPTZOID, TIMESTAMPTZOID};
	Oid			t_songs[1] = {TEXTARRAYOID};
	Oid			t_span[1] = {TEXTOID};

	/* the last one made: an error while preparing leaves it NULL */
	if (span_plan != NULL)
		return;
	period_plan = mtm_prepare_kept(
		"SELECT p.track_id, p.ms_played, p.ended_at, t.isrc, t.duration_ms"
		" FROM music_tm.plays p JOIN music_tm.tracks t"
		" ON t.track_id OPERATOR(pg_catalog.=) p.track_id"
		" WHERE p.listener OPERATOR(pg_catalog.=) $1"
		" AND p.ended_at OPERATOR(pg_catalog.>=) $2"
		" AND p.ended_at OPERATOR(pg_catalog.<) $3", 3, t_period);
	songs_plan = mtm_prepare_kept(
		"SELECT isrc, pg_catalog.min(track_id) FROM music_tm.tracks"
		" WHERE isrc OPERATOR(pg_catalog.=) ANY ($1) GROUP BY isrc", 1, t_songs);
	span_plan = mtm_prepare_kept(
		"SELECT (SELECT ended_at FROM music_tm.plays"
		"  WHERE listener OPERATOR(pg_catalog.=) $1 ORDER BY ended_at LIMIT 1),"
		" (SELECT ended_at FROM music_tm.plays"
		"  WHERE listener OPERATOR(pg_catalog.=) $1 ORDER BY ended_at DESC LIMIT 1)",
		1, t_span);
}

/* music_tm.time_range's OID and the Datums of the four series' values. */
static Oid
SeriesValues(Datum *values)
{
	Oid			nsp = get_namespace_oid(MTM_SCHEMA, false);
	Oid			typid = GetSysCacheOid2(TYPENAMENSP, Anum_pg_type_oid,
										CStringGetDatum("time_range"),
										ObjectIdGetDatum(nsp));

	if (!OidIsValid(typid))
		elog(ERROR, "type music_tm.time_range does not exist");
	for (int i = 0; i < 4; i++)
		values[i] = DirectFunctionCall2(enum_in, CStringGetDatum(series_names[i]),
										ObjectIdGetDatum(typid));
	return typid;
}

/* The UTC day of a time, and the first days of its week and month. */
static DateADT
DayOf(TimestampTz t)
{
	int64		days = t / USECS_PER_DAY;

	if (t < 0 && t % USECS_PER_DAY != 0)
		days--;
	return (DateADT) days;
}

static DateADT
WeekStart(DateADT d)
{
	int			dow = j2day(d + POSTGRES_EPOCH_JDATE);	/* 0 = Sunday */

	return d - (dow + 6) % 7;
}

static DateADT
MonthStart(DateADT d)
{
	int			y,
				m,
				day;

	j2date(d + POSTGRES_EPOCH_JDATE, &y, &m, &day);
	return date2j(y, m, 1) - POSTGRES_EPOCH_JDATE;
}

static DateADT
NextMonth(DateADT first)
{
	int			y,
				m,
				day;

	j2date(first + POSTGRES_EPOCH_JDATE, &y, &m, &day);
	return (m == 12 ? date2j(y + 1, 1, 1) : date2j(y, m + 1, 1)) - POSTGRES_EPOCH_JDATE;
}

/* One song or track of a period, as counted. */
typedef struct Tally
{
	char	   *key;			/* ISRC or track id */
	char	   *id;				/* the id it is charted under */
	int64		plays;
	int64		ms;
	TimestampTz first;
} Tally;

typedef struct PlayRow
{
	char	   *track_id;
	char	   *isrc;
	bool		counted;
	int64		ms;
	TimestampTz ended_at;
} PlayRow;

static int
CompareKeyStr(const void *a, const void *b)
{
	return strcmp(*(char *const *) a, *(char *const *) b);
}

static int
CompareTallyKey(const void *a, const void *b)
{
	return strcmp(((const Tally *) a)->key, ((const Tally *) b)->key);
}

static int
CompareTallyRank(const void *a, const void *b)
{
	const Tally *x = a;
	const Tally *y = b;

	if (x->plays != y->plays)
		return x->plays > y->plays ? -1 : 1;
	if (x->ms != y->ms)
		return x->ms > y->ms ? -1 : 1;
	if (x->first != y->first)
		return x->first < y->first ? -1 : 1;
	return strcmp(x->id, y->id);
}

/* The chart's new slots: an edit (chart_store.h) that replaces them all. */
static void
ReplaceAll(const MtmSlots *stored, bool exists, MtmSlots *result, void *arg)
{
	MtmSlots   *slots = arg;

	for (int r = 1; r <= slots->n; r++)
		mtm_slots_set(result, r, slots->ids[r - 1], NULL);
}

/* Rank the rows of one period by song (by_song) or by track. */
static void
RankPeriod(PlayRow *rows, int n, bool by_song, char **isrc_keys, char **isrc_ids,
		   int nisrc, MtmSlots *slots)
{
	Tally	   *t = palloc(sizeof(Tally) * Max(n, 1));
	int			nt = 0;
	int			m = 0;

	for (int i = 0; i < n; i++)
	{
		t[i].key = rows[i].track_id;
		t[i].id = rows[i].track_id;
		if (by_song && rows[i].isrc)
		{
			char	  **hit = bsearch(&rows[i].isrc, isrc_keys, nisrc, sizeof(char *),
									  CompareKeyStr);

			t[i].key = rows[i].isrc;
			if (hit)
				t[i].id = isrc_ids[hit - isrc_keys];
		}
		t[i].plays = rows[i].counted ? 1 : 0;
		t[i].ms = rows[i].ms;
		t[i].first = rows[i].ended_at;
	}
	/* an ISRC and a track id never collide: ISRCs are 12 characters, ids 22 */
	qsort(t, n, sizeof(Tally), CompareTallyKey);
	for (int i = 0; i < n; i++)
	{
		if (nt > 0 && strcmp(t[nt - 1].key, t[i].key) == 0)
		{
			t[nt - 1].plays += t[i].plays;
			t[nt - 1].ms += t[i].ms;
			t[nt - 1].first = Min(t[nt - 1].first, t[i].first);
			continue;
		}
		t[nt++] = t[i];
	}
	qsort(t, nt, sizeof(Tally), CompareTallyRank);
	mtm_slots_init(slots, MTM_PLAY_CHART_SIZE);
	for (int i = 0; i < nt && m < MTM_PLAY_CHART_SIZE; i++)
		if (t[i].plays > 0)
			mtm_slots_set(slots, ++m, t[i].id, NULL);
}

/* Write the chart of one series and period (none when it has no entry). */
static void
WriteChart(Datum listener, Datum range, Oid range_type, DateADT date,
		   MtmSlots *slots, TimestampTz now)
{
	MtmSeries	s = {listener, range, range_type};
	MtmSlots	stored;
	bool		exists = mtm_chart_lock(&s, DateADTGetDatum(date), &stored);

	/* a period with nothing to chart has no chart, as a full rebuild makes */
	if (slots->n == 0)
	{
		if (exists)
			mtm_chart_delete(&s, DateADTGetDatum(date));
		return;
	}
	mtm_chart_write(&s, DateADTGetDatum(date), now, exists, &stored,
					ReplaceAll, slots);
}

/* Rebuild the charts of the period [from, to) of a listener: two series. */
static void
RebuildPeriod(Datum listener, Datum *ranges, Oid range_type, bool month,
			  DateADT from, DateADT to, TimestampTz now)
{
	Datum		args[3];
	PlayRow    *rows;
	int			n;
	char	  **isrcs;
	int			nisrc = 0;
	char	  **isrc_keys;
	char	  **isrc_ids;
	int			nkeys;
	MtmSlots	songs;
	MtmSlots	tracks;

	CHECK_FOR_INTERRUPTS();
	args[0] = listener;
	args[1] = TimestampTzGetDatum((TimestampTz) from * USECS_PER_DAY);
	args[2] = TimestampTzGetDatum((TimestampTz) to * USECS_PER_DAY);
	/* the latest snapshot: the listens this call just wrote are all there */
	if (SPI_execute_snapshot(period_plan, args, NULL, GetLatestSnapshot(),
							 InvalidSnapshot, true, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "reading music_tm.plays failed");
	n = (int) SPI_processed;
	rows = palloc(sizeof(PlayRow) * Max(n, 1));
	isrcs = palloc(sizeof(char *) * Max(n, 1));
	for (int r = 0; r < n; r++)
	{
		HeapTuple	tup = SPI_tuptable->vals[r];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		bool		ms_null;
		bool		dur_null;
		bool		isnull;
		Datum		ms = SPI_getbinval(tup, desc, 2, &ms_null);
		Datum		dur = SPI_getbinval(tup, desc, 5, &dur_null);

		rows[r].track_id = SPI_getvalue(tup, desc, 1);
		rows[r].ended_at = DatumGetTimestampTz(SPI_getbinval(tup, desc, 3, &isnull));
		rows[r].isrc = SPI_getvalue(tup, desc, 4);
		rows[r].counted = ms_null || DatumGetInt32(ms) >= MTM_COUNTED_MS;
		rows[r].ms = !ms_null ? DatumGetInt32(ms) : !dur_null ? DatumGetInt32(dur) : 0;
		if (rows[r].isrc)
			isrcs[nisrc++] = rows[r].isrc;
	}

	/* each recording's smallest stored id */
	nkeys = 0;
	isrc_keys = palloc(sizeof(char *) * Max(nisrc, 1));
	isrc_ids = palloc(sizeof(char *) * Max(nisrc, 1));
	if (nisrc > 0)
	{
		args[0] = PointerGetDatum(mtm_text_array(isrcs, nisrc));
		if (SPI_execute_snapshot(songs_plan, args, NULL, GetLatestSnapshot(),
								 InvalidSnapshot, true, false, 0) != SPI_OK_SELECT)
			elog(ERROR, "reading music_tm.tracks failed");
		for (uint64 r = 0; r < SPI_processed; r++)
		{
			isrc_keys[nkeys] = SPI_getvalue(SPI_tuptable->vals[r], SPI_tuptable->tupdesc, 1);
			isrc_ids[nkeys] = SPI_getvalue(SPI_tuptable->vals[r], SPI_tuptable->tupdesc, 2);
			nkeys++;
		}
		/* sort both arrays by key together */
		for (int i = 1; i < nkeys; i++)
			for (int j = i; j > 0 && strcmp(isrc_keys[j - 1], isrc_keys[j]) > 0; j--)
			{
				char	   *k = isrc_keys[j];
				char	   *v = isrc_ids[j];

				isrc_keys[j] = isrc_keys[j - 1];
				isrc_ids[j] = isrc_ids[j - 1];
				isrc_keys[j - 1] = k;
				isrc_ids[j - 1] = v;
			}
	}

	RankPeriod(rows, n, true, isrc_keys, isrc_ids, nkeys, &songs);
	RankPeriod(rows, n, false, isrc_keys, isrc_ids, nkeys, &tracks);
	WriteChart(listener, ranges[month ? 1 : 0], range_type, from, &songs, now);
	WriteChart(listener, ranges[month ? 3 : 2], range_type, from, &tracks, now);
}

static int
CompareDate(const void *a, const void *b)
{
	DateADT		x = *(const DateADT *) a;
	DateADT		y = *(const DateADT *) b;

	return (x > y) - (x < y);
}

/* Sort and de-duplicate n dates; returns how many remain. */
static int
UniqueDates(DateADT *d, int n)
{
	int			m = 0;

	qsort(d, n, sizeof(DateADT), CompareDate);
	for (int i = 0; i < n; i++)
		if (m == 0 || d[m - 1] != d[i])
			d[m++] = d[i];
	return m;
}

/*
 * Rebuild the weeks and months of the given times (ends of listens a call
 * wrote, before and after).  Must be called inside SPI_connect.
 */
void
mtm_play_charts_refresh(Datum listener, TimestampTz *times, int n, TimestampTz now)
{
	Datum		ranges[4];
	Oid			range_type;
	DateADT    *weeks;
	DateADT    *months;
	int			nw;
	int			nm;

	if (n == 0)
		return;
	range_type = SeriesValues(ranges);
	PreparePlans();
	weeks = palloc(sizeof(DateADT) * n);
	months = palloc(sizeof(DateADT) * n);
	for (int i = 0; i < n; i++)
	{
		DateADT		d = DayOf(times[i]);

		weeks[i] = WeekStart(d);
		months[i] = MonthStart(d);
	}
	nw = UniqueDates(weeks, n);
	nm = UniqueDates(months, n);
	for (int i = 0; i < nw; i++)
		RebuildPeriod(listener, ranges, range_type, false, weeks[i], weeks[i] + 7, now);
	for (int i = 0; i < nm; i++)
		RebuildPeriod(listener, ranges, range_type, true, months[i], NextMonth(months[i]), now);
}

/*
 * rebuild_play_charts(listener text) returns bigint
 *
 * Every chart from plays of the listener made anew from the stored listens:
 * the four series are cleared, then each week and month from the first
 * listen to the last is built.  Returns the number of periods built.
 */
Datum
rebuild_play_charts(PG_FUNCTION_ARGS)
{
	Datum		listener;
	Datum		ranges[4];
	Oid			range_type;
	Datum		args[5];
	bool		isnull_lo;
	bool		isnull_hi;
	TimestampTz lo;
	TimestampTz hi;
	int64		periods = 0;
	TimestampTz now = GetCurrentTransactionStartTimestamp();

	mtm_require_arg(fcinfo, 0, "listener");
	mtm_check_listener(PG_GETARG_DATUM(0));
	listener = PG_GETARG_DATUM(0);

	SPI_connect();
	range_type = SeriesValues(ranges);
	PreparePlans();
	/* writers of this listener's listens wait until the charts are made */
	mtm_lock_listener_plays(listener);

	args[0] = listener;
	for (int i = 0; i < 4; i++)
		args[1 + i] = ranges[i];
	if (SPI_execute_plan(mtm_plan(&clear_plan, range_type), args, NULL, false, 0) != SPI_OK_DELETE)
		elog(ERROR, "clearing music_tm.charts failed");
	if (SPI_execute_snapshot(span_plan, args, NULL, GetLatestSnapshot(),
							 InvalidSnapshot, true, false, 1) != SPI_OK_SELECT)
		elog(ERROR, "reading music_tm.plays failed");
	lo = DatumGetTimestampTz(SPI_getbinval(SPI_tuptable->vals[0],
										   SPI_tuptable->tupdesc, 1, &isnull_lo));
	hi = DatumGetTimestampTz(SPI_getbinval(SPI_tuptable->vals[0],
										   SPI_tuptable->tupdesc, 2, &isnull_hi));
	if (!isnull_lo && !isnull_hi)
	{
		DateADT		last = DayOf(hi);

		for (DateADT w = WeekStart(DayOf(lo)); w <= last; w += 7, periods++)
			RebuildPeriod(listener, ranges, range_type, false, w, w + 7, now);
		for (DateADT m = MonthStart(DayOf(lo)); m <= last; m = NextMonth(m), periods++)
			RebuildPeriod(listener, ranges, range_type, true, m, NextMonth(m), now);
	}
	SPI_finish();
	PG_RETURN_INT64(periods);
}
