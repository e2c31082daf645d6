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
 *	3. writes with at most two statements (plays_write.c): one UPDATE of
 *	   the stored listens that another source now confirms, one INSERT of
 *	   the new ones.  A replay writes nothing.
 *
 * Matching.  Each source reports one listen the same way every time: a
 * recently-played poll repeats played_at to the millisecond, a newer export
 * repeats an older one's ts.  So within one source, a listen is known again
 * by its track and its exact time (a replay), and two different times are
 * two listens, however close: two real plays of one track minutes apart
 * both stay.  The exports' times are whole seconds or minutes, so there the
 * same time is the same listen only with the same milliseconds played (a
 * skip a moment after a full play of one track ends in the same second).
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
 * The account-data export (StreamingHistory_music_*.json) gives the end to
 * the minute (endTime) and msPlayed: its listen ended within [endTime - 40 s,
 * endTime + 70 s] (the minute truncated or rounded, plus the 10 s above).
 * It is one listen with an export entry ending in that span, or with a
 * recently-played item whose played_at, or played_at + msPlayed, falls in
 * it; closest to endTime + 15 s first, an equal msPlayed before a different
 * one.
 *
 * The track is the canonical id recently-played gives (linked_from.id of a
 * relinked track) or the id in the export's spotify_track_uri; an export id
 * also matches a recently-played listen by its playable id.  An account-data
 * listen names its track by artist and title: every stored track of those
 * names is looked at (alt_ids).
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
	bool		has_account;
	TimestampTz account_end;
	bool		taken;			/* joined by an incoming listen */
	TimestampTz new_end;		/* ended_at after the update */
} StoredPlay;

/* A stored listen under one of its ids, for lookups by id. */
typedef struct IdRef
{
	const char *id;
	int			k;
	const char *twin;			/* ReadTwins: another id of the recording */
} IdRef;

static int CompareIdRef(const void *a, const void *b);

/* A possible pairing of incoming listen i with stored listen k. */
typedef struct Candidate
{
	int64		distance;
	TimestampTz at;
	int			i;
	int			k;
} Candidate;

static SPIPlanPtr read_plan;
static SPIPlanPtr twins_plan;

static void
PreparePlans(void)
{
	Oid			t_read[3] = {TEXTOID, TIMESTAMPTZOID, TIMESTAMPTZOID};
	Oid			t_twins[1] = {TEXTARRAYOID};

	/* the last one made: an error while preparing leaves it NULL */
	if (twins_plan != NULL)
		return;
	read_plan = mtm_prepare_kept(
		"SELECT ended_at, track_id, playable_id, ms_played, played_at, export_ts,"
		" account_end FROM music_tm.plays"
		" WHERE listener OPERATOR(pg_catalog.=) $1"
		" AND ended_at OPERATOR(pg_catalog.>=) $2"
		" AND ended_at OPERATOR(pg_catalog.<=) $3", 3, t_read);
	/* each id looked up once by key; its twins by ISRC (OFFSET 0 keeps
	 * the planner from a merge join that would walk the whole ISRC index) */
	twins_plan = mtm_prepare_kept(
		"SELECT a.track_id, t.track_id FROM pg_catalog.unnest($1) AS u(id)"
		" JOIN music_tm.tracks a ON a.track_id OPERATOR(pg_catalog.=) u.id"
		" CROSS JOIN LATERAL (SELECT b.track_id FROM music_tm.tracks b"
		"  WHERE b.isrc OPERATOR(pg_catalog.=) a.isrc"
		"  AND b.track_id OPERATOR(pg_catalog.<>) a.track_id OFFSET 0) AS t", 1, t_twins);
}

/*
 * The other ids of the incoming listens' recordings: stored tracks that
 * share an ISRC with one of them (an album and a single version, relinked
 * twins).  Two sources may name one listen by two such ids.  Sorted by id.
 */
