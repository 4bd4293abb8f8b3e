"""`verify prov derivations` without the ORM (`verify.services.provread`): the same data as
the ORM's reading (`provenance.list_derivations`) of the same rows, on SQLite (stdlib sqlite3
and SQLAlchemy Core) and PostgreSQL (Core)."""

from pathlib import Path
from typing import Any

import orjson
import pytest

from tests.conftest import RunCli, stdlib_reader
from tests.provhelp import add_media
from verify.archive import Archive
from verify.services import provenance, provread


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


def test_derivations_are_the_orms(archive: Archive, linked: None) -> None:
    for slug, ids in (("legion", [1, 2, 3]), ("other", [3, 4]), ("empty", [])):
        got = provread.list_derivations(archive, slug)
        assert [d["id"] for d in got] == ids
        assert _same(got, provenance.list_derivations(archive, slug))
    first = provread.list_derivations(archive, "legion")[0]
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


def test_unknown_case(cli: RunCli, linked: None) -> None:
    r = cli("prov", "derivations", "nope")
    assert (r.exit_code, r.stderr) == (
        4,
        "error: no case 'nope'; `verify case list` shows the cases\n",
    )
