/*
 * chart.c
 *		One chart as of a date: chart_as_of, chart_diff and chart_churn.
 *
 * "The chart as of D" is the series' latest chart on or before D, one row
 * read with a backward scan of the primary key of music_tm.charts (LIMIT 2
 * also gives the previous snapshot's date); its ids are in rank order.
 * chart_as_of then walks the series up to that chart once, looking up each
 * charted id among the chart's tracks.
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "miscadmin.h"
#include "funcapi.h"
#include "utils/builtins.h"
#include "utils/datum.h"

#include "common.h"
#include "history.h"
#include "chart.h"

PG_FUNCTION_INFO_V1(chart_as_of);
PG_FUNCTION_INFO_V1(chart_diff);
PG_FUNCTION_INFO_V1(chart_churn);

/*
 * The key of an id: its first eight bytes as one integer (a shorter id's
 * bytes in its low-order bytes, the rest zero; only ever compared with keys
 * made here).  Two of Spotify's ids, 22 random characters, share
 * one in practice never, so a lookup is a probe or two of integers and one
 * comparison of the bytes found.  (An MtmIdTable holds three words an id;
 * chart_as_of's loop reads one a slot.)
 */
static inline uint64
IdKey(const char *bytes, int len)
{
	uint64		k = 0;

	if (len >= 8)
		memcpy(&k, bytes, 8);	/* a constant size: one load, no call */
	else
		for (int i = 0; i < len; i++)
			k |= (uint64) (unsigned char) bytes[i] << (8 * i);
	return k;
}

/* The first slot of a key in the hash table (Fibonacci hashing). */
static inline uint32
KeySlot(const MtmChart *c, uint64 k)
{
	return (uint32) ((k * UINT64CONST(0x9E3779B97F4A7C15)) >> 32) & c->mask;
}

/*
 * Load the chart of a series as of a date.  Returns false when the series
 * has no chart on or before that date.  prev_date / has_prev (may be NULL)
 * receive the snapshot before the chart.
 */
bool
mtm_load_chart(const MtmSeries *s, DateADT as_of, MtmChart *out,
			   DateADT *prev_date, bool *has_prev, MemoryContext cxt)
{
	ArrayType  *ids;
	MtmIdIter	iter;
	int32		rank;
	text	   *id;
	int			cap;
	MemoryContext old;

	memset(out, 0, sizeof(*out));
	if (!mtm_chart_at(s, as_of, &out->date, &ids, prev_date, has_prev))
		return false;

	old = MemoryContextSwitchTo(cxt);
	cap = ArrayGetNItems(ARR_NDIM(ids), ARR_DIMS(ids));
	out->e = palloc(sizeof(MtmChartEntry) * (cap + 1));
	mtm_ids_begin(&iter, ids);
	while (mtm_ids_next(&iter, &rank, &id))
	{
		out->e[out->n].track_id = (text *) DatumGetPointer(datumCopy(PointerGetDatum(id),
																	 false, -1));
		out->e[out->n].rank = rank;
		out->n++;
	}
	/* a table at most half full: a power of two of at least 2n slots */
	out->mask = 15;
	while (out->mask + 1 < (uint32) (2 * out->n))
		out->mask = out->mask * 2 + 1;
	out->slot_pos = palloc0(sizeof(int32) * (out->mask + 1));
	out->slot_key = palloc(sizeof(uint64) * (out->mask + 1));
	for (int i = 0; i < out->n; i++)
	{
		uint64		k = IdKey(VARDATA_ANY(out->e[i].track_id),
							  VARSIZE_ANY_EXHDR(out->e[i].track_id));
		uint32		h = KeySlot(out, k);

		while (out->slot_pos[h] != 0)
			h = (h + 1) & out->mask;
		out->slot_pos[h] = i + 1;
		out->slot_key[h] = k;
	}
	MemoryContextSwitchTo(old);
	return true;
}

/*
 * Position (chart order) of a track in a chart, or -1: once per slot of
 * every chart of the series in chart_as_of, so without a call.
 */
