/*
 * plays_stored.c
 *		What mtm_plays_merge (plays.c) reads and compares: the listener's
 *		stored listens around the incoming ones, the other ids of their
 *		recordings, and the ids themselves, numbered.
 *
 * Ids are compared hundreds of thousands of times a call (sorting, lookups
 * by track, the keys after the call), so each distinct id is interned once
 * in a hash table (simplehash) and then numbered in strcmp order
 * (mtm_ids_number): comparing two numbers orders exactly as comparing the
 * strings did, so every sort and tie-break of the merge stays as it was.
 *
 * The stored listens are read with one statement whose rows go straight
 * into StoredPlay through a DestReceiver, each track id interned from the
 * row's own text: no tuple table, no copy of each row, no text output call.
 * They are then grouped by id (mtm_group_stored) for the lookups of the merge.
 * The charts from plays read a stretch of listens the same way
 * (mtm_read_period).
 */
#include "postgres.h"

#include "access/tupdesc.h"
#include "catalog/pg_type.h"
#include "common/hashfn.h"
#include "executor/spi.h"
#include "executor/tuptable.h"
#include "miscadmin.h"
#include "nodes/params.h"
#include "tcop/dest.h"
#include "utils/builtins.h"
#include "utils/snapmgr.h"

#include "plays.h"

typedef struct IdKey
{
	const char *str;
	int			len;
} IdKey;

/* One distinct id. */
typedef struct IdEntry
{
	IdKey		key;			/* str NUL-terminated, owned by the table */
	uint32		hash;
	int			code;			/* order of arrival */
	char		status;
} IdEntry;

static inline bool
IdKeyEqual(IdKey a, IdKey b)
{
	return a.len == b.len && memcmp(a.str, b.str, a.len) == 0;
}

#define SH_PREFIX idtab
#define SH_ELEMENT_TYPE IdEntry
#define SH_KEY_TYPE IdKey
#define SH_KEY key
#define SH_HASH_KEY(tb, k) hash_bytes((const unsigned char *) (k).str, (k).len)
#define SH_EQUAL(tb, a, b) IdKeyEqual(a, b)
#define SH_GET_HASH(tb, a) ((a)->hash)
#define SH_STORE_HASH
#define SH_SCOPE static inline
#define SH_DECLARE
#define SH_DEFINE
#include "lib/simplehash.h"

struct MtmIds
{
	idtab_hash *tab;
	const char **byarrival;		/* the ids in order of arrival (entries
								 * move when the table grows) */
	int			n;
	int			cap;
	bool		numbered;
	const char **strs;			/* by final code, once numbered */
	int		   *map;			/* provisional code to final, once numbered */
};

MtmIds *
mtm_ids_create(int expected)
{
	MtmIds	   *ids = palloc0(sizeof(MtmIds));

	ids->tab = idtab_create(CurrentMemoryContext, Max(expected, 16), NULL);
	ids->cap = Max(expected, 16);
	ids->byarrival = palloc(sizeof(char *) * ids->cap);
	return ids;
}

/* The provisional code of an id of len bytes (not NUL-terminated). */
static int
InternLen(MtmIds *ids, const char *s, int len)
{
	IdKey		k = {s, len};
	bool		found;
	IdEntry    *e;

	Assert(!ids->numbered);
	e = idtab_insert(ids->tab, k, &found);
	if (!found)
	{
		e->key.str = pnstrdup(s, len);
		if (ids->n == ids->cap)
		{
			ids->cap *= 2;
			ids->byarrival = repalloc(ids->byarrival, sizeof(char *) * ids->cap);
		}
		e->code = ids->n;
		ids->byarrival[ids->n++] = e->key.str;
	}
	return e->code;
}

int
mtm_ids_intern(MtmIds *ids, const char *s)
{
	return s ? InternLen(ids, s, strlen(s)) : -1;
}

static int
CompareIndirectStr(const void *a, const void *b, void *arg)
{
	const char **strs = arg;

	return strcmp(strs[*(const int *) a], strs[*(const int *) b]);
}

/*
 * Number the ids in strcmp order.  Returns the map from the provisional
 * codes mtm_ids_intern gave to the final ones.
 */
