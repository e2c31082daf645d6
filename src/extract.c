/*
 * extract.c
 *		JSONB extraction: typed accessors for Spotify track objects and
 *		track_detail.  The readers they share with track_fields are in
 *		extract_read.c.
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
