"""The bundled sample of real-shaped top-tracks pages, and what music_tm
should make of them: the client tests check the driver's results against
ranks computed here from the payloads, never against a table's layout."""
import gzip
import json
import os

SAMPLE = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                      "..", "..", "data", "sample_pages.jsonl.gz")


def records(time_range, n):
    """The first n sample records ({snapshot_date, time_range, page}) of a range."""
    out = []
    with gzip.open(SAMPLE, "rt", encoding="utf-8") as f:
        for line in f:
            r = json.loads(line)
            if r["time_range"] == time_range:
                out.append(r)
                if len(out) == n:
                    break
    return out


def charted_id(track):
    """The id a track is charted under: linked_from.id when relinked."""
    return (track.get("linked_from") or {}).get("id") or track["id"]


def chart(record):
    """[(rank, track_id)] of a record's page, as music_tm should chart it."""
    page = record["page"]
    return [(page["offset"] + i + 1, charted_id(t))
            for i, t in enumerate(page["items"])
            if t is not None and t.get("id") is not None and t.get("type", "track") == "track"]


# A payload music_tm must reject with nothing written: item 2 has no name.
BAD_PAGE = {"items": [{"id": "ok1", "name": "A"}, {"id": "ok2", "name": "B"}, {"id": "bad"}]}
BAD_SQLSTATE = "22023"
BAD_DETAIL = 'Field "name" of items[2] is missing.'
