/*
 * extract.c
 *		JSONB extraction: typed accessors for Spotify track objects, the
 *		readers they share with track_fields (extract_fields.c), and
 *		track_detail.
 *
 * Every accessor detoasts its argument once (PG_GETARG_JSONB_P) and finds
 * its field with the server's binary search over the object's keys, so one
 * accessor costs about what one -> or ->> costs on the same value.  None of
 * them runs SQL; they are IMMUTABLE, STRICT (cover_url excepted, see there)
 * and PARALLEL SAFE, and carry no SET clause, which would route every call
 * through the GUC save/restore of fmgr_security_definer.
 *
 * NULL semantics, shared by all entry points: a field that is absent, JSON
 * null or of the wrong JSON type gives NULL, never an error; so does an
 * argument that is not an object (a scalar, an array).  Only invalid
 * arguments of our own (a negative min_width, a market that is not two
 * letters) raise errors.
 *
 * Wrappers: a recently-played or playlist item {"track": {...}} and a
 * currently-playing object {"item": {...}} are read as the track inside,
 * provided the outer object has no "id" of its own (a track object always
 * has one, so a track carrying a "track" or "item" key is read as itself,
 * as save_track and record_top_tracks store it); a
 * wrapper whose track is JSON null (a removed playlist entry) has no fields.
 * Only one level is unwrapped, and "track": true (the flag inside playlist
 * track objects) is not a wrapper.
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/datetime.h"
#include "utils/datum.h"
#include "utils/memutils.h"

#include "common.h"
#include "extract.h"

/*
 * Readers shared with track_fields
 */

/* A wrapper's payload: an object (the track) or JSON null (no track). */
bool
mtm_is_wrapper_value(const JsonbValue *v)
{
	return v != NULL && (v->type == jbvNull || mtm_is_object(v));
}

/*
 * The track object inside a detoasted argument: the root object, or the
 * object inside a {"track": ...} or {"item": ...} wrapper.  NULL when the
 * argument is not an object or the wrapper holds JSON null.
 */
JsonbContainer *
mtm_track_container(Jsonb *jb)
{
	JsonbContainer *root = &jb->root;
	JsonbValue	v;
	JsonbValue *inner;

	if (!JB_ROOT_IS_OBJECT(jb))
		return NULL;
	/* a track object always has "id" (null for local files); wrappers never */
	if (mtm_field(root, "id", &v) != NULL)
		return root;
	inner = mtm_field(root, "track", &v);
	if (!mtm_is_wrapper_value(inner))
		inner = mtm_field(root, "item", &v);
	if (!mtm_is_wrapper_value(inner))
		return root;
	return inner->type == jbvNull ? NULL : inner->val.binary.data;
}

/* n ASCII digits at s as a number in *out; false if any is not a digit. */
static bool
Digits(const char *s, int n, int *out)
{
	int			r = 0;

	while (n-- > 0)
	{
		if (*s < '0' || *s > '9')
			return false;
		r = r * 10 + (*s++ - '0');
	}
	*out = r;
	return true;
}

static MtmDatePrecision
DeclaredPrecision(const JsonbValue *v)
{
	if (mtm_string_equals(v, "day"))
		return MTM_PRECISION_DAY;
	if (mtm_string_equals(v, "month"))
		return MTM_PRECISION_MONTH;
	if (mtm_string_equals(v, "year"))
		return MTM_PRECISION_YEAR;
	return MTM_PRECISION_NONE;
}

/*
 * album.release_date as a date, and how precise it is.
 *
 * The string's shape decides: "1981" is 1981-01-01 (year), "1981-12" is
 * 1981-12-01 (month), "1981-12-15" a day.  Year 0 ("0000", sent for unknown
 * dates), impossible dates (1981-02-30) and any other shape give
 * MTM_PRECISION_NONE.  When release_date_precision names a coarser precision
 * than the string has ("1981-12-15" with "year"), the finer parts are not
 * meaningful and are dropped (1981-01-01, year); a finer one than the string
 * can give, or an unknown value, is ignored.  A suspicious YYYY-01-01 with
 * precision "day" is returned as sent: nothing in the object tells it apart.
 */
