/*
 * pictures.c
 *		Pictures of a chart run: sparkline (text for psql) and run_svg (an SVG
 *		document as text).
 *
 * Both show the snapshots of the series within a window, by default from the
 * track's debut to the series' latest snapshot.  The rank axis is inverted:
 * rank 1 is the top of the picture.  Both return NULL when the track never
 * charted in the series or the window holds no snapshot.
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "lib/stringinfo.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/datetime.h"
#include "utils/xml.h"

#include "common.h"
#include "history.h"

PG_FUNCTION_INFO_V1(sparkline);
PG_FUNCTION_INFO_V1(run_svg);
PG_FUNCTION_INFO_V1(sparklines);

/* Eight bars, lowest first: rank 1 is the full block. */
static const char *const bars[8] = {
	"\u2581", "\u2582", "\u2583", "\u2584", "\u2585", "\u2586", "\u2587", "\u2588"
};

/* Absent from a snapshot: a middle dot, so that gaps stay visible. */
#define MTM_ABSENT_MARK "\u00b7"

/* A track's run within a window, snapshot by snapshot. */
typedef struct Window
{
	MtmDates	dates;
	bool	   *here;
	int32	   *rank;
	int32		worst;			/* largest rank held in the window */
	int			charted;		/* snapshots of the window with an entry */
} Window;

/* Mark which of w->dates the run is on, and its worst rank among them. */
static void
FillWindow(Window *w, const MtmRun *run)
{
	int			j = 0;

	w->here = palloc0(sizeof(bool) * (w->dates.n + 1));
	w->rank = palloc0(sizeof(int32) * (w->dates.n + 1));
	for (int i = 0; i < w->dates.n; i++)
	{
		while (j < run->n && run->date[j] < w->dates.date[i])
			j++;
		if (j < run->n && run->date[j] == w->dates.date[i])
		{
			w->here[i] = true;
			w->rank[i] = run->rank[j];
			w->worst = Max(w->worst, run->rank[j]);
			w->charted++;
		}
	}
}

/*
 * Load the window of a picture; arguments: 0 track_id, 1 time_range,
 * 2 listener, 3 from_date, 4 to_date (both may be NULL).  Returns false when
 * there is nothing to draw.
 */
static bool
LoadWindow(FunctionCallInfo fcinfo, const char *funcname, MtmSeries *series,
		   Window *w)
{
	MemoryContext cxt = CurrentMemoryContext;
	MtmRun		run;
	DateADT		from;
	DateADT		to;

	mtm_hist_track_args(fcinfo, funcname, series);
	from = PG_ARGISNULL(3) ? DATEVAL_NOBEGIN : PG_GETARG_DATEADT(3);
	to = PG_ARGISNULL(4) ? DATEVAL_NOEND : PG_GETARG_DATEADT(4);
	mtm_hist_check_dates(from, to, "from_date", "to_date");
	memset(w, 0, sizeof(*w));

	if (!mtm_load_track_series(series, PG_GETARG_DATUM(0), from, to, &run,
							   &w->dates, cxt))
		return false;
	FillWindow(w, &run);
	return w->dates.n > 0;
}

/*
 * The window of one track out of a walk of many (mtm_load_tracks_runs): the
 * series' dates from "from" (DATEVAL_NOBEGIN: the track's debut) to "to",
 * as LoadWindow picks them.  Returns false when there is nothing to draw.
 */
static bool
WindowFromRun(const MtmRun *run, const MtmDates *all, DateADT from,
			  DateADT to, Window *w)
{
	DateADT		lo;

	memset(w, 0, sizeof(*w));
	if (run->n == 0)
		return false;
	lo = DATE_IS_NOBEGIN(from) ? run->date[0] : from;
	w->dates.date = palloc(sizeof(DateADT) * (all->n + 1));
	for (int i = 0; i < all->n; i++)
		if (all->date[i] >= lo && all->date[i] <= to)
			w->dates.date[w->dates.n++] = all->date[i];
	w->dates.cap = all->n + 1;
	FillWindow(w, run);
	return w->dates.n > 0;
}

