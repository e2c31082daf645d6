/*
 * plays.c
 *		Storing listens: one row of music_tm.plays per listen, whichever
 *		sources report it, and however often.
 *
 * A call of record_recently_played or import_streaming_history hands its
 * listens, checked and parsed, to mtm_plays_merge, which
 *
 *	0. takes a transaction-scoped lock on the listener's plays (an advisory
 *	   lock of music_tm's own kind, 4): writers of one listener's plays take
 *	   turns, so two sessions importing overlapping data cannot both decide
 *	   that a listen is new.  It writes nothing;
 *	1. reads the listener's stored listens around the incoming ones (one
 *	   index range scan of the primary key, with the latest snapshot: under
 *	   REPEATABLE READ a listen committed since the snapshot is seen, and
 *	   updating it is a serialization failure, never a second row);
 *	2. decides in C what each incoming listen is (see "Matching" below);
 *	3. writes with at most two statements: one UPDATE of the stored listens
 *	   that another source now confirms, one INSERT of the new ones (arrays,
 *	   unnest), each naming the listener, so a distributed database routes
 *	   it to one shard.  A replay writes nothing.
 *
 * Matching.  Each source reports one listen the same way every time: a
 * recently-played poll repeats played_at to the millisecond, a newer export
 * repeats an older one's ts.  So within one source, a listen is known again
 * by its track and its exact time (a replay), and two different times are
 * two listens, however close: two real plays of one track minutes apart
 * both stay.
 *
 * Across sources, a recently-played item (played_at p) and an export entry
 * (ts t, ms_played m) of the same track are one listen when
 *		|t - p| <= 10 s			(played_at was the end of the listen), or
 *		|t - m - p| <= 10 s		(played_at was its start)
 * Spotify's played_at is sometimes the end and sometimes the start of the
 * listen; the export's ts is always the end, and t - m is its start.  The
 * 10 s cover ts being whole seconds, the milliseconds played not quite
 * matching wall time (buffering) and the clocks of the client and of
 * Spotify's log.  Recently-played lists listens of 30 s or more only, so
 * two of them end at least 30 s apart: no export entry is within 10 s of
 * two of them under one reading.  The pairing is one-to-one, closest pairs
 * first, so it never merges two listens of one source.  A listen paused for
 * long enough that its wall time exceeds its milliseconds played by more than
 * 10 s, reported by a client that gives the start, is not recognised and is
 * stored twice; nothing is ever lost.
 *
 * The track is the canonical id recently-played gives (linked_from.id of a
 * relinked track) or the id in the export's spotify_track_uri; an export id
 * also matches a recently-played listen by its playable id.
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "common/hashfn.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "storage/lock.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/datetime.h"
#include "utils/lsyscache.h"
#include "utils/snapmgr.h"

#include "plays.h"

/* A stored listen, as read back for matching. */
typedef struct StoredPlay
{
	TimestampTz ended_at;
	char	   *track_id;
	char	   *playable_id;
	bool		has_ms;
	int32		ms_played;
	bool		has_played_at;
	TimestampTz played_at;
	bool		has_export_ts;
	TimestampTz export_ts;
	bool		taken;			/* joined by an incoming listen */
	TimestampTz new_end;		/* ended_at after the update */
} StoredPlay;

/* A stored listen under one of its ids, for lookups by id. */
typedef struct IdRef
{
	const char *id;
	int			k;
} IdRef;

/* A possible pairing of incoming listen i with stored listen k. */
typedef struct Candidate
{
	int64		distance;
	TimestampTz at;
	int			i;
	int			k;
} Candidate;

static SPIPlanPtr read_plan;
static SPIPlanPtr update_plan;
static SPIPlanPtr insert_plan;