MtmDatePrecision
mtm_release_date(const JsonbValue *date, const JsonbValue *precision,
				 DateADT *out)
{
	const char *s;
	int			y;
	int			m = 1;
	int			d = 1;
	MtmDatePrecision shape;
	MtmDatePrecision declared;

	if (date == NULL || date->type != jbvString)
		return MTM_PRECISION_NONE;
	s = date->val.string.val;
	switch (date->val.string.len)
	{
		case 4:
			shape = MTM_PRECISION_YEAR;
			break;
		case 7:
			shape = MTM_PRECISION_MONTH;
			break;
		case 10:
			shape = MTM_PRECISION_DAY;
			break;
		default:
			return MTM_PRECISION_NONE;
	}
	if (!Digits(s, 4, &y))
		return MTM_PRECISION_NONE;
	if (shape >= MTM_PRECISION_MONTH && (s[4] != '-' || !Digits(s + 5, 2, &m)))
		return MTM_PRECISION_NONE;
	if (shape == MTM_PRECISION_DAY && (s[7] != '-' || !Digits(s + 8, 2, &d)))
		return MTM_PRECISION_NONE;
	if (y < 1 || m < 1 || m > MONTHS_PER_YEAR ||
		d < 1 || d > day_tab[isleap(y)][m - 1])
		return MTM_PRECISION_NONE;

	declared = DeclaredPrecision(precision);
	if (declared != MTM_PRECISION_NONE && declared < shape)
		shape = declared;
	if (shape < MTM_PRECISION_DAY)
		d = 1;
	if (shape < MTM_PRECISION_MONTH)
		m = 1;
	if (!IS_VALID_JULIAN(y, m, d))
		return MTM_PRECISION_NONE;
	*out = date2j(y, m, d) - POSTGRES_EPOCH_JDATE;
	return shape;
}

const char *
mtm_precision_name(MtmDatePrecision p)
{
	switch (p)
	{
		case MTM_PRECISION_YEAR:
			return "year";
		case MTM_PRECISION_MONTH:
			return "month";
		case MTM_PRECISION_DAY:
			return "day";
		case MTM_PRECISION_NONE:
			break;
	}
	return NULL;
}

int32
mtm_date_year(DateADT d)
{
	int			y,
				m,
				day;

	j2date(d + POSTGRES_EPOCH_JDATE, &y, &m, &day);
	return y;
}

/* numeric_cmp of two Numerics; neither is copied or allocated. */
static int
NumericCmp(Numeric a, Numeric b)
{
	return DatumGetInt32(DirectFunctionCall2(numeric_cmp, NumericGetDatum(a),
											 NumericGetDatum(b)));
}

/*
 * An image's width when known: a finite JSON number, or NULL.  Widths stay
 * Numerics pointing into the container and are compared as such: converting
 * each to an integer would allocate, and cover_url must cost about what
 * images->0->>'url' costs.
 */
static Numeric
ImageWidth(JsonbContainer *img)
{
	JsonbValue	v;
	JsonbValue *w = mtm_field(img, "width", &v);

	if (w == NULL || w->type != jbvNumeric ||
		numeric_is_nan(w->val.numeric) || numeric_is_inf(w->val.numeric))
		return NULL;
	return w->val.numeric;
}

/*
 * URL of a cover image from album.images.
 *
 * min_width not NULL: the smallest image at least min_width pixels wide;
 * min_width NULL: the largest image.  An image whose width is null, absent
 * or not a number counts as wider than every image of known width: Spotify
 * sends null sizes for original uploads and lists images largest first.
 * Widths compare as numbers (300.5 is wider than 300; a negative width is
 * narrower than any real image, so it is never preferred).  Ties go to
 * the image listed first; images without a string url are skipped.
 */
