/*
 * ingest_page.c
 *		record_top_tracks: a whole Spotify top-tracks page in one call.
 *
 * One call checks every item first, then writes with at most three
 * statements whatever the page's length, besides the lock of its chart:
 *
 *	0. the chart's row is locked (or found absent), see chart_store.c: from
 *	   here on no other writer changes this chart, and no track can be
 *	   deleted from under the page;
 *	1. tracks: one read of the stored content hashes of the page's tracks,
 *	   then one upsert of only the new or changed ones (multi-row VALUES, a
 *	   kept plan per row count, which Citus routes and counts right).  An
 *	   unchanged track costs a read and never
 *	   a write (on Citus, where tracks is a reference table, a write would be
 *	   a two-phase commit on every node);
 *	2. the chart: the page replaces its rank range of the stored chart in C,
 *	   and the row is written back with one single-row statement, or not at
 *	   all when nothing changed.
 *
 * A replay so costs the lock, the hash read and nothing else.
 *
 * Deadlocks: a call locks one chart row, then the rows of its new or
 * changed tracks in track_id order.
 *
 * Any error (bad item, cancel) aborts the call before or during these
 * statements; the caller's transaction or statement rolls back, so a page is
 * recorded all or nothing.
 */
#include "postgres.h"

#include "access/detoast.h"
#include "access/htup_details.h"
#include "access/xact.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/date.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/snapmgr.h"

#include "chart_store.h"
#include "common.h"
#include "ingest.h"

PG_FUNCTION_INFO_V1(record_top_tracks);

/* One item of the page that will be charted. */
typedef struct PageEntry
{
	int			item;			/* index in items[] */
	int32		rank;			/* offset + item + 1 */
	MtmTrackRow row;
} PageEntry;

/* What the call did, returned as its result row. */
typedef struct PageSummary
{
	int64		tracks_inserted;
	int64		tracks_updated;
	int64		tracks_unchanged;
	int64		entries_inserted;
	int64		entries_updated;
	int64		entries_removed;
	int64		entries_unchanged;
	int64		items_skipped;
	JsonbParseState *skipped;	/* [{"item", "rank", "reason"}, ...] */
	const char *chart;			/* what became of the chart */
} PageSummary;

/* Append {"item": i, "rank": r, "reason": ...} to the summary's skip list. */
static void
NoteSkipped(PageSummary *sum, int item, int32 rank, const char *reason)
{
	JsonbValue	k;
	JsonbValue	v;

	pushJsonbValue(&sum->skipped, WJB_BEGIN_OBJECT, NULL);
	k.type = jbvString;
	k.val.string.val = "item";
	k.val.string.len = 4;
	pushJsonbValue(&sum->skipped, WJB_KEY, &k);
	v.type = jbvNumeric;
	v.val.numeric = int64_to_numeric(item);
	pushJsonbValue(&sum->skipped, WJB_VALUE, &v);
	k.val.string.val = "rank";
	pushJsonbValue(&sum->skipped, WJB_KEY, &k);
	v.val.numeric = int64_to_numeric(rank);
	pushJsonbValue(&sum->skipped, WJB_VALUE, &v);
	k.val.string.val = "reason";
	k.val.string.len = 6;
	pushJsonbValue(&sum->skipped, WJB_KEY, &k);
	v.type = jbvString;
	v.val.string.val = (char *) reason;
	v.val.string.len = strlen(reason);
	pushJsonbValue(&sum->skipped, WJB_VALUE, &v);
	pushJsonbValue(&sum->skipped, WJB_END_OBJECT, NULL);
	sum->items_skipped++;
}

/*
 * Find the items array and the offset of a payload: a paging object
 * {"items": [...], "offset": n, ...} or a bare array of track objects.
 */
