/*
 * extract_fields.c
 *		music_tm.track_fields: every field of a track object for the price
 *		of one detoast.
 *
 * Each -> or ->> detoasts (and decompresses) the whole value again, so a
 * dashboard reading nine fields with operators pays nine times.  Here the
 * argument is detoasted once, the top-level object is walked once with the
 * server's iterator (JsonbIteratorNext, not descending into nested values),
 * and so is the album object; each key seen is matched against the keys we
 * want and its value kept.  The small nested objects (external_ids,
 * external_urls, linked_from, each artist and image) are then read with key
 * lookups.  The values are turned into SQL values by the same readers as the
 * single-field accessors (extract.c), so both give the same answers.
 *
 * The iterator hands out values that point into the detoasted copy; nothing
 * is copied until the text datums of the result are built.
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/pg_type.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/builtins.h"

#include "common.h"
#include "extract.h"
#include "extract_fields.h"

/*
 * Keys wanted from one object, and a table from key length to the keys of
 * that length, built on first use, so that matching a key costs a length
 * test and at most a few memcmp calls.
 */
#define MAX_KEY_LEN 24
#define MAX_KEYS_PER_LEN 6

typedef struct KeyTable
{
	int			nkeys;
	const char *const *keys;
	bool		ready;
	int8		by_len[MAX_KEY_LEN + 1][MAX_KEYS_PER_LEN];
} KeyTable;

/* Top-level keys of a track object (and the two wrapper keys). */
enum
{
	T_ALBUM, T_ARTISTS, T_MARKETS, T_DISC_NUMBER, T_DURATION_MS, T_EXPLICIT,
	T_EXTERNAL_IDS, T_EXTERNAL_URLS, T_ID, T_IS_LOCAL, T_IS_PLAYABLE, T_ITEM,
	T_LINKED_FROM, T_NAME, T_POPULARITY, T_PREVIEW_URL, T_TRACK,
	T_TRACK_NUMBER, T_TYPE, T_URI, T_NUM_KEYS
};
static const char *const track_keys[T_NUM_KEYS] = {
	"album", "artists", "available_markets", "disc_number", "duration_ms",
	"explicit", "external_ids", "external_urls", "id", "is_local",
	"is_playable", "item", "linked_from", "name", "popularity", "preview_url",
	"track", "track_number", "type", "uri"
};
static KeyTable track_table = {.nkeys = T_NUM_KEYS, .keys = track_keys};

/* Keys of the album object. */
enum
{
	A_ALBUM_TYPE, A_ID, A_IMAGES, A_NAME, A_RELEASE_DATE,
	A_RELEASE_DATE_PRECISION, A_NUM_KEYS
};
static const char *const album_keys[A_NUM_KEYS] = {
	"album_type", "id", "images", "name", "release_date",
	"release_date_precision"
};
static KeyTable album_table = {.nkeys = A_NUM_KEYS, .keys = album_keys};

static void
KeyTableInit(KeyTable *t)
{
	int			i;

	memset(t->by_len, -1, sizeof(t->by_len));
	for (i = 0; i < t->nkeys; i++)
	{
		size_t		len = strlen(t->keys[i]);
		int			j = 0;

		while (len <= MAX_KEY_LEN && j < MAX_KEYS_PER_LEN &&
			   t->by_len[len][j] >= 0)
			j++;
		if (len > MAX_KEY_LEN || j == MAX_KEYS_PER_LEN)
			elog(ERROR, "key table cannot hold key \"%s\"", t->keys[i]);
		t->by_len[len][j] = (int8) i;
	}
	t->ready = true;
}

/* Index of key in t, or -1. */
static inline int
KeyTableFind(const KeyTable *t, const char *key, int len)
{
	int			j;

	if (len > MAX_KEY_LEN)
		return -1;
	for (j = 0; j < MAX_KEYS_PER_LEN && t->by_len[len][j] >= 0; j++)
	{
		int			i = t->by_len[len][j];

		/* the first byte tells most same-length keys apart without a call */
		if (t->keys[i][0] == key[0] && memcmp(t->keys[i], key, len) == 0)
			return i;
	}
	return -1;
}

/*
 * Walk obj once and keep the value of every key of t: found[i] is the value
 * of t->keys[i], or NULL when the object has no such key.
 */
static void
WalkObject(JsonbContainer *obj, KeyTable *t, JsonbValue *values,
		   JsonbValue **found)
{
	JsonbIterator *it;
	JsonbValue	key;
	JsonbValue	val;

	if (!t->ready)
		KeyTableInit(t);
	memset(found, 0, t->nkeys * sizeof(JsonbValue *));
	it = JsonbIteratorInit(obj);
	(void) JsonbIteratorNext(&it, &key, true);	/* WJB_BEGIN_OBJECT */
	while (JsonbIteratorNext(&it, &key, true) == WJB_KEY)
	{
		int			i = KeyTableFind(t, key.val.string.val, key.val.string.len);

		CHECK_FOR_INTERRUPTS();
		(void) JsonbIteratorNext(&it, &val, true);	/* WJB_VALUE */
		if (i >= 0)
		{
			values[i] = val;
			found[i] = &values[i];
		}
	}
	/* WJB_END_OBJECT freed the iterator */
}