text *
mtm_cover_url(const JsonbValue *images, Numeric min_width)
{
	JsonbContainer *arr;
	JsonbValue	best;
	bool		have = false;
	Numeric		best_width = NULL;	/* NULL: unknown */
	int			n;
	int			i;

	if (!mtm_is_array(images))
		return NULL;
	arr = images->val.binary.data;
	n = JsonContainerSize(arr);
	for (i = 0; i < n; i++)
	{
		JsonbValue *img = getIthJsonbValueFromContainer(arr, i);
		JsonbValue	urlv;
		JsonbValue *url;
		Numeric		width;
		bool		better;

		CHECK_FOR_INTERRUPTS();
		if (!mtm_is_object(img))
			continue;
		url = mtm_field(img->val.binary.data, "url", &urlv);
		if (url == NULL || url->type != jbvString)
			continue;
		width = ImageWidth(img->val.binary.data);
		if (min_width == NULL)
			better = !have ||
				(best_width != NULL &&
				 (width == NULL || NumericCmp(width, best_width) > 0));
		else if (width != NULL && NumericCmp(width, min_width) < 0)
			better = false;
		else
			better = !have ||
				(width != NULL &&
				 (best_width == NULL || NumericCmp(width, best_width) < 0));
		if (better)
		{
			best = *url;
			best_width = width;
			have = true;
		}
	}
	return have ? mtm_text_or_null(&best) : NULL;
}

/*
 * artists[*].name and artists[*].id as text[] (an artist that is not an
 * object, or whose field is not a string, gives a NULL element, so names and
 * ids stay aligned), the first artist's name and the first artist's "type".
 * Every output pointer may be NULL when not wanted; outputs are NULL (type:
 * jbvNull) when artists is not an array.
 */
void
mtm_artists(const JsonbValue *artists, ArrayType **names, ArrayType **ids,
			text **first_name, JsonbValue *first_type)
{
	JsonbContainer *arr;
	Datum	   *name_datums = NULL;
	bool	   *name_nulls = NULL;
	Datum	   *id_datums = NULL;
	bool	   *id_nulls = NULL;
	int			n;
	int			limit;
	int			lbound = 1;
	int			i;

	if (names)
		*names = NULL;
	if (ids)
		*ids = NULL;
	if (first_name)
		*first_name = NULL;
	if (first_type)
		first_type->type = jbvNull;
	if (!mtm_is_array(artists))
		return;
	arr = artists->val.binary.data;
	n = JsonContainerSize(arr);
	if (n == 0)
	{
		if (names)
			*names = construct_empty_array(TEXTOID);
		if (ids)
			*ids = construct_empty_array(TEXTOID);
		return;
	}
	limit = (names || ids) ? n : 1;
	if (names)
	{
		name_datums = palloc(n * sizeof(Datum));
		name_nulls = palloc(n * sizeof(bool));
	}
	if (ids)
	{
		id_datums = palloc(n * sizeof(Datum));
		id_nulls = palloc(n * sizeof(bool));
	}
	for (i = 0; i < limit; i++)
	{
		JsonbValue *a = getIthJsonbValueFromContainer(arr, i);
		JsonbContainer *obj = mtm_is_object(a) ? a->val.binary.data : NULL;
		JsonbValue	v;
		text	   *name = NULL;
		text	   *id;

		CHECK_FOR_INTERRUPTS();
		if (obj && (names || first_name))
			name = mtm_text_or_null(mtm_field(obj, "name", &v));
		if (names)
		{
			name_nulls[i] = name == NULL;
			name_datums[i] = PointerGetDatum(name);
		}
		if (ids)
		{
			id = obj ? mtm_text_or_null(mtm_field(obj, "id", &v)) : NULL;
			id_nulls[i] = id == NULL;
			id_datums[i] = PointerGetDatum(id);
		}
		if (i == 0 && first_name)
			*first_name = name;
		if (i == 0 && first_type && obj && mtm_field(obj, "type", &v))
			*first_type = v;
	}
	if (names)
		*names = construct_md_array(name_datums, name_nulls, 1, &n, &lbound,
									TEXTOID, -1, false, TYPALIGN_INT);
	if (ids)
		*ids = construct_md_array(id_datums, id_nulls, 1, &n, &lbound,
								  TEXTOID, -1, false, TYPALIGN_INT);
}

/*
 * Whether the item is a podcast episode: "type" is "episode", or it is an
 * episode shaped as a track, whose first artist is a show.  False when
 * neither field is a string (nothing known).
 */
bool
mtm_is_episode(const JsonbValue *type, const JsonbValue *first_artist_type,
			   bool *result)
{
	bool		type_known = type != NULL && type->type == jbvString;
	bool		artist_known = first_artist_type != NULL &&
		first_artist_type->type == jbvString;

	if (!type_known && !artist_known)
		return false;
	*result = mtm_string_equals(type, "episode") ||
		mtm_string_equals(first_artist_type, "show");
	return true;
}