static IdRef *
ReadTwins(MtmPlay *plays, int n, int *count)
{
	char	  **ids = palloc(sizeof(char *) * Max(n, 1));
	int			nids = 0;
	Datum		args[1];
	IdRef	   *twins;

	/* plays is sorted by track_id */
	for (int i = 0; i < n; i++)
		if (nids == 0 || strcmp(ids[nids - 1], plays[i].track_id) != 0)
			ids[nids++] = plays[i].track_id;
	args[0] = PointerGetDatum(mtm_text_array(ids, nids));
	if (SPI_execute_plan(twins_plan, args, NULL, true, 0) != SPI_OK_SELECT)
		elog(ERROR, "reading music_tm.tracks failed");
	twins = palloc(sizeof(IdRef) * Max(SPI_processed, 1));
	for (uint64 r = 0; r < SPI_processed; r++)
	{
		twins[r].id = SPI_getvalue(SPI_tuptable->vals[r], SPI_tuptable->tupdesc, 1);
		twins[r].twin = SPI_getvalue(SPI_tuptable->vals[r], SPI_tuptable->tupdesc, 2);
	}
	*count = (int) SPI_processed;
	qsort(twins, *count, sizeof(IdRef), CompareIdRef);
	return twins;
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
void
mtm_lock_listener_plays(Datum listener)
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

/* Incoming listens by track, time, milliseconds, then payload order. */
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
	if (x->ms_played != y->ms_played)
		return x->ms_played < y->ms_played ? -1 : 1;
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

/* One source's report of a listen. */
typedef struct Seen
{
	MtmPlaySource source;
	TimestampTz at;
	bool		has_ms;
	int32		ms;
} Seen;

/*
 * How far two reports of different sources are from being one listen (the
 * rules at the top of this file); -1 when they are not one listen.
 */
static int64
PairDistance(const Seen *x, const Seen *y)
{
	const Seen *a = x->source < y->source ? x : y;	/* recent < export < account */
	const Seen *b = x->source < y->source ? y : x;
	int64		d = -1;

	if (a->source == b->source)
		return -1;
	if (b->source == MTM_SOURCE_EXPORT)
	{
		/* a recently-played item, b an export entry */
		int64		end = Abs(b->at - a->at);
		int64		start = b->has_ms ? Abs(b->at - (int64) b->ms * 1000 - a->at) : PG_INT64_MAX;

		d = Min(end, start);
		return d <= MTM_PLAY_TOLERANCE ? d : -1;
	}
	else
	{
		/* b is account data: its listen ended within the minute's span */
		TimestampTz lo = b->at - MTM_ACCOUNT_EARLY;
		TimestampTz hi = b->at + MTM_ACCOUNT_LATE;
		TimestampTz centre = b->at + (MTM_ACCOUNT_LATE - MTM_ACCOUNT_EARLY) / 2;
		TimestampTz ends[2];
		int			nends = 0;

		ends[nends++] = a->at;
		if (a->source == MTM_SOURCE_RECENT && b->has_ms)
			ends[nends++] = a->at + (int64) b->ms * 1000;
		for (int e = 0; e < nends; e++)
			if (ends[e] >= lo && ends[e] <= hi &&
				(d < 0 || Abs(ends[e] - centre) < d))
				d = Abs(ends[e] - centre);
		if (d >= 0 && a->has_ms && b->has_ms && a->ms != b->ms)
			d += MTM_ACCOUNT_EARLY + MTM_ACCOUNT_LATE;	/* equal msPlayed first */
		return d;
	}
}

/*
 * Distance of incoming listen p to stored listen sp, -1 when sp is no
 * candidate: it must not have been reported by p's source already.
 */
static int64
StoredDistance(const MtmPlay *p, MtmPlaySource source, const StoredPlay *sp)
{
	Seen		in = {source, p->at, p->has_ms, p->ms_played};
	Seen		seen[3];
	int			nseen = 0;
	int64		best = -1;

	if ((source == MTM_SOURCE_RECENT && sp->has_played_at) ||
		(source == MTM_SOURCE_EXPORT && sp->has_export_ts) ||
		(source == MTM_SOURCE_ACCOUNT && sp->has_account))
		return -1;
	if (sp->has_played_at)
		seen[nseen++] = (Seen) {MTM_SOURCE_RECENT, sp->played_at, false, 0};
	if (sp->has_export_ts)
		seen[nseen++] = (Seen) {MTM_SOURCE_EXPORT, sp->export_ts, sp->has_ms, sp->ms_played};
	if (sp->has_account)
		seen[nseen++] = (Seen) {MTM_SOURCE_ACCOUNT, sp->account_end, sp->has_ms, sp->ms_played};
	for (int k = 0; k < nseen; k++)
	{
		int64		d = PairDistance(&in, &seen[k]);

		if (d >= 0 && (best < 0 || d < best))
			best = d;
	}
	return best;
}

/* Whether stored listen sp is incoming listen p, reported again by its source. */
static bool
IsReplay(const MtmPlay *p, MtmPlaySource source, const StoredPlay *sp)
{
	switch (source)
	{
		case MTM_SOURCE_RECENT:
			return sp->has_played_at && sp->played_at == p->at &&
				strcmp(sp->track_id, p->track_id) == 0;
		case MTM_SOURCE_EXPORT:
			/* a listen's ms_played is the export's own, never overwritten */
			return sp->has_export_ts && sp->export_ts == p->at &&
				(!sp->has_ms || sp->ms_played == p->ms_played);
		case MTM_SOURCE_ACCOUNT:
			/* an export may have brought its own msPlayed since */
			return sp->has_account && sp->account_end == p->at &&
				((sp->has_ms && sp->ms_played == p->ms_played) || sp->has_export_ts);
	}
	return false;
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
		d = SPI_getbinval(tup, desc, 7, &isnull);
		s[r].has_account = !isnull;
		s[r].account_end = isnull ? 0 : DatumGetTimestampTz(d);
	}
	*count = (int) SPI_processed;
	return s;
}