int
mtm_chart_find(const MtmChart *c, const text *track_id)
{
	const char *bytes = VARDATA_ANY(track_id);
	int			len = VARSIZE_ANY_EXHDR(track_id);
	uint64		k = IdKey(bytes, len);

	if (c->n == 0)
		return -1;
	for (uint32 h = KeySlot(c, k); c->slot_pos[h] != 0; h = (h + 1) & c->mask)
	{
		const text *t;

		if (c->slot_key[h] != k)
			continue;
		t = c->e[c->slot_pos[h] - 1].track_id;
		if ((int) VARSIZE_ANY_EXHDR(t) == len &&
			mtm_id_bytes_eq(VARDATA_ANY(t), bytes, len))
			return c->slot_pos[h] - 1;
	}
	return -1;
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

/* What chart_as_of's walk of the series folds into. */
typedef struct AsOfWalk
{
	const MtmChart *chart;
	AsOfSlot   *slots;
	bool		has_prev;
	DateADT		prev_date;
} AsOfWalk;

/* One chart of the series: fold the entries of the as-of chart's tracks. */
static void
VisitAsOf(DateADT d, ArrayType *ids, void *arg)
{
	AsOfWalk   *w = arg;
	MtmIdIter	iter;
	int32		rank;
	text	   *id;

	mtm_ids_begin(&iter, ids);
	while (mtm_ids_next(&iter, &rank, &id))
	{
		int			k = mtm_chart_find(w->chart, id);
		AsOfSlot   *s;

		if (k < 0)
			continue;
		s = &w->slots[k];
		if (s->periods == 0 || rank < s->peak)
			s->peak = rank;
		if (s->periods == 0)
			s->debut = d;
		s->periods++;
		if (w->has_prev && d == w->prev_date)
		{
			s->has_last = true;
			s->last = rank;
		}
	}
}

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
	AsOfWalk	walk;
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
	walk.chart = &chart;
	walk.slots = slots;
	walk.has_prev = has_prev;
	walk.prev_date = prev_date;
	mtm_scan_series(&series, DATEVAL_NOBEGIN, chart.date, VisitAsOf, &walk);
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

/*
 * Both charts of a diff, and for each entry of one its position in the
 * other (-1 when the track is not there).
 */
typedef struct DiffPair
{
	bool		has_from;
	bool		has_to;
	MtmChart	from;
	MtmChart	to;
	int		   *from_in_to;
	int		   *to_in_from;
	int			shared;
} DiffPair;

static void
LoadDiff(FunctionCallInfo fcinfo, const char *funcname, DiffPair *d)
{
	MemoryContext cxt = CurrentMemoryContext;
	MtmSeries	series;
	DateADT		from;
	DateADT		to;
	int			i;

	mtm_hist_require(fcinfo, 0, "from_date", funcname);
	mtm_hist_require(fcinfo, 1, "to_date", funcname);
	mtm_hist_require(fcinfo, 2, "time_range", funcname);
	mtm_hist_require(fcinfo, 3, "listener", funcname);
	from = PG_GETARG_DATEADT(0);
	to = PG_GETARG_DATEADT(1);
	mtm_hist_check_dates(from, to, "from_date", "to_date");
	mtm_hist_series(fcinfo, 2, 3, &series);

	memset(d, 0, sizeof(*d));
	SPI_connect();
	d->has_from = mtm_load_chart(&series, from, &d->from, NULL, NULL, cxt);
	d->has_to = mtm_load_chart(&series, to, &d->to, NULL, NULL, cxt);
	SPI_finish();

	d->from_in_to = palloc(sizeof(int) * (d->from.n + 1));
	d->to_in_from = palloc(sizeof(int) * (d->to.n + 1));
	for (i = 0; i < d->to.n; i++)
		d->to_in_from[i] = -1;
	for (i = 0; i < d->from.n; i++)
	{
		d->from_in_to[i] = mtm_chart_find(&d->to, d->from.e[i].track_id);
		if (d->from_in_to[i] >= 0)
		{
			d->to_in_from[d->from_in_to[i]] = i;
			d->shared++;
		}
	}
}

/*
 * chart_diff(from_date date, to_date date, time_range, listener)
 * returns setof (track_id, change, from_rank, to_rank, movement)
 *
 * Compares the chart as of from_date with the chart as of to_date: the
 * tracks of the later chart in its order (ENTERED, UP, DOWN, SAME), then
 * those that left it in their former order (EXITED).
 */
Datum
chart_diff(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	DiffPair	d;
	int			i;

	LoadDiff(fcinfo, "chart_diff", &d);
	InitMaterializedSRF(fcinfo, 0);

	for (i = 0; i < d.to.n + d.from.n; i++)
	{
		Datum		values[5];
		bool		nulls[5] = {false, false, false, false, false};
		int32		fr = 0;
		int32		tr = 0;
		bool		has_fr;
		bool		has_tr;
		const char *change;
		const text *id;

		if (i < d.to.n)
		{
			int			k = d.to_in_from[i];

			id = d.to.e[i].track_id;
			tr = d.to.e[i].rank;
			has_tr = true;
			has_fr = k >= 0;
			if (has_fr)
				fr = d.from.e[k].rank;
		}
		else
		{
			int			k = i - d.to.n;

			if (d.from_in_to[k] >= 0)
				continue;
			id = d.from.e[k].track_id;
			fr = d.from.e[k].rank;
			has_fr = true;
			has_tr = false;
		}
		change = !has_fr ? "ENTERED" : !has_tr ? "EXITED" :
			tr < fr ? "UP" : tr > fr ? "DOWN" : "SAME";
		values[0] = PointerGetDatum(id);
		values[1] = CStringGetTextDatum(change);
		values[2] = Int32GetDatum(fr);
		nulls[2] = !has_fr;
		values[3] = Int32GetDatum(tr);
		nulls[3] = !has_tr;
		values[4] = Int32GetDatum(fr - tr);
		nulls[4] = !(has_fr && has_tr);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}

/*
 * chart_churn(from_date, to_date, time_range, listener) returns setof
 * (from_chart, to_chart, from_tracks, to_tracks, shared, entered, exited,
 *  jaccard, footrule)
 *
 * jaccard = shared / (tracks in either chart).  footrule is Spearman's
 * footrule over the shared tracks, normalised to 0..1: each shared track's
 * position among the shared tracks of each chart (1..k, chart order), F =
 * sum of |position before - position after|, divided by its maximum
 * floor(k^2 / 2).  0 = the shared tracks kept their order, 1 = the order
 * was reversed; NULL when fewer than 2 tracks are shared.  No row when
 * neither date has a chart.
 */
Datum
chart_churn(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	DiffPair	d;
	Datum		values[9];
	bool		nulls[9] = {false, false, false, false, false, false, false, false, false};
	int			union_n;
	int		   *pos_to;
	int			i;
	int			k;
	int64		footrule = 0;

	LoadDiff(fcinfo, "chart_churn", &d);
	InitMaterializedSRF(fcinfo, 0);
	if (!d.has_from && !d.has_to)
		return (Datum) 0;

	/* position of each shared track among the shared tracks of "to" */
	pos_to = palloc(sizeof(int) * (d.to.n + 1));
	for (i = 0, k = 0; i < d.to.n; i++)
		pos_to[i] = d.to_in_from[i] >= 0 ? ++k : 0;
	for (i = 0, k = 0; i < d.from.n; i++)
	{
		if (d.from_in_to[i] < 0)
			continue;
		k++;
		footrule += Abs(k - pos_to[d.from_in_to[i]]);
	}

	union_n = d.from.n + d.to.n - d.shared;
	values[0] = DateADTGetDatum(d.from.date);
	nulls[0] = !d.has_from;
	values[1] = DateADTGetDatum(d.to.date);
	nulls[1] = !d.has_to;
	values[2] = Int32GetDatum(d.from.n);
	values[3] = Int32GetDatum(d.to.n);
	values[4] = Int32GetDatum(d.shared);
	values[5] = Int32GetDatum(d.to.n - d.shared);
	values[6] = Int32GetDatum(d.from.n - d.shared);
	values[7] = Float8GetDatum(union_n > 0 ? (double) d.shared / union_n : 0.0);
	nulls[7] = union_n == 0;
	values[8] = Float8GetDatum(d.shared >= 2 ?
							   (double) footrule / (double) (((int64) d.shared * d.shared) / 2) : 0.0);
	nulls[8] = d.shared < 2;
	tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	return (Datum) 0;
}