static JsonbContainer *
PageItems(Jsonb *payload, int32 *offset)
{
	JsonbValue	v;
	JsonbValue *found;

	*offset = 0;
	if (JB_ROOT_IS_SCALAR(payload))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("payload must be a paging object or an array of track objects"),
				 errdetail("Found a JSON scalar.")));
	if (JB_ROOT_IS_ARRAY(payload))
		return &payload->root;

	found = mtm_field(&payload->root, "items", &v);
	if (found == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("paging object has no \"items\""),
				 errdetail("Field \"items\" of the payload is missing.")));
	if (!mtm_is_array(found))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("field \"items\" of a paging object must be an array"),
				 errdetail("Found a JSON %s in field \"items\" of the payload.",
						   mtm_jsonb_type_name(found))));

	{
		JsonbValue	ov;
		JsonbValue *off = mtm_field(&payload->root, "offset", &ov);

		if (off != NULL && off->type != jbvNull &&
			(!mtm_numeric_int32(off, offset) || *offset < 0 ||
			 *offset > MTM_MAX_RANK - 1))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("field \"offset\" of a paging object must be a whole number between 0 and %d",
							MTM_MAX_RANK - 1),
					 errdetail("Found %s in field \"offset\" of the payload.",
							   off->type == jbvNumeric ?
							   DatumGetCString(DirectFunctionCall1(numeric_out,
																   NumericGetDatum(off->val.numeric))) :
							   psprintf("a JSON %s", mtm_jsonb_type_name(off)))));
	}
	return found->val.binary.data;
}

static int
CompareEntryByTrack(const void *a, const void *b)
{
	const PageEntry *x = a;
	const PageEntry *y = b;
	int			c = strcmp(x->row.track_id, y->row.track_id);

	return c != 0 ? c : (x->rank > y->rank) - (x->rank < y->rank);
}

/*
 * Check every item and collect the ones to chart, sorted by track_id with
 * each track once (its best rank).  Null items, local files and repeated
 * tracks are skipped and noted; their ranks stay empty, so later ranks keep
 * their positions.  Anything else malformed is an error naming the item.
 */
static PageEntry *
CollectEntries(JsonbContainer *items, int32 offset, PageSummary *sum, int *count)
{
	int			n = JsonContainerSize(items);
	PageEntry  *entries = palloc(sizeof(PageEntry) * Max(n, 1));
	JsonbIterator *it = JsonbIteratorInit(items);
	JsonbIteratorToken tok;
	JsonbValue	v;
	int			item = 0;
	int			kept = 0;
	int			unique = 0;

	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		MtmWhere	where;
		int32		rank;

		if (tok != WJB_ELEM)
			continue;
		CHECK_FOR_INTERRUPTS();
		where.item = item;
		rank = offset + item + 1;

		if (v.type == jbvNull)
			NoteSkipped(sum, item, rank, "null item");
		else
		{
			Jsonb	   *track = JsonbValueToJsonb(&v);
			JsonbValue	lv;
			JsonbValue *is_local = mtm_is_object(&v) ?
				mtm_field(v.val.binary.data, "is_local", &lv) : NULL;

			if (is_local && is_local->type == jbvBool && is_local->val.boolean)
				NoteSkipped(sum, item, rank, "local file");
			else
			{
				entries[kept].item = item;
				entries[kept].rank = rank;
				mtm_parse_track(track, &where, &entries[kept].row);
				kept++;
			}
		}
		item++;
	}

	/* One entry per track: the best (lowest) rank wins. */
	qsort(entries, kept, sizeof(PageEntry), CompareEntryByTrack);
	for (int i = 0; i < kept; i++)
	{
		if (unique > 0 &&
			strcmp(entries[unique - 1].row.track_id, entries[i].row.track_id) == 0)
		{
			NoteSkipped(sum, entries[i].item, entries[i].rank,
						psprintf("duplicate of items[%d]", entries[unique - 1].item));
			continue;
		}
		entries[unique++] = entries[i];
	}
	*count = unique;
	return entries;
}

/*
 * Step 1: store the page's tracks (track_store.c: one read of their stored
 * hashes, one upsert of the new and changed ones).
 */
static void
StoreTracks(PageEntry *entries, int n, TimestampTz now, PageSummary *sum)
{
	MtmTrackRow *rows = palloc(sizeof(MtmTrackRow) * Max(n, 1));
	MtmTrackCounts counts = {0};

	/* entries are sorted by track_id with each id once, as rows must be */
	for (int i = 0; i < n; i++)
		rows[i] = entries[i].row;
	mtm_store_tracks(rows, n, now, MTM_STORE_UPSERT, &counts);
	sum->tracks_inserted += counts.inserted;
	sum->tracks_updated += counts.updated;
	sum->tracks_unchanged += counts.unchanged;
}

