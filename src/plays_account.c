/*
 * plays_account.c
 *		The account-data export (StreamingHistory_music_*.json, older
 *		StreamingHistory*.json): listens named by artist and title, to the
 *		minute, and match_unmatched_plays.
 *
 * An entry {"endTime": "2024-05-06 18:43", "artistName", "trackName",
 * "msPlayed"} has no track id.  It is matched to the stored tracks of that
 * artist (music_tm.tracks.artist_name, the first credited artist) and name:
 *	- a stored listen of one of them at that time (see plays.c) is the
 *	  listen, whatever else has those names;
 *	- otherwise, when the names are one song (one track id, or several that
 *	  share an ISRC), a new listen of the smallest of those ids;
 *	- otherwise (no stored track of those names, or several songs) the
 *	  listen is kept in music_tm.unmatched_plays with its names, so that
 *	  nothing is lost; match_unmatched_plays moves such listens into
 *	  music_tm.plays once their track is stored (a later export or poll).
 * Podcast entries ("podcastName", "episodeName": StreamingHistory_podcast_*)
 * are counted as episodes and not stored.
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/fmgrprotos.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/snapmgr.h"

#include "plays.h"

PG_FUNCTION_INFO_V1(match_unmatched_plays);

/* One account-data listen, before and after its names are looked up. */
typedef struct NamedListen
{
	int			entry;
	TimestampTz end;
	char	   *artist;
	char	   *title;
	int32		ms;
} NamedListen;

/* A stored track of some names. */
typedef struct NamedTrack
{
	char	   *artist;
	char	   *title;
	char	   *track_id;
	char	   *isrc;
} NamedTrack;

static SPIPlanPtr names_plan;
static SPIPlanPtr unmatched_insert_plan;
static SPIPlanPtr unmatched_delete_plan;
static SPIPlanPtr unmatched_read_plan;

static void
PreparePlans(void)
{
	Oid			t_names[2] = {TEXTARRAYOID, TEXTARRAYOID};
	Oid			t_rows[6] = {TEXTOID, TIMESTAMPTZARRAYOID, TEXTARRAYOID,
	TEXTARRAYOID, INT4ARRAYOID, TIMESTAMPTZOID};
	Oid			t_read[1] = {TEXTOID};

	/* the last one made: an error while preparing leaves it NULL */
	if (unmatched_read_plan != NULL)
		return;
	names_plan = mtm_prepare_kept(
		"SELECT t.artist_name, t.name, t.track_id, t.isrc"
		" FROM ROWS FROM (pg_catalog.unnest($1), pg_catalog.unnest($2)) AS u(artist, title)"
		" JOIN music_tm.tracks t ON t.artist_name OPERATOR(pg_catalog.=) u.artist"
		" AND t.name OPERATOR(pg_catalog.=) u.title", 2, t_names);
	unmatched_insert_plan = mtm_prepare_kept(
		"INSERT INTO music_tm.unmatched_plays"
		" (listener, ended_at, artist_name, track_name, ms_played, recorded_at)"
		" SELECT $1, u.*, $6 FROM ROWS FROM (pg_catalog.unnest($2),"
		"  pg_catalog.unnest($3), pg_catalog.unnest($4), pg_catalog.unnest($5)) AS u"
		" ON CONFLICT (listener, ended_at, artist_name, track_name, ms_played) DO NOTHING",
		6, t_rows);
	unmatched_delete_plan = mtm_prepare_kept(
		"DELETE FROM music_tm.unmatched_plays AS m"
		" USING ROWS FROM (pg_catalog.unnest($2), pg_catalog.unnest($3),"
		"  pg_catalog.unnest($4), pg_catalog.unnest($5)) AS u(ended_at, artist, title, ms)"
		" WHERE m.listener OPERATOR(pg_catalog.=) $1"
		" AND m.ended_at OPERATOR(pg_catalog.=) u.ended_at"
		" AND m.artist_name OPERATOR(pg_catalog.=) u.artist"
		" AND m.track_name OPERATOR(pg_catalog.=) u.title"
		" AND m.ms_played OPERATOR(pg_catalog.=) u.ms", 5, t_rows);
	unmatched_read_plan = mtm_prepare_kept(
		"SELECT ended_at, artist_name, track_name, ms_played"
		" FROM music_tm.unmatched_plays"
		" WHERE listener OPERATOR(pg_catalog.=) $1"
		" ORDER BY ended_at, artist_name, track_name, ms_played", 1, t_read);
}

static void
EntryTypeError(int entry, const char *field, const char *expected,
			   const JsonbValue *got)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("field \"%s\" of an account-data entry must be %s",
					field, expected),
			 errdetail("Found a JSON %s in field \"%s\" of entry [%d].",
					   mtm_jsonb_type_name(got), field, entry)));
}