/* Check a market argument and return it upper-cased in code. */
void
mtm_market_code(text *market, char code[3])
{
	const char *s = VARDATA_ANY(market);
	int			len = VARSIZE_ANY_EXHDR(market);
	int			i;

	for (i = 0; i < len && len == 2; i++)
		if (!((s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= 'a' && s[i] <= 'z')))
			break;
	if (len != 2 || i != 2)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("market must be a two-letter country code"),
				 errdetail("Argument \"market\" is \"%s\".",
						   text_to_cstring(market)),
				 errhint("Use an ISO 3166-1 alpha-2 code such as 'SE'.")));
	code[0] = pg_ascii_toupper((unsigned char) s[0]);
	code[1] = pg_ascii_toupper((unsigned char) s[1]);
	code[2] = '\0';
}

/*
 * Whether a track plays in a market.  is_playable, when it is a boolean,
 * wins: Spotify sends it (and drops available_markets) when the request
 * named a market, and relinks the track to make it true.  Otherwise
 * available_markets decides (an empty list: nowhere).  Unknown when neither
 * is there.
 */
MtmPlayable
mtm_playable(const JsonbValue *is_playable, const JsonbValue *markets,
			 const char *code)
{
	JsonbValue	key;

	if (is_playable != NULL && is_playable->type == jbvBool)
		return is_playable->val.boolean ? MTM_PLAYABLE_YES : MTM_PLAYABLE_NO;
	if (!mtm_is_array(markets))
		return MTM_PLAYABLE_UNKNOWN;
	key.type = jbvString;
	key.val.string.val = (char *) code;
	key.val.string.len = 2;
	return findJsonbValueFromContainer(markets->val.binary.data, JB_FARRAY,
									   &key) ? MTM_PLAYABLE_YES : MTM_PLAYABLE_NO;
}

/* linked_from.id of a relinked track (an object with a string id), else id. */
text *
mtm_canonical_id(const JsonbValue *linked_from, const JsonbValue *id)
{
	if (mtm_is_object(linked_from))
	{
		JsonbValue	v;
		text	   *orig = mtm_text_or_null(mtm_field(linked_from->val.binary.data,
													  "id", &v));

		if (orig)
			return orig;
	}
	return mtm_text_or_null(id);
}

/* duration_ms: a whole number 0 .. 2^31-1, as save_track requires it. */
bool
mtm_duration_ms(const JsonbValue *v, int32 *ms)
{
	return mtm_numeric_int32(v, ms) && *ms >= 0;
}

Interval *
mtm_ms_interval(int32 ms)
{
	Interval   *iv = palloc(sizeof(Interval));

	iv->time = (int64) ms * INT64CONST(1000);
	iv->day = 0;
	iv->month = 0;
	return iv;
}

/*
 * SQL-callable accessors
 */

/* The track object of argument 0: detoasted once, wrappers unwrapped. */
static JsonbContainer *
TrackArg(FunctionCallInfo fcinfo)
{
	return mtm_track_container(PG_GETARG_JSONB_P(0));
}

/* track.key, or track.obj_key.key; NULL when absent or no track. */
static JsonbValue *
TrackPath(JsonbContainer *track, const char *obj_key, const char *key,
		  JsonbValue *out)
{
	JsonbValue	scratch;

	if (track != NULL && obj_key != NULL)
		track = mtm_field_object(track, obj_key, &scratch);
	return track ? mtm_field(track, key, out) : NULL;
}

static Datum
ReturnText(FunctionCallInfo fcinfo, const JsonbValue *v)
{
	text	   *t = mtm_text_or_null(v);

	if (t == NULL)
		PG_RETURN_NULL();
	PG_RETURN_TEXT_P(t);
}

static Datum
ReturnInt32(FunctionCallInfo fcinfo, const JsonbValue *v)
{
	int32		i;

	if (!mtm_numeric_int32(v, &i))
		PG_RETURN_NULL();
	PG_RETURN_INT32(i);
}

static Datum
ReturnBool(FunctionCallInfo fcinfo, const JsonbValue *v)
{
	if (v == NULL || v->type != jbvBool)
		PG_RETURN_NULL();
	PG_RETURN_BOOL(v->val.boolean);
}

/*
 * Accessors that return one field as it is, typed: fn(track jsonb) returns
 * track[.obj].key as text, integer or boolean.
 */
