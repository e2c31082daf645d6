/*
 * integrity.c
 *		Charts name stored tracks: the triggers that keep it so without a
 *		foreign key per entry, and the read-only chart_entries view.
 *
 * A chart row holds its track ids in an array, which no foreign key can
 * check.  The writing functions store every track before they chart it, so
 * what is left is the other side: a stored track that a chart names must not
 * go away.  Deleting tracks is rare (a manual clean-up), recording pages is
 * the hot path, so the price is paid on delete: no index on the arrays, no
 * lock per entry, and a DELETE on music_tm.tracks scans the charts.
 *
 *	- BEFORE DELETE (statement): lock music_tm.charts in EXCLUSIVE mode.
 *	  Chart writers hold ROW SHARE on it from before they read the tracks
 *	  (chart_store.c), so a delete waits for writers under way and holds off
 *	  new ones until it commits; plain readers are not blocked.
 *	- AFTER DELETE (statement, with the deleted rows as a transition table):
 *	  one scan of the charts for any of the deleted ids; 23503 naming the
 *	  first chart found.
 *	- BEFORE UPDATE OF track_id (row): the same check for a renamed id.
 *	- AFTER TRUNCATE: TRUNCATE of tracks without charts is refused while
 *	  any chart names a track.
 * Deleting a chart is a plain DELETE on music_tm.charts: nothing refers to
 * charts.  music_tm.check_charts() finds charts naming missing tracks after
 * manual edits or a partial restore.
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/namespace.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "storage/lmgr.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"

#include "common.h"

PG_FUNCTION_INFO_V1(tracks_lock_charts);
PG_FUNCTION_INFO_V1(tracks_check_charted);
PG_FUNCTION_INFO_V1(chart_entries_read_only);

/* The error for a track that a chart still names (first row of the scan). */
static void
ChartedError(const char *what)
{
	HeapTuple	t = SPI_tuptable->vals[0];
	TupleDesc	d = SPI_tuptable->tupdesc;

	ereport(ERROR,
			(errcode(ERRCODE_FOREIGN_KEY_VIOLATION),
			 errmsg("cannot %s track \"%s\": a chart names it",
					what, SPI_getvalue(t, d, 1)),
			 errdetail("The chart of listener \"%s\", time range %s on %s has it at rank %s.",
					   SPI_getvalue(t, d, 2), SPI_getvalue(t, d, 3),
					   SPI_getvalue(t, d, 4), SPI_getvalue(t, d, 5)),
			 errhint("Delete the charts that name it first (DELETE FROM music_tm.charts ...).")));
}

/*
 * Run a check of the charts with the latest snapshot, not the statement's:
 * the statement's snapshot was taken before it waited for the charts lock,
 * and would miss the charts of the writers it waited for (as the server's
 * own foreign-key checks do under REPEATABLE READ).  True when a row came.
 */
static bool
FindCharted(const char *sql, int nargs, Oid *types, Datum *values)
{
	SPIPlanPtr	plan = SPI_prepare(sql, nargs, types);
	int			ret;

	if (plan == NULL)
		elog(ERROR, "SPI_prepare failed for \"%s\": %s", sql,
			 SPI_result_code_string(SPI_result));
	ret = SPI_execute_snapshot(plan, values, NULL, GetLatestSnapshot(),
							   InvalidSnapshot, true, false, 1);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "reading music_tm.charts failed: %s", SPI_result_code_string(ret));
	return SPI_processed > 0;
}

/* BEFORE DELETE statement trigger on music_tm.tracks. */
Datum
tracks_lock_charts(PG_FUNCTION_ARGS)
{
	TriggerData *trig = (TriggerData *) fcinfo->context;
	Oid			charts;

	if (!CALLED_AS_TRIGGER(fcinfo) || !TRIGGER_FIRED_BEFORE(trig->tg_event) ||
		!TRIGGER_FIRED_FOR_STATEMENT(trig->tg_event))
		elog(ERROR, "tracks_lock_charts: must be fired before a statement");
	charts = get_relname_relid("charts", get_namespace_oid(MTM_SCHEMA, false));
	if (!OidIsValid(charts))
		elog(ERROR, "relation music_tm.charts does not exist");
	LockRelationOid(charts, ExclusiveLock);
	return PointerGetDatum(NULL);
}

