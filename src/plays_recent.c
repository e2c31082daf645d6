/*
 * plays_recent.c
 *		record_recently_played: one GET /v1/me/player/recently-played
 *		response per call.
 *
 * Apps poll the endpoint every few minutes and consecutive responses
 * overlap, so most items of a call are listens stored by an earlier one:
 * those cost a read and write nothing (see plays.c).  The tracks of the
 * response are stored as record_top_tracks stores a page's: one read of
 * their content hashes, one upsert of the new or changed ones.
 *
 * Every item is checked before anything is written: a malformed item is an
 * error naming it, and the call writes nothing.
 */
#include "postgres.h"

#include "access/detoast.h"
#include "access/htup_details.h"
#include "access/xact.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"

#include "chart_store.h"
#include "track_store.h"
#include "plays.h"

PG_FUNCTION_INFO_V1(record_recently_played);

/* Raise 22023 for a field of items[i] that has the wrong type. */
static void
ItemFieldError(int item, const char *field, const char *expected,
			   const JsonbValue *got)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("field \"%s\" of a recently-played item must be %s",
					field, expected),
			 errdetail("Found a JSON %s in field \"%s\" of items[%d].",
					   got ? mtm_jsonb_type_name(got) : "nothing", field, item)));
}

/* Append {"item": i, "reason": ...} to the summary's skip list. */
static void
NoteSkipped(JsonbParseState **state, int item, const char *reason)
{
	JsonbValue	k;
	JsonbValue	v;

	pushJsonbValue(state, WJB_BEGIN_OBJECT, NULL);
	k.type = jbvString;
	k.val.string.val = "item";
	k.val.string.len = 4;
	pushJsonbValue(state, WJB_KEY, &k);
	v.type = jbvNumeric;
	v.val.numeric = int64_to_numeric(item);
	pushJsonbValue(state, WJB_VALUE, &v);
	k.val.string.val = "reason";
	k.val.string.len = 6;
	pushJsonbValue(state, WJB_KEY, &k);
	v.type = jbvString;
	v.val.string.val = (char *) reason;
	v.val.string.len = strlen(reason);
	pushJsonbValue(state, WJB_VALUE, &v);
	pushJsonbValue(state, WJB_END_OBJECT, NULL);
}

/* The items array of a recently-played response (a cursor-paging object). */
static JsonbContainer *
RecentItems(Jsonb *payload)
{
	JsonbValue	v;
	JsonbValue *found;

	if (!JB_ROOT_IS_OBJECT(payload) || JB_ROOT_IS_SCALAR(payload))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("payload must be a recently-played response object"),
				 errdetail("Found a JSON %s.",
						   JB_ROOT_IS_SCALAR(payload) ? "scalar" : "array"),
				 errhint("Pass the response of GET /v1/me/player/recently-played as it came, {\"items\": [...], ...}.")));
	found = mtm_field(&payload->root, "items", &v);
	if (found == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("recently-played response has no \"items\""),
				 errdetail("Field \"items\" of the payload is missing.")));
	if (!mtm_is_array(found))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("field \"items\" of a recently-played response must be an array"),
				 errdetail("Found a JSON %s in field \"items\" of the payload.",
						   mtm_jsonb_type_name(found))));
	return found->val.binary.data;
}

static int
CompareRowByTrack(const void *a, const void *b)
{
	return strcmp(((const MtmTrackRow *) a)->track_id,
				  ((const MtmTrackRow *) b)->track_id);
}

/*
 * Check one item and fill the listen and its track row; returns the reason
 * when the item is skipped (a null item or track, a local file, an episode),
 * NULL when it is a listen.
 */
static const char *
ParseItem(JsonbValue *item, int index, MtmPlay *play, MtmTrackRow *row)
{
	JsonbContainer *obj;
	JsonbValue	v;
	JsonbValue *found;
	JsonbValue	tv;
	JsonbValue *track;
	MtmWhere	where = {index};

	if (item->type == jbvNull)
		return "null item";
	if (!mtm_is_object(item))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("a recently-played item must be a JSON object"),
				 errdetail("Found a JSON %s at items[%d].",
						   mtm_jsonb_type_name(item), index)));
	obj = item->val.binary.data;

	/* played_at first: a listen without its time is an error, not a skip */
	found = mtm_field(obj, "played_at", &v);
	if (found == NULL || found->type == jbvNull)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("recently-played item has no \"played_at\""),
				 errdetail("Field \"played_at\" of items[%d] is %s.", index,
						   found ? "null" : "missing")));
	if (found->type != jbvString)
		ItemFieldError(index, "played_at", "a string", found);
	memset(play, 0, sizeof(*play));
	if (!mtm_parse_utc_time(found->val.string.val, found->val.string.len, &play->at))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_DATETIME_FORMAT),
				 errmsg("field \"played_at\" of a recently-played item is not a valid time"),
				 errdetail("Found \"%s\" in field \"played_at\" of items[%d].",
						   pnstrdup(found->val.string.val,
									Min(found->val.string.len, 64)), index)));
	play->entry = index;
	play->skipped = play->shuffle = play->offline = play->incognito = -1;

	found = mtm_field(obj, "context", &v);
	if (found != NULL && found->type != jbvNull)
	{
		JsonbValue	uv;
		JsonbValue *uri;

		if (!mtm_is_object(found))
			ItemFieldError(index, "context", "an object", found);
		uri = mtm_field(found->val.binary.data, "uri", &uv);
		if (uri != NULL && uri->type != jbvNull && uri->type != jbvString)
			ItemFieldError(index, "context.uri", "a string", uri);
		play->context_uri = mtm_string_or_null(uri);
	}

	track = mtm_field(obj, "track", &tv);
	if (track == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("recently-played item has no \"track\""),
				 errdetail("Field \"track\" of items[%d] is missing.", index)));
	if (track->type == jbvNull)
		return "null track";
	if (!mtm_is_object(track))
		ItemFieldError(index, "track", "an object", track);
	{
		JsonbValue	x;
		JsonbValue *f = mtm_field(track->val.binary.data, "is_local", &x);

		if (f && f->type == jbvBool && f->val.boolean)
			return "local file";
		f = mtm_field(track->val.binary.data, "type", &x);
		if (mtm_string_equals(f, "episode"))
			return "episode";
	}
	mtm_parse_track_key(JsonbValueToJsonb(track), &where, row);
	play->track_id = row->track_id;
	play->playable_id = row->playable_id;
	return NULL;
}

