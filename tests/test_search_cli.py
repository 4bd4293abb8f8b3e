"""`verify search MEDIA` and `verify dupes`: exact output and exit codes."""

import dataclasses
import json
import random
import sqlite3
from pathlib import Path

import pytest

from tests.conftest import RunCli
from tests.search_helpers import near_copy, random_frames, store
from verify.analysis import PIPELINE
from verify.archive import Archive
from verify.models import Blob, Media
from verify.services.search import _UNINFORMATIVE, EVIDENCE_KEYS
from verify.timeutil import now


def _setup(archive: Archive) -> tuple[int, int, int]:
    rng = random.Random(21)
    original = random_frames(40, rng)
    a = store(archive, "telegram-original", "orig.mp4", original)
    b = store(archive, "x-reupload", "subtitled.mp4", near_copy(original[12:42], rng, shift=-12.0))
    c = store(archive, "x-reupload", "unrelated.mp4", random_frames(20, rng))
    return a.media_id, b.media_id, c.media_id


def test_search_media_human(archive: Archive, cli: RunCli) -> None:
    a, b, _ = _setup(archive)
    r = cli("search", str(b))
    assert r.exit_code == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0].split() == [
        "RANK",
        "TIER",
        "CASE",
        "MEDIA",
        "NAME",
        "SCORE",
        "FRAMES",
        "Q",
        "C",
        "BEST/MED",
        "OFFSET",
        "VARIANT",
        "ALIGNED",
    ]
    assert len(lines) == 2
    row = lines[1]
    assert row.startswith(f"1     match  telegram-original  {a}      orig.mp4")
    assert "28/28 28/40" in row
    assert row.endswith("+12 s   full     query 00:00-00:27 ~ candidate 00:12-00:39, offset +12 s")
    # the terse columns and the tiers explained after the table, on stderr; not with --json
    assert r.stderr == (
        "FRAMES Q C: frames matched of those sampled, in the query (Q) and the candidate (C); "
        "BEST/MED: best and median dHash distance of the matched frames in bits (0 is the same "
        "picture, unrelated ones are about 32 apart); OFFSET: candidate time minus query time\n"
        "match: matched frames cover at least half of either file, a copy or an excerpt; "
        "suggestion: some frames are close, too few or not close enough to say so: compare the "
        "two yourself (docs/matching.md)\n"
    )
    assert cli("search", str(b), "--json").stderr == ""


def test_search_media_json_and_case_filter(archive: Archive, cli: RunCli) -> None:
    a, b, c = _setup(archive)
    r = cli("search", str(a), "--json")
    data = json.loads(r.stdout)
    assert data["query"]["media"] == a
    assert data["exact_copies"] == []
    assert [(h["media"], h["tier"], h["offset"]) for h in data["hits"]] == [(b, "match", -12.0)]
    r = cli("search", str(a), "--case", "telegram-original", "--json")
    assert json.loads(r.stdout)["hits"] == []
    r = cli("search", str(a), "--case", "telegram-original")
    assert r.stdout == ""
    # the case holds nothing but the query itself: nothing was compared, and it says so
    assert r.stderr == (
        f"no near-duplicates of {a} (video): case telegram-original holds no other analysed "
        "media to compare with\n"
    )
    r = cli("search", str(c), "--case", "telegram-original")
    assert r.stderr == (
        f"no near-duplicates of {c} (video) among 1 file in case telegram-original at default "
        "thresholds; a heavily edited copy may still be found with a looser --threshold "
        "(16-20; docs/matching.md)\n"
    )
    r = cli("search", str(c), "--case", "telegram-original", "--threshold", "16")
    assert r.stderr == (
        f"no near-duplicates of {c} (video) among 1 file in case telegram-original at "
        "--threshold 16\n"
    )


def test_search_errors(archive: Archive, cli: RunCli) -> None:
    r = cli("search", "999")
    assert r.exit_code == 4
    assert r.stderr == "error: no media 999; `verify media list CASE` shows media ids\n"
    r = cli("search", "nonexistent.mp4")
    assert r.exit_code == 2  # a missing file, as `media add` says
    assert r.stderr.startswith("error: no file nonexistent.mp4 and it is not a media reference")
    _setup(archive)
    r = cli("search", "1", "--threshold", "40")
    assert r.exit_code == 2
    assert "out of range" in r.stderr


