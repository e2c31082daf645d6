/*
 * track_store.c
 *		Storing Spotify track objects: checking one and pulling out its
 *		columns (mtm_parse_track), and storing a batch of them
 *		(mtm_store_tracks), for record_top_tracks and the plays family.
 *
 * A batch costs one read of the stored content hashes of all its tracks and
 * then one upsert of only the new or changed ones: an unchanged track is
 * never written (on Citus, where tracks is a reference table, a write is a
 * two-phase commit on every node).  The upsert is multi-row VALUES, up to
 * UPSERT_CHUNK rows with a kept plan per row count, a statement that Citus
 * routes and counts like a single-row one (for INSERT ... SELECT with ON
 * CONFLICT DO UPDATE ... WHERE it counts the rows sent, not the rows
 * written, and SPI's tuple count check fails).
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "lib/stringinfo.h"
#include "utils/builtins.h"
#include "utils/snapmgr.h"

#include "common.h"
#include "track_store.h"

/* Raise the error for a field of a track object that has the wrong type. */
static void
FieldTypeError(const MtmWhere *where, const char *field, const char *expected,
			   const JsonbValue *got)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("field \"%s\" of a track object must be %s", field, expected),
			 errdetail("Found a JSON %s in field \"%s\" of %s.",
					   mtm_jsonb_type_name(got), field, mtm_where_desc(where))));
}

/* A string field that may be absent or JSON null (NULL then). */
static char *
OptionalString(JsonbContainer *obj, const char *key, const char *field,
			   const MtmWhere *where)
{
	JsonbValue	v;
	JsonbValue *found = mtm_field(obj, key, &v);

	if (found == NULL || found->type == jbvNull)
		return NULL;
	if (found->type != jbvString)
		FieldTypeError(where, field, "a string", found);
	return mtm_string_or_null(found);
}

/* An object field that may be absent or JSON null (NULL then). */
static JsonbContainer *
OptionalObject(JsonbContainer *obj, const char *key, const char *field,
			   const MtmWhere *where, JsonbValue *scratch)
{
	JsonbValue *found = mtm_field(obj, key, scratch);

	if (found == NULL || found->type == jbvNull)
		return NULL;
	if (!mtm_is_object(found))
		FieldTypeError(where, field, "an object", found);
	return found->val.binary.data;
}

/* A required, non-empty string field such as "id" or "linked_from.id". */
static char *
RequiredId(JsonbContainer *obj, const char *field, const MtmWhere *where)
{
	JsonbValue	v;
	JsonbValue *found = mtm_field(obj, "id", &v);

	if (found == NULL || found->type == jbvNull)
	{
		JsonbValue	local;
		JsonbValue *is_local = mtm_field(obj, "is_local", &local);
		bool		local_file = is_local && is_local->type == jbvBool &&
			is_local->val.boolean;

		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("track object has no \"%s\"", field),
				 errdetail("Field \"%s\" of %s is %s.", field,
						   mtm_where_desc(where), found ? "null" : "missing"),
				 local_file ?
				 errhint("Local files (\"is_local\": true) have no Spotify id and cannot be stored as tracks.") : 0));
	}
	if (found->type != jbvString)
		FieldTypeError(where, field, "a string", found);
	if (found->val.string.len == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("field \"%s\" of a track object must not be empty", field),
				 errdetail("Field \"%s\" of %s is \"\".", field,
						   mtm_where_desc(where))));
	return mtm_string_or_null(found);
}

/*
 * Check a track object and pull out the columns of music_tm.tracks.
 * Required: a non-empty string "id" and a string "name".  Optional, but typed
 * when present: linked_from (object with a non-empty string id), artists
 * (array of objects), album (object), duration_ms (a whole number
 * 0..2^31-1) and external_urls (object).
 *
 * A relinked track (Spotify swapped in a playable twin) is stored under
 * linked_from.id, the id that was asked for, so that one song keeps one row
 * and one chart history however often the playable id changes.
 */
static void ParseTrackColumns(MtmTrackRow *row);

void
mtm_parse_track(Jsonb *track, const MtmWhere *where, MtmTrackRow *row)
{
	mtm_parse_track_key(track, where, row);
	ParseTrackColumns(row);
}

/*
 * The first half of mtm_parse_track: the object's ids and content hash, all
 * that tells a stored track unchanged.  mtm_store_tracks checks and reads
 * the rest (ParseTrackColumns) of the rows it writes only: an object whose
 * hash is stored was checked when it was stored.
 */
