"""`verify log` (`verify.services.logread`): which entries a case's log holds, the limit,
the checkpoint, and the same entries read through stdlib sqlite3 and through SQLAlchemy
(that it imports no SQLModel: test_caselist's test of every ORM-free read)."""

import itertools
import re
from pathlib import Path

import pytest
from sqlalchemy import text

from tests.conftest import RunCli, stdlib_reader
from tests.provhelp import add_media
from verify.archive import Archive
from verify.audit import GENESIS
from verify.errors import IntegrityFailure
from verify.services import cases, logread, provenance, status


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def _fill(archive: Archive) -> None:
    """Two cases linked by a derivation (recorded under the child's case), a third case
    unrelated, and payloads with Unicode and nesting."""
    cases.open_case(archive, "Derna «flood»", slug="derna", claims=["filmed in Derna"])
    cases.open_case(archive, "Morocco", slug="morocco")
    cases.open_case(archive, "Other", slug="other")
    original = add_media(archive, "derna", "flood.mp4", b"flood")
    copy = add_media(archive, "morocco", "quake.mp4", b"quake")
    add_media(archive, "other", "x.mp4", b"x")
    provenance.derive(
        archive, str(copy), str(original), "subtitled_from", evidence="same frames, «subs»"
    )
    status.set_status(archive, "derna", "in_progress", why="collecting\nappearances")
    cases.add_note(archive, "other", "a note")


def test_entries_of_the_archive_and_of_each_case(archive: Archive) -> None:
    assert logread.read_log(archive) == []
    assert logread.head(archive) == {"seq": 0, "hash": GENESIS}
    _fill(archive)
    entries = logread.read_log(archive)
    assert [e["seq"] for e in entries] == list(range(1, len(entries) + 1))
    assert [(e["action"], e["case"]) for e in entries] == [
        ("case.open", "derna"),
        ("case.open", "morocco"),
        ("case.open", "other"),
        ("media.add", "derna"),
        ("media.add", "morocco"),
        ("media.add", "other"),
        ("derivation.add", "morocco"),
        ("status.set", "derna"),
        ("note.add", "other"),
    ]
    assert entries[6]["payload"]["evidence"] == {"text": "same frames, «subs»"}
    assert entries[0]["prev_hash"] == GENESIS
    assert all(e["prev_hash"] == p["hash"] for p, e in itertools.pairwise(entries))
    # the derivation is recorded under the copy's case and listed in the original's too
    by_case = {
        case: [e["seq"] for e in logread.read_log(archive, case)]
        for case in ("derna", "morocco", "other")
    }
    assert by_case == {"derna": [1, 4, 7, 8], "morocco": [2, 5, 7], "other": [3, 6, 9]}
    assert [e["seq"] for e in logread.read_log(archive, "derna", limit=2)] == [7, 8]
    assert logread.read_log(archive, "derna", limit=0) == []
    assert logread.read_log(archive, limit=100) == entries
    assert logread.head(archive) == {"seq": 9, "hash": entries[-1]["hash"]}


@pytest.mark.parametrize(
    ("damage", "reason"),
    [
        ("DELETE FROM audit_head", "the audit head record is missing"),
        ("UPDATE audit_entries SET actor = 'mallory' WHERE seq = 4", "entry 4 was altered"),
        ("DELETE FROM audit_entries WHERE seq = 9", "entry 9 is missing (the head says 9)"),
    ],
)
def test_no_checkpoint_of_a_damaged_chain(
    archive: Archive, cli: RunCli, damage: str, reason: str
) -> None:
    """A checkpoint vouches for the trail up to it: none is printed when it does not verify."""
    _fill(archive)
    with archive.engine.execution_options(verify_write=True).begin() as conn:
        conn.execute(text(damage))
    with pytest.raises(IntegrityFailure, match=re.escape(reason)):
        logread.head(archive)
    r = cli("log", "--head")
    assert (r.exit_code, r.stdout) == (3, "")
    assert r.stderr.startswith("error: the audit trail does not verify (")
    assert r.stderr.endswith("): no checkpoint printed; `verify check` says more\n")


def test_stdlib_reader_gives_the_same_entries(archive: Archive, home: Path, backend: str) -> None:
    _fill(archive)
    with stdlib_reader(home, backend) as readonly:
        for case in (None, "derna", "morocco"):
            assert logread.read_log(readonly, case) == logread.read_log(archive, case)
        assert logread.head(readonly) == logread.head(archive)


def test_errors_are_one_line(cli: RunCli) -> None:
    r = cli("log", "nope")
    assert (r.exit_code, r.stdout, r.stderr) == (
        4,
        "",
        "error: no case 'nope'; `verify case list` shows the cases\n",
    )
    r = cli("log", "-n", "-1")
    assert (r.exit_code, r.stderr) == (
        2,
        "error: bad limit -1: give a number of entries, 0 or more\n",
    )