/* Stored listens by their key after the call: (track_id, new_end). */
static int
CompareNewKey(const void *a, const void *b)
{
	const StoredPlay *x = *(StoredPlay *const *) a;
	const StoredPlay *y = *(StoredPlay *const *) b;
	int			c = strcmp(x->track_id, y->track_id);

	if (c != 0)
		return c;
	return (x->new_end > y->new_end) - (x->new_end < y->new_end);
}

/*
 * An export that confirms a listen moves its ended_at to the export's ts,
 * unless that would give two rows one key (a listen of the same track
 * stored with that very end: then the row keeps its time).  Old keys are
 * unique, and a moved row never lands on another's key, so the keys after
 * the update are unique too.  Returns the stored listens sorted by key.
 */
static StoredPlay **
KeepKeysUnique(StoredPlay *s, int ns)
{
	StoredPlay **keys = palloc(sizeof(StoredPlay *) * Max(ns, 1));
	bool		again = true;

	while (again)
	{
		again = false;
		for (int k = 0; k < ns; k++)
			keys[k] = &s[k];
		qsort(keys, ns, sizeof(StoredPlay *), CompareNewKey);
		for (int j = 1; j < ns; j++)
		{
			if (CompareNewKey(&keys[j - 1], &keys[j]) != 0)
				continue;
			/* put back whichever of the two moved */
			if (keys[j]->new_end != keys[j]->ended_at)
				keys[j]->new_end = keys[j]->ended_at;
			else
				keys[j - 1]->new_end = keys[j - 1]->ended_at;
			again = true;
		}
	}
	return keys;
}

/*
 * The end of a new listen of an export: its ts (whole seconds) or its
 * account-data minute.  Two listens of one track that end in the same second
 * (a skip right after a play) or minute are told apart in the key by
 * microseconds.  plays is sorted by track and time, so the ones of one track
 * and time are next to each other.
 */
