"""`verify prov derivations`, `prov attributions`, `prov appearance list`, `prov earliest`
and `verify timeline` without the ORM (`verify.services.provread`, which the reports read
through too): the same data on SQLite (stdlib sqlite3 and SQLAlchemy Core) and PostgreSQL
(Core), whatever the letter case of the case's reference. What the earliest appearance and the timeline make of the records is
tested in test_provenance.py."""

import hashlib
from pathlib import Path
from typing import Any

import orjson
import pytest
from sqlmodel import select

from tests.conftest import RunCli, stdlib_reader
from tests.provhelp import add_media, analysed
from verify.archive import Archive
from verify.models import Account
from verify.services import cases, provenance, provread, status


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def _same(got: Any, want: Any) -> bool:
    """Equal as JSON, types included (`True == 1` in Python, not in the output)."""
    return bool(orjson.dumps(got) == orjson.dumps(want))


@pytest.fixture
def linked(cli: RunCli, archive: Archive, monkeypatch: pytest.MonkeyPatch) -> None:
    """Derivations of every shape: evidence as JSON (nested, unicode, numbers, booleans), as
    text, none; a note; one reaching into another case; one in another case only."""
    monkeypatch.setenv("VERIFY_FAKE_NOW", "2023-05-23T09:30:00.250001+03:00")  # µs, a zone
    for slug in ("legion", "other", "empty"):
        assert cli("case", "open", slug.title(), "--slug", slug).exit_code == 0
    a, b, c = (add_media(archive, "legion", f"{n}.mp4", n.encode()) for n in "abc")
    d, e = (add_media(archive, "other", f"{n}.mp4", n.encode()) for n in "de")
    evidence = '{"frames_matched": {"query": 8}, "offset": -9.5, "exact": false, "who": "Ян"}'
    for args in (
        [b, a, "--kind", "subtitled_from", "--evidence", evidence, "--note", "a\nb"],
        [c, b, "--kind", "reencode_of", "--evidence", "seen side by side"],
        [d, a, "--kind", "excerpt_of"],
        [e, d, "--kind", "cropped_from"],
    ):
        r = cli("prov", "derive", *map(str, args))
        assert r.exit_code == 0, r.stderr
    r = cli("prov", "derivation", "retract", "4", "--why", "wrong crop: «e» is not from «d»")
    assert r.exit_code == 0, r.stderr
    monkeypatch.delenv("VERIFY_FAKE_NOW")  # the real clock: microseconds vary


def test_derivations_with_either_end_in_the_case(archive: Archive, linked: None) -> None:
    for slug, ids in (("legion", [1, 2, 3]), ("other", [3, 4]), ("empty", [])):
        got = provread.list_derivations(archive, slug)
        assert [d["id"] for d in got] == ids
        assert _same(provread.list_derivations(archive, slug.upper()), got)
    first = provread.list_derivations(archive, "legion")[0]
    assert (first["child"], first["parent"], first["kind"]) == (2, 1, "subtitled_from")
    assert first["child_sha256"] == "sha256:" + hashlib.sha256(b"b").hexdigest()
    assert first["parent_sha256"] == "sha256:" + hashlib.sha256(b"a").hexdigest()
    assert first["evidence"] == {
        "frames_matched": {"query": 8}, "offset": -9.5, "exact": False, "who": "Ян",
    }  # fmt: skip
    assert provread.list_derivations(archive, "legion")[1]["evidence"] == {
        "text": "seen side by side"
    }
    assert first["evidence"]["exact"] is False and first["note"] == "a\nb"
    assert first["created_at"] == "2023-05-23T06:30:00.250001Z"
    assert provread.list_derivations(archive, "legion")[2]["evidence"] is None
    assert first["retracted"] is None
    assert provread.list_derivations(archive, "other")[1]["retracted"] == {
        "at": "2023-05-23T06:30:00.250001Z",
        "by": "tester",
        "why": "wrong crop: «e» is not from «d»",
    }


def test_stdlib_reader_gives_the_same(
    archive: Archive, home: Path, backend: str, linked: None
) -> None:
    with stdlib_reader(home, backend) as readonly:
        for slug in ("legion", "other", "empty"):
            want = provread.list_derivations(archive, slug)
            assert _same(provread.list_derivations(readonly, slug), want)


