/*
 * ingest_page.c
 *		record_top_tracks: a whole Spotify top-tracks page in one call.
 *
 * One call checks every item first, then writes in three steps, each one
 * set-based statement over arrays (unnest in the target list, which streams
 * rows where unnest in FROM would first store them), so the cost per page is a handful
 * of statements whatever its length:
 *
 *	1. tracks: read the stored content hashes of the page's tracks, then
 *	   upsert only the new or changed ones.  An unchanged track costs a read
 *	   and never a write (on Citus, where tracks is a reference table, a write
 *	   would be a two-phase commit on every node).
 *	2. the chart header row (listener, time_range, snapshot_date): created, or
 *	   locked if it exists, in one INSERT ... ON CONFLICT DO UPDATE ... WHERE
 *	   false (a row the WHERE clause rejects is still locked, and no new row
 *	   version is written).  Writers of one chart take turns here, so each
 *	   computes its change against the committed chart of the one before;
 *	   readers are never blocked (MVCC: a reader's statement sees the old
 *	   chart or the new one, never a mix).
 *	3. the entries: for a chart just created, one plain INSERT (no entry can
 *	   exist without its header row); otherwise read the chart, compare in C,
 *	   delete the entries of the page's rank range that the page no longer
 *	   has, and upsert the new and the changed ones.  Identical entries are
 *	   left alone.
 *
 * A first recording of a page so costs four statements, a replay three.
 *
 * Deadlocks: every statement that takes row locks visits its rows in one
 * fixed order (track_id), and every call takes its locks in the same order
 * of tables: tracks, then charts, then chart_entries.
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

/* One entry of the stored chart. */
typedef struct StoredEntry
{
	char	   *track_id;
	int32		rank;
	char	   *playable_id;
} StoredEntry;

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
} PageSummary;

/*
 * Plans kept for the life of the backend.  Those that take the time_range
 * enum are tied to its OID and made anew when the extension was re-created.
 */
enum
{
	PLAN_TRACK_HASHES,
	PLAN_TRACK_UPSERT,
	PLAN_CHART_CREATE_OR_LOCK,
	PLAN_CHART_READ,
	PLAN_ENTRY_DELETE,
	PLAN_ENTRY_INSERT,
	PLAN_ENTRY_UPSERT,
	NUM_PLANS
};
static SPIPlanPtr plans[NUM_PLANS];
static Oid	plans_range_type = InvalidOid;