static JsonbValue *
Required(JsonbContainer *obj, const char *field, int entry, JsonbValue *out)
{
	JsonbValue *f = mtm_field(obj, field, out);

	if (f == NULL || f->type == jbvNull)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("account-data entry has no \"%s\"", field),
				 errdetail("Field \"%s\" of entry [%d] is %s.", field, entry,
						   f ? "null" : "missing")));
	return f;
}

static char *
RequiredString(JsonbContainer *obj, const char *field, int entry)
{
	JsonbValue	v;
	JsonbValue *f = Required(obj, field, entry, &v);

	if (f->type != jbvString)
		EntryTypeError(entry, field, "a string", f);
	return mtm_string_or_null(f);
}

/*
 * Check one entry; fill l and return true for a music listen, false for a
 * podcast entry (counted in sum).
 */
static bool
ParseAccountEntry(JsonbValue *ev, int entry, NamedListen *l, MtmImportSummary *sum)
{
	JsonbContainer *obj;
	JsonbValue	v;
	JsonbValue *f;

	if (!mtm_is_object(ev))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("an account-data entry must be a JSON object"),
				 errdetail("Found a JSON %s at entry [%d].",
						   mtm_jsonb_type_name(ev), entry)));
	obj = ev->val.binary.data;
	memset(l, 0, sizeof(*l));
	l->entry = entry;

	f = Required(obj, "endTime", entry, &v);
	if (f->type != jbvString)
		EntryTypeError(entry, "endTime", "a string", f);
	if (!mtm_parse_utc_time(f->val.string.val, f->val.string.len, &l->end))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_DATETIME_FORMAT),
				 errmsg("field \"endTime\" of an account-data entry is not a valid time"),
				 errdetail("Found \"%s\" in field \"endTime\" of entry [%d].",
						   pnstrdup(f->val.string.val, Min(f->val.string.len, 64)),
						   entry)));

	f = Required(obj, "msPlayed", entry, &v);
	if (f->type != jbvNumeric)
		EntryTypeError(entry, "msPlayed", "a number", f);
	if (!mtm_numeric_int32(f, &l->ms) || l->ms < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("field \"msPlayed\" of an account-data entry must be a whole number between 0 and 2147483647"),
				 errdetail("Found %s in field \"msPlayed\" of entry [%d].",
						   DatumGetCString(DirectFunctionCall1(numeric_out,
															   NumericGetDatum(f->val.numeric))),
						   entry)));

	if (mtm_field(obj, "podcastName", &v) != NULL ||
		mtm_field(obj, "episodeName", &v) != NULL)
	{
		sum->episodes++;
		return false;
	}
	l->artist = RequiredString(obj, "artistName", entry);
	l->title = RequiredString(obj, "trackName", entry);
	return true;
}

static int
CompareNamedTrack(const void *a, const void *b)
{
	const NamedTrack *x = a;
	const NamedTrack *y = b;
	int			c = strcmp(x->artist, y->artist);

	if (c == 0)
		c = strcmp(x->title, y->title);
	return c != 0 ? c : strcmp(x->track_id, y->track_id);
}

