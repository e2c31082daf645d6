/*
 * history.h
 *		Rank history: what the history, run statistics and picture families
 *		share.  A listener's charts of one time range form a sequence of
 *		snapshots; "previous" always means the previous snapshot of that
 *		sequence, never the previous calendar day.
 */
#ifndef MUSIC_TM_HISTORY_H
#define MUSIC_TM_HISTORY_H

#include "postgres.h"

#include "executor/spi.h"
#include "fmgr.h"
#include "utils/date.h"

#include "chart_store.h"

/* Snapshot dates of a series, ascending. */
typedef struct MtmDates
{
	int			n;
	int			cap;
	DateADT    *date;
} MtmDates;

/* One track's (or artist's) chart entries, by ascending date. */
typedef struct MtmRun
{
	int			n;
	DateADT    *date;
	int32	   *rank;
} MtmRun;

/*
 * Run statistics, accumulated one entry at a time in date order.  ordinal is
 * the entry's position in the series' snapshot list, so that streaks count
 * consecutive snapshots, not consecutive days.
 */
typedef struct MtmRunStats
{
	DateADT		debut;
	DateADT		last_seen;
	int32		peak;
	DateADT		peak_date;		/* first snapshot at the peak */
	int32		periods;		/* snapshots on the chart */
	int32		at_peak;
	int32		at_no1;
	int32		longest;
	int32		streak;			/* the streak ending at last_ordinal */
	int			last_ordinal;
} MtmRunStats;

/* Argument checks: 22004 for NULL, with a detail naming the argument. */
extern void mtm_hist_require(FunctionCallInfo fcinfo, int argno,
							 const char *argname, const char *funcname);
extern void mtm_hist_series(FunctionCallInfo fcinfo, int range_argno,
							int listener_argno, MtmSeries *series);
extern void mtm_hist_check_dates(DateADT from, DateADT to,
								 const char *from_name, const char *to_name);
extern void mtm_hist_track_args(FunctionCallInfo fcinfo, const char *funcname,
								MtmSeries *series);

/* Value of a column that cannot be NULL (every column we read is a key). */
static inline Datum
mtm_col(HeapTuple tuple, TupleDesc desc, int col)
{
	bool		isnull;
	Datum		d = SPI_getbinval(tuple, desc, col, &isnull);

	if (isnull)
		elog(ERROR, "unexpected NULL in column %d", col);
	return d;
}

extern void mtm_dates_init(MtmDates *dates, MemoryContext cxt);
extern void mtm_dates_add(MtmDates *dates, DateADT d);
extern int	mtm_date_ordinal(const MtmDates *dates, DateADT d);
extern bool mtm_load_track_series(const MtmSeries *s, Datum track_id,
								  DateADT from, DateADT to, MtmRun *run,
								  MtmDates *dates, MemoryContext cxt);

extern void mtm_load_tracks_runs(const MtmSeries *s, text **ids, int n,
								 MtmRun *runs, MtmDates *dates,
								 MemoryContext cxt);
extern int	mtm_text_sort_ids(text **ids, int n);
extern int	mtm_text_find_id(text **ids, int n, text *id);

extern void mtm_stats_init(MtmRunStats *st);
extern void mtm_stats_add(MtmRunStats *st, int ordinal, DateADT date, int32 rank);
extern int32 mtm_stats_current(const MtmRunStats *st, const MtmDates *dates);

#endif							/* MUSIC_TM_HISTORY_H */
