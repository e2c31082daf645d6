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
#include "track_store.h"

PG_FUNCTION_INFO_V1(save_track);
PG_FUNCTION_INFO_V1(save_snapshot_row);

/* Plans kept for the life of the backend. */
static SPIPlanPtr track_hash_plan = NULL;
static SPIPlanPtr track_upsert_plan = NULL;

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
	mtm_require_top_range(fcinfo, 2, "save_snapshot_row");
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
	series.tallies = false;

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