int *
mtm_ids_number(MtmIds *ids)
{
	int		   *sorted = palloc(sizeof(int) * Max(ids->n, 1));
	int		   *map = palloc(sizeof(int) * Max(ids->n, 1));

	for (int i = 0; i < ids->n; i++)
		sorted[i] = i;
	qsort_arg(sorted, ids->n, sizeof(int), CompareIndirectStr, ids->byarrival);
	ids->strs = palloc(sizeof(char *) * Max(ids->n, 1));
	for (int r = 0; r < ids->n; r++)
	{
		map[sorted[r]] = r;
		ids->strs[r] = ids->byarrival[sorted[r]];
	}
	ids->numbered = true;
	ids->map = map;
	pfree(sorted);
	return map;
}

int
mtm_ids_count(const MtmIds *ids)
{
	return ids->n;
}

/* The text of a (final) code. */
const char *
mtm_ids_str(const MtmIds *ids, int code)
{
	Assert(ids->numbered);
	return code < 0 ? NULL : ids->strs[code];
}

/* The stored listens, as a DestReceiver collects them. */
typedef struct RowsReceiver
{
	DestReceiver pub;
	MtmIds	   *ids;
	char	   *rows;			/* n rows of width bytes, room for cap */
	Size		width;
	int			n;
	int			cap;
	MemoryContext cxt;			/* the caller's: the ids interned live on */
} RowsReceiver;

/*
 * The code of a text id: interned before the ids are numbered; once they
 * are, its final code, or -1 for an id no listen has (nothing to find under
 * it).
 */
static int
InternText(MtmIds *ids, Datum d)
{
	text	   *t = (text *) DatumGetPointer(d);

	/* a short id is never toasted, but a packed (short) header is usual */
	if (VARATT_IS_EXTENDED(t))
		t = pg_detoast_datum_packed(t);
	if (ids->numbered)
	{
		IdKey		k = {VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t)};
		IdEntry    *e = idtab_lookup(ids->tab, k);

		return e ? ids->map[e->code] : -1;
	}
	return InternLen(ids, VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t));
}

/*
 * The next row of a receiver, zeroed, with the slot's columns fetched; the
 * caller's context is made current (the executor's ends with the statement:
 * ids are interned in the caller's); *old is the context to go back to.
 */
static void *
NextRow(RowsReceiver *r, TupleTableSlot *slot, MemoryContext *old)
{
	void	   *row;

	CHECK_FOR_INTERRUPTS();
	slot_getallattrs(slot);
	*old = MemoryContextSwitchTo(r->cxt);
	if (r->n == r->cap)
	{
		r->cap *= 2;
		r->rows = repalloc(r->rows, r->width * r->cap);
	}
	row = r->rows + r->width * r->n++;
	memset(row, 0, r->width);
	return row;
}

static bool
StoredReceive(TupleTableSlot *slot, DestReceiver *self)
{
	RowsReceiver *r = (RowsReceiver *) self;
	MemoryContext old;
	StoredPlay *s = NextRow(r, slot, &old);

	s->ended_at = DatumGetTimestampTz(slot->tts_values[0]);
	s->new_end = s->ended_at;
	s->code = InternText(r->ids, slot->tts_values[1]);
	s->pcode = slot->tts_isnull[2] ? -1 : InternText(r->ids, slot->tts_values[2]);
	s->has_ms = !slot->tts_isnull[3];
	s->ms_played = s->has_ms ? DatumGetInt32(slot->tts_values[3]) : 0;
	s->has_played_at = !slot->tts_isnull[4];
	s->played_at = s->has_played_at ? DatumGetTimestampTz(slot->tts_values[4]) : 0;
	s->has_export_ts = !slot->tts_isnull[5];
	s->export_ts = s->has_export_ts ? DatumGetTimestampTz(slot->tts_values[5]) : 0;
	s->has_account = !slot->tts_isnull[6];
	s->account_end = s->has_account ? DatumGetTimestampTz(slot->tts_values[6]) : 0;
	MemoryContextSwitchTo(old);
	return true;
}

/* A listen of a stretch of time, as the charts from plays read it. */
static bool
PeriodReceive(TupleTableSlot *slot, DestReceiver *self)
{
	RowsReceiver *r = (RowsReceiver *) self;
	MemoryContext old;
	MtmPeriodPlay *p = NextRow(r, slot, &old);

	p->code = InternText(r->ids, slot->tts_values[0]);
	p->ms = slot->tts_isnull[1] ? -1 : DatumGetInt32(slot->tts_values[1]);
	p->ended_at = DatumGetTimestampTz(slot->tts_values[2]);
	MemoryContextSwitchTo(old);
	return true;
}

