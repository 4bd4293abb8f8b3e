"""The audit chain: random histories verify; every single tampering is caught at the right seq.

The attacker here has write access to the SQLite file and edits it with the `sqlite3`
module, behind the tool's back. "Right first bad seq", per kind of tampering, for a chain
of entries 1..n and a target position k:

- edit of one field (at, actor, action, case_slug, payload, prev_hash, hash) of entry k:
  k (its recomputed hash, or its link to k-1, no longer matches);
- delete entry k: k (entry k is missing; for k = n the head row still says n);
- reorder = swap the contents (every column but seq) of entries k and k+1: k (entry k now
  holds k+1's link, which does not follow k-1);
- insert a fabricated entry *before* entry k (k <= n), renumbering k..n to k+1..n+1 and
  giving the forgery a correct hash chained to k-1: k+1 (the forgery itself is
  self-consistent, so the first broken link is the displaced original entry after it);
- insert after the last entry (append a correctly chained forgery n+1 without updating the
  head): n+1 (the head row says n).

"First / middle / last" are k = 1, k = ceil(n/2) and k = n (a swap at the last position
swaps n-1 and n; an insert at the last position appends after n).

What the chain does NOT catch on its own: a full rewrite that recomputes every hash from
the tampered entry onward and updates the head. That needs a checkpoint kept outside the
archive (`verify log --head`, then `verify check --against SEQ:HASH`): tested at the end.
"""

import itertools
import shutil
import sqlite3
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from tests.conftest import postgres_schema, require_postgres
from verify import audit
from verify.archive import Archive, open_archive, resolve_actor
from verify.cli import app
from verify.errors import BadInputError, NotFoundError
from verify.services import cases, log, logread, status
from verify.vocab import CaseStatus, Confidence, Finding

FIELDS = ("at", "actor", "action", "case_slug", "payload", "prev_hash", "hash")
KINDS = (*(f"edit-{f}" for f in FIELDS), "delete", "swap", "insert")
POSITIONS = ("first", "middle", "last")
COLUMNS = ("at", "actor", "action", "case_slug", "payload", "prev_hash", "hash")

runner = CliRunner()


