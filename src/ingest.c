/*
 * ingest.c
 *		Snapshot upsert: save_track and save_snapshot_row.
 *
 * Writes go through SPI with plans prepared once per backend and kept
 * (SPI_keepplan).  Every statement names its tables with the schema and its
 * operators as OPERATOR(pg_catalog.=), so no search_path can redirect them.
 *
 * Two rules keep the statements portable to Citus, where per-listener tables
 * are distributed by listener and music_tm.tracks is a reference table:
 *	- timestamps are computed once in C and passed as parameters, never as
 *	  now() inside ON CONFLICT ... DO UPDATE SET;
 *	- an unchanged track costs one read and no write: its stored content hash
 *	  is read first, and only new or changed tracks reach the upsert.
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "utils/builtins.h"
#include "utils/date.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/snapmgr.h"

#include "chart_store.h"
#include "common.h"
#include "ingest.h"

PG_FUNCTION_INFO_V1(save_track);
PG_FUNCTION_INFO_V1(save_snapshot_row);

/* Plans kept for the life of the backend. */
static SPIPlanPtr track_hash_plan = NULL;
static SPIPlanPtr track_upsert_plan = NULL;

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
void
mtm_parse_track(Jsonb *track, const MtmWhere *where, MtmTrackRow *row)
{
	JsonbContainer *obj = &track->root;
	JsonbValue	v;
	JsonbValue *found;
	JsonbContainer *sub;

	if (!JB_ROOT_IS_OBJECT(track) || JB_ROOT_IS_SCALAR(track))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("a track must be a JSON object"),
				 errdetail("Found a JSON %s where %s should be.",
						   JB_ROOT_IS_SCALAR(track) ? "scalar" : "array",
						   mtm_where_desc(where))));

	memset(row, 0, sizeof(*row));

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

	row->raw_json = track;
	row->content_hash = mtm_jsonb_hash(track);
}

const char *
mtm_write_result_name(MtmWriteResult r)
{
	switch (r)
	{
		case MTM_INSERTED:
			return "inserted";
		case MTM_UPDATED:
			return "updated";
		case MTM_UNCHANGED:
			return "unchanged";
	}
	return "unknown";
}

static Datum
TextOrNull(const char *s, char *nulls, int i)
{
	nulls[i] = s ? ' ' : 'n';
	return s ? CStringGetTextDatum(s) : (Datum) 0;
}

/*
 * Store one parsed track.  Must be called inside SPI_connect.
 *
 * Reads the stored content hash first: an identical object is neither
 * written nor locked.  Otherwise one INSERT ... ON CONFLICT DO UPDATE whose
 * WHERE clause repeats the hash test, so that a concurrent writer of the same
 * object leaves no extra row version either.
 */
MtmWriteResult
mtm_store_track(const MtmTrackRow *row, TimestampTz now)
{
	Datum		values[9];
	char		nulls[9];
	bool		isnull;
	int			ret;
	MtmTrackWriter writer;

	if (track_hash_plan == NULL)
	{
		Oid			types[1] = {TEXTOID};

		track_hash_plan = mtm_prepare_kept(
			"SELECT content_hash FROM music_tm.tracks"
			" WHERE track_id OPERATOR(pg_catalog.=) $1", 1, types);
	}
	if (track_upsert_plan == NULL)
	{
		Oid			types[9] = {TEXTOID, TEXTOID, TEXTOID, TEXTOID, INT4OID,
		TEXTOID, JSONBOID, INT8OID, TIMESTAMPTZOID};

		track_upsert_plan = mtm_prepare_kept(
			MTM_TRACK_INSERT
			" VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9)"
			MTM_TRACK_ON_CONFLICT, 9, types);
	}

	values[0] = CStringGetTextDatum(row->track_id);
	ret = SPI_execute_plan(track_hash_plan, values, NULL, true, 1);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "reading music_tm.tracks failed: %s",
			 SPI_result_code_string(ret));
	if (SPI_processed == 1)
	{
		Datum		h = SPI_getbinval(SPI_tuptable->vals[0],
									  SPI_tuptable->tupdesc, 1, &isnull);

		if (!isnull && DatumGetInt64(h) == row->content_hash)
			return MTM_UNCHANGED;
	}

	memset(nulls, ' ', sizeof(nulls));
	values[0] = CStringGetTextDatum(row->track_id);
	values[1] = CStringGetTextDatum(row->name);
	values[2] = TextOrNull(row->artist_name, nulls, 2);
	values[3] = TextOrNull(row->album_name, nulls, 3);
	values[4] = Int32GetDatum(row->duration_ms);
	nulls[4] = row->has_duration ? ' ' : 'n';
	values[5] = TextOrNull(row->spotify_url, nulls, 5);
	values[6] = JsonbPGetDatum(row->raw_json);
	values[7] = Int64GetDatum(row->content_hash);
	values[8] = TimestampTzGetDatum(now);

	mtm_track_write_begin(&writer);
	ret = SPI_execute_plan(track_upsert_plan, values, nulls, false, 0);
	mtm_track_write_end(&writer);
	if (ret != SPI_OK_INSERT_RETURNING)
		elog(ERROR, "writing music_tm.tracks failed: %s",
			 SPI_result_code_string(ret));
	if (SPI_processed == 0)
		return MTM_UNCHANGED;	/* a concurrent writer stored the same object */
	return DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0],
									  SPI_tuptable->tupdesc, 1, &isnull)) ?
		MTM_INSERTED : MTM_UPDATED;
}

