/*
 * chart_store.c
 *		A chart as one row of music_tm.charts: the statements that read and
 *		write it, for the ingest and history families.
 *
 * Writing a chart is read, edit in C, write back, one row:
 *	0. take a transaction-scoped lock on the chart's key (listener, range,
 *	   date) in the lock manager (an advisory lock of music_tm's own kind,
 *	   see LockChartKey): it serializes the writers of one chart even while
 *	   its row does not exist yet, so two first recordings of one chart never
 *	   hold each other's tracks (one would wait for the other's chart insert
 *	   while holding tracks the other needs: a deadlock).  It writes nothing;
 *	1. lock the chart's row (SELECT ... FOR NO KEY UPDATE): writers of one
 *	   chart take turns, and each edits the chart its predecessor committed
 *	   (under READ COMMITTED the statement sees the latest row version; under
 *	   REPEATABLE READ a row changed since the snapshot is a serialization
 *	   failure, so a transaction never edits a chart it cannot see);
 *	2. the caller's edit makes the new slots from the stored ones;
 *	3. nothing when they are equal, else one single-row UPDATE, or for a
 *	   chart not yet recorded a single-row INSERT ... ON CONFLICT DO NOTHING.
 *	   When that INSERT finds the row created meanwhile by a concurrent
 *	   writer (READ COMMITTED), the row is locked and edited again; under
 *	   REPEATABLE READ the server raises a serialization failure itself.
 * Every statement names one row by its whole primary key, so a distributed
 * database routes it to one shard.
 *
 * The lock of step 1 is also what keeps charts from naming deleted tracks:
 * a writer takes it (ROW SHARE on music_tm.charts) before it reads the
 * tracks, and DELETE on music_tm.tracks first takes EXCLUSIVE on charts (see
 * integrity.c), so the two never overlap.
 *
 * Reading: a series' charts in date order (primary key order), each handed
 * to the caller where it lies in the buffer, or the chart as of a date with
 * a backward scan of the primary key.
 */
#include "postgres.h"

#include "access/tupmacs.h"
#include "catalog/pg_type.h"
#include "common/hashfn.h"
#include "miscadmin.h"
#include "storage/lock.h"
#include "nodes/params.h"
#include "tcop/dest.h"
#include "utils/builtins.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"

#include "chart_store.h"

/* $1 listener, $2 time_range, $3 snapshot_date */
static MtmPlan lock_plan = {
	"SELECT track_ids, playable_ids FROM music_tm.charts"
	" WHERE listener OPERATOR(pg_catalog.=) $1"
	" AND time_range OPERATOR(pg_catalog.=) $2"
	" AND snapshot_date OPERATOR(pg_catalog.=) $3"
	" FOR NO KEY UPDATE",
	3, {TEXTOID, InvalidOid, DATEOID}, NULL, InvalidOid
};

/* The same for a chart from plays, with its tallies. */
static MtmPlan lock_tallies_plan = {
	"SELECT track_ids, playable_ids, play_counts, play_ms, first_played"
	" FROM music_tm.charts"
	" WHERE listener OPERATOR(pg_catalog.=) $1"
	" AND time_range OPERATOR(pg_catalog.=) $2"
	" AND snapshot_date OPERATOR(pg_catalog.=) $3"
	" FOR NO KEY UPDATE",
	3, {TEXTOID, InvalidOid, DATEOID}, NULL, InvalidOid
};

/* $1 listener, $2 time_range, $3 date, $4 recorded_at, $5 ids, $6 playable */
static MtmPlan insert_plan = {
	"INSERT INTO music_tm.charts"
	" (listener, time_range, snapshot_date, recorded_at, track_ids, playable_ids)"
	" VALUES ($1, $2, $3, $4, $5, $6)"
	" ON CONFLICT (listener, time_range, snapshot_date) DO NOTHING",
	6, {TEXTOID, InvalidOid, DATEOID, TIMESTAMPTZOID, TEXTARRAYOID, TEXTARRAYOID},
	NULL, InvalidOid
};

