"""Case files: the worked example, idempotent import, diffs, round trips, invalid files."""

import contextlib
import json
import os
import re
import string
import tempfile
import tomllib
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import REPO, RunCli
from tests.provhelp import add_media, ensure_blob, sha_of
from verify.archive import Archive, open_archive, sqlite_url
from verify.errors import BadInputError
from verify.services import (
    casefile,
    cases,
    log,
    logread,
    mediaread,
    provenance,
    provread,
    report,
    status,
)
from verify.timeutil import iso, now

EXAMPLE = REPO / "cases" / "belgorod-legion-video.toml"
SLUG = "belgorod-legion-video"


def fresh_archive(path: Path, actor: str) -> Archive:
    """A second, empty archive (always SQLite, whatever backend the test's own archive uses)."""
    return open_archive(path, database_url=f"sqlite:///{path / 'verify.db'}", actor=actor)


def ok(r: object) -> str:
    assert r.exit_code == 0, r.stderr  # type: ignore[attr-defined]
    return r.stdout  # type: ignore[attr-defined,no-any-return]


# ---------------------------------------------------------------- the worked example


def test_example_imports_into_a_fresh_archive_with_its_facts(archive: Archive) -> None:
    result = casefile.import_case(archive, EXAMPLE)
    assert (result.slug, result.created) == (SLUG, True)
    case = cases.show_case(archive, SLUG)
    assert case["title"] == "Alleged Freedom of Russia Legion video, Belgorod region, May 2023"
    assert case["status"] == "in_progress"
    assert [c["text"] for c in case["claims"]] == [
        'The video shows fighters of the "Freedom of Russia Legion".',
        "It was filmed in Russia's Belgorod region (Graivoron) on 22-23 May 2023.",
        "The subtitles were made by Anton Gerashchenko (x:@Gerashchenko_en).",
        "The video was first published on Telegram.",
    ]
    assert {c["finding"] for c in case["claims"]} == {"unassessed"}
    hist = status.status_history(archive, SLUG)
    assert [(h["from"], h["to"]) for h in hist] == [
        (None, "unverified"),
        ("unverified", "in_progress"),
    ]
    assert hist[1]["why"].startswith("Collecting appearances")
    assert "Russian Volunteer Corps" in case["notes"][0]["text"]

    [ap] = provread.list_appearances(archive, SLUG)
    assert (ap["platform"], ap["account"], ap["posted"], ap["posted_precision"]) == (
        "x",
        "x:@Gerashchenko_en",
        "2023-05-23",
        "day",
    )
    # URLs the founding document does not give stay empty
    assert (ap["url"], ap["post_id"], ap["caption"], ap["archive_url"]) == (None,) * 4

    rows = provread.list_attributions(archive, SLUG)
    assert [(a["role"], a["actor"], a["target"], a["state"], a["according_to"]) for a in rows] == [
        (
            "subtitler",
            "x:@Gerashchenko_en",
            f"appearance:{ap['id']}",
            "claimed",
            "x:@Gerashchenko_en",
        ),
        ("original_poster", "telegram:(unknown)", "case", "claimed", "x:@Gerashchenko_en"),
        ("claimant", "person:Andriy Yusov", "case", "claimed", "CNN"),
        ("claimant", "org:Kremlin", "case", "claimed", None),
    ]
    assert rows[2]["evidence"] == 'The fighters are "Russian citizens".'
    assert rows[3]["evidence"] == 'The fighters are "Ukrainian militants".'
    accounts = {a["ref"]: a for a in provread.list_accounts(archive)}
    assert accounts["x:@Gerashchenko_en"]["display_name"] == "Anton Gerashchenko"
    assert accounts["telegram:(unknown)"]["kind"] == "channel"
    assert all(a["url"] is None for a in accounts.values())
    assert provread.list_derivations(archive, SLUG) == []
    early = provread.earliest(archive, SLUG)
    assert early["contradiction"] is True
    assert early["claimed_original_platforms"] == ["telegram"]


def test_import_twice_changes_nothing(cli: RunCli) -> None:
    ok(cli("case", "import", str(EXAMPLE)))
    before = ok(cli("log", "--json"))
    r = cli("case", "import", str(EXAMPLE))
    assert (r.exit_code, r.stdout, r.stderr) == (
        0,
        SLUG + "\n",
        f"case {SLUG} is up to date: nothing changed\n",
    )
    assert ok(cli("log", "--json")) == before


