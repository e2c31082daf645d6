/*
 * plays_stats.c
 *		Listening statistics over one listener's plays: minutes per period
 *		and streaks; and the read and per-track tally that the statistics by
 *		track and artist (plays_top.c) share.
 *
 * Each statistic reads the listener's range of music_tm.plays once, in
 * ended_at order through its primary key, handing every row straight to C
 * (a DestReceiver: no tuple table, no copy) and counting as it goes: periods
 * are found by comparing the listen's local time with the current period's
 * bounds (the period computed only when a listen leaves it), tracks are
 * tallied in a hash table keyed by id.  What the plays do not hold (a
 * track's duration for a listen without ms_played, its artist, its ISRC) is
 * read afterwards for the distinct tracks only, with one statement over
 * music_tm.tracks' primary key.  The inline SQL that does the same work
 * joins every listen to its track and aggregates in numeric.
 *
 * The rules are those of charts from plays (plays_charts.c): a play counts
 * when 30 s or more were played, or when ms_played is not known (a listen
 * only recently-played has seen: it lists no shorter ones); minutes add up
 * what was played, a listen without ms_played its track's duration.
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "common/hashfn.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/date.h"
#include "utils/datetime.h"
#include "utils/fmgrprotos.h"
#include "utils/numeric.h"

#include "plays.h"

PG_FUNCTION_INFO_V1(listening_time);
PG_FUNCTION_INFO_V1(listening_streaks);

/*
 * $1 listener, $2 and $3 the range of ended_at; the local form adds $4, a
 * time zone, and the listen's local time.
 */
static SPIPlanPtr walk_plan;
static SPIPlanPtr walk_local_plan;
static SPIPlanPtr tracks_plan;

static void
PreparePlans(void)
{
	Oid			t_walk[4] = {TEXTOID, TIMESTAMPTZOID, TIMESTAMPTZOID, TEXTOID};
	Oid			t_ids[1] = {TEXTARRAYOID};

	/* the last one made: an error while preparing leaves it NULL */
	if (tracks_plan != NULL)
		return;
	walk_plan = mtm_prepare_kept(
		"SELECT ended_at, ms_played, track_id FROM music_tm.plays"
		" WHERE listener OPERATOR(pg_catalog.=) $1"
		" AND ended_at OPERATOR(pg_catalog.>=) $2"
		" AND ended_at OPERATOR(pg_catalog.<) $3"
		" ORDER BY ended_at", 3, t_walk);
	walk_local_plan = mtm_prepare_kept(
		"SELECT ended_at, ms_played, track_id, pg_catalog.timezone($4, ended_at)"
		" FROM music_tm.plays"
		" WHERE listener OPERATOR(pg_catalog.=) $1"
		" AND ended_at OPERATOR(pg_catalog.>=) $2"
		" AND ended_at OPERATOR(pg_catalog.<) $3"
		" ORDER BY ended_at", 4, t_walk);
	tracks_plan = mtm_prepare_kept(
		"SELECT track_id, name, artist_name, isrc, duration_ms FROM music_tm.tracks"
		" WHERE track_id OPERATOR(pg_catalog.=) ANY ($1)", 1, t_ids);
}

/* The walk's receiver: each row of the statement goes straight to visit. */
typedef struct WalkReceiver
{
	DestReceiver pub;
	MtmPlayVisit	visit;
	void	   *arg;
	bool		local;
	MemoryContext cxt;			/* the caller's: what visit allocates lives on */
	uint64		rows;
} WalkReceiver;

