/*
 * plays_import.c
 *		import_streaming_history: one file of a Spotify streaming-history
 *		export per call.
 *
 * The extended streaming history (Streaming_History_Audio_*.json, older
 * endsong_*.json) is an array of entries, one per stream.  Every generation
 * of the format is read: "ts" with or without "T" and "Z", "skipped" null in
 * older files, "offline_timestamp" in seconds or milliseconds (0 or null:
 * none), audiobook fields present or not.  The personal fields (ip_addr,
 * ip_addr_decrypted, user_agent_decrypted, username, platform, conn_country)
 * are never read.
 *
 * Entries with a spotify_track_uri are listens of a track; the others
 * (podcast episodes, audiobook chapters, rows whose metadata is all null)
 * are counted by kind and not stored.  A track not stored yet is stored
 * from the entry's names as a partial track object ({"id", "name", "type",
 * "uri", "artists": [{"name"}], "album": {"name"}}) that never replaces a
 * real one: music_tm.tracks then names every track a listen has, and a
 * later page or recently-played response brings the full object.
 *
 * Every entry is checked before anything is written: a malformed entry is
 * an error naming its index and field, and the call writes nothing.
 */
#include "postgres.h"

#include "access/detoast.h"
#include "access/htup_details.h"
#include "access/xact.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/fmgrprotos.h"
#include "utils/jsonb.h"

#include "chart_store.h"
#include "track_store.h"
#include "plays.h"

PG_FUNCTION_INFO_V1(import_streaming_history);

#define TRACK_URI_PREFIX "spotify:track:"

typedef MtmImportSummary ImportSummary;

/* A listen's track names, for storing a partial track object. */
typedef struct TrackNames
{
	char	   *track_id;
	/* in the payload, not terminated: copied for a track's first entry only */
	const char *name;
	const char *artist;
	const char *album;
	int			name_len;
	int			artist_len;
	int			album_len;
} TrackNames;

static void
EntryTypeError(int entry, const char *field, const char *expected,
			   const JsonbValue *got)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("field \"%s\" of a streaming-history entry must be %s",
					field, expected),
			 errdetail("Found a JSON %s in field \"%s\" of entry [%d].",
					   mtm_jsonb_type_name(got), field, entry)));
}

/*
 * The fields of an extended-history entry that are read.  An entry is
 * walked once (JsonbIteratorNext over its keys), each known key's value
 * kept by its slot: about 20 keys an entry, where a lookup per field would
 * binary-search the keys 18 times.
 */
typedef enum EntryField
{
	F_TS,
	F_MS_PLAYED,
	F_TRACK_URI,
	F_TRACK_NAME,
	F_ARTIST_NAME,
	F_ALBUM_NAME,
	F_REASON_START,
	F_REASON_END,
	F_SHUFFLE,
	F_SKIPPED,
	F_OFFLINE,
	F_INCOGNITO,
	F_OFFLINE_TIMESTAMP,
	F_EPISODE_URI,
	F_EPISODE_NAME,
	F_AUDIOBOOK_URI,
	F_AUDIOBOOK_CHAPTER_URI,
	F_AUDIOBOOK_TITLE,
	NFIELDS
} EntryField;

static const char *const field_names[NFIELDS] = {
	"ts", "ms_played", "spotify_track_uri", "master_metadata_track_name",
	"master_metadata_album_artist_name", "master_metadata_album_album_name",
	"reason_start", "reason_end", "shuffle", "skipped", "offline",
	"incognito_mode", "offline_timestamp", "spotify_episode_uri",
	"episode_name", "audiobook_uri", "audiobook_chapter_uri", "audiobook_title"
};

/* An entry's values of the known fields; absent ones are NULL. */
typedef struct EntryFields
{
	JsonbValue *f[NFIELDS];
	JsonbValue	v[NFIELDS];
} EntryFields;

/* The slot of a key, or -1 for a field that is not read. */
static int
FieldSlot(const char *key, int len)
{
	static int	lens[NFIELDS];

	if (lens[0] == 0)
		for (int i = 0; i < NFIELDS; i++)
			lens[i] = strlen(field_names[i]);
	for (int i = 0; i < NFIELDS; i++)
		if (lens[i] == len && memcmp(field_names[i], key, len) == 0)
			return i;
	return -1;
}

/*
 * The keys of the entry read before, by position, with their slots: the
 * entries of a file have the same keys, in the same (jsonb's) order, so a
 * key is mostly the one at its position in the entry before.
 */
