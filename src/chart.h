/*
 * chart.h
 *		One recorded chart as of a date, and the chart diff family.
 */
#ifndef MUSIC_TM_CHART_H
#define MUSIC_TM_CHART_H

#include "postgres.h"

#include "history.h"

typedef struct MtmChartEntry
{
	text	   *track_id;
	int32		rank;
} MtmChartEntry;

/*
 * A chart: entries in chart order (rank, then track id for tied ranks), and
 * by_id, the entries' positions sorted by track id for lookups.
 */
typedef struct MtmChart
{
	DateADT		date;
	int			n;
	MtmChartEntry *e;
	int		   *by_id;
} MtmChart;

extern bool mtm_load_chart(const MtmSeries *s, DateADT as_of, MtmChart *out,
						   DateADT *prev_date, bool *has_prev,
						   MemoryContext cxt);
extern int	mtm_chart_find(const MtmChart *c, const text *track_id);

#endif							/* MUSIC_TM_CHART_H */
