/*
 * plays_write.c
 *		The statements that write listens, once mtm_plays_merge (plays.c)
 *		has decided what each incoming listen is.
 *
 * Statements that each name the listener, so that a distributed database
 * routes them to one shard: one UPDATE of the stored listens that another
 * source now confirms (arrays, unnest, joined on the primary key), and the
 * INSERT of the new ones.  The INSERT has no ON CONFLICT clause: the
 * listener's lock keeps other music_tm calls out, and mtm_plays_merge gave
 * every new listen a key that no stored listen holds, so a conflict can only
 * come from a row written into music_tm.plays by hand meanwhile, and is the
 * server's unique violation (23505).  Checking for conflicts first (the
 * speculative insertion of ON CONFLICT DO NOTHING) cost a quarter of an
 * export file's import.  The INSERT takes one of two shapes.  Multi-row VALUES, up to INSERT_CHUNK rows a statement with a
 * kept plan per row count, where Citus is installed (it runs INSERT ...
 * SELECT through an intermediate result on a second connection, a two-phase
 * commit for one worker, and counts the rows sent rather than written; a
 * VALUES insert it routes straight) and for a handful of rows; otherwise
 * one INSERT ... SELECT FROM unnest of arrays for every row: the executor
 * sets up the expressions of each VALUES row anew for every row (about
 * 17,000 instructions each for this table's 17 columns), which made most of
 * the cost of importing an export file.  A value
 * a source does not give is NULL in its array and leaves the stored value
 * as it is (coalesce), so whichever source comes first, the row ends with
 * what every source said.
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "commands/extension.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"

#include "plays.h"

/* The columns every source may give, in the order of both statements. */
#define SOURCE_COLUMNS \
	"playable_id, ms_played, played_at, export_ts, account_end, skipped," \
	" shuffle, offline, offline_at, incognito, reason_start, reason_end," \
	" context_uri"
#define NCOLUMNS 13

static SPIPlanPtr update_plan;
static SPIPlanPtr insert_unnest_plan;

#define INSERT_CHUNK 64
#define INSERT_COLS (2 + NCOLUMNS)	/* per row: ended_at, track_id, sources */
static SPIPlanPtr insert_plans[INSERT_CHUNK + 1];

/* The type of each source column, in SOURCE_COLUMNS order. */
static const Oid source_types[NCOLUMNS] = {TEXTOID, INT4OID,
	TIMESTAMPTZOID, TIMESTAMPTZOID, TIMESTAMPTZOID, BOOLOID, BOOLOID, BOOLOID,
TIMESTAMPTZOID, BOOLOID, TEXTOID, TEXTOID, TEXTOID};