#define KEYS_REMEMBERED 48
typedef struct KeyMemory
{
	int			n;
	const char *key[KEYS_REMEMBERED];
	int			len[KEYS_REMEMBERED];
	int			slot[KEYS_REMEMBERED];
} KeyMemory;

/* Walk an entry object once, keeping the values of the known fields. */
static void
ReadEntryFields(JsonbContainer *obj, EntryFields *ef, KeyMemory *km)
{
	JsonbIterator *it = JsonbIteratorInit(obj);
	JsonbIteratorToken tok;
	JsonbValue	v;
	int			slot = -1;
	int			k = 0;

	memset(ef->f, 0, sizeof(ef->f));
	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		if (tok == WJB_KEY)
		{
			const char *key = v.val.string.val;
			int			len = v.val.string.len;

			if (k < km->n && km->len[k] == len && memcmp(km->key[k], key, len) == 0)
				slot = km->slot[k];
			else
			{
				slot = FieldSlot(key, len);
				if (k < KEYS_REMEMBERED)
				{
					km->key[k] = key;
					km->len[k] = len;
					km->slot[k] = slot;
					km->n = Max(km->n, k + 1);
				}
			}
			k++;
		}
		else if (tok == WJB_VALUE && slot >= 0)
		{
			ef->v[slot] = v;
			ef->f[slot] = &ef->v[slot];
		}
	}
}

/* An optional string field: absent or null is NULL. */
static char *
OptString(const EntryFields *ef, EntryField field, int entry)
{
	JsonbValue *f = ef->f[field];

	if (f == NULL || f->type == jbvNull)
		return NULL;
	if (f->type != jbvString)
		EntryTypeError(entry, field_names[field], "a string or null", f);
	return mtm_string_or_null(f);
}

/* An optional string field where it lies in the payload: NULL when absent or null. */
static const char *
OptStringRef(const EntryFields *ef, EntryField field, int entry, int *len)
{
	JsonbValue *f = ef->f[field];

	*len = 0;
	if (f == NULL || f->type == jbvNull)
		return NULL;
	if (f->type != jbvString)
		EntryTypeError(entry, field_names[field], "a string or null", f);
	*len = f->val.string.len;
	return f->val.string.val;
}

/* Whether an optional string field is a string (absent or null: false). */
static bool
HasString(const EntryFields *ef, EntryField field, int entry)
{
	JsonbValue *f = ef->f[field];

	if (f == NULL || f->type == jbvNull)
		return false;
	if (f->type != jbvString)
		EntryTypeError(entry, field_names[field], "a string or null", f);
	return true;
}

/* An optional boolean field: -1 when absent or null. */
static int8
OptBool(const EntryFields *ef, EntryField field, int entry)
{
	JsonbValue *f = ef->f[field];

	if (f == NULL || f->type == jbvNull)
		return -1;
	if (f->type != jbvBool)
		EntryTypeError(entry, field_names[field], "a boolean or null", f);
	return f->val.boolean ? 1 : 0;
}

/* A required field's value, or the error naming it. */
static JsonbValue *
Required(const EntryFields *ef, EntryField field, int entry)
{
	JsonbValue *f = ef->f[field];

	if (f == NULL || f->type == jbvNull)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("streaming-history entry has no \"%s\"", field_names[field]),
				 errdetail("Field \"%s\" of entry [%d] is %s.", field_names[field], entry,
						   f ? "null" : "missing")));
	return f;
}

static char *
NumberText(const JsonbValue *v)
{
	return DatumGetCString(DirectFunctionCall1(numeric_out,
											   NumericGetDatum(v->val.numeric)));
}

/*
 * offline_timestamp: epoch seconds in some files, milliseconds in others (a
 * time after 1973 in seconds is past 10^8; in milliseconds past 10^11).
 * 0 means none.
 */
static void
OfflineTimestamp(const EntryFields *ef, int entry, MtmPlay *p)
{
	JsonbValue *f = ef->f[F_OFFLINE_TIMESTAMP];
	double		x;

	if (f == NULL || f->type == jbvNull)
		return;
	if (f->type != jbvNumeric)
		EntryTypeError(entry, "offline_timestamp", "a number or null", f);
	x = DatumGetFloat8(DirectFunctionCall1(numeric_float8,
										   NumericGetDatum(f->val.numeric)));
	if (!(x >= 0 && x < 1e15))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("field \"offline_timestamp\" of a streaming-history entry must be epoch seconds or milliseconds"),
				 errdetail("Found %s in field \"offline_timestamp\" of entry [%d].",
						   NumberText(f), entry)));
	if (x == 0)
		return;
	if (x >= 1e11)
		x /= 1000.0;
	p->has_offline_at = true;
	p->offline_at = (TimestampTz) ((x - ((double) (POSTGRES_EPOCH_JDATE - UNIX_EPOCH_JDATE) * SECS_PER_DAY)) * USECS_PER_SEC);
}