#define FIELD_ACCESSOR(fn, kind, obj, key) \
PG_FUNCTION_INFO_V1(fn); \
Datum \
fn(PG_FUNCTION_ARGS) \
{ \
	JsonbValue	v; \
	return Return##kind(fcinfo, TrackPath(TrackArg(fcinfo), obj, key, &v)); \
}

FIELD_ACCESSOR(isrc, Text, "external_ids", "isrc")
FIELD_ACCESSOR(ean, Text, "external_ids", "ean")
FIELD_ACCESSOR(upc, Text, "external_ids", "upc")
FIELD_ACCESSOR(album_name, Text, "album", "name")
FIELD_ACCESSOR(album_id, Text, "album", "id")
FIELD_ACCESSOR(album_type, Text, "album", "album_type")
FIELD_ACCESSOR(uri, Text, NULL, "uri")
FIELD_ACCESSOR(spotify_url, Text, "external_urls", "spotify")
FIELD_ACCESSOR(preview_url, Text, NULL, "preview_url")
FIELD_ACCESSOR(popularity, Int32, NULL, "popularity")
FIELD_ACCESSOR(track_number, Int32, NULL, "track_number")
FIELD_ACCESSOR(disc_number, Int32, NULL, "disc_number")
FIELD_ACCESSOR(explicit, Bool, NULL, "explicit")
FIELD_ACCESSOR(is_local, Bool, NULL, "is_local")

/* album.release_date and its precision, from argument 0. */
static MtmDatePrecision
TrackReleaseDate(FunctionCallInfo fcinfo, DateADT *d)
{
	JsonbContainer *track = TrackArg(fcinfo);
	JsonbValue	date;
	JsonbValue	precision;
	JsonbValue	scratch;
	JsonbContainer *album;

	if (track == NULL ||
		(album = mtm_field_object(track, "album", &scratch)) == NULL)
		return MTM_PRECISION_NONE;
	return mtm_release_date(mtm_field(album, "release_date", &date),
							mtm_field(album, "release_date_precision", &precision),
							d);
}

PG_FUNCTION_INFO_V1(release_date);
Datum
release_date(PG_FUNCTION_ARGS)
{
	DateADT		d;

	if (TrackReleaseDate(fcinfo, &d) == MTM_PRECISION_NONE)
		PG_RETURN_NULL();
	PG_RETURN_DATEADT(d);
}

PG_FUNCTION_INFO_V1(release_date_precision);
Datum
release_date_precision(PG_FUNCTION_ARGS)
{
	DateADT		d;
	MtmDatePrecision p = TrackReleaseDate(fcinfo, &d);

	if (p == MTM_PRECISION_NONE)
		PG_RETURN_NULL();
	PG_RETURN_TEXT_P(cstring_to_text(mtm_precision_name(p)));
}

PG_FUNCTION_INFO_V1(release_year);
Datum
release_year(PG_FUNCTION_ARGS)
{
	DateADT		d;

	if (TrackReleaseDate(fcinfo, &d) == MTM_PRECISION_NONE)
		PG_RETURN_NULL();
	PG_RETURN_INT32(mtm_date_year(d));
}

PG_FUNCTION_INFO_V1(artist_names);
Datum
artist_names(PG_FUNCTION_ARGS)
{
	JsonbValue	v;
	ArrayType  *names;

	mtm_artists(TrackPath(TrackArg(fcinfo), NULL, "artists", &v),
				&names, NULL, NULL, NULL);
	if (names == NULL)
		PG_RETURN_NULL();
	PG_RETURN_ARRAYTYPE_P(names);
}

PG_FUNCTION_INFO_V1(artist_ids);
Datum
artist_ids(PG_FUNCTION_ARGS)
{
	JsonbValue	v;
	ArrayType  *ids;

	mtm_artists(TrackPath(TrackArg(fcinfo), NULL, "artists", &v),
				NULL, &ids, NULL, NULL);
	if (ids == NULL)
		PG_RETURN_NULL();
	PG_RETURN_ARRAYTYPE_P(ids);
}

PG_FUNCTION_INFO_V1(first_artist);
Datum
first_artist(PG_FUNCTION_ARGS)
{
	JsonbValue	v;
	text	   *name;

	mtm_artists(TrackPath(TrackArg(fcinfo), NULL, "artists", &v),
				NULL, NULL, &name, NULL);
	if (name == NULL)
		PG_RETURN_NULL();
	PG_RETURN_TEXT_P(name);
}