/* $1 listener, $2 time_range, $3 date, $4 ids, $5 playable */
static MtmPlan update_plan = {
	"UPDATE music_tm.charts SET track_ids = $4, playable_ids = $5"
	" WHERE listener OPERATOR(pg_catalog.=) $1"
	" AND time_range OPERATOR(pg_catalog.=) $2"
	" AND snapshot_date OPERATOR(pg_catalog.=) $3",
	5, {TEXTOID, InvalidOid, DATEOID, TEXTARRAYOID, TEXTARRAYOID}, NULL, InvalidOid
};

/* The same two for a chart from plays: $7 .. $9 (insert), $6 .. $8 the tallies */
static MtmPlan insert_tallies_plan = {
	"INSERT INTO music_tm.charts"
	" (listener, time_range, snapshot_date, recorded_at, track_ids, playable_ids,"
	"  play_counts, play_ms, first_played)"
	" VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
	" ON CONFLICT (listener, time_range, snapshot_date) DO NOTHING",
	9, {TEXTOID, InvalidOid, DATEOID, TIMESTAMPTZOID, TEXTARRAYOID, TEXTARRAYOID,
		INT4ARRAYOID, INT8ARRAYOID, TIMESTAMPTZARRAYOID},
	NULL, InvalidOid
};

static MtmPlan update_tallies_plan = {
	"UPDATE music_tm.charts SET track_ids = $4, playable_ids = $5,"
	" play_counts = $6, play_ms = $7, first_played = $8"
	" WHERE listener OPERATOR(pg_catalog.=) $1"
	" AND time_range OPERATOR(pg_catalog.=) $2"
	" AND snapshot_date OPERATOR(pg_catalog.=) $3",
	8, {TEXTOID, InvalidOid, DATEOID, TEXTARRAYOID, TEXTARRAYOID,
		INT4ARRAYOID, INT8ARRAYOID, TIMESTAMPTZARRAYOID}, NULL, InvalidOid
};

/* $1 listener, $2 time_range, $3 lowest date, $4 highest date */
static MtmPlan scan_plan = {
	"SELECT snapshot_date, track_ids FROM music_tm.charts"
	" WHERE listener OPERATOR(pg_catalog.=) $1"
	" AND time_range OPERATOR(pg_catalog.=) $2"
	" AND snapshot_date OPERATOR(pg_catalog.>=) $3"
	" AND snapshot_date OPERATOR(pg_catalog.<=) $4"
	" ORDER BY snapshot_date",
	4, {TEXTOID, InvalidOid, DATEOID, DATEOID}, NULL, InvalidOid
};

/* $1 listener, $2 time_range, $3 as_of: the chart and the one before */
static MtmPlan at_plan = {
	"SELECT snapshot_date, track_ids FROM music_tm.charts"
	" WHERE listener OPERATOR(pg_catalog.=) $1"
	" AND time_range OPERATOR(pg_catalog.=) $2"
	" AND snapshot_date OPERATOR(pg_catalog.<=) $3"
	" ORDER BY snapshot_date DESC LIMIT 2",
	3, {TEXTOID, InvalidOid, DATEOID}, NULL, InvalidOid
};

void
mtm_slots_init(MtmSlots *s, int cap)
{
	s->n = 0;
	s->cap = Max(cap, 8);
	s->ids = palloc0(sizeof(char *) * s->cap);
	s->playable = palloc0(sizeof(char *) * s->cap);
	s->tally = NULL;
}