/*
 * Check one extended-history entry.  Returns true for a listen of a track
 * (play and names filled); false for an episode, audiobook or entry without
 * metadata, counted in sum.
 */
static bool
ParseExtendedEntry(JsonbValue *ev, int entry, MtmPlay *p, TrackNames *names,
				   ImportSummary *sum, KeyMemory *km)
{
	EntryFields ef;
	JsonbValue *f;
	char	   *uri;

	if (!mtm_is_object(ev))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("a streaming-history entry must be a JSON object"),
				 errdetail("Found a JSON %s at entry [%d].",
						   mtm_jsonb_type_name(ev), entry)));
	ReadEntryFields(ev->val.binary.data, &ef, km);
	memset(p, 0, sizeof(*p));
	p->entry = entry;

	f = Required(&ef, F_TS, entry);
	if (f->type != jbvString)
		EntryTypeError(entry, "ts", "a string", f);
	if (!mtm_parse_utc_time(f->val.string.val, f->val.string.len, &p->at))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_DATETIME_FORMAT),
				 errmsg("field \"ts\" of a streaming-history entry is not a valid time"),
				 errdetail("Found \"%s\" in field \"ts\" of entry [%d].",
						   pnstrdup(f->val.string.val, Min(f->val.string.len, 64)),
						   entry)));

	f = Required(&ef, F_MS_PLAYED, entry);
	if (f->type != jbvNumeric)
		EntryTypeError(entry, "ms_played", "a number", f);
	if (!mtm_numeric_int32(f, &p->ms_played) || p->ms_played < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("field \"ms_played\" of a streaming-history entry must be a whole number between 0 and 2147483647"),
				 errdetail("Found %s in field \"ms_played\" of entry [%d].",
						   NumberText(f), entry)));
	p->has_ms = true;

	/* every typed field is checked, whatever kind of entry this is */
	uri = OptString(&ef, F_TRACK_URI, entry);
	names->name = OptStringRef(&ef, F_TRACK_NAME, entry, &names->name_len);
	names->artist = OptStringRef(&ef, F_ARTIST_NAME, entry, &names->artist_len);
	names->album = OptStringRef(&ef, F_ALBUM_NAME, entry, &names->album_len);
	p->reason_start = OptString(&ef, F_REASON_START, entry);
	p->reason_end = OptString(&ef, F_REASON_END, entry);
	p->shuffle = OptBool(&ef, F_SHUFFLE, entry);
	p->skipped = OptBool(&ef, F_SKIPPED, entry);
	p->offline = OptBool(&ef, F_OFFLINE, entry);
	p->incognito = OptBool(&ef, F_INCOGNITO, entry);
	OfflineTimestamp(&ef, entry, p);

	if (uri == NULL || strncmp(uri, "spotify:local:", 14) == 0)
	{
		if (HasString(&ef, F_EPISODE_URI, entry) ||
			HasString(&ef, F_EPISODE_NAME, entry))
			sum->episodes++;
		else if (HasString(&ef, F_AUDIOBOOK_URI, entry) ||
				 HasString(&ef, F_AUDIOBOOK_CHAPTER_URI, entry) ||
				 HasString(&ef, F_AUDIOBOOK_TITLE, entry))
			sum->audiobooks++;
		else
			sum->without_track++;
		return false;
	}
	if (strncmp(uri, TRACK_URI_PREFIX, strlen(TRACK_URI_PREFIX)) != 0 ||
		uri[strlen(TRACK_URI_PREFIX)] == '\0' ||
		strchr(uri + strlen(TRACK_URI_PREFIX), ':') != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("field \"spotify_track_uri\" of a streaming-history entry must be a Spotify track URI"),
				 errdetail("Found \"%s\" in field \"spotify_track_uri\" of entry [%d].",
						   uri, entry),
				 errhint("A track URI is spotify:track: followed by the track's id.")));
	p->track_id = uri + strlen(TRACK_URI_PREFIX);
	names->track_id = p->track_id;
	return true;
}