static Datum
TimeArray(Datum *v, int n)
{
	return PointerGetDatum(construct_array(v, n, TIMESTAMPTZOID, 8,
										   FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
}

/* Run the insert or delete of unmatched listens for the ones listed. */
static uint64
UnmatchedStatement(SPIPlanPtr plan, Datum listener, NamedListen **rows, int n,
				   TimestampTz now, int expected)
{
	Datum	   *ends = palloc(sizeof(Datum) * Max(n, 1));
	char	  **artists = palloc(sizeof(char *) * Max(n, 1));
	char	  **titles = palloc(sizeof(char *) * Max(n, 1));
	Datum	   *ms = palloc(sizeof(Datum) * Max(n, 1));
	Datum		args[6];
	int			ret;

	for (int i = 0; i < n; i++)
	{
		ends[i] = TimestampTzGetDatum(rows[i]->end);
		artists[i] = rows[i]->artist;
		titles[i] = rows[i]->title;
		ms[i] = Int32GetDatum(rows[i]->ms);
	}
	args[0] = listener;
	args[1] = TimeArray(ends, n);
	args[2] = PointerGetDatum(mtm_text_array(artists, n));
	args[3] = PointerGetDatum(mtm_text_array(titles, n));
	args[4] = PointerGetDatum(construct_array(ms, n, INT4OID, 4, true, TYPALIGN_INT));
	args[5] = TimestampTzGetDatum(now);
	ret = SPI_execute_plan(plan, args, NULL, false, 0);
	if (ret != expected)
		elog(ERROR, "writing music_tm.unmatched_plays failed: %s",
			 SPI_result_code_string(ret));
	return SPI_processed;
}

/*
 * Look the listens' names up, merge those whose track is known, keep the
 * others in music_tm.unmatched_plays (from_table: they are there already)
 * and take the resolved ones out of it.  Must be called inside SPI_connect.
 */
static void
ApplyNamedListens(NamedListen *ls, int n, Datum listener, TimestampTz now,
				  bool from_table, MtmImportSummary *sum)
{
	char	  **artists = palloc(sizeof(char *) * Max(n, 1));
	char	  **titles = palloc(sizeof(char *) * Max(n, 1));
	NamedTrack *tracks;
	int			ntracks;
	MtmPlay    *plays = palloc0(sizeof(MtmPlay) * Max(n, 1));
	int			nplays = 0;
	NamedListen **keep = palloc(sizeof(NamedListen *) * Max(n, 1));
	NamedListen **resolved = palloc(sizeof(NamedListen *) * Max(n, 1));
	int			nkeep = 0;
	int			nresolved = 0;
	Datum		args[2];
	int			ret;

	PreparePlans();
	/* the order of every writer of plays: the listener's lock, then rows */
	mtm_lock_listener_plays(listener);
	for (int i = 0; i < n; i++)
	{
		artists[i] = ls[i].artist;
		titles[i] = ls[i].title;
	}
	args[0] = PointerGetDatum(mtm_text_array(artists, n));
	args[1] = PointerGetDatum(mtm_text_array(titles, n));
	ret = SPI_execute_snapshot(names_plan, args, NULL, GetLatestSnapshot(),
							   InvalidSnapshot, true, false, 0);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "reading music_tm.tracks failed: %s", SPI_result_code_string(ret));
	tracks = palloc(sizeof(NamedTrack) * Max(SPI_processed, 1));
	ntracks = (int) SPI_processed;
	for (int r = 0; r < ntracks; r++)
	{
		tracks[r].artist = SPI_getvalue(SPI_tuptable->vals[r], SPI_tuptable->tupdesc, 1);
		tracks[r].title = SPI_getvalue(SPI_tuptable->vals[r], SPI_tuptable->tupdesc, 2);
		tracks[r].track_id = SPI_getvalue(SPI_tuptable->vals[r], SPI_tuptable->tupdesc, 3);
		tracks[r].isrc = SPI_getvalue(SPI_tuptable->vals[r], SPI_tuptable->tupdesc, 4);
	}
	/* the join repeats a track once per listen of its names: each once */
	qsort(tracks, ntracks, sizeof(NamedTrack), CompareNamedTrack);

	for (int i = 0; i < n; i++)
	{
		NamedListen *l = &ls[i];
		NamedTrack	key = {l->artist, l->title, "", NULL};
		int			lo = 0;
		int			hi = ntracks;
		int			nids = 0;
		MtmPlay    *p;

		CHECK_FOR_INTERRUPTS();
		/* the first track of these names: lower bound of (artist, title, "") */
		while (lo < hi)
		{
			int			mid = (lo + hi) / 2;

			if (CompareNamedTrack(&tracks[mid], &key) < 0)
				lo = mid + 1;
			else
				hi = mid;
		}
		p = &plays[nplays];
		p->alt_ids = palloc(sizeof(char *) * Max(ntracks - lo, 1));
		for (int t = lo; t < ntracks &&
			 strcmp(tracks[t].artist, l->artist) == 0 &&
			 strcmp(tracks[t].title, l->title) == 0; t++)
		{
			if (nids > 0 && strcmp(p->alt_ids[nids - 1], tracks[t].track_id) == 0)
				continue;
			p->alt_ids[nids++] = tracks[t].track_id;
		}
		if (nids == 0)
		{
			keep[nkeep++] = l;
			continue;
		}
		/* one song: one id, or ids that all carry one ISRC */
		{
			const char *isrc = NULL;
			bool		one = true;

			for (int t = lo; t < ntracks &&
				 strcmp(tracks[t].artist, l->artist) == 0 &&
				 strcmp(tracks[t].title, l->title) == 0; t++)
			{
				if (tracks[t].isrc == NULL || (isrc && strcmp(isrc, tracks[t].isrc) != 0))
					one = false;
				isrc = tracks[t].isrc;
			}
			p->ambiguous = nids > 1 && !one;
		}
		p->nalt = nids;
		p->entry = i;			/* back to its listen after the merge sorts */
		p->track_id = p->alt_ids[0];
		p->at = l->end;
		p->has_ms = true;
		p->ms_played = l->ms;
		p->skipped = p->shuffle = p->offline = p->incognito = -1;
		nplays++;
	}

	if (nplays > 0)
		mtm_plays_merge(listener, MTM_SOURCE_ACCOUNT, plays, nplays, true, now, &sum->plays);
	for (int j = 0; j < nplays; j++)
	{
		NamedListen *l = &ls[plays[j].entry];

		if (plays[j].fate == MTM_PLAY_UNRESOLVED)
			keep[nkeep++] = l;
		else
			resolved[nresolved++] = l;
	}

	/* the unmatched ones stay apart; the resolved ones are out of there */
	if (!from_table && nkeep > 0)
	{
		uint64		added = UnmatchedStatement(unmatched_insert_plan, listener,
											   keep, nkeep, now, SPI_OK_INSERT);

		sum->unmatched += added;
		sum->plays.unchanged += nkeep - added;
	}
	else
		sum->unmatched += nkeep;
	if (nresolved > 0 &&
		UnmatchedStatement(unmatched_delete_plan, listener, resolved, nresolved,
						   now, SPI_OK_DELETE) != (uint64) nresolved && from_table)
		ereport(ERROR,
				(errcode(ERRCODE_T_R_SERIALIZATION_FAILURE),
				 errmsg("could not serialize access due to concurrent update"),
				 errdetail("An unmatched listen was changed by a transaction that committed after this transaction's snapshot."),
				 errhint("Retry the transaction.")));
}

/* import_streaming_history for an account-data file (entries checked here). */
void
mtm_import_account(JsonbContainer *entries, Datum listener, TimestampTz now,
				   MtmImportSummary *sum)
{
	int			nentries = JsonContainerSize(entries);
	NamedListen *ls = palloc(sizeof(NamedListen) * Max(nentries, 1));
	int			n = 0;
	int			index = 0;
	JsonbIterator *it = JsonbIteratorInit(entries);
	JsonbIteratorToken tok;
	JsonbValue	v;

	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		if (tok != WJB_ELEM)
			continue;
		CHECK_FOR_INTERRUPTS();
		if (ParseAccountEntry(&v, index, &ls[n], sum))
			n++;
		index++;
	}
	if (n == 0)
		return;
	SPI_connect();
	ApplyNamedListens(ls, n, listener, now, false, sum);
	SPI_finish();
}