static void
PreparePlans(void)
{
	Oid			t_update[4 + NCOLUMNS] = {TEXTOID, TIMESTAMPTZARRAYOID,
	TEXTARRAYOID, TIMESTAMPTZARRAYOID};

	if (update_plan != NULL)
		return;
	for (int c = 0; c < NCOLUMNS; c++)
		t_update[4 + c] = get_array_type(source_types[c]);
	update_plan = mtm_prepare_kept(
		"UPDATE music_tm.plays AS p SET ended_at = u.new_end,"
		" playable_id = coalesce(u.playable_id, p.playable_id),"
		" ms_played = coalesce(u.ms_played, p.ms_played),"
		" played_at = coalesce(u.played_at, p.played_at),"
		" export_ts = coalesce(u.export_ts, p.export_ts),"
		" account_end = coalesce(u.account_end, p.account_end),"
		" skipped = coalesce(u.skipped, p.skipped),"
		" shuffle = coalesce(u.shuffle, p.shuffle),"
		" offline = coalesce(u.offline, p.offline),"
		" offline_at = coalesce(u.offline_at, p.offline_at),"
		" incognito = coalesce(u.incognito, p.incognito),"
		" reason_start = coalesce(u.reason_start, p.reason_start),"
		" reason_end = coalesce(u.reason_end, p.reason_end),"
		" context_uri = coalesce(u.context_uri, p.context_uri)"
		" FROM ROWS FROM (pg_catalog.unnest($2), pg_catalog.unnest($3),"
		"  pg_catalog.unnest($4), pg_catalog.unnest($5), pg_catalog.unnest($6),"
		"  pg_catalog.unnest($7), pg_catalog.unnest($8), pg_catalog.unnest($9),"
		"  pg_catalog.unnest($10), pg_catalog.unnest($11), pg_catalog.unnest($12),"
		"  pg_catalog.unnest($13), pg_catalog.unnest($14), pg_catalog.unnest($15),"
		"  pg_catalog.unnest($16), pg_catalog.unnest($17))"
		"  AS u(old_end, track_id, new_end, " SOURCE_COLUMNS ")"
		" WHERE p.listener OPERATOR(pg_catalog.=) $1"
		" AND p.ended_at OPERATOR(pg_catalog.=) u.old_end"
		" AND p.track_id OPERATOR(pg_catalog.=) u.track_id",
		4 + NCOLUMNS, t_update);
	/* $1 listener, $2 recorded_at, $3 ended_at[], $4 track_id[], sources */
	t_update[1] = TIMESTAMPTZOID;
	t_update[2] = TIMESTAMPTZARRAYOID;
	t_update[3] = TEXTARRAYOID;
	insert_unnest_plan = mtm_prepare_kept(
		"INSERT INTO music_tm.plays (listener, recorded_at, ended_at, track_id, "
		SOURCE_COLUMNS ")"
		" SELECT $1, $2, pg_catalog.unnest($3), pg_catalog.unnest($4),"
		"  pg_catalog.unnest($5), pg_catalog.unnest($6), pg_catalog.unnest($7),"
		"  pg_catalog.unnest($8), pg_catalog.unnest($9), pg_catalog.unnest($10),"
		"  pg_catalog.unnest($11), pg_catalog.unnest($12), pg_catalog.unnest($13),"
		"  pg_catalog.unnest($14), pg_catalog.unnest($15), pg_catalog.unnest($16),"
		"  pg_catalog.unnest($17)",
		4 + NCOLUMNS, t_update);
}

/*
 * The kept INSERT of rows new listens: $1 listener, $2 recorded_at, then
 * INSERT_COLS parameters per row.
 */
static SPIPlanPtr
InsertPlan(int rows)
{
	int			nargs = 2 + rows * INSERT_COLS;
	Oid		   *types;
	StringInfoData sql;

	Assert(rows >= 1 && rows <= INSERT_CHUNK);
	if (insert_plans[rows] != NULL)
		return insert_plans[rows];
	types = palloc(sizeof(Oid) * nargs);
	types[0] = TEXTOID;
	types[1] = TIMESTAMPTZOID;
	initStringInfo(&sql);
	appendStringInfoString(&sql,
						   "INSERT INTO music_tm.plays (listener, recorded_at, ended_at, track_id, "
						   SOURCE_COLUMNS ") VALUES ");
	for (int r = 0; r < rows; r++)
	{
		int			first = 2 + r * INSERT_COLS;

		appendStringInfoString(&sql, r > 0 ? ", ($1, $2" : "($1, $2");
		for (int c = 0; c < INSERT_COLS; c++)
			appendStringInfo(&sql, ", $%d", first + c + 1);
		appendStringInfoChar(&sql, ')');
		types[first] = TIMESTAMPTZOID;
		types[first + 1] = TEXTOID;
		memcpy(&types[first + 2], source_types, sizeof(source_types));
	}
	insert_plans[rows] = mtm_prepare_kept(sql.data, nargs, types);
	pfree(sql.data);
	pfree(types);
	return insert_plans[rows];
}

/* A text Datum, or a null one (*isnull = 'n') for a NULL string. */
static Datum
NullableText(const char *s, char *isnull)
{
	*isnull = s ? ' ' : 'n';
	return s ? CStringGetTextDatum(s) : (Datum) 0;
}

/* A boolean Datum from -1 (NULL) / 0 / 1. */
static Datum
NullableBool(int8 b, char *isnull)
{
	*isnull = b < 0 ? 'n' : ' ';
	return BoolGetDatum(b > 0);
}

/*
 * One new listen's parameters, in InsertPlan's order: ended_at, track_id and
 * the source columns (the source's own time in its column, NULL in the
 * others).
 */
