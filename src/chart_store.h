/*
 * chart_store.h
 *		A chart as one row of music_tm.charts: reading and writing it.  Shared
 *		by the ingest family (which writes charts) and the history family
 *		(which reads them); neither calls the other.
 *
 * A chart row holds the track ids in rank order: slot i (from 1) of
 * track_ids is rank i, NULL for an empty rank (a local file, a null item);
 * playable_ids, when not NULL, is aligned with it and holds the playable id
 * of a relinked track.  Trailing empty ranks are never stored.  A chart from
 * plays also holds each entry's tally (play_counts, play_ms, first_played,
 * aligned with track_ids); a top-tracks chart holds none.
 */
#ifndef MUSIC_TM_CHART_STORE_H
#define MUSIC_TM_CHART_STORE_H

#include "postgres.h"

#include "executor/spi.h"
#include "access/tupmacs.h"
#include "utils/array.h"
#include "utils/date.h"
#include "utils/timestamp.h"

#include "common.h"

/* Which listener's charts of which range a call reads or writes. */
typedef struct MtmSeries
{
	Datum		listener;		/* text */
	Datum		range;			/* music_tm.time_range */
	Oid			range_type;
	/*
	 * A series from plays: its charts are read and written with their
	 * tallies.  Only those name the tally columns (2.1's), so that the
	 * library keeps working on a 2.0 schema until ALTER EXTENSION UPDATE.
	 */
	bool		tallies;
} MtmSeries;

/* What a chart from plays counted for one entry. */
typedef struct MtmTally
{
	int64		plays;			/* listens counted (30 s or more) */
	int64		ms;				/* milliseconds played */
	TimestampTz first;			/* the first listen's end */
} MtmTally;

/* The slots of one chart, as C strings, for writers. */
typedef struct MtmSlots
{
	int			n;				/* slots in use: the highest filled rank */
	int			cap;
	char	  **ids;			/* ids[r - 1]: the track at rank r, or NULL */
	char	  **playable;		/* playable id at rank r, or NULL */
	MtmTally   *tally;			/* tally[r - 1], for charts from plays; else NULL */
} MtmSlots;

extern void mtm_slots_init(MtmSlots *s, int cap);
extern void mtm_slots_set(MtmSlots *s, int32 rank, char *id, char *playable);
extern void mtm_slots_set_tally(MtmSlots *s, int32 rank, const MtmTally *tally);
extern void mtm_slots_trim(MtmSlots *s);
extern bool mtm_slots_equal(const MtmSlots *a, const MtmSlots *b);

/*
 * Writing one chart: edit gets the stored slots (none for a chart not yet
 * recorded) and fills the new ones; it may be called again with newer
 * stored slots when a concurrent writer created the chart first.
 */
typedef void (*MtmChartEdit) (const MtmSlots *stored, bool exists,
							  MtmSlots *result, void *arg);

typedef enum MtmChartWrite
{
	MTM_CHART_CREATED,
	MTM_CHART_CHANGED,
	MTM_CHART_UNCHANGED
} MtmChartWrite;

extern bool mtm_chart_lock(const MtmSeries *s, Datum date, MtmSlots *stored);
extern MtmChartWrite mtm_chart_write(const MtmSeries *s, Datum date,
									 TimestampTz now, bool exists,
									 MtmSlots *stored, MtmChartEdit edit,
									 void *arg);

/*
 * Reading: the charts of a series in date order.  visit is called once per
 * chart, in date order, with the chart's ids as stored: they point into the
 * table's buffer (no copy) and are valid only during the call.
 */
typedef void (*MtmChartVisit) (DateADT date, ArrayType *ids, void *arg);

extern uint64 mtm_scan_series(const MtmSeries *s, DateADT from, DateADT to,
							  MtmChartVisit visit, void *arg);

/*
 * Walking the filled slots of a stored track_ids array (flat, as a chart row
 * holds it).  The hot loop of every walk of a series, so it steps through
 * the array's data itself, skipping NULL slots by the bitmap, rather than
 * through array_iter.
 */
typedef struct MtmIdIter
{
	char	   *p;				/* the next non-NULL element's data */
	bits8	   *bitmap;			/* NULL when the array has no NULL */
	int			bitmask;
	int			n;
	int			i;				/* slots consumed */
} MtmIdIter;

static inline void
mtm_ids_begin(MtmIdIter *iter, ArrayType *ids)
{
	iter->n = ArrayGetNItems(ARR_NDIM(ids), ARR_DIMS(ids));
	iter->i = 0;
	/* ARR_DATA_PTR, spelt out: the macro mixes signedness (-Wsign-compare) */
	iter->p = (char *) ids + (ARR_HASNULL(ids) ? (Size) ids->dataoffset :
							  ARR_OVERHEAD_NONULLS(ARR_NDIM(ids)));
	iter->bitmap = ARR_NULLBITMAP(ids);
	iter->bitmask = 1;
}

/* The next filled slot: its rank and id; false after the last. */
static inline bool
mtm_ids_next(MtmIdIter *iter, int32 *rank, text **id)
{
	while (iter->i < iter->n)
	{
		bool		present = iter->bitmap == NULL ||
			(*iter->bitmap & iter->bitmask) != 0;

		iter->i++;
		if (iter->bitmap != NULL && (iter->bitmask <<= 1) == 0x100)
		{
			iter->bitmap++;
			iter->bitmask = 1;
		}
		if (present)
		{
			*rank = iter->i;
			*id = (text *) iter->p;
			iter->p = att_addlength_pointer(iter->p, -1, iter->p);
			iter->p = (char *) att_align_nominal(iter->p, TYPALIGN_INT);
			return true;
		}
	}
	return false;
}