def fill_provenance(archive: Archive, monkeypatch: pytest.MonkeyPatch) -> None:
    """Provenance of every shape, over several cases:

    - `legion`: appearances with and without URLs, accounts and dates (a day, an exact time
      given with an offset, a capture time alone, an approximate month, none, a capture
      before the post, a post in the future), several platforms and accounts (unicode
      handles among them); attributions in every state (one moved through all four), on
      the case, a media file and an appearance; media whose metadata gives a capture time
      (with its offset, local, none) and one holding the same bytes as a file of `press`;
      a derivation to a file of `tg`, whose appearance is the earliest; status changes,
      notes, unicode throughout;
    - `press` (the same bytes) and `tg` (linked by derivation): appearances of the copies,
      overlapping dates in another case;
    - `rival`: the earliest overlaps an appearance on the claimed platform;
    - `later`: the claimed platform's appearances come later; `undated`: only undated
      appearances; `plain`: no attribution; `empty`: nothing at all;
    - `wrong`: an appearance older than all of these, linked to `legion` by a derivation
      that was retracted (so it relates nothing)."""
    now = "VERIFY_FAKE_NOW"
    monkeypatch.setenv(now, "2023-05-23T09:30:00.250001+03:00")  # µs, a zone
    for slug, title in (
        ("legion", "Видео «Легиона», Belgorod"),
        ("press", "Press reuse"),
        ("tg", "Telegram original"),
        ("rival", "Rival"),
        ("later", "Later"),
        ("undated", "Undated"),
        ("plain", "Plain"),
        ("empty", "Empty"),
        ("wrong", "Wrong link"),
    ):
        cases.open_case(archive, title, slug=slug)
    sub = add_media(
        archive, "legion", "subtitled.mp4", b"subtitled", via="download",
        source_url="https://x.com/i/status/1",
    )  # fmt: skip
    phone = add_media(archive, "legion", "phone.jpg", b"phone")
    canon = add_media(archive, "legion", "кэнон.jpg", b"canon")
    clip = add_media(archive, "legion", "clip.mp4", b"clip")
    add_media(archive, "legion", "broken.jpg", b"broken")
    analysed(
        archive, phone,
        {"make": "Apple", "model": "iPhone 12", "captured_at": "2023-05-22T14:03:11+03:00",
         "captured_at_raw": "2023:05:22 14:03:11", "captured_offset": "+03:00"},
    )  # fmt: skip
    analysed(
        archive, canon,
        {"make": "Canon", "model": "Canon EOS 40D", "captured_at": None,
         "captured_at_raw": "2008:10:22 16:28:39", "captured_offset": None},
    )  # fmt: skip
    analysed(archive, clip, {"captured_at": "2023-05-22T11:03:11Z"}, kind="video")
    same = add_media(archive, "press", "copy.mp4", b"subtitled")  # legion's bytes
    orig = add_media(archive, "tg", "orig.mp4", b"clean original")
    provenance.derive(
        archive, str(sub), str(orig), "subtitled_from", evidence="seen «side by side»"
    )
    provenance.derive(archive, str(canon), str(phone), "reencode_of")
    unrelated = add_media(archive, "wrong", "other.mp4", b"unrelated")
    typo = provenance.derive(archive, str(clip), str(unrelated), "excerpt_of")
    provenance.retract_derivation(archive, typo["id"], "mistyped media id")

    add = provenance.add_appearance
    add(archive, "legion", account="x:@Gerashchenko_en", posted="2023-05-23",
        url="https://x.com/i/status/1", media=str(sub), caption="Легион «Свобода России»\nвидео",
        language="uk", post_id="1", note="says it was first on Telegram")  # fmt: skip
    add(archive, "legion", account="telegram:Легион_канал", posted="2023-05-22T18:40+03:00",
        captured="2023-05-24T09:00Z", archive_url="https://archive.today/abc",
        forwarded_from="telegram:@other", quoted_from="x:@quoted")  # fmt: skip
    add(archive, "legion", platform="vk", captured="2023-05-24T10:00+02:00")
    add(archive, "legion", account="tiktok:@floodclips", posted="~2023-05")
    add(archive, "legion", account="youtube:@Ютуб", url="https://youtube.com/watch?v=1")
    add(archive, "legion", platform="x", posted="2023-05-25T10:00Z", captured="2023-05-25T09:00Z")
    add(archive, "legion", platform="x", posted="2031-01-01", media=str(phone))
    add(archive, "press", platform="youtube", posted="2023-05-21", media=str(same))
    add(archive, "press", platform="vk", posted="2023-05-20T12:00Z", media=str(same))
    add(archive, "tg", platform="telegram", posted="2023-05-20", media=str(orig))
    add(archive, "wrong", platform="x", posted="2001-01-01", media=str(unrelated))

    attr = provenance.attribute
    poster = attr(archive, "legion", "original_poster", "telegram:Легион_канал")["id"]
    attr(archive, "legion", "original_poster", "x:@someone", target="appearance:2")
    attr(archive, "legion", "original_poster", "person:Andriy Yusov")
    attr(archive, "legion", "original_poster", "youtube:@Ютуб", state="refuted",
         evidence="a 2019 upload", according_to="our analysis")  # fmt: skip
    moved = attr(archive, "legion", "subtitler", "x:@Gerashchenko_en", target=f"media:{sub}",
                 evidence="his tweet", according_to="x:@Gerashchenko_en")["id"]  # fmt: skip
    attr(archive, "legion", "claimant", "org:Kremlin", evidence="«Украинские боевики»")
    attr(archive, "legion", "translator", "person:Ян", state="unknown")
    monkeypatch.setenv(now, "2023-06-01T10:00:00Z")  # whole seconds
    status.set_status(archive, "legion", "in_progress", why="geolocation «done»\nby the desk")
    cases.add_note(archive, "legion", "Geolocated: «Графовка» sign, 50.43N 35.55E")
    setting = provenance.set_attribution_state
    setting(archive, poster, "corroborated", evidence="the channel's first post",
            according_to="our analysis")  # fmt: skip
    setting(archive, moved, "corroborated", evidence="subtitle font")
    setting(archive, moved, "refuted", evidence="another font", according_to="a colleague")
    setting(archive, moved, "unknown")
    setting(archive, moved, "unknown", according_to="the desk")
    monkeypatch.delenv(now)  # the real clock: microseconds vary
    cases.add_note(archive, "legion", "second note\nover two lines")
    status.set_status(archive, "legion", "needs_review")

    attr(archive, "rival", "original_poster", "x:@someone")
    add(archive, "rival", account="x:@someone", posted="2023-09-11T19:14Z")
    add(archive, "rival", account="tiktok:@floodclips", posted="~2023-09")
    attr(archive, "later", "original_poster", "telegram:@chan", state="unknown")
    add(archive, "later", account="x:@reposter", posted="2023-05-23T08:00:00.5Z")
    add(archive, "later", account="telegram:@chan", posted="2023-05-30")
    add(archive, "later", account="telegram:@chan")
    attr(archive, "undated", "original_poster", "flickr:@photog")
    add(archive, "undated", platform="flickr", url="https://flickr.com/1")
    add(archive, "plain", platform="instagram", captured="2023-05-24T09:00:00.000001-05:30")