static void
RowArgs(const MtmPlay *p, MtmPlaySource source, Datum *v, char *n)
{
	memset(n, ' ', INSERT_COLS);
	v[0] = TimestampTzGetDatum(p->new_end);
	v[1] = CStringGetTextDatum(p->row_track);
	v[2] = NullableText(p->playable_id, &n[2]);
	v[3] = Int32GetDatum(p->ms_played);
	n[3] = p->has_ms ? ' ' : 'n';
	for (int k = 0; k < 3; k++)
	{
		MtmPlaySource col = k == 0 ? MTM_SOURCE_RECENT :
			k == 1 ? MTM_SOURCE_EXPORT : MTM_SOURCE_ACCOUNT;

		v[4 + k] = TimestampTzGetDatum(p->at);
		n[4 + k] = source == col ? ' ' : 'n';
	}
	v[7] = NullableBool(p->skipped, &n[7]);
	v[8] = NullableBool(p->shuffle, &n[8]);
	v[9] = NullableBool(p->offline, &n[9]);
	v[10] = TimestampTzGetDatum(p->offline_at);
	n[10] = p->has_offline_at ? ' ' : 'n';
	v[11] = NullableBool(p->incognito, &n[11]);
	v[12] = NullableText(p->reason_start, &n[12]);
	v[13] = NullableText(p->reason_end, &n[13]);
	v[14] = NullableText(p->context_uri, &n[14]);
}

static Datum
ArrayOf(Datum *values, bool *nulls, int n, Oid type)
{
	int			dims[1] = {n};
	int			lbs[1] = {1};
	int16		len;
	bool		byval;
	char		align;

	get_typlenbyvalalign(type, &len, &byval, &align);
	return PointerGetDatum(construct_md_array(values, nulls, 1, dims, lbs, type,
											  len, byval, align));
}

/* A boolean array from -1 (NULL) / 0 / 1 values. */
static Datum
BoolArray(MtmPlay **rows, int n, size_t offset)
{
	Datum	   *v = palloc(sizeof(Datum) * Max(n, 1));
	bool	   *nulls = palloc(sizeof(bool) * Max(n, 1));

	for (int i = 0; i < n; i++)
	{
		int8		b = *(int8 *) ((char *) rows[i] + offset);

		v[i] = BoolGetDatum(b > 0);
		nulls[i] = b < 0;
	}
	return ArrayOf(v, nulls, n, BOOLOID);
}

/* args[first..] = the source columns of rows, for the source given. */
static void
SourceArgs(MtmPlay **rows, int n, MtmPlaySource source, Datum *args)
{
	char	  **playable = palloc(sizeof(char *) * Max(n, 1));
	char	  **reason_start = palloc(sizeof(char *) * Max(n, 1));
	char	  **reason_end = palloc(sizeof(char *) * Max(n, 1));
	char	  **context = palloc(sizeof(char *) * Max(n, 1));
	Datum	   *ms = palloc(sizeof(Datum) * Max(n, 1));
	bool	   *ms_null = palloc(sizeof(bool) * Max(n, 1));
	Datum	   *at = palloc(sizeof(Datum) * Max(n, 1));
	bool	   *at_null = palloc(sizeof(bool) * Max(n, 1));
	bool	   *not_there = palloc(sizeof(bool) * Max(n, 1));
	Datum	   *offline_at = palloc(sizeof(Datum) * Max(n, 1));
	bool	   *offline_null = palloc(sizeof(bool) * Max(n, 1));

	for (int i = 0; i < n; i++)
	{
		MtmPlay    *p = rows[i];

		playable[i] = p->playable_id;
		reason_start[i] = p->reason_start;
		reason_end[i] = p->reason_end;
		context[i] = p->context_uri;
		ms[i] = Int32GetDatum(p->ms_played);
		ms_null[i] = !p->has_ms;
		at[i] = TimestampTzGetDatum(p->at);
		at_null[i] = false;
		not_there[i] = true;
		offline_at[i] = TimestampTzGetDatum(p->offline_at);
		offline_null[i] = !p->has_offline_at;
	}
	args[0] = PointerGetDatum(mtm_text_array(playable, n));
	args[1] = ArrayOf(ms, ms_null, n, INT4OID);
	/* the source's own time goes to its column, NULL to the others */
	args[2] = ArrayOf(at, source == MTM_SOURCE_RECENT ? at_null : not_there,
					  n, TIMESTAMPTZOID);
	args[3] = ArrayOf(at, source == MTM_SOURCE_EXPORT ? at_null : not_there,
					  n, TIMESTAMPTZOID);
	args[4] = ArrayOf(at, source == MTM_SOURCE_ACCOUNT ? at_null : not_there,
					  n, TIMESTAMPTZOID);
	args[5] = BoolArray(rows, n, offsetof(MtmPlay, skipped));
	args[6] = BoolArray(rows, n, offsetof(MtmPlay, shuffle));
	args[7] = BoolArray(rows, n, offsetof(MtmPlay, offline));
	args[8] = ArrayOf(offline_at, offline_null, n, TIMESTAMPTZOID);
	args[9] = BoolArray(rows, n, offsetof(MtmPlay, incognito));
	args[10] = PointerGetDatum(mtm_text_array(reason_start, n));
	args[11] = PointerGetDatum(mtm_text_array(reason_end, n));
	args[12] = PointerGetDatum(mtm_text_array(context, n));
}

