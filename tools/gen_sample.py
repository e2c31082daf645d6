#!/usr/bin/env python3
"""Generate Spotify-shaped top-tracks pages for the demo, tests and benchmarks.

Output: one JSON object per line,
    {"snapshot_date": "2026-01-05", "time_range": "short_term", "page": {...}}
where "page" is a paging object as GET /v1/me/top/tracks returns it.  Charts
evolve day by day from a random walk over a pool of tracks, so runs, re-entries
and drops look like real listening.  Each track object is about 4 KB, mostly
available_markets, and carries the quirks of ../shared/spotify-payloads.md:
year- and month-precision release dates, a "0000" date, non-ASCII names,
relinked tracks (linked_from), podcast episodes shaped as tracks, empty
external_ids, null preview_url and image sizes, and local files.

The output depends only on the arguments: the same seed gives the same bytes.
"""
import argparse
import datetime
import gzip
import json
import random
import sys

MARKETS = ("AD AE AG AL AM AO AR AT AU AZ BA BB BD BE BF BG BH BI BJ BN BO BR BS BT BW BY BZ CA CD "
           "CG CH CI CL CM CO CR CV CW CY CZ DE DJ DK DM DO DZ EC EE EG ES ET FI FJ FM FR GA GB GD "
           "GE GH GM GN GQ GR GT GW GY HK HN HR HT HU ID IE IL IN IQ IS IT JM JO JP KE KG KH KI KM "
           "KN KR KW KZ LA LB LC LI LK LR LS LT LU LV LY MA MC MD ME MG MH MK ML MN MO MR MT MU MV "
           "MW MX MY MZ NA NE NG NI NL NO NP NR NZ OM PA PE PG PH PK PL PS PT PW PY QA RO RS RW SA "
           "SB SC SE SG SI SK SL SM SN SR ST SV SZ TD TG TH TJ TL TN TO TR TT TV TW TZ UA UG US UY "
           "UZ VC VE VN VU WS XK ZA ZM ZW").split()
RANGES = ("short_term", "medium_term", "long_term")
B62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
WORDS = ["Midnight", "Echo", "Golden", "River", "Neon", "Heart", "Summer", "Ghost", "Paper",
         "Velvet", "Shadow", "Fire", "Ocean", "City", "Dream", "Electric", "Silver", "Wild"]
INTL = ["Café del Mar", "Ñandú", "Straße der Nacht", "Sommarnatt på Åland", "Ça plane pour moi",
        "夜に駆ける", "아름다운 밤", "Любовь", "Música Ligera", "Ελπίδα", "Smörgåsbord",
        "Ölüdeniz", "Zoë's Theme", "Ça ira", "Dziękuję", "Hứa Đợi", "ليلة", "שיר"]
ARTISTS = ["The Lanterns", "Mira Sol", "Björk Ødegaard", "DJ Kōji", "Los Ríos", "Anaïs Quartet",
           "Fjällräven Brass", "Nova & The Tides", "Zaz Müller", "The Quiet Hours", "Saša Kovač",
           "Yuki Tanaka", "Beyoncé Knowles-Carter Tribute", "Sigur Rós Covers", "Ana Ćorić"]


def spotify_id(rng):
    return "".join(rng.choice(B62) for _ in range(22))


def make_artist(rng, name, kind="artist"):
    aid = spotify_id(rng)
    return {"external_urls": {"spotify": f"https://open.spotify.com/{kind}/{aid}"},
            "href": f"https://api.spotify.com/v1/{kind}s/{aid}", "id": aid, "name": name,
            "type": kind, "uri": f"spotify:{kind}:{aid}"}


def release_date(rng):
    year = rng.randint(1965, 2025)
    r = rng.random()
    if r < 0.02:
        return "0000", "year"
    if r < 0.12:
        return str(year), "year"
    if r < 0.20:
        return f"{year}-{rng.randint(1, 12):02d}", "month"
    if r < 0.25:
        return f"{year}-01-01", "day"
    return f"{year}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}", "day"