static void
PreparePlans(void)
{
	Oid			t_read[3] = {TEXTOID, TIMESTAMPTZOID, TIMESTAMPTZOID};
	Oid			t_update[16] = {TEXTOID, TIMESTAMPTZARRAYOID, TEXTARRAYOID,
		TIMESTAMPTZARRAYOID, TEXTARRAYOID, INT4ARRAYOID, TIMESTAMPTZARRAYOID,
		TIMESTAMPTZARRAYOID, BOOLARRAYOID, BOOLARRAYOID, BOOLARRAYOID,
		TIMESTAMPTZARRAYOID, BOOLARRAYOID, TEXTARRAYOID, TEXTARRAYOID,
	TEXTARRAYOID};
	Oid			t_insert[16] = {TEXTOID, TIMESTAMPTZOID, TIMESTAMPTZARRAYOID,
		TEXTARRAYOID, TEXTARRAYOID, INT4ARRAYOID, TIMESTAMPTZARRAYOID,
		TIMESTAMPTZARRAYOID, BOOLARRAYOID, BOOLARRAYOID, BOOLARRAYOID,
		TIMESTAMPTZARRAYOID, BOOLARRAYOID, TEXTARRAYOID, TEXTARRAYOID,
	TEXTARRAYOID};

	/* the last one made: an error while preparing leaves it NULL */
	if (insert_plan != NULL)
		return;
	read_plan = mtm_prepare_kept(
		"SELECT ended_at, track_id, playable_id, ms_played, played_at, export_ts"
		" FROM music_tm.plays"
		" WHERE listener OPERATOR(pg_catalog.=) $1"
		" AND ended_at OPERATOR(pg_catalog.>=) $2"
		" AND ended_at OPERATOR(pg_catalog.<=) $3", 3, t_read);
	update_plan = mtm_prepare_kept(
		"UPDATE music_tm.plays AS p SET ended_at = u.new_end,"
		" playable_id = coalesce(u.playable_id, p.playable_id),"
		" ms_played = coalesce(u.ms_played, p.ms_played),"
		" played_at = coalesce(u.played_at, p.played_at),"
		" export_ts = coalesce(u.export_ts, p.export_ts),"
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
		"  pg_catalog.unnest($16))"
		"  AS u(old_end, track_id, new_end, playable_id, ms_played, played_at,"
		"  export_ts, skipped, shuffle, offline, offline_at, incognito,"
		"  reason_start, reason_end, context_uri)"
		" WHERE p.listener OPERATOR(pg_catalog.=) $1"
		" AND p.ended_at OPERATOR(pg_catalog.=) u.old_end"
		" AND p.track_id OPERATOR(pg_catalog.=) u.track_id", 16, t_update);
	insert_plan = mtm_prepare_kept(
		"INSERT INTO music_tm.plays (listener, recorded_at, ended_at, track_id,"
		" playable_id, ms_played, played_at, export_ts, skipped, shuffle,"
		" offline, offline_at, incognito, reason_start, reason_end, context_uri)"
		" SELECT $1, $2, u.* FROM ROWS FROM (pg_catalog.unnest($3),"
		"  pg_catalog.unnest($4), pg_catalog.unnest($5), pg_catalog.unnest($6),"
		"  pg_catalog.unnest($7), pg_catalog.unnest($8), pg_catalog.unnest($9),"
		"  pg_catalog.unnest($10), pg_catalog.unnest($11), pg_catalog.unnest($12),"
		"  pg_catalog.unnest($13), pg_catalog.unnest($14), pg_catalog.unnest($15),"
		"  pg_catalog.unnest($16)) AS u"
		" ON CONFLICT (listener, ended_at, track_id) DO NOTHING", 16, t_insert);
}

/* Raise 22023 for an empty listener: every other function refuses it too. */
void
mtm_check_listener(Datum listener)
{
	if (VARSIZE_ANY_EXHDR(DatumGetTextPP(listener)) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("listener must not be empty")));
}

/*
 * Step 0.  music_tm's advisory locks carry a kind in the last field that
 * pg_advisory_lock() never uses (1 and 2): 3 for a chart's key
 * (chart_store.c), 4 for a listener's plays.
 */
static void
LockListenerPlays(Datum listener)
{
	text	   *l = DatumGetTextPP(listener);
	uint64		h = hash_bytes_extended((const unsigned char *) VARDATA_ANY(l),
										VARSIZE_ANY_EXHDR(l), 4);
	LOCKTAG		tag;

	SET_LOCKTAG_ADVISORY(tag, MyDatabaseId, (uint32) (h >> 32), (uint32) h, 4);
	(void) LockAcquire(&tag, ExclusiveLock, false, false);
}

/*
 * A time as Spotify writes it, read with the server's own date/time input:
 * "2022-06-17T19:53:06Z", "2021-11-15 13:41:44", "2023-09-22T15:43:33.750Z",
 * "2024-05-06 18:43".  A time without a zone is UTC (the exports say so),
 * whatever the session's TimeZone.  Returns false for anything else:
 * only digits and the characters of those forms ("-:. TZ+") are accepted,
 * which keeps out the special inputs (now, today, epoch, infinity) and
 * time zone names.
 */