static bool
WalkReceive(TupleTableSlot *slot, DestReceiver *self)
{
	WalkReceiver *r = (WalkReceiver *) self;
	MtmPlayView	v;
	bool		isnull;
	Datum		ms;
	MemoryContext old;

	if ((r->rows++ & 1023) == 0)
		CHECK_FOR_INTERRUPTS();
	v.ended_at = DatumGetTimestampTz(slot_getattr(slot, 1, &isnull));
	ms = slot_getattr(slot, 2, &isnull);
	v.has_ms = !isnull;
	v.ms = isnull ? 0 : DatumGetInt32(ms);
	v.track_id = (text *) DatumGetPointer(slot_getattr(slot, 3, &isnull));
	v.local = r->local ? DatumGetTimestamp(slot_getattr(slot, 4, &isnull)) : 0;
	old = MemoryContextSwitchTo(r->cxt);
	r->visit(&v, r->arg);
	MemoryContextSwitchTo(old);
	return true;
}

static void
WalkStartup(DestReceiver *self, int operation, TupleDesc typeinfo)
{
}

static void
WalkShutdown(DestReceiver *self)
{
}

static void
WalkDestroy(DestReceiver *self)
{
}

/*
 * Visit the listener's plays with from <= ended_at < to in time order,
 * with their local time in zone tz when tz is not NULL.  Inside SPI_connect.
 */
void
mtm_walk_plays(Datum listener, TimestampTz from, TimestampTz to, Datum tz,
		  MtmPlayVisit visit, void *arg)
{
	WalkReceiver r;
	SPIExecuteOptions options;
	int			nparams = tz ? 4 : 3;
	ParamListInfo params = makeParamList(nparams);
	Datum		values[4] = {listener, TimestampTzGetDatum(from),
	TimestampTzGetDatum(to), tz};
	Oid			types[4] = {TEXTOID, TIMESTAMPTZOID, TIMESTAMPTZOID, TEXTOID};
	int			ret;

	for (int i = 0; i < nparams; i++)
	{
		params->params[i].value = values[i];
		params->params[i].isnull = false;
		params->params[i].pflags = PARAM_FLAG_CONST;
		params->params[i].ptype = types[i];
	}
	memset(&r, 0, sizeof(r));
	r.pub.receiveSlot = WalkReceive;
	r.pub.rStartup = WalkStartup;
	r.pub.rShutdown = WalkShutdown;
	r.pub.rDestroy = WalkDestroy;
	r.pub.mydest = DestNone;
	r.visit = visit;
	r.arg = arg;
	r.local = tz != (Datum) 0;
	r.cxt = CurrentMemoryContext;

	memset(&options, 0, sizeof(options));
	options.params = params;
	options.read_only = true;
	options.dest = (DestReceiver *) &r;
	ret = SPI_execute_plan_extended(r.local ? walk_local_plan : walk_plan, &options);
	/* SPI leaves its own context current: back to the caller's */
	MemoryContextSwitchTo(r.cxt);
	/* SPI says SPI_OK_UTILITY for a SELECT whose rows go to a DestNone receiver */
	if (ret != SPI_OK_SELECT && ret != SPI_OK_UTILITY)
		elog(ERROR, "reading music_tm.plays failed: %s", SPI_result_code_string(ret));
}

typedef struct TrackEntry
{
	char	   *id;
	uint32		hash;
	char		status;
	MtmTrackInfo *info;
} TrackEntry;

#define SH_PREFIX tracktab
#define SH_ELEMENT_TYPE TrackEntry
#define SH_KEY_TYPE char *
#define SH_KEY id
#define SH_HASH_KEY(tb, key) hash_bytes((const unsigned char *) (key), strlen(key))
#define SH_EQUAL(tb, a, b) (strcmp(a, b) == 0)
#define SH_STORE_HASH
#define SH_GET_HASH(tb, a) a->hash
#define SH_SCOPE static inline
#define SH_DECLARE
#define SH_DEFINE
#include "lib/simplehash.h"

void
mtm_tally_init(MtmTrackTally *t)
{
	t->tab = tracktab_create(CurrentMemoryContext, 1024, NULL);
	t->cap = 1024;
	t->n = 0;
	t->all = palloc(sizeof(MtmTrackInfo *) * t->cap);
}

