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
 * for lookups by id an open-addressing hash table of mask + 1 slots: each
 * used slot holds an entry's position + 1 (0: empty) and its id's key, the
 * id's first eight bytes as one integer.
 */
typedef struct MtmChart
{
	DateADT		date;
	int			n;
	MtmChartEntry *e;
	int32	   *slot_pos;
	uint64	   *slot_key;
	uint32		mask;
} MtmChart;

extern bool mtm_load_chart(const MtmSeries *s, DateADT as_of, MtmChart *out,
						   DateADT *prev_date, bool *has_prev,
						   MemoryContext cxt);
extern int	mtm_chart_find(const MtmChart *c, const text *track_id);

#endif							/* MUSIC_TM_CHART_H */
