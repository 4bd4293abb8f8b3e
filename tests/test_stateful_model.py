"""T18 of the reliability test plan (shared/research/reliability-anchors.md, section 5.2): a
Hypothesis state machine that models cases, the evidence store and the database together
and, after every step, compares the model with what the archive says.

Rules (each a thing a user, a crash or the disk can do):
- open a case (the slug derived from its title, `-2`, `-3`, ... when taken; at most 4);
- add a file of new random bytes to a case; add bytes already added again (to the same or
  another case); add a batch of 2-4 files mixing both (the same bytes may come twice):
  through the service on the ORM archive, through the SQLite intake path `media add` uses
  (`open_intake`), or through the CLI in process (`media add`, human output or `--json`).
  Predicted: stored once, a new media id each, and the user told (`exact_copies` and
  `already_stored` in the result; on stderr the "same bytes already in ..." lines, the
  restore notice and the error line saying the bytes were preserved, or preserved
  earlier). Half of the re-adds pick bytes whose stored copy is damaged or gone, when
  there are some: a restore would be rare in a short run otherwise;
- add a file to a case that does not exist (refused before anything is stored);
- set a status, any target, with or without a rationale: the model holds the workflow of
  docs/concepts.md and predicts the change or the refusal;
- add a note (blank ones are refused; text is stripped);
- reopen the archive (close the `Archive` and its engine, open it again);
- a simulated crash during an add (one file): the partial temp file a kill mid-copy
  leaves; an exception instead of recording the stored file (`intake._record`): the
  object stays (an orphan, or a missing copy stored again), no row, and a damaged copy's
  verified replacement stays as a temp file, as a kill there leaves it; an
  exception inside the write transaction once the rows are inserted
  (`intake.insert_media`): rolled back, the replacement dropped; and an exception once
  the transaction has committed: recorded (and restored) in full;
- damage a stored object (flip a bit, truncate it, or a folder in its place): `check`
  reports it (hash-mismatch, unreadable) until the same bytes are added again, which
  restores it and keeps the damaged copy under `objects/damaged/`; or delete one
  (`missing` while the database refers to it; re-adding stores it again, silently).

Invariants (after every step): the cases, their statuses and status history, notes and
media (and the set of blobs) read through the service layer equal the model's; every
object the model says is intact is in the store, read-only, with bytes that hash to its
name, and the store holds exactly the model's objects, temp files and set-aside copies,
nothing stray; `check_archive` reports exactly the predicted findings (orphans and temp
files, harmless; damaged and missing objects the database refers to; no state or chain
finding); the audit trail is the model's list of changes, one entry per change (none for
a refused or rolled-back one, `restored` when a damaged copy was replaced), and its chain
verifies (`verify log --head`'s check).

Seams: the analysis (`verify.analysis.sandbox.Analyses`, and `warm_pools` for the CLI) is
a stand-in in this process that fails every file at once (the sandboxed children take
about 0.3 s a file). So this machine covers custody, not analysis: every blob is
`analysis_failed` with the stand-in's reason, no frames, no near-duplicate search; it does
check that bytes with no blob row are analysed once (once per batch) and known bytes never
again. Crashes are exceptions raised in this process (a real process death at each step of
the write protocol is T13 in test_reliability_plan.py); the partial temp file of a kill
mid-copy is written by the test, as such a kill leaves it. There is no `gc` command
(deliberate: an orphan may be evidence whose row a restored older database lacks), so the
plan's "gc" rule is left out. SQLite only, as test_reliability_plan.py: the intake path is
SQLite's, and every run needs a fresh archive.

Size: 25 runs of up to 25 steps by default (about 20 s on 2 cores). Longer, e.g. the
plan's CI size (200 x 50, about 4.5 min; its nightly size is 1,000 x 100; the test's
timeout grows with the size):

    VERIFY_STATEFUL_EXAMPLES=200 VERIFY_STATEFUL_STEPS=50 .venv/bin/pytest -q \\
        -p no:cacheprovider tests/test_stateful_model.py

No Hypothesis example database is written (`database=None`): nothing lands in the repo.
The examples are the same on every run (tests/conftest.py); add
`--hypothesis-profile=explore` to draw new ones.
"""

