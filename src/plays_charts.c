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
#include "lib/binaryheap.h"
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

static const char *const series_names[4] = {
	"plays_week", "plays_month", "plays_week_track", "plays_month_track"
};

static SPIPlanPtr tracks_plan;
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
	Oid			t_songs[1] = {TEXTARRAYOID};
	Oid			t_span[1] = {TEXTOID};

	/* the last one made: an error while preparing leaves it NULL */
	if (span_plan != NULL)
		return;
	tracks_plan = mtm_prepare_kept(
		"SELECT track_id, isrc, duration_ms FROM music_tm.tracks"
		" WHERE track_id OPERATOR(pg_catalog.=) ANY ($1)", 1, t_songs);
	span_plan = mtm_prepare_kept(
		"SELECT (SELECT ended_at FROM music_tm.plays"
		"  WHERE listener OPERATOR(pg_catalog.=) $1 ORDER BY ended_at LIMIT 1),"
		" (SELECT ended_at FROM music_tm.plays"
		"  WHERE listener OPERATOR(pg_catalog.=) $1 ORDER BY ended_at DESC LIMIT 1)",
		1, t_span);
}

/* music_tm.time_range's OID and the Datums of the four series' values. */
Oid
mtm_play_series(Datum *values)
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

/* The first day of the week (month) of a time, and the day after it. */
DateADT
mtm_play_period(TimestampTz t, bool month, DateADT *to)
{
	DateADT		d = DayOf(t);
	DateADT		from = month ? MonthStart(d) : WeekStart(d);

	*to = month ? NextMonth(from) : from + 7;
	return from;
}

/* One song or track of a period, as counted. */
typedef MtmPlayTally Tally;

typedef struct PlayRow
{
	int			track;			/* the span's key of its track */
	int			song;			/* and of its song (ISRC, else the track) */
	bool		counted;
	int64		ms;
	TimestampTz ended_at;
} PlayRow;

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

/* For a heap whose first is the tally that ranks last. */
static int
CompareTallyHeap(Datum a, Datum b, void *arg)
{
	return CompareTallyRank(DatumGetPointer(a), DatumGetPointer(b));
}

/* The chart's new slots: an edit (chart_store.h) that replaces them all. */
static void
ReplaceAll(const MtmSlots *stored, bool exists, MtmSlots *result, void *arg)
{
	MtmSlots   *slots = arg;

	for (int r = 1; r <= slots->n; r++)
	{
		mtm_slots_set(result, r, slots->ids[r - 1], NULL);
		if (slots->tally != NULL)
			mtm_slots_set_tally(result, r, &slots->tally[r - 1]);
	}
}

/*
 * The listens of a stretch of time [from, to), read once for every period
 * in it: each with what its track says (ISRC, duration), the listens of
 * tracks not stored left out, in time order; and each recording's smallest
 * stored id.
 */
typedef struct Span
{
	PlayRow    *rows;
	int			n;
	/*
	 * Keys of songs and tracks, numbered once for the span: the span's
	 * track ids first (by their codes), then the recordings (by ISRC);
	 * key_id[k] is what key k is charted under: for a recording, first the
	 * smallest of the span's ids of it, then, for the recordings that may
	 * chart, the smallest stored id (SongIds).  stamp and where are
	 * RankTop's scratch: where[k] is key k's tally in the current
	 * ranking when stamp[k] is that ranking's number.
	 */
	char	  **key_id;
	char	  **key_isrc;		/* a recording's ISRC (NULL for a track key) */
	int			nkeys;
	int		   *stamp;
	int		   *where;
	int			ranking;
} Span;

/*
 * Rank the rows of one period by song (by_song) or by track: a tally per
 * key of the span, found by its number (no string is compared but to break
 * ties between equal tallies).  Returns, best first, the top
 * MTM_PLAY_CHART_SIZE with a counted play and every other tally equal to the
 * last of them in plays, milliseconds and first play: those only the id
 * tells apart, and a recording's id may still change (SongIds).
 */