/*
 * save_track(track jsonb) returns text
 *
 * The seed app's save_track: upsert one Spotify track object.  Returns
 * 'inserted', 'updated' or 'unchanged'.
 */
Datum
save_track(PG_FUNCTION_ARGS)
{
	MtmTrackRow row;
	MtmWhere	where = {-1};
	MtmWriteResult result;

	mtm_require_arg(fcinfo, 0, "track");
	mtm_parse_track(PG_GETARG_JSONB_P(0), &where, &row);

	SPI_connect();
	result = mtm_store_track(&row, GetCurrentTransactionStartTimestamp());
	SPI_finish();

	PG_RETURN_TEXT_P(cstring_to_text(mtm_write_result_name(result)));
}

/* One entry to put into a chart: save_snapshot_row's edit. */
typedef struct EntryEdit
{
	char	   *track_id;
	int32		rank;
} EntryEdit;

/*
 * The track goes to its rank, keeping the playable id it had; if it stood
 * at another rank, that rank empties; a different track at its rank leaves
 * the chart (a rank holds one track).
 */
static void
PutEntry(const MtmSlots *stored, bool exists, MtmSlots *result, void *arg)
{
	EntryEdit  *e = arg;
	char	   *playable = NULL;

	for (int r = 1; r <= stored->n; r++)
	{
		if (stored->ids[r - 1] == NULL)
			continue;
		if (strcmp(stored->ids[r - 1], e->track_id) == 0)
			playable = stored->playable[r - 1];
		else
			mtm_slots_set(result, r, stored->ids[r - 1], stored->playable[r - 1]);
	}
	mtm_slots_set(result, e->rank, e->track_id, playable);
}

/*
 * save_snapshot_row(track_id text, snapshot_date date, time_range
 *					 music_tm.time_range, rank integer, listener text)
 *
 * The seed app's save_snapshot_row: one chart entry, idempotent: the track
 * is put at the rank (moved there if it stood elsewhere).  Creates the chart
 * when it is the first entry.  The track must be stored.
 */
Datum
save_snapshot_row(PG_FUNCTION_ARGS)
{
	Datum		values[1];
	Oid			check_types[1] = {TEXTOID};
	static SPIPlanPtr track_exists_plan = NULL;
	MtmSeries	series;
	MtmSlots	stored;
	EntryEdit	edit;
	bool		exists;
	int32		rank;
	int			ret;

	mtm_require_arg(fcinfo, 0, "track_id");
	mtm_require_arg(fcinfo, 1, "snapshot_date");
	mtm_require_arg(fcinfo, 2, "time_range");
	mtm_require_arg(fcinfo, 3, "rank");
	mtm_require_arg(fcinfo, 4, "listener");

	rank = PG_GETARG_INT32(3);
	if (rank < 1 || rank > MTM_MAX_RANK)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("rank must be between 1 and %d", MTM_MAX_RANK),
				 errdetail("Argument \"rank\" is %d.", rank)));
	if (DATE_NOT_FINITE(PG_GETARG_DATEADT(1)))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("snapshot_date must be a finite date")));
	if (VARSIZE_ANY_EXHDR(PG_GETARG_TEXT_PP(4)) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("listener must not be empty")));

	SPI_connect();
	if (track_exists_plan == NULL)
		track_exists_plan = mtm_prepare_kept(
			"SELECT 1 FROM music_tm.tracks"
			" WHERE track_id OPERATOR(pg_catalog.=) $1", 1, check_types);

	series.listener = PG_GETARG_DATUM(4);
	series.range = PG_GETARG_DATUM(2);
	series.range_type = get_fn_expr_argtype(fcinfo->flinfo, 2);

	/* the chart first: from here on the track cannot be deleted */
	exists = mtm_chart_lock(&series, PG_GETARG_DATUM(1), &stored);

	values[0] = PG_GETARG_DATUM(0);
	ret = SPI_execute_snapshot(track_exists_plan, values, NULL,
							   GetLatestSnapshot(), InvalidSnapshot, true,
							   false, 1);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "reading music_tm.tracks failed: %s",
			 SPI_result_code_string(ret));
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_FOREIGN_KEY_VIOLATION),
				 errmsg("track \"%s\" does not exist",
						text_to_cstring(PG_GETARG_TEXT_PP(0))),
				 errdetail("Argument \"track_id\" names no row of music_tm.tracks."),
				 errhint("Store the track with music_tm.save_track first.")));

	edit.track_id = text_to_cstring(PG_GETARG_TEXT_PP(0));
	edit.rank = rank;
	mtm_chart_write(&series, PG_GETARG_DATUM(1),
					GetCurrentTransactionStartTimestamp(), exists, &stored,
					PutEntry, &edit);
	SPI_finish();
	PG_RETURN_VOID();
}
