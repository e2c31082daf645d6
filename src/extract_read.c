/*
 * extract_read.c
 *		JSONB extraction: the readers of a track object's fields that the
 *		typed accessors (extract.c) and track_fields (extract_fields.c)
 *		share.  Each takes the JsonbValues already found in one detoasted
 *		object and returns the field typed, or says it is missing; none
 *		raises an error for a field of the wrong type (see extract.c for the
 *		NULL semantics).
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
