/*
 * extract.c
 *		JSONB extraction: fields of a Spotify track object, and track_detail.
 *
 * A track object is detoasted once per call and every field is read from
 * that one copy with the server's key lookup (see common.c).
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "utils/builtins.h"
#include "utils/datum.h"

#include "common.h"
#include "extract.h"

PG_FUNCTION_INFO_V1(track_detail);

/* album.release_date as Spotify sent it ("1981", "1981-12", "1981-12-15"). */
char *
mtm_track_release_date_text(JsonbContainer *track)
{
	JsonbValue	scratch;
	JsonbValue	v;
	JsonbContainer *album = mtm_field_object(track, "album", &scratch);

	if (album == NULL)
		return NULL;
	return mtm_string_or_null(mtm_field(album, "release_date", &v));
}

/* external_ids.isrc, NULL when absent, null or not a string. */
char *
mtm_track_isrc(JsonbContainer *track)
{
	JsonbValue	scratch;
	JsonbValue	v;
	JsonbContainer *ids = mtm_field_object(track, "external_ids", &scratch);

	if (ids == NULL)
		return NULL;
	return mtm_string_or_null(mtm_field(ids, "isrc", &v));
}

/*
 * track_detail(track_id text) returns setof (track_id, name, artist_name,
 * album_name, duration_ms, spotify_url, release_date, isrc)
 *
 * The seed app's get_track_detail: one row for a stored track, none for an
 * unknown id.
 */
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
						   " duration_ms, spotify_url, raw_json"
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
		Datum		values[8];
		bool		nulls[8];
		MemoryContext oldcxt;
		Jsonb	   *raw;
		char	   *release_date;
		char	   *isrc;
		int			i;

		/* Copy the columns out into the tuplestore's context before SPI_finish. */
		oldcxt = MemoryContextSwitchTo(rsinfo->econtext->ecxt_per_query_memory);
		for (i = 0; i < 6; i++)
		{
			Datum		d = SPI_getbinval(tuple, spidesc, i + 1, &nulls[i]);
			Form_pg_attribute att = TupleDescAttr(spidesc, i);

			values[i] = nulls[i] ? (Datum) 0 :
				datumCopy(d, att->attbyval, att->attlen);
		}
		raw = DatumGetJsonbP(SPI_getbinval(tuple, spidesc, 7, &nulls[6]));
		release_date = mtm_track_release_date_text(&raw->root);
		isrc = mtm_track_isrc(&raw->root);
		nulls[6] = release_date == NULL;
		values[6] = release_date ? CStringGetTextDatum(release_date) : (Datum) 0;
		nulls[7] = isrc == NULL;
		values[7] = isrc ? CStringGetTextDatum(isrc) : (Datum) 0;
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
		MemoryContextSwitchTo(oldcxt);
	}

	SPI_finish();
	return (Datum) 0;
}