static int
RankTop(Span *sp, PlayRow *rows, int n, bool by_song, Tally **result)
{
	Tally	   *t = palloc(sizeof(Tally) * Max(n, 1));
	int			nt = 0;
	binaryheap *heap;
	Tally	   *top;
	int			ntop = 0;
	int			ranking = ++sp->ranking;

	for (int i = 0; i < n; i++)
	{
		int			k = by_song ? rows[i].song : rows[i].track;
		Tally	   *x;

		if (sp->stamp[k] != ranking)
		{
			sp->stamp[k] = ranking;
			sp->where[k] = nt;
			t[nt].id = sp->key_id[k];
			t[nt].key = k;
			t[nt].plays = 0;
			t[nt].ms = 0;
			t[nt].first = rows[i].ended_at;
			nt++;
		}
		x = &t[sp->where[k]];
		x->plays += rows[i].counted ? 1 : 0;
		x->ms += rows[i].ms;
		x->first = Min(x->first, rows[i].ended_at);
	}

	/*
	 * The top MTM_PLAY_CHART_SIZE with a counted play: a heap whose first
	 * is the last of the best so far, then those sorted (a month has a few
	 * thousand tracks; sorting them all cost most of the ranking).
	 */
	heap = binaryheap_allocate(MTM_PLAY_CHART_SIZE, CompareTallyHeap, NULL);
	for (int i = 0; i < nt; i++)
	{
		if (t[i].plays == 0)
			continue;
		if (heap->bh_size < MTM_PLAY_CHART_SIZE)
			binaryheap_add(heap, PointerGetDatum(&t[i]));
		else if (CompareTallyRank(&t[i], (Tally *) DatumGetPointer(binaryheap_first(heap))) < 0)
			binaryheap_replace_first(heap, PointerGetDatum(&t[i]));
	}
	top = palloc(sizeof(Tally) * Max(heap->bh_size, 1));
	ntop = heap->bh_size;
	/* removed last first */
	for (int i = ntop - 1; i >= 0; i--)
	{
		Tally	   *x = (Tally *) DatumGetPointer(binaryheap_remove_first(heap));

		top[i] = *x;
		x->plays = -1;			/* taken */
	}
	binaryheap_free(heap);

	/* a full chart: the others equal to its last but for the id */
	if (ntop == MTM_PLAY_CHART_SIZE)
	{
		Tally		last = top[ntop - 1];
		int			cap = ntop;

		for (int i = 0; i < nt; i++)
			if (t[i].plays == last.plays && t[i].ms == last.ms && t[i].first == last.first)
			{
				if (ntop == cap)
					top = repalloc(top, sizeof(Tally) * (cap *= 2));
				top[ntop++] = t[i];
			}
	}
	pfree(t);
	*result = top;
	return ntop;
}

static int
CompareTallyRankQsort(const void *a, const void *b)
{
	return CompareTallyRank(a, b);
}

/*
 * The chart of tallies (each with a counted play): sorted, the first
 * MTM_PLAY_CHART_SIZE in order, each with its tally.
 */
void
mtm_play_chart_of(MtmPlayTally *t, int n, MtmSlots *slots)
{
	qsort(t, n, sizeof(Tally), CompareTallyRankQsort);
	mtm_slots_init(slots, MTM_PLAY_CHART_SIZE);
	for (int i = 0; i < Min(n, MTM_PLAY_CHART_SIZE); i++)
	{
		MtmTally	tally = {t[i].plays, t[i].ms, t[i].first};

		mtm_slots_set(slots, i + 1, t[i].id, NULL);
		mtm_slots_set_tally(slots, i + 1, &tally);
	}
}

/*
 * Write the chart of one series and period (none when it has no entry).
 * locked: the chart as the caller locked and read it (mtm_chart_lock), a
 * chart it found; NULL to lock and read it here.
 */