static void
StoredStartup(DestReceiver *self, int operation, TupleDesc typeinfo)
{
}

static void
StoredShutdown(DestReceiver *self)
{
}

static void
StoredDestroy(DestReceiver *self)
{
}

static SPIPlanPtr read_plan;
static SPIPlanPtr period_plan;
static SPIPlanPtr twins_plan;
static SPIPlanPtr songs_plan;

static void
PreparePlans(void)
{
	Oid			t_read[3] = {TEXTOID, TIMESTAMPTZOID, TIMESTAMPTZOID};
	Oid			t_twins[1] = {TEXTARRAYOID};

	/* the last one made: an error while preparing leaves it NULL */
	if (songs_plan != NULL)
		return;
	read_plan = mtm_prepare_kept(
		"SELECT ended_at, track_id, playable_id, ms_played, played_at, export_ts,"
		" account_end FROM music_tm.plays"
		" WHERE listener OPERATOR(pg_catalog.=) $1"
		" AND ended_at OPERATOR(pg_catalog.>=) $2"
		" AND ended_at OPERATOR(pg_catalog.<=) $3", 3, t_read);
	period_plan = mtm_prepare_kept(
		"SELECT track_id, ms_played, ended_at FROM music_tm.plays"
		" WHERE listener OPERATOR(pg_catalog.=) $1"
		" AND ended_at OPERATOR(pg_catalog.>=) $2"
		" AND ended_at OPERATOR(pg_catalog.<) $3"
		" ORDER BY ended_at", 3, t_read);
	/* each id looked up once by key; its twins by ISRC (OFFSET 0 keeps
	 * the planner from a merge join that would walk the whole ISRC index) */
	twins_plan = mtm_prepare_kept(
		"SELECT a.track_id, t.track_id FROM pg_catalog.unnest($1) AS u(id)"
		" JOIN music_tm.tracks a ON a.track_id OPERATOR(pg_catalog.=) u.id"
		" CROSS JOIN LATERAL (SELECT b.track_id FROM music_tm.tracks b"
		"  WHERE b.isrc OPERATOR(pg_catalog.=) a.isrc"
		"  AND b.track_id OPERATOR(pg_catalog.<>) a.track_id OFFSET 0) AS t", 1, t_twins);
	songs_plan = mtm_prepare_kept(
		"SELECT isrc, pg_catalog.min(track_id) FROM music_tm.tracks"
		" WHERE isrc OPERATOR(pg_catalog.=) ANY ($1) GROUP BY isrc", 1, t_twins);
}

/*
 * Run a kept read of $1 listener, $2 and $3 times with the latest snapshot;
 * receive turns each row into one of width bytes.  Returns the rows.
 */
static void *
ReadRows(SPIPlanPtr plan, Datum listener, TimestampTz lo, TimestampTz hi,
		 bool (*receive) (TupleTableSlot *, DestReceiver *), Size width,
		 MtmIds *ids, int *count)
{
	ParamListInfo params = makeParamList(3);
	SPIExecuteOptions opts;
	MemoryContext cxt = CurrentMemoryContext;
	RowsReceiver r;
	int			ret;

	memset(&r, 0, sizeof(r));
	r.pub.receiveSlot = receive;
	r.pub.rStartup = StoredStartup;
	r.pub.rShutdown = StoredShutdown;
	r.pub.rDestroy = StoredDestroy;
	r.pub.mydest = DestNone;
	r.ids = ids;
	r.cxt = cxt;
	r.width = width;
	r.cap = 256;
	r.rows = palloc(width * r.cap);

	params->params[0].value = listener;
	params->params[0].ptype = TEXTOID;
	params->params[1].value = TimestampTzGetDatum(lo);
	params->params[1].ptype = TIMESTAMPTZOID;
	params->params[2].value = TimestampTzGetDatum(hi);
	params->params[2].ptype = TIMESTAMPTZOID;
	for (int i = 0; i < 3; i++)
	{
		params->params[i].isnull = false;
		params->params[i].pflags = PARAM_FLAG_CONST;
	}
	memset(&opts, 0, sizeof(opts));
	opts.params = params;
	opts.read_only = true;
	opts.dest = &r.pub;

	/* read-only SPI runs with the active snapshot: the latest one */
	PushActiveSnapshot(GetLatestSnapshot());
	ret = SPI_execute_plan_extended(plan, &opts);
	PopActiveSnapshot();
	/* SPI leaves its own context current: back to the caller's */
	MemoryContextSwitchTo(cxt);
	/* SPI says SPI_OK_UTILITY for a SELECT whose rows went to DestNone */
	if (ret != SPI_OK_SELECT && ret != SPI_OK_UTILITY)
		elog(ERROR, "reading music_tm.plays failed: %s", SPI_result_code_string(ret));
	*count = r.n;
	return r.rows;
}

