/*
 * chart.c
 *		One chart as of a date (shared with chart_as_of), chart_diff and
 *		chart_churn.
 *
 * "The chart as of D" is the series' latest chart on or before D, read with
 * a backward scan of the primary key of music_tm.charts (LIMIT 2 also gives
 * the previous snapshot), then its entries through chart_entries_chart_idx.
 * Tied ranks cannot come from Spotify but the schema allows them; they are
 * ordered by track id so that every output is deterministic.
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

PG_FUNCTION_INFO_V1(chart_diff);
PG_FUNCTION_INFO_V1(chart_churn);

/* $1 listener, $2 time_range, $3 as_of: the chart's date and the previous */
static MtmPlan chart_at_plan = {
	"SELECT snapshot_date FROM music_tm.charts"
	" WHERE listener OPERATOR(pg_catalog.=) $1"
	" AND time_range OPERATOR(pg_catalog.=) $2"
	" AND snapshot_date OPERATOR(pg_catalog.<=) $3"
	" ORDER BY snapshot_date DESC LIMIT 2",
	3, {TEXTOID, InvalidOid, DATEOID}, NULL, InvalidOid
};

/* $1 listener, $2 time_range, $3 snapshot_date */
static MtmPlan chart_entries_plan = {
	"SELECT track_id, rank FROM music_tm.chart_entries"
	" WHERE listener OPERATOR(pg_catalog.=) $1"
	" AND time_range OPERATOR(pg_catalog.=) $2"
	" AND snapshot_date OPERATOR(pg_catalog.=) $3"
	" ORDER BY rank",
	3, {TEXTOID, InvalidOid, DATEOID}, NULL, InvalidOid
};

/* Byte order of two track ids; only used for lookups and merges. */
static int
TextCmp(const text *a, const text *b)
{
	int			la = VARSIZE_ANY_EXHDR(a);
	int			lb = VARSIZE_ANY_EXHDR(b);
	int			c = memcmp(VARDATA_ANY(a), VARDATA_ANY(b), Min(la, lb));

	return c != 0 ? c : (la > lb) - (la < lb);
}

static int
EntryOrder(const void *a, const void *b)
{
	const MtmChartEntry *x = a;
	const MtmChartEntry *y = b;

	if (x->rank != y->rank)
		return x->rank < y->rank ? -1 : 1;
	return TextCmp(x->track_id, y->track_id);
}

static int
ByIdOrder(const void *a, const void *b, void *arg)
{
	const MtmChart *c = arg;

	return TextCmp(c->e[*(const int *) a].track_id,
				   c->e[*(const int *) b].track_id);
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
	Datum		values[3];
	uint64		i;
	bool		isnull;

	memset(out, 0, sizeof(*out));
	values[0] = s->listener;
	values[1] = s->range;
	values[2] = DateADTGetDatum(as_of);
	mtm_spi_select(mtm_plan(&chart_at_plan, s->range_type), values, NULL,
				   "music_tm.charts");
	if (SPI_processed == 0)
		return false;
	out->date = DatumGetDateADT(SPI_getbinval(SPI_tuptable->vals[0],
											  SPI_tuptable->tupdesc, 1, &isnull));
	if (has_prev)
		*has_prev = SPI_processed > 1;
	if (prev_date && SPI_processed > 1)
		*prev_date = DatumGetDateADT(SPI_getbinval(SPI_tuptable->vals[1],
												   SPI_tuptable->tupdesc, 1, &isnull));

	values[2] = DateADTGetDatum(out->date);
	mtm_spi_select(mtm_plan(&chart_entries_plan, s->range_type), values, NULL,
				   "music_tm.chart_entries");
	out->n = (int) SPI_processed;
	out->e = MemoryContextAlloc(cxt, sizeof(MtmChartEntry) * (out->n + 1));
	out->by_id = MemoryContextAlloc(cxt, sizeof(int) * (out->n + 1));
	for (i = 0; i < SPI_processed; i++)
	{
		HeapTuple	t = SPI_tuptable->vals[i];
		Datum		id = SPI_getbinval(t, SPI_tuptable->tupdesc, 1, &isnull);
		MemoryContext old = MemoryContextSwitchTo(cxt);

		out->e[i].track_id = (text *) DatumGetPointer(datumCopy(id, false, -1));
		MemoryContextSwitchTo(old);
		out->e[i].rank = DatumGetInt32(SPI_getbinval(t, SPI_tuptable->tupdesc,
													 2, &isnull));
	}
	/* the index gives rank order; settle ties by track id */
	qsort(out->e, out->n, sizeof(MtmChartEntry), EntryOrder);
	for (i = 0; i < (uint64) out->n; i++)
		out->by_id[i] = (int) i;
	qsort_arg(out->by_id, out->n, sizeof(int), ByIdOrder, out);
	return true;
}

/* Position (chart order) of a track in a chart, or -1. */
int
mtm_chart_find(const MtmChart *c, const text *track_id)
{
	int			lo = 0;
	int			hi = c->n - 1;

	while (lo <= hi)
	{
		int			mid = lo + (hi - lo) / 2;
		int			cmp = TextCmp(c->e[c->by_id[mid]].track_id, track_id);

		if (cmp == 0)
			return c->by_id[mid];
		if (cmp < 0)
			lo = mid + 1;
		else
			hi = mid - 1;
	}
	return -1;
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
