#!/usr/bin/env python3
"""Generate a Spotify-shaped streaming history: the files of a data export.

Writes, into a directory:
  - the extended streaming history, in files of --per-file entries, with the
    generations of the format: endsong_N.json before 2022 (ts without T/Z,
    username, ip_addr_decrypted, user_agent_decrypted, skipped null,
    offline_timestamp in seconds), Streaming_History_Audio_YYYY-YYYY_N.json
    after (ts with T and Z, ip_addr, audiobook fields, skipped true/false,
    offline_timestamp in milliseconds);
  - the account-data export of the last year: StreamingHistory_music_0.json
    (endTime to the minute, artistName, trackName, msPlayed) and
    StreamingHistory_podcast_0.json.
The quirks of ../shared/spotify-payloads.md are there: skips of a second or
two and other plays under 30 s, ms_played 0, podcast episodes and audiobook
chapters (no spotify_track_uri), rows whose metadata is all null, offline
plays, non-ASCII names, the same song under an album and a single id.
Listening habits drift: favourites change from month to month, so charts
from plays have runs, peaks and drops.

The output depends only on the arguments (no clock, no randomness beyond the
seed): the same arguments give the same bytes.  Debian's python3 only.
"""
import argparse
import datetime
import json
import os
import random

B62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
WORDS = ["Midnight", "Echo", "Golden", "River", "Neon", "Heart", "Summer", "Ghost", "Paper",
         "Velvet", "Shadow", "Fire", "Ocean", "City", "Dream", "Electric", "Silver", "Wild"]
INTL = ["Café del Mar", "Ñandú", "Straße der Nacht", "夜に駆ける", "아름다운 밤", "Любовь",
        "Ελπίδα", "Zoë's Theme", "Dziękuję", "Hứa Đợi"]
ARTISTS = ["The Lanterns", "Mira Sol", "Björk Ødegaard", "DJ Kōji", "Los Ríos", "Anaïs Quartet",
           "Nova & The Tides", "Zaz Müller", "The Quiet Hours", "Saša Kovač", "Yuki Tanaka",
           "Ana Ćorić", "Fjällräven Brass", "Sigur Rós Covers"]
SHOWS = ["The Daily Loop", "Deep Cuts Radio", "Science Hour"]
PLATFORMS = ["android", "ios", "osx", "windows", "web_player", "Android OS 9 API 28 (samsung, SM-G960F)"]


def spotify_id(rng):
    return "".join(rng.choice(B62) for _ in range(22))


def make_tracks(rng, n):
    """The pool: id, name, artist, album, duration.  Every 25th track has a
    single version under another id with the same names."""
    tracks = []
    for i in range(n):
        name = rng.choice(INTL) if i % 7 == 0 else f"{rng.choice(WORDS)} {rng.choice(WORDS)}"
        artist = ARTISTS[i % len(ARTISTS)]
        t = {"id": spotify_id(rng), "name": name, "artist": artist,
             "album": f"{rng.choice(WORDS)} Sessions", "duration": rng.randint(120000, 330000)}
        tracks.append(t)
        if i % 25 == 0:
            tracks.append(dict(t, id=spotify_id(rng), album=name + " (Single)"))
    return tracks


def one_listen(rng, pool, favourites):
    """What one stream was: kind, track, milliseconds, reason_end."""
    r = rng.random()
    if r < 0.03:
        return "episode", None, rng.randint(60000, 3600000), "endplay"
    if r < 0.035:
        return "audiobook", None, rng.randint(60000, 1800000), "endplay"
    if r < 0.04:
        return "nometa", None, rng.randint(0, 200000), "endplay"
    track = pool[favourites[rng.randrange(30)]] if rng.random() < 0.7 else rng.choice(pool)
    s = rng.random()
    if s < 0.65:
        return "track", track, track["duration"], "trackdone"
    if s < 0.85:
        return "track", track, rng.randint(500, 29000), "fwdbtn"
    if s < 0.87:
        return "track", track, 0, "fwdbtn"
    return "track", track, rng.randint(30000, track["duration"]), "endplay"