/*
 * The bottom of the rank scale of both pictures: the track's worst rank in
 * the window rounded up to a multiple of 10, at least 10, so that a track
 * moving between #2 and #3 is not drawn as if it fell off the chart.
 */
static int32
ScaleBottom(const Window *w)
{
	return Max(10, ((w->worst + 9) / 10) * 10);
}

/*
 * sparkline(track_id, time_range, listener, from_date, to_date) returns text
 *
 * One character per snapshot: a bar whose height grows linearly as the rank
 * gets better, from the bottom of the scale (ScaleBottom: lowest bar) to
 * rank 1 (full block), or a middle dot when the track was not on that chart.
 */
static text *
DrawSparkline(const Window *w)
{
	int32		bottom = ScaleBottom(w);
	StringInfoData buf;

	initStringInfo(&buf);
	for (int i = 0; i < w->dates.n; i++)
	{
		int			level;

		if (!w->here[i])
		{
			appendStringInfoString(&buf, MTM_ABSENT_MARK);
			continue;
		}
		/* rank 1 -> 7, bottom -> 0, rounded to the nearest level */
		level = (int) (((int64) (bottom - w->rank[i]) * 14 / (bottom - 1) + 1) / 2);
		appendStringInfoString(&buf, bars[level]);
	}
	return cstring_to_text_with_len(buf.data, buf.len);
}

Datum
sparkline(PG_FUNCTION_ARGS)
{
	MtmSeries	series;
	Window		w;

	if (!LoadWindow(fcinfo, "sparkline", &series, &w))
		PG_RETURN_NULL();
	PG_RETURN_TEXT_P(DrawSparkline(&w));
}

/* Most track ids one call of sparklines takes. */
#define MTM_MAX_SPARKLINES 1000

/*
 * sparklines(track_ids text[], time_range, listener, from_date, to_date)
 * returns setof (track_id text, sparkline text)
 *
 * sparkline() for many tracks from one walk of the series: a row per element
 * of track_ids, in their order, the sparkline NULL where there is nothing to
 * draw.  For dashboards, and for Citus, where a read function may not be
 * called per row of a query on a distributed table.
 */
Datum
sparklines(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	MemoryContext cxt = CurrentMemoryContext;
	MtmSeries	series;
	ArrayType  *arr;
	Datum	   *elems;
	bool	   *nulls;
	int			nelems;
	text	  **ids;
	int			nids;
	MtmRun	   *runs;
	MtmDates	all;
	DateADT		from;
	DateADT		to;

	mtm_hist_require(fcinfo, 0, "track_ids", "sparklines");
	mtm_hist_require(fcinfo, 1, "time_range", "sparklines");
	mtm_hist_require(fcinfo, 2, "listener", "sparklines");
	mtm_hist_series(fcinfo, 1, 2, &series);
	from = PG_ARGISNULL(3) ? DATEVAL_NOBEGIN : PG_GETARG_DATEADT(3);
	to = PG_ARGISNULL(4) ? DATEVAL_NOEND : PG_GETARG_DATEADT(4);
	mtm_hist_check_dates(from, to, "from_date", "to_date");

	arr = PG_GETARG_ARRAYTYPE_P(0);
	if (ARR_NDIM(arr) > 1)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("track_ids must be a one-dimensional array"),
				 errdetail("Argument \"track_ids\" has %d dimensions.", ARR_NDIM(arr))));
	deconstruct_array(arr, TEXTOID, -1, false, TYPALIGN_INT, &elems, &nulls, &nelems);
	if (nelems > MTM_MAX_SPARKLINES)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("too many track ids for one call of sparklines"),
				 errdetail("Argument \"track_ids\" has %d elements; the limit is %d.",
						   nelems, MTM_MAX_SPARKLINES)));
	ids = palloc(sizeof(text *) * Max(nelems, 1));
	for (int i = 0; i < nelems; i++)
	{
		if (nulls[i])
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("track_ids must not contain NULL"),
					 errdetail("Element %d of argument \"track_ids\" is NULL.", i + 1)));
		ids[i] = DatumGetTextPP(elems[i]);
	}
	nids = mtm_text_sort_ids(ids, nelems);
	runs = palloc(sizeof(MtmRun) * Max(nids, 1));

	InitMaterializedSRF(fcinfo, 0);
	mtm_load_tracks_runs(&series, ids, nids, runs, &all, cxt);

	for (int i = 0; i < nelems; i++)
	{
		int			k = mtm_text_find_id(ids, nids, DatumGetTextPP(elems[i]));
		Window		w;
		Datum		values[2];
		bool		isnull[2] = {false, false};

		CHECK_FOR_INTERRUPTS();
		values[0] = elems[i];
		if (WindowFromRun(&runs[k], &all, from, to, &w))
			values[1] = PointerGetDatum(DrawSparkline(&w));
		else
			isnull[1] = true;
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, isnull);
	}
	return (Datum) 0;
}