/* Put a track (or NULL: empty the rank) at a rank, growing as needed. */
void
mtm_slots_set(MtmSlots *s, int32 rank, char *id, char *playable)
{
	Assert(rank >= 1 && rank <= MTM_MAX_RANK);
	if (rank > s->cap)
	{
		int			cap = Max(rank, s->cap * 2);

		s->ids = repalloc(s->ids, sizeof(char *) * cap);
		s->playable = repalloc(s->playable, sizeof(char *) * cap);
		memset(s->ids + s->cap, 0, sizeof(char *) * (cap - s->cap));
		memset(s->playable + s->cap, 0, sizeof(char *) * (cap - s->cap));
		if (s->tally != NULL)
		{
			s->tally = repalloc(s->tally, sizeof(MtmTally) * cap);
			memset(s->tally + s->cap, 0, sizeof(MtmTally) * (cap - s->cap));
		}
		s->cap = cap;
	}
	s->ids[rank - 1] = id;
	s->playable[rank - 1] = id ? playable : NULL;
	if (rank > s->n)
		s->n = rank;
}

/* The tally of the entry at a rank (set its id first). */
void
mtm_slots_set_tally(MtmSlots *s, int32 rank, const MtmTally *tally)
{
	Assert(rank >= 1 && rank <= s->cap);
	if (s->tally == NULL)
		s->tally = palloc0(sizeof(MtmTally) * s->cap);
	s->tally[rank - 1] = *tally;
}

/* Drop trailing empty ranks: a chart is stored in that one form. */
void
mtm_slots_trim(MtmSlots *s)
{
	while (s->n > 0 && s->ids[s->n - 1] == NULL)
		s->n--;
}

bool
mtm_slots_equal(const MtmSlots *a, const MtmSlots *b)
{
	if (a->n != b->n || (a->tally == NULL) != (b->tally == NULL))
		return false;
	for (int i = 0; i < a->n; i++)
		if (!mtm_same_string(a->ids[i], b->ids[i]) ||
			!mtm_same_string(a->playable[i], b->playable[i]))
			return false;
	if (a->tally != NULL)
		for (int i = 0; i < a->n; i++)
			if (a->tally[i].plays != b->tally[i].plays ||
				a->tally[i].ms != b->tally[i].ms ||
				a->tally[i].first != b->tally[i].first)
				return false;
	return true;
}

/*
 * The slots as the five array parameters: ids, playable (NULL when none is
 * set), and the tallies (NULL for a chart without).
 */