/*
 * record_recently_played(payload jsonb, listener text)
 *
 * Store one recently-played response: its tracks, and each of its listens
 * once (see plays.c for how a listen is known again).
 */
Datum
record_recently_played(PG_FUNCTION_ARGS)
{
	TupleDesc	tupdesc;
	Jsonb	   *payload;
	JsonbContainer *items;
	JsonbIterator *it;
	JsonbIteratorToken tok;
	JsonbValue	v;
	int			nitems;
	int			index = 0;
	int			n = 0;
	int			ntracks = 0;
	MtmPlay    *plays;
	MtmTrackRow *rows;
	JsonbParseState *skipped = NULL;
	int64		nskipped = 0;
	MtmPlayCounts pc = {0};
	MtmTrackCounts tc = {0};
	TimestampTz now = GetCurrentTransactionStartTimestamp();
	Datum		values[9];
	bool		nulls[9] = {false};

	mtm_require_arg(fcinfo, 0, "payload");
	mtm_require_arg(fcinfo, 1, "listener");
	mtm_check_listener(PG_GETARG_DATUM(1));
	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");

	mtm_check_payload_size(PG_GETARG_DATUM(0), MTM_MAX_RECENT_BYTES, NULL);
	payload = PG_GETARG_JSONB_P(0);
	items = RecentItems(payload);
	nitems = JsonContainerSize(items);
	if (nitems > MTM_MAX_RECENT_ITEMS)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("payload has too many items"),
				 errdetail("The payload has %d items; the limit is %d.",
						   nitems, MTM_MAX_RECENT_ITEMS)));

	plays = palloc(sizeof(MtmPlay) * Max(nitems, 1));
	rows = palloc(sizeof(MtmTrackRow) * Max(nitems, 1));
	pushJsonbValue(&skipped, WJB_BEGIN_ARRAY, NULL);
	it = JsonbIteratorInit(items);
	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		const char *reason;

		if (tok != WJB_ELEM)
			continue;
		CHECK_FOR_INTERRUPTS();
		reason = ParseItem(&v, index, &plays[n], &rows[n]);
		if (reason != NULL)
		{
			NoteSkipped(&skipped, index, reason);
			nskipped++;
		}
		else
			n++;
		index++;
	}

	/* the tracks, each once (the first object of a repeated track) */
	{
		MtmTrackRow *unique = palloc(sizeof(MtmTrackRow) * Max(n, 1));

		memcpy(unique, rows, sizeof(MtmTrackRow) * n);
		qsort(unique, n, sizeof(MtmTrackRow), CompareRowByTrack);
		for (int i = 0; i < n; i++)
			if (ntracks == 0 ||
				strcmp(unique[ntracks - 1].track_id, unique[i].track_id) != 0)
				unique[ntracks++] = unique[i];
		rows = unique;
	}

	if (n > 0)
	{
		SPI_connect();
		mtm_store_tracks(rows, ntracks, now, MTM_STORE_RECOUNT, &tc);
		mtm_plays_merge(PG_GETARG_DATUM(1), MTM_SOURCE_RECENT, plays, n,
						tc.recounted > 0, now, &pc);
		SPI_finish();
	}

	values[0] = Int64GetDatum(nitems);
	values[1] = Int64GetDatum(pc.inserted);
	values[2] = Int64GetDatum(pc.matched);
	values[3] = Int64GetDatum(pc.unchanged + pc.duplicates);
	values[4] = Int64GetDatum(nskipped);
	values[5] = JsonbPGetDatum(JsonbValueToJsonb(pushJsonbValue(&skipped,
																WJB_END_ARRAY, NULL)));
	values[6] = Int64GetDatum(tc.inserted);
	values[7] = Int64GetDatum(tc.updated);
	values[8] = Int64GetDatum(tc.unchanged);
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(BlessTupleDesc(tupdesc),
													  values, nulls)));
}