/*
 * Step 1 of the merge: the stored listens of the listener ending within
 * [lo, hi], in key order, their ids interned in ids.  Read with the latest
 * snapshot (see plays.c).
 */
StoredPlay *
mtm_read_stored(Datum listener, TimestampTz lo, TimestampTz hi, MtmIds *ids,
				int *count)
{
	PreparePlans();
	return ReadRows(read_plan, listener, lo, hi, StoredReceive,
					sizeof(StoredPlay), ids, count);
}

/*
 * The listener's listens ending within [lo, hi), in time order, each track
 * id interned in ids (not yet numbered): what a chart from plays counts.
 * Read with the latest snapshot (the listens the call just wrote included).
 */
MtmPeriodPlay *
mtm_read_period(Datum listener, TimestampTz lo, TimestampTz hi, MtmIds *ids,
				int *count)
{
	PreparePlans();
	return ReadRows(period_plan, listener, lo, hi, PeriodReceive,
					sizeof(MtmPeriodPlay), ids, count);
}

/* The code of a text id (see InternText), for rows read by other means. */
int
mtm_ids_text(MtmIds *ids, Datum id)
{
	return InternText(ids, id);
}

/*
 * The other ids of the incoming listens' recordings: stored tracks that
 * share an ISRC with one of them (an album and a single version, relinked
 * twins).  Two sources may name one listen by two such ids.  ids holds the
 * n distinct incoming track ids; returns pairs (id, twin), interned.
 */
MtmTwin *
mtm_read_twins(char **track_ids, int n, MtmIds *ids, int *count)
{
	Datum		args[1];
	MtmTwin    *twins;

	PreparePlans();
	args[0] = PointerGetDatum(mtm_text_array(track_ids, n));
	if (SPI_execute_plan(twins_plan, args, NULL, true, 0) != SPI_OK_SELECT)
		elog(ERROR, "reading music_tm.tracks failed");
	twins = palloc(sizeof(MtmTwin) * Max(SPI_processed, 1));
	*count = 0;
	for (uint64 r = 0; r < SPI_processed; r++)
	{
		bool		isnull;
		MtmTwin    *t = &twins[*count];

		t->id = InternText(ids, SPI_getbinval(SPI_tuptable->vals[r],
												SPI_tuptable->tupdesc, 1, &isnull));
		t->twin = InternText(ids, SPI_getbinval(SPI_tuptable->vals[r],
												  SPI_tuptable->tupdesc, 2, &isnull));
		if (t->id >= 0 && t->twin >= 0)
			(*count)++;
	}
	return twins;
}

static int
CompareSongId(const void *a, const void *b)
{
	return strcmp(((const MtmSongId *) a)->isrc, ((const MtmSongId *) b)->isrc);
}

/*
 * Each of n ISRCs' smallest stored track id (the id a recording is charted
 * and counted under), sorted by ISRC for mtm_song_id; an ISRC no stored
 * track has is left out.  With latest, read with the latest snapshot (the
 * charts from plays, written after the call's own writes); else with the
 * statement's (the read-only statistics).  Allocated in the caller's
 * memory context.
 */