SLUGS = ("legion", "press", "tg", "rival", "later", "undated", "plain", "empty", "wrong")


# each read, and the command showing it
READS = (
    (provread.list_appearances, ("prov", "appearance", "list")),
    (provread.list_attributions, ("prov", "attributions")),
    (provread.earliest, ("prov", "earliest")),
    (provread.timeline, ("timeline",)),
)


@pytest.fixture
def filled(archive: Archive, monkeypatch: pytest.MonkeyPatch) -> None:
    fill_provenance(archive, monkeypatch)
    # the timeline's clock, for the dates in the future
    monkeypatch.setenv("VERIFY_FAKE_NOW", "2024-01-01T00:00:00Z")


def test_a_reference_in_capitals_names_the_slug(archive: Archive, filled: None) -> None:
    for slug in ("legion", "tg"):
        for read, _ in READS:
            got = read(archive, slug)
            for ref in (slug.upper(), slug.title()):
                assert _same(read(archive, ref), got), (read.__name__, ref)
    # the slug as stored, whatever the reference's letter case
    assert {a["case"] for a in provread.list_appearances(archive, "LEGION")} == {"legion"}
    assert {a["case"] for a in provread.list_attributions(archive, "Legion")} == {"legion"}
    assert provread.earliest(archive, "Legion")["case"] == "legion"
    assert provread.earliest(archive, "PRESS")["earliest"]["case"] == "tg"


def test_a_retracted_derivation_relates_nothing(archive: Archive, filled: None) -> None:
    """`wrong`'s appearance is older than all of legion's, and its media was linked to
    legion's by a derivation since retracted: it is neither legion's earliest nor on its
    timeline, and legion's media are not `wrong`'s related copies either."""
    legion = provread.earliest(archive, "legion")
    assert legion["earliest"]["case"] != "wrong"
    assert legion["considered"] == 10  # legion's 7, press's 2 (the same bytes), tg's 1
    assert "wrong" not in {e.get("case") for e in provread.timeline(archive, "legion")}
    wrong = provread.earliest(archive, "wrong")
    assert (wrong["considered"], wrong["earliest"]["case"]) == (1, "wrong")
    linking = [e for e in provread.timeline(archive, "legion") if e["type"].startswith("deriv")]
    assert [e["type"] for e in linking][-1] == "derivation.retracted"  # still on record