import contextlib
import hashlib
import json
import os
import shutil
import stat
import tempfile
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from hypothesis import Phase, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    initialize,
    invariant,
    multiple,
    precondition,
    rule,
    run_state_machine_as_test,
)
from typer.testing import CliRunner

from verify.analysis import sandbox
from verify.archive import open_archive
from verify.cli import app
from verify.dbwrite import open_intake
from verify.errors import AnalysisError, BadInputError, NotFoundError
from verify.services import caselist, intake, logread, mediaread
from verify.services import cases as case_service
from verify.services import status as status_service
from verify.services.log import HARMLESS, check_archive
from verify.vocab import VERDICTS, CaseStatus

EXAMPLES = int(os.environ.get("VERIFY_STATEFUL_EXAMPLES", "25"))
STEPS = int(os.environ.get("VERIFY_STATEFUL_STEPS", "25"))
SETTINGS = settings(
    max_examples=EXAMPLES,
    stateful_step_count=STEPS,
    deadline=None,
    database=None,
    report_multiple_bugs=False,  # shrink the first failure only: each step costs reads
    # no explain phase: it traces every line run (SQLAlchemy included) and made reporting
    # one failure take minutes; the shrunk steps are printed all the same
    phases=[p for p in Phase if p is not Phase.explain],
)

ACTOR = "tester"
STUB_REASON = "not analysed (the stateful model's stand-in analysis)"
TITLES = ("Alpha clip", "Beta photo", "Gamma")
MAX_CASES = 4  # enough for same-case and cross-case copies; each case costs reads per step
NAMES = ("clip.mp4", "photo.jpg", "scan 2.bin", "evidence")
VIA = st.sampled_from(("service", "intake", "cli", "cli-json"))
DAMAGES = {"flip": "hash-mismatch", "truncate": "hash-mismatch", "folder": "unreadable"}
# may be blank or padded: a missing rationale, a refused note, text that is stripped
TEXT = st.text(alphabet="ab z", max_size=8)
CONTENT = st.binary(max_size=300)


@pytest.fixture
def backend() -> str:
    """SQLite, whatever `--backend` says: each run opens an archive of its own, and adds
    also go through the SQLite intake path (`open_intake`)."""
    return "sqlite"


# ------------------------------------------------------------------ seams


SUBMITTED: list[str] = []  # the stored objects handed to the (stand-in) analysis


class StubAnalyses:
    """Stands in for `verify.analysis.sandbox.Analyses` inside `add_media`: every file
    submitted fails its analysis at once, in this process, in submission order."""

    def __init__(self, **kwargs: Any) -> None:
        self._queue: deque[str] = deque()
        self._pools = list(kwargs.get("pools") or [])

    def submit(self, path: str) -> None:
        SUBMITTED.append(path)
        self._queue.append(path)

    def next_outcome(
        self, *, every: float = 1.0, waiting: Callable[[float], None] | None = None
    ) -> tuple[str, AnalysisError]:
        if not self._queue:
            raise StopIteration
        return self._queue.popleft(), AnalysisError(STUB_REASON)

    def close(self) -> None:
        for pool in self._pools:
            pool.close()


class SimulatedCrash(Exception):
    """Raised at a chosen step of `media add`, where the process could have died."""


CRASHES = ("mid-copy", "before-record", "in-transaction", "after-commit")


@contextlib.contextmanager
def crashing(where: str, recorded: list[intake.AddResult]) -> Iterator[None]:
    """`add_media` raising SimulatedCrash at `where`: instead of recording the stored file
    (`_record`), inside the write transaction once the rows are inserted (`insert_media`),
    or once the add is committed (its result is appended to `recorded`)."""
    with pytest.MonkeyPatch.context() as m:
        if where == "before-record":

            def no_record(*args: Any, **kwargs: Any) -> None:
                raise SimulatedCrash(where)

            m.setattr(intake, "_record", no_record)
        elif where == "in-transaction":
            real_insert = intake.insert_media

            def insert(*args: Any, **kwargs: Any) -> tuple[int, int]:
                real_insert(*args, **kwargs)
                raise SimulatedCrash(where)

            m.setattr(intake, "insert_media", insert)
        else:
            assert where == "after-commit"
            real_record = intake._record

            def record(*args: Any, **kwargs: Any) -> None:
                real_record(*args, **kwargs)
                recorded.append(args[4])  # its AddResult
                raise SimulatedCrash(where)

            m.setattr(intake, "_record", record)
        yield