static void
SlotArrays(const MtmSlots *s, Datum *values, char *nulls)
{
	bool		any = false;

	for (int i = 0; i < s->n; i++)
		any |= s->playable[i] != NULL;
	values[0] = PointerGetDatum(mtm_text_array(s->ids, s->n));
	values[1] = any ? PointerGetDatum(mtm_text_array(s->playable, s->n)) : (Datum) 0;
	nulls[0] = ' ';
	nulls[1] = any ? ' ' : 'n';
	if (s->tally != NULL)
	{
		Datum	   *plays = palloc(sizeof(Datum) * Max(s->n, 1));
		Datum	   *ms = palloc(sizeof(Datum) * Max(s->n, 1));
		Datum	   *first = palloc(sizeof(Datum) * Max(s->n, 1));

		for (int i = 0; i < s->n; i++)
		{
			plays[i] = Int32GetDatum((int32) Min(s->tally[i].plays, PG_INT32_MAX));
			ms[i] = Int64GetDatum(s->tally[i].ms);
			first[i] = TimestampTzGetDatum(s->tally[i].first);
		}
		values[2] = PointerGetDatum(construct_array(plays, s->n, INT4OID, 4, true, TYPALIGN_INT));
		values[3] = PointerGetDatum(construct_array(ms, s->n, INT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
		values[4] = PointerGetDatum(construct_array(first, s->n, TIMESTAMPTZOID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
	}
	else
		values[2] = values[3] = values[4] = (Datum) 0;
	nulls[2] = nulls[3] = nulls[4] = s->tally != NULL ? ' ' : 'n';
}

/* A stored tally array (int4[], int8[] or timestamptz[]) into slots 1..n. */
static void
ReadTally(Datum d, int which, MtmTally *out, int n)
{
	ArrayType  *arr = DatumGetArrayTypeP(d);
	Datum	   *elems;
	bool	   *nulls;
	int			nelems;
	Oid			elt = which == 0 ? INT4OID : which == 1 ? INT8OID : TIMESTAMPTZOID;

	deconstruct_array(arr, elt, which == 0 ? 4 : 8, which == 0 ? true : FLOAT8PASSBYVAL,
					  which == 0 ? TYPALIGN_INT : TYPALIGN_DOUBLE, &elems, &nulls, &nelems);
	for (int i = 0; i < Min(n, nelems); i++)
	{
		if (nulls[i])
			continue;
		if (which == 0)
			out[i].plays = DatumGetInt32(elems[i]);
		else if (which == 1)
			out[i].ms = DatumGetInt64(elems[i]);
		else
			out[i].first = DatumGetTimestampTz(elems[i]);
	}
}

/* A stored text[] (NULL: all slots empty) into C strings, slots 1..n. */
static void
ReadSlots(ArrayType *arr, char **out, int n)
{
	MtmIdIter	iter;
	int32		rank;
	text	   *id;

	if (arr == NULL)
		return;
	mtm_ids_begin(&iter, arr);
	while (mtm_ids_next(&iter, &rank, &id))
		if (rank <= n)
			out[rank - 1] = text_to_cstring(id);
}

/*
 * The key lock of step 0.  Advisory locks are keyed by the database and 64
 * bits; music_tm's carry 3 in the last field, which pg_advisory_lock() and
 * its siblings never use (they use 1 and 2), so they cannot collide with an
 * application's own advisory locks.  Two charts whose keys hash alike only
 * wait for each other.
 */
static void
LockChartKey(const MtmSeries *s, Datum date)
{
	text	   *listener = DatumGetTextPP(s->listener);
	uint64		h;
	LOCKTAG		tag;

	h = hash_bytes_extended((const unsigned char *) VARDATA_ANY(listener),
							VARSIZE_ANY_EXHDR(listener),
							((uint64) DatumGetObjectId(s->range) << 32) |
							(uint32) DatumGetDateADT(date));
	SET_LOCKTAG_ADVISORY(tag, MyDatabaseId, (uint32) (h >> 32), (uint32) h, 3);
	(void) LockAcquire(&tag, ExclusiveLock, false, false);
}

/*
 * Lock the chart's key and row and read its slots into *stored (initialized here).
 * Returns false, with no slots, when the chart is not recorded.
 */
bool
mtm_chart_lock(const MtmSeries *s, Datum date, MtmSlots *stored)
{
	Datum		values[3] = {s->listener, s->range, date};
	int			ret;
	bool		isnull;
	Datum		d;
	ArrayType  *ids;
	ArrayType  *playable = NULL;
	int			n;

	LockChartKey(s, date);
	ret = SPI_execute_plan(mtm_plan(s->tallies ? &lock_tallies_plan : &lock_plan,
									s->range_type), values, NULL, false, 1);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "reading music_tm.charts failed: %s", SPI_result_code_string(ret));
	if (SPI_processed == 0)
	{
		mtm_slots_init(stored, 0);
		return false;
	}
	/* each array detoasted once (track_ids is NOT NULL) */
	ids = DatumGetArrayTypeP(SPI_getbinval(SPI_tuptable->vals[0],
										   SPI_tuptable->tupdesc, 1, &isnull));
	d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull);
	if (!isnull)
		playable = DatumGetArrayTypeP(d);
	n = Min(ArrayGetNItems(ARR_NDIM(ids), ARR_DIMS(ids)), MTM_MAX_RANK);
	mtm_slots_init(stored, n);
	stored->n = n;
	ReadSlots(ids, stored->ids, n);
	ReadSlots(playable, stored->playable, n);
	/* the tallies of a chart from plays: all three, or none */
	if (s->tallies)
	{
		bool		nulls[3];
		Datum		t[3];

		for (int i = 0; i < 3; i++)
			t[i] = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc,
								 3 + i, &nulls[i]);
		if (!nulls[0] && !nulls[1] && !nulls[2])
		{
			stored->tally = palloc0(sizeof(MtmTally) * stored->cap);
			for (int i = 0; i < 3; i++)
				ReadTally(t[i], i, stored->tally, n);
		}
	}
	mtm_slots_trim(stored);
	return true;
}

/*
 * Write a chart whose row the caller locked (or found absent) with
 * mtm_chart_lock: edit the stored slots and store the result.
 */
MtmChartWrite
mtm_chart_write(const MtmSeries *s, Datum date, TimestampTz now, bool exists,
				MtmSlots *stored, MtmChartEdit edit, void *arg)
{
	for (int attempt = 0;; attempt++)
	{
		MtmSlots	result;
		Datum		values[9];
		char		nulls[9] = {' ', ' ', ' ', ' ', ' ', ' ', ' ', ' ', ' '};
		int			ret;

		mtm_slots_init(&result, stored->n);
		edit(stored, exists, &result, arg);
		mtm_slots_trim(&result);

		values[0] = s->listener;
		values[1] = s->range;
		values[2] = date;
		if (exists)
		{
			if (mtm_slots_equal(stored, &result))
				return MTM_CHART_UNCHANGED;
			SlotArrays(&result, &values[3], &nulls[3]);
			ret = SPI_execute_plan(mtm_plan(s->tallies ? &update_tallies_plan : &update_plan,
											s->range_type),
								   values, nulls, false, 0);
			if (ret != SPI_OK_UPDATE || SPI_processed != 1)
				elog(ERROR, "writing music_tm.charts failed: %s",
					 SPI_result_code_string(ret));
			return MTM_CHART_CHANGED;
		}

		values[3] = TimestampTzGetDatum(now);
		SlotArrays(&result, &values[4], &nulls[4]);
		ret = SPI_execute_plan(mtm_plan(s->tallies ? &insert_tallies_plan : &insert_plan,
										s->range_type),
							   values, nulls, false, 0);
		if (ret != SPI_OK_INSERT)
			elog(ERROR, "writing music_tm.charts failed: %s",
				 SPI_result_code_string(ret));
		if (SPI_processed == 1)
			return MTM_CHART_CREATED;

		/* created meanwhile by a concurrent writer: edit its chart */
		if (attempt >= 10)
			ereport(ERROR,
					(errcode(ERRCODE_T_R_SERIALIZATION_FAILURE),
					 errmsg("could not record the chart: it keeps being created and deleted concurrently")));
		CHECK_FOR_INTERRUPTS();
		exists = mtm_chart_lock(s, date, stored);
	}
}

/* An empty table for about expected ids (it grows). */
void
mtm_idtab_init(MtmIdTable *t, int expected, MemoryContext cxt)
{
	t->cxt = cxt;
	t->mask = 15;
	while (t->mask + 1 < (uint32) (2 * Max(expected, 1)))
		t->mask = t->mask * 2 + 1;
	t->slots = MemoryContextAllocZero(cxt, sizeof(MtmIdSlot) * (t->mask + 1));
	t->n = 0;
	t->cap = Max(expected, 16);
	t->ids = MemoryContextAlloc(cxt, sizeof(text *) * t->cap);
}

/*
 * Number an id that mtm_idtab_probe did not find (empty: the slot it
 * returned, w: the id's words); id must outlive the table.  Returns its code.
 */
int32
mtm_idtab_add(MtmIdTable *t, MtmIdSlot *empty, const text *id, const uint64 *w)
{
	int32		code = t->n++;

	if (code == t->cap)
	{
		t->cap *= 2;
		t->ids = repalloc(t->ids, sizeof(text *) * t->cap);
	}
	t->ids[code] = id;
	memcpy(empty->w, w, sizeof(empty->w));
	empty->len = VARSIZE_ANY_EXHDR(id);
	empty->code = code;
	/* at most half full: twice the slots, every id placed again */
	if ((uint32) t->n * 2 > t->mask + 1)
	{
		MtmIdSlot  *old = t->slots;
		uint32		oldsize = t->mask + 1;

		t->mask = t->mask * 2 + 1;
		t->slots = MemoryContextAllocZero(t->cxt, sizeof(MtmIdSlot) * (t->mask + 1));
		for (uint32 i = 0; i < oldsize; i++)
		{
			uint32		h;

			if (old[i].len == 0)
				continue;
			for (h = mtm_id_hash(old[i].w, old[i].len, t->mask); t->slots[h].len != 0;
				 h = (h + 1) & t->mask)
				;
			t->slots[h] = old[i];
		}
		pfree(old);
	}
	return code;
}

/*
 * Rank of a track in a stored track_ids array, or 0 when it is not there.
 * The hot loop of every one-track reader (once per chart of the series), so
 * it walks the flat array itself rather than through array_iter: lengths are
 * compared before bytes, and NULL slots are skipped by the bitmap.
 */
int32
mtm_ids_find(ArrayType *ids, const text *id)
{
	const char *want = VARDATA_ANY(id);
	int			wlen = VARSIZE_ANY_EXHDR(id);
	int			n = ArrayGetNItems(ARR_NDIM(ids), ARR_DIMS(ids));
	/* ARR_DATA_PTR, spelt out: the macro mixes signedness (-Wsign-compare) */
	char	   *p = (char *) ids + (ARR_HASNULL(ids) ? (Size) ids->dataoffset :
									ARR_OVERHEAD_NONULLS(ARR_NDIM(ids)));
	bits8	   *bitmap = ARR_NULLBITMAP(ids);
	int			bitmask = 1;

	for (int i = 0; i < n; i++)
	{
		if (bitmap == NULL || (*bitmap & bitmask) != 0)
		{
			if ((int) VARSIZE_ANY_EXHDR(p) == wlen &&
				mtm_id_bytes_eq(VARDATA_ANY(p), want, wlen))
				return i + 1;
			p = att_addlength_pointer(p, -1, p);
			p = (char *) att_align_nominal(p, TYPALIGN_INT);
		}
		if (bitmap != NULL && (bitmask <<= 1) == 0x100)
		{
			bitmap++;
			bitmask = 1;
		}
	}
	return 0;
}

/*
 * A series scan's tuple receiver: the executor hands each row of the scan
 * statement straight to visit, so a chart's array is read where it lies in
 * the buffer instead of being copied into an SPI tuple table first (at 1.4
 * KB a chart, that copy was most of the cost of a walk).
 */
typedef struct ScanReceiver
{
	DestReceiver pub;
	MtmChartVisit visit;
	void	   *arg;
	MemoryContext cxt;			/* per row: an array that had to be expanded */
	uint64		rows;
} ScanReceiver;

static bool
ScanReceive(TupleTableSlot *slot, DestReceiver *self)
{
	ScanReceiver *r = (ScanReceiver *) self;
	bool		isnull;
	Datum		date = slot_getattr(slot, 1, &isnull);
	Datum		ids = slot_getattr(slot, 2, &isnull);
	MemoryContext old = MemoryContextSwitchTo(r->cxt);

	r->visit(DatumGetDateADT(date), DatumGetArrayTypeP(ids), r->arg);
	MemoryContextSwitchTo(old);
	MemoryContextReset(r->cxt);
	r->rows++;
	return true;
}

static void
ScanStartup(DestReceiver *self, int operation, TupleDesc typeinfo)
{
}

static void
ScanShutdown(DestReceiver *self)
{
}

static void
ScanDestroy(DestReceiver *self)
{
}

/*
 * Walk the charts of a series between two dates (inclusive) in date order,
 * calling visit for each.  Returns the number of charts.  Runs read-only
 * under the caller's snapshot, inside SPI_connect.
 */
uint64
mtm_scan_series(const MtmSeries *s, DateADT from, DateADT to,
				MtmChartVisit visit, void *arg)
{
	ScanReceiver r;
	SPIExecuteOptions options;
	ParamListInfo params = makeParamList(4);
	Datum		values[4] = {s->listener, s->range, DateADTGetDatum(from),
	DateADTGetDatum(to)};
	Oid			types[4] = {TEXTOID, s->range_type, DATEOID, DATEOID};
	int			ret;

	for (int i = 0; i < 4; i++)
	{
		params->params[i].value = values[i];
		params->params[i].isnull = false;
		params->params[i].pflags = PARAM_FLAG_CONST;
		params->params[i].ptype = types[i];
	}
	memset(&r, 0, sizeof(r));
	r.pub.receiveSlot = ScanReceive;
	r.pub.rStartup = ScanStartup;
	r.pub.rShutdown = ScanShutdown;
	r.pub.rDestroy = ScanDestroy;
	r.pub.mydest = DestNone;
	r.visit = visit;
	r.arg = arg;
	r.cxt = AllocSetContextCreate(CurrentMemoryContext, "music_tm chart scan",
								  ALLOCSET_DEFAULT_SIZES);

	memset(&options, 0, sizeof(options));
	options.params = params;
	options.read_only = true;
	options.dest = (DestReceiver *) &r;
	ret = SPI_execute_plan_extended(mtm_plan(&scan_plan, s->range_type), &options);
	/* SPI says SPI_OK_UTILITY for a SELECT whose rows go to a DestNone receiver */
	if (ret != SPI_OK_SELECT && ret != SPI_OK_UTILITY)
		elog(ERROR, "reading music_tm.charts failed: %s", SPI_result_code_string(ret));
	MemoryContextDelete(r.cxt);
	return r.rows;
}

/*
 * The series' latest chart on or before as_of: its date and ids, and the
 * date of the chart before it.  Returns false when there is none.
 */
bool
mtm_chart_at(const MtmSeries *s, DateADT as_of, DateADT *date, ArrayType **ids,
			 DateADT *prev_date, bool *has_prev)
{
	Datum		values[3] = {s->listener, s->range, DateADTGetDatum(as_of)};
	bool		isnull;

	mtm_spi_select(mtm_plan(&at_plan, s->range_type), values, NULL,
				   "music_tm.charts");
	if (SPI_processed == 0)
		return false;
	*date = DatumGetDateADT(SPI_getbinval(SPI_tuptable->vals[0],
										  SPI_tuptable->tupdesc, 1, &isnull));
	*ids = DatumGetArrayTypeP(SPI_getbinval(SPI_tuptable->vals[0],
											SPI_tuptable->tupdesc, 2, &isnull));
	if (has_prev)
		*has_prev = SPI_processed > 1;
	if (prev_date && SPI_processed > 1)
		*prev_date = DatumGetDateADT(SPI_getbinval(SPI_tuptable->vals[1],
												   SPI_tuptable->tupdesc, 1, &isnull));
	return true;
}


/* $1 listener, $2 time_range, $3 snapshot_date */
static MtmPlan delete_plan = {
	"DELETE FROM music_tm.charts"
	" WHERE listener OPERATOR(pg_catalog.=) $1"
	" AND time_range OPERATOR(pg_catalog.=) $2"
	" AND snapshot_date OPERATOR(pg_catalog.=) $3",
	3, {TEXTOID, InvalidOid, DATEOID}, NULL, InvalidOid
};

/*
 * Remove a chart whose row the caller locked with mtm_chart_lock: for
 * series whose charts are computed (charts from plays), where a period
 * with nothing to chart has no chart at all.  One row, by its whole key.
 */
void
mtm_chart_delete(const MtmSeries *s, Datum date)
{
	Datum		values[3] = {s->listener, s->range, date};
	int			ret = SPI_execute_plan(mtm_plan(&delete_plan, s->range_type),
									   values, NULL, false, 0);

	if (ret != SPI_OK_DELETE)
		elog(ERROR, "deleting from music_tm.charts failed: %s",
			 SPI_result_code_string(ret));
}
