/*
 * plays_charts_add.c
 *		Charts from plays updated by listens a call only added: each chart
 *		edited from its stored tallies instead of counted again.
 *
 * A chart from plays stores each entry's tally (play_counts, play_ms,
 * first_played).  When a call only inserts listens (no stored listen moved
 * or changed) and changes no stored track's ISRC or duration (what a
 * listen is counted by), every song's tally can only grow, and only the
 * songs of the added listens change: a song outside a full chart that the
 * call did not touch was behind its 100th entry and stays behind it.  So a
 * chart is its stored entries, the touched ones updated, plus the touched
 * songs it did not hold, counted from the period's listens; ranked as
 * plays_charts.c ranks.  The result is the chart a rebuild of the period
 * makes (plays_charts' tests check both ways after polls), with the
 * exceptions the README states for charts made earlier: a track another
 * call stored or changed meanwhile reaches a chart when its period is
 * rebuilt.
 *
 * A period whose chart is not stored yet (or has no tallies) is rebuilt
 * as plays_charts.c does.  Must be called inside SPI_connect, with the
 * listener's plays locked.
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/snapmgr.h"

#include "chart_store.h"
#include "plays.h"

/*
 * $1 track ids: each stored one with its ISRC and duration, and every
 * stored id of its recording (itself included) with its duration; none for
 * a track without ISRC (OFFSET 0: each ISRC looked up by the index, as in
 * the twins read).
 */
static SPIPlanPtr recordings_plan;

/* A track of the added listens, or another id of one's recording. */
typedef struct AddTrack
{
	const char *id;
	char	   *isrc;			/* NULL: none */
	int64		duration;
} AddTrack;

/* A stored track of the lookup, its duration in column d. */
static void
PutTrack(AddTrack *t, HeapTuple tup, TupleDesc desc, char *id, char *isrc, int d)
{
	bool		isnull;
	Datum		v = SPI_getbinval(tup, desc, d, &isnull);

	t->id = id;
	t->isrc = isrc;
	t->duration = isnull ? 0 : DatumGetInt32(v);
}

/* A song (or track) the added listens touch, in one series of one period. */
typedef struct Touched
{
	const char *key;			/* ISRC, or track id */
	char	   *id;				/* the id it is charted under */
	const char **ids;			/* every stored id counted for it */
	int64	   *durations;
	int			nids;
} Touched;

/*
 * The listens of the stretch of every touched period, read once when a
 * chart first needs them (in time order, each track by its number).
 */
typedef struct Stretch
{
	DateADT		from;
	DateADT		to;
	bool		read;
	MtmPeriodPlay *rows;
	int			nrows;
	const char **strs;			/* strs[code]: the track id */
	int		   *order;			/* the codes in the order of their ids */
	int			nids;
} Stretch;

static int
CompareCode(const void *a, const void *b, void *arg)
{
	const Stretch *st = arg;

	return strcmp(st->strs[*(const int *) a], st->strs[*(const int *) b]);
}

/* The number of a track id among the stretch's, or -1. */
static int
FindCode(const Stretch *st, const char *id)
{
	int			l = 0,
				h = st->nids;

	while (l < h)
	{
		int			m = (l + h) / 2;
		int			c = strcmp(st->strs[st->order[m]], id);

		if (c == 0)
			return st->order[m];
		if (c < 0)
			l = m + 1;
		else
			h = m;
	}
	return -1;
}

static void
ReadStretch(Datum listener, Stretch *st)
{
	MtmIds	   *ids = mtm_ids_create(256);
	int		   *map;

	st->rows = mtm_read_period(listener, (TimestampTz) st->from * USECS_PER_DAY,
							   (TimestampTz) st->to * USECS_PER_DAY, ids, &st->nrows);
	map = mtm_ids_number(ids);
	st->nids = mtm_ids_count(ids);
	for (int r = 0; r < st->nrows; r++)
		st->rows[r].code = map[st->rows[r].code];
	st->strs = palloc(sizeof(char *) * Max(st->nids, 1));
	st->order = palloc(sizeof(int) * Max(st->nids, 1));
	for (int c = 0; c < st->nids; c++)
	{
		st->strs[c] = mtm_ids_str(ids, c);
		st->order[c] = c;
	}
	qsort_arg(st->order, st->nids, sizeof(int), CompareCode, st);
	st->read = true;
}

static int
CompareStr(const void *a, const void *b)
{
	return strcmp(*(const char *const *) a, *(const char *const *) b);
}