# ------------------------------------------------------------------ the model


@dataclass
class ModelCase:
    status: str = CaseStatus.UNVERIFIED.value
    history: list[tuple[str, str, str]] = field(default_factory=list)  # from, to, why
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class ModelMedia:
    case: str
    sha: str
    name: str


def sha_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def refusal(current: str, target: CaseStatus, why: str) -> bool:
    """Whether the status workflow (docs/concepts.md, its table) refuses the change."""
    was = CaseStatus(current)
    if target == was or target == CaseStatus.UNVERIFIED:
        return True
    if was in VERDICTS and target in VERDICTS:  # reopen first
        return True
    return (target in VERDICTS or was in VERDICTS) and not why


def projected(entry: dict[str, Any]) -> tuple[Any, ...]:
    """An audit entry as the model records it (anything unexpected stays distinct)."""
    p, action, case = entry["payload"], entry["action"], entry["case"]
    if action == "case.open":
        return (action, case, p["title"])
    if action == "media.add":
        restored = p.get("restored")
        return (action, case, p["media"], p["sha256"], p["original_name"], p["analysis"], restored)
    if action == "status.set":
        return (action, case, p["from"], p["to"], p["why"])
    if action == "note.add":
        return (action, case, p["text"])
    return (action, case, json.dumps(p, sort_keys=True))