void
mtm_play_chart_write(Datum listener, Datum range, Oid range_type, DateADT date,
					 MtmSlots *slots, MtmSlots *locked, TimestampTz now)
{
	MtmSeries	s = {listener, range, range_type, true};
	MtmSlots	read;
	MtmSlots   *stored = locked ? locked : &read;
	bool		exists = locked ? true : mtm_chart_lock(&s, DateADTGetDatum(date), &read);

	/* a period with nothing to chart has no chart, as a full rebuild makes */
	if (slots->n == 0)
	{
		if (exists)
			mtm_chart_delete(&s, DateADTGetDatum(date));
		return;
	}
	mtm_chart_write(&s, DateADTGetDatum(date), now, exists, stored,
					ReplaceAll, slots);
}

/* A span track's ISRC, for grouping the span's tracks by recording. */
typedef struct IsrcOf
{
	char	   *isrc;
	int			code;
} IsrcOf;

static int
CompareIsrcOf(const void *a, const void *b)
{
	return strcmp(((const IsrcOf *) a)->isrc, ((const IsrcOf *) b)->isrc);
}

static void
ReadSpan(Datum listener, DateADT from, DateADT to, Span *sp)
{
	MtmIds	   *ids = mtm_ids_create(1024);
	MtmPeriodPlay *plays;
	int			n;
	int		   *map;
	int			nids;
	const char **strs;
	bool	   *stored;
	int64	   *duration;
	int		   *song_of;
	Datum		args[1];
	IsrcOf	   *isrcs;
	int			nisrc = 0;
	int			nsongs = 0;

	plays = mtm_read_period(listener, (TimestampTz) from * USECS_PER_DAY,
							(TimestampTz) to * USECS_PER_DAY, ids, &n);
	map = mtm_ids_number(ids);
	nids = mtm_ids_count(ids);

	/* the span's tracks, each once: stored or not, ISRC, duration */
	strs = palloc(sizeof(char *) * Max(nids, 1));
	for (int c = 0; c < nids; c++)
		strs[c] = mtm_ids_str(ids, c);
	stored = palloc0(sizeof(bool) * Max(nids, 1));
	duration = palloc0(sizeof(int64) * Max(nids, 1));
	isrcs = palloc(sizeof(IsrcOf) * Max(nids, 1));
	args[0] = PointerGetDatum(mtm_text_array((char **) strs, nids));
	if (SPI_execute_snapshot(tracks_plan, args, NULL, GetLatestSnapshot(),
							 InvalidSnapshot, true, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "reading music_tm.tracks failed");
	for (uint64 r = 0; r < SPI_processed; r++)
	{
		HeapTuple	tup = SPI_tuptable->vals[r];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		bool		isnull;
		int			c = mtm_ids_text(ids, SPI_getbinval(tup, desc, 1, &isnull));
		char	   *code_isrc;
		Datum		d;

		if (c < 0)
			continue;
		stored[c] = true;
		code_isrc = SPI_getvalue(tup, desc, 2);
		d = SPI_getbinval(tup, desc, 3, &isnull);
		duration[c] = isnull ? 0 : DatumGetInt32(d);
		if (code_isrc)
			isrcs[nisrc++] = (IsrcOf) {code_isrc, c};
	}

	/*
	 * The keys: the span's track ids by code, then a recording per ISRC,
	 * charted for now under the smallest of its ids in the span.  Its
	 * smallest stored id is looked up only if it may chart (SongIds): a
	 * month of listens has a few hundred recordings, its charts a hundred.
	 */
	qsort(isrcs, nisrc, sizeof(IsrcOf), CompareIsrcOf);
	sp->key_id = palloc(sizeof(char *) * (nids + Max(nisrc, 1)));
	sp->key_isrc = palloc0(sizeof(char *) * (nids + Max(nisrc, 1)));
	for (int c = 0; c < nids; c++)
		sp->key_id[c] = (char *) strs[c];
	song_of = palloc(sizeof(int) * Max(nids, 1));
	/* an ISRC and a track id never collide: 12 characters, 22 */
	for (int c = 0; c < nids; c++)
		song_of[c] = c;
	for (int i = 0; i < nisrc; i++)
	{
		int			k;

		if (i == 0 || strcmp(isrcs[i].isrc, isrcs[i - 1].isrc) != 0)
		{
			k = nids + nsongs++;
			sp->key_isrc[k] = isrcs[i].isrc;
			sp->key_id[k] = (char *) strs[isrcs[i].code];
		}
		else
			k = nids + nsongs - 1;
		if (strcmp(strs[isrcs[i].code], sp->key_id[k]) < 0)
			sp->key_id[k] = (char *) strs[isrcs[i].code];
		song_of[isrcs[i].code] = k;
	}
	sp->nkeys = nids + nsongs;
	sp->stamp = palloc0(sizeof(int) * Max(sp->nkeys, 1));
	sp->where = palloc(sizeof(int) * Max(sp->nkeys, 1));
	sp->ranking = 0;

	/* listens of stored tracks only, in time order */
	sp->rows = palloc(sizeof(PlayRow) * Max(n, 1));
	sp->n = 0;
	for (int r = 0; r < n; r++)
	{
		int			c = map[plays[r].code];
		PlayRow    *row;

		if (!stored[c])
			continue;
		row = &sp->rows[sp->n++];
		row->track = c;
		row->song = song_of[c];
		/* a listen without milliseconds played counts, with its duration */
		row->counted = plays[r].ms < 0 || plays[r].ms >= MTM_COUNTED_MS;
		row->ms = plays[r].ms < 0 ? duration[c] : plays[r].ms;
		row->ended_at = plays[r].ended_at;
	}
}

/* A period to rebuild, and its ranked songs and tracks once ranked. */
typedef struct Period
{
	DateADT		from;
	DateADT		to;
	bool		month;
	Tally	   *songs;
	int			nsongs;
	Tally	   *tracks;
	int			ntracks;
} Period;

/* Rank the songs and the tracks of one period from its span. */
static void
RankPeriod(Span *sp, Period *p)
{
	TimestampTz lo = (TimestampTz) p->from * USECS_PER_DAY;
	TimestampTz hi = (TimestampTz) p->to * USECS_PER_DAY;
	int			a = 0;
	int			b;

	CHECK_FOR_INTERRUPTS();
	/* the span's rows are in time order: the period is a slice of them */
	{
		int			l = 0,
					h = sp->n;

		while (l < h)
		{
			int			m = (l + h) / 2;

			if (sp->rows[m].ended_at < lo)
				l = m + 1;
			else
				h = m;
		}
		a = l;
	}
	for (b = a; b < sp->n && sp->rows[b].ended_at < hi; b++)
		;
	p->nsongs = RankTop(sp, sp->rows + a, b - a, true, &p->songs);
	p->ntracks = RankTop(sp, sp->rows + a, b - a, false, &p->tracks);
}

/*
 * The smallest stored id of every recording that may chart in one of the
 * periods (ranked by RankPeriod): one lookup for the span.
 */
static void
SongIds(Span *sp, Period *ps, int n)
{
	bool	   *wanted = palloc0(sizeof(bool) * Max(sp->nkeys, 1));
	char	  **isrcs = palloc(sizeof(char *) * Max(sp->nkeys, 1));
	int			nisrc = 0;
	MtmSongId  *found;
	int			nfound;

	for (int i = 0; i < n; i++)
		for (int j = 0; j < ps[i].nsongs; j++)
		{
			int			k = ps[i].songs[j].key;

			if (sp->key_isrc[k] != NULL && !wanted[k])
			{
				wanted[k] = true;
				isrcs[nisrc++] = sp->key_isrc[k];
			}
		}
	found = mtm_read_song_ids(isrcs, nisrc, true, &nfound);
	for (int k = 0; k < sp->nkeys; k++)
	{
		const char *id = wanted[k] ? mtm_song_id(found, nfound, sp->key_isrc[k]) : NULL;

		/* the span's own ids are stored: the smallest is never larger */
		if (id != NULL)
			sp->key_id[k] = (char *) id;
	}
	for (int i = 0; i < n; i++)
		for (int j = 0; j < ps[i].nsongs; j++)
			ps[i].songs[j].id = sp->key_id[ps[i].songs[j].key];
}

/* Write the two charts of a ranked period (SongIds done). */
static void
WritePeriod(Period *p, Datum listener, Datum *ranges, Oid range_type,
			TimestampTz now)
{
	MtmSlots	songs;
	MtmSlots	tracks;

	mtm_play_chart_of(p->songs, p->nsongs, &songs);
	mtm_play_chart_of(p->tracks, p->ntracks, &tracks);
	mtm_play_chart_write(listener, ranges[p->month ? 1 : 0], range_type, p->from, &songs, NULL, now);
	mtm_play_chart_write(listener, ranges[p->month ? 3 : 2], range_type, p->from, &tracks, NULL, now);
}

static int
ComparePeriod(const void *a, const void *b)
{
	const Period *x = a;
	const Period *y = b;

	if (x->from != y->from)
		return x->from < y->from ? -1 : 1;
	return (x->month > y->month) - (x->month < y->month);
}

/*
 * Rebuild the given periods, reading the listens once per stretch of
 * periods that lie within a month of each other.
 */
static void
RebuildPeriods(Datum listener, Period *ps, int n, TimestampTz now)
{
	Datum		ranges[4];
	Oid			range_type = mtm_play_series(ranges);
	int			i = 0;

	PreparePlans();
	qsort(ps, n, sizeof(Period), ComparePeriod);
	while (i < n)
	{
		DateADT		from = ps[i].from;
		DateADT		to = ps[i].to;
		int			j = i + 1;
		Span		sp;

		while (j < n && ps[j].from <= to + 31)
		{
			to = Max(to, ps[j].to);
			j++;
		}
		ReadSpan(listener, from, to, &sp);
		for (int k = i; k < j; k++)
			RankPeriod(&sp, &ps[k]);
		SongIds(&sp, ps + i, j - i);
		for (int k = i; k < j; k++)
			WritePeriod(&ps[k], listener, ranges, range_type, now);
		i = j;
	}
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
	DateADT    *weeks;
	DateADT    *months;
	Period	   *ps;
	int			nw;
	int			nm;
	int			np = 0;

	if (n == 0)
		return;
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
	ps = palloc(sizeof(Period) * (nw + nm));
	for (int i = 0; i < nw; i++)
		ps[np++] = (Period) {.from = weeks[i], .to = weeks[i] + 7, .month = false};
	for (int i = 0; i < nm; i++)
		ps[np++] = (Period) {.from = months[i], .to = NextMonth(months[i]), .month = true};
	RebuildPeriods(listener, ps, np, now);
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
	range_type = mtm_play_series(ranges);
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
		int			cap = 64;
		Period	   *ps = palloc(sizeof(Period) * cap);

		for (DateADT w = WeekStart(DayOf(lo)); w <= last; w += 7)
		{
			if (periods == cap)
				ps = repalloc(ps, sizeof(Period) * (cap *= 2));
			ps[periods++] = (Period) {.from = w, .to = w + 7, .month = false};
		}
		for (DateADT m = MonthStart(DayOf(lo)); m <= last; m = NextMonth(m))
		{
			if (periods == cap)
				ps = repalloc(ps, sizeof(Period) * (cap *= 2));
			ps[periods++] = (Period) {.from = m, .to = NextMonth(m), .month = true};
		}
		RebuildPeriods(listener, ps, (int) periods, now);
	}
	SPI_finish();
	PG_RETURN_INT64(periods);
}