static void
PreparePlans(Oid range_type)
{
	Oid			t_hashes[1] = {TEXTARRAYOID};
	Oid			t_upsert[9] = {TEXTARRAYOID, TEXTARRAYOID, TEXTARRAYOID,
		TEXTARRAYOID, INT4ARRAYOID, TEXTARRAYOID, JSONBARRAYOID, INT8ARRAYOID,
	TIMESTAMPTZOID};
	Oid			t_chart[3] = {TEXTOID, range_type, DATEOID};
	Oid			t_create[4] = {TEXTOID, range_type, DATEOID, TIMESTAMPTZOID};
	Oid			t_delete[6] = {TEXTOID, range_type, DATEOID, TEXTARRAYOID,
	INT4OID, INT4OID};
	Oid			t_entries[6] = {TEXTOID, range_type, DATEOID, TEXTARRAYOID,
	INT4ARRAYOID, TEXTARRAYOID};

	if (plans_range_type == range_type)
		return;
	for (int i = 0; i < NUM_PLANS; i++)
	{
		if (plans[i])
			SPI_freeplan(plans[i]);
		plans[i] = NULL;
	}
	plans_range_type = InvalidOid;

	plans[PLAN_TRACK_HASHES] = mtm_prepare_kept(
		"SELECT track_id, content_hash FROM music_tm.tracks"
		" WHERE track_id OPERATOR(pg_catalog.=) ANY ($1)", 1, t_hashes);
	plans[PLAN_TRACK_UPSERT] = mtm_prepare_kept(
		MTM_TRACK_INSERT
		" SELECT pg_catalog.unnest($1), pg_catalog.unnest($2),"
		"  pg_catalog.unnest($3), pg_catalog.unnest($4), pg_catalog.unnest($5),"
		"  pg_catalog.unnest($6), pg_catalog.unnest($7), pg_catalog.unnest($8), $9, $9"
		MTM_TRACK_ON_CONFLICT, 9, t_upsert);
	plans[PLAN_CHART_CREATE_OR_LOCK] = mtm_prepare_kept(
		"INSERT INTO music_tm.charts AS c"
		" (listener, time_range, snapshot_date, recorded_at)"
		" VALUES ($1, $2, $3, $4)"
		" ON CONFLICT (listener, time_range, snapshot_date)"
		" DO UPDATE SET recorded_at = c.recorded_at WHERE false"
		" RETURNING true", 4, t_create);
	plans[PLAN_CHART_READ] = mtm_prepare_kept(
		"SELECT track_id, rank, playable_id FROM music_tm.chart_entries"
		" WHERE listener OPERATOR(pg_catalog.=) $1"
		"   AND time_range OPERATOR(pg_catalog.=) $2"
		"   AND snapshot_date OPERATOR(pg_catalog.=) $3", 3, t_chart);
	plans[PLAN_ENTRY_DELETE] = mtm_prepare_kept(
		"DELETE FROM music_tm.chart_entries"
		" WHERE listener OPERATOR(pg_catalog.=) $1"
		"   AND time_range OPERATOR(pg_catalog.=) $2"
		"   AND snapshot_date OPERATOR(pg_catalog.=) $3"
		"   AND track_id OPERATOR(pg_catalog.=) ANY ($4)"
		"   AND rank OPERATOR(pg_catalog.>=) $5"
		"   AND rank OPERATOR(pg_catalog.<=) $6", 6, t_delete);
	plans[PLAN_ENTRY_INSERT] = mtm_prepare_kept(
		"INSERT INTO music_tm.chart_entries"
		" (listener, time_range, snapshot_date, track_id, rank, playable_id)"
		" SELECT $1, $2, $3, pg_catalog.unnest($4), pg_catalog.unnest($5),"
		"  pg_catalog.unnest($6)", 6, t_entries);
	plans[PLAN_ENTRY_UPSERT] = mtm_prepare_kept(
		"INSERT INTO music_tm.chart_entries AS e"
		" (listener, time_range, snapshot_date, track_id, rank, playable_id)"
		" SELECT $1, $2, $3, pg_catalog.unnest($4), pg_catalog.unnest($5),"
		"  pg_catalog.unnest($6)"
		" ON CONFLICT (listener, time_range, track_id, snapshot_date)"
		" DO UPDATE SET rank = EXCLUDED.rank, playable_id = EXCLUDED.playable_id"
		" WHERE (e.rank, e.playable_id) IS DISTINCT FROM"
		"       (EXCLUDED.rank, EXCLUDED.playable_id)"
		" RETURNING e.xmax OPERATOR(pg_catalog.=) 0", 6, t_entries);
	plans_range_type = range_type;
}

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

/* bsearch key comparison: a PageEntry by track_id alone. */
static int
CompareEntryKey(const void *a, const void *b)
{
	return strcmp(((const PageEntry *) a)->row.track_id,
				  ((const PageEntry *) b)->row.track_id);
}

static int
CompareStoredByTrack(const void *a, const void *b)
{
	return strcmp(((const StoredEntry *) a)->track_id,
				  ((const StoredEntry *) b)->track_id);
}