void
mtm_parse_track_key(Jsonb *track, const MtmWhere *where, MtmTrackRow *row)
{
	JsonbContainer *obj = &track->root;
	JsonbValue	v;
	JsonbContainer *sub;

	if (!JB_ROOT_IS_OBJECT(track) || JB_ROOT_IS_SCALAR(track))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("a track must be a JSON object"),
				 errdetail("Found a JSON %s where %s should be.",
						   JB_ROOT_IS_SCALAR(track) ? "scalar" : "array",
						   mtm_where_desc(where))));

	memset(row, 0, sizeof(*row));
	row->where = *where;

	row->track_id = RequiredId(obj, "id", where);
	sub = OptionalObject(obj, "linked_from", "linked_from", where, &v);
	if (sub != NULL)
	{
		char	   *original = RequiredId(sub, "linked_from.id", where);

		if (strcmp(original, row->track_id) != 0)
		{
			row->playable_id = row->track_id;
			row->track_id = original;
		}
	}
	row->raw_json = track;
	row->content_hash = mtm_jsonb_hash(track);
}

/* The second half: the columns, each checked (row->parsed after). */
static void
ParseTrackColumns(MtmTrackRow *row)
{
	JsonbContainer *obj = &row->raw_json->root;
	const MtmWhere *where = &row->where;
	JsonbValue	v;
	JsonbValue *found;
	JsonbContainer *sub;

	if (row->parsed)
		return;
	found = mtm_field(obj, "name", &v);
	if (found == NULL || found->type == jbvNull)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("track object has no \"name\""),
				 errdetail("Field \"name\" of %s is %s.", mtm_where_desc(where),
						   found ? "null" : "missing")));
	if (found->type != jbvString)
		FieldTypeError(where, "name", "a string", found);
	row->name = mtm_string_or_null(found);

	/* artists[0].name */
	found = mtm_field(obj, "artists", &v);
	if (found != NULL && found->type != jbvNull)
	{
		JsonbValue *first;

		if (!mtm_is_array(found))
			FieldTypeError(where, "artists", "an array", found);
		first = getIthJsonbValueFromContainer(found->val.binary.data, 0);
		if (first != NULL && first->type != jbvNull)
		{
			if (!mtm_is_object(first))
				FieldTypeError(where, "artists[0]", "an object", first);
			row->artist_name = OptionalString(first->val.binary.data, "name",
											  "artists[0].name", where);
		}
	}

	sub = OptionalObject(obj, "album", "album", where, &v);
	if (sub != NULL)
		row->album_name = OptionalString(sub, "name", "album.name", where);

	found = mtm_field(obj, "duration_ms", &v);
	if (found != NULL && found->type != jbvNull)
	{
		if (found->type != jbvNumeric)
			FieldTypeError(where, "duration_ms", "a number", found);
		if (!mtm_numeric_int32(found, &row->duration_ms) || row->duration_ms < 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("field \"duration_ms\" of a track object must be a whole number between 0 and 2147483647"),
					 errdetail("Found %s in field \"duration_ms\" of %s.",
							   DatumGetCString(DirectFunctionCall1(numeric_out,
																   NumericGetDatum(found->val.numeric))),
							   mtm_where_desc(where))));
		row->has_duration = true;
	}

	sub = OptionalObject(obj, "external_urls", "external_urls", where, &v);
	if (sub != NULL)
		row->spotify_url = OptionalString(sub, "spotify",
										  "external_urls.spotify", where);
	row->parsed = true;
}


#define UPSERT_CHUNK 64
#define UPSERT_COLS 8			/* parameters per row; then one for now() */

/* Plans kept for the life of the backend. */
static SPIPlanPtr hashes_plan;
static SPIPlanPtr recount_hashes_plan;
static SPIPlanPtr upsert_plans[UPSERT_CHUNK + 1];
static SPIPlanPtr stub_plans[UPSERT_CHUNK + 1];
static SPIPlanPtr recount_plans[UPSERT_CHUNK + 1];

/*
 * The kept statement storing rows tracks (1 <= rows <= UPSERT_CHUNK): the
 * upsert, or for stubs an insert that leaves a stored track alone.
 */