bool
mtm_parse_utc_time(const char *s, int len, TimestampTz *out)
{
	char	   *str;
	char		workbuf[MAXDATELEN + MAXDATEFIELDS];
	char	   *field[MAXDATEFIELDS];
	int			ftype[MAXDATEFIELDS];
	int			nf;
	int			dtype;
	struct pg_tm tm;
	fsec_t		fsec;
	int			tz = 0;

	if (len <= 0 || len > MAXDATELEN)
		return false;
	for (int i = 0; i < len; i++)
		if (!isdigit((unsigned char) s[i]) && strchr("-:. TZ+", s[i]) == NULL)
			return false;
	str = pnstrdup(s, len);
	if (ParseDateTime(str, workbuf, sizeof(workbuf), field, ftype,
					  MAXDATEFIELDS, &nf) != 0)
		return false;

	/*
	 * Without a place for the zone, DecodeDateTime refuses a time that names
	 * one: the first try reads a zoneless time as UTC, the second a zoned one.
	 */
#if PG_VERSION_NUM >= 160000
	{
		DateTimeErrorExtra extra;

		if (DecodeDateTime(field, ftype, nf, &dtype, &tm, &fsec, NULL, &extra) != 0)
		{
			if (ParseDateTime(str, workbuf, sizeof(workbuf), field, ftype,
							  MAXDATEFIELDS, &nf) != 0 ||
				DecodeDateTime(field, ftype, nf, &dtype, &tm, &fsec, &tz, &extra) != 0)
				return false;
		}
	}
#else
	if (DecodeDateTime(field, ftype, nf, &dtype, &tm, &fsec, NULL) != 0)
	{
		if (ParseDateTime(str, workbuf, sizeof(workbuf), field, ftype,
						  MAXDATEFIELDS, &nf) != 0 ||
			DecodeDateTime(field, ftype, nf, &dtype, &tm, &fsec, &tz) != 0)
			return false;
	}
#endif
	if (dtype != DTK_DATE)
		return false;
	if (tm2timestamp(&tm, fsec, &tz, out) != 0 || !IS_VALID_TIMESTAMP(*out))
		return false;
	return true;
}

static int
CompareIdRef(const void *a, const void *b)
{
	return strcmp(((const IdRef *) a)->id, ((const IdRef *) b)->id);
}

static int
ComparePlay(const void *a, const void *b)
{
	const MtmPlay *x = a;
	const MtmPlay *y = b;
	int			c = strcmp(x->track_id, y->track_id);

	if (c != 0)
		return c;
	if (x->at != y->at)
		return x->at < y->at ? -1 : 1;
	return (x->entry > y->entry) - (x->entry < y->entry);
}

static int
CompareCandidate(const void *a, const void *b)
{
	const Candidate *x = a;
	const Candidate *y = b;

	if (x->distance != y->distance)
		return x->distance < y->distance ? -1 : 1;
	if (x->at != y->at)
		return x->at < y->at ? -1 : 1;
	if (x->i != y->i)
		return x->i < y->i ? -1 : 1;
	return (x->k > y->k) - (x->k < y->k);
}

/* How far an export listen (end t, ms m) is from a played_at p; -1: too far. */
static int64
Distance(TimestampTz t, bool has_ms, int32 ms, TimestampTz p)
{
	int64		end = Abs(t - p);
	int64		start = has_ms ? Abs(t - (int64) ms * 1000 - p) : PG_INT64_MAX;
	int64		d = Min(end, start);

	return d <= MTM_PLAY_TOLERANCE ? d : -1;
}