/* The page to apply to the stored chart, and the summary to count in. */
typedef struct PageEdit
{
	PageEntry  *entries;		/* sorted by track_id */
	int			n;
	int32		lo;				/* the page's rank range */
	int32		hi;
	PageSummary *sum;
} PageEdit;

/* A stored slot, for finding a page track in the stored chart. */
typedef struct StoredSlot
{
	char	   *track_id;
	int32		rank;
} StoredSlot;

static int
CompareSlotByTrack(const void *a, const void *b)
{
	return strcmp(((const StoredSlot *) a)->track_id,
				  ((const StoredSlot *) b)->track_id);
}

/*
 * Step 2 (a chart edit, see chart_store.h): the page replaces ranks lo..hi.
 * Stored tracks of that range that the page no longer has are removed; page
 * tracks are put at their ranks, and one that stood elsewhere in the chart
 * moves (a track is on a chart once).  Counts what changed, entry by entry.
 */
static void
ApplyPage(const MtmSlots *stored, bool exists, MtmSlots *result, void *arg)
{
	PageEdit   *pe = arg;
	PageSummary *sum = pe->sum;
	StoredSlot *slots = palloc(sizeof(StoredSlot) * Max(stored->n, 1));
	int			nslots = 0;
	bool	   *kept = palloc0(sizeof(bool) * Max(stored->n, 1));

	sum->entries_inserted = sum->entries_updated = 0;
	sum->entries_removed = sum->entries_unchanged = 0;

	for (int r = 1; r <= stored->n; r++)
	{
		if (stored->ids[r - 1] == NULL)
			continue;
		slots[nslots].track_id = stored->ids[r - 1];
		slots[nslots].rank = r;
		nslots++;
		if (r < pe->lo || r > pe->hi)
			mtm_slots_set(result, r, stored->ids[r - 1], stored->playable[r - 1]);
	}
	qsort(slots, nslots, sizeof(StoredSlot), CompareSlotByTrack);

	for (int j = 0; j < pe->n; j++)
	{
		PageEntry  *e = &pe->entries[j];
		StoredSlot	key = {e->row.track_id, 0};
		StoredSlot *hit = bsearch(&key, slots, nslots, sizeof(StoredSlot),
								  CompareSlotByTrack);

		CHECK_FOR_INTERRUPTS();
		if (hit == NULL)
			sum->entries_inserted++;
		else
		{
			kept[hit->rank - 1] = true;
			if (hit->rank == e->rank &&
				mtm_same_string(stored->playable[hit->rank - 1], e->row.playable_id))
				sum->entries_unchanged++;
			else
				sum->entries_updated++;
			/* it moves: its old rank, outside the page's range, empties */
			if (hit->rank < pe->lo || hit->rank > pe->hi)
				mtm_slots_set(result, hit->rank, NULL, NULL);
		}
	}
	for (int r = pe->lo; r <= Min(pe->hi, stored->n); r++)
		if (stored->ids[r - 1] != NULL && !kept[r - 1])
			sum->entries_removed++;
	for (int j = 0; j < pe->n; j++)
		mtm_slots_set(result, pe->entries[j].rank, pe->entries[j].row.track_id,
					  pe->entries[j].row.playable_id);
}

/*
 * record_top_tracks(time_range music_tm.time_range, payload jsonb,
 *					 snapshot_date date, listener text, record_empty boolean)
 *
 * Store one GET /v1/me/top/tracks page: its tracks and its rank range of the
 * listener's chart of that range and date.  Returns what it did.
 *
 * A page with no items at all is what Spotify sends for a listener with
 * little history, and also what a transient failure can look like; an empty
 * chart would end every track's run on that date.  So by default it records
 * nothing and says so; with record_empty it records that the chart has no
 * tracks from the page's offset on.
 */