/* The track of a listen, made on its first listen. */
MtmTrackInfo *
mtm_tally_get(MtmTrackTally *t, text *id_text)
{
	text	   *id = pg_detoast_datum_packed(id_text);
	int			len = VARSIZE_ANY_EXHDR(id);
	char	   *key = len < (int) sizeof(t->buf) ? t->buf : palloc(len + 1);
	TrackEntry *e;
	bool		found;

	memcpy(key, VARDATA_ANY(id), len);
	key[len] = '\0';
	e = tracktab_insert(t->tab, key, &found);
	if (!found)
	{
		MtmTrackInfo *info = palloc0(sizeof(MtmTrackInfo));

		info->id = key == t->buf ? pstrdup(key) : key;
		info->first = DT_NOEND;
		info->first_counted = DT_NOEND;
		e->id = info->id;
		e->info = info;
		if (t->n == t->cap)
		{
			t->cap *= 2;
			t->all = repalloc(t->all, sizeof(MtmTrackInfo *) * t->cap);
		}
		t->all[t->n++] = info;
	}
	else if (key != t->buf)
		pfree(key);
	return e->info;
}

MtmTrackInfo *
mtm_tally_find(MtmTrackTally *t, const char *id)
{
	TrackEntry *e = tracktab_lookup(t->tab, (char *) id);

	return e ? e->info : NULL;
}

/* Tally one listen for its track. */
void
mtm_tally_play(MtmTrackInfo *info, const MtmPlayView *v)
{
	if (v->has_ms)
		info->ms += v->ms;
	else
		info->no_ms++;
	if (!v->has_ms || v->ms >= MTM_COUNTED_MS)
	{
		info->counted++;
		if (info->first_counted == DT_NOEND)
			info->first_counted = v->ended_at;
	}
	if (info->first == DT_NOEND)
		info->first = v->ended_at;
}

/*
 * Connect to SPI and stay in the caller's memory context: what the walk
 * and the reads collect outlives SPI_finish.  (Each SPI call below leaves
 * SPI's context current: they switch back.)
 */
void
mtm_stats_connect(void)
{
	MemoryContext outer = CurrentMemoryContext;

	SPI_connect();
	MemoryContextSwitchTo(outer);
	PreparePlans();
}

/*
 * Read from music_tm.tracks what it says of the tracks for which want()
 * holds (all when want is NULL): name, artist, ISRC, duration.
 */
void
mtm_tally_read(MtmTrackTally *t, bool (*want) (const MtmTrackInfo *))
{
	MemoryContext cxt = CurrentMemoryContext;
	char	  **ids = palloc(sizeof(char *) * Max(t->n, 1));
	int			nids = 0;
	Datum		arg;

	for (int i = 0; i < t->n; i++)
		if (want == NULL || want(t->all[i]))
			ids[nids++] = t->all[i]->id;
	if (nids == 0)
		return;
	arg = PointerGetDatum(mtm_text_array(ids, nids));
	if (SPI_execute_plan(tracks_plan, &arg, NULL, true, 0) != SPI_OK_SELECT)
		elog(ERROR, "reading music_tm.tracks failed");
	MemoryContextSwitchTo(cxt);
	for (uint64 r = 0; r < SPI_processed; r++)
	{
		HeapTuple	tup = SPI_tuptable->vals[r];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		char	   *id = SPI_getvalue(tup, desc, 1);
		MtmTrackInfo *info = mtm_tally_find(t, id);
		bool		isnull;
		Datum		d;

		if (info == NULL)
			continue;
		info->stored = true;
		info->name = SPI_getvalue(tup, desc, 2);
		info->artist = SPI_getvalue(tup, desc, 3);
		info->isrc = SPI_getvalue(tup, desc, 4);
		d = SPI_getbinval(tup, desc, 5, &isnull);
		info->has_duration = !isnull;
		info->duration = isnull ? 0 : DatumGetInt32(d);
	}
}