def test_threshold_range_on_the_command_line(archive: Archive, cli: RunCli) -> None:
    """0 and 32 are accepted; one past either end is refused with one line, exit 2."""
    a, b, _ = _setup(archive)
    for value in ("0", "32"):
        r = cli("search", str(b), "--threshold", value, "--json")
        assert r.exit_code == 0, (value, r.stderr)
        assert a in [h["media"] for h in json.loads(r.stdout)["hits"]], value
    for value in ("-1", "33"):
        r = cli("search", str(b), "--threshold", value)
        assert r.exit_code == 2 and r.stdout == ""
        assert r.stderr == (f"error: threshold {value} is out of range: give 0-32 dHash bits\n"), (
            value
        )


def test_dupes(archive: Archive, cli: RunCli) -> None:
    a, b, _ = _setup(archive)
    r = cli("dupes")
    assert r.exit_code == 0
    assert r.stdout.splitlines()[0] == "cluster 1: 2 media"
    assert r.stdout.splitlines()[3].startswith(f"  {a} ~ {b}: match ")
    data = json.loads(cli("dupes", "--json").stdout)
    assert [[m["media"] for m in cl["media"]] for cl in data] == [[a, b]]
    r = cli("dupes", "--case", "x-reupload")
    assert r.stdout == ""
    assert r.stderr == (
        "no near-duplicate media among the media of case x-reupload (--case looks within the "
        "case; `verify search MEDIA` finds a file's copies in other cases)\n"
    )


def test_dupes_shows_the_derivations_recorded_for_each_link(archive: Archive, cli: RunCli) -> None:
    """A link of a cluster lists the derivations recorded between the two files (from any of
    the media holding them); stderr says how many links have none yet."""
    a, b, _ = _setup(archive)
    r = cli("dupes")
    assert r.stderr == (
        "1 link joins files that no recorded derivation relates: `verify prov derive CHILD "
        "PARENT --kind KIND --evidence-from-search` records one\n"
    )
    [link] = json.loads(cli("dupes", "--json").stdout)[0]["links"]
    assert (link["derivations"], link["related"]) == ([], False)
    with archive.read() as session:
        held = session.get(Media, a)
        assert held is not None
        copy = store(archive, "third-case", "orig-copy.mp4", [], blob_id=held.blob_id)
    assert cli("prov", "derive", str(b), str(copy.media_id), "--kind", "excerpt_of").exit_code == 0
    assert cli("prov", "derive", str(copy.media_id), str(a), "--kind", "reencode_of").exit_code == 0
    r = cli("dupes")
    assert (r.stderr, r.stdout.splitlines()[-1]) == (
        "",
        f"    recorded: {b} excerpt_of {copy.media_id} (derivation 1)",
    )
    [link] = json.loads(cli("dupes", "--json").stdout)[0]["links"]
    assert link["derivations"] == [
        {"id": 1, "child": b, "kind": "excerpt_of", "parent": copy.media_id}
    ]  # (derivation 2 links two media of the same bytes: no frame link to show it on)
    assert link["related"]

    # a third copy, derived from the second: the first and the third are related through it
    rng = random.Random(9)
    first_half = near_copy(random_frames(40, random.Random(21))[:30], rng)  # media a's frames
    d = store(archive, "fourth-case", "first-half.mp4", first_half).media_id
    assert cli("dupes").stderr.startswith("2 links join files")  # d ~ a and d ~ b
    assert cli("prov", "derive", str(d), str(b), "--kind", "reencode_of").exit_code == 0
    r = cli("dupes")
    assert r.stderr == ""
    links = {(x["a"], x["b"]): x for x in json.loads(cli("dupes", "--json").stdout)[0]["links"]}
    assert (links[(a, d)]["derivations"], links[(a, d)]["related"]) == ([], True)
    assert "    related through other recorded derivations" in r.stdout.splitlines()


def test_dupes_says_why_an_exact_copy_is_in_a_cluster(archive: Archive, cli: RunCli) -> None:
    """The same bytes held by another case join the cluster without a frame link: a line
    says why it is there."""
    a, b, _ = _setup(archive)
    from verify.models import Media

    with archive.read() as session:
        held = session.get(Media, a)
        assert held is not None
        blob_id = held.blob_id
    copy = store(archive, "third-case", "orig-copy.mp4", [], blob_id=blob_id)
    lines = cli("dupes").stdout.splitlines()
    assert lines[0] == "cluster 1: 3 media"
    assert f"  {a} = {copy.media_id}: same bytes" in lines
    assert any(x.startswith(f"  {a} ~ {b}: match ") for x in lines)