PG_FUNCTION_INFO_V1(is_episode);
Datum
is_episode(PG_FUNCTION_ARGS)
{
	JsonbContainer *track = TrackArg(fcinfo);
	JsonbValue	type;
	JsonbValue	artists;
	JsonbValue	first_type;
	bool		result;

	mtm_artists(TrackPath(track, NULL, "artists", &artists),
				NULL, NULL, NULL, &first_type);
	if (!mtm_is_episode(TrackPath(track, NULL, "type", &type), &first_type,
						&result))
		PG_RETURN_NULL();
	PG_RETURN_BOOL(result);
}

PG_FUNCTION_INFO_V1(duration_ms);
Datum
duration_ms(PG_FUNCTION_ARGS)
{
	JsonbValue	v;
	int32		ms;

	if (!mtm_duration_ms(TrackPath(TrackArg(fcinfo), NULL, "duration_ms", &v),
						 &ms))
		PG_RETURN_NULL();
	PG_RETURN_INT32(ms);
}

PG_FUNCTION_INFO_V1(duration);
Datum
duration(PG_FUNCTION_ARGS)
{
	JsonbValue	v;
	int32		ms;

	if (!mtm_duration_ms(TrackPath(TrackArg(fcinfo), NULL, "duration_ms", &v),
						 &ms))
		PG_RETURN_NULL();
	PG_RETURN_INTERVAL_P(mtm_ms_interval(ms));
}

PG_FUNCTION_INFO_V1(canonical_id);
Datum
canonical_id(PG_FUNCTION_ARGS)
{
	JsonbContainer *track = TrackArg(fcinfo);
	JsonbValue	linked;
	JsonbValue	id;
	text	   *t = mtm_canonical_id(TrackPath(track, NULL, "linked_from", &linked),
									 TrackPath(track, NULL, "id", &id));

	if (t == NULL)
		PG_RETURN_NULL();
	PG_RETURN_TEXT_P(t);
}

/*
 * min_width as a Numeric, kept in fn_extra across the calls of one query so
 * that a constant min_width is converted once, not once per row.
 */
typedef struct MinWidthCache
{
	int32		width;
	Numeric		numeric;
} MinWidthCache;

static Numeric
MinWidthNumeric(FunctionCallInfo fcinfo, int32 min_width)
{
	MinWidthCache *cache = (MinWidthCache *) fcinfo->flinfo->fn_extra;

	if (cache == NULL || cache->width != min_width)
	{
		MemoryContext old = MemoryContextSwitchTo(fcinfo->flinfo->fn_mcxt);

		if (cache == NULL)
			cache = palloc0(sizeof(MinWidthCache));
		else
			pfree(cache->numeric);
		cache->width = min_width;
		cache->numeric = int64_to_numeric(min_width);
		fcinfo->flinfo->fn_extra = cache;
		MemoryContextSwitchTo(old);
	}
	return cache->numeric;
}

/*
 * cover_url(track jsonb, min_width integer DEFAULT NULL) returns text
 *
 * Not STRICT: a NULL min_width means "the largest image", so only a NULL
 * track gives NULL.  A negative min_width is an error even when the track
 * has no images, so a bad call is found on the first row.
 */
PG_FUNCTION_INFO_V1(cover_url);
Datum
cover_url(PG_FUNCTION_ARGS)
{
	Numeric		min_width = NULL;
	JsonbValue	v;
	text	   *url;

	if (PG_NARGS() > 1 && !PG_ARGISNULL(1))
	{
		int32		w = PG_GETARG_INT32(1);

		if (w < 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("min_width must not be negative"),
					 errdetail("Argument \"min_width\" is %d.", w),
					 errhint("Pass NULL for the largest image.")));
		min_width = MinWidthNumeric(fcinfo, w);
	}
	if (PG_ARGISNULL(0))
		PG_RETURN_NULL();
	url = mtm_cover_url(TrackPath(TrackArg(fcinfo), "album", "images", &v),
						min_width);
	if (url == NULL)
		PG_RETURN_NULL();
	PG_RETURN_TEXT_P(url);
}