/* The key columns of rows: ended_at (old or new) and track_id. */
static void
KeyArgs(MtmPlay **rows, int n, bool old, Datum *ends, Datum *tracks)
{
	Datum	   *e = palloc(sizeof(Datum) * Max(n, 1));
	char	  **t = palloc(sizeof(char *) * Max(n, 1));

	for (int i = 0; i < n; i++)
	{
		e[i] = TimestampTzGetDatum(old ? rows[i]->row_end : rows[i]->new_end);
		t[i] = (char *) rows[i]->row_track;
	}
	*ends = ArrayOf(e, NULL, n, TIMESTAMPTZOID);
	if (tracks)
		*tracks = PointerGetDatum(mtm_text_array(t, n));
}

static int
CompareOldKey(const void *a, const void *b)
{
	const MtmPlay *x = *(MtmPlay *const *) a;
	const MtmPlay *y = *(MtmPlay *const *) b;
	int			c = strcmp(x->row_track, y->row_track);

	if (c != 0)
		return c;
	return (x->row_end > y->row_end) - (x->row_end < y->row_end);
}

/* Time, then track: the order new listens are inserted in. */
static int
CompareNewKey(const void *a, const void *b)
{
	const MtmPlay *x = *(MtmPlay *const *) a;
	const MtmPlay *y = *(MtmPlay *const *) b;

	if (x->new_end != y->new_end)
		return x->new_end < y->new_end ? -1 : 1;
	return strcmp(x->row_track, y->row_track);
}

/*
 * Write what mtm_plays_merge decided: update the MATCHED rows, insert the
 * NEW ones.  Must be called inside SPI_connect.
 */