Datum
record_top_tracks(PG_FUNCTION_ARGS)
{
	TupleDesc	tupdesc;
	Jsonb	   *payload;
	JsonbContainer *items;
	int32		offset;
	int			nitems;
	PageEntry  *entries;
	int			n;
	PageSummary sum;
	MtmSeries	series;
	MtmSlots	stored;
	PageEdit	edit;
	bool		exists;
	TimestampTz now = GetCurrentTransactionStartTimestamp();
	Datum		values[10];
	bool		nulls[10] = {false};
	bool		record_empty;

	/* 1.x declared four arguments: its SQL with this library is a 2.0 bug */
	if (PG_NARGS() < 5)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("music_tm's installed SQL objects are older than its library"),
				 errdetail("The library is music_tm 2.0; this database's extension is an older version."),
				 errhint("Run ALTER EXTENSION music_tm UPDATE.")));
	mtm_require_top_range(fcinfo, 0, "record_top_tracks");
	mtm_require_arg(fcinfo, 1, "payload");
	mtm_require_arg(fcinfo, 2, "snapshot_date");
	mtm_require_arg(fcinfo, 3, "listener");
	mtm_require_arg(fcinfo, 4, "record_empty");
	record_empty = PG_GETARG_BOOL(4);

	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");

	if (DATE_NOT_FINITE(PG_GETARG_DATEADT(2)))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("snapshot_date must be a finite date")));
	if (VARSIZE_ANY_EXHDR(PG_GETARG_TEXT_PP(3)) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("listener must not be empty")));

	/* the byte cap is checked before the payload is detoasted */
	mtm_check_payload_size(PG_GETARG_DATUM(1), MTM_MAX_PAGE_BYTES, NULL);

	payload = PG_GETARG_JSONB_P(1);
	items = PageItems(payload, &offset);
	nitems = JsonContainerSize(items);
	if (nitems > MTM_MAX_PAGE_ITEMS)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("payload has too many items"),
				 errdetail("The payload has %d items; the limit is %d.",
						   nitems, MTM_MAX_PAGE_ITEMS)));
	if (offset + nitems > MTM_MAX_RANK)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("page would chart ranks past %d", MTM_MAX_RANK),
				 errdetail("Offset %d with %d items reaches rank %d.",
						   offset, nitems, offset + nitems)));

	memset(&sum, 0, sizeof(sum));
	pushJsonbValue(&sum.skipped, WJB_BEGIN_ARRAY, NULL);
	entries = CollectEntries(items, offset, &sum, &n);

	if (nitems == 0 && !record_empty)
		sum.chart = "empty page: not recorded";
	else
	{
		SPI_connect();
		series.listener = PG_GETARG_DATUM(3);
		series.range = PG_GETARG_DATUM(0);
		series.range_type = get_fn_expr_argtype(fcinfo->flinfo, 0);
		series.tallies = false;

		exists = mtm_chart_lock(&series, PG_GETARG_DATUM(2), &stored);
		if (n > 0)
			StoreTracks(entries, n, now, &sum);
		edit.entries = entries;
		edit.n = n;
		edit.lo = offset + 1;
		edit.hi = nitems > 0 ? offset + nitems : MTM_MAX_RANK;
		edit.sum = &sum;
		switch (mtm_chart_write(&series, PG_GETARG_DATUM(2), now, exists,
								&stored, ApplyPage, &edit))
		{
			case MTM_CHART_CREATED:
				sum.chart = "created";
				break;
			case MTM_CHART_CHANGED:
				sum.chart = "changed";
				break;
			case MTM_CHART_UNCHANGED:
				sum.chart = "unchanged";
				break;
		}
		SPI_finish();
	}

	values[0] = Int64GetDatum(sum.tracks_inserted);
	values[1] = Int64GetDatum(sum.tracks_updated);
	values[2] = Int64GetDatum(sum.tracks_unchanged);
	values[3] = Int64GetDatum(sum.entries_inserted);
	values[4] = Int64GetDatum(sum.entries_updated);
	values[5] = Int64GetDatum(sum.entries_removed);
	values[6] = Int64GetDatum(sum.entries_unchanged);
	values[7] = Int64GetDatum(sum.items_skipped);
	values[8] = JsonbPGetDatum(JsonbValueToJsonb(pushJsonbValue(&sum.skipped,
																WJB_END_ARRAY, NULL)));
	values[9] = CStringGetTextDatum(sum.chart);
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(BlessTupleDesc(tupdesc),
													  values, nulls)));
}