/* Step 1: the stored listens of the listener ending within [lo, hi]. */
static StoredPlay *
ReadStored(Datum listener, TimestampTz lo, TimestampTz hi, int *count)
{
	Datum		args[3] = {listener, TimestampTzGetDatum(lo), TimestampTzGetDatum(hi)};
	StoredPlay *s;
	int			ret;

	ret = SPI_execute_snapshot(read_plan, args, NULL, GetLatestSnapshot(),
							   InvalidSnapshot, true, false, 0);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "reading music_tm.plays failed: %s", SPI_result_code_string(ret));
	s = palloc0(sizeof(StoredPlay) * Max(SPI_processed, 1));
	for (uint64 r = 0; r < SPI_processed; r++)
	{
		HeapTuple	tup = SPI_tuptable->vals[r];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		bool		isnull;
		Datum		d;

		CHECK_FOR_INTERRUPTS();
		s[r].ended_at = DatumGetTimestampTz(SPI_getbinval(tup, desc, 1, &isnull));
		s[r].new_end = s[r].ended_at;
		s[r].track_id = SPI_getvalue(tup, desc, 2);
		s[r].playable_id = SPI_getvalue(tup, desc, 3);
		d = SPI_getbinval(tup, desc, 4, &isnull);
		s[r].has_ms = !isnull;
		s[r].ms_played = isnull ? 0 : DatumGetInt32(d);
		d = SPI_getbinval(tup, desc, 5, &isnull);
		s[r].has_played_at = !isnull;
		s[r].played_at = isnull ? 0 : DatumGetTimestampTz(d);
		d = SPI_getbinval(tup, desc, 6, &isnull);
		s[r].has_export_ts = !isnull;
		s[r].export_ts = isnull ? 0 : DatumGetTimestampTz(d);
	}
	*count = (int) SPI_processed;
	return s;
}

/* Arrays for the write statements, one element per listen written. */
typedef struct Columns
{
	int			n;
	Datum	   *old_end;
	char	  **track;
	Datum	   *ended;
	char	  **playable;
	Datum	   *ms;
	Datum	   *played_at;
	Datum	   *export_ts;
	Datum	   *skipped;
	Datum	   *shuffle;
	Datum	   *offline;
	Datum	   *offline_at;
	Datum	   *incognito;
	char	  **reason_start;
	char	  **reason_end;
	char	  **context;
	bool	   *nulls[9];		/* ms, played_at, export_ts, skipped, shuffle,
								 * offline, offline_at, incognito, ended */
} Columns;

static void
ColumnsInit(Columns *c, int cap)
{
	cap = Max(cap, 1);
	c->n = 0;
	c->old_end = palloc(sizeof(Datum) * cap);
	c->track = palloc(sizeof(char *) * cap);
	c->ended = palloc(sizeof(Datum) * cap);
	c->playable = palloc(sizeof(char *) * cap);
	c->ms = palloc(sizeof(Datum) * cap);
	c->played_at = palloc(sizeof(Datum) * cap);
	c->export_ts = palloc(sizeof(Datum) * cap);
	c->skipped = palloc(sizeof(Datum) * cap);
	c->shuffle = palloc(sizeof(Datum) * cap);
	c->offline = palloc(sizeof(Datum) * cap);
	c->offline_at = palloc(sizeof(Datum) * cap);
	c->incognito = palloc(sizeof(Datum) * cap);
	c->reason_start = palloc(sizeof(char *) * cap);
	c->reason_end = palloc(sizeof(char *) * cap);
	c->context = palloc(sizeof(char *) * cap);
	for (int i = 0; i < 9; i++)
		c->nulls[i] = palloc(sizeof(bool) * cap);
}

static void
SetBool(Columns *c, Datum *col, int null_index, int8 v)
{
	col[c->n] = BoolGetDatum(v > 0);
	c->nulls[null_index][c->n] = v < 0;
}