/* Push "key": "value" into an object being built. */
static void
PushString(JsonbParseState **st, const char *key, const char *value)
{
	JsonbValue	k;
	JsonbValue	v;

	k.type = jbvString;
	k.val.string.val = (char *) key;
	k.val.string.len = strlen(key);
	pushJsonbValue(st, WJB_KEY, &k);
	v.type = jbvString;
	v.val.string.val = (char *) value;
	v.val.string.len = strlen(value);
	pushJsonbValue(st, WJB_VALUE, &v);
}

/* {"name": value} as the value of key. */
static void
PushNamed(JsonbParseState **st, const char *key, const char *value, bool array)
{
	JsonbValue	k;

	k.type = jbvString;
	k.val.string.val = (char *) key;
	k.val.string.len = strlen(key);
	pushJsonbValue(st, WJB_KEY, &k);
	if (array)
		pushJsonbValue(st, WJB_BEGIN_ARRAY, NULL);
	pushJsonbValue(st, WJB_BEGIN_OBJECT, NULL);
	PushString(st, "name", value);
	pushJsonbValue(st, WJB_END_OBJECT, NULL);
	if (array)
		pushJsonbValue(st, WJB_END_ARRAY, NULL);
}

/* The partial track object of an export's names. */
static void
StubRow(const TrackNames *t, MtmTrackRow *row)
{
	JsonbParseState *st = NULL;
	JsonbValue *res;
	char	   *name = pnstrdup(t->name, t->name_len);
	char	   *artist = t->artist ? pnstrdup(t->artist, t->artist_len) : NULL;
	char	   *album = t->album ? pnstrdup(t->album, t->album_len) : NULL;

	memset(row, 0, sizeof(*row));
	pushJsonbValue(&st, WJB_BEGIN_OBJECT, NULL);
	PushString(&st, "id", t->track_id);
	PushString(&st, "name", name);
	PushString(&st, "type", "track");
	PushString(&st, "uri", psprintf(TRACK_URI_PREFIX "%s", t->track_id));
	if (artist)
		PushNamed(&st, "artists", artist, true);
	if (album)
		PushNamed(&st, "album", album, false);
	res = pushJsonbValue(&st, WJB_END_OBJECT, NULL);
	row->track_id = t->track_id;
	row->name = name;
	row->artist_name = artist;
	row->album_name = album;
	row->raw_json = JsonbValueToJsonb(res);
	row->content_hash = mtm_jsonb_hash(row->raw_json);
}

static int
CompareNames(const void *a, const void *b)
{
	return strcmp(((const TrackNames *) a)->track_id,
				  ((const TrackNames *) b)->track_id);
}

/*
 * The tracks of the listens, each once, as partial objects: only those with
 * a name (an entry of a track always has one in practice).
 */
static MtmTrackRow *
StubRows(TrackNames *names, int n, int *count)
{
	MtmTrackRow *rows;
	MtmIds	   *seen = mtm_ids_create(64);
	TrackNames *first = palloc(sizeof(TrackNames) * Max(n, 1));
	int			m = 0;

	/* each track's first entry with a name (ids numbered as they come) */
	for (int i = 0; i < n; i++)
		if (names[i].name != NULL && mtm_ids_intern(seen, names[i].track_id) == m)
			first[m++] = names[i];
	qsort(first, m, sizeof(TrackNames), CompareNames);
	rows = palloc(sizeof(MtmTrackRow) * Max(m, 1));
	for (int i = 0; i < m; i++)
	{
		CHECK_FOR_INTERRUPTS();
		StubRow(&first[i], &rows[i]);
	}
	*count = m;
	return rows;
}

/*
 * The entries array and its format.  An export file is a JSON array of
 * entries; the format is told by the first entry's fields.
 */
static JsonbContainer *
HistoryEntries(Jsonb *payload, const char **format)
{
	JsonbValue *first;

	if (!JB_ROOT_IS_ARRAY(payload) || JB_ROOT_IS_SCALAR(payload))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("payload must be a streaming-history file: a JSON array of entries"),
				 errdetail("Found a JSON %s.",
						   JB_ROOT_IS_SCALAR(payload) ? "scalar" : "object"),
				 errhint("Pass the content of one Streaming_History_Audio_*.json or endsong_*.json file.")));
	first = getIthJsonbValueFromContainer(&payload->root, 0);
	if (first == NULL)
		*format = "empty";
	else
	{
		JsonbValue	v;

		if (!mtm_is_object(first))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("a streaming-history entry must be a JSON object"),
					 errdetail("Found a JSON %s at entry [0].",
							   mtm_jsonb_type_name(first))));
		if (mtm_field(first->val.binary.data, "ts", &v) != NULL)
			*format = "extended";
		else if (mtm_field(first->val.binary.data, "endTime", &v) != NULL)
			*format = "account";
		else
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("payload is not a known streaming-history format"),
					 errdetail("Entry [0] has neither \"ts\" (extended streaming history) nor \"endTime\" (account data)."),
					 errhint("Pass the content of one Streaming_History_Audio_*.json, endsong_*.json or StreamingHistory_music_*.json file.")));
	}
	return &payload->root;
}