/* $1 track_id */
static MtmPlan track_name_plan = {
	"SELECT name FROM music_tm.tracks WHERE track_id OPERATOR(pg_catalog.=) $1",
	1, {TEXTOID}, NULL, InvalidOid
};

/* ISO 8601 whatever the DateStyle: SVG is read by programs too. */
static const char *
DateText(DateADT d)
{
	int			y,
				m,
				day;

	j2date(d + POSTGRES_EPOCH_JDATE, &y, &m, &day);
	return psprintf("%04d-%02d-%02d", y, m, day);
}

/*
 * run_svg(track_id, time_range, listener, from_date, to_date, width, height)
 * returns text
 *
 * An SVG document of the run: dates along x (to scale: irregular snapshots
 * keep their spacing), rank along y with rank 1 at the top and the axis down
 * to the track's worst rank in the window rounded up to a multiple of 10.
 * Each stretch of consecutive snapshots on the chart is a polyline; each
 * entry a circle carrying data-date and data-rank attributes and a tooltip.
 */
Datum
run_svg(PG_FUNCTION_ARGS)
{
	const int	left = 48,
				right = 16,
				top = 36,
				bottom = 36;
	MemoryContext cxt = CurrentMemoryContext;
	MtmSeries	series;
	Window		w;
	StringInfoData buf;
	int			width;
	int			height;
	double		pw;
	double		ph;
	int32		axis_max;
	int32		step;
	DateADT		d0;
	DateADT		d1;
	char	   *name = NULL;
	int			i;

	mtm_hist_require(fcinfo, 5, "width", "run_svg");
	mtm_hist_require(fcinfo, 6, "height", "run_svg");
	width = PG_GETARG_INT32(5);
	height = PG_GETARG_INT32(6);
	if (width < 120 || width > 10000 || height < 100 || height > 10000)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("image size must be 120..10000 wide and 100..10000 high"),
				 errdetail("Arguments \"width\" and \"height\" are %d and %d.",
						   width, height)));
	if (!LoadWindow(fcinfo, "run_svg", &series, &w))
		PG_RETURN_NULL();

	SPI_connect();
	{
		Datum		id = PG_GETARG_DATUM(0);

		mtm_spi_select(mtm_plan(&track_name_plan, InvalidOid), &id, NULL,
					   "music_tm.tracks");
		if (SPI_processed == 1)
		{
			bool		isnull;
			Datum		v = SPI_getbinval(SPI_tuptable->vals[0],
										  SPI_tuptable->tupdesc, 1, &isnull);

			if (!isnull)
				name = MemoryContextStrdup(cxt, TextDatumGetCString(v));
		}
	}
	SPI_finish();

	pw = width - left - right;
	ph = height - top - bottom;
	axis_max = ScaleBottom(&w);
	step = axis_max <= 50 ? 10 : ((axis_max / 5 + 9) / 10) * 10;
	d0 = w.dates.date[0];
	d1 = w.dates.date[w.dates.n - 1];