static bool
HasListenWithoutMs(const MtmTrackInfo *info)
{
	return info->no_ms > 0;
}

/* Milliseconds played of a track's listens: unknown ones its duration. */
int64
mtm_track_ms(const MtmTrackInfo *info)
{
	return info->ms + (info->has_duration ? info->no_ms * info->duration : 0);
}

/* round(ms / 60000.0, 1) as the SQL writes it: numeric minutes. */
Datum
mtm_minutes(int64 ms)
{
	static Datum divisor = (Datum) 0;
	Datum		q;

	if (divisor == (Datum) 0)
	{
		MemoryContext old = MemoryContextSwitchTo(TopMemoryContext);

		divisor = DirectFunctionCall3(numeric_in, CStringGetDatum("60000.0"),
									  ObjectIdGetDatum(InvalidOid), Int32GetDatum(-1));
		MemoryContextSwitchTo(old);
	}
	q = DirectFunctionCall2(numeric_div, NumericGetDatum(int64_to_numeric(ms)), divisor);
	return DirectFunctionCall2(numeric_round, q, Int32GetDatum(1));
}

/* The range arguments: NULL is unbounded. */
TimestampTz
mtm_arg_time(FunctionCallInfo fcinfo, int argno, TimestampTz dflt)
{
	return PG_ARGISNULL(argno) ? dflt : PG_GETARG_TIMESTAMPTZ(argno);
}

/*
 * Check that a time zone is one the server knows (the server's own error
 * when not), before any row is read.
 */
static void
CheckZone(Datum tz)
{
	(void) DirectFunctionCall2(timestamptz_zone, tz, TimestampTzGetDatum(0));
}

static void
RequireNotNull(FunctionCallInfo fcinfo, int nargs, const char *message)
{
	for (int i = 0; i < nargs; i++)
		if (PG_ARGISNULL(i))
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("%s", message)));
}

/* ---------------------------------------------------------------------
 * listening_time
 * ---------------------------------------------------------------------
 */
typedef enum Unit
{
	UNIT_DAY,
	UNIT_WEEK,
	UNIT_MONTH,
	UNIT_YEAR
} Unit;

typedef struct Period
{
	Timestamp	start;			/* local */
	int64		ms;
	int64		counted;
	int64		streams;
} Period;

typedef struct NoMs
{
	int			period;
	MtmTrackInfo *info;
} NoMs;

typedef struct TimeWalk
{
	Unit		unit;
	Period	   *periods;
	int			n;
	int			cap;
	int			cur;			/* the period of the last listen */
	Timestamp	lo;				/* its bounds, local */
	Timestamp	hi;
	MtmTrackTally		tracks;			/* tracks of listens without ms_played */
	NoMs	   *nulls;
	int			nnulls;
	int			capnulls;
} TimeWalk;

/* The local day (as a date) of a local time: floor division. */
static DateADT
LocalDay(Timestamp t)
{
	int64		d = t / USECS_PER_DAY;

	if (TIMESTAMP_IS_NOBEGIN(t))
		return DATEVAL_NOBEGIN;
	if (TIMESTAMP_IS_NOEND(t))
		return DATEVAL_NOEND;

	if (t < 0 && t % USECS_PER_DAY != 0)
		d--;
	return (DateADT) d;
}