def test_the_comparison_covers_every_shape(archive: Archive, filled: None) -> None:
    """What `fill_provenance` is for, as the reads without the ORM give it."""
    history = provread.list_attributions(archive, "legion")[4]["history"]
    assert [h["to"] for h in history] == [
        "claimed", "corroborated", "refuted", "unknown", "unknown",
    ]  # fmt: skip
    shown = provread.list_appearances(archive, "legion")
    assert shown[0]["media_sha256"].startswith("sha256:") and shown[2]["account"] is None
    assert shown[1]["posted"] == "2023-05-22T15:40:00Z"  # given as 18:40+03:00
    legion = provread.earliest(archive, "legion")
    assert (legion["original_platform_state"], legion["contradiction"]) == ("corroborated", False)
    assert {o["case"] for o in legion["uncertain_elsewhere"]} == {"press", "tg"}
    assert provread.earliest(archive, "press")["earliest"]["case"] == "tg"
    assert provread.earliest(archive, "later")["contradiction"] is True
    assert "cannot be told" in provread.earliest(archive, "rival")["message"]
    for slug in ("undated", "empty"):
        assert provread.earliest(archive, slug)["earliest"] is None
    events = provread.timeline(archive, "legion")
    assert {e["precision"] for e in events if e["type"] == "media.captured"} == {"exact", "local"}
    assert sum(bool(e["warnings"]) for e in events) == 4
    press = provread.timeline(archive, "press")
    assert [e["case"] for e in press if e["earliest"]] == ["tg"]
    assert [e["type"] for e in provread.timeline(archive, "empty")] == ["case.opened"]


def test_stdlib_reader_gives_the_same_reads(
    archive: Archive, home: Path, backend: str, filled: None
) -> None:
    with stdlib_reader(home, backend) as readonly:
        for slug in SLUGS:
            for read, _ in READS:
                assert _same(read(readonly, slug), read(archive, slug)), (read.__name__, slug)


def test_the_commands_print_what_they_read(cli: RunCli, archive: Archive, filled: None) -> None:
    """Each command's JSON is its read's, for every case; its table (or, for a case with
    nothing to list, its hint on stderr) says something."""
    for read, command in READS:
        for slug in SLUGS:
            r = cli(*command, slug, "--json")
            assert r.exit_code == 0, (command, slug, r.stderr)
            assert orjson.loads(r.stdout) == orjson.loads(orjson.dumps(read(archive, slug)))
            table = cli(*command, slug)
            assert table.exit_code == 0, (command, slug, table.stderr)
            assert (table.stdout + table.stderr).strip()


@pytest.mark.parametrize(
    "command",
    [
        ("prov", "attributions"),
        ("prov", "earliest"),
        ("prov", "appearance", "list"),
        ("timeline",),
        ("prov", "derivations"),
    ],
)
def test_unknown_or_bad_case_is_one_line(cli: RunCli, command: tuple[str, ...]) -> None:
    assert cli("case", "open", "Legion", "--slug", "legion").exit_code == 0
    r = cli(*command, "nope", "--json")
    assert (r.exit_code, r.stdout, r.stderr) == (
        4,
        "",
        "error: no case 'nope'; `verify case list` shows the cases\n",
    )
    r = cli(*command, "Nope!")
    assert (r.exit_code, r.stdout) == (2, "")
    assert r.stderr == (
        "error: bad case reference 'Nope!': a slug is 1-80 lowercase letters, digits and "
        "hyphens, starting and ending with a letter or digit\n"
    )


def test_the_account_list_is_the_models_and_the_commands(
    cli: RunCli, archive: Archive, home: Path, backend: str, filled: None
) -> None:
    """`prov account list` reads without the ORM: each account as the model gives it
    (`provenance.account_to_dict`), by platform and handle, the same through the stdlib
    reader, and the command's JSON is that read."""
    listed = provread.list_accounts(archive)
    with archive.read() as session:
        models = [provenance.account_to_dict(a) for a in session.exec(select(Account)).all()]
    assert listed == sorted(models, key=lambda a: (a["platform"], a["handle"]))
    assert len(listed) >= 3 and all(a["created_at"].endswith("Z") for a in listed)
    r = cli("prov", "account", "list", "--json")
    assert r.exit_code == 0 and orjson.loads(r.stdout) == listed
    with stdlib_reader(home, backend) as readonly:  # SQLite only
        assert provread.list_accounts(readonly) == listed