/* The period's listens of a set of tracks, counted: plays, ms, first. */
static bool
CountListens(const MtmPeriodPlay *rows, int nrows, const bool *wanted,
			 const int64 *duration, MtmPlayTally *t)
{
	bool		any = false;

	for (int r = 0; r < nrows; r++)
	{
		if (!wanted[rows[r].code])
			continue;
		if (!any || rows[r].ended_at < t->first)
			t->first = rows[r].ended_at;
		any = true;
		t->plays += rows[r].ms < 0 || rows[r].ms >= MTM_COUNTED_MS ? 1 : 0;
		t->ms += rows[r].ms < 0 ? duration[rows[r].code] : rows[r].ms;
	}
	return any;
}

/*
 * Update one stored chart (one series, one period) by the added listens of
 * the period (adds[a], a in sel): stored holds its locked slots and tallies.
 */
static void
AddToChart(Datum listener, Datum range, Oid range_type, DateADT from,
		   DateADT to, bool by_song, const MtmPlayAdded *adds, const int *sel,
		   int nsel, AddTrack *tracks, int ntracks, MtmSlots *stored,
		   Stretch *st, TimestampTz now)
{
	Touched    *touched = palloc0(sizeof(Touched) * Max(nsel, 1));
	int			ntouched = 0;
	int		   *song_of = palloc(sizeof(int) * Max(nsel, 1));
	MtmPlayTally *t = palloc0(sizeof(MtmPlayTally) * (stored->n + nsel + 1));
	int			nt = 0;
	int		   *entry_of;
	bool		need_read = false;
	MtmSlots	slots;

	/* the songs (tracks) touched, each once, with every id counted for it */
	for (int i = 0; i < nsel; i++)
	{
		const MtmPlayAdded *a = &adds[sel[i]];
		AddTrack   *tr = NULL;
		const char *key;
		int			k;

		for (int j = 0; j < ntracks && tr == NULL; j++)
			if (strcmp(tracks[j].id, a->track_id) == 0)
				tr = &tracks[j];
		song_of[i] = -1;
		if (tr == NULL)
			continue;			/* a chart names stored tracks only */
		key = by_song && tr->isrc ? tr->isrc : tr->id;
		for (k = 0; k < ntouched; k++)
			if (strcmp(touched[k].key, key) == 0)
				break;
		if (k == ntouched)
		{
			Touched    *x = &touched[ntouched++];

			x->key = key;
			x->ids = palloc(sizeof(char *) * Max(ntracks, 1));
			x->durations = palloc(sizeof(int64) * Max(ntracks, 1));
			x->nids = 0;
			for (int j = 0; j < ntracks; j++)
				if (by_song && tr->isrc ?
					(tracks[j].isrc && strcmp(tracks[j].isrc, tr->isrc) == 0) :
					strcmp(tracks[j].id, tr->id) == 0)
				{
					bool		dup = false;

					for (int m = 0; m < x->nids && !dup; m++)
						dup = strcmp(x->ids[m], tracks[j].id) == 0;
					if (dup)
						continue;
					x->ids[x->nids] = tracks[j].id;
					x->durations[x->nids++] = tracks[j].duration;
				}
			/* a recording is charted under its smallest stored id */
			x->id = (char *) x->ids[0];
			for (int m = 1; m < x->nids; m++)
				if (strcmp(x->ids[m], x->id) < 0)
					x->id = (char *) x->ids[m];
		}
		song_of[i] = k;
	}

	/* the stored entries, each found for the touched song it is */
	entry_of = palloc(sizeof(int) * Max(ntouched, 1));
	for (int k = 0; k < ntouched; k++)
		entry_of[k] = -1;
	for (int r = 0; r < stored->n; r++)
	{
		if (stored->ids[r] == NULL)
			continue;
		t[nt].id = stored->ids[r];
		t[nt].key = -1;
		t[nt].plays = stored->tally[r].plays;
		t[nt].ms = stored->tally[r].ms;
		t[nt].first = stored->tally[r].first;
		for (int k = 0; k < ntouched && t[nt].key < 0; k++)
			for (int m = 0; m < touched[k].nids; m++)
				if (strcmp(touched[k].ids[m], stored->ids[r]) == 0)
				{
					t[nt].key = k;
					entry_of[k] = nt;
					break;
				}
		nt++;
	}

	/* a touched song the chart held: its tally grows by the added listens */
	for (int i = 0; i < nsel; i++)
	{
		const MtmPlayAdded *a = &adds[sel[i]];
		int			k = song_of[i];
		MtmPlayTally *x;
		int64		duration = 0;

		if (k < 0 || entry_of[k] < 0)
			continue;
		for (int m = 0; m < touched[k].nids; m++)
			if (strcmp(touched[k].ids[m], a->track_id) == 0)
				duration = touched[k].durations[m];
		x = &t[entry_of[k]];
		x->plays += a->ms < 0 || a->ms >= MTM_COUNTED_MS ? 1 : 0;
		x->ms += a->ms < 0 ? duration : a->ms;
		x->first = Min(x->first, a->ended_at);
		x->id = touched[k].id;
	}

	/* the others are counted from the period's listens (added ones included) */
	for (int k = 0; k < ntouched; k++)
		need_read |= entry_of[k] < 0;
	if (need_read)
	{
		TimestampTz lo = (TimestampTz) from * USECS_PER_DAY;
		TimestampTz hi = (TimestampTz) to * USECS_PER_DAY;
		bool	   *wanted;
		int64	   *duration;
		int			a = 0,
					b;

		if (!st->read)
			ReadStretch(listener, st);
		wanted = palloc(sizeof(bool) * Max(st->nids, 1));
		duration = palloc0(sizeof(int64) * Max(st->nids, 1));
		/* the period is a slice of the stretch's rows (in time order) */
		{
			int			l = 0,
						h = st->nrows;

			while (l < h)
			{
				int			m = (l + h) / 2;

				if (st->rows[m].ended_at < lo)
					l = m + 1;
				else
					h = m;
			}
			a = l;
		}
		for (b = a; b < st->nrows && st->rows[b].ended_at < hi; b++)
			;
		for (int k = 0; k < ntouched; k++)
		{
			MtmPlayTally *x;

			if (entry_of[k] >= 0)
				continue;
			memset(wanted, 0, sizeof(bool) * Max(st->nids, 1));
			for (int m = 0; m < touched[k].nids; m++)
			{
				int			c = FindCode(st, touched[k].ids[m]);

				if (c >= 0)
				{
					wanted[c] = true;
					duration[c] = touched[k].durations[m];
				}
			}
			x = &t[nt];
			memset(x, 0, sizeof(*x));
			x->id = touched[k].id;
			x->key = k;
			if (CountListens(st->rows + a, b - a, wanted, duration, x) && x->plays > 0)
				nt++;
		}
	}

	/* ranked again: the chart's entries and the touched songs that count */
	mtm_play_chart_of(t, nt, &slots);
	mtm_play_chart_write(listener, range, range_type, from, &slots, stored, now);
}