def listens(entries, start, seed):
    """entries listens from start on, one dict per stream, in time order:
    about 55 a day in one to three sessions, a day off now and then."""
    rng = random.Random(seed)
    pool = make_tracks(rng, max(50, entries // 500))
    favourites = rng.sample(range(len(pool)), 30)
    month = None
    day = start
    out = []
    while len(out) < entries:
        if (day.year, day.month) != month:
            month = (day.year, day.month)
            # a third of the favourites change every month
            for k in rng.sample(range(30), 10):
                favourites[k] = rng.randrange(len(pool))
        count = 0 if rng.random() < 0.08 else max(1, int(rng.gauss(55, 20)))
        sessions = sorted(rng.sample(range(7, 21), rng.randint(1, 3)))
        per = -(-count // len(sessions)) if count else 0
        for hour in sessions:
            t = datetime.datetime.combine(day, datetime.time(hour, rng.randint(0, 59)),
                                          tzinfo=datetime.timezone.utc)
            # one stream at a time: a session starts after the last one ended
            if out and t <= out[-1]["end"]:
                t = out[-1]["end"] + datetime.timedelta(minutes=rng.randint(5, 90))
            for _ in range(per):
                if len(out) >= entries or count == 0:
                    break
                count -= 1
                kind, track, ms, reason_end = one_listen(rng, pool, favourites)
                t += datetime.timedelta(milliseconds=ms + rng.randint(200, 3000))
                out.append({"end": t, "kind": kind, "track": track, "ms": ms,
                            "reason_end": reason_end, "shuffle": rng.random() < 0.4,
                            "offline": rng.random() < 0.05, "platform": rng.choice(PLATFORMS),
                            "show": rng.choice(SHOWS), "ep": rng.randint(1, 300)})
        day = max(day + datetime.timedelta(days=1), out[-1]["end"].date() if out else day)
    return out


def extended_entry(ls, old):
    """One entry of the extended streaming history, of the old or new generation."""
    end = ls["end"]
    tr = ls["track"]
    e = {"ts": end.strftime("%Y-%m-%d %H:%M:%S") if old else end.strftime("%Y-%m-%dT%H:%M:%SZ")}
    if old:
        e["username"] = "listener1987"
    e["platform"] = ls["platform"]
    e["ms_played"] = ls["ms"]
    e["conn_country"] = "DE"
    e["ip_addr_decrypted" if old else "ip_addr"] = "192.0.2.%d" % (ls["ep"] % 250 + 1)
    if old:
        e["user_agent_decrypted"] = "unknown"
    e["master_metadata_track_name"] = tr["name"] if tr else None
    e["master_metadata_album_artist_name"] = tr["artist"] if tr else None
    e["master_metadata_album_album_name"] = tr["album"] if tr else None
    e["spotify_track_uri"] = "spotify:track:" + tr["id"] if tr else None
    e["episode_name"] = f"Episode {ls['ep']}" if ls["kind"] == "episode" else None
    e["episode_show_name"] = ls["show"] if ls["kind"] == "episode" else None
    e["spotify_episode_uri"] = "spotify:episode:ep%020d" % ls["ep"] if ls["kind"] == "episode" else None
    if not old:
        book = ls["kind"] == "audiobook"
        e["audiobook_title"] = "The Long Book" if book else None
        e["audiobook_uri"] = "spotify:audiobook:book0000000000000001" if book else None
        e["audiobook_chapter_uri"] = "spotify:chapter:ch%018d" % ls["ep"] if book else None
        e["audiobook_chapter_title"] = f"Chapter {ls['ep']}" if book else None
    e["reason_start"] = "trackdone"
    e["reason_end"] = ls["reason_end"]
    e["shuffle"] = ls["shuffle"]
    e["skipped"] = None if old else (ls["reason_end"] == "fwdbtn")
    e["offline"] = ls["offline"]
    if ls["offline"]:
        at = int(end.timestamp()) - 3600
        e["offline_timestamp"] = at if old else at * 1000
    else:
        e["offline_timestamp"] = 0 if not old else None
    e["incognito_mode"] = False
    return e


def extended_files(ls, per_file):
    """[(file name, [entries])]: endsong_N before 2022, Streaming_History_Audio after."""
    files = []
    for i in range(0, len(ls), per_file):
        chunk = ls[i:i + per_file]
        old = chunk[-1]["end"].year < 2022
        if old:
            name = f"endsong_{len(files)}.json"
        else:
            name = (f"Streaming_History_Audio_{chunk[0]['end'].year}-{chunk[-1]['end'].year}"
                    f"_{len(files)}.json")
        files.append((name, [extended_entry(x, old) for x in chunk]))
    return files


def account_files(ls):
    """The account-data export of the last year of listens."""
    last = ls[-1]["end"]
    year = [x for x in ls if x["end"] > last - datetime.timedelta(days=365)]
    music = [{"endTime": x["end"].strftime("%Y-%m-%d %H:%M"), "artistName": x["track"]["artist"],
              "trackName": x["track"]["name"], "msPlayed": x["ms"]}
             for x in year if x["kind"] == "track"]
    podcast = [{"endTime": x["end"].strftime("%Y-%m-%d %H:%M"), "podcastName": x["show"],
                "episodeName": f"Episode {x['ep']}", "msPlayed": x["ms"]}
               for x in year if x["kind"] == "episode"]
    return [("StreamingHistory_music_0.json", music), ("StreamingHistory_podcast_0.json", podcast)]


def generate(entries, per_file, start, seed):
    """All the files of the export: [(name, [entries])]."""
    ls = listens(entries, start, seed)
    return extended_files(ls, per_file) + account_files(ls)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("outdir", nargs="?", help="directory to write the files into")
    ap.add_argument("--jsonl", action="store_true",
                    help="instead, print one line per file: {\"file\": name, \"entries\": [...]}")
    ap.add_argument("--entries", type=int, default=24000)
    ap.add_argument("--per-file", type=int, default=6000)
    ap.add_argument("--start", default="2021-06-01")
    ap.add_argument("--seed", type=int, default=14)
    a = ap.parse_args()
    files = generate(a.entries, a.per_file, datetime.date.fromisoformat(a.start), a.seed)
    if a.jsonl:
        for name, content in files:
            print(json.dumps({"file": name, "entries": content}, ensure_ascii=False))
        return
    if not a.outdir:
        ap.error("give an output directory, or --jsonl")
    os.makedirs(a.outdir, exist_ok=True)
    for name, content in files:
        with open(os.path.join(a.outdir, name), "w", encoding="utf-8") as f:
            json.dump(content, f, ensure_ascii=False, indent=1)
        print(f"{name}: {len(content)} entries")


if __name__ == "__main__":
    main()