MtmSongId *
mtm_read_song_ids(char **isrcs, int n, bool latest, int *count)
{
	MemoryContext cxt = CurrentMemoryContext;
	Datum		arg;
	MtmSongId  *songs;
	int			ret;

	*count = 0;
	if (n == 0)
		return NULL;
	PreparePlans();
	arg = PointerGetDatum(mtm_text_array(isrcs, n));
	if (latest)
		ret = SPI_execute_snapshot(songs_plan, &arg, NULL, GetLatestSnapshot(),
								   InvalidSnapshot, true, false, 0);
	else
		ret = SPI_execute_plan(songs_plan, &arg, NULL, true, 0);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "reading music_tm.tracks failed");
	MemoryContextSwitchTo(cxt);
	songs = palloc(sizeof(MtmSongId) * Max(SPI_processed, 1));
	for (uint64 r = 0; r < SPI_processed; r++)
	{
		songs[r].isrc = SPI_getvalue(SPI_tuptable->vals[r], SPI_tuptable->tupdesc, 1);
		songs[r].id = SPI_getvalue(SPI_tuptable->vals[r], SPI_tuptable->tupdesc, 2);
	}
	*count = (int) SPI_processed;
	qsort(songs, *count, sizeof(MtmSongId), CompareSongId);
	return songs;
}

/* The smallest stored id of a recording read by mtm_read_song_ids, or NULL. */
const char *
mtm_song_id(const MtmSongId *songs, int n, const char *isrc)
{
	MtmSongId	k = {(char *) isrc, NULL};
	const MtmSongId *hit = n > 0 ?
		bsearch(&k, songs, n, sizeof(MtmSongId), CompareSongId) : NULL;

	return hit ? hit->id : NULL;
}

static int	CompareTwin(const void *a, const void *b);

/* Twins sorted by id, the twins of code c at [start[c], start[c + 1]). */
int *
mtm_group_twins(MtmTwin *twins, int ntwins, int ncodes)
{
	int		   *start = palloc0(sizeof(int) * (ncodes + 1));

	if (ntwins > 1)
		qsort(twins, ntwins, sizeof(MtmTwin), CompareTwin);
	for (int t = 0; t < ntwins; t++)
		start[twins[t].id + 1]++;
	for (int c = 0; c < ncodes; c++)
		start[c + 1] += start[c];
	return start;
}

static int
CompareRef(const void *a, const void *b)
{
	const MtmRef *x = a;
	const MtmRef *y = b;

	if (x->at != y->at)
		return x->at < y->at ? -1 : 1;
	return (x->k > y->k) - (x->k < y->k);
}

/*
 * Stored listens grouped by id (each under its track id and, when it
 * differs, its playable id): the group of code c is refs[start[c] ..
 * start[c + 1]), ordered by the time that the incoming source reported
 * (played_at, export_ts or account_end), so that a replay is found by
 * binary search.
 */
MtmRef *
mtm_group_stored(const StoredPlay *s, int ns, int ncodes, MtmPlaySource source,
			int **startp)
{
	int		   *start = palloc0(sizeof(int) * (ncodes + 1));
	int		   *fill = palloc(sizeof(int) * (ncodes + 1));
	MtmRef	   *refs = palloc(sizeof(MtmRef) * Max(ns * 2, 1));

	for (int k = 0; k < ns; k++)
	{
		start[s[k].code + 1]++;
		if (s[k].pcode >= 0 && s[k].pcode != s[k].code)
			start[s[k].pcode + 1]++;
	}
	for (int c = 0; c < ncodes; c++)
		start[c + 1] += start[c];
	memcpy(fill, start, sizeof(int) * (ncodes + 1));
	for (int k = 0; k < ns; k++)
	{
		const StoredPlay *sp = &s[k];
		TimestampTz at = DT_NOBEGIN;

		if (source == MTM_SOURCE_RECENT && sp->has_played_at)
			at = sp->played_at;
		else if (source == MTM_SOURCE_EXPORT && sp->has_export_ts)
			at = sp->export_ts;
		else if (source == MTM_SOURCE_ACCOUNT && sp->has_account)
			at = sp->account_end;
		refs[fill[sp->code]++] = (MtmRef) {at, k};
		if (sp->pcode >= 0 && sp->pcode != sp->code)
			refs[fill[sp->pcode]++] = (MtmRef) {at, k};
	}
	for (int c = 0; c < ncodes; c++)
		if (start[c + 1] - start[c] > 1)
			qsort(refs + start[c], start[c + 1] - start[c], sizeof(MtmRef), CompareRef);
	pfree(fill);
	*startp = start;
	return refs;
}

static int
CompareTwin(const void *a, const void *b)
{
	const MtmTwin *x = a;
	const MtmTwin *y = b;

	if (x->id != y->id)
		return x->id < y->id ? -1 : 1;
	return (x->twin > y->twin) - (x->twin < y->twin);
}