static bool
SameString(const char *a, const char *b)
{
	return (a == NULL && b == NULL) || (a && b && strcmp(a, b) == 0);
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
 * Step 1: store the page's tracks.  Reads the stored hashes of all of them in
 * one statement, then upserts the new and changed ones in one statement, in
 * track_id order.
 */
static void
StoreTracks(PageEntry *entries, int n, TimestampTz now, PageSummary *sum)
{
	char	  **ids = palloc(sizeof(char *) * Max(n, 1));
	bool	   *send = palloc0(sizeof(bool) * Max(n, 1));
	Datum		args[9];
	int			nsend = 0;
	int			ret;

	for (int i = 0; i < n; i++)
		ids[i] = entries[i].row.track_id;
	args[0] = PointerGetDatum(mtm_text_array(ids, n));
	ret = SPI_execute_plan(plans[PLAN_TRACK_HASHES], args, NULL, true, 0);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "reading music_tm.tracks failed: %s", SPI_result_code_string(ret));

	/* Both lists are small (<= MTM_MAX_PAGE_ITEMS); mark what differs. */
	for (int i = 0; i < n; i++)
		send[i] = true;
	for (uint64 r = 0; r < SPI_processed; r++)
	{
		bool		isnull;
		char	   *id = SPI_getvalue(SPI_tuptable->vals[r], SPI_tuptable->tupdesc, 1);
		int64		hash = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[r],
													   SPI_tuptable->tupdesc, 2, &isnull));
		PageEntry	key;
		PageEntry  *hit;

		key.row.track_id = id;
		key.rank = 0;
		hit = bsearch(&key, entries, n, sizeof(PageEntry), CompareEntryKey);
		if (hit && hit->row.content_hash == hash)
			send[hit - entries] = false;
	}

	{
		char	  **names = palloc(sizeof(char *) * Max(n, 1));
		char	  **artists = palloc(sizeof(char *) * Max(n, 1));
		char	  **albums = palloc(sizeof(char *) * Max(n, 1));
		char	  **urls = palloc(sizeof(char *) * Max(n, 1));
		Datum	   *durations = palloc(sizeof(Datum) * Max(n, 1));
		bool	   *duration_nulls = palloc(sizeof(bool) * Max(n, 1));
		Datum	   *raws = palloc(sizeof(Datum) * Max(n, 1));
		Datum	   *hashes = palloc(sizeof(Datum) * Max(n, 1));
		int			dims[1];
		int			lbs[1] = {1};

		for (int i = 0; i < n; i++)
		{
			MtmTrackRow *row = &entries[i].row;

			if (!send[i])
				continue;
			ids[nsend] = row->track_id;
			names[nsend] = row->name;
			artists[nsend] = row->artist_name;
			albums[nsend] = row->album_name;
			urls[nsend] = row->spotify_url;
			durations[nsend] = Int32GetDatum(row->duration_ms);
			duration_nulls[nsend] = !row->has_duration;
			raws[nsend] = JsonbPGetDatum(row->raw_json);
			hashes[nsend] = Int64GetDatum(row->content_hash);
			nsend++;
		}
		sum->tracks_unchanged += n - nsend;
		if (nsend == 0)
			return;

		dims[0] = nsend;
		args[0] = PointerGetDatum(mtm_text_array(ids, nsend));
		args[1] = PointerGetDatum(mtm_text_array(names, nsend));
		args[2] = PointerGetDatum(mtm_text_array(artists, nsend));
		args[3] = PointerGetDatum(mtm_text_array(albums, nsend));
		args[4] = PointerGetDatum(construct_md_array(durations, duration_nulls, 1,
													 dims, lbs, INT4OID, 4, true,
													 TYPALIGN_INT));
		args[5] = PointerGetDatum(mtm_text_array(urls, nsend));
		args[6] = PointerGetDatum(construct_array(raws, nsend, JSONBOID, -1,
												  false, TYPALIGN_INT));
		args[7] = PointerGetDatum(construct_array(hashes, nsend, INT8OID, 8,
												  FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
		args[8] = TimestampTzGetDatum(now);
	}

	{
		MtmTrackWriter writer;

		mtm_track_write_begin(&writer);
		ret = SPI_execute_plan(plans[PLAN_TRACK_UPSERT], args, NULL, false, 0);
		mtm_track_write_end(&writer);
	}
	if (ret != SPI_OK_INSERT_RETURNING)
		elog(ERROR, "writing music_tm.tracks failed: %s", SPI_result_code_string(ret));
	for (uint64 r = 0; r < SPI_processed; r++)
	{
		bool		isnull;

		if (DatumGetBool(SPI_getbinval(SPI_tuptable->vals[r],
									   SPI_tuptable->tupdesc, 1, &isnull)))
			sum->tracks_inserted++;
		else
			sum->tracks_updated++;
	}
	/* a concurrent writer stored the same object first: nothing written */
	sum->tracks_unchanged += nsend - SPI_processed;
}

/*
 * Step 2: create the chart's header row, or lock it if it exists, so that
 * writers of one chart take turns.  The lock (FOR NO KEY UPDATE strength)
 * leaves the row version in place and does not block the foreign-key checks
 * of entries.  Returns true when the row was created by this call.
 */
static bool
CreateOrLockChart(Datum *chart, TimestampTz now)
{
	Datum		args[4] = {chart[0], chart[1], chart[2], TimestampTzGetDatum(now)};
	int			ret = SPI_execute_plan(plans[PLAN_CHART_CREATE_OR_LOCK], args,
									   NULL, false, 0);

	if (ret != SPI_OK_INSERT_RETURNING)
		elog(ERROR, "writing music_tm.charts failed: %s", SPI_result_code_string(ret));
	return SPI_processed == 1;
}

/* The rows of a chart read (track_id, rank, playable_id), sorted by track_id. */
static StoredEntry *
ReadStored(SPITupleTable *table, uint64 n)
{
	StoredEntry *stored = palloc(sizeof(StoredEntry) * Max(n, 1));

	for (uint64 i = 0; i < n; i++)
	{
		HeapTuple	tup = table->vals[i];
		bool		isnull;

		stored[i].track_id = SPI_getvalue(tup, table->tupdesc, 1);
		stored[i].rank = DatumGetInt32(SPI_getbinval(tup, table->tupdesc, 2, &isnull));
		stored[i].playable_id = SPI_getvalue(tup, table->tupdesc, 3);
	}
	qsort(stored, n, sizeof(StoredEntry), CompareStoredByTrack);
	return stored;
}

static bool
SameEntries(StoredEntry *a, uint64 na, StoredEntry *b, uint64 nb)
{
	if (na != nb)
		return false;
	for (uint64 i = 0; i < na; i++)
		if (strcmp(a[i].track_id, b[i].track_id) != 0 || a[i].rank != b[i].rank ||
			!SameString(a[i].playable_id, b[i].playable_id))
			return false;
	return true;
}

/*
 * Step 3: bring the chart's entries of ranks lo..hi in line with the page.
 * Stored entries of that range whose track is not on the page are removed;
 * page entries are inserted, or updated when their rank or playable id
 * changed; identical ones are not touched.  A page track that stood at a rank
 * outside the range moves to its new rank.
 */
static void
StoreEntries(Datum *chart, bool new_chart, PageEntry *entries, int n,
			 int32 lo, int32 hi, PageSummary *sum)
{
	StoredEntry *stored;
	uint64		nstored;
	char	  **del = NULL;
	int			ndel = 0;
	char	  **up_ids = palloc(sizeof(char *) * Max(n, 1));
	char	  **up_playable = palloc(sizeof(char *) * Max(n, 1));
	Datum	   *up_ranks = palloc(sizeof(Datum) * Max(n, 1));
	int			nup = 0;
	uint64		i;
	int			j;
	int			ret;

	/* a chart just created has no entries: no need to read them */
	if (new_chart)
		nstored = 0;
	else
	{
		ret = SPI_execute_plan(plans[PLAN_CHART_READ], chart, NULL, false, 0);
		if (ret != SPI_OK_SELECT)
			elog(ERROR, "reading music_tm.chart_entries failed: %s",
				 SPI_result_code_string(ret));
		nstored = SPI_processed;
	}
	stored = ReadStored(SPI_tuptable, nstored);

	/*
	 * Under REPEATABLE READ or SERIALIZABLE our snapshot may predate the
	 * commit of the writer we waited for at the chart lock; a change
	 * computed against that old chart would mix the two.  Compare with the
	 * latest committed chart and fail as a serialization error if it moved.
	 */
	if (!new_chart && IsolationUsesXactSnapshot())
	{
		StoredEntry *latest;
		uint64		nlatest;

		ret = SPI_execute_snapshot(plans[PLAN_CHART_READ], chart, NULL,
								   GetLatestSnapshot(), InvalidSnapshot,
								   true, false, 0);
		if (ret != SPI_OK_SELECT)
			elog(ERROR, "reading music_tm.chart_entries failed: %s",
				 SPI_result_code_string(ret));
		nlatest = SPI_processed;
		latest = ReadStored(SPI_tuptable, nlatest);
		if (!SameEntries(stored, nstored, latest, nlatest))
			ereport(ERROR,
					(errcode(ERRCODE_T_R_SERIALIZATION_FAILURE),
					 errmsg("could not serialize access due to concurrent update of the chart"),
					 errdetail("Another transaction changed this chart after this transaction's snapshot was taken."),
					 errhint("Retry the transaction, or record pages in READ COMMITTED.")));
	}

	del = palloc(sizeof(char *) * Max(nstored, 1));

	/* merge the two lists, both sorted by track_id */
	for (i = 0, j = 0; i < nstored || j < n;)
	{
		int			c;

		CHECK_FOR_INTERRUPTS();
		if (i >= nstored)
			c = 1;
		else if (j >= n)
			c = -1;
		else
			c = strcmp(stored[i].track_id, entries[j].row.track_id);

		if (c < 0)
		{
			if (stored[i].rank >= lo && stored[i].rank <= hi)
				del[ndel++] = stored[i].track_id;
			i++;
			continue;
		}
		if (c == 0 && stored[i].rank == entries[j].rank &&
			SameString(stored[i].playable_id, entries[j].row.playable_id))
			sum->entries_unchanged++;
		else
		{
			up_ids[nup] = entries[j].row.track_id;
			up_ranks[nup] = Int32GetDatum(entries[j].rank);
			up_playable[nup] = entries[j].row.playable_id;
			nup++;
		}
		if (c == 0)
			i++;
		j++;
	}

	if (ndel > 0)
	{
		Datum		args[6] = {chart[0], chart[1], chart[2],
			PointerGetDatum(mtm_text_array(del, ndel)),
		Int32GetDatum(lo), Int32GetDatum(hi)};

		ret = SPI_execute_plan(plans[PLAN_ENTRY_DELETE], args, NULL, false, 0);
		if (ret != SPI_OK_DELETE)
			elog(ERROR, "deleting from music_tm.chart_entries failed: %s",
				 SPI_result_code_string(ret));
		sum->entries_removed += SPI_processed;
	}
	if (nup > 0)
	{
		int			dims[1] = {nup};
		int			lbs[1] = {1};
		Datum		args[6] = {chart[0], chart[1], chart[2],
			PointerGetDatum(mtm_text_array(up_ids, nup)),
			PointerGetDatum(construct_md_array(up_ranks, NULL, 1, dims, lbs,
											   INT4OID, 4, true, TYPALIGN_INT)),
		PointerGetDatum(mtm_text_array(up_playable, nup))};

		if (new_chart)
		{
			/* nobody else can add entries to a chart row we hold uncommitted */
			ret = SPI_execute_plan(plans[PLAN_ENTRY_INSERT], args, NULL, false, 0);
			if (ret != SPI_OK_INSERT)
				elog(ERROR, "writing music_tm.chart_entries failed: %s",
					 SPI_result_code_string(ret));
			sum->entries_inserted += SPI_processed;
			return;
		}
		ret = SPI_execute_plan(plans[PLAN_ENTRY_UPSERT], args, NULL, false, 0);
		if (ret != SPI_OK_INSERT_RETURNING)
			elog(ERROR, "writing music_tm.chart_entries failed: %s",
				 SPI_result_code_string(ret));
		for (i = 0; i < SPI_processed; i++)
		{
			bool		isnull;

			if (DatumGetBool(SPI_getbinval(SPI_tuptable->vals[i],
										   SPI_tuptable->tupdesc, 1, &isnull)))
				sum->entries_inserted++;
			else
				sum->entries_updated++;
		}
		sum->entries_unchanged += nup - SPI_processed;
	}
}

/*
 * record_top_tracks(time_range music_tm.time_range, payload jsonb,
 *					 snapshot_date date, listener text)
 *
 * Store one GET /v1/me/top/tracks page: its tracks and its rank range of the
 * listener's chart of that range and date.  Returns what it did.
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
	Datum		chart[3];
	TimestampTz now = GetCurrentTransactionStartTimestamp();
	Datum		values[9];
	bool		nulls[9] = {false};
	Size		size;
	bool		new_chart;

	mtm_require_arg(fcinfo, 0, "time_range");
	mtm_require_arg(fcinfo, 1, "payload");
	mtm_require_arg(fcinfo, 2, "snapshot_date");
	mtm_require_arg(fcinfo, 3, "listener");

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
	size = toast_raw_datum_size(PG_GETARG_DATUM(1)) - VARHDRSZ;
	if (size > MTM_MAX_PAGE_BYTES)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("payload is too large"),
				 errdetail("The payload has %zu bytes; the limit is %d.",
						   size, MTM_MAX_PAGE_BYTES)));

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

	SPI_connect();
	PreparePlans(get_fn_expr_argtype(fcinfo->flinfo, 0));
	chart[0] = PG_GETARG_DATUM(3);
	chart[1] = PG_GETARG_DATUM(0);
	chart[2] = PG_GETARG_DATUM(2);

	if (n > 0)
		StoreTracks(entries, n, now, &sum);
	new_chart = CreateOrLockChart(chart, now);
	if (nitems > 0)
		StoreEntries(chart, new_chart, entries, n, offset + 1, offset + nitems, &sum);
	SPI_finish();

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
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(BlessTupleDesc(tupdesc),
													  values, nulls)));
}