static void
AccountEnds(MtmPlay *plays, int n, StoredPlay **keys, int ns)
{
	const char *last_track = NULL;
	TimestampTz last_end = 0;

	for (int i = 0; i < n; i++)
	{
		MtmPlay    *p = &plays[i];
		StoredPlay	key;
		StoredPlay *keyp = &key;

		if (p->fate != MTM_PLAY_NEW)
			continue;
		p->new_end = p->at;
		if (last_track && strcmp(last_track, p->track_id) == 0 && last_end >= p->new_end)
			p->new_end = last_end + 1;
		key.track_id = p->track_id;
		for (;;)
		{
			key.new_end = p->new_end;
			if (!bsearch(&keyp, keys, ns, sizeof(StoredPlay *), CompareNewKey))
				break;
			p->new_end++;
		}
		last_track = p->track_id;
		last_end = p->new_end;
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
	StoredPlay **keys;
	int			ns;
	IdRef	   *refs;
	int			nrefs = 0;
	IdRef	   *twins;
	int			ntwins;
	Candidate  *cands;
	int			ncands = 0;
	int			capcands;

	if (n == 0)
		return;
	PreparePlans();
	mtm_lock_listener_plays(listener);

	/*
	 * In-payload repeats: the same track at the same time is one listen (in
	 * account data, with the same milliseconds).  The span read covers every
	 * stored listen any rule could pair with an incoming one.
	 */
	qsort(plays, n, sizeof(MtmPlay), ComparePlay);
	for (int i = 0; i < n; i++)
	{
		MtmPlay    *p = &plays[i];
		int64		ms = p->has_ms ? (int64) p->ms_played * 1000 : 0;

		p->fate = MTM_PLAY_NEW;
		p->row_track = p->track_id;
		p->row_end = p->new_end = p->at;
		if (i > 0 && plays[i - 1].at == p->at &&
			strcmp(plays[i - 1].track_id, p->track_id) == 0 &&
			(source == MTM_SOURCE_RECENT || plays[i - 1].ms_played == p->ms_played))
			p->fate = MTM_PLAY_DUPLICATE;
		lo = Min(lo, p->at - ms - MTM_ACCOUNT_EARLY - MTM_ACCOUNT_LATE);
		hi = Max(hi, p->at + (source == MTM_SOURCE_RECENT ? MTM_PLAY_LONGEST : 0) +
				 MTM_ACCOUNT_EARLY + MTM_ACCOUNT_LATE);
	}

	s = ReadStored(listener, lo, hi, &ns);
	twins = ReadTwins(plays, n, &ntwins);
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

	/* pass 0: replays (this source stored the listen before); pass 1: pairs */
	capcands = Max(n, 16);
	cands = palloc(sizeof(Candidate) * capcands);
	for (int pass = 0; pass < 2; pass++)
		for (int i = 0; i < n; i++)
		{
			MtmPlay    *p = &plays[i];
			const char **ids;
			int			nids = 0;
			IdRef		tkey = {p->track_id, 0, NULL};
			IdRef	   *t = ntwins > 0 ?
				bsearch(&tkey, twins, ntwins, sizeof(IdRef), CompareIdRef) : NULL;
			int			tfirst = t ? t - twins : 0;

			CHECK_FOR_INTERRUPTS();
			/* its own ids, then the other ids of its recording */
			while (t && tfirst > 0 && strcmp(twins[tfirst - 1].id, p->track_id) == 0)
				tfirst--;
			ids = palloc(sizeof(char *) * (Max(p->nalt, 2) + ntwins));
			if (p->nalt > 0)
				for (int a = 0; a < p->nalt; a++)
					ids[nids++] = p->alt_ids[a];
			else
			{
				ids[nids++] = p->track_id;
				ids[nids++] = p->playable_id;
			}
			for (int a = tfirst; t && a < ntwins && strcmp(twins[a].id, p->track_id) == 0; a++)
				ids[nids++] = twins[a].twin;
			for (int w = 0; w < nids && p->fate == MTM_PLAY_NEW; w++)
			{
				IdRef		key = {ids[w], 0, NULL};
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
						if (IsReplay(p, source, sp))
						{
							p->fate = MTM_PLAY_UNCHANGED;
							break;
						}
						continue;
					}
					d = StoredDistance(p, source, sp);
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
		sp->taken = true;
		p->row_track = sp->track_id;
		p->row_end = sp->ended_at;
		/* the export's ts is the end; the others keep the row's time */
		if (source == MTM_SOURCE_EXPORT)
			sp->new_end = p->at;
		p->match = cands[c].k;
	}
	keys = KeepKeysUnique(s, ns);

	for (int i = 0; i < n; i++)
	{
		MtmPlay    *p = &plays[i];

		switch (p->fate)
		{
			case MTM_PLAY_MATCHED:
				p->new_end = s[p->match].new_end;
				counts->matched++;
				break;
			case MTM_PLAY_NEW:
				/* names of several songs, none of them heard then: kept apart */
				if (p->ambiguous)
				{
					p->fate = MTM_PLAY_UNRESOLVED;
					counts->unresolved++;
				}
				break;
			case MTM_PLAY_UNCHANGED:
				counts->unchanged++;
				break;
			case MTM_PLAY_DUPLICATE:
				counts->duplicates++;
				break;
			case MTM_PLAY_UNRESOLVED:
				break;
		}
	}
	if (source != MTM_SOURCE_RECENT)
		AccountEnds(plays, n, keys, ns);
	mtm_plays_write(listener, source, plays, n, now, counts);

	/* the charts of every period whose listens changed */
	{
		TimestampTz *touched = palloc(sizeof(TimestampTz) * 2 * n);
		int			nt = 0;

		for (int i = 0; i < n; i++)
		{
			if (plays[i].fate == MTM_PLAY_NEW)
				touched[nt++] = plays[i].new_end;
			else if (plays[i].fate == MTM_PLAY_MATCHED)
			{
				touched[nt++] = plays[i].row_end;
				touched[nt++] = plays[i].new_end;
			}
		}
		mtm_play_charts_refresh(listener, touched, nt, now);
	}
}