/*
 * Whether two ids' bytes (of the same length) are equal, without a call: ids
 * of 8 to 24 bytes (every Spotify id: 22) as three overlapping 8-byte words,
 * shorter ones byte by byte.  The walks of a series compare one id with
 * every slot of every chart, so this is most of their comparing.
 */
static inline bool
mtm_id_bytes_eq(const char *a, const char *b, int len)
{
	uint64		x,
				y;

	if (len < 8)
	{
		for (int i = 0; i < len; i++)
			if (a[i] != b[i])
				return false;
		return true;
	}
	if (len > 24)
		return memcmp(a, b, len) == 0;
	memcpy(&x, a, 8);
	memcpy(&y, b, 8);
	if (x != y)
		return false;
	memcpy(&x, a + len / 2 - 4, 8);
	memcpy(&y, b + len / 2 - 4, 8);
	if (x != y)
		return false;
	memcpy(&x, a + len - 8, 8);
	memcpy(&y, b + len - 8, 8);
	return x == y;
}

/*
 * A table of ids for the walks of a series: each id numbered on first sight
 * (its code, 0, 1, ...), found again by a multiplication, a probe or two and
 * three integer comparisons.  Open addressing, at most half full; a slot
 * holds the id itself as three words (mtm_id_words), so that a lookup
 * follows no pointer (every Spotify id is 22 bytes); an id longer than 24
 * bytes is also compared in full with the copy it was added with.
 */
typedef struct MtmIdSlot
{
	uint64		w[3];			/* the id as mtm_id_words makes it */
	int32		len;			/* its length in bytes; 0: an empty slot */
	int32		code;			/* its number in the table */
} MtmIdSlot;

typedef struct MtmIdTable
{
	MemoryContext cxt;
	MtmIdSlot  *slots;			/* mask + 1 of them */
	uint32		mask;
	int32		n;				/* ids added */
	int32		cap;
	const text **ids;			/* ids[code]: the id as added (kept by the caller) */
} MtmIdTable;

/*
 * An id as three words: for 8 to 24 bytes the overlapping 8-byte windows at
 * its start, middle and end, which between them cover every byte (so equal
 * words and lengths are equal ids); a shorter id's bytes in the first word;
 * for a longer one the same windows, which a lookup completes with a
 * comparison of the whole id.
 */
static inline void
mtm_id_words(const char *p, int len, uint64 *w)
{
	w[1] = w[2] = 0;
	if (len < 8)
	{
		w[0] = 0;
		for (int i = 0; i < len; i++)
			w[0] |= (uint64) (unsigned char) p[i] << (8 * i);
		return;
	}
	memcpy(&w[0], p, 8);
	memcpy(&w[1], p + Min(len, 24) / 2 - 4, 8);
	memcpy(&w[2], p + len - 8, 8);
}

static inline uint32
mtm_id_hash(const uint64 *w, int len, uint32 mask)
{
	uint64		h = (w[0] * UINT64CONST(0x9E3779B97F4A7C15)) ^
		(w[1] * UINT64CONST(0xC2B2AE3D27D4EB4F)) ^
		(w[2] * UINT64CONST(0x165667B19E3779F9)) ^ (uint64) len;

	return (uint32) ((h * UINT64CONST(0x9E3779B97F4A7C15)) >> 32) & mask;
}

/* The slot of an id (w from mtm_id_words): its own, or the empty one where it would go. */
static inline MtmIdSlot *
mtm_idtab_probe(const MtmIdTable *t, const char *bytes, int len, const uint64 *w)
{
	for (uint32 h = mtm_id_hash(w, len, t->mask);; h = (h + 1) & t->mask)
	{
		MtmIdSlot  *s = &t->slots[h];

		if (s->len == 0)
			return s;
		if (s->len == len && s->w[0] == w[0] && s->w[1] == w[1] && s->w[2] == w[2] &&
			(len <= 24 || memcmp(VARDATA_ANY(t->ids[s->code]), bytes, len) == 0))
			return s;
	}
}

/* The code of an id, or -1 when it was never added. */
static inline int32
mtm_idtab_find(const MtmIdTable *t, const char *bytes, int len)
{
	uint64		w[3];
	MtmIdSlot  *s;

	mtm_id_words(bytes, len, w);
	s = mtm_idtab_probe(t, bytes, len, w);
	return s->len == 0 ? -1 : s->code;
}

extern void mtm_idtab_init(MtmIdTable *t, int expected, MemoryContext cxt);
extern int32 mtm_idtab_add(MtmIdTable *t, MtmIdSlot *empty, const text *id,
						   const uint64 *w);

/* Byte order of two ids (lookups and merges, not output order). */
static inline int
mtm_text_cmp(const text *a, const text *b)
{
	int			la = VARSIZE_ANY_EXHDR(a);
	int			lb = VARSIZE_ANY_EXHDR(b);
	int			c = memcmp(VARDATA_ANY(a), VARDATA_ANY(b), Min(la, lb));

	return c != 0 ? c : (la > lb) - (la < lb);
}

extern int32 mtm_ids_find(ArrayType *ids, const text *id);
extern bool mtm_chart_at(const MtmSeries *s, DateADT as_of, DateADT *date,
						 ArrayType **ids, DateADT *prev_date, bool *has_prev);

extern void mtm_chart_delete(const MtmSeries *s, Datum date);


#endif							/* MUSIC_TM_CHART_STORE_H */