def test_round_trip_is_byte_identical(
    cli: RunCli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ok(cli("case", "import", str(EXAMPLE)))
    first = ok(cli("case", "export", SLUG))
    out = tmp_path / "x.toml"
    r = cli("case", "export", SLUG, "-o", str(out))
    assert (r.exit_code, r.stdout, r.stderr) == (0, "", f"wrote {out}\n")
    assert out.read_text() == first
    # `-o -` is standard output, as for `verify report` (it wrote a file named "-")
    monkeypatch.chdir(tmp_path)
    r = cli("case", "export", SLUG, "-o", "-")
    assert (r.exit_code, r.stdout, r.stderr) == (0, first, "")
    assert not (tmp_path / "-").exists()
    fresh = fresh_archive(tmp_path / "fresh", "other")
    try:
        casefile.import_case(fresh, out)
        assert casefile.export_case(fresh, SLUG) == first
    finally:
        fresh.close()
    # and importing the export back into the first archive is a no-op
    r = cli("case", "import", str(out))
    assert r.stderr == f"case {SLUG} is up to date: nothing changed\n"


def test_edited_file_applies_only_its_differences(cli: RunCli, tmp_path: Path) -> None:
    ok(cli("case", "import", str(EXAMPLE)))
    text = ok(cli("case", "export", SLUG))
    seq = len(json.loads(ok(cli("log", "--json"))))
    edited = text.replace(
        'n = 2\ntext = "It was filmed',
        'n = 2\ntext = "It was filmed',
    ).replace(
        'n = 1\nrole = "subtitler"\nactor = "x:@Gerashchenko_en"\ntarget = "appearance:1"\n'
        'state = "claimed"',
        'n = 1\nrole = "subtitler"\nactor = "x:@Gerashchenko_en"\ntarget = "appearance:1"\n'
        'state = "corroborated"',
    )
    # drop the subtitler's history so the new state is appended from the top-level fields
    start = edited.index("[[attributions.history]]")
    end = edited.index("[[attributions]]", start)
    edited = edited[:start] + edited[end:]
    edited = edited.replace(
        "n = 2\ntext = \"It was filmed in Russia's Belgorod region (Graivoron) on 22-23 May "
        '2023."\nfinding = "unassessed"',
        "n = 2\ntext = \"It was filmed in Russia's Belgorod region (Graivoron) on 22-23 May "
        '2023."\nfinding = "unproven"\nrationale = "no geolocation yet"',
    )
    edited += (
        '\n[[appearances]]\nn = 2\nplatform = "telegram"\naccount = "telegram:@example_channel"'
        '\nposted = "~2023-05"\n'
    )
    path = tmp_path / "edited.toml"
    path.write_text(edited)
    r = cli("case", "import", str(path))
    assert r.stderr == (
        f"updated case {SLUG}: 4 changes\nnote: 1 record this edited export adds has no time of "
        "its own (created_at, at, acquired_at) and was recorded as made now, by tester: to pass "
        "the change on, send a new export (`verify case export`), not this file, which would "
        "have each archive record it as its own (kept twice at a later exchange)\n"
    )
    new = json.loads(ok(cli("log", "--json")))[seq:]
    assert [e["action"] for e in new] == [
        "claim.edit",
        "account.add",
        "appearance.add",
        "attribution.set",
        "case.import",
    ]
    assert new[0]["payload"] == {
        "n": 2,
        "finding": {"old": "unassessed", "new": "unproven"},
        "rationale": {"old": "", "new": "no geolocation yet"},
        "import": "edited.toml",
    }
    assert new[3]["payload"]["from"] == "claimed"
    assert new[3]["payload"]["to"] == "corroborated"
    # and the same edited file again is a no-op
    before = ok(cli("log", "--json"))
    ok(cli("case", "import", str(path)))
    assert ok(cli("log", "--json")) == before


def test_media_round_trip_and_missing_bytes(archive: Archive, tmp_path: Path) -> None:
    cases.open_case(archive, "Legion", slug="legion")
    clean = add_media(
        archive,
        "legion",
        "clean.mp4",
        b"clean",
        via="download",
        source_url="https://t.me/example_channel/1",
    )
    sub = add_media(archive, "legion", "subtitled.mp4", b"subtitled")
    provenance.derive(
        archive,
        str(sub),
        str(clean),
        "subtitled_from",
        evidence='{"frames_matched": 41, "offset": null, "variant": "masked"}',
    )
    provenance.derive(
        archive,
        str(sub),
        str(clean),
        "reencode_of",
        evidence='{"frames": [1, 2.5, "x"], "nested": {"a b": true}}',
    )
    provenance.add_appearance(archive, "legion", platform="telegram", media=f"{clean}")
    provenance.attribute(archive, "legion", "subtitler", "x:@a", target=f"media:{sub}")
    text = casefile.export_case(archive, "legion")
    assert f'sha256 = "{sha_of(b"clean")}"' in text
    assert (
        'evidence = "{\\"frames_matched\\":41,\\"offset\\":null,\\"variant\\":\\"masked\\"}"'
        in text
    )
    assert 'evidence = { frames = [1, 2.5, "x"], nested = { "a b" = true } }' in text
    fresh = fresh_archive(tmp_path / "fresh", "other")
    try:
        with pytest.raises(BadInputError) as exc:
            casefile.import_case_text(fresh, text, "legion.toml")
        assert exc.value.message == (
            f"legion.toml: media[1].sha256: the archive does not hold the bytes of sha256:"
            f"{sha_of(b'clean')} ('clean.mp4'); and 1 more: sha256:{sha_of(b'subtitled')} "
            "('subtitled.mp4'); add the files first (e.g. `verify case open Incoming --slug "
            "incoming`, then `verify media add incoming FILE…`) and import again, or remove these "
            "entries"
        )
        assert logread.read_log(fresh) == []
        ensure_blob(fresh, sha_of(b"clean"))
        ensure_blob(fresh, sha_of(b"subtitled"))
        casefile.import_case_text(fresh, text, "legion.toml")
        assert casefile.export_case(fresh, "legion") == text
        assert provread.list_derivations(fresh, "legion")[0]["evidence"] == {
            "frames_matched": 41,
            "offset": None,
            "variant": "masked",
        }
    finally:
        fresh.close()


def test_a_retraction_travels_in_the_case_file(archive: Archive, tmp_path: Path) -> None:
    """Export writes a retracted derivation with why, when and by whom; an import into
    another archive retracts it there (after recording it), an import adding `retraction`
    to a standing one retracts it, and a file dropping the archive's retraction fails. A
    retracted edge is no cycle: the right way round is recorded beside it."""
    cases.open_case(archive, "Legion", slug="legion")
    a = add_media(archive, "legion", "a.mp4", b"a")
    b = add_media(archive, "legion", "b.mp4", b"b")
    wrong = provenance.derive(archive, str(a), str(b), "reencode_of")
    provenance.retract_derivation(archive, wrong["id"], "backwards: b is the re-encode")
    right = provenance.derive(archive, str(b), str(a), "reencode_of")
    text = casefile.export_case(archive, "legion")
    assert 'retraction = "backwards: b is the re-encode"' in text
    assert 'retracted_by = "tester"' in text
    fresh = fresh_archive(tmp_path / "fresh", "other")
    try:
        ensure_blob(fresh, sha_of(b"a"))
        ensure_blob(fresh, sha_of(b"b"))
        casefile.import_case_text(fresh, text, "legion.toml")
        assert casefile.export_case(fresh, "legion") == text
        actions = [e["action"] for e in logread.read_log(fresh)]
        assert actions.count("derivation.retract") == 1
        assert provread.earliest(fresh, "legion")["considered"] == 0
    finally:
        fresh.close()
    # a file that retracts the standing one retracts it here
    retracting = text.rstrip("\n") + '\nretraction = "not a re-encode after all"\n'
    assert casefile.import_case_text(archive, retracting, "legion.toml") is not None
    assert provread.list_derivations(archive, "legion")[1]["retracted"]["why"] == (
        "not a re-encode after all"
    )
    assert right["id"] == 2
    # dropping the archive's retraction from the file fails, writing nothing
    dropped = casefile.export_case(archive, "legion")
    dropped = dropped[: dropped.rindex("retraction = ")]  # the second one's, the last lines
    # (cut short, with `base` it would be refused as such: edited by hand instead)
    dropped = re.sub(r"^base = .*\n", "", dropped, flags=re.MULTILINE)
    seq = len(logread.read_log(archive))
    with pytest.raises(BadInputError) as exc:
        casefile.import_case_text(archive, dropped, "legion.toml")
    assert "the archive retracted it" in exc.value.message
    assert "which the file lacks; provenance is append-only" in exc.value.message
    assert len(logread.read_log(archive)) == seq


# ---------------------------------------------------------------- invalid files

BASE = """format = 1
[case]
slug = "legion"
title = "Legion"
status = "in_progress"

[[status_changes]]
to = "in_progress"
"""


def _media_block(n: int, content: bytes) -> str:
    return f'\n[[media]]\nn = {n}\nsha256 = "{sha_of(content)}"\nname = "m{n}.mp4"\n'


INVALID = {
    "bad TOML": (BASE + "\n[[claims]\nn = 1\n", "not valid TOML: "),
    "unknown role": (
        BASE + '\n[[attributions]]\nn = 1\nrole = "poster"\nactor = "x:@a"\n',
        "attributions[1].role: unknown role 'poster'; use one of: original_poster, reuploader, "
        "subtitler, translator, filmer, editor, narrator, claimant",
    ),
    "unknown state": (
        BASE + '\n[[attributions]]\nn = 1\nrole = "subtitler"\nactor = "x:@a"\nstate = "likely"\n',
        "attributions[1].state: unknown state 'likely'; use one of: claimed, corroborated, "
        "refuted, unknown, withdrawn",
    ),
    "corroborated without evidence": (
        BASE + '\n[[attributions]]\nrole = "subtitler"\nactor = "x:@a"\nstate = "corroborated"\n',
        "attributions[1].evidence: corroborated needs evidence: what supports it",
    ),
    "refuted without evidence in the history": (
        BASE
        + '\n[[attributions]]\nrole = "subtitler"\nactor = "x:@a"\nstate = "claimed"\n'
        + '\n[[attributions.history]]\nstate = "refuted"\nevidence = " "\n'
        + '\n[[attributions.history]]\nstate = "claimed"\n',
        "attributions[1].history[1].evidence: refuted needs evidence: what contradicts it",
    ),
    "bad date": (
        BASE + '\n[[appearances]]\nn = 1\nplatform = "x"\nposted = "23 May 2023"\n',
        "appearances[1].posted: bad date '23 May 2023': use 2023-05-23, 2023-05-23T14:05Z, "
        "2023-05-23T14:05+03:00 or ~2023-05",
    ),
    "derivation cycle": (
        BASE
        + _media_block(1, b"one")
        + _media_block(2, b"two")
        + '\n[[derivations]]\nchild = "media:2"\nkind = "subtitled_from"\nparent = "media:1"\n'
        + '\n[[derivations]]\nchild = "media:1"\nkind = "reencode_of"\nparent = "media:2"\n',
        "derivations[2]: derivation cycle: media:1 -> media:2 -> media:1",
    ),
    "unknown media": (
        BASE
        + _media_block(1, b"one")
        + '\n[[derivations]]\nchild = "media:3"\nkind = "subtitled_from"\nparent = "media:1"\n',
        "derivations[1].child: unknown media 'media:3': the file lists 1 [[media]]",
    ),
    "media bytes not held": (
        BASE + _media_block(1, b"never stored"),
        f"media[1].sha256: the archive does not hold the bytes of sha256:"
        f"{sha_of(b'never stored')} ('m1.mp4'); add the file first (e.g. `verify case open "
        "Incoming --slug incoming`, then `verify media add incoming FILE…`) and import again, "
        "or remove this entry",
    ),
    "status mismatch": (
        BASE.replace('status = "in_progress"', 'status = "verified"'),
        "case.status: is 'verified' but the status history ends at 'in_progress'; add a "
        "[[status_changes]] entry with `to` and `why`",
    ),
    "typo in a key": (
        BASE + '\n[[claims]]\nn = 1\ntext = "x"\nfindng = "supported"\n',
        "claims[1]: unknown key 'findng'; known keys: n, text, finding, confidence, rationale, "
        "created_at, created_by, history",
    ),
    "renumbered": (
        BASE + '\n[[claims]]\nn = 2\ntext = "x"\n',
        "claims[1].n: expected 1, got 2 (entries are numbered 1, 2, 3… in file order)",
    ),
}


@pytest.mark.parametrize("kind", list(INVALID))
def test_invalid_file_is_one_line_exit_2_and_changes_nothing(
    cli: RunCli, archive: Archive, tmp_path: Path, kind: str
) -> None:
    ok(cli("case", "import", str(EXAMPLE)))  # an archive with something in it
    ensure_blob(archive, sha_of(b"one"))
    ensure_blob(archive, sha_of(b"two"))
    text, message = INVALID[kind]
    path = tmp_path / "bad.toml"
    path.write_text(text)
    before = (ok(cli("log", "--json")), ok(cli("case", "list", "--json")))
    r = cli("case", "import", str(path))
    assert r.exit_code == 2
    assert r.stdout == ""
    assert r.stderr.count("\n") == 1
    assert r.stderr.startswith(f"error: {path}: {message}")
    if kind != "bad TOML":
        assert r.stderr == f"error: {path}: {message}\n"
    else:
        assert r.stderr.endswith("(at line 10, column 9)\n")
    assert (ok(cli("log", "--json")), ok(cli("case", "list", "--json"))) == before


def test_cycle_with_the_archive_is_refused(cli: RunCli, archive: Archive, tmp_path: Path) -> None:
    cases.open_case(archive, "Legion", slug="legion")
    a = add_media(archive, "legion", "a.mp4", b"one")
    b = add_media(archive, "legion", "b.mp4", b"two")
    provenance.derive(archive, str(b), str(a), "subtitled_from")
    text = casefile.export_case(archive, "legion") + (
        '\n[[derivations]]\nchild = "media:1"\nkind = "reencode_of"\nparent = "media:2"\n'
    )
    path = tmp_path / "cycle.toml"
    path.write_text(text)
    before = ok(cli("log", "--json"))
    r = cli("case", "import", str(path))
    assert (r.exit_code, r.stderr) == (
        2,
        f"error: {path}: derivations[2]: derivation cycle: media:1 -> media:2 -> media:1\n",
    )
    assert ok(cli("log", "--json")) == before


def test_same_slug_other_case_is_named_as_the_likely_cause(
    cli: RunCli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A case opened on the command line, then the shipped (hand-written) file with its slug."""
    ok(cli("case", "open", "Legion video", "--slug", SLUG, "--claim", "a", "--claim", "b"))
    ok(cli("status", "set", SLUG, "in_progress"))
    ok(cli("status", "set", SLUG, "needs_review", "--why", "r"))
    r = cli("case", "import", str(EXAMPLE))
    assert r.exit_code == 2
    assert r.stderr.endswith(
        "provenance is append-only: if the file describes another case than this archive's "
        f"{SLUG}, change the slug in the file or import it into another archive (VERIFY_HOME); "
        "if it is an older export of it, export the case again and re-apply your edits\n"
    ), r.stderr
    # an exported file of another archive's case says when each was opened; the other
    # archive is a SQLite one under its own folder (VERIFY_DATABASE_URL, set when the tests
    # run on PostgreSQL, would name this archive's database whatever the folder)
    other = tmp_path / "other"
    url = os.environ.get("VERIFY_DATABASE_URL")
    monkeypatch.delenv("VERIFY_DATABASE_URL", raising=False)
    monkeypatch.setenv("VERIFY_FAKE_NOW", "2030-01-01T00:00:00Z")
    r = cli("--home", str(other), "case", "import", str(EXAMPLE))
    assert r.exit_code == 0, r.stderr
    exported = tmp_path / "exported.toml"
    ok(cli("--home", str(other), "case", "export", SLUG, "-o", str(exported)))
    if url is not None:
        monkeypatch.setenv("VERIFY_DATABASE_URL", url)
    r = cli("case", "import", str(exported))
    assert r.exit_code == 2
    assert "the file's case was opened at 2030-01-01T00:00:00Z, this archive's case" in r.stderr
    assert "they are different cases with the same slug; change the slug in the file" in r.stderr


def test_append_only_records_cannot_be_dropped_or_rewritten(cli: RunCli, tmp_path: Path) -> None:
    ok(cli("case", "import", str(EXAMPLE)))
    text = ok(cli("case", "export", SLUG))
    before = ok(cli("log", "--json"))
    start = text.index("[[notes]]")
    dropped = text[:start] + text[text.index("[[accounts]]") :]
    rewritten = text.replace("Context, not a copy:", "Context:")
    [at] = re.findall(r'^at = "(.*)"$', text[text.index("[[notes]]") :], flags=re.MULTILINE)[:1]
    for name, body, message in [
        (
            "dropped.toml",
            dropped,
            f"notes[1]: the file lacks the archive's note 1 (by tester at {at}: 'Context, not "
            "a copy: the day before (2…); provenance is append-only: export the case again and "
            "re-apply your edits",
        ),
        (
            "rewritten.toml",
            rewritten,
            "notes[1]: differs from the archive's note (notes are append-only): the archive's by "
            f"tester at {at}: 'Context, not a copy: the day before (2…; the file's by tester "
            f"at {at}: 'Context: the day before (22 May 2023) …",
        ),
    ]:
        path = tmp_path / name
        path.write_text(body)
        r = cli("case", "import", str(path))
        assert (r.exit_code, r.stderr) == (2, f"error: {path}: {message}\n")
    assert ok(cli("log", "--json")) == before


def test_unreadable_files(cli: RunCli, tmp_path: Path) -> None:
    r = cli("case", "import", str(tmp_path / "missing.toml"))
    assert (r.exit_code, r.stderr) == (
        2,
        f"error: {tmp_path / 'missing.toml'}: cannot read: No such file or directory\n",
    )
    bad = tmp_path / "latin1.toml"
    bad.write_bytes(b'title = "caf\xe9"\n')
    r = cli("case", "import", str(bad))
    assert (r.exit_code, r.stderr) == (2, f"error: {bad}: not UTF-8 text (byte 12)\n")


# ---------------------------------------------------------------- round-trip property

# Text a verifier might paste: any Unicode except surrogates, with quotes, backslashes,
# newlines, tabs and other control characters.
TEXT = st.text(
    st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"),
    min_size=1,
    max_size=30,
).filter(lambda s: s.strip() != "")
URL = st.builds(
    lambda host, path, q: f"https://{host}/{path}?q={q}#frag",
    st.text(string.ascii_lowercase + ".-", min_size=1, max_size=12),
    st.text(st.characters(blacklist_categories=("Cs", "Cc")), max_size=15),
    st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=10),
)
HANDLE = st.text(
    st.characters(blacklist_categories=("Cs", "Cc", "Zl", "Zp")), min_size=1, max_size=15
).filter(lambda s: s.strip() != "")
ACCOUNT = st.builds(
    lambda p, h: f"{p}:{h}", st.sampled_from(["x", "telegram", "youtube", "person", "org"]), HANDLE
)
POSTED = st.one_of(
    st.dates().map(lambda d: f"{d.year:04d}-{d.month:02d}-{d.day:02d}"),
    st.builds(
        lambda d, h, m, off: f"{d.isoformat()}T{h:02d}:{m:02d}{off}",
        st.dates(),
        st.integers(0, 23),
        st.integers(0, 59),
        st.sampled_from(["Z", "+03:00", "-05:30", ""]),
    ),
    st.dates().map(lambda d: f"~{d.year:04d}-{d.month:02d}"),
).filter(lambda s: not s.lstrip("~").startswith("0"))
JSONISH = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | TEXT,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(TEXT, inner, max_size=3),
    max_leaves=6,
)


@st.composite
def case_spec(draw: st.DrawFn) -> dict[str, object]:
    return {
        "title": draw(TEXT),
        "summary": draw(st.one_of(st.just(""), TEXT)),
        "claims": draw(st.lists(TEXT, max_size=3)),
        "notes": draw(st.lists(TEXT, max_size=2)),
        "media": draw(
            st.lists(
                st.tuples(TEXT, st.binary(min_size=1, max_size=8)),
                max_size=3,
                unique_by=lambda t: t[1],
            )
        ),
        "appearances": draw(
            st.lists(
                st.fixed_dictionaries(
                    {
                        "platform": st.sampled_from(["x", "telegram", "vk"]),
                        "account": st.one_of(st.none(), ACCOUNT),
                        "url": st.one_of(st.none(), URL),
                        "posted": st.one_of(st.none(), POSTED),
                        "caption": st.one_of(st.none(), TEXT),
                        "language": st.one_of(st.none(), st.sampled_from(["en", "uk", "ru"])),
                        "note": st.one_of(st.none(), TEXT),
                    }
                ),
                max_size=3,
            )
        ),
        "attributions": draw(
            st.lists(
                st.tuples(
                    st.sampled_from(["original_poster", "subtitler", "claimant"]),
                    ACCOUNT,
                    st.one_of(st.none(), TEXT),
                    st.one_of(st.none(), TEXT),
                    st.lists(
                        st.sampled_from(["claimed", "corroborated", "refuted", "unknown"]),
                        max_size=2,
                    ),
                ),
                max_size=3,
            )
        ),
        "evidence": draw(st.dictionaries(TEXT, JSONISH, max_size=3)),
        "status": draw(st.sampled_from([None, "in_progress", "needs_review"])),
    }


def build(archive: Archive, spec: dict[str, object]) -> list[str]:
    from verify.errors import BadInputError as Bad

    cases.open_case(
        archive,
        spec["title"],
        slug="prop",
        claims=spec["claims"],  # type: ignore[arg-type]
        summary=spec["summary"],
    )  # type: ignore[arg-type]
    for text in spec["notes"]:  # type: ignore[attr-defined]
        cases.add_note(archive, "prop", text)
    shas = []
    ids = []
    for name, content in spec["media"]:  # type: ignore[attr-defined]
        ids.append(add_media(archive, "prop", name, content))
        shas.append(sha_of(content))
    for ap in spec["appearances"]:  # type: ignore[attr-defined]
        provenance.add_appearance(archive, "prop", **ap)
    for role, actor, evidence, according, states in spec["attributions"]:  # type: ignore[attr-defined]
        a = provenance.attribute(
            archive, "prop", role, actor, evidence=evidence, according_to=according
        )
        for state in states:
            # the same state and evidence again is refused, as it should be
            with contextlib.suppress(Bad):
                provenance.set_attribution_state(archive, a["id"], state, evidence=evidence)
    if len(ids) >= 2:
        provenance.derive(
            archive, str(ids[1]), str(ids[0]), "subtitled_from", evidence=spec["evidence"]
        )  # type: ignore[arg-type]
    if spec["status"]:
        status.set_status(archive, "prop", spec["status"])  # type: ignore[arg-type]
    return shas


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(spec=case_spec())
def test_property_export_import_export_is_identical(spec: dict[str, object]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        a = fresh_archive(Path(tmp) / "a", "alice")
        b = fresh_archive(Path(tmp) / "b", "bob")
        try:
            shas = build(a, spec)
            first = casefile.export_case(a, "prop")
            for sha in shas:
                ensure_blob(b, sha)
            casefile.import_case_text(b, first, "prop.toml")
            assert casefile.export_case(b, "prop") == first
            # idempotent: importing again writes nothing, and re-importing into the source too
            seq_b = len(logread.read_log(b))
            assert casefile.import_case_text(b, first, "prop.toml").changes == 0
            assert len(logread.read_log(b)) == seq_b
            seq_a = len(logread.read_log(a))
            assert casefile.import_case_text(a, first, "prop.toml").changes == 0
            assert len(logread.read_log(a)) == seq_a
        finally:
            a.close()
            b.close()


def test_history_entry_appended_through_the_file(cli: RunCli, tmp_path: Path) -> None:
    ok(cli("case", "import", str(EXAMPLE)))
    text = ok(cli("case", "export", SLUG))
    head, sep, rest = text.partition("[[attributions]]\nn = 2\n")
    # attribution 1: corroborate it by appending a history entry, keeping the fields in step
    head = head.replace(
        'state = "claimed"\nevidence = "He said he provided the subtitles, in the tweet '
        'carrying the video (appearance 1)."',
        'state = "corroborated"\nevidence = "Subtitle font matches his other uploads."',
        1,
    ).replace(
        'according_to = "x:@Gerashchenko_en"\ncreated_at',
        'according_to = "our analysis"\ncreated_at',
        1,
    )
    head = head.rstrip("\n") + (
        '\n\n[[attributions.history]]\nstate = "corroborated"\n'
        'evidence = "Subtitle font matches his other uploads."\naccording_to = "our analysis"\n'
        'at = "2023-06-02T10:00:00Z"\nby = "alice"\n\n'
    )
    path = tmp_path / "corroborate.toml"
    path.write_text(head + sep + rest)
    seq = len(json.loads(ok(cli("log", "--json"))))
    r = cli("case", "import", str(path))
    assert r.stderr == f"updated case {SLUG}: 1 change\n", r.stderr
    [entry, imported] = json.loads(ok(cli("log", "--json")))[seq:]
    assert entry["action"] == "attribution.set"
    assert imported["action"] == "case.import"  # the state the import left
    [row, *_] = json.loads(ok(cli("prov", "attributions", SLUG, "--json")))
    assert row["state"] == "corroborated"
    assert row["history"][-1] == {
        "from": "claimed",
        "to": "corroborated",
        "evidence": "Subtitle font matches his other uploads.",
        "according_to": "our analysis",
        "at": "2023-06-02T10:00:00Z",
        "by": "alice",
    }
    # the export now carries the new history and re-imports as a no-op
    again = tmp_path / "again.toml"
    again.write_text(ok(cli("case", "export", SLUG)))
    assert cli("case", "import", str(again)).stderr == (
        f"case {SLUG} is up to date: nothing changed\n"
    )


def test_history_out_of_step_is_refused(cli: RunCli, tmp_path: Path) -> None:
    ok(cli("case", "import", str(EXAMPLE)))
    text = ok(cli("case", "export", SLUG)).replace(
        'target = "appearance:1"\nstate = "claimed"', 'target = "appearance:1"\nstate = "refuted"'
    )
    path = tmp_path / "x.toml"
    path.write_text(text)
    r = cli("case", "import", str(path))
    assert (r.exit_code, r.stderr) == (
        2,
        f"error: {path}: attributions[1].state: must equal the last history entry's "
        "('claimed'); to change it, append a [[attributions.history]] entry or drop the "
        "history\n",
    )


def test_account_and_media_facts_update_from_the_file(archive: Archive) -> None:
    cases.open_case(archive, "Legion", slug="legion")
    add_media(archive, "legion", "clip.mp4", b"clip")
    provenance.add_appearance(archive, "legion", account="twitter:@Gerashchenko_en")
    text = casefile.export_case(archive, "legion")
    edited = text.replace('name = "clip.mp4"', 'name = "clip.mp4"\nlabel = "subtitled copy"')
    edited = edited.replace(
        'ref = "x:@Gerashchenko_en"\nkind = "unknown"',
        'ref = "x:@Gerashchenko_en"\nname = "Anton Gerashchenko"\nkind = "person"',
    ).replace('platform = "x"', 'platform = "twitter"')
    result = casefile.import_case_text(archive, edited, "e.toml")
    assert result.changes == 2
    entries = logread.read_log(archive)[-3:-1]
    assert [e["action"] for e in entries] == ["account.edit", "media.edit"]
    assert entries[0]["payload"]["kind"] == {"old": "unknown", "new": "person"}
    assert entries[1]["payload"]["label"] == {"old": None, "new": "subtitled copy"}
    assert casefile.import_case_text(archive, edited, "e.toml").changes == 0


def test_acquisition_who_and_when_edited_in_a_file_are_what_check_compares(
    archive: Archive,
) -> None:
    """A file may correct who acquired a file and when (`media.edit`); `verify check` then
    compares the rows with those values, and catches an edit made behind the tool's back."""
    cases.open_case(archive, "Legion", slug="legion")
    add_media(archive, "legion", "clip.mp4", b"clip")
    edited = (
        casefile.export_case(archive, "legion")
        .replace('acquired_by = "tester"', 'acquired_by = "desk"')
        .replace('acquired_at = "2023-05-24T09:00:00Z"', "acquired_at = 2023-05-24T12:30:00+03:00")
    )
    assert casefile.import_case_text(archive, edited, "e.toml").changes == 1
    [edit] = [e for e in logread.read_log(archive) if e["action"] == "media.edit"]
    assert edit["payload"]["acquired_by"] == {"old": "tester", "new": "desk"}

    def state(report: log.CheckReport) -> list[str]:  # (the helper stores no bytes)
        return [f.detail for f in report.findings if f.category == "state"]

    assert state(log.check_archive(archive)) == []
    later = "acquired_at + interval '1 hour'"  # PostgreSQL; SQLite keeps UTC text
    if archive.is_sqlite:
        later = "'2023-05-24 10:30:00.000000'"
    with archive.engine.execution_options(verify_write=True).begin() as conn:
        conn.execute(sqlalchemy.text(f"UPDATE media SET acquired_at = {later}"))
    assert state(log.check_archive(archive)) == [
        "acquired-at is '2023-05-24T10:30:00Z' but the audit trail last recorded "
        "'2023-05-24T09:30:00Z' (seq 3): changed behind the tool's back"
    ]


def test_a_corroboration_recorded_without_evidence_before_the_rule_still_travels(
    archive: Archive, tmp_path: Path
) -> None:
    """Archives written before corroborated/refuted needed evidence may hold such a state:
    their case files import again (into the same archive: nothing to do; into another: the
    dated history is replayed), and edits through the file still work. A state the file
    asks the import to record now still needs evidence."""
    cases.open_case(archive, "Legion", slug="legion")
    with archive.write() as session:  # as `prov attribute --state corroborated` did
        case = cases.get_case(session, "legion")
        account = provenance.ensure_account(session, archive.actor, "x:@a", case="legion")
        provenance.record_attribution(
            session,
            archive.actor,
            case,
            role="subtitler",
            account=account,
            target_type="case",
            target_id=None,
            state="corroborated",
            evidence=None,
            according_to=None,
        )
    text = casefile.export_case(archive, "legion")
    assert casefile.import_case_text(archive, text, "same.toml").changes == 0
    edited = text.replace('title = "Legion"', 'title = "Legion video"')
    assert casefile.import_case_text(archive, edited, "edit.toml").changes == 1
    # another archive (SQLite, whatever the backend under test: moving between them is the point)
    other = open_archive(tmp_path / "other", database_url=sqlite_url(tmp_path / "other.db"))
    try:
        assert casefile.import_case_text(other, edited, "moved.toml").created
        [attr] = provread.list_attributions(other, "legion")
        assert (attr["state"], attr["evidence"]) == ("corroborated", None)
    finally:
        other.close()
    refuted_now = edited.replace(
        'target = "case"\nstate = "corroborated"', 'target = "case"\nstate = "refuted"'
    )
    refuted_now += '\n[[attributions.history]]\nstate = "refuted"\n'
    with pytest.raises(BadInputError, match=r"history\[2\]\.evidence: refuted needs evidence"):
        casefile.import_case_text(archive, refuted_now, "r.toml")


def test_export_errors(cli: RunCli, tmp_path: Path) -> None:
    r = cli("case", "export", "nope")
    assert (r.exit_code, r.stderr) == (
        4,
        "error: no case 'nope'; `verify case list` shows the cases\n",
    )
    ok(cli("case", "import", str(EXAMPLE)))
    target = tmp_path / "no-such-dir" / "x.toml"
    r = cli("case", "export", SLUG, "-o", str(target))
    assert (r.exit_code, r.stderr) == (
        2,
        f"error: cannot write {target}: the directory {target.parent} does not exist\n",
    )


def test_audit_chain_verifies_after_import(cli: RunCli) -> None:
    ok(cli("case", "import", str(EXAMPLE)))
    r = cli("check")
    assert r.exit_code == 0
    assert r.stdout.startswith("ok: 17 audit entries")  # 16 records and the `case.import`


def test_n_may_be_omitted_in_a_hand_written_file(archive: Archive) -> None:
    text = BASE + '\n[[appearances]]\nplatform = "x"\n\n[[appearances]]\nplatform = "vk"\n'
    text += (
        '\n[[attributions]]\nrole = "reuploader"\nactor = "vk:someone"\ntarget = "appearance:2"\n'
    )
    casefile.import_case_text(archive, text, "hand.toml")
    [attr] = provread.list_attributions(archive, "legion")
    second = provread.list_appearances(archive, "legion")[1]
    assert (second["platform"], attr["target"]) == ("vk", f"appearance:{second['id']}")


def test_nul_in_a_case_file_is_refused(archive: Archive) -> None:
    with pytest.raises(BadInputError) as exc:
        casefile.import_case_text(archive, BASE + '\n[[notes]]\ntext = "a\\u0000b"\n', "n.toml")
    assert exc.value.message == (
        "n.toml: notes[1].text: contains a NUL character, which cannot be stored; remove it"
    )
    assert logread.read_log(archive) == []


def _images(tmp_path: Path) -> tuple[Path, Path]:
    """A clean frame and a subtitled copy of it (black band with text at the bottom)."""
    from PIL import Image, ImageDraw

    im = Image.new("RGB", (320, 240), (90, 120, 60))
    draw = ImageDraw.Draw(im)
    for i in range(0, 320, 20):
        draw.line([(i, 0), (320 - i, 240)], fill=(200, 180, 40), width=3)
    clean = tmp_path / "legion-clean.png"
    im.save(clean)
    draw.rectangle([0, 200, 320, 240], fill=(0, 0, 0))
    draw.text((10, 210), "Freedom of Russia Legion", fill=(255, 255, 255))
    subtitled = tmp_path / "legion-subtitled.png"
    im.save(subtitled)
    return clean, subtitled


def test_with_real_media_add_the_file_travels_and_reimports(
    cli: RunCli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    clean, subtitled = _images(tmp_path)
    ok(cli("case", "import", str(EXAMPLE)))
    assert ok(cli("media", "add", SLUG, str(clean), str(subtitled))) == "1\n2\n"
    ok(cli("prov", "derive", "2", "1", "--kind", "subtitled_from", "--evidence", "band masked"))
    ok(cli("prov", "attribute", SLUG, "subtitler", "x:@Gerashchenko_en", "--target", "media:2"))
    text = ok(cli("case", "export", SLUG))
    assert 'name = "legion-clean.png"' in text
    assert 'child = "media:2"\nkind = "subtitled_from"\nparent = "media:1"' in text
    exported = tmp_path / "case.toml"
    exported.write_text(text)
    # another archive (always SQLite here): without the bytes the import is refused ...
    monkeypatch.delenv("VERIFY_DATABASE_URL", raising=False)
    fresh = str(tmp_path / "fresh")
    r = cli("--home", fresh, "case", "import", str(exported))
    assert r.exit_code == 2
    assert "media[1].sha256: the archive does not hold the bytes of sha256:" in r.stderr
    # ... and once the files are in it (through any case), the case arrives whole
    ok(cli("--home", fresh, "case", "open", "Files received", "--slug", "inbox"))
    ok(cli("--home", fresh, "media", "add", "inbox", str(clean), str(subtitled)))
    assert ok(cli("--home", fresh, "case", "import", str(exported))) == SLUG + "\n"
    assert ok(cli("--home", fresh, "case", "export", SLUG)) == text
    listed = json.loads(ok(cli("--home", fresh, "media", "list", SLUG, "--json")))
    assert [(m["original_name"], m["analysis"]) for m in listed] == [
        ("legion-clean.png", "ok"),
        ("legion-subtitled.png", "ok"),
    ]


def test_state_history_is_in_recording_order_in_listings_and_reports(archive: Archive) -> None:
    """A file may give history times out of order; every reader keeps the recorded order
    (each entry's `from` is the previous entry's `to`). The report sorted by time."""
    text = BASE + (
        '\n[[attributions]]\nrole = "reuploader"\nactor = "vk:someone"\nstate = "refuted"\n'
        'evidence = "a 2022 copy"\n'
        '\n[[attributions.history]]\nstate = "claimed"\nat = "2023-06-01T00:00:00Z"\n'
        '\n[[attributions.history]]\nstate = "refuted"\nevidence = "a 2022 copy"\n'
        'at = "2023-05-01T00:00:00Z"\n'
    )
    casefile.import_case_text(archive, text, "h.toml")
    [attr] = provread.list_attributions(archive, "legion")
    assert [(h["from"], h["to"]) for h in attr["history"]] == [
        (None, "claimed"),
        ("claimed", "refuted"),
    ]
    [group] = report.build_report(archive, "legion")["provenance"]["attributions"]
    shown = group["items"][0]["history"]
    assert [{k: v for k, v in h.items() if k != "recorded"} for h in shown] == attr["history"]
    # each with the entry that recorded it: this import's
    assert [h["recorded"]["import"] for h in shown] == ["h.toml", "h.toml"]


@pytest.mark.parametrize(("written", "stored"), [("Telegram", "telegram"), (" Twitter ", "x")])
def test_platform_names_are_normalised_as_on_the_command_line(
    cli: RunCli, tmp_path: Path, written: str, stored: str
) -> None:
    ok(cli("case", "open", "Other", "--slug", "other"))
    ok(cli("prov", "appearance", "add", "other", "--platform", written))
    path = tmp_path / "case.toml"
    path.write_text(BASE + f'\n[[appearances]]\nplatform = "{written}"\n')
    ok(cli("case", "import", str(path)))
    from_cli = json.loads(ok(cli("prov", "appearance", "list", "other", "--json")))
    from_file = json.loads(ok(cli("prov", "appearance", "list", "legion", "--json")))
    assert [a["platform"] for a in from_cli + from_file] == [stored, stored]
    assert f'platform = "{stored}"' in ok(cli("case", "export", "legion"))
    r = cli("case", "import", str(path))
    assert r.stderr == "case legion is up to date: nothing changed\n"
    path.write_text(BASE + '\n[[appearances]]\nplatform = "Person"\n')
    assert cli("case", "import", str(path)).stderr == (
        f"error: {path}: appearances[1].platform: bad platform 'person': a lowercase name "
        "such as x, telegram, youtube\n"
    )


def test_a_media_platform_is_read_as_media_add_reads_it(archive: Archive, tmp_path: Path) -> None:
    """`[[media]]` `platform` was stored as the file wrote it (`Instagram`, `ig`, even
    `person`): it is read as `media add --platform` reads it (lowercase, aliases read, an
    unknown one noted), and what is not a platform name is refused with nothing written."""
    cases.open_case(archive, "Inbox", slug="inbox")
    for n in (1, 2, 3):
        add_media(archive, "inbox", f"m{n}.mp4", f"bytes {n}".encode())
    text = BASE + "".join(
        _media_block(n, f"bytes {n}".encode()) + f'platform = "{written}"\n'
        for n, written in ((1, "Instagram"), (2, " ig "), (3, "TikTokk"))
    )
    result = casefile.import_case_text(archive, text, "m.toml")
    assert [m["platform"] for m in mediaread.list_media(archive, "legion")] == [
        "instagram",
        "instagram",
        "tiktokk",
    ]
    assert result.notes == [
        "note: platform 'tiktokk' is not one verify knows (did you mean tiktok?); recorded as given"
    ]
    media_adds = [e for e in logread.read_log(archive) if e["action"] == "media.add"]
    assert [e["payload"]["platform"] for e in media_adds[-3:]] == [
        "instagram",
        "instagram",
        "tiktokk",
    ]
    # (the helper stores no bytes: only the rows against the trail are of interest)
    assert [f for f in log.check_archive(archive).findings if f.category != "missing"] == []
    # the same file imports as up to date
    assert casefile.import_case_text(archive, text, "m.toml").changes == 0
    # a platform edited into a typo is noted as a new one is
    edited = casefile.export_case(archive, "legion").replace(
        'platform = "instagram"', 'platform = "Instagrm"', 1
    )
    result = casefile.import_case_text(archive, edited, "m.toml")
    assert result.changes == 1
    assert result.notes == [
        "note: platform 'instagrm' is not one verify knows (did you mean instagram?); "
        "recorded as given"
    ]
    before = logread.read_log(archive)
    for written, said in (("person", "'person'"), ("not a name", "'not a name'"), ("", "''")):
        bad = (
            BASE.replace('slug = "legion"', 'slug = "other"')
            + _media_block(1, b"bytes 1")
            + f'platform = "{written} "\n'
        )
        with pytest.raises(BadInputError) as exc:
            casefile.import_case_text(archive, bad, "bad.toml")
        assert exc.value.exit_code == 2
        assert exc.value.message == (
            f"bad.toml: media[1].platform: bad platform {said}: a lowercase name such as x, "
            "telegram, youtube"
        )
    assert logread.read_log(archive) == before
    assert [c["slug"] for c in cases.list_cases(archive)] == ["inbox", "legion"]


def test_audit_payloads_have_one_shape_from_the_command_line_and_from_a_case_file(
    cli: RunCli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each action's payload has the same keys whichever path writes it (the import adds
    `import`), and the same values where they do not depend on row ids."""
    clean, subtitled = _images(tmp_path)
    ok(cli("case", "open", "Legion", "--slug", "legion"))
    ok(cli("claim", "add", "legion", "shows the legion"))
    ok(cli("claim", "assess", "legion", "1", "--finding", "unproven", "--why", "no geolocation"))
    ok(cli("note", "add", "legion", "asked the desk"))
    ok(cli("status", "set", "legion", "in_progress"))
    ok(cli("prov", "account", "add", "x:@a", "--name", "A", "--kind", "person"))
    ok(cli("media", "add", "legion", str(clean), str(subtitled)))
    ok(cli("prov", "appearance", "add", "legion", "--account", "telegram:@c", "--posted",
           "2023-05-23", "--media", "1", "--caption", "look"))  # fmt: skip
    ok(cli("prov", "attribute", "legion", "subtitler", "x:@a", "--target", "media:2",
           "--evidence", "he said so"))  # fmt: skip
    ok(cli("prov", "attribution", "set", "1", "--state", "corroborated", "--evidence", "font"))
    ok(cli("prov", "derive", "2", "1", "--kind", "subtitled_from", "--evidence", "band masked"))
    ok(cli("prov", "account", "edit", "x:@a", "--name", "Anton"))
    by_cli = json.loads(ok(cli("log", "--json")))
    for e in by_cli:  # only an add that analyses the bytes records the analysis's digest
        if e["action"] == "media.add":
            assert e["payload"].pop("analysis_digest").startswith("sha256:")
    path = tmp_path / "legion.toml"
    path.write_text(ok(cli("case", "export", "legion")))

    # another archive, which holds the files (through another case) and imports the file
    monkeypatch.delenv("VERIFY_DATABASE_URL", raising=False)
    fresh = ("--home", str(tmp_path / "fresh"))
    ok(cli(*fresh, "case", "open", "Inbox", "--slug", "inbox"))
    ok(cli(*fresh, "media", "add", "inbox", str(clean), str(subtitled)))
    ok(cli(*fresh, "prov", "account", "add", "x:@a", "--name", "A", "--kind", "person"))
    seen = len(json.loads(ok(cli(*fresh, "log", "--json"))))
    # the file changes an account this archive holds, and comes from another archive
    ok(cli(*fresh, "case", "import", str(path), "--update"))
    imported = json.loads(ok(cli(*fresh, "log", "--json")))[seen:]
    assert all(e["payload"].pop("import") == "legion.toml" for e in imported)

    def of(log: list[dict[str, Any]], action: str) -> list[dict[str, Any]]:
        # x:@a was added to both archives on the command line, before the import
        return [
            e["payload"] for e in log if e["action"] == action and e["payload"].get("ref") != "x:@a"
        ]

    actions = [
        "case.open",
        "claim.add",
        "note.add",
        "status.set",
        "account.add",
        "media.add",
        "appearance.add",
        "attribution.add",
        "attribution.set",
        "derivation.add",
        "account.edit",
    ]
    assert sorted({e["action"] for e in by_cli}) == sorted([*actions, "claim.assess"])
    for action in actions:
        from_cli, from_file = of(by_cli, action), of(imported, action)
        assert [sorted(p) for p in from_cli] == [sorted(p) for p in from_file], action
    # the values too, but for row ids (the fresh archive numbers media and links differently)
    ids = {"media", "id", "child", "parent", "target"}
    for action in actions:
        trimmed = [
            [{k: v for k, v in p.items() if k not in ids} for p in of(log, action)]
            for log in (by_cli, imported)
        ]
        assert trimmed[0] == trimmed[1], action
    # the file's assessed claim: `claim.add`, then the assessment as an import records it,
    # with who made it and when as the file's history states them (the assessing entry's)
    [assessed] = [e for e in by_cli if e["action"] == "claim.assess"]
    assert of(imported, "claim.edit") == [
        {
            "n": 1,
            "finding": {"old": "unassessed", "new": "unproven"},
            "rationale": {"old": "", "new": "no geolocation"},
            "stated": {"by": assessed["actor"], "at": assessed["at"]},
        }
    ]


def test_account_fields_are_trimmed_on_import_as_on_creation(archive: Archive) -> None:
    text = BASE + '\n[[accounts]]\nref = "x:@a"\nname = " Anton "\ncredibility = "adviser "\n'
    assert casefile.import_case_text(archive, text, "a.toml").changes == 3  # case, status, account
    assert casefile.import_case_text(archive, text, "a.toml").changes == 0
    [account] = provread.list_accounts(archive)
    assert (account["display_name"], account["credibility"]) == ("Anton", "adviser")


def test_a_new_attribution_with_history_is_recorded_as_on_the_command_line(
    archive: Archive,
) -> None:
    text = BASE + (
        '\n[[attributions]]\nrole = "subtitler"\nactor = "x:@a"\nstate = "refuted"\n'
        'evidence = "an earlier copy"\n'
        '\n[[attributions.history]]\nstate = "claimed"\nat = "2023-05-24T09:00:00Z"\nby = "al"\n'
        '\n[[attributions.history]]\nstate = "corroborated"\nevidence = "font"\n'
        'at = "2023-05-25T09:00:00Z"\nby = "bo"\n'
        '\n[[attributions.history]]\nstate = "refuted"\nevidence = "an earlier copy"\n'
        'at = "2023-05-26T09:00:00Z"\nby = "cy"\n'
    )
    seen = len(logread.read_log(archive))
    result = casefile.import_case_text(archive, text, "h.toml")
    assert result.changes == 4  # case, status, account, attribution: one record each
    entries = [e for e in logread.read_log(archive)[seen:] if e["action"].startswith("attribution")]
    assert [(e["action"], e["payload"].get("state") or e["payload"]["to"]) for e in entries] == [
        ("attribution.add", "claimed"),
        ("attribution.set", "corroborated"),
        ("attribution.set", "refuted"),
    ]
    assert entries[1]["payload"] == {
        "id": 1,
        "from": "claimed",
        "to": "corroborated",
        "evidence": "font",
        "according_to": None,
        "by": "bo",  # who and when as the file dates the change (its history row has them)
        "at": "2023-05-25T09:00:00Z",
        "import": "h.toml",
    }
    [attr] = provread.list_attributions(archive, "legion")
    assert (attr["state"], attr["created_at"], attr["created_by"]) == (
        "refuted",
        "2023-05-24T09:00:00Z",
        "al",
    )
    assert (attr["updated_at"], attr["updated_by"]) == ("2023-05-26T09:00:00Z", "cy")
    assert [(h["at"], h["by"]) for h in attr["history"]] == [
        ("2023-05-24T09:00:00Z", "al"),
        ("2023-05-25T09:00:00Z", "bo"),
        ("2023-05-26T09:00:00Z", "cy"),
    ]
    assert casefile.import_case_text(archive, text, "h.toml").changes == 0


def test_media_not_held_for_an_existing_case_goes_through_another_case(tmp_path: Path) -> None:
    """Re-importing a case that exists: the bytes go into another case first. Added to this
    one, their media record would take the file's entry's place, and the file's acquisition
    would then replace the archive's own."""
    fresh = fresh_archive(tmp_path / "fresh", "other")
    try:
        casefile.import_case_text(fresh, BASE, "legion.toml")
        with pytest.raises(BadInputError) as exc:
            casefile.import_case_text(fresh, BASE + _media_block(1, b"later"), "legion.toml")
        assert exc.value.message == (
            "legion.toml: media[1].sha256: the archive does not hold the bytes of sha256:"
            f"{sha_of(b'later')} ('m1.mp4'); add the file to another case first (e.g. `verify "
            "case open Incoming --slug incoming`, then `verify media add incoming FILE…`) and "
            "import again, or remove this entry"
        )
    finally:
        fresh.close()


def test_one_account_listed_under_two_spellings_is_refused(tmp_path: Path) -> None:
    """`x:someone` and `x:@someone` are one account: listed twice, the file would have its
    fields flip on every import."""
    fresh = fresh_archive(tmp_path / "fresh", "other")
    try:
        text = BASE + (
            '\n[[accounts]]\nref = "x:someone2"\nname = "First"\n'
            '\n[[accounts]]\nref = "x:@someone2"\nname = "Second"\n'
        )
        with pytest.raises(BadInputError) as exc:
            casefile.import_case_text(fresh, text, "dup.toml")
        assert (
            exc.value.message == "dup.toml: accounts[2].ref: account 'x:@someone2' is listed twice"
        )
    finally:
        fresh.close()


def test_an_evidence_key_ending_in_a_newline_exports_as_valid_toml(archive: Archive) -> None:
    """Found by the property test: `^...$` let a key with a final newline pass as a bare
    TOML key, and the export could not be read back."""

    from verify.services import cases, provenance

    cases.open_case(archive, "Keys", slug="keys")
    a = add_media(archive, "keys", "a.mp4", b"a")
    b = add_media(archive, "keys", "b.mp4", b"b")
    provenance.derive(archive, str(b), str(a), "reencode_of", evidence='{"0\\n": [], "ok": 1}')
    text = casefile.export_case(archive, "keys")
    assert tomllib.loads(text)["derivations"][0]["evidence"] == {"0\n": [], "ok": 1}
    assert casefile.import_case_text(archive, text, "keys.toml").changes == 0


# ---------------------------------------------------------------- exchange: what an import may change


def _as(archive: Archive, actor: str) -> Archive:
    """The same archive, used by another colleague."""
    return open_archive(archive.home, database_url=archive.database_url, actor=actor)


def test_an_older_export_does_not_put_back_what_changed_since(archive: Archive) -> None:
    """A claim assessed and the summary edited after an export: importing that export used
    to report "2 changes" and put both back. It is refused, naming the change, and writes
    nothing; `update=True` (`--update`) applies it, as asked. The assessment stays: the file
    lists the claim's assessments (none then), and assessments are merged, never undone."""
    cases.open_case(archive, "Stale", slug="stale", claims=["at night"], summary="first")
    old = casefile.export_case(archive, "stale")
    bob = _as(archive, "bob")
    try:
        cases.assess_claim(bob, "stale", 1, finding="contradicted", confidence="high", why="sun")
        cases.edit_case(bob, "stale", summary="bob's")
    finally:
        bob.close()
    seq = len(logread.read_log(archive))
    with pytest.raises(BadInputError) as exc:
        casefile.import_case_text(archive, old, "stale.toml")
    assert exc.value.message == (
        'stale.toml: it would change 1 fact this archive holds (case.summary "bob\'s" -> '
        "'first'), and this archive's case is no longer the one the file was exported from, "
        "nor one it held at an earlier exchange (it changed after the export, or both "
        "archives changed it since they last exchanged it): check them "
        "(`verify log stale` shows who changed what here), then import again with --update "
        "to apply them, or export the case again and re-apply your edits"
    )
    assert len(logread.read_log(archive)) == seq
    assert casefile.import_case_text(archive, old, "stale.toml", update=True).changes == 1
    case = cases.show_case(archive, "stale")
    assert case["summary"] == "first"
    assert case["claims"][0]["finding"] == "contradicted"


def test_an_edited_export_of_the_case_as_it_is_applies_without_asking(archive: Archive) -> None:
    """The export records `base`, the digest of the case as exported: a file edited from
    the case as it still is applies its changes; once the case changes, the same file is
    refused; a hand-written file (no `base`) that changes a fact is refused too."""
    cases.open_case(archive, "Edit", slug="edit", claims=["a"])
    text = casefile.export_case(archive, "edit")
    assert re.search(r'^format = 2\nbase = "sha256:[0-9a-f]{64}"\n', text, re.MULTILINE)
    assert text.endswith("\n# end of case file\n")
    edited = text.replace('title = "Edit"', 'title = "Edited"')
    assert casefile.import_case_text(archive, edited, "e.toml").changes == 1
    again = casefile.export_case(archive, "edit").replace('"Edited"', '"Edited twice"')
    cases.edit_case(archive, "edit", summary="moved on")  # `again` is now stale
    with pytest.raises(BadInputError, match=r"case\.title 'Edited' -> 'Edited twice'"):
        casefile.import_case_text(archive, again, "e.toml")
    hand = 'format = 1\n[case]\nslug = "edit"\ntitle = "By hand"\n'
    with pytest.raises(BadInputError, match="the file has no `base` \\(written by hand\\)"):
        casefile.import_case_text(
            archive, hand + '[[claims]]\ntext = "a"\n[[claims]]\ntext = "b"\n', "h.toml"
        )


def test_a_file_cut_short_is_refused(archive: Archive) -> None:
    """An export cut at the end of a line is valid TOML: it imported "created case (32
    records)" without its last records. Its missing last line gives it away."""
    cases.open_case(archive, "Cut", slug="cut", claims=["a", "b"])
    text = casefile.export_case(archive, "cut")
    cut = text[: text.rindex("[[claims]]")]
    with pytest.raises(BadInputError) as exc:
        casefile.import_case_text(archive, cut, "cut.toml")
    assert exc.value.message == (
        "cut.toml: base: the file lacks its last line (`# end of case file`): it was cut short "
        "(export it again); if you removed that line on purpose, remove `base` too"
    )
    # cut in the middle of a line, it is not valid TOML: said so, and that it was cut short
    inside = text[: text.rindex('text = "b"') + len('text = "b')]
    with pytest.raises(BadInputError) as exc:
        casefile.import_case_text(archive, inside, "cut.toml")
    assert exc.value.message.startswith("cut.toml: not valid TOML: ")
    assert exc.value.message.endswith(
        "; it lacks an export's last line (`# end of case file`): it was cut short "
        "(export it again)"
    )


def test_records_both_archives_added_at_the_same_place_are_not_merged(
    archive: Archive, tmp_path: Path
) -> None:
    """Team and partner each add an appearance after exchanging the case: the partner's
    file would have replaced the team's (matched by position, logged as an edit, and the
    earliest appearance changed). It is refused, with --update too, naming both."""
    cases.open_case(archive, "Swap", slug="swap", claims=["a"])
    provenance.add_appearance(archive, "swap", account="x:@first", posted="2019-01-01")
    shared = casefile.export_case(archive, "swap")
    bob = _as(archive, "bob")
    try:
        provenance.add_appearance(bob, "swap", account="telegram:@src", posted="2019-06-01")
    finally:
        bob.close()
    partner = fresh_archive(tmp_path / "partner", "pat")
    try:
        casefile.import_case_text(partner, shared, "swap.toml")
        provenance.add_appearance(partner, "swap", account="x:@late", posted="2021-03-01")
        theirs = casefile.export_case(partner, "swap")
    finally:
        partner.close()
    for update in (False, True):
        with pytest.raises(BadInputError) as exc:
            casefile.import_case_text(archive, theirs, "swap.toml", update=update)
        assert exc.value.message.startswith(
            "swap.toml: appearances[2]: this archive's appearance 2 was recorded by bob at "
        ), exc.value.message
        assert ", the file's by pat at " in exc.value.message
        assert "an import never replaces one with another" in exc.value.message
    # without the team's own addition, the partner's appearance is simply added
    other = fresh_archive(tmp_path / "other", "tess")
    try:
        casefile.import_case_text(other, shared, "swap.toml")
        # the appearance, and its account (new here)
        assert casefile.import_case_text(other, theirs, "swap.toml").changes == 2
        assert [a["account"] for a in provread.list_appearances(other, "swap")] == [
            "x:@first",
            "x:@late",
        ]
    finally:
        other.close()


def test_a_conflicting_status_change_names_both(archive: Archive, tmp_path: Path) -> None:
    cases.open_case(archive, "Fork", slug="fork", claims=["a"])
    shared = casefile.export_case(archive, "fork")
    status.set_status(archive, "fork", "in_progress")
    partner = fresh_archive(tmp_path / "partner", "pat")
    try:
        casefile.import_case_text(partner, shared, "fork.toml")
        status.set_status(partner, "fork", "needs_review", why="ask the desk")
        theirs = casefile.export_case(partner, "fork")
    finally:
        partner.close()
    with pytest.raises(BadInputError) as exc:
        casefile.import_case_text(archive, theirs, "fork.toml")
    assert re.fullmatch(
        r"fork\.toml: status_changes\[1\]: the archive's status change 1 is to in_progress by "
        r"tester at \S+ \(none\), the file's to needs_review by pat at \S+ \('ask the desk'\): "
        r"the status history is append-only, so the two cannot both hold; .*",
        exc.value.message,
    ), exc.value.message


def test_an_export_is_recorded_with_the_files_hash(cli: RunCli, tmp_path: Path) -> None:
    """A desk must be able to show what it sent: `case export` appends `case.export` with
    the SHA-256 of what it wrote (to a file or to standard output) and the file's `base`."""
    import hashlib

    ok(cli("case", "open", "Sent", "--slug", "sent", "--claim", "a"))
    path = tmp_path / "sent.toml"
    ok(cli("case", "export", "sent", "-o", str(path)))
    printed = ok(cli("case", "export", "sent"))
    entries = [e for e in json.loads(ok(cli("log", "--json"))) if e["action"] == "case.export"]
    assert [e["payload"]["path"] for e in entries] == [str(path.absolute()), None]
    data = path.read_bytes()
    assert printed.encode() == data
    for e in entries:
        assert e["payload"]["sha256"] == "sha256:" + hashlib.sha256(data).hexdigest()
        assert e["payload"]["size"] == len(data)
        assert f'base = "{e["payload"]["base"]}"' in printed
    # an export changes nothing the case holds: the next import is still a fast-forward
    edited = printed.replace('title = "Sent"', 'title = "Sent on"')
    (tmp_path / "e.toml").write_text(edited)
    assert "updated case sent: 1 change" in cli("case", "import", str(tmp_path / "e.toml")).stderr
    ok(cli("check"))  # the trail with its export entries verifies


def test_an_import_that_changes_the_case_is_who_last_updated_it(archive: Archive) -> None:
    """`case show` said "updated by bob" after carol's import changed the summary."""
    cases.open_case(archive, "Who", slug="who", claims=["a"])
    bob = _as(archive, "bob")
    try:
        cases.edit_case(bob, "who", summary="bob's")
    finally:
        bob.close()
    text = casefile.export_case(archive, "who").replace('summary = "bob\'s"', 'summary = "ok"')
    carol = _as(archive, "carol")
    try:
        assert casefile.import_case_text(carol, text, "who.toml").changes == 1
    finally:
        carol.close()
    assert cases.show_case(archive, "who")["updated_by"] == "carol"


def test_a_refused_change_of_poster_names_the_accounts(archive: Archive) -> None:
    """The refusal lists an appearance's account by its ref, not by a row id."""
    cases.open_case(archive, "Poster", slug="poster", claims=["a"])
    provenance.add_appearance(archive, "poster", account="x:@first", posted="2019-01-01")
    provenance.add_appearance(archive, "poster", account="x:@second", posted="2019-02-01")
    text = casefile.export_case(archive, "poster")
    cases.edit_case(archive, "poster", summary="moved on")  # the file is no longer current
    edited = text.replace('account = "x:@first"', 'account = "x:@second"', 1)
    with pytest.raises(BadInputError) as exc:
        casefile.import_case_text(archive, edited, "p.toml")
    assert "appearances[1].account 'x:@first' -> 'x:@second'" in exc.value.message


def test_claims_both_archives_added_at_the_same_place_are_not_merged(
    archive: Archive, tmp_path: Path
) -> None:
    """Desk and partner each add claim 2 after exchanging the case: the partner's file
    changed the desk's claim 2 into the partner's (a text edit, with --update). A claim
    carries who added it and when, as appearances do: the import is refused, with --update
    too, naming both. Without the desk's own claim 2, the partner's is added with the
    partner's stamp, and the claim that travelled keeps its author."""
    cases.open_case(archive, "Claims", slug="claims", claims=["shared"])
    shared = casefile.export_case(archive, "claims")
    assert '[[claims]]\nn = 1\ntext = "shared"\nfinding = "unassessed"\ncreated_at = "' in shared
    assert 'created_by = "tester"\n' in shared
    bob = _as(archive, "bob")
    try:
        cases.add_claim(bob, "claims", "the desk's")
    finally:
        bob.close()
    partner = fresh_archive(tmp_path / "partner", "pat")
    try:
        casefile.import_case_text(partner, shared, "claims.toml")
        cases.add_claim(partner, "claims", "the partner's")
        theirs = casefile.export_case(partner, "claims")
    finally:
        partner.close()
    seq = len(logread.read_log(archive))
    for update in (False, True):
        with pytest.raises(BadInputError) as exc:
            casefile.import_case_text(archive, theirs, "claims.toml", update=update)
        assert re.fullmatch(
            r"claims\.toml: claims\[2\]: this archive's claim 2 was recorded by bob at \S+Z, "
            r"the file's by pat at \S+Z: they are different claims \(each archive added one "
            r"after they last exchanged this case\); an import never replaces one with another: "
            r"to keep the file's claims beside this archive's, import it as another case "
            r"\(change its `slug`\)",
            exc.value.message,
        ), exc.value.message
    assert len(logread.read_log(archive)) == seq
    assert [c["text"] for c in cases.show_case(archive, "claims")["claims"]] == [
        "shared",
        "the desk's",
    ]
    other = fresh_archive(tmp_path / "other", "tess")
    try:
        casefile.import_case_text(other, shared, "claims.toml")
        assert casefile.import_case_text(other, theirs, "claims.toml").changes == 1
        assert casefile.export_case(other, "claims") == theirs  # each claim's stamp travelled
        added = [e for e in logread.read_log(other) if e["action"] == "claim.add"]
        assert [(e["actor"], e["payload"]["by"]) for e in added] == [
            ("tess", "tester"),
            ("tess", "pat"),
        ]
        assert log.check_archive(other).ok
    finally:
        other.close()


def test_an_export_from_before_claims_had_stamps_still_imports(
    archive: Archive, tmp_path: Path
) -> None:
    """Exports written before claims had `created_at`/`created_by` list none, and their
    `base` is the case as that version rendered it: edited, such a file still applies
    without --update while the case is as it was exported (and is refused once it has
    changed); into another archive, its claims are the importer's, now, as a hand-written
    file's are."""
    cases.open_case(archive, "Old", slug="old", claims=["a", "b"])
    with archive.read() as session:
        rendered = casefile.render_case(
            session,
            cases.get_case(session, "old"),
            claim_stamps=False,
            claim_history=False,
            in_time_order=False,
            records_by_time=False,
        )
    older = casefile.with_base(rendered, casefile.state_digest(rendered))
    assert "created_by" not in older.split("[[claims]]", 1)[1]
    assert older != casefile.export_case(archive, "old")
    edited = older.replace('title = "Old"', 'title = "Older"')
    assert casefile.import_case_text(archive, edited, "old.toml").changes == 1
    cases.edit_case(archive, "old", summary="moved on")
    with pytest.raises(BadInputError, match="the file is an earlier state of this case"):
        casefile.import_case_text(archive, edited.replace('"Older"', '"Oldest"'), "old.toml")
    other = fresh_archive(tmp_path / "other", "tess")
    try:
        casefile.import_case_text(other, older, "old.toml")
        exported = casefile.export_case(other, "old")
        assert exported.count('created_by = "tess"') == 2  # claims 1 and 2
        assert log.check_archive(other).ok
    finally:
        other.close()


def test_a_claim_without_a_stamp_is_not_compared(archive: Archive, tmp_path: Path) -> None:
    """A claim an import recorded before claims had stamps has none (migration 0004: the
    file did not say who wrote it). Export leaves them out for it, and an import does not
    compare them: the case still travels between archives that exchanged it before."""
    cases.open_case(archive, "Unknown", slug="unknown", claims=["a"])
    shared = casefile.export_case(archive, "unknown")
    partner = fresh_archive(tmp_path / "partner", "pat")
    try:
        casefile.import_case_text(partner, shared, "unknown.toml")
        with partner.engine.execution_options(verify_write=True).begin() as conn:
            conn.execute(sqlalchemy.text("UPDATE claims SET created_at = NULL, created_by = NULL"))
        # the desk's file, which says who added claim 1: not a different claim
        assert casefile.import_case_text(partner, shared, "unknown.toml").changes == 0
        cases.add_claim(partner, "unknown", "b")
        theirs = casefile.export_case(partner, "unknown")
    finally:
        partner.close()
    claims = theirs.split("[[claims]]")[1:]
    assert ["created_by" in c for c in claims] == [False, True]
    # and the partner's file, which does not say for claim 1, into the desk's archive
    assert casefile.import_case_text(archive, theirs, "unknown.toml").changes == 1
    added = [e for e in logread.read_log(archive) if e["action"] == "claim.add"]
    assert [e["payload"]["by"] for e in added] == ["pat"]


def test_rewording_an_assessed_claim_needs_a_new_assessment(archive: Archive) -> None:
    """A finding holds for the words it was made on. A file that rewords an assessed claim
    and keeps its assessment is refused, nothing written; the same rewording with a new
    rationale, or with the finding back to unassessed, applies, and the report shows the
    old wording beside the new."""
    cases.open_case(archive, "Reword", slug="reword", claims=["filmed in Belgorod"])
    cases.assess_claim(archive, "reword", 1, finding="supported", why="geolocated")
    text = casefile.export_case(archive, "reword")
    reworded = text.replace('text = "filmed in Belgorod"', 'text = "filmed in Kursk"')
    assert reworded != text
    seq = len(logread.read_log(archive))
    with pytest.raises(BadInputError) as exc:
        casefile.import_case_text(archive, reworded, "r.toml")
    assert exc.value.message == (
        "r.toml: claims[1]: the file rewords claim 1 ('filmed in Belgorod' -> 'filmed in "
        "Kursk') but keeps the assessment made on the old wording (finding 'supported'); a "
        "finding holds for the words it was made on: give the claim a new assessment in the "
        "file (a [[claims.history]] entry without at and by is yours, now; finding "
        "'unassessed' returns it to unassessed)"
    )
    assert len(logread.read_log(archive)) == seq
    assert cases.show_case(archive, "reword")["claims"][0]["text"] == "filmed in Belgorod"
    # --update does not lift it: it is about the file's content, not its base
    with pytest.raises(BadInputError, match="rewords claim 1"):
        casefile.import_case_text(archive, reworded, "r.toml", update=True)
    # an unassessed claim may be reworded freely; so may an assessed one assessed anew
    anew = _assessed_anew(reworded, 'finding = "supported"\nrationale = "geolocated to Kursk"')
    assert casefile.import_case_text(archive, anew, "r.toml").changes == 2  # text, assessment
    claim = cases.show_case(archive, "reword")["claims"][0]
    assert (claim["text"], claim["finding"], claim["rationale"]) == (
        "filmed in Kursk",
        "supported",
        "geolocated to Kursk",
    )
    md = report.generate_report(archive, "reword", "md")[1].decode()
    assert "(reworded from “filmed in Belgorod” to “filmed in Kursk”)" in md
    assert log.check_archive(archive).ok


def test_rewording_back_to_unassessed_applies(archive: Archive) -> None:
    cases.open_case(archive, "Reword", slug="reword", claims=["filmed in Belgorod"])
    cases.assess_claim(archive, "reword", 1, finding="supported", why="geolocated")
    text = casefile.export_case(archive, "reword")
    reworded = text.replace('text = "filmed in Belgorod"', 'text = "filmed in Kursk"')
    reset = _assessed_anew(reworded, 'finding = "unassessed"')
    assert casefile.import_case_text(archive, reset, "r.toml").changes == 2
    claim = cases.show_case(archive, "reword")["claims"][0]
    assert (claim["text"], claim["finding"], claim["rationale"]) == (
        "filmed in Kursk",
        "unassessed",
        "",
    )


def _assessed_anew(text: str, assessment: str) -> str:
    """An exported file whose only claim is assessed anew by hand: the claim's fields say
    `assessment`, and an undated [[claims.history]] entry (the importer's, now) says so."""
    head, claim = text.split("[[claims]]\n", 1)
    claim, rest = claim.split("\n[[claims.history]]", 1)
    fields = re.sub(r"(?m)^(finding|confidence|rationale) = .*\n", "", claim)
    fields = fields.replace("\ntext = ", f"\n{assessment}\ntext = ", 1)
    history, tail = rest.split("\n\n# end of case file", 1)
    return (
        f"{head}[[claims]]\n{fields}\n[[claims.history]]{history}\n\n[[claims.history]]\n"
        f"{assessment}\n\n# end of case file{tail}"
    )


def _assess_as(archive: Archive, actor: str, slug: str, finding: str, why: str) -> None:
    other = _as(archive, actor)
    try:
        cases.assess_claim(other, slug, 1, finding=finding, why=why)
    finally:
        other.close()


def test_a_claims_assessments_travel_with_who_made_them_and_when(
    archive: Archive, tmp_path: Path
) -> None:
    """Export lists each claim's assessments ([[claims.history]]: finding, confidence,
    rationale, at, by). Imported elsewhere, they are recorded as the file states them
    (`stated` in the `claim.edit` entries, the entries' actor the importer), so the other
    archive's export is the same file and its report names the assessors, as stated in the
    file. Assessments the first archive makes later are appended by the next import, without
    --update: they change no fact, they add to the history."""
    cases.open_case(archive, "History", slug="hist", claims=["filmed in Belgorod"])
    _assess_as(archive, "bob", "hist", "unproven", "no geolocation yet")
    _assess_as(archive, "carol", "hist", "supported", "geolocated: the church at 50.48, 35.66")
    text = casefile.export_case(archive, "hist", record=True)
    history = text.split("[[claims.history]]")[1:]
    assert len(history) == 2
    assert 'finding = "unproven"\nrationale = "no geolocation yet"\nat = "' in history[0]
    assert history[0].endswith('by = "bob"\n\n')
    assert '\nby = "carol"\n' in history[1]
    partner = fresh_archive(tmp_path / "partner", "pat")
    try:
        casefile.import_case_text(partner, text, "hist.toml")
        assert casefile.export_case(partner, "hist") == text
        md = report.generate_report(partner, "hist", "md")[1].decode()
        rows = [line for line in md.splitlines() if "→ **" in line]
        assert len(rows) == 2
        assert "| bob (as stated in case file hist.toml, imported by pat at " in rows[0]
        assert "| carol (as stated in case file hist.toml, imported by pat at " in rows[1]
        assert log.check_archive(partner).ok
        # the desk assesses again: the partner's import appends it, as stated
        _assess_as(archive, "dasha", "hist", "contradicted", "the church is in Kursk")
        again = casefile.export_case(archive, "hist", record=True)
        # it lists the state the partner is in (the first export's) as an earlier one
        assert f'earlier = [\n  "{tomllib.loads(text)["base"]}",\n]\n' in again
        assert casefile.import_case_text(partner, again, "hist.toml").changes == 1
        assert casefile.export_case(partner, "hist") == again
        [last] = [e for e in logread.read_log(partner) if e["action"] == "claim.edit"][-1:]
        assert last["actor"] == "pat"
        assert last["payload"]["stated"]["by"] == "dasha"
        assert last["payload"]["finding"] == {"old": "supported", "new": "contradicted"}
        assert log.check_archive(partner).ok
        # the same file again: nothing to do
        assert casefile.import_case_text(partner, again, "hist.toml").changes == 0
    finally:
        partner.close()


def test_assessments_made_on_both_sides_merge_to_the_same_history(
    archive: Archive, tmp_path: Path
) -> None:
    """Each archive assessed the claim after they exchanged it. Each import records the
    other's assessment as stated: the latest becomes the claim's current one on both sides
    (an earlier one is noted beside it, the current one kept), so both archives end with the
    same assessments, the same finding and the same export, whichever imports first; no
    --update is needed, and the report names each assessor."""
    cases.open_case(archive, "History", slug="hist", claims=["filmed in Belgorod"])
    _assess_as(archive, "bob", "hist", "unproven", "no geolocation yet")
    partner = fresh_archive(tmp_path / "partner", "pat")
    try:
        casefile.import_case_text(partner, casefile.export_case(archive, "hist"), "hist.toml")
        cases.assess_claim(partner, "hist", 1, finding="supported", why="geolocated")
        theirs = casefile.export_case(partner, "hist")
        _assess_as(archive, "carol", "hist", "contradicted", "filmed in Kursk")
        ours = casefile.export_case(archive, "hist")
        # the desk: pat's assessment is older than carol's, so it is noted, carol's stands
        assert casefile.import_case_text(archive, theirs, "hist.toml").changes == 1
        claim = cases.show_case(archive, "hist")["claims"][0]
        assert (claim["finding"], claim["rationale"]) == ("contradicted", "filmed in Kursk")
        # the partner: carol's is newer than pat's, so it becomes the current one
        assert casefile.import_case_text(partner, ours, "hist.toml").changes == 1
        claim = cases.show_case(partner, "hist")["claims"][0]
        assert (claim["finding"], claim["rationale"]) == ("contradicted", "filmed in Kursk")
        merged = casefile.export_case(archive, "hist")
        assert [c.split("\nat = ")[0] for c in merged.split("[[claims.history]]")[1:]] == [
            '\nfinding = "unproven"\nrationale = "no geolocation yet"',
            '\nfinding = "supported"\nrationale = "geolocated"',
            '\nfinding = "contradicted"\nrationale = "filmed in Kursk"',
        ]
        assert _without_base(casefile.export_case(partner, "hist")) == _without_base(merged)
        md = report.generate_report(archive, "hist", "md")[1].decode()
        assert "pat (as stated in case file hist.toml, imported by tester at " in md
        assert "noted: the current finding unchanged" in md
        for side in (archive, partner):
            assert log.check_archive(side).ok
            # and again: nothing new either way
            assert casefile.import_case_text(side, merged, "hist.toml").changes == 0
    finally:
        partner.close()


def _without_base(text: str) -> str:
    """An export without `base` and `earlier` (which say where each archive's case has
    been: they differ while two archives' histories do)."""
    return re.sub(r'(?m)^base = .*\n|^earlier = \[\n(?:  "[^"\n]*",\n)*\]\n', "", text)


def _no_claim_history(text: str) -> str:
    """An export as a hand-edited file without claim histories (as before they travelled)."""
    return re.sub(r"\n\[\[claims\.history\]\]\n(?:[a-z_]+ = [^\n]*\n)*", "\n", text)


def test_a_rewritten_assessment_is_refused(archive: Archive) -> None:
    """An assessment once recorded is not rewritten: a file whose history says otherwise
    at the same instant (another rationale, another assessor) is refused, naming both."""
    cases.open_case(archive, "History", slug="hist", claims=["filmed in Belgorod"])
    _assess_as(archive, "bob", "hist", "unproven", "no geolocation yet")
    text = casefile.export_case(archive, "hist")
    edited = text.replace('rationale = "no geolocation yet"', 'rationale = "none"')
    assert edited.count('rationale = "none"') == 2  # the claim's and its history entry's
    with pytest.raises(BadInputError) as exc:
        casefile.import_case_text(archive, edited, "h.toml", update=True)
    assert "h.toml: claims[1].history[1]: this archive's assessment by bob at " in exc.value.message
    assert "an assessment once recorded is not rewritten" in exc.value.message


def test_an_export_from_before_claim_histories_still_imports(archive: Archive) -> None:
    """An export written before claims carried their history (its `base` is the case as
    that version rendered it) still applies without --update while the case is as it was."""
    cases.open_case(archive, "Old", slug="old", claims=["a"])
    cases.assess_claim(archive, "old", 1, finding="unproven", why="not yet")
    with archive.read() as session:
        rendered = casefile.render_case(
            session,
            cases.get_case(session, "old"),
            claim_history=False,
            in_time_order=False,
            records_by_time=False,
        )
    older = casefile.with_base(rendered, casefile.state_digest(rendered))
    assert "[[claims.history]]" not in older
    assert "[[claims.history]]" in casefile.export_case(archive, "old")
    edited = older.replace('title = "Old"', 'title = "Older"')
    assert casefile.import_case_text(archive, edited, "old.toml").changes == 1


@pytest.mark.parametrize(
    ("history", "message"),
    [
        (
            '\n[[claims.history]]\nfinding = "unproven"\nrationale = "r"\n',
            "claims[1].finding: must equal the last history entry's ('unproven'); to change "
            "it, append a [[claims.history]] entry",
        ),
        (
            '\n[[claims.history]]\nfinding = "supported"\n',
            "claims[1].history[1].rationale: a finding of supported needs a rationale",
        ),
        (
            '\n[[claims.history]]\nfinding = "supported"\nrationale = "r"\nat = 2023-01-01'
            '\nby = "  "\n',
            "claims[1].history[1].by: empty: give who made the assessment, or leave out both "
            "at and by",
        ),
        (
            '\n[[claims.history]]\nfinding = "supported"\nrationale = "r"\nat = 2023-01-01\n',
            "claims[1].history[1]: give both at and by (who assessed the claim, and when), or "
            "neither",
        ),
        (
            '\n[[claims.history]]\nfinding = "supported"\nrationale = "r"\n'
            'at = 2999-01-01T00:00:00Z\nby = "x"\n',
            "claims[1].history[1].at: 2999-01-01T00:00:00Z is in the future",
        ),
        (
            '\n[[claims.history]]\nfinding = "unproven"\nrationale = "r"\n'
            'at = 2023-02-01T00:00:00Z\nby = "x"\n'
            '\n[[claims.history]]\nfinding = "supported"\nrationale = "r"\n'
            'at = 2023-01-01T00:00:00Z\nby = "x"\n',
            "claims[1].history[2].at: 2023-01-01T00:00:00Z is before the entry above it: "
            "entries go oldest first",
        ),
        (
            '\n[[claims.history]]\nfinding = "unproven"\nrationale = "r"\n'
            '\n[[claims.history]]\nfinding = "supported"\nrationale = "r"\n'
            'at = 2023-01-01T00:00:00Z\nby = "x"\n',
            "claims[1].history[2].at: a dated entry after an undated one: undated entries go last",
        ),
        (
            '\n[[claims.history]]\nfinding = "unproven"\nrationale = "r"\n'
            '\n[[claims.history]]\nfinding = "supported"\nrationale = "r"\n',
            "claims[1].history[2]: one undated entry per claim (yours, now): the last",
        ),
        (
            '\n[[claims.history]]\nfinding = "supported"\nrationale = "r"\nwho = "x"\n',
            "claims[1].history[1]: unknown key 'who'; known keys: finding, confidence, "
            "rationale, at, by",
        ),
    ],
)
def test_invalid_claim_history_is_refused(archive: Archive, history: str, message: str) -> None:
    text = (
        BASE.replace("format = 1", "format = 2")
        + '\n[[claims]]\nn = 1\ntext = "x"\nfinding = "supported"\nrationale = "r"\n'
    )
    with pytest.raises(BadInputError) as exc:
        casefile.import_case_text(archive, text + history, "h.toml")
    assert exc.value.message == f"h.toml: {message}"


def test_attribution_histories_that_part_are_refused_naming_both(
    archive: Archive, tmp_path: Path
) -> None:
    """Both archives changed an attribution's state after an exchange: the import is
    refused (append-only), naming both changes and how to take the file's."""
    cases.open_case(archive, "Attr", slug="attr")
    a = provenance.attribute(archive, "attr", "subtitler", "x:@subber")
    partner = fresh_archive(tmp_path / "partner", "pat")
    try:
        casefile.import_case_text(partner, casefile.export_case(archive, "attr"), "a.toml")
        provenance.set_attribution_state(partner, 1, "refuted", evidence="subber denies")
        theirs = casefile.export_case(partner, "attr")
    finally:
        partner.close()
    provenance.set_attribution_state(archive, a["id"], "unknown", evidence="font is common")
    for update in (False, True):
        with pytest.raises(BadInputError) as exc:
            casefile.import_case_text(archive, theirs, "a.toml", update=update)
        assert re.fullmatch(
            r"a\.toml: attributions\[1\]\.history\[2\]: this archive's state change 2 is "
            r"unknown \('font is common'\), by tester at \S+Z; the file's is refuted "
            r"\('subber denies'\), by pat at \S+Z: each archive changed the attribution after "
            r"they last exchanged the case, or the file's history was edited; an import never "
            r"rewrites a history: to take the file's state, set it here with `verify prov "
            rf"attribution set {a['id']} --state refuted --evidence …`",
            exc.value.message,
        ), exc.value.message


def test_a_claim_only_one_side_assessed_is_not_reverted(archive: Archive, tmp_path: Path) -> None:
    """The partner never assessed the claim and sends the case back with a note: its file
    lists no assessment for the claim, which is not an assessment of `unassessed`. The
    desk's finding stays, and the note is imported, without --update."""
    cases.open_case(archive, "One", slug="one", claims=["filmed at night"])
    partner = fresh_archive(tmp_path / "partner", "pat")
    try:
        casefile.import_case_text(partner, casefile.export_case(archive, "one"), "one.toml")
        cases.add_note(partner, "one", "asked the uploader")
        theirs = casefile.export_case(partner, "one")
    finally:
        partner.close()
    cases.assess_claim(archive, "one", 1, finding="contradicted", why="the sun is up")
    claim_before = cases.show_case(archive, "one")["claims"][0]
    result = casefile.import_case_text(archive, theirs, "one.toml")
    assert result.changes == 1  # the note
    assert result.warnings == []
    assert result.notes == [
        "claims[1]: the file lists no assessment of claim 1 (its sender had none), so this "
        "archive's finding 'contradicted' stands (a file returns a claim to unassessed with a "
        "[[claims.history]] entry saying so)"
    ]
    claim = cases.show_case(archive, "one")["claims"][0]
    assert claim == claim_before  # finding, and who changed it last
    assert log.check_archive(archive).ok


def test_assessments_at_the_same_instant_are_ordered_alike_everywhere(
    archive: Archive, tmp_path: Path
) -> None:
    """Assessments dated by the day: two people's on the same day are both kept (ordered by
    who), and one person's two on the same day stay in the file's order; every archive
    then has the same current one, and re-imports its own export as up to date."""
    cases.open_case(archive, "Day", slug="day")
    text = casefile.export_case(archive, "day").replace("\n# end of case file\n", "\n")
    day = 'at = "2024-05-01T00:00:00Z"'

    def entry(by: str, finding: str) -> str:
        return f'\n[[claims.history]]\nfinding = "{finding}"\nrationale = "r"\n{day}\nby = "{by}"\n'

    def claim(n: int, text_: str, top: str, entries: str) -> str:
        return (
            f'[[claims]]\nn = {n}\ntext = "{text_}"\nfinding = "{top}"\nrationale = "r"\n{entries}'
        )

    head = text
    body = claim(1, "a", "contradicted", entry("dave", "supported") + entry("erin", "contradicted"))
    body += "\n" + claim(
        2, "b", "contradicted", entry("dave", "supported") + entry("dave", "contradicted")
    )
    hand = (head + body).replace('base = "', 'xbase = "')
    hand = re.sub(r"(?m)^xbase = .*\n", "", hand)
    other = fresh_archive(tmp_path / "other", "tess")
    try:
        casefile.import_case_text(other, hand, "day.toml")
        got = [(c["finding"]) for c in cases.show_case(other, "day")["claims"]]
        assert got == ["contradicted", "contradicted"]
        exported = casefile.export_case(other, "day")
        assert casefile.import_case_text(other, exported, "day.toml").changes == 0
        assert casefile.import_case_text(archive, exported, "day.toml").changes == 2
        assert _without_base(casefile.export_case(archive, "day")) == _without_base(exported)
        for side in (archive, other):
            assert log.check_archive(side).ok
    finally:
        other.close()


def test_an_assessment_after_one_dated_ahead_of_this_clock_is_refused(
    archive: Archive, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A colleague's clock ran ahead: their assessment, imported, is dated after this
    machine's now. Assessing the claim here before then would leave the two archives
    disagreeing on which is current: refused, saying why."""
    cases.open_case(archive, "Skew", slug="skew", claims=["a"])
    text = casefile.export_case(archive, "skew")
    ahead = iso(now() + timedelta(minutes=3))
    text = text.replace(
        'finding = "unassessed"\n',
        'finding = "supported"\nrationale = "r"\n',
    ).replace(
        "\n# end of case file",
        f'[[claims.history]]\nfinding = "supported"\nrationale = "r"\nat = "{ahead}"\nby = "alice"\n'
        "\n# end of case file",
    )
    assert casefile.import_case_text(archive, text, "s.toml").changes == 1
    with pytest.raises(BadInputError, match=r"after this machine's clock .*: one of the clocks"):
        cases.assess_claim(archive, "skew", 1, finding="contradicted", why="no")


def test_a_hand_assessment_is_not_put_back_over_a_colleagues(archive: Archive) -> None:
    """An undated history entry (a hand edit: the importer's, now) is a fact the file
    changes: importing the same edited file again after a colleague assessed the claim is
    refused (it would put the hand assessment back over theirs), unless --update."""
    cases.open_case(archive, "Hand", slug="hand", claims=["filmed in Belgorod"])
    cases.assess_claim(archive, "hand", 1, finding="supported", why="geolocated")
    edited = _assessed_anew(
        casefile.export_case(archive, "hand"), 'finding = "unproven"\nrationale = "unsure"'
    )
    assert casefile.import_case_text(archive, edited, "h.toml").changes == 1
    assert casefile.import_case_text(archive, edited, "h.toml").changes == 0  # up to date
    _assess_as(archive, "bob", "hand", "contradicted", "filmed in Kursk")
    with pytest.raises(BadInputError, match=r"claims\[1\]\.assessment \"contradicted: "):
        casefile.import_case_text(archive, edited, "h.toml")
    assert cases.show_case(archive, "hand")["claims"][0]["finding"] == "contradicted"
    assert casefile.import_case_text(archive, edited, "h.toml", update=True).changes == 1
    assert cases.show_case(archive, "hand")["claims"][0]["finding"] == "unproven"
    assert log.check_archive(archive).ok


def test_one_persons_assessments_at_one_instant_match_in_order(
    archive: Archive, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Under a pinned clock one person's assessments share an instant: a file's are
    matched with the archive's in the order recorded, so a later one is new (not a
    rewrite of the first), and one that repeats an earlier one is not passed over."""
    monkeypatch.setenv("VERIFY_FAKE_NOW", "2030-01-01T00:00:00Z")
    cases.open_case(archive, "Pin", slug="pin", claims=["a"])
    cases.assess_claim(archive, "pin", 1, finding="supported", why="x1")
    cases.assess_claim(archive, "pin", 1, confidence="high")
    partner = fresh_archive(tmp_path / "partner", "pat")
    try:
        casefile.import_case_text(partner, casefile.export_case(archive, "pin"), "p.toml")
        cases.assess_claim(archive, "pin", 1, confidence="none")  # back to "supported x1"
        mine = casefile.export_case(archive, "pin")
        assert casefile.import_case_text(partner, mine, "p.toml").changes == 1
        assert _without_base(casefile.export_case(partner, "pin")) == _without_base(mine)
        assert cases.show_case(partner, "pin")["claims"][0]["confidence"] is None
        assert log.check_archive(partner).ok
    finally:
        partner.close()


def test_a_hand_assessment_must_come_after_the_files_own(archive: Archive) -> None:
    """An undated entry is the importer's, now: a dated entry of the same file ahead of
    this clock (another machine's) would stay current over it, silently: refused."""
    cases.open_case(archive, "Skew", slug="skew", claims=["a"])
    text = casefile.export_case(archive, "skew")
    ahead = iso(now() + timedelta(minutes=3))
    text = text.replace('finding = "unassessed"\n', 'finding = "contradicted"\nrationale = "m"\n')
    text = text.replace(
        "\n# end of case file",
        f'[[claims.history]]\nfinding = "supported"\nrationale = "r"\nat = "{ahead}"\nby = "bob"\n'
        '\n[[claims.history]]\nfinding = "contradicted"\nrationale = "m"\n'
        "\n# end of case file",
    )
    with pytest.raises(BadInputError, match="one of the clocks is wrong"):
        casefile.import_case_text(archive, text, "s.toml")


def test_an_assessment_dated_before_its_claim_is_recorded_with_a_warning(
    archive: Archive,
) -> None:
    cases.open_case(archive, "Early", slug="early")
    text = casefile.export_case(archive, "early").replace("\n# end of case file\n", "\n")
    text += (
        '[[claims]]\nn = 1\ntext = "a"\nfinding = "supported"\nrationale = "r"\n'
        'created_at = "2024-05-02T00:00:00Z"\ncreated_by = "x"\n'
        '\n[[claims.history]]\nfinding = "supported"\nrationale = "r"\n'
        'at = "2020-01-01T00:00:00Z"\nby = "x"\n'
    )
    text = re.sub(r"(?m)^base = .*\n", "", text)
    result = casefile.import_case_text(archive, text, "e.toml", update=True)
    assert result.warnings == [
        "claims[1].history[1]: assessed at 2020-01-01T00:00:00Z, before the claim was added "
        "(2024-05-02T00:00:00Z); recorded as stated"
    ]
    assert cases.show_case(archive, "early")["claims"][0]["finding"] == "supported"