def test_dupes_media_rows_are_in_columns(archive: Archive, cli: RunCli) -> None:
    """Media ids, slugs and kinds of different widths: each column starts at one place."""
    a, _, _ = _setup(archive)
    with archive.read() as session:
        held = session.get(Media, a)
        assert held is not None
        blob_id = held.blob_id
    for i in range(9):  # media ids to two digits, and a longer slug
        copy = store(archive, "a-much-longer-case-slug", f"copy-{i}.mp4", [], blob_id=blob_id)
    rows = [x for x in cli("dupes").stdout.splitlines() if x.startswith("  media ")]
    assert len(rows) == 11 and any(x.startswith(f"  media {copy.media_id}  c") for x in rows)
    for word in ("case ", "video "):
        assert len({x.index(word) for x in rows}) == 1, (word, rows)
    names = {x.rindex(" ") for x in rows}  # the name, after the SHA-256 prefix
    assert len(names) == 1, rows


def test_search_file_not_stored(archive: Archive, cli: RunCli, tmp_path: Path) -> None:
    import numpy as np
    from PIL import Image

    from verify.analysis.frames import frame_hash
    from verify.analysis.hashing import hash_image

    rng = np.random.default_rng(4)
    img = Image.fromarray(rng.integers(0, 255, (18, 32, 3), dtype=np.uint8)).resize(
        (640, 360), Image.Resampling.BICUBIC
    )
    h = hash_image(img)
    frame = frame_hash(0, 0.0, h)
    stored = store(archive, "photos", "photo.png", [frame], kind="image")
    copy = tmp_path / "copy.jpg"
    img.resize((320, 180)).save(copy, quality=60)
    r = cli("search", str(copy), "--json")
    assert r.exit_code == 0, r.stderr
    data = json.loads(r.stdout)
    assert data["query"]["kind"] == "image"
    assert data["exact_copies"] == []
    assert [(h["media"], h["tier"], h["exact"]) for h in data["hits"]] == [
        (stored.media_id, "match", False)
    ]
    # the file was analysed, not stored
    assert json.loads(cli("media", "list", "photos", "--json").stdout)[0]["id"] == stored.media_id
    assert len(json.loads(cli("media", "list", "photos", "--json").stdout)) == 1