/* The period of a local time: its start and the next period's start. */
static void
PeriodOf(Unit unit, Timestamp t, Timestamp *start, Timestamp *next)
{
	DateADT		d = LocalDay(t);
	DateADT		s;
	DateADT		e;
	int			y,
				m,
				day;

	/* an infinite time is a period of its own, as date_trunc makes it */
	if (TIMESTAMP_NOT_FINITE(t))
	{
		*start = *next = t;
		return;
	}
	switch (unit)
	{
		case UNIT_DAY:
			s = d;
			e = d + 1;
			break;
		case UNIT_WEEK:
			/* ISO weeks start on Monday; j2day: 0 is Sunday */
			s = d - (j2day(d + POSTGRES_EPOCH_JDATE) + 6) % 7;
			e = s + 7;
			break;
		case UNIT_MONTH:
			j2date(d + POSTGRES_EPOCH_JDATE, &y, &m, &day);
			s = date2j(y, m, 1) - POSTGRES_EPOCH_JDATE;
			e = (m == 12 ? date2j(y + 1, 1, 1) : date2j(y, m + 1, 1)) - POSTGRES_EPOCH_JDATE;
			break;
		default:
			j2date(d + POSTGRES_EPOCH_JDATE, &y, &m, &day);
			s = date2j(y, 1, 1) - POSTGRES_EPOCH_JDATE;
			e = date2j(y + 1, 1, 1) - POSTGRES_EPOCH_JDATE;
			break;
	}
	*start = (Timestamp) s * USECS_PER_DAY;
	*next = (Timestamp) e * USECS_PER_DAY;
}

static void
VisitTime(const MtmPlayView *v, void *arg)
{
	TimeWalk   *w = arg;
	Period	   *p;

	if (w->cur < 0 || v->local < w->lo || v->local >= w->hi)
	{
		Timestamp	start,
					next;
		int			k;

		PeriodOf(w->unit, v->local, &start, &next);
		/* local time goes back only where clocks are set back: look behind */
		for (k = w->n - 1; k >= 0 && w->periods[k].start != start; k--)
			;
		if (k < 0)
		{
			if (w->n == w->cap)
			{
				w->cap *= 2;
				w->periods = repalloc(w->periods, sizeof(Period) * w->cap);
			}
			k = w->n++;
			memset(&w->periods[k], 0, sizeof(Period));
			w->periods[k].start = start;
		}
		w->cur = k;
		w->lo = start;
		w->hi = next;
	}
	p = &w->periods[w->cur];
	p->streams++;
	if (v->has_ms)
	{
		p->ms += v->ms;
		if (v->ms >= MTM_COUNTED_MS)
			p->counted++;
	}
	else
	{
		/* its track's duration counts: read once the walk is done */
		p->counted++;
		if (w->nnulls == w->capnulls)
		{
			w->capnulls = Max(64, w->capnulls * 2);
			w->nulls = w->nulls ? repalloc(w->nulls, sizeof(NoMs) * w->capnulls) :
				palloc(sizeof(NoMs) * w->capnulls);
		}
		w->nulls[w->nnulls].period = w->cur;
		w->nulls[w->nnulls].info = mtm_tally_get(&w->tracks, v->track_id);
		w->nulls[w->nnulls++].info->no_ms++;
	}
}

static int
ComparePeriod(const void *a, const void *b)
{
	const Period *x = a;
	const Period *y = b;

	return x->start < y->start ? -1 : x->start > y->start ? 1 : 0;
}

/*
 * listening_time(unit, listener, from_time, to_time, tz): minutes, counted
 * plays and streams per day, week, month or year of time zone tz.
 */