/* The result row of import_streaming_history. */
static Datum
ReturnSummary(FunctionCallInfo fcinfo, TupleDesc tupdesc, const ImportSummary *sum)
{
	Datum		values[11];
	bool		nulls[11] = {false};

	values[0] = CStringGetTextDatum(sum->format);
	values[1] = Int64GetDatum(sum->entries);
	values[2] = Int64GetDatum(sum->plays.inserted);
	values[3] = Int64GetDatum(sum->plays.matched);
	values[4] = Int64GetDatum(sum->plays.unchanged);
	values[5] = Int64GetDatum(sum->plays.duplicates);
	values[6] = Int64GetDatum(sum->episodes);
	values[7] = Int64GetDatum(sum->audiobooks);
	values[8] = Int64GetDatum(sum->without_track);
	values[9] = Int64GetDatum(sum->unmatched);
	values[10] = Int64GetDatum(sum->tracks_inserted);
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(BlessTupleDesc(tupdesc),
													  values, nulls)));
}

/*
 * import_streaming_history(payload jsonb, listener text)
 *
 * Import one export file: each listen of a track once, across files and
 * sources (see plays.c); returns what it did.
 */
Datum
import_streaming_history(PG_FUNCTION_ARGS)
{
	TupleDesc	tupdesc;
	Jsonb	   *payload;
	JsonbContainer *entries;
	JsonbIterator *it;
	JsonbIteratorToken tok;
	JsonbValue	v;
	int			nentries;
	int			index = 0;
	int			n = 0;
	MtmPlay    *plays;
	TrackNames *names;
	ImportSummary sum;
	KeyMemory	km = {0};
	TimestampTz now = GetCurrentTransactionStartTimestamp();

	mtm_require_arg(fcinfo, 0, "payload");
	mtm_require_arg(fcinfo, 1, "listener");
	mtm_check_listener(PG_GETARG_DATUM(1));
	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");

	/* the byte cap is checked before the payload is detoasted */
	mtm_check_payload_size(PG_GETARG_DATUM(0), MTM_MAX_HISTORY_BYTES,
						   "Import an export one file at a time.");
	payload = PG_GETARG_JSONB_P(0);
	memset(&sum, 0, sizeof(sum));
	entries = HistoryEntries(payload, &sum.format);
	nentries = JsonContainerSize(entries);
	if (nentries > MTM_MAX_HISTORY_ENTRIES)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("payload has too many entries"),
				 errdetail("The payload has %d entries; the limit is %d.",
						   nentries, MTM_MAX_HISTORY_ENTRIES),
				 errhint("Import an export one file at a time.")));
	sum.entries = nentries;
	if (strcmp(sum.format, "account") == 0)
	{
		mtm_import_account(entries, PG_GETARG_DATUM(1), now, &sum);
		return ReturnSummary(fcinfo, tupdesc, &sum);
	}

	plays = palloc(sizeof(MtmPlay) * Max(nentries, 1));
	names = palloc(sizeof(TrackNames) * Max(nentries, 1));
	it = JsonbIteratorInit(entries);
	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		if (tok != WJB_ELEM)
			continue;
		CHECK_FOR_INTERRUPTS();
		if (ParseExtendedEntry(&v, index, &plays[n], &names[n], &sum, &km))
			n++;
		index++;
	}

	if (n > 0)
	{
		int			nrows;
		MtmTrackRow *rows = StubRows(names, n, &nrows);
		MtmTrackCounts tc = {0};

		SPI_connect();
		mtm_store_tracks(rows, nrows, now, MTM_STORE_STUBS, &tc);
		sum.tracks_inserted = tc.inserted;
		mtm_plays_merge(PG_GETARG_DATUM(1), MTM_SOURCE_EXPORT, plays, n, true, now,
						&sum.plays);
		SPI_finish();
	}

	return ReturnSummary(fcinfo, tupdesc, &sum);
}