def make_track(rng, artists, n, used_names=None):
    tid = spotify_id(rng)
    name = rng.choice(INTL) if rng.random() < 0.5 else f"{rng.choice(WORDS)} {rng.choice(WORDS)}"
    if used_names is not None:          # distinct titles read better in a demo chart
        base, k = name, 2
        while name in used_names:
            name = f"{base} {'II III IV V VI VII VIII IX X'.split()[min(k - 2, 8)]}" if k < 11 else f"{base} {k}"
            k += 1
        used_names.add(name)
    if rng.random() < 0.3:
        name += f" (feat. {rng.choice(ARTISTS)})"
    credited = rng.sample(artists, rng.choice((1, 1, 1, 2, 3)))
    episode = n % 97 == 13
    if episode:
        credited = [make_artist(rng, "The Daily Listen", "show")]
    date, precision = release_date(rng)
    album_id = spotify_id(rng)
    markets = sorted(rng.sample(MARKETS, rng.randint(150, len(MARKETS))))
    big = rng.random() < 0.1
    album = {
        "album_type": "compilation" if episode else rng.choice(("album", "single", "album")),
        "artists": credited[:1], "available_markets": markets,
        "external_urls": {"spotify": f"https://open.spotify.com/album/{album_id}"},
        "href": f"https://api.spotify.com/v1/albums/{album_id}", "id": album_id,
        "images": [{"height": None if big else 640, "url": f"https://i.scdn.co/image/{spotify_id(rng)}",
                    "width": None if big else 640},
                   {"height": 300, "url": f"https://i.scdn.co/image/{spotify_id(rng)}", "width": 300},
                   {"height": 64, "url": f"https://i.scdn.co/image/{spotify_id(rng)}", "width": 64}],
        "name": "" if n % 53 == 7 else f"{rng.choice(WORDS)} {rng.choice(INTL)}",
        "release_date": date, "release_date_precision": precision,
        "total_tracks": rng.randint(1, 20), "type": "album", "uri": f"spotify:album:{album_id}"}
    ext = {} if n % 29 == 3 else {"isrc": f"{rng.choice(['US', 'GB', 'SE', 'JP', 'DE'])}"
                                          f"{''.join(rng.choice(B62[10:36]) for _ in range(3))}"
                                          f"{rng.randint(0, 99999999):08d}"}
    return {
        "album": album, "artists": credited, "available_markets": markets,
        "disc_number": 1, "duration_ms": rng.randint(95000, 420000),
        "explicit": rng.random() < 0.2, "external_ids": ext,
        "external_urls": {"spotify": f"https://open.spotify.com/track/{tid}"},
        "href": f"https://api.spotify.com/v1/tracks/{tid}", "id": tid, "is_local": False,
        "name": name, "popularity": rng.randint(0, 100),
        "preview_url": None if rng.random() < 0.7 else f"https://p.scdn.co/mp3-preview/{spotify_id(rng)}",
        "track_number": rng.randint(1, 12), "type": "track", "uri": f"spotify:track:{tid}"}


def relink(rng, track):
    """The same song under a playable twin id, as Spotify returns it with a market."""
    twin = json.loads(json.dumps(track))
    tid = spotify_id(rng)
    twin["linked_from"] = {k: track[k] for k in ("external_urls", "href", "id", "type", "uri")}
    twin.update(id=tid, href=f"https://api.spotify.com/v1/tracks/{tid}", uri=f"spotify:track:{tid}",
                is_playable=True)
    twin["external_urls"] = {"spotify": f"https://open.spotify.com/track/{tid}"}
    del twin["available_markets"]
    return twin


def local_file(n):
    return {"album": {"album_type": None, "artists": [], "available_markets": [], "external_urls": {},
                      "href": None, "id": None, "images": [], "name": "", "release_date": None,
                      "release_date_precision": None, "type": "album", "uri": None},
            "artists": [{"external_urls": {}, "href": None, "id": None, "name": "Tape Deck", "type": "artist",
                         "uri": None}],
            "available_markets": [], "disc_number": 0, "duration_ms": 253000, "explicit": False,
            "external_ids": {}, "external_urls": {}, "href": None, "id": None, "is_local": True,
            "name": f"Demo Take {n}", "popularity": 0, "preview_url": None, "track_number": 0,
            "type": "track", "uri": f"spotify:local:Tape+Deck::Demo+Take+{n}:253"}


def generate(days, pool_size, chart_size, seed, start, out):
    rng = random.Random(seed)
    artists = [make_artist(rng, a) for a in ARTISTS]
    used = set()
    pool = [make_track(rng, artists, n, used) for n in range(pool_size)]
    twins = {n: relink(rng, pool[n]) for n in range(0, pool_size, 41)}
    # one score per (range, track): a random walk, smoother for longer ranges
    score = {r: [rng.gauss(0, 1) for _ in pool] for r in RANGES}
    step = {"short_term": 0.35, "medium_term": 0.12, "long_term": 0.04}
    for d in range(days):
        day = start + datetime.timedelta(days=d)
        for r in RANGES:
            s = score[r]
            for i in range(pool_size):
                s[i] += rng.gauss(0, step[r])
            order = sorted(range(pool_size), key=lambda i: -s[i])[:chart_size]
            items = []
            for pos, i in enumerate(order):
                if r == "short_term" and pos == 17 and d % 9 == 4:
                    items.append(local_file(d))
                elif i in twins and d % 2 == 1:
                    items.append(twins[i])
                else:
                    items.append(pool[i])
            page = {"href": f"https://api.spotify.com/v1/me/top/tracks?time_range={r}&limit={chart_size}&offset=0",
                    "items": items, "limit": chart_size, "next": None, "offset": 0, "previous": None,
                    "total": chart_size}
            out.write(json.dumps({"snapshot_date": day.isoformat(), "time_range": r, "page": page},
                                 ensure_ascii=False, separators=(",", ":")) + "\n")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--days", type=int, default=28)
    ap.add_argument("--pool", type=int, default=160, help="distinct tracks")
    ap.add_argument("--chart-size", type=int, default=50)
    ap.add_argument("--seed", type=int, default=1981)
    ap.add_argument("--start", default="2026-01-05")
    ap.add_argument("-o", "--output", default="-", help="file (.gz compresses) or - for stdout")
    a = ap.parse_args()
    start = datetime.date.fromisoformat(a.start)
    if a.output == "-":
        generate(a.days, a.pool, a.chart_size, a.seed, start, sys.stdout)
    elif a.output.endswith(".gz"):
        with gzip.GzipFile(a.output, "wb", mtime=0) as raw:
            import io
            with io.TextIOWrapper(raw, encoding="utf-8") as f:
                generate(a.days, a.pool, a.chart_size, a.seed, start, f)
    else:
        with open(a.output, "w", encoding="utf-8") as f:
            generate(a.days, a.pool, a.chart_size, a.seed, start, f)


if __name__ == "__main__":
    main()