/* Append what listen p brings, for the source that reports it. */
static void
ColumnsAdd(Columns *c, MtmPlaySource source, const MtmPlay *p,
		   const char *track, TimestampTz old_end, TimestampTz ended)
{
	int			n = c->n;

	c->old_end[n] = TimestampTzGetDatum(old_end);
	c->track[n] = (char *) track;
	c->ended[n] = TimestampTzGetDatum(ended);
	c->nulls[8][n] = false;
	c->playable[n] = p->playable_id;
	c->ms[n] = Int32GetDatum(p->ms_played);
	c->nulls[0][n] = !p->has_ms;
	c->played_at[n] = TimestampTzGetDatum(p->at);
	c->nulls[1][n] = source != MTM_SOURCE_RECENT;
	c->export_ts[n] = TimestampTzGetDatum(p->at);
	c->nulls[2][n] = source != MTM_SOURCE_EXPORT;
	SetBool(c, c->skipped, 3, p->skipped);
	SetBool(c, c->shuffle, 4, p->shuffle);
	SetBool(c, c->offline, 5, p->offline);
	c->offline_at[n] = TimestampTzGetDatum(p->offline_at);
	c->nulls[6][n] = !p->has_offline_at;
	SetBool(c, c->incognito, 7, p->incognito);
	c->reason_start[n] = p->reason_start;
	c->reason_end[n] = p->reason_end;
	c->context[n] = p->context_uri;
	c->n++;
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

/* The arrays shared by both statements, from args[first] on. */
static void
ColumnArgs(Columns *c, Datum *args, int first)
{
	int			n = c->n;
	Datum	   *a = args + first;

	a[0] = PointerGetDatum(mtm_text_array(c->playable, n));
	a[1] = ArrayOf(c->ms, c->nulls[0], n, INT4OID);
	a[2] = ArrayOf(c->played_at, c->nulls[1], n, TIMESTAMPTZOID);
	a[3] = ArrayOf(c->export_ts, c->nulls[2], n, TIMESTAMPTZOID);
	a[4] = ArrayOf(c->skipped, c->nulls[3], n, BOOLOID);
	a[5] = ArrayOf(c->shuffle, c->nulls[4], n, BOOLOID);
	a[6] = ArrayOf(c->offline, c->nulls[5], n, BOOLOID);
	a[7] = ArrayOf(c->offline_at, c->nulls[6], n, TIMESTAMPTZOID);
	a[8] = ArrayOf(c->incognito, c->nulls[7], n, BOOLOID);
	a[9] = PointerGetDatum(mtm_text_array(c->reason_start, n));
	a[10] = PointerGetDatum(mtm_text_array(c->reason_end, n));
	a[11] = PointerGetDatum(mtm_text_array(c->context, n));
}

static int
CompareKey(const void *a, const void *b)
{
	const StoredPlay *x = *(StoredPlay *const *) a;
	const StoredPlay *y = *(StoredPlay *const *) b;
	int			c = strcmp(x->track_id, y->track_id);

	if (c != 0)
		return c;
	return (x->new_end > y->new_end) - (x->new_end < y->new_end);
}

/* Order of stored listens by their key as stored (track, ended_at). */
static int
CompareOldKey(const void *a, const void *b)
{
	const StoredPlay *x = *(StoredPlay *const *) a;
	const StoredPlay *y = *(StoredPlay *const *) b;
	int			c = strcmp(x->track_id, y->track_id);

	if (c != 0)
		return c;
	return (x->ended_at > y->ended_at) - (x->ended_at < y->ended_at);
}

/*
 * An export that confirms a recently-played listen moves its ended_at to
 * the export's ts, unless that would give two rows one key (a listen of the
 * same track stored with that very end: then the row keeps its time).
 * Old keys are unique, and a moved row never lands on an old key, so the
 * keys after the update are unique too.
 */
static void
KeepKeysUnique(StoredPlay *s, int ns)
{
	StoredPlay **keys = palloc(sizeof(StoredPlay *) * Max(ns * 2, 1));
	int			nk = 0;
	bool		again = true;

	while (again)
	{
		again = false;
		nk = 0;
		for (int k = 0; k < ns; k++)
			keys[nk++] = &s[k];
		qsort(keys, nk, sizeof(StoredPlay *), CompareKey);
		for (int j = 1; j < nk; j++)
		{
			if (CompareKey(&keys[j - 1], &keys[j]) != 0)
				continue;
			/* put back whichever of the two moved */
			if (keys[j]->new_end != keys[j]->ended_at)
				keys[j]->new_end = keys[j]->ended_at;
			else
				keys[j - 1]->new_end = keys[j - 1]->ended_at;
			again = true;
		}
	}
}

/*
 * Store n incoming listens of one source for the listener: decide the fate
 * of each (plays[i].fate) and write.  Must be called inside SPI_connect.
 * Sorts plays by track and time.
 */
void
mtm_plays_merge(Datum listener, MtmPlaySource source, MtmPlay *plays, int n,
				TimestampTz now, MtmPlayCounts *counts)
{
	TimestampTz lo = DT_NOEND;
	TimestampTz hi = DT_NOBEGIN;
	StoredPlay *s;
	int			ns;
	IdRef	   *refs;
	int			nrefs = 0;
	Candidate  *cands;
	int			ncands = 0;
	int			capcands;
	Columns		ins;
	int			nnew = 0;
	int		   *pending;
	int			npending = 0;

	if (n == 0)
		return;
	PreparePlans();
	LockListenerPlays(listener);

	/* in-payload repeats: the same track at the same time is one listen */
	qsort(plays, n, sizeof(MtmPlay), ComparePlay);
	for (int i = 0; i < n; i++)
	{
		MtmPlay    *p = &plays[i];
		TimestampTz from = p->at;
		TimestampTz to = p->at;

		p->fate = MTM_PLAY_NEW;
		p->match = -1;
		if (i > 0 && plays[i - 1].at == p->at &&
			strcmp(plays[i - 1].track_id, p->track_id) == 0)
			p->fate = MTM_PLAY_DUPLICATE;
		if (source == MTM_SOURCE_EXPORT)
			from -= (p->has_ms ? (int64) p->ms_played * 1000 : 0);
		else
			to += MTM_PLAY_LONGEST;
		lo = Min(lo, from - MTM_PLAY_TOLERANCE);
		hi = Max(hi, to + MTM_PLAY_TOLERANCE);
	}

	s = ReadStored(listener, lo, hi, &ns);
	refs = palloc(sizeof(IdRef) * Max(ns * 2, 1));
	for (int k = 0; k < ns; k++)
	{
		refs[nrefs].id = s[k].track_id;
		refs[nrefs++].k = k;
		if (s[k].playable_id && strcmp(s[k].playable_id, s[k].track_id) != 0)
		{
			refs[nrefs].id = s[k].playable_id;
			refs[nrefs++].k = k;
		}
	}
	qsort(refs, nrefs, sizeof(IdRef), CompareIdRef);

	/* replays first: this source stored the listen before */
	capcands = Max(n, 16);
	cands = palloc(sizeof(Candidate) * capcands);
	for (int pass = 0; pass < 2; pass++)
		for (int i = 0; i < n; i++)
		{
			MtmPlay    *p = &plays[i];
			const char *ids[2] = {p->track_id, p->playable_id};

			CHECK_FOR_INTERRUPTS();
			if (p->fate != MTM_PLAY_NEW)
				continue;
			for (int w = 0; w < 2 && p->fate == MTM_PLAY_NEW; w++)
			{
				IdRef		key = {ids[w], 0};
				IdRef	   *hit;
				int			first;

				if (ids[w] == NULL || nrefs == 0)
					continue;
				hit = bsearch(&key, refs, nrefs, sizeof(IdRef), CompareIdRef);
				if (hit == NULL)
					continue;
				first = hit - refs;
				while (first > 0 && strcmp(refs[first - 1].id, ids[w]) == 0)
					first--;
				for (int r = first; r < nrefs && strcmp(refs[r].id, ids[w]) == 0; r++)
				{
					StoredPlay *sp = &s[refs[r].k];
					int64		d;

					if (pass == 0)
					{
						bool		same;

						if (source == MTM_SOURCE_EXPORT)
							same = sp->has_export_ts && sp->export_ts == p->at;
						else
							same = sp->has_played_at && sp->played_at == p->at &&
								strcmp(sp->track_id, p->track_id) == 0;
						if (same)
						{
							p->fate = MTM_PLAY_UNCHANGED;
							break;
						}
						continue;
					}
					/* pass 1: a listen of the other source, close enough */
					if (source == MTM_SOURCE_EXPORT)
						d = sp->has_export_ts || !sp->has_played_at ? -1 :
							Distance(p->at, p->has_ms, p->ms_played, sp->played_at);
					else
						d = sp->has_played_at || !sp->has_export_ts ? -1 :
							Distance(sp->export_ts, sp->has_ms, sp->ms_played, p->at);
					if (d < 0)
						continue;
					if (ncands == capcands)
					{
						capcands *= 2;
						cands = repalloc(cands, sizeof(Candidate) * capcands);
					}
					cands[ncands].distance = d;
					cands[ncands].at = p->at;
					cands[ncands].i = i;
					cands[ncands].k = refs[r].k;
					ncands++;
				}
			}
		}

	/* one-to-one, closest pairs first */
	qsort(cands, ncands, sizeof(Candidate), CompareCandidate);
	for (int c = 0; c < ncands; c++)
	{
		MtmPlay    *p = &plays[cands[c].i];
		StoredPlay *sp = &s[cands[c].k];

		if (p->fate != MTM_PLAY_NEW || sp->taken)
			continue;
		p->fate = MTM_PLAY_MATCHED;
		p->match = cands[c].k;
		sp->taken = true;
		if (source == MTM_SOURCE_EXPORT)
			sp->new_end = p->at;
	}
	KeepKeysUnique(s, ns);

	ColumnsInit(&ins, n);
	pending = palloc(sizeof(int) * n);
	for (int i = 0; i < n; i++)
	{
		MtmPlay    *p = &plays[i];

		switch (p->fate)
		{
			case MTM_PLAY_MATCHED:
				pending[npending++] = i;
				counts->matched++;
				break;
			case MTM_PLAY_NEW:
				ColumnsAdd(&ins, source, p, p->track_id, p->at, p->at);
				nnew++;
				break;
			case MTM_PLAY_UNCHANGED:
				counts->unchanged++;
				break;
			case MTM_PLAY_DUPLICATE:
				counts->duplicates++;
				break;
		}
	}

	/*
	 * The updates, in rounds: the key is checked row by row as a statement
	 * updates, so a row that moves onto the key another row is leaving
	 * (a track on repeat: each listen's recently-played time is the end of
	 * the one before) waits for a later round.  Usually one round.
	 */
	while (npending > 0)
	{
		StoredPlay **leaving = palloc(sizeof(StoredPlay *) * npending);
		int			nleaving = 0;
		int			nleft = 0;
		Columns		upd;

		CHECK_FOR_INTERRUPTS();
		for (int j = 0; j < npending; j++)
		{
			StoredPlay *sp = &s[plays[pending[j]].match];

			if (sp->new_end != sp->ended_at)
				leaving[nleaving++] = sp;
		}
		qsort(leaving, nleaving, sizeof(StoredPlay *), CompareOldKey);
		ColumnsInit(&upd, npending);
		for (int j = 0; j < npending; j++)
		{
			MtmPlay    *p = &plays[pending[j]];
			StoredPlay *sp = &s[p->match];
			StoredPlay	key;
			StoredPlay *keyp = &key;

			key.track_id = sp->track_id;
			key.ended_at = sp->new_end;
			if (sp->new_end != sp->ended_at &&
				bsearch(&keyp, leaving, nleaving, sizeof(StoredPlay *), CompareOldKey))
				pending[nleft++] = pending[j];
			else
				ColumnsAdd(&upd, source, p, sp->track_id, sp->ended_at, sp->new_end);
		}
		if (upd.n == 0)
		{
			/* moves in a circle: the rows keep their times */
			for (int j = 0; j < npending; j++)
				s[plays[pending[j]].match].new_end = s[plays[pending[j]].match].ended_at;
			continue;
		}
		{
			Datum		args[16];
			int			ret;

			args[0] = listener;
			args[1] = ArrayOf(upd.old_end, NULL, upd.n, TIMESTAMPTZOID);
			args[2] = PointerGetDatum(mtm_text_array(upd.track, upd.n));
			args[3] = ArrayOf(upd.ended, NULL, upd.n, TIMESTAMPTZOID);
			ColumnArgs(&upd, args, 4);
			ret = SPI_execute_plan(update_plan, args, NULL, false, 0);
			if (ret != SPI_OK_UPDATE)
				elog(ERROR, "updating music_tm.plays failed: %s", SPI_result_code_string(ret));

			/*
			 * The rows were read with the latest snapshot; under REPEATABLE
			 * READ the UPDATE runs with the transaction's and does not see
			 * a listen committed since it began.  Confirming it would be
			 * lost: fail as the server fails an update of a row changed
			 * since the snapshot.
			 */
			if (SPI_processed != (uint64) upd.n)
				ereport(ERROR,
						(errcode(ERRCODE_T_R_SERIALIZATION_FAILURE),
						 errmsg("could not serialize access due to concurrent update"),
						 errdetail("A listen this call confirms was stored or changed by a transaction that committed after this transaction's snapshot."),
						 errhint("Retry the transaction.")));
		}
		npending = nleft;
	}
	if (ins.n > 0)
	{
		Datum		args[16];
		int			ret;

		args[0] = listener;
		args[1] = TimestampTzGetDatum(now);
		args[2] = ArrayOf(ins.ended, NULL, ins.n, TIMESTAMPTZOID);
		args[3] = PointerGetDatum(mtm_text_array(ins.track, ins.n));
		ColumnArgs(&ins, args, 4);
		ret = SPI_execute_plan(insert_plan, args, NULL, false, 0);
		if (ret != SPI_OK_INSERT)
			elog(ERROR, "writing music_tm.plays failed: %s", SPI_result_code_string(ret));
		counts->inserted += SPI_processed;
		/* a stored listen of the same track and end: already there */
		counts->duplicates += nnew - SPI_processed;
	}
}