static SPIPlanPtr
UpsertPlan(int rows, MtmStoreMode mode)
{
	static const Oid row_types[UPSERT_COLS] = {TEXTOID, TEXTOID, TEXTOID,
	TEXTOID, INT4OID, TEXTOID, JSONBOID, INT8OID};
	int			nargs = rows * UPSERT_COLS + 1;
	StringInfoData sql;
	Oid		   *types;

	SPIPlanPtr *plans = mode == MTM_STORE_STUBS ? stub_plans :
		mode == MTM_STORE_RECOUNT ? recount_plans : upsert_plans;

	Assert(rows >= 1 && rows <= UPSERT_CHUNK);
	if (plans[rows] != NULL)
		return plans[rows];

	types = palloc(sizeof(Oid) * nargs);
	initStringInfo(&sql);
	appendStringInfoString(&sql, MTM_TRACK_INSERT " VALUES ");
	for (int r = 0; r < rows; r++)
	{
		appendStringInfoString(&sql, r > 0 ? ", (" : "(");
		for (int c = 0; c < UPSERT_COLS; c++)
		{
			appendStringInfo(&sql, "$%d, ", r * UPSERT_COLS + c + 1);
			types[r * UPSERT_COLS + c] = row_types[c];
		}
		appendStringInfo(&sql, "$%d, $%d)", nargs, nargs);
	}
	appendStringInfoString(&sql, mode == MTM_STORE_STUBS ? " ON CONFLICT (track_id) DO NOTHING"
						   : MTM_TRACK_ON_CONFLICT);
	/* what an update may have changed for the charts from plays */
	if (mode == MTM_STORE_RECOUNT)
		appendStringInfoString(&sql, ", t.track_id, t.isrc, t.duration_ms");
	types[nargs - 1] = TIMESTAMPTZOID;
	plans[rows] = mtm_prepare_kept(sql.data, nargs, types);
	pfree(sql.data);
	pfree(types);
	return plans[rows];
}


/* A text Datum, or a null one (*isnull = 'n') for a NULL string. */
static Datum
NullableText(const char *s, char *isnull)
{
	*isnull = s ? ' ' : 'n';
	return s ? CStringGetTextDatum(s) : (Datum) 0;
}

static int
CompareRowKey(const void *a, const void *b)
{
	return strcmp(((const MtmTrackRow *) a)->track_id,
				  ((const MtmTrackRow *) b)->track_id);
}

/*
 * Store a batch of parsed tracks: rows sorted by track_id (strcmp) with each
 * id once.  Reads the stored hashes of all of them in one statement, then
 * writes the new and changed ones, in track_id order, UPSERT_CHUNK a
 * statement.  With MTM_STORE_STUBS, rows are partial track objects made
 * from an export's names: written only where no track of that id is stored,
 * never replacing one (a real object stored meanwhile by another session
 * wins).  With MTM_STORE_RECOUNT, the stored ISRC and duration are read with
 * the hashes and the upsert returns the new ones, so that counts->recounted
 * tells the updates that changed them (recently-played: the charts from
 * plays count listens by them); pages need not pay for that.
 * Must be called inside SPI_connect.
 */