def test_another_archive_behind_the_same_home_never_uses_its_index(
    cli: RunCli, home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two databases (or schemas) behind one home share its index folder; frame ids of one
    mean other frames in the other, so a sidecar built from one must be rebuilt for the
    other (once, a false match was reported with score 1.00)."""
    from tests.media import write_jpeg

    photos = tmp_path / "photos"
    photos.mkdir()
    seen = write_jpeg(photos / "seen.jpg", seed=31)
    other = write_jpeg(photos / "other.jpg", seed=32)
    assert cli("case", "open", "A", "--slug", "a").exit_code == 0
    assert cli("media", "add", "a", str(seen)).exit_code == 0
    first = cli("search", str(seen), "--json")
    assert [h["case"] for h in json.loads(first.stdout)["hits"]] == ["a"]
    assert (home / "index" / "frames-v1.json").is_file()  # the sidecar, built from A

    monkeypatch.setenv("VERIFY_DATABASE_URL", f"sqlite:///{tmp_path / 'b.db'}")
    assert cli("case", "open", "B", "--slug", "b").exit_code == 0
    assert cli("media", "add", "b", str(other)).exit_code == 0
    r = cli("search", str(seen), "--json")
    assert r.exit_code == 0, r.stderr
    assert json.loads(r.stdout)["hits"] == []  # A's photo is not in B
    r = cli("search", str(other), "--json")
    assert [(h["case"], h["original_name"]) for h in json.loads(r.stdout)["hits"]] == [
        ("b", "other.jpg")
    ]


def test_derive_says_what_search_finds(
    archive: Archive, cli: RunCli, home: Path, monkeypatch: pytest.MonkeyPatch, backend: str
) -> None:
    """`prov derive` records what it is told, then says on stderr whether search agrees, or
    why it cannot tell; it exits 0 whatever search says, or if search fails."""
    a, b, c = _setup(archive)
    rng = random.Random(8)
    original = random_frames(40, random.Random(21))  # media a's frames (see `_setup`)
    # three frames of the original among 37 others: below the match tier, not nothing
    partial = store(
        archive,
        "x-reupload",
        "partial.mp4",
        near_copy(original[:3], rng) + random_frames(37, rng, step=1.0)[3:],
    )
    same = store(archive, "x-reupload", "orig-again.mp4", [], blob_id=_blob_of(archive, a))
    blank = store(
        archive,
        "x-reupload",
        "black.mp4",
        [dataclasses.replace(f, informative=False) for f in random_frames(5, rng)],
    )
    old = store(archive, "x-reupload", "old.mp4", random_frames(5, rng))
    with archive.write() as session:
        failed = Blob(
            sha256="f" * 64,
            size=0,
            kind="video",
            analysis_state="failed",
            analysis_error="timed out after 3 s",
            stored_at=now(),
        )
        session.add(failed)
        blob = session.get(Blob, old.blob_id)
        assert blob is not None
        blob.pipeline = "v1"
        session.flush()
        assert failed.id is not None
        failed_blob = failed.id
    broken = store(archive, "x-reupload", "empty.mp4", [], blob_id=failed_blob)

    def derive(child: int, parent: int) -> str:
        r = cli("prov", "derive", str(child), str(parent), "--kind", "reencode_of")
        assert r.exit_code == 0, r.stderr
        assert r.stdout.strip().isdigit()
        return r.stderr

    assert derive(b, a) == (
        f"search: media {b} matches media {a}: 28/28 frames of media {b} and 28/40 of "
        f"media {a}, median 3 bits (best 3), variant full, offset +12 s\n"
    )
    assert derive(partial.media_id, a).startswith(
        f"search: media {partial.media_id} only resembles (suggestion tier) media {a}: 3/37 "
    )
    assert derive(c, a) == (
        f"note: search finds no frame of media {c} near media {a}; recorded as stated "
        "(check the media ids, or say why in --note)\n"
    )
    assert derive(same.media_id, a) == (
        f"note: media {same.media_id} and media {a} are the same bytes (same SHA-256)\n"
    )
    cannot = "note: search cannot check this derivation: "
    assert derive(broken.media_id, a) == (
        f"{cannot}media {broken.media_id} has no frame hashes to compare: its analysis failed: "
        "timed out after 3 s (`verify media reanalyse` retries it)\n"
    )
    assert derive(a, blank.media_id) == (
        f"{cannot}media {blank.media_id}: near-duplicate comparison not possible: every "
        "sampled frame of this video is uniform, black or near-blank, which would match "
        "unrelated pictures, so it is not compared (only exact copies are looked for)\n"
    )
    assert derive(old.media_id, b) == (
        f"{cannot}media {old.media_id} was hashed with an older recipe: `verify media "
        f"reanalyse {old.media_id}` hashes it again\n"
    )
    if backend == "sqlite":
        # a blob row gone from under its media (a damaged database): said, no internal error
        db = sqlite3.connect(home / "verify.db")
        with db:
            db.execute("PRAGMA foreign_keys = OFF")
            db.execute("DELETE FROM frames WHERE blob_id = ?", (old.blob_id,))
            db.execute("DELETE FROM blobs WHERE id = ?", (old.blob_id,))
        db.close()
        assert derive(c, old.media_id) == f"{cannot}media {old.media_id} refers to a missing file\n"

    # a video recorded as a re-encode of a still image: the kinds cannot fit
    still = store(archive, "x-reupload", "still.jpg", random_frames(1, rng)).media_id
    said = derive(c, still).splitlines()
    assert said[-1] == (
        f"note: media {c} is a video and media {still} a still image: a video can be a screen "
        "recording of a picture, not reencode_of; check --kind, and the order (CHILD first, "
        "then PARENT)"
    )
    r = cli("prov", "derive", str(b), str(still), "--kind", "screen_recording_of")
    assert "is a video and" not in r.stderr

    # search failing, or interrupted, after the derivation is recorded: a note, exit 0
    def failing(*_: object) -> None:
        raise RuntimeError("index unreadable")

    monkeypatch.setattr("verify.services.search.compare_media", failing)
    p = partial.media_id
    assert derive(p, b) == (
        f"note: search could not compare media {p} with media {b}: index unreadable\n"
    )

    def interrupted(*_: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr("verify.services.search.compare_media", interrupted)
    assert derive(p, c) == (
        "note: search's comparison was interrupted; the derivation is recorded\n"
    )
    # every derivation was recorded, whatever search said
    r = cli("prov", "derivations", "x-reupload", "--json")
    assert len(json.loads(r.stdout)) == (12 if backend == "sqlite" else 11)


def _blob_of(archive: Archive, media_id: int) -> int:
    with archive.read() as session:
        m = session.get(Media, media_id)
        assert m is not None
        return m.blob_id


def test_derive_evidence_from_search(
    archive: Archive, cli: RunCli, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`--evidence-from-search` records search's verdict as the evidence, and refuses, with
    nothing written, when search has none to give. It reads the two files' frames alone,
    never the archive's whole index (millions of frames on a large archive)."""
    a, b, c = _setup(archive)

    def whole_index(*_: object) -> None:
        raise AssertionError("the whole index was loaded")

    monkeypatch.setattr("verify.services.search.load_index", whole_index)
    same = store(archive, "x-reupload", "orig-again.mp4", [], blob_id=_blob_of(archive, a))
    rng = random.Random(3)
    blank = store(
        archive,
        "x-reupload",
        "black.mp4",
        [dataclasses.replace(f, informative=False) for f in random_frames(5, rng)],
    )
    s, k = same.media_id, blank.media_id
    before = cli("log", "--json").stdout
    for args, message in [
        (
            [str(s), str(a)],
            f"error: media {s} and media {a} are the same bytes: search has nothing to "
            "compare; give --evidence instead\n",
        ),
        (
            [str(k), str(a)],
            f"error: search cannot compare them: media {k}: near-duplicate comparison not "
            f"possible: {_UNINFORMATIVE.format(kind='video')}; give --evidence instead\n",
        ),
        (
            [str(c), str(a)],
            f"error: search finds no frame of media {c} near media {a}: no evidence to record "
            "(check the media ids, or give --evidence)\n",
        ),
        (
            [str(b), str(a), "--evidence", "seen"],
            "error: give --evidence or --evidence-from-search, not both\n",
        ),
        ([str(a), str(a)], f"error: media {a} cannot derive from itself\n"),
        (["999", str(a)], "error: no media 999; `verify media list CASE` shows media ids\n"),
    ]:
        r = cli("prov", "derive", *args, "--kind", "reencode_of", "--evidence-from-search")
        code = 4 if "999" in args else 2
        assert (r.exit_code, r.stdout) == (code, "")
        assert r.stderr.startswith(message), r.stderr
    r = cli("prov", "derive", str(b), str(a), "--kind", "copy", "--evidence-from-search")
    assert (r.exit_code, r.stderr.split(":")[0]) == (2, "error")
    assert "derivation kind" in r.stderr, r.stderr
    assert cli("log", "--json").stdout == before

    r = cli("prov", "derive", str(b), str(a), "--kind", "excerpt_of", "--evidence-from-search")
    assert r.exit_code == 0, r.stderr
    assert r.stderr.startswith(f"search: media {b} matches media {a}: 28/28 frames")
    [d] = json.loads(cli("prov", "derivations", "x-reupload", "--json").stdout)
    ev = d["evidence"]
    assert (ev["source"], ev["recipe"], ev["tier"], ev["offset"]) == (
        "verify search",
        PIPELINE,
        "match",
        12.0,
    )
    assert ev["frames_matched"] == {"query": 28, "candidate": 28}
    assert (ev["query_frames"], ev["candidate_frames"], ev["variant"]) == (28, 40, "full")
    assert ev["aligned"] == "query 00:00-00:27 ~ candidate 00:12-00:39, offset +12 s"
    assert set(ev) == {"source", "recipe", *EVIDENCE_KEYS}


def test_search_evidence_reads_as_a_sentence_in_reports(
    archive: Archive, cli: RunCli, tmp_path: Path
) -> None:
    """Evidence written by search is one sentence in the report; other evidence, and
    search's edited by hand, field by field."""
    from verify.services.report_render import search_summary

    a, b, c = _setup(archive)
    r = cli("prov", "derive", str(b), str(a), "--kind", "excerpt_of", "--evidence-from-search")
    assert r.exit_code == 0, r.stderr
    assert cli("prov", "derive", str(c), str(b), "--kind", "reencode_of").exit_code == 0
    sentence = (
        "near-duplicate search (hashing recipe v3): match, score {score}; 28/28 frames of "
        f"media {b} and 28/40 of media {a}, median 3 bits (best {{best}}), variant full, "
        "offset +12 s"
    )
    [d, _] = json.loads(cli("prov", "derivations", "x-reupload", "--json").stdout)
    expected = sentence.format(
        score=f"{d['evidence']['score']:g}", best=d["evidence"]["best_distance"]
    )
    for fmt in ("md", "html"):
        out = tmp_path / f"report.{fmt}"
        r = cli("report", "x-reupload", "--format", fmt, "-o", str(out))
        assert r.exit_code == 0, r.stderr
        assert expected in out.read_text()
        assert "none given (recorded as stated)" in out.read_text()  # the second one
    edited = dict(d["evidence"], frames_matched="most")
    assert search_summary(edited, b, a) is None
    assert search_summary({"frames_matched": 41}, b, a) is None
    assert search_summary(d["evidence"]) == expected.replace(f"media {b}", "the copy").replace(
        f"media {a}", "the source"
    )