/*
 * AFTER DELETE (statement, transition table "gone"), BEFORE UPDATE OF
 * track_id (row) and AFTER TRUNCATE trigger on music_tm.tracks.
 */
Datum
tracks_check_charted(PG_FUNCTION_ARGS)
{
	TriggerData *trig = (TriggerData *) fcinfo->context;
	TriggerEvent ev;

	if (!CALLED_AS_TRIGGER(fcinfo))
		elog(ERROR, "tracks_check_charted: not called as a trigger");
	ev = trig->tg_event;

	SPI_connect();
	if (TRIGGER_FIRED_BY_DELETE(ev) && TRIGGER_FIRED_FOR_STATEMENT(ev))
	{
		if (SPI_register_trigger_data(trig) != SPI_OK_TD_REGISTER)
			elog(ERROR, "SPI_register_trigger_data failed");
		/* one hash semi-join: every chart's ids against the deleted ids */
		if (FindCharted("SELECT e.id, c.listener, c.time_range, c.snapshot_date, e.rank"
						" FROM music_tm.charts c,"
						"  pg_catalog.unnest(c.track_ids) WITH ORDINALITY AS e(id, rank)"
						" WHERE e.id IN (SELECT g.track_id FROM gone g)"
						" LIMIT 1", 0, NULL, NULL))
			ChartedError("delete");
	}
	else if (TRIGGER_FIRED_BY_UPDATE(ev) && TRIGGER_FIRED_FOR_ROW(ev) &&
			 TRIGGER_FIRED_BEFORE(ev))
	{
		TupleDesc	desc = trig->tg_relation->rd_att;
		int			col = SPI_fnumber(desc, "track_id");
		char	   *old_id = SPI_getvalue(trig->tg_trigtuple, desc, col);
		char	   *new_id = SPI_getvalue(trig->tg_newtuple, desc, col);

		if (old_id && (new_id == NULL || strcmp(old_id, new_id) != 0))
		{
			Oid			types[1] = {TEXTOID};
			Datum		values[1] = {CStringGetTextDatum(old_id)};
			Oid			charts = get_relname_relid("charts",
												   get_namespace_oid(MTM_SCHEMA, false));

			LockRelationOid(charts, ExclusiveLock);
			if (FindCharted("SELECT e.id, c.listener, c.time_range, c.snapshot_date, e.rank"
							" FROM music_tm.charts c,"
							"  pg_catalog.unnest(c.track_ids) WITH ORDINALITY AS e(id, rank)"
							" WHERE e.id OPERATOR(pg_catalog.=) $1 LIMIT 1",
							1, types, values))
				ChartedError("change the id of");
		}
		SPI_finish();
		return PointerGetDatum(trig->tg_newtuple);
	}
	else if (TRIGGER_FIRED_BY_TRUNCATE(ev))
	{
		if (FindCharted("SELECT e.id, c.listener, c.time_range, c.snapshot_date, e.rank"
						" FROM music_tm.charts c,"
						"  pg_catalog.unnest(c.track_ids) WITH ORDINALITY AS e(id, rank)"
						" WHERE e.id IS NOT NULL LIMIT 1", 0, NULL, NULL))
			ChartedError("truncate music_tm.tracks with");
	}
	else
		elog(ERROR, "tracks_check_charted: fired for an unexpected event");
	SPI_finish();
	return PointerGetDatum(NULL);
}

/* INSTEAD OF trigger on the view music_tm.chart_entries. */
Datum
chart_entries_read_only(PG_FUNCTION_ARGS)
{
	TriggerData *trig = (TriggerData *) fcinfo->context;
	const char *verb = "write";

	if (CALLED_AS_TRIGGER(fcinfo))
		verb = TRIGGER_FIRED_BY_INSERT(trig->tg_event) ? "insert into" :
			TRIGGER_FIRED_BY_UPDATE(trig->tg_event) ? "update" : "delete from";
	ereport(ERROR,
			(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
			 errmsg("cannot %s music_tm.chart_entries", verb),
			 errdetail("Since music_tm 2.0, music_tm.chart_entries is a read-only view of music_tm.charts, where a chart is one row."),
			 errhint("Record charts with music_tm.record_top_tracks or music_tm.save_snapshot_row; delete a chart with DELETE FROM music_tm.charts.")));
	PG_RETURN_NULL();
}