# ---------------------------------------------------------------------------- archives


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated, empty archive database; copied per example (migrating each time is slow)."""
    home = tmp_path_factory.mktemp("template")
    open_archive(home, database_url=f"sqlite:///{home / 'verify.db'}", actor="t").close()
    assert not (home / "verify.db-wal").exists()
    return home / "verify.db"


@dataclass
class Home:
    path: Path

    @property
    def db(self) -> Path:
        return self.path / "verify.db"

    def open(self, actor: str = "tester") -> Archive:
        return open_archive(self.path, database_url=f"sqlite:///{self.db}", actor=actor)

    def cli(self, *args: str) -> tuple[int, str, str]:
        r = runner.invoke(
            app,
            ["--home", str(self.path), *args],
            env={"VERIFY_DATABASE_URL": None, "VERIFY_USER": "tester"},
            catch_exceptions=False,
        )
        return r.exit_code, r.stdout, r.stderr


@pytest.fixture
def fresh(template: Path) -> Iterator[Home]:
    with tempfile.TemporaryDirectory() as d:
        shutil.copy(template, Path(d) / "verify.db")
        yield Home(Path(d))


def new_home(template: Path, directory: str) -> Home:
    shutil.copy(template, Path(directory) / "verify.db")
    return Home(Path(directory))


# ---------------------------------------------------------------------------- histories

text = st.text(min_size=1, max_size=30).filter(lambda s: s.strip() != "")
actors = st.one_of(st.sampled_from(["alice", "bob", "Дарья", "o'brien"]), text)
ops = st.one_of(
    st.tuples(st.just("open"), text, st.lists(text, max_size=3), actors),
    st.tuples(
        st.just("status"),
        st.integers(0, 50),
        st.sampled_from(list(CaseStatus)),
        st.one_of(st.none(), text),
        actors,
    ),
    st.tuples(st.just("note"), st.integers(0, 50), text, actors),
    st.tuples(
        st.just("assess"),
        st.integers(0, 50),
        st.integers(1, 4),
        st.sampled_from(list(Finding)),
        st.sampled_from(list(Confidence)),
        text,
        actors,
    ),
)


def play(archive: Archive, history: list[tuple[object, ...]]) -> int:
    """Run a random history through the services; return how many mutations succeeded.

    Invalid steps (a forbidden transition, a verdict without a why, a missing claim) are
    part of the history on purpose: they must fail without writing anything.
    """
    slugs: list[str] = []
    done = 0
    for op in history:
        kind, *args = op
        try:
            archive.actor = resolve_actor(str(args[-1]))
            if kind == "open":
                title, claims, _ = args
                slugs.append(cases.open_case(archive, str(title), claims=list(claims))["slug"])
            elif not slugs:
                continue
            elif kind == "status":
                i, target, why, _ = args
                status.set_status(archive, slugs[int(i) % len(slugs)], str(target), why)
            elif kind == "note":
                i, note, _ = args
                cases.add_note(archive, slugs[int(i) % len(slugs)], str(note))
            else:
                i, n, finding, conf, why, _ = args
                cases.assess_claim(
                    archive,
                    slugs[int(i) % len(slugs)],
                    int(n),
                    finding=str(finding),
                    confidence=str(conf),
                    why=str(why),
                )
        except (BadInputError, NotFoundError):
            continue
        done += 1
    return done


FIXED_HISTORY: list[tuple[object, ...]] = [
    (
        "open",
        "Alleged FRL video, Belgorod, May 2023",
        ["shows the FRL", "filmed in Belgorod"],
        "alice",
    ),
    ("open", "RVC village-sign video", [], "bob"),
    ("status", 0, CaseStatus.IN_PROGRESS, None, "alice"),
    ("note", 0, "asked the desk in Kyiv", "alice"),
    ("assess", 0, 2, Finding.SUPPORTED, Confidence.MEDIUM, "sign geolocated", "bob"),
    ("status", 0, CaseStatus.MISATTRIBUTED, "earliest copy is older", "alice"),
    ("note", 1, "no copy found yet", "bob"),
]


# ---------------------------------------------------------------------------- tampering


def rows(db: Path) -> list[tuple[object, ...]]:
    with sqlite3.connect(db) as conn:
        return conn.execute(
            f"SELECT seq, {', '.join(COLUMNS)} FROM audit_entries ORDER BY seq"
        ).fetchall()


def edited_value(field: str, current: object) -> object:
    """A plausible different value an attacker might write."""
    replacements: dict[str, object] = {
        "at": "2020-01-01T00:00:00Z",
        "actor": "mallory",
        "action": "case.edit",
        "case_slug": "some-other-case",
        "payload": '{"why":"rewritten"}',
        "prev_hash": "sha256:" + "f" * 64,
        "hash": "sha256:" + "e" * 64,
    }
    value = replacements[field]
    return value if value != current else f"{value}x"


def position(pos: str, n: int) -> int:
    return {"first": 1, "middle": (n + 1) // 2, "last": n}[pos]


def tamper(db: Path, kind: str, k: int) -> int:
    """Apply one tampering at entry k with raw SQL; return the seq `verify check` must name."""
    entries = rows(db)
    n = len(entries)
    by_seq = {int(str(r[0])): r for r in entries}
    conn = sqlite3.connect(db)
    try:
        if kind.startswith("edit-"):
            field = kind.removeprefix("edit-")
            current = by_seq[k][1 + COLUMNS.index(field)]
            conn.execute(
                f"UPDATE audit_entries SET {field} = ? WHERE seq = ?",
                (edited_value(field, current), k),
            )
            expected = k
        elif kind == "delete":
            conn.execute("DELETE FROM audit_entries WHERE seq = ?", (k,))
            expected = k
        elif kind == "swap":
            a, b = (k, k + 1) if k < n else (k - 1, k)
            sets = ", ".join(f"{c} = ?" for c in COLUMNS)
            conn.execute(f"UPDATE audit_entries SET {sets} WHERE seq = ?", (*by_seq[b][1:], a))
            conn.execute(f"UPDATE audit_entries SET {sets} WHERE seq = ?", (*by_seq[a][1:], b))
            expected = a
        elif kind == "insert":
            # before entry k (k <= n) or, when k == n + 1, after the last one.
            prev = str(by_seq[k - 1][7]) if k > 1 else audit.GENESIS
            for seq in range(n, k - 1, -1):  # renumber from the top: seq is the primary key
                conn.execute("UPDATE audit_entries SET seq = ? WHERE seq = ?", (seq + 1, seq))
            at, actor, action, case, payload = (
                "2023-05-23T10:15:00Z",
                "mallory",
                "status.set",
                "forged",
                '{"to":"verified"}',
            )
            forged = audit.entry_hash(k, at, actor, action, case, payload, prev)
            conn.execute(
                f"INSERT INTO audit_entries (seq, {', '.join(COLUMNS)}) VALUES (?,?,?,?,?,?,?,?)",
                (k, at, actor, action, case, payload, prev, forged),
            )
            expected = k + 1 if k <= n else n + 1
        else:
            raise ValueError(kind)
        conn.commit()
    finally:
        conn.close()
    return expected


def insert_target(pos: str, n: int) -> int:
    return n + 1 if pos == "last" else position(pos, n)


def assert_detected(home: Home, expected: int) -> None:
    archive = home.open()
    try:
        report = log.check_archive(archive)
    finally:
        archive.close()
    assert not report.ok
    assert report.first_bad_seq == expected, report.findings
    assert [f.category for f in report.findings] == ["audit-chain"]
    code, out, err = home.cli("check")
    assert code == 3
    assert f"audit-chain: seq {expected}: " in out
    stored = report.audit_stored
    assert out.splitlines()[-1].startswith(
        f"FAILED: {expected - 1} of {stored} audit entries verify (broken at seq {expected}), "
        if report.audit_entries < stored
        # every entry follows the one before: the head row disagrees (deleted, or entries
        # appended or removed at the end)
        else f"FAILED: the {stored} audit entries do not agree with the head on record "
        f"(at seq {expected}), "
    )
    assert err == f"error: audit trail broken at seq {expected}\n"


def assert_clean(home: Home, entries: int) -> None:
    archive = home.open()
    try:
        report = log.check_archive(archive)
    finally:
        archive.close()
    assert report.ok, report.findings
    assert report.audit_entries == entries
    code, out, err = home.cli("check")
    assert (code, err) == (0, "")
    assert out.startswith(f"ok: {entries} audit entries, head ")


# ---------------------------------------------------------------------------- tests


@pytest.mark.parametrize("pos", POSITIONS)
@pytest.mark.parametrize("kind", KINDS)
def test_every_single_tampering_is_detected(fresh: Home, kind: str, pos: str) -> None:
    archive = fresh.open()
    n = play(archive, FIXED_HISTORY)
    archive.close()
    assert n == len(FIXED_HISTORY) == 7
    assert_clean(fresh, n)
    k = insert_target(pos, n) if kind == "insert" else position(pos, n)
    expected = tamper(fresh.db, kind, k)
    if kind == "insert":
        assert expected == {"first": 2, "middle": 5, "last": 8}[pos]
    else:
        assert expected == {"first": 1, "middle": 4, "last": 6 if kind == "swap" else 7}[pos]
    assert_detected(fresh, expected)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(history=st.lists(ops, max_size=12))
def test_random_histories_verify(template: Path, history: list[tuple[object, ...]]) -> None:
    with tempfile.TemporaryDirectory() as d:
        home = new_home(template, d)
        archive = home.open()
        done = play(archive, history)
        entries = logread.read_log(archive)
        archive.close()
        assert [e["seq"] for e in entries] == list(range(1, done + 1))
        assert all(e["prev_hash"] == p["hash"] for p, e in itertools.pairwise(entries))
        assert_clean(home, done)


@pytest.mark.postgres
def _timeless(entry: dict[str, Any]) -> tuple[Any, ...]:
    """(seq, action, case, payload) without the times a payload records (`status.set`'s
    `at`, as the clock gave it in each archive)."""
    payload = {k: v for k, v in entry["payload"].items() if k != "at"}
    return entry["seq"], entry["action"], entry["case"], payload


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(history=st.lists(ops, max_size=12))
def test_random_histories_verify_postgres(history: list[tuple[object, ...]]) -> None:
    """The same property on PostgreSQL (a fresh schema per example): the same history gives
    the same entries (seq, action, case, payload) as on SQLite, and the chain verifies."""
    server = require_postgres()
    with tempfile.TemporaryDirectory() as d, postgres_schema(server) as url:
        pg = open_archive(Path(d) / "pg", database_url=url, actor="tester")
        lite = open_archive(
            Path(d) / "lite", database_url=f"sqlite:///{Path(d) / 'lite.db'}", actor="tester"
        )
        try:
            assert play(pg, history) == play(lite, history)
            pg_log, lite_log = logread.read_log(pg), logread.read_log(lite)
            assert [_timeless(e) for e in pg_log] == [_timeless(e) for e in lite_log]
            assert log.check_archive(pg).ok
        finally:
            pg.close()
            lite.close()


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    history=st.lists(ops, min_size=2, max_size=10),
    kind=st.sampled_from(KINDS),
    where=st.floats(0, 1),
)
def test_random_tampering_detected(
    template: Path, history: list[tuple[object, ...]], kind: str, where: float
) -> None:
    # Two steps that always succeed, so there are >= 2 entries (a swap needs two).
    history = [("open", "first case", ["a claim"], "alice"), ("note", 0, "n", "bob"), *history]
    with tempfile.TemporaryDirectory() as d:
        home = new_home(template, d)
        archive = home.open()
        n = play(archive, history)
        archive.close()
        assert n >= 2
        last = n + 1 if kind == "insert" else n
        k = 1 + min(int(where * last), last - 1)
        expected = tamper(home.db, kind, k)
        assert_detected(home, expected)


def rewrite_from(db: Path, k: int) -> None:
    """The attacker who knows the algorithm: edit entry k, re-chain k..n, fix the head."""
    entries = rows(db)
    conn = sqlite3.connect(db)
    prev = str(entries[k - 2][7]) if k > 1 else audit.GENESIS
    for r in entries[k - 1 :]:
        seq, at, actor, action, case, payload = (int(str(r[0])), *map(str, r[1:6]))
        if seq == k:
            actor = "mallory"
        digest = audit.entry_hash(seq, at, actor, action, case, payload, prev)
        conn.execute(
            "UPDATE audit_entries SET actor = ?, prev_hash = ?, hash = ? WHERE seq = ?",
            (actor, prev, digest, seq),
        )
        prev = digest
    conn.execute("UPDATE audit_head SET hash = ? WHERE id = 1", (prev,))
    conn.commit()
    conn.close()


def test_full_rewrite_caught_only_against_a_checkpoint(fresh: Home) -> None:
    archive = fresh.open()
    play(archive, FIXED_HISTORY)
    archive.close()
    code, checkpoint, _ = fresh.cli("log", "--head")
    assert code == 0
    checkpoint = checkpoint.strip()
    assert checkpoint.startswith("7:sha256:") and len(checkpoint) == 2 + 71
    code, out, _ = fresh.cli("check", "--against", checkpoint)
    assert code == 0
    assert out.startswith("ok: 7 audit entries, head sha256:")
    assert out.endswith("; checkpoint 7 matches; 0 objects checked\n")  # said, not implied
    # Later work extends the log; the old checkpoint still holds.
    archive = fresh.open()
    cases.add_note(archive, "rvc-village-sign-video", "later note")
    archive.close()
    assert fresh.cli("check", "--against", checkpoint)[0] == 0

    rewrite_from(fresh.db, 3)
    # The chain alone is self-consistent again: this is the documented limit.
    assert fresh.cli("check")[0] == 0
    code, out, err = fresh.cli("check", "--against", checkpoint)
    assert code == 3
    assert "checkpoint: seq 7: the entry differs from the checkpoint" in out
    assert err == "error: the audit trail does not match checkpoint 7 (rewritten?)\n"
    archive = fresh.open()
    report = log.check_archive(archive, against=checkpoint)
    archive.close()
    assert [f.category for f in report.findings] == ["checkpoint"]


def test_truncation_below_checkpoint_is_caught(fresh: Home) -> None:
    archive = fresh.open()
    play(archive, FIXED_HISTORY)
    archive.close()
    checkpoint = fresh.cli("log", "--head")[1].strip()
    conn = sqlite3.connect(fresh.db)
    h6 = conn.execute("SELECT hash FROM audit_entries WHERE seq = 6").fetchone()[0]
    conn.execute("DELETE FROM audit_entries WHERE seq = 7")
    conn.execute("UPDATE audit_head SET seq = 6, hash = ? WHERE id = 1", (h6,))
    conn.commit()
    # the note entry 7 added is still there: its row has no entry now
    code, out, _ = fresh.cli("check")
    assert code == 3 and "state: note 2 (case rvc-village-sign-video): not in the audit" in out
    conn.execute("DELETE FROM notes WHERE id = 2")  # and gone with it
    conn.commit()
    conn.close()
    assert fresh.cli("check")[0] == 0  # consistent, but shorter
    code, out, err = fresh.cli("check", "--against", checkpoint)
    assert code == 3
    assert "checkpoint: seq 7: the checkpoint's entry is gone" in out
    assert err.startswith("error: the audit trail does not match checkpoint 7")


@pytest.mark.parametrize("bad", ["7", "x:sha256:00", "7:md5:00", ""])
def test_malformed_checkpoint_is_bad_input(fresh: Home, bad: str) -> None:
    code, out, err = fresh.cli("check", "--against", bad)
    assert code == 2
    assert out == ""
    assert err.startswith("error: bad checkpoint ") and err.count("\n") == 1


def test_deleted_head_row_is_detected(fresh: Home) -> None:
    archive = fresh.open()
    play(archive, FIXED_HISTORY[:2])
    archive.close()
    conn = sqlite3.connect(fresh.db)
    conn.execute("DELETE FROM audit_head")
    conn.commit()
    conn.close()
    assert_detected(fresh, 1)