PG_FUNCTION_INFO_V1(playable_in);
Datum
playable_in(PG_FUNCTION_ARGS)
{
	char		code[3];
	JsonbContainer *track;
	JsonbValue	is_playable;
	JsonbValue	markets;
	MtmPlayable p;

	mtm_market_code(PG_GETARG_TEXT_PP(1), code);
	track = TrackArg(fcinfo);
	p = mtm_playable(TrackPath(track, NULL, "is_playable", &is_playable),
					 TrackPath(track, NULL, "available_markets", &markets),
					 code);
	if (p == MTM_PLAYABLE_UNKNOWN)
		PG_RETURN_NULL();
	PG_RETURN_BOOL(p == MTM_PLAYABLE_YES);
}

/*
 * track_detail(track_id text) returns setof (track_id, name, artist_name,
 * album_name, duration_ms, spotify_url, release_date date,
 * release_date_precision text, isrc text)
 *
 * The seed app's get_track_detail: one row for a stored track, none for an
 * unknown id.  isrc is the stored generated column (music_tm.isrc); the
 * release date is read from raw_json with the readers of release_date.
 */
PG_FUNCTION_INFO_V1(track_detail);
Datum
track_detail(PG_FUNCTION_ARGS)
{
	static SPIPlanPtr plan = NULL;
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	Datum		arg;
	int			ret;

	mtm_require_arg(fcinfo, 0, "id");
	InitMaterializedSRF(fcinfo, 0);
	arg = PG_GETARG_DATUM(0);

	SPI_connect();
	if (plan == NULL)
	{
		Oid			types[1] = {TEXTOID};

		plan = SPI_prepare("SELECT track_id, name, artist_name, album_name,"
						   " duration_ms, spotify_url, raw_json, isrc"
						   " FROM music_tm.tracks"
						   " WHERE track_id OPERATOR(pg_catalog.=) $1",
						   1, types);
		if (plan == NULL)
			elog(ERROR, "SPI_prepare failed: %s",
				 SPI_result_code_string(SPI_result));
		SPI_keepplan(plan);
	}
	ret = SPI_execute_plan(plan, &arg, NULL, true, 1);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "reading music_tm.tracks failed: %s",
			 SPI_result_code_string(ret));

	if (SPI_processed == 1)
	{
		HeapTuple	tuple = SPI_tuptable->vals[0];
		TupleDesc	spidesc = SPI_tuptable->tupdesc;
		Datum		values[9];
		bool		nulls[9];
		MemoryContext oldcxt;
		JsonbContainer *track;
		JsonbContainer *album = NULL;
		JsonbValue	scratch;
		JsonbValue	date;
		JsonbValue	precision;
		DateADT		d;
		MtmDatePrecision p = MTM_PRECISION_NONE;
		bool		isnull;
		Datum		isrc;
		int			i;

		/* Copy the columns out into the tuplestore's context before SPI_finish. */
		oldcxt = MemoryContextSwitchTo(rsinfo->econtext->ecxt_per_query_memory);
		for (i = 0; i < 6; i++)
		{
			Datum		v = SPI_getbinval(tuple, spidesc, i + 1, &nulls[i]);
			Form_pg_attribute att = TupleDescAttr(spidesc, i);

			values[i] = nulls[i] ? (Datum) 0 :
				datumCopy(v, att->attbyval, att->attlen);
		}
		track = mtm_track_container(DatumGetJsonbP(SPI_getbinval(tuple, spidesc,
																 7, &isnull)));
		if (track)
			album = mtm_field_object(track, "album", &scratch);
		if (album)
			p = mtm_release_date(mtm_field(album, "release_date", &date),
								 mtm_field(album, "release_date_precision",
										   &precision), &d);
		nulls[6] = nulls[7] = p == MTM_PRECISION_NONE;
		values[6] = nulls[6] ? (Datum) 0 : DateADTGetDatum(d);
		values[7] = nulls[7] ? (Datum) 0 :
			CStringGetTextDatum(mtm_precision_name(p));
		isrc = SPI_getbinval(tuple, spidesc, 8, &nulls[8]);
		values[8] = nulls[8] ? (Datum) 0 : datumCopy(isrc, false, -1);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
		MemoryContextSwitchTo(oldcxt);
	}

	SPI_finish();
	return (Datum) 0;
}