void
mtm_plays_write(Datum listener, MtmPlaySource source, MtmPlay *plays, int n,
				TimestampTz now, MtmPlayCounts *counts)
{
	MtmPlay   **pending = palloc(sizeof(MtmPlay *) * Max(n, 1));
	MtmPlay   **fresh = palloc(sizeof(MtmPlay *) * Max(n, 1));
	int			npending = 0;
	int			nfresh = 0;

	PreparePlans();
	for (int i = 0; i < n; i++)
	{
		if (plays[i].fate == MTM_PLAY_MATCHED)
			pending[npending++] = &plays[i];
		else if (plays[i].fate == MTM_PLAY_NEW)
			fresh[nfresh++] = &plays[i];
	}

	/*
	 * The updates, in rounds: the key is checked row by row as a statement
	 * updates, so a row that moves onto the key another row is leaving (a
	 * track on repeat: each listen's recently-played time is the end of the
	 * one before) waits for a later round.  Usually one round; mtm_plays_merge
	 * made the keys after the call unique, and a circle of moves (which it
	 * never makes) would keep the rows where they are.
	 */
	while (npending > 0)
	{
		MtmPlay   **leaving = palloc(sizeof(MtmPlay *) * npending);
		MtmPlay   **ready = palloc(sizeof(MtmPlay *) * npending);
		int			nleaving = 0;
		int			nready = 0;
		int			nleft = 0;
		Datum		args[4 + NCOLUMNS];
		int			ret;

		CHECK_FOR_INTERRUPTS();
		for (int j = 0; j < npending; j++)
			if (pending[j]->new_end != pending[j]->row_end)
				leaving[nleaving++] = pending[j];
		qsort(leaving, nleaving, sizeof(MtmPlay *), CompareOldKey);
		for (int j = 0; j < npending; j++)
		{
			MtmPlay    *p = pending[j];
			MtmPlay		key;
			MtmPlay    *keyp = &key;

			key.row_track = p->row_track;
			key.row_end = p->new_end;
			if (p->new_end != p->row_end &&
				bsearch(&keyp, leaving, nleaving, sizeof(MtmPlay *), CompareOldKey))
				pending[nleft++] = p;
			else
				ready[nready++] = p;
		}
		if (nready == 0)
		{
			for (int j = 0; j < npending; j++)
				pending[j]->new_end = pending[j]->row_end;
			continue;
		}

		args[0] = listener;
		KeyArgs(ready, nready, true, &args[1], &args[2]);
		KeyArgs(ready, nready, false, &args[3], NULL);
		SourceArgs(ready, nready, source, args + 4);
		ret = SPI_execute_plan(update_plan, args, NULL, false, 0);
		if (ret != SPI_OK_UPDATE)
			elog(ERROR, "updating music_tm.plays failed: %s", SPI_result_code_string(ret));

		/*
		 * The rows were read with the latest snapshot; under REPEATABLE READ
		 * the UPDATE runs with the transaction's and does not see a listen
		 * committed since it began.  Confirming it would be lost: fail as the
		 * server fails an update of a row changed since the snapshot.
		 */
		if (SPI_processed != (uint64) nready)
			ereport(ERROR,
					(errcode(ERRCODE_T_R_SERIALIZATION_FAILURE),
					 errmsg("could not serialize access due to concurrent update"),
					 errdetail("A listen this call confirms was stored or changed by a transaction that committed after this transaction's snapshot."),
					 errhint("Retry the transaction.")));
		npending = nleft;
	}

	/*
	 * In time order: the heap then lies as the primary key does, and a read
	 * of a stretch of time (the statistics, the charts from plays) finds its
	 * listens on consecutive pages instead of one page per listen.
	 */
	qsort(fresh, nfresh, sizeof(MtmPlay *), CompareNewKey);
	if (nfresh > INSERT_CHUNK && !OidIsValid(get_extension_oid("citus", true)))
	{
		Datum		args[4 + NCOLUMNS];
		int			ret;

		args[0] = listener;
		args[1] = TimestampTzGetDatum(now);
		KeyArgs(fresh, nfresh, false, &args[2], &args[3]);
		SourceArgs(fresh, nfresh, source, args + 4);
		ret = SPI_execute_plan(insert_unnest_plan, args, NULL, false, 0);
		if (ret != SPI_OK_INSERT)
			elog(ERROR, "writing music_tm.plays failed: %s", SPI_result_code_string(ret));
		counts->inserted += SPI_processed;
		return;
	}
	for (int first = 0; first < nfresh; first += INSERT_CHUNK)
	{
		int			rows = Min(INSERT_CHUNK, nfresh - first);
		int			nargs = 2 + rows * INSERT_COLS;
		Datum	   *vals = palloc(sizeof(Datum) * nargs);
		char	   *nulls = palloc(nargs + 1);
		int			ret;

		CHECK_FOR_INTERRUPTS();
		vals[0] = listener;
		vals[1] = TimestampTzGetDatum(now);
		nulls[0] = nulls[1] = ' ';
		nulls[nargs] = '\0';
		for (int r = 0; r < rows; r++)
			RowArgs(fresh[first + r], source, &vals[2 + r * INSERT_COLS],
					&nulls[2 + r * INSERT_COLS]);
		ret = SPI_execute_plan(InsertPlan(rows), vals, nulls, false, 0);
		if (ret != SPI_OK_INSERT)
			elog(ERROR, "writing music_tm.plays failed: %s", SPI_result_code_string(ret));
		counts->inserted += SPI_processed;
		pfree(vals);
		pfree(nulls);
	}
}