void
mtm_store_tracks(MtmTrackRow *rows, int n, TimestampTz now,
				 MtmStoreMode mode, MtmTrackCounts *counts)
{
	char	  **ids = palloc(sizeof(char *) * Max(n, 1));
	bool	   *send = palloc0(sizeof(bool) * Max(n, 1));
	const MtmTrackRow **sendable = palloc(sizeof(MtmTrackRow *) * Max(n, 1));
	Datum		args[1];
	int			nsend = 0;
	int			ret;
	bool		stubs_only = mode == MTM_STORE_STUBS;
	bool		recount = mode == MTM_STORE_RECOUNT;
	SPIPlanPtr	read_plan;

	if (n == 0)
		return;
	if (recount_hashes_plan == NULL)
	{
		Oid			t_hashes[1] = {TEXTARRAYOID};

		hashes_plan = mtm_prepare_kept(
			"SELECT track_id, content_hash FROM music_tm.tracks"
			" WHERE track_id OPERATOR(pg_catalog.=) ANY ($1)", 1, t_hashes);
		/* the last one made: an error while preparing leaves it NULL */
		recount_hashes_plan = mtm_prepare_kept(
			"SELECT track_id, content_hash, isrc, duration_ms FROM music_tm.tracks"
			" WHERE track_id OPERATOR(pg_catalog.=) ANY ($1)", 1, t_hashes);
	}
	read_plan = recount ? recount_hashes_plan : hashes_plan;
	for (int i = 0; i < n; i++)
		ids[i] = rows[i].track_id;
	args[0] = PointerGetDatum(mtm_text_array(ids, n));

	/*
	 * The latest snapshot, not the transaction's: under REPEATABLE READ a
	 * track deleted since the snapshot must be stored again, not trusted.
	 */
	ret = SPI_execute_snapshot(read_plan, args, NULL, GetLatestSnapshot(),
							   InvalidSnapshot, true, false, 0);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "reading music_tm.tracks failed: %s", SPI_result_code_string(ret));

	/* mark what differs from what is stored */
	for (int i = 0; i < n; i++)
		send[i] = true;
	for (uint64 r = 0; r < SPI_processed; r++)
	{
		bool		isnull;
		char	   *id = SPI_getvalue(SPI_tuptable->vals[r], SPI_tuptable->tupdesc, 1);
		int64		hash = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[r],
													   SPI_tuptable->tupdesc, 2, &isnull));
		MtmTrackRow key;
		const MtmTrackRow *hit;

		key.track_id = id;
		hit = bsearch(&key, rows, n, sizeof(MtmTrackRow), CompareRowKey);
		if (hit == NULL)
			continue;
		/* a stub never replaces a stored track, whatever its hash */
		if (stubs_only || hit->content_hash == hash)
			send[hit - rows] = false;
		else if (recount)
		{
			/* what an update may change for the charts from plays */
			MtmTrackRow *row = &rows[hit - rows];
			Datum		d = SPI_getbinval(SPI_tuptable->vals[r],
										  SPI_tuptable->tupdesc, 4, &isnull);

			row->was_stored = true;
			row->old_isrc = SPI_getvalue(SPI_tuptable->vals[r],
										 SPI_tuptable->tupdesc, 3);
			row->old_has_duration = !isnull;
			row->old_duration = isnull ? 0 : DatumGetInt32(d);
		}
	}

	for (int i = 0; i < n; i++)
		if (send[i])
		{
			/* a stub is made whole; a parsed object's columns are checked now */
			if (!stubs_only)
				ParseTrackColumns(&rows[i]);
			sendable[nsend++] = &rows[i];
		}
	counts->unchanged += n - nsend;

	for (int first = 0; first < nsend; first += UPSERT_CHUNK)
	{
		int			nrows = Min(UPSERT_CHUNK, nsend - first);
		SPIPlanPtr	plan = UpsertPlan(nrows, mode);
		Datum	   *vals = palloc(sizeof(Datum) * (nrows * UPSERT_COLS + 1));
		char	   *nulls = palloc(nrows * UPSERT_COLS + 2);
		MtmTrackWriter writer;

		memset(nulls, ' ', nrows * UPSERT_COLS + 1);
		nulls[nrows * UPSERT_COLS + 1] = '\0';
		for (int r = 0; r < nrows; r++)
		{
			const MtmTrackRow *row = sendable[first + r];
			Datum	   *a = &vals[r * UPSERT_COLS];
			char	   *nl = &nulls[r * UPSERT_COLS];

			a[0] = CStringGetTextDatum(row->track_id);
			a[1] = NullableText(row->name, &nl[1]);
			a[2] = NullableText(row->artist_name, &nl[2]);
			a[3] = NullableText(row->album_name, &nl[3]);
			a[4] = Int32GetDatum(row->duration_ms);
			nl[4] = row->has_duration ? ' ' : 'n';
			a[5] = NullableText(row->spotify_url, &nl[5]);
			a[6] = JsonbPGetDatum(row->raw_json);
			a[7] = Int64GetDatum(row->content_hash);
		}
		vals[nrows * UPSERT_COLS] = TimestampTzGetDatum(now);

		mtm_track_write_begin(&writer);
		ret = SPI_execute_plan(plan, vals, nulls, false, 0);
		mtm_track_write_end(&writer);
		if (ret != (stubs_only ? SPI_OK_INSERT : SPI_OK_INSERT_RETURNING))
			elog(ERROR, "writing music_tm.tracks failed: %s", SPI_result_code_string(ret));
		if (stubs_only)
			counts->inserted += SPI_processed;
		else
			for (uint64 r = 0; r < SPI_processed; r++)
			{
				HeapTuple	tup = SPI_tuptable->vals[r];
				TupleDesc	desc = SPI_tuptable->tupdesc;
				bool		isnull;

				if (DatumGetBool(SPI_getbinval(tup, desc, 1, &isnull)))
					counts->inserted++;
				else if (!recount)
					counts->updated++;
				else
				{
					MtmTrackRow key;
					const MtmTrackRow *row;
					Datum		d;

					counts->updated++;
					key.track_id = SPI_getvalue(tup, desc, 2);
					row = bsearch(&key, rows, n, sizeof(MtmTrackRow), CompareRowKey);
					d = SPI_getbinval(tup, desc, 4, &isnull);
					/* updated meanwhile by another writer: assume it changed */
					if (row == NULL || !row->was_stored ||
						!mtm_same_string(row->old_isrc, SPI_getvalue(tup, desc, 3)) ||
						row->old_has_duration == isnull ||
						(!isnull && row->old_duration != DatumGetInt32(d)))
						counts->recounted++;
				}
			}
		/* a concurrent writer stored the same object first: nothing written */
		counts->unchanged += nrows - SPI_processed;
		pfree(vals);
		pfree(nulls);
	}
}