class ArchiveModel(RuleBasedStateMachine):
    """One archive per run (a fresh home under `base`, which the test sets)."""

    base: Path

    cases = Bundle("cases")
    contents = Bundle("contents")

    def __init__(self) -> None:
        super().__init__()
        self.root = Path(tempfile.mkdtemp(prefix="run-", dir=self.base))
        self.home = self.root / "archive"
        self.incoming = self.root / "incoming"
        self.incoming.mkdir()
        self.archive = open_archive(self.home, actor=ACTOR)
        self.runner = CliRunner()
        self.files = 0
        # the model
        self.m_cases: dict[str, ModelCase] = {}  # in opening order
        self.m_media: dict[int, ModelMedia] = {}
        self.m_blobs: set[str] = set()  # bytes the database has a blob row for
        self.m_objects: dict[str, str] = {}  # in the store: intact, hash-mismatch, unreadable
        self.m_content: dict[str, bytes] = {}
        self.m_temps = 0  # temp files left in the store
        self.m_aside = 0  # damaged copies set aside under objects/damaged/
        self.m_audit: list[tuple[Any, ...]] = []
        self.reopened_at = (0, 0)

    def teardown(self) -> None:
        self.archive.close()
        shutil.rmtree(self.root, ignore_errors=True)

    # -------------------------------------------------------------- helpers

    def _incoming(self, data: bytes, name: str) -> Path:
        """`data` as a new file named `name` (a folder per file: names repeat)."""
        self.files += 1
        folder = self.incoming / str(self.files)
        folder.mkdir()
        path = folder / name
        path.write_bytes(data)
        self.m_content.setdefault(sha_of(data), data)
        return path

    def _object(self, sha: str) -> Path:
        return self.archive.store.path_for(sha)

    def _add(self, via: str, case: str, paths: list[Path]) -> list[dict[str, Any]]:
        """Files through one `media add` by `via`: each one's result as `--json` gives it,
        or (the CLI's human output, one file) the id it printed and its stderr lines."""
        if via.startswith("cli"):
            args = ["--home", str(self.home), "media", "add", case, *map(str, paths)]
            argv = [*args, "--json"] if via == "cli-json" else args
            r = self.runner.invoke(app, argv, catch_exceptions=False)
            assert r.exit_code == 2, r.stderr  # the stand-in analysis fails every file
            if via == "cli-json":
                return [dict(row) for row in json.loads(r.stdout)]
            assert len(paths) == 1 and r.stdout.strip().isdigit(), (r.stdout, r.stderr)
            return [{"media": int(r.stdout), "stderr": r.stderr.splitlines()}]
        if via == "intake":
            source = open_intake(self.home, None)
            assert source is not None  # a writable SQLite archive at the current schema
            try:
                results = intake.add_media(source, case, list(map(str, paths)))
            finally:
                source.close()
        else:
            results = intake.add_media(self.archive, case, list(map(str, paths)))
        return [r.to_dict() for r in results]

    def _expect_add(self, data: bytes) -> tuple[str, str | None, bool]:
        sha = sha_of(data)
        return sha, self.m_objects.get(sha), sha in self.m_blobs

    def _recorded(
        self,
        case: str,
        path: Path,
        got: dict[str, Any],
        before: tuple[str, str | None, bool],
    ) -> None:
        """Check a recorded add against the model's prediction, then update the model."""
        sha, state, known = before
        data = path.read_bytes()
        mid = got["media"]
        assert isinstance(mid, int) and mid not in self.m_media
        assert all(mid > other for other in self.m_media)
        said = (
            f"preserved earlier, and its analysis then failed: {STUB_REASON}"
            if known
            else f"preserved, but {STUB_REASON}"
        )
        copies = [
            {"case": m.case, "media": i, "original_name": m.name}
            for i, m in sorted(self.m_media.items())
            if m.sha == sha
        ]
        restored = state if state in ("hash-mismatch", "unreadable") else None
        if "stderr" in got:  # the CLI's human output: what the user is told, line by line
            lines = got["stderr"]
            aside, notice = None, ""
            if restored:
                was = "altered or damaged" if restored == "hash-mismatch" else "unreadable"
                notice = (
                    f"  the archive's copy of these bytes was {was}: restored from this file "
                    "(same SHA-256); the damaged copy is kept at "
                )
                assert len(lines) > 1 and lines[1].startswith(notice), lines
                aside = lines[1].removeprefix(notice)
            told = [
                f"  same bytes already in "
                f"{'this case' if c['case'] == case else 'case ' + str(c['case'])} "
                f"as media {c['media']} ({c['original_name']})"
                for c in copies
            ]
            assert lines == [
                f"[1/1] {path}: failed",
                *([f"{notice}{aside}"] if restored else []),
                *told,
                f"error: {path}: {said}",
            ]
        else:
            assert (got["sha256"], got["size"]) == (f"sha256:{sha}", len(data))
            assert (got["analysis"], got["analysis_error"]) == ("analysis_failed", STUB_REASON)
            assert got["error"] == f"{path}: {said}"
            assert got["already_stored"] is known
            assert got["exact_copies"] == copies
            assert got["restored"] == restored
            aside = got["damaged_copy"]
        if restored:
            assert aside is not None
            kept = Path(aside)
            assert kept.parent == self.home / "objects" / "damaged"
            assert kept.name.startswith(f"{sha}.")
            assert kept.exists() or kept.is_symlink()
            self.m_aside += 1
        else:
            assert aside is None
        self.m_objects[sha] = "intact"
        self.m_blobs.add(sha)
        self.m_media[mid] = ModelMedia(case, sha, path.name)
        self.m_audit.append(
            ("media.add", case, mid, f"sha256:{sha}", path.name, "analysis_failed", restored)
        )

    def _analysed(self, new: int) -> None:
        """Bytes with no blob row yet are analysed once (once per batch, however often
        they appear in it); bytes with one are not analysed again."""
        assert len(SUBMITTED) == new, SUBMITTED
        SUBMITTED.clear()

    # -------------------------------------------------------------- rules

    @initialize(target=cases, title=st.sampled_from(TITLES))
    def open_first_case(self, title: str) -> str:
        return self._open_case(title)

    @precondition(lambda self: len(self.m_cases) < MAX_CASES)
    @rule(target=cases, title=st.sampled_from(TITLES))
    def open_case(self, title: str) -> str:
        return self._open_case(title)

    def _open_case(self, title: str) -> str:
        base = title.lower().replace(" ", "-")
        slug, n = base, 2
        while slug in self.m_cases:
            slug, n = f"{base}-{n}", n + 1
        opened = case_service.open_case(self.archive, title)
        assert (opened["slug"], opened["status"]) == (slug, "unverified")
        self.m_cases[slug] = ModelCase()
        self.m_audit.append(("case.open", slug, title))
        return slug

    def _add_step(
        self,
        case: str,
        files: list[tuple[bytes, str]],
        via: str,
        crash: str | None = None,
    ) -> None:
        """Add `files` (bytes, name) to `case` in one `media add` by `via`, crashing at
        `crash` if given (`CRASHES`; one file), and check the outcome against the model:
        a batch is predicted as its files added one after the other, except that all are
        stored (and new bytes handed to analysis) before the first is recorded."""
        if crash == "mid-copy":  # what a kill while copying leaves: part of the bytes
            [(data, _)] = files
            base = self.archive.store.base
            base.mkdir(parents=True, exist_ok=True)
            fd, _ = tempfile.mkstemp(prefix="tmp-", dir=base)
            with os.fdopen(fd, "wb") as partial:
                partial.write(data[: len(data) // 2])
            self.m_temps += 1
            return
        new = len({sha_of(data) for data, _ in files} - self.m_blobs)
        paths = [self._incoming(data, name) for data, name in files]
        SUBMITTED.clear()
        if crash is None:
            got = self._add(via, case, paths)
            assert len(got) == len(paths)
            for path, result in zip(paths, got, strict=True):
                self._recorded(case, path, result, self._expect_add(path.read_bytes()))
            self._analysed(new)
            return
        [path] = paths
        sha, state, _ = before = self._expect_add(path.read_bytes())
        recorded: list[intake.AddResult] = []
        with crashing(crash, recorded), pytest.raises(SimulatedCrash):
            self._add(via, case, paths)
        self._analysed(new)
        if crash == "after-commit":
            [committed] = recorded
            self._recorded(case, path, committed.to_dict(), before)
            return
        # nothing recorded; the file was stored first (a missing copy is stored again)
        if state is None:
            self.m_objects[sha] = "intact"
        elif state != "intact" and crash == "before-record":
            # the verified bytes prepared to replace the damaged copy are `_record`'s to put
            # in place or drop (`_restoring`) once it is called: failing before it runs, as
            # a kill there would, leaves them as a temp file (`add_media`'s cleanup drops
            # only those of files a stopped batch never handed to `_record`)
            self.m_temps += 1

    def _lost(self) -> list[str]:
        """Bytes the archive held whose stored copy is now damaged or gone."""
        return sorted(
            sha
            for sha in self.m_content
            if self.m_objects.get(sha) != "intact"
            and (sha in self.m_blobs or sha in self.m_objects)
        )

    def _prefer_lost(self, data: bytes, lost: bool, choice: st.DataObject) -> bytes:
        """`data`, or, when `lost` and there are some, bytes whose stored copy is damaged
        or gone: a restore would be rare in a short run otherwise."""
        if lost and self._lost():
            return self.m_content[choice.draw(st.sampled_from(self._lost()), label="lost")]
        return data

    @rule(target=contents, case=cases, data=CONTENT, name=st.sampled_from(NAMES), via=VIA)
    def add_new_file(self, case: str, data: bytes, name: str, via: str) -> bytes:
        self._add_step(case, [(data, name)], via)
        return data

    @rule(
        case=cases,
        data=contents,
        lost=st.booleans(),
        choice=st.data(),
        name=st.sampled_from(NAMES),
        via=VIA,
    )
    def add_same_bytes_again(
        self, case: str, data: bytes, lost: bool, choice: st.DataObject, name: str, via: str
    ) -> None:
        self._add_step(case, [(self._prefer_lost(data, lost, choice), name)], via)

    @rule(
        target=contents,
        case=cases,
        files=st.lists(
            st.tuples(st.one_of(contents, CONTENT), st.sampled_from(NAMES), st.booleans()),
            min_size=2,
            max_size=4,
        ),
        choice=st.data(),
        via=st.sampled_from(("service", "intake", "cli-json")),
    )
    def add_a_batch(
        self,
        case: str,
        files: list[tuple[bytes, str, bool]],
        choice: st.DataObject,
        via: str,
    ) -> Any:
        """Several files in one `media add`, new and known bytes mixed (the same bytes may
        come twice)."""
        chosen = [(self._prefer_lost(data, lost, choice), name) for data, name, lost in files]
        self._add_step(case, chosen, via)
        return multiple(*(data for data, _ in chosen))

    @rule(data=CONTENT, via=VIA)
    def add_to_a_case_that_does_not_exist(self, data: bytes, via: str) -> None:
        path = self._incoming(data, "stray.bin")
        if via.startswith("cli"):
            r = self.runner.invoke(
                app,
                ["--home", str(self.home), "media", "add", "no-such-case", str(path)],
                catch_exceptions=False,
            )
            assert (r.exit_code, r.stdout) == (4, ""), r.stderr
            assert r.stderr.startswith("error: ") and r.stderr.count("\n") == 1, r.stderr
            return
        with pytest.raises(NotFoundError):
            self._add(via, "no-such-case", [path])

    @rule(
        target=contents,
        case=cases,
        data=st.one_of(contents, CONTENT),
        lost=st.booleans(),
        choice=st.data(),
        via=st.sampled_from(("service", "intake")),  # the seams raise in this process
        where=st.sampled_from(CRASHES),
    )
    def crash_during_an_add(
        self, case: str, data: bytes, lost: bool, choice: st.DataObject, via: str, where: str
    ) -> bytes:
        data = self._prefer_lost(data, lost, choice)
        self._add_step(case, [(data, "crash.bin")], via, where)
        return data

    @rule(case=cases, target_status=st.sampled_from(list(CaseStatus)), why=st.none() | TEXT)
    def set_status(self, case: str, target_status: CaseStatus, why: str | None) -> None:
        mc = self.m_cases[case]
        rationale = (why or "").strip()
        if refusal(mc.status, target_status, rationale):
            with pytest.raises(BadInputError):
                status_service.set_status(self.archive, case, target_status.value, why)
            return
        change = status_service.set_status(self.archive, case, target_status.value, why)
        assert (change["from"], change["to"]) == (mc.status, target_status.value)
        mc.history.append((mc.status, target_status.value, rationale))
        self.m_audit.append(("status.set", case, mc.status, target_status.value, rationale))
        mc.status = target_status.value

    @rule(case=cases, text=TEXT)
    def add_note(self, case: str, text: str) -> None:
        if not text.strip():
            with pytest.raises(BadInputError):
                case_service.add_note(self.archive, case, text)
            return
        case_service.add_note(self.archive, case, text)
        self.m_cases[case].notes.append(text.strip())
        self.m_audit.append(("note.add", case, text.strip()))

    def _changes(self) -> tuple[int, int]:
        return len(self.m_audit), self.files

    @precondition(lambda self: self._changes() != self.reopened_at)  # not twice in a row
    @rule()
    def reopen_archive(self) -> None:
        self.archive.close()
        self.archive = open_archive(self.home, actor=ACTOR)
        self.reopened_at = self._changes()

    @precondition(lambda self: bool(self.m_objects))
    @rule(choice=st.data(), how=st.sampled_from((*sorted(DAMAGES), "delete")))
    def damage_or_delete_an_object(self, choice: st.DataObject, how: str) -> None:
        """Flip a bit, truncate, put a folder in its place (an intact object), or delete
        one (any object in the store)."""
        if how == "delete":
            sha = choice.draw(st.sampled_from(sorted(self.m_objects)), label="object")
            path = self._object(sha)
            if path.is_dir() and not path.is_symlink():
                path.rmdir()
            else:
                path.unlink()
            del self.m_objects[sha]
            return
        intact = sorted(s for s, state in self.m_objects.items() if state == "intact")
        if not intact:
            return
        sha = choice.draw(st.sampled_from(intact), label="object")
        path = self._object(sha)
        data = path.read_bytes()
        if how == "folder":
            path.unlink()
            path.mkdir()
        else:
            path.chmod(0o644)
            if not data:
                damaged = b"\0"
            elif how == "flip":
                i = choice.draw(st.integers(0, len(data) - 1), label="byte")
                bit = choice.draw(st.integers(0, 7), label="bit")
                damaged = data[:i] + bytes([data[i] ^ (1 << bit)]) + data[i + 1 :]
            else:
                damaged = data[: choice.draw(st.integers(0, len(data) - 1), label="keep")]
            path.write_bytes(damaged)
            path.chmod(0o444)
        self.m_objects[sha] = DAMAGES[how]

    # -------------------------------------------------------------- invariants

    @invariant()
    def database_matches_the_model(self) -> None:
        listed = caselist.list_cases(self.archive)
        assert [(c["slug"], c["status"]) for c in listed] == [
            (slug, mc.status) for slug, mc in self.m_cases.items()
        ]
        for slug, mc in self.m_cases.items():
            shown = caselist.show_case(self.archive, slug)
            assert [n["text"] for n in shown["notes"]] == mc.notes
            history = caselist.status_history(self.archive, slug)
            assert [(h["from"], h["to"], h["why"]) for h in history] == [
                (None, "unverified", "case opened"),
                *mc.history,
            ]
            media = mediaread.list_media(self.archive, slug)
            assert [
                (m["id"], m["sha256"], m["original_name"], m["analysis"], m["acquired_by"])
                for m in media
            ] == [
                (i, f"sha256:{m.sha}", m.name, "analysis_failed", ACTOR)
                for i, m in self.m_media.items()
                if m.case == slug
            ]
        with self.archive.reader() as db:
            blobs = {str(sha) for (sha,) in db.rows("SELECT sha256 FROM blobs")}
            count = db.rows("SELECT count(*) FROM media")[0][0]
        assert blobs == self.m_blobs
        assert count == len(self.m_media)

    @invariant()
    def store_matches_the_model(self) -> None:
        store = self.archive.store
        assert sorted(store.iter_objects()) == sorted(self.m_objects)
        for sha, state in self.m_objects.items():
            path = self._object(sha)
            if state == "intact":  # read here, not through the store's own check
                assert stat.S_ISREG(path.lstat().st_mode)
                assert stat.S_IMODE(path.lstat().st_mode) == 0o444
                data = path.read_bytes()
                assert hashlib.sha256(data).hexdigest() == sha
                assert data == self.m_content[sha]
        assert len(list(store.iter_temp())) == self.m_temps
        aside = store.root / "damaged"
        assert len(list(aside.iterdir()) if aside.is_dir() else []) == self.m_aside
        assert list(store.iter_stray()) == []

    @invariant()
    def check_reports_what_the_model_predicts(self) -> None:
        report = check_archive(self.archive)
        expected = []
        for sha in self.m_blobs:
            state = self.m_objects.get(sha, "missing")
            if state != "intact":
                expected.append((state, f"sha256:{sha}"))
        expected += [("orphan", f"sha256:{s}") for s in self.m_objects if s not in self.m_blobs]
        found = [(f.category, f.subject) for f in report.findings if f.category != "temp-file"]
        assert sorted(found) == sorted(expected)
        assert sum(f.category == "temp-file" for f in report.findings) == self.m_temps
        assert report.ok == all(category in HARMLESS for category, _ in expected)
        assert report.objects_checked == len(self.m_blobs)
        assert report.first_bad_seq is None
        assert report.audit_entries == report.audit_stored == len(self.m_audit)

    @invariant()
    def audit_trail_is_the_models_changes(self) -> None:
        entries = logread.read_log(self.archive)
        assert [projected(e) for e in entries] == self.m_audit
        assert [e["seq"] for e in entries] == list(range(1, len(entries) + 1))
        assert {e["actor"] for e in entries} <= {ACTOR}
        head = logread.head(self.archive)  # verifies the chain, as `verify log --head`
        assert head["seq"] == len(entries)


# pytest-timeout's 300 s (pyproject.toml) grows with the size asked for
@pytest.mark.timeout(300 + EXAMPLES * STEPS // 10)
def test_archive_state_machine(home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Model == database == store, after every step (see the module docstring)."""
    # `add_media` imports these in a background thread once an analysis is submitted; a
    # module half-imported by it can break Hypothesis's own checks (`numpy.ndarray`)
    import verify.analysis.metadata
    import verify.services.search  # noqa: F401

    monkeypatch.setattr(sandbox, "Analyses", StubAnalyses)
    monkeypatch.setattr(sandbox, "warm_pools", lambda n, **kwargs: [])
    runs = tmp_path / "runs"
    runs.mkdir()

    class Machine(ArchiveModel):
        base = runs

    run_state_machine_as_test(Machine, settings=SETTINGS)