Datum
listening_time(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	char	   *unit;
	TimeWalk	w;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1) || PG_ARGISNULL(4))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("arguments \"unit\", \"listener\" and \"tz\" must not be null")));
	unit = text_to_cstring(PG_GETARG_TEXT_PP(0));
	memset(&w, 0, sizeof(w));
	if (strcmp(unit, "day") == 0)
		w.unit = UNIT_DAY;
	else if (strcmp(unit, "week") == 0)
		w.unit = UNIT_WEEK;
	else if (strcmp(unit, "month") == 0)
		w.unit = UNIT_MONTH;
	else if (strcmp(unit, "year") == 0)
		w.unit = UNIT_YEAR;
	else
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("unit must be day, week, month or year"),
				 errdetail("Argument \"unit\" is \"%s\".", unit)));
	CheckZone(PG_GETARG_DATUM(4));
	InitMaterializedSRF(fcinfo, 0);

	w.cap = 64;
	w.periods = palloc(sizeof(Period) * w.cap);
	w.cur = -1;
	mtm_tally_init(&w.tracks);
	mtm_stats_connect();
	mtm_walk_plays(PG_GETARG_DATUM(1), mtm_arg_time(fcinfo, 2, DT_NOBEGIN),
			  mtm_arg_time(fcinfo, 3, DT_NOEND), PG_GETARG_DATUM(4), VisitTime, &w);
	if (w.nnulls > 0)
	{
		mtm_tally_read(&w.tracks, HasListenWithoutMs);
		for (int i = 0; i < w.nnulls; i++)
			if (w.nulls[i].info->has_duration)
				w.periods[w.nulls[i].period].ms += w.nulls[i].info->duration;
	}
	SPI_finish();

	qsort(w.periods, w.n, sizeof(Period), ComparePeriod);
	for (int i = 0; i < w.n; i++)
	{
		Datum		values[4];
		bool		nulls[4] = {false, false, false, false};

		values[0] = DateADTGetDatum(LocalDay(w.periods[i].start));
		values[1] = mtm_minutes(w.periods[i].ms);
		values[2] = Int64GetDatum(w.periods[i].counted);
		values[3] = Int64GetDatum(w.periods[i].streams);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}

/* ---------------------------------------------------------------------
 * listening_streaks
 * ---------------------------------------------------------------------
 */
typedef struct DayWalk
{
	DateADT    *days;
	int			n;
	int			cap;
} DayWalk;

static void
VisitDay(const MtmPlayView *v, void *arg)
{
	DayWalk    *w = arg;
	DateADT		d;

	if (v->has_ms && v->ms < MTM_COUNTED_MS)
		return;
	d = LocalDay(v->local);
	if (w->n > 0 && w->days[w->n - 1] == d)
		return;
	if (w->n == w->cap)
	{
		w->cap *= 2;
		w->days = repalloc(w->days, sizeof(DateADT) * w->cap);
	}
	w->days[w->n++] = d;
}

static int
CompareDate(const void *a, const void *b)
{
	DateADT		x = *(const DateADT *) a;
	DateADT		y = *(const DateADT *) b;

	return x < y ? -1 : x > y ? 1 : 0;
}

/*
 * listening_streaks(listener, tz, min_days): runs of consecutive days (in
 * time zone tz) with a counted play, of at least min_days days.
 */
Datum
listening_streaks(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	int32		min_days;
	DayWalk		w;
	int			m = 0;

	RequireNotNull(fcinfo, 3,
				   "arguments \"listener\", \"tz\" and \"min_days\" must not be null");
	min_days = PG_GETARG_INT32(2);
	CheckZone(PG_GETARG_DATUM(1));
	InitMaterializedSRF(fcinfo, 0);

	w.cap = 256;
	w.n = 0;
	w.days = palloc(sizeof(DateADT) * w.cap);
	mtm_stats_connect();
	mtm_walk_plays(PG_GETARG_DATUM(0), DT_NOBEGIN, DT_NOEND, PG_GETARG_DATUM(1),
			  VisitDay, &w);
	SPI_finish();

	/* local days are in order but where clocks were set back */
	qsort(w.days, w.n, sizeof(DateADT), CompareDate);
	for (int i = 0; i < w.n; i++)
		if (m == 0 || w.days[m - 1] != w.days[i])
			w.days[m++] = w.days[i];
	for (int i = 0; i < m;)
	{
		int			j = i + 1;

		while (j < m && (int64) w.days[j] == (int64) w.days[j - 1] + 1)
			j++;
		if (j - i >= min_days)
		{
			Datum		values[3];
			bool		nulls[3] = {false, false, false};

			values[0] = DateADTGetDatum(w.days[i]);
			values[1] = DateADTGetDatum(w.days[j - 1]);
			values[2] = Int32GetDatum(j - i);
			tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
		}
		i = j;
	}
	return (Datum) 0;
}