#define X(d) (d1 == d0 ? left + pw / 2 : left + pw * (double) ((d) - d0) / (double) (d1 - d0))
#define Y(r) (top + ph * (double) ((r) - 1) / (double) (axis_max - 1))

	initStringInfo(&buf);
	appendStringInfo(&buf,
					 "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\""
					 " viewBox=\"0 0 %d %d\" font-family=\"sans-serif\" font-size=\"11\">\n",
					 width, height, width, height);
	{
		char	   *label = psprintf("%s: %s chart of listener %s",
									 name ? name : text_to_cstring(PG_GETARG_TEXT_PP(0)),
									 DatumGetCString(DirectFunctionCall1(enum_out, series.range)),
									 text_to_cstring(PG_GETARG_TEXT_PP(2)));

		appendStringInfo(&buf, "<title>%s</title>\n", escape_xml(label));
		appendStringInfo(&buf, "<rect width=\"%d\" height=\"%d\" fill=\"white\"/>\n",
						 width, height);
		appendStringInfo(&buf, "<text x=\"%d\" y=\"20\" font-size=\"13\">%s</text>\n",
						 left, escape_xml(label));
	}

	/* axes: rank ticks on the left (1 at the top), first and last date below */
	appendStringInfo(&buf,
					 "<g class=\"axes\" stroke=\"#888\">"
					 "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\"/>"
					 "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\"/></g>\n",
					 left, top, left, height - bottom,
					 left, height - bottom, width - right, height - bottom);
	appendStringInfoString(&buf, "<g class=\"rank-axis\" text-anchor=\"end\">");
	for (i = 0; i <= axis_max; i += step)
	{
		int32		r = Max(i, 1);

		appendStringInfo(&buf, "<text x=\"%d\" y=\"%.1f\" data-rank=\"%d\">#%d</text>",
						 left - 6, Y(r) + 4, r, r);
	}
	appendStringInfoString(&buf, "</g>\n");
	appendStringInfo(&buf,
					 "<g class=\"date-axis\"><text x=\"%d\" y=\"%d\" text-anchor=\"start\">%s</text>"
					 "<text x=\"%d\" y=\"%d\" text-anchor=\"end\">%s</text></g>\n",
					 left, height - bottom + 16, DateText(d0),
					 width - right, height - bottom + 16, DateText(d1));

	/* one polyline per stretch of consecutive snapshots on the chart */
	for (i = 0; i < w.dates.n; i++)
	{
		int			j;

		if (!w.here[i] || (i > 0 && w.here[i - 1]))
			continue;
		for (j = i; j < w.dates.n && w.here[j]; j++)
			;
		if (j - i < 2)
			continue;
		appendStringInfoString(&buf, "<polyline class=\"run\" fill=\"none\" stroke=\"#1db954\""
							   " stroke-width=\"2\" points=\"");
		for (; i < j; i++)
			appendStringInfo(&buf, "%s%.1f,%.1f", i > 0 && w.here[i - 1] ? " " : "",
							 X(w.dates.date[i]), Y(w.rank[i]));
		appendStringInfoString(&buf, "\"/>\n");
		i = j - 1;
	}
	for (i = 0; i < w.dates.n; i++)
	{
		CHECK_FOR_INTERRUPTS();
		if (!w.here[i])
			continue;
		appendStringInfo(&buf,
						 "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3\" fill=\"#1db954\""
						 " data-date=\"%s\" data-rank=\"%d\"><title>%s: #%d</title></circle>\n",
						 X(w.dates.date[i]), Y(w.rank[i]), DateText(w.dates.date[i]),
						 w.rank[i], DateText(w.dates.date[i]), w.rank[i]);
	}
	appendStringInfoString(&buf, "</svg>\n");
#undef X
#undef Y
	PG_RETURN_TEXT_P(cstring_to_text_with_len(buf.data, buf.len));
}