/*
 * AddListens: the charts of the weeks and months of listens a call
 * only added (adds, none of a track whose ISRC or duration the call
 * changed).  Periods with a chart without tallies, or with no chart yet, are
 * rebuilt (mtm_play_charts_refresh).
 */
static void
AddListens(Datum listener, const MtmPlayAdded *adds, int n, TimestampTz now)
{
	Datum		ranges[4];
	Oid			range_type;
	const char **ids;
	int			nids = 0;
	AddTrack   *tracks;
	int			ntracks = 0;
	Datum		arg;
	TimestampTz *rebuild = palloc(sizeof(TimestampTz) * Max(n, 1));
	int			nrebuild = 0;
	int		   *sel = palloc(sizeof(int) * Max(n, 1));
	bool	   *done = palloc0(sizeof(bool) * Max(n, 1) * 2);
	Stretch		st;

	if (n == 0)
		return;
	range_type = mtm_play_series(ranges);
	if (recordings_plan == NULL)
	{
		Oid			t_ids[1] = {TEXTARRAYOID};

		recordings_plan = mtm_prepare_kept(
			"SELECT a.track_id, a.isrc, a.duration_ms, b.track_id, b.duration_ms"
			" FROM pg_catalog.unnest($1) AS u(id)"
			" JOIN music_tm.tracks a ON a.track_id OPERATOR(pg_catalog.=) u.id"
			" LEFT JOIN LATERAL (SELECT t.track_id, t.duration_ms FROM music_tm.tracks t"
			"  WHERE t.isrc OPERATOR(pg_catalog.=) a.isrc OFFSET 0) AS b ON true", 1, t_ids);
	}

	/* the added listens' tracks, each once, and their recordings' ids */
	ids = palloc(sizeof(char *) * n);
	for (int i = 0; i < n; i++)
		ids[nids++] = adds[i].track_id;
	qsort(ids, nids, sizeof(char *), CompareStr);
	{
		int			m = 0;

		for (int i = 0; i < nids; i++)
			if (m == 0 || strcmp(ids[m - 1], ids[i]) != 0)
				ids[m++] = ids[i];
		nids = m;
	}
	arg = PointerGetDatum(mtm_text_array((char **) ids, nids));
	if (SPI_execute_snapshot(recordings_plan, &arg, NULL, GetLatestSnapshot(),
							 InvalidSnapshot, true, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "reading music_tm.tracks failed");
	tracks = palloc(sizeof(AddTrack) * (2 * SPI_processed + nids + 1));
	for (uint64 r = 0; r < SPI_processed; r++)
	{
		HeapTuple	tup = SPI_tuptable->vals[r];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		char	   *isrc = SPI_getvalue(tup, desc, 2);
		char	   *twin = SPI_getvalue(tup, desc, 4);

		/* the track itself (once per other id of its recording: harmless) */
		PutTrack(&tracks[ntracks++], tup, desc, SPI_getvalue(tup, desc, 1), isrc, 3);
		if (isrc != NULL && twin != NULL)
			PutTrack(&tracks[ntracks++], tup, desc, twin, isrc, 5);
	}

	/* the stretch of every touched period, read if a chart needs it */
	st.read = false;
	st.from = DATEVAL_NOEND;
	st.to = DATEVAL_NOBEGIN;
	for (int i = 0; i < n; i++)
		for (int month = 0; month < 2; month++)
		{
			DateADT		to;
			DateADT		from = mtm_play_period(adds[i].ended_at, month, &to);

			st.from = Min(st.from, from);
			st.to = Max(st.to, to);
		}

	/* each touched week and month, both series */
	for (int i = 0; i < n; i++)
		for (int month = 0; month < 2; month++)
		{
			DateADT		to;
			DateADT		from;
			int			nsel = 0;
			MtmSlots	stored[2];
			bool		editable = true;

			CHECK_FOR_INTERRUPTS();
			if (done[2 * i + month])
				continue;
			from = mtm_play_period(adds[i].ended_at, month, &to);
			for (int j = i; j < n; j++)
			{
				DateADT		to_j;

				if (mtm_play_period(adds[j].ended_at, month, &to_j) == from)
				{
					done[2 * j + month] = true;
					sel[nsel++] = j;
				}
			}
			for (int song = 0; song < 2; song++)
			{
				MtmSeries	s = {listener, ranges[(month ? 1 : 0) + (song ? 0 : 2)], range_type, true};

				if (!mtm_chart_lock(&s, DateADTGetDatum(from), &stored[song]) ||
					stored[song].tally == NULL)
					editable = false;
			}
			if (!editable)
			{
				/* rebuilt below: a listen of the period stands for it */
				rebuild[nrebuild++] = adds[i].ended_at;
				continue;
			}
			for (int song = 0; song < 2; song++)
				AddToChart(listener, ranges[(month ? 1 : 0) + (song ? 0 : 2)],
						   range_type, from, to, song == 1, adds, sel, nsel,
						   tracks, ntracks, &stored[song], &st, now);
		}
	if (nrebuild > 0)
		mtm_play_charts_refresh(listener, rebuild, nrebuild, now);
}

/*
 * The charts of every period whose listens a merge changed (mtm_plays_merge,
 * after writing them): a poll that only added listens, and changed no
 * stored track's ISRC or duration (tracks_recounted), edits them from the
 * listens it added; otherwise the periods are counted again (both of a
 * listen whose end moved).
 */
void
mtm_play_charts_update(Datum listener, MtmPlaySource source, const MtmPlay *plays,
					   int n, bool tracks_recounted, TimestampTz now)
{
	TimestampTz *touched;
	int			nt = 0;

	if (source == MTM_SOURCE_RECENT && !tracks_recounted)
	{
		MtmPlayAdded *adds = palloc(sizeof(MtmPlayAdded) * Max(n, 1));
		int			nadds = 0;
		bool		only_added = true;

		for (int i = 0; i < n && only_added; i++)
		{
			if (plays[i].fate == MTM_PLAY_MATCHED)
				only_added = false;
			else if (plays[i].fate == MTM_PLAY_NEW)
				adds[nadds++] = (MtmPlayAdded) {plays[i].row_track, plays[i].new_end,
					plays[i].has_ms ? plays[i].ms_played : -1};
		}
		if (only_added)
		{
			AddListens(listener, adds, nadds, now);
			return;
		}
	}
	touched = palloc(sizeof(TimestampTz) * Max(2 * n, 1));
	for (int i = 0; i < n; i++)
	{
		if (plays[i].fate == MTM_PLAY_NEW)
			touched[nt++] = plays[i].new_end;
		else if (plays[i].fate == MTM_PLAY_MATCHED)
		{
			touched[nt++] = plays[i].row_end;
			touched[nt++] = plays[i].new_end;
		}
	}
	mtm_play_charts_refresh(listener, touched, nt, now);
}