/* The result type, checked and kept for the life of the call site. */
static TupleDesc
ResultDesc(FunctionCallInfo fcinfo)
{
	static const Oid column_types[MTM_NUM_COLUMNS] = {
		TEXTOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID,
		BOOLOID, BOOLOID, BOOLOID, INT4OID, INT4OID, INTERVALOID,
		INT4OID, INT4OID, TEXTOID, TEXTOID, TEXTOID,
		TEXTARRAYOID, TEXTARRAYOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID,
		DATEOID, TEXTOID, INT4OID, TEXTOID, BOOLOID
	};
	TupleDesc	desc = (TupleDesc) fcinfo->flinfo->fn_extra;
	MemoryContext oldcxt;
	int			i;

	if (desc != NULL)
		return desc;
	oldcxt = MemoryContextSwitchTo(fcinfo->flinfo->fn_mcxt);
	if (get_call_result_type(fcinfo, NULL, &desc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "track_fields must return a composite type");
	MemoryContextSwitchTo(oldcxt);
	if (desc->natts != MTM_NUM_COLUMNS)
		elog(ERROR, "music_tm.track_fields has %d columns, the library expects %d",
			 desc->natts, MTM_NUM_COLUMNS);
	for (i = 0; i < MTM_NUM_COLUMNS; i++)
		if (TupleDescAttr(desc, i)->atttypid != column_types[i])
			elog(ERROR, "column %d of music_tm.track_fields has type %u, the library expects %u",
				 i + 1, TupleDescAttr(desc, i)->atttypid, column_types[i]);
	desc = BlessTupleDesc(desc);
	fcinfo->flinfo->fn_extra = desc;
	return desc;
}

/* Set column col to a text datum of v, or leave it NULL. */
static inline void
SetText(Datum *values, bool *nulls, int col, const JsonbValue *v)
{
	text	   *t = mtm_text_or_null(v);

	if (t != NULL)
	{
		values[col] = PointerGetDatum(t);
		nulls[col] = false;
	}
}

static inline void
SetInt32(Datum *values, bool *nulls, int col, const JsonbValue *v)
{
	int32		i;

	if (mtm_numeric_int32(v, &i))
	{
		values[col] = Int32GetDatum(i);
		nulls[col] = false;
	}
}

static inline void
SetBool(Datum *values, bool *nulls, int col, const JsonbValue *v)
{
	if (v != NULL && v->type == jbvBool)
	{
		values[col] = BoolGetDatum(v->val.boolean);
		nulls[col] = false;
	}
}

static inline void
SetPointer(Datum *values, bool *nulls, int col, void *p)
{
	if (p != NULL)
	{
		values[col] = PointerGetDatum(p);
		nulls[col] = false;
	}
}

/* obj.key of a nested object value, or NULL. */
static inline JsonbValue *
SubField(const JsonbValue *obj, const char *key, JsonbValue *out)
{
	return mtm_is_object(obj) ? mtm_field(obj->val.binary.data, key, out) : NULL;
}

/*
 * track_fields(track jsonb) and track_fields(track jsonb, market text)
 * return music_tm.track_fields
 *
 * Every field the accessors read, as one row; NULL (the whole row) for what
 * is not a track object, as the accessors give NULL.  "playable" needs a
 * market: it is NULL in the one-argument form.  cover_url is the largest
 * image (cover_url with no min_width).
 */
PG_FUNCTION_INFO_V1(track_fields);
Datum
track_fields(PG_FUNCTION_ARGS)
{
	TupleDesc	desc = ResultDesc(fcinfo);
	Jsonb	   *jb = PG_GETARG_JSONB_P(0);
	bool		have_market = PG_NARGS() > 1;
	char		code[3];
	JsonbContainer *track = NULL;
	JsonbValue	tvals[T_NUM_KEYS];
	JsonbValue *t[T_NUM_KEYS];
	JsonbValue	avals[A_NUM_KEYS];
	JsonbValue *a[A_NUM_KEYS];
	Datum		values[MTM_NUM_COLUMNS];
	bool		nulls[MTM_NUM_COLUMNS];
	JsonbValue	v;
	JsonbValue	first_type;
	ArrayType  *names;
	ArrayType  *ids;
	text	   *first_name;
	DateADT		date;
	MtmDatePrecision precision = MTM_PRECISION_NONE;
	int32		ms;
	bool		episode;

	if (have_market)
		mtm_market_code(PG_GETARG_TEXT_PP(1), code);

	if (JB_ROOT_IS_OBJECT(jb))
	{
		track = &jb->root;
		WalkObject(track, &track_table, tvals, t);
		/* a wrapper (no "id" of its own): walk the track inside instead */
		if (t[T_ID] == NULL &&
			(mtm_is_wrapper_value(t[T_TRACK]) || mtm_is_wrapper_value(t[T_ITEM])))
		{
			JsonbValue *inner = mtm_is_wrapper_value(t[T_TRACK]) ?
				t[T_TRACK] : t[T_ITEM];

			track = inner->type == jbvNull ? NULL : inner->val.binary.data;
			if (track)
				WalkObject(track, &track_table, tvals, t);
		}
	}
	if (track == NULL)
		PG_RETURN_NULL();

	memset(nulls, true, sizeof(nulls));
	memset(a, 0, sizeof(a));
	if (mtm_is_object(t[T_ALBUM]))
		WalkObject(t[T_ALBUM]->val.binary.data, &album_table, avals, a);

	SetText(values, nulls, MTM_COL_ID, t[T_ID]);
	SetText(values, nulls, MTM_COL_NAME, t[T_NAME]);
	SetPointer(values, nulls, MTM_COL_CANONICAL_ID,
			   mtm_canonical_id(t[T_LINKED_FROM], t[T_ID]));
	SetText(values, nulls, MTM_COL_URI, t[T_URI]);
	SetText(values, nulls, MTM_COL_SPOTIFY_URL,
			SubField(t[T_EXTERNAL_URLS], "spotify", &v));
	SetText(values, nulls, MTM_COL_PREVIEW_URL, t[T_PREVIEW_URL]);
	SetBool(values, nulls, MTM_COL_IS_LOCAL, t[T_IS_LOCAL]);
	SetBool(values, nulls, MTM_COL_EXPLICIT, t[T_EXPLICIT]);
	SetInt32(values, nulls, MTM_COL_POPULARITY, t[T_POPULARITY]);
	if (mtm_duration_ms(t[T_DURATION_MS], &ms))
	{
		values[MTM_COL_DURATION_MS] = Int32GetDatum(ms);
		nulls[MTM_COL_DURATION_MS] = false;
		SetPointer(values, nulls, MTM_COL_DURATION, mtm_ms_interval(ms));
	}
	SetInt32(values, nulls, MTM_COL_TRACK_NUMBER, t[T_TRACK_NUMBER]);
	SetInt32(values, nulls, MTM_COL_DISC_NUMBER, t[T_DISC_NUMBER]);
	SetText(values, nulls, MTM_COL_ISRC, SubField(t[T_EXTERNAL_IDS], "isrc", &v));
	SetText(values, nulls, MTM_COL_EAN, SubField(t[T_EXTERNAL_IDS], "ean", &v));
	SetText(values, nulls, MTM_COL_UPC, SubField(t[T_EXTERNAL_IDS], "upc", &v));

	mtm_artists(t[T_ARTISTS], &names, &ids, &first_name, &first_type);
	SetPointer(values, nulls, MTM_COL_ARTIST_NAMES, names);
	SetPointer(values, nulls, MTM_COL_ARTIST_IDS, ids);
	SetPointer(values, nulls, MTM_COL_FIRST_ARTIST, first_name);
	if (mtm_is_episode(t[T_TYPE], &first_type, &episode))
	{
		values[MTM_COL_IS_EPISODE] = BoolGetDatum(episode);
		nulls[MTM_COL_IS_EPISODE] = false;
	}

	SetText(values, nulls, MTM_COL_ALBUM_NAME, a[A_NAME]);
	SetText(values, nulls, MTM_COL_ALBUM_ID, a[A_ID]);
	SetText(values, nulls, MTM_COL_ALBUM_TYPE, a[A_ALBUM_TYPE]);
	if (a[A_RELEASE_DATE])
		precision = mtm_release_date(a[A_RELEASE_DATE],
									 a[A_RELEASE_DATE_PRECISION], &date);
	if (precision != MTM_PRECISION_NONE)
	{
		values[MTM_COL_RELEASE_DATE] = DateADTGetDatum(date);
		values[MTM_COL_RELEASE_DATE_PRECISION] =
			CStringGetTextDatum(mtm_precision_name(precision));
		values[MTM_COL_RELEASE_YEAR] = Int32GetDatum(mtm_date_year(date));
		nulls[MTM_COL_RELEASE_DATE] = false;
		nulls[MTM_COL_RELEASE_DATE_PRECISION] = false;
		nulls[MTM_COL_RELEASE_YEAR] = false;
	}
	SetPointer(values, nulls, MTM_COL_COVER_URL, mtm_cover_url(a[A_IMAGES], NULL));

	if (have_market)
	{
		MtmPlayable p = mtm_playable(t[T_IS_PLAYABLE], t[T_MARKETS], code);

		if (p != MTM_PLAYABLE_UNKNOWN)
		{
			values[MTM_COL_PLAYABLE] = BoolGetDatum(p == MTM_PLAYABLE_YES);
			nulls[MTM_COL_PLAYABLE] = false;
		}
	}

	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(desc, values, nulls)));
}
