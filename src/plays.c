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

/* A possible pairing of incoming listen i with stored listen k. */
typedef struct Candidate
{
	int64		distance;
	TimestampTz at;
	int			i;
	int			k;
} Candidate;

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
	char		str[MAXDATELEN + 1];
	char		workbuf[MAXDATELEN + MAXDATEFIELDS];
	char	   *field[MAXDATEFIELDS];
	int			ftype[MAXDATEFIELDS];
	int			nf;
	int			dtype;
	struct pg_tm tm;
	fsec_t		fsec;
	int			tz = 0;
	bool		zoned = false;

	if (len <= 0 || len > MAXDATELEN)
		return false;
	for (int i = 0; i < len; i++)
	{
		if (!isdigit((unsigned char) s[i]) && strchr("-:. TZ+", s[i]) == NULL)
			return false;
		if (s[i] == 'Z' || s[i] == '+')
			zoned = true;
	}
	/*
	 * A last "Z" (UTC, as Spotify writes every time) is dropped: a time
	 * without a zone is read as UTC anyway, and DecodeDateTime's lookup of
	 * the zone's name was a fifth of the parse.
	 */
	if (len > 1 && s[len - 1] == 'Z' && memchr(s, '+', len) == NULL &&
		memchr(s, 'Z', len - 1) == NULL)
	{
		len--;
		zoned = false;
	}
	memcpy(str, s, len);
	str[len] = '\0';

	/*
	 * Without a place for the zone, DecodeDateTime refuses a time that names
	 * one: a zoneless time is read as UTC that way, and a time that names its
	 * zone (a "Z" or "+hh") with a place for it.  Each is tried first where
	 * its characters say which it is, the other way second, so the one parse
	 * a time needs is the first.
	 */
	for (int attempt = 0; attempt < 2; attempt++)
	{
		int		   *tzp = (attempt == 0) == zoned ? &tz : NULL;
		int			ret;

		if (ParseDateTime(str, workbuf, sizeof(workbuf), field, ftype,
						  MAXDATEFIELDS, &nf) != 0)
			return false;
#if PG_VERSION_NUM >= 160000
		{
			DateTimeErrorExtra extra;

			ret = DecodeDateTime(field, ftype, nf, &dtype, &tm, &fsec, tzp, &extra);
		}
#else
		ret = DecodeDateTime(field, ftype, nf, &dtype, &tm, &fsec, tzp);
#endif
		if (ret == 0)
		{
			if (tzp == NULL)
				tz = 0;
			break;
		}
		if (attempt == 1)
			return false;
	}
	if (dtype != DTK_DATE)
		return false;
	if (tm2timestamp(&tm, fsec, &tz, out) != 0 || !IS_VALID_TIMESTAMP(*out))
		return false;
	return true;
}

/* The order of incoming listens: by track, time, milliseconds, payload order. */
typedef struct PlayOrder
{
	int			code;
	TimestampTz at;
	int32		ms;
	int			entry;
	int			idx;
} PlayOrder;