/*
 * match_unmatched_plays(listener text)
 *
 * The listens of the account data kept apart, matched again now that more
 * tracks may be stored: each one resolved moves into music_tm.plays (as a
 * new listen or joining the listen another source stored).  Returns how many
 * moved and how many remain.
 */
Datum
match_unmatched_plays(PG_FUNCTION_ARGS)
{
	TupleDesc	tupdesc;
	MtmImportSummary sum;
	NamedListen *ls;
	int			n;
	Datum		values[2];
	bool		nulls[2] = {false};
	Datum		args[1];

	mtm_require_arg(fcinfo, 0, "listener");
	mtm_check_listener(PG_GETARG_DATUM(0));
	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	memset(&sum, 0, sizeof(sum));

	SPI_connect();
	PreparePlans();
	mtm_lock_listener_plays(PG_GETARG_DATUM(0));
	args[0] = PG_GETARG_DATUM(0);
	/* the latest snapshot, as every read that decides a write here */
	if (SPI_execute_snapshot(unmatched_read_plan, args, NULL, GetLatestSnapshot(),
							 InvalidSnapshot, true, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "reading music_tm.unmatched_plays failed");
	n = (int) SPI_processed;
	ls = palloc(sizeof(NamedListen) * Max(n, 1));
	for (int r = 0; r < n; r++)
	{
		HeapTuple	tup = SPI_tuptable->vals[r];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		bool		isnull;

		ls[r].entry = r;
		ls[r].end = DatumGetTimestampTz(SPI_getbinval(tup, desc, 1, &isnull));
		ls[r].artist = SPI_getvalue(tup, desc, 2);
		ls[r].title = SPI_getvalue(tup, desc, 3);
		ls[r].ms = DatumGetInt32(SPI_getbinval(tup, desc, 4, &isnull));
	}
	if (n > 0)
		ApplyNamedListens(ls, n, PG_GETARG_DATUM(0),
						  GetCurrentTransactionStartTimestamp(), true, &sum);
	SPI_finish();

	values[0] = Int64GetDatum(n - sum.unmatched);
	values[1] = Int64GetDatum(sum.unmatched);
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(BlessTupleDesc(tupdesc),
													  values, nulls)));
}