static int
ComparePlayOrder(const void *a, const void *b)
{
	const PlayOrder *x = a;
	const PlayOrder *y = b;

	if (x->code != y->code)
		return x->code < y->code ? -1 : 1;
	if (x->at != y->at)
		return x->at < y->at ? -1 : 1;
	if (x->ms != y->ms)
		return x->ms < y->ms ? -1 : 1;
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
				sp->code == p->code;
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

/* Stored listens by their key after the call: (track_id, new_end). */
static int
CompareNewKey(const void *a, const void *b)
{
	const StoredPlay *x = *(StoredPlay *const *) a;
	const StoredPlay *y = *(StoredPlay *const *) b;

	if (x->code != y->code)
		return x->code < y->code ? -1 : 1;
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
	int			last_code = -1;
	TimestampTz last_end = 0;

	for (int i = 0; i < n; i++)
	{
		MtmPlay    *p = &plays[i];
		StoredPlay	key;
		StoredPlay *keyp = &key;

		if (p->fate != MTM_PLAY_NEW)
			continue;
		p->new_end = p->at;
		if (last_code == p->code && last_end >= p->new_end)
			p->new_end = last_end + 1;
		key.code = p->code;
		for (;;)
		{
			key.new_end = p->new_end;
			if (!bsearch(&keyp, keys, ns, sizeof(StoredPlay *), CompareNewKey))
				break;
			p->new_end++;
		}
		last_code = p->code;
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
				bool tracks_recounted, TimestampTz now, MtmPlayCounts *counts)
{
	TimestampTz lo = DT_NOEND;
	TimestampTz hi = DT_NOBEGIN;
	MtmIds	   *idtab;
	int		   *map;
	int		  **alt_codes;
	char	  **distinct;
	int			ndistinct = 0;
	bool	   *seen;
	StoredPlay *s;
	StoredPlay **keys;
	int			ns;
	int			ncodes;
	MtmRef	   *refs;
	int		   *start;
	MtmTwin    *twins;
	int			ntwins;
	int		   *twin_start;
	int		   *ids;
	int			capids;
	Candidate  *cands;
	int			ncands = 0;
	int			capcands;

	if (n == 0)
		return;
	mtm_lock_listener_plays(listener);

	/*
	 * The ids of the incoming listens, interned (numbered below, once the
	 * stored ones are in too).  The span read covers every stored listen any
	 * rule could pair with an incoming one.
	 */
	idtab = mtm_ids_create(n);
	alt_codes = palloc0(sizeof(int *) * n);
	distinct = palloc(sizeof(char *) * n);
	seen = palloc0(sizeof(bool) * (n + 1));
	for (int i = 0; i < n; i++)
	{
		MtmPlay    *p = &plays[i];
		int64		ms = p->has_ms ? (int64) p->ms_played * 1000 : 0;

		p->code = mtm_ids_intern(idtab, p->track_id);
		/* the first arrivals are the track ids: codes below n */
		if (!seen[p->code])
		{
			seen[p->code] = true;
			distinct[ndistinct++] = p->track_id;
		}
		lo = Min(lo, p->at - ms - MTM_ACCOUNT_EARLY - MTM_ACCOUNT_LATE);
		hi = Max(hi, p->at + (source == MTM_SOURCE_RECENT ? MTM_PLAY_LONGEST : 0) +
				 MTM_ACCOUNT_EARLY + MTM_ACCOUNT_LATE);
	}
	for (int i = 0; i < n; i++)
	{
		MtmPlay    *p = &plays[i];

		if (p->nalt > 0)
		{
			alt_codes[i] = palloc(sizeof(int) * p->nalt);
			for (int a = 0; a < p->nalt; a++)
				alt_codes[i][a] = mtm_ids_intern(idtab, p->alt_ids[a]);
		}
	}
	{
		/* playable ids after every track id, so that codes < n stay tracks */
		int		   *pcodes = palloc(sizeof(int) * n);

		for (int i = 0; i < n; i++)
			pcodes[i] = mtm_ids_intern(idtab, plays[i].playable_id);

		s = mtm_read_stored(listener, lo, hi, idtab, &ns);

		/*
		 * A recently-played replay is of the same track id (IsReplay): the
		 * other ids of a recording matter only to the pairing, and are read
		 * only when a listen is left for it (a poll repeats most listens).
		 */
		twins = NULL;
		ntwins = 0;
		if (source != MTM_SOURCE_RECENT)
			twins = mtm_read_twins(distinct, ndistinct, idtab, &ntwins);
		map = mtm_ids_number(idtab);
		ncodes = mtm_ids_count(idtab);
		for (int i = 0; i < n; i++)
		{
			plays[i].code = map[plays[i].code];
			for (int a = 0; a < plays[i].nalt; a++)
				alt_codes[i][a] = map[alt_codes[i][a]];
			pcodes[i] = pcodes[i] < 0 ? -1 : map[pcodes[i]];
		}
		for (int k = 0; k < ns; k++)
		{
			s[k].code = map[s[k].code];
			s[k].pcode = s[k].pcode < 0 ? -1 : map[s[k].pcode];
		}
		for (int t = 0; t < ntwins; t++)
		{
			twins[t].id = map[twins[t].id];
			twins[t].twin = map[twins[t].twin];
		}

		/* sort the listens (and what goes with each) by track and time */
		{
			PlayOrder  *order = palloc(sizeof(PlayOrder) * n);
			MtmPlay    *sorted = palloc(sizeof(MtmPlay) * n);
			int		  **sorted_alt = palloc(sizeof(int *) * n);
			int		   *sorted_pcodes = palloc(sizeof(int) * n);
			int		   *bucket = palloc0(sizeof(int) * (ncodes + 1));

			/*
			 * By track first, counting (tracks are numbers below ncodes),
			 * keeping the payload's order within a track; then each track's
			 * listens by time, sorted only where the payload was not in time
			 * order already (an export file is).
			 */
			for (int i = 0; i < n; i++)
				bucket[plays[i].code + 1]++;
			for (int c = 0; c < ncodes; c++)
				bucket[c + 1] += bucket[c];
			for (int i = 0; i < n; i++)
				order[bucket[plays[i].code]++] = (PlayOrder) {plays[i].code, plays[i].at,
					plays[i].ms_played, plays[i].entry, i};
			for (int a = 0; a < n;)
			{
				int			b = a + 1;
				bool		in_order = true;

				for (; b < n && order[b].code == order[a].code; b++)
					if (in_order && ComparePlayOrder(&order[b - 1], &order[b]) > 0)
						in_order = false;
				if (!in_order)
					qsort(order + a, b - a, sizeof(PlayOrder), ComparePlayOrder);
				a = b;
			}
			pfree(bucket);
			for (int i = 0; i < n; i++)
			{
				sorted[i] = plays[order[i].idx];
				sorted_alt[i] = alt_codes[order[i].idx];
				sorted_pcodes[i] = pcodes[order[i].idx];
			}
			memcpy(plays, sorted, sizeof(MtmPlay) * n);
			alt_codes = sorted_alt;
			pcodes = sorted_pcodes;
			pfree(sorted);
			pfree(order);
		}

		/* in-payload repeats: the same track at the same time is one listen
		 * (in account data, with the same milliseconds) */
		for (int i = 0; i < n; i++)
		{
			MtmPlay    *p = &plays[i];

			p->fate = MTM_PLAY_NEW;
			p->row_track = p->track_id;
			p->row_end = p->new_end = p->at;
			if (i > 0 && plays[i - 1].at == p->at && plays[i - 1].code == p->code &&
				(source == MTM_SOURCE_RECENT || plays[i - 1].ms_played == p->ms_played))
				p->fate = MTM_PLAY_DUPLICATE;
		}

		refs = mtm_group_stored(s, ns, ncodes, source, &start);
		twin_start = mtm_group_twins(twins, ntwins, ncodes);

		/* pass 0: replays (this source stored the listen before); pass 1: pairs */
		capcands = Max(n, 16);
		cands = palloc(sizeof(Candidate) * capcands);
		capids = 16;
		ids = palloc(sizeof(int) * capids);
		for (int pass = 0; pass < 2; pass++)
		{
			if (pass == 1 && source == MTM_SOURCE_RECENT)
			{
				/* the twins of the tracks of the listens left, only */
				bool	   *listed = palloc0(sizeof(bool) * (ncodes + 1));
				int			nleft = 0;

				for (int i = 0; i < n; i++)
					if (plays[i].fate == MTM_PLAY_NEW && !listed[plays[i].code])
					{
						listed[plays[i].code] = true;
						distinct[nleft++] = plays[i].track_id;
					}
				pfree(listed);
				if (nleft == 0)
					break;
				twins = mtm_read_twins(distinct, nleft, idtab, &ntwins);
				twin_start = mtm_group_twins(twins, ntwins, ncodes);
			}
			for (int i = 0; i < n; i++)
			{
				MtmPlay    *p = &plays[i];
				int			nids = 0;
				int			nt = twin_start[p->code + 1] - twin_start[p->code];

				CHECK_FOR_INTERRUPTS();
				if (p->fate != MTM_PLAY_NEW)
					continue;
				/* its own ids, then the other ids of its recording */
				if (Max(p->nalt, 2) + nt > capids)
				{
					capids = Max(p->nalt, 2) + nt;
					ids = repalloc(ids, sizeof(int) * capids);
				}
				if (p->nalt > 0)
					for (int a = 0; a < p->nalt; a++)
						ids[nids++] = alt_codes[i][a];
				else
				{
					ids[nids++] = p->code;
					ids[nids++] = pcodes[i];
				}
				for (int a = twin_start[p->code]; a < twin_start[p->code + 1]; a++)
					ids[nids++] = twins[a].twin;
				for (int w = 0; w < nids && p->fate == MTM_PLAY_NEW; w++)
				{
					int			first;
					int			last;

					if (ids[w] < 0)
						continue;
					first = start[ids[w]];
					last = start[ids[w] + 1];
					if (pass == 0)
					{
						/* the group is in order of this source's time */
						int			l = first,
									h = last;

						while (l < h)
						{
							int			m = (l + h) / 2;

							if (refs[m].at < p->at)
								l = m + 1;
							else
								h = m;
						}
						for (int r = l; r < last && refs[r].at == p->at; r++)
							if (IsReplay(p, source, &s[refs[r].k]))
							{
								p->fate = MTM_PLAY_UNCHANGED;
								break;
							}
						continue;
					}
					for (int r = first; r < last; r++)
					{
						StoredPlay *sp = &s[refs[r].k];
						int64		d = StoredDistance(p, source, sp);

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
		p->row_track = mtm_ids_str(idtab, sp->code);
		p->row_end = sp->ended_at;
		/* the export's ts is the end; the others keep the row's time */
		if (source == MTM_SOURCE_EXPORT)
			sp->new_end = p->at;
		p->match = cands[c].k;
	}
	/*
	 * The keys after the call: made unique when a row moves, and looked up
	 * by AccountEnds for the new listens of an export.  A replay of a whole
	 * file needs neither.
	 */
	{
		bool		moved = false;
		bool		fresh = false;

		for (int k = 0; k < ns && !moved; k++)
			moved = s[k].new_end != s[k].ended_at;
		for (int i = 0; i < n && !fresh; i++)
			fresh = plays[i].fate == MTM_PLAY_NEW;
		keys = NULL;
		if (moved || (fresh && source != MTM_SOURCE_RECENT))
			keys = KeepKeysUnique(s, ns);

		/* a new recently-played listen on a stored key (that listen paired
		 * with another item) is a duplicate; exports' get keys of their own
		 * (AccountEnds): the INSERT never meets a stored key */
		if (fresh && source == MTM_SOURCE_RECENT)
			for (int i = 0; i < n; i++)
				for (int r = start[plays[i].code];
					 plays[i].fate == MTM_PLAY_NEW && r < start[plays[i].code + 1]; r++)
					if (s[refs[r].k].code == plays[i].code &&
						s[refs[r].k].ended_at == plays[i].at)
						plays[i].fate = MTM_PLAY_DUPLICATE;
	}

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
	mtm_play_charts_update(listener, source, plays, n, tracks_recounted, now);
}
