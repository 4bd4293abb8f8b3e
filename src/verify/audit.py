"""Tamper-evident audit trail: an append-only hash chain plus a head record.

Each entry's hash is SHA-256 over a canonical JSON array of
``["verify-audit-v1", seq, at, actor, action, case, payload, prev_hash]`` where
``payload`` is itself canonical JSON (sorted keys, no whitespace) and ``at`` is stored as
text, so what is hashed is exactly what is stored. The first entry's ``prev_hash`` is
``sha256:`` followed by 64 zeros.

The chain detects any edit, deletion, reordering or insertion of entries made behind the
tool's back, and names the first bad sequence number. The head row (seq, hash), written in
the same transaction as each append, catches a deleted or appended *last* entry. Someone
able to rewrite the whole table and the head consistently is caught only by an older
checkpoint kept elsewhere: `verify log --head` prints one, `verify check --against`
compares with it.

An entry's `at` is the clock of the machine that wrote it, which the chain protects but
cannot vouch for: `clock_findings` reads the times against the order the chain proves, and
an entry written under the pinned clock of tests and demos (`VERIFY_FAKE_NOW`) says so in
its payload (`CLOCK_KEY`).
"""

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol

import orjson

from verify.timeutil import FAKE_NOW, iso, now, parse_utc, pinned

if TYPE_CHECKING:
    from sqlmodel import Session

    from verify.dbwrite import Writer

GENESIS = "sha256:" + "0" * 64
CHAIN_VERSION = "verify-audit-v1"
# Entries that record what was written *from* the archive (reports, frame working copies,
# copies of the preserved files): custody facts, but no change to what the archive holds.
# A report's audit checkpoint and the case's last change (`report --at`) skip them.
REPORT_WRITE = "report.write"
FRAMES_EXPORT = "media.frames.export"
MEDIA_EXPORT = "media.export"
CASE_EXPORT = "case.export"
OUTPUT_ACTIONS = (REPORT_WRITE, FRAMES_EXPORT, MEDIA_EXPORT, CASE_EXPORT)
# What a case-file import that changed a case left it as (`"state"`, its state digest): with
# the `base` of each `case.export`, the states of the case another archive may hold
# (`casefile.known_states`). Not an output: the import's changes come with it.
CASE_IMPORT = "case.import"
# An entry written under a pinned clock (`VERIFY_FAKE_NOW`, tests and demos) carries
# `"clock": "VERIFY_FAKE_NOW"` in its payload: its `at` is what the clock was pinned to.
CLOCK_KEY = "clock"
PINNED_CLOCK = FAKE_NOW
_PINNED_TEXT = f'"{CLOCK_KEY}":"{PINNED_CLOCK}"'  # as canonical JSON writes it
# How far an entry may be dated before an earlier one without a finding: the clocks of a
# team's machines writing one PostgreSQL archive differ a little (`clock_findings`).
CLOCK_SKEW = timedelta(minutes=5)


def canonical_json(value: Any) -> str:
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()


def entry_hash(
    seq: int, at: str, actor: str, action: str, case: str | None, payload: str, prev_hash: str
) -> str:
    material = canonical_json([CHAIN_VERSION, seq, at, actor, action, case, payload, prev_hash])
    return "sha256:" + hashlib.sha256(material.encode()).hexdigest()


@dataclass(frozen=True)
class Appended:
    """The entry just appended."""

    seq: int
    at: str
    hash: str


def append_row(
    w: "Writer",
    *,
    actor: str,
    action: str,
    case: str | None,
    payload: dict[str, Any],
) -> Appended:
    """Append one entry inside the caller's write transaction (BEGIN IMMEDIATE on SQLite, the
    advisory lock on PostgreSQL), with or without the ORM: the one implementation."""
    head = w.rows("SELECT seq, hash FROM audit_head WHERE id = 1")
    seq = 1 if not head else int(head[0][0]) + 1
    prev = GENESIS if not head else str(head[0][1])
    at = iso(now())
    assert at is not None
    if pinned():  # `now` has refused it unless it is allowed
        assert CLOCK_KEY not in payload, payload
        payload = {**payload, CLOCK_KEY: PINNED_CLOCK}
    body = canonical_json(payload)
    digest = entry_hash(seq, at, actor, action, case, body, prev)
    w.insert(
        "audit_entries",
        {
            "seq": seq,
            "at": at,
            "actor": actor,
            "action": action,
            "case_slug": case,
            "payload": body,
            "prev_hash": prev,
            "hash": digest,
        },
        returns_id=False,
    )
    if not head:
        w.insert("audit_head", {"id": 1, "seq": seq, "hash": digest}, returns_id=False)
    else:
        w.update("audit_head", 1, {"seq": seq, "hash": digest})
    return Appended(seq=seq, at=at, hash=digest)


def append(
    session: "Session",
    *,
    actor: str,
    action: str,
    case: str | None,
    payload: dict[str, Any],
) -> Appended:
    """`append_row` inside an ORM session's write transaction (its pending rows are flushed
    first, so the entry follows them)."""
    from verify.dbwrite import SqlAlchemyWriter

    session.flush()
    return append_row(
        SqlAlchemyWriter(session.connection()),
        actor=actor,
        action=action,
        case=case,
        payload=payload,
    )


@dataclass(frozen=True)
class ChainReport:
    ok: bool
    entries: int
    head_seq: int
    head_hash: str
    first_bad_seq: int | None = None
    reason: str | None = None


class ChainLink(Protocol):
    """What `verify_chain` reads of an entry: an `AuditEntry` row, or the same columns read
    without the ORM (`verify.services.logread`)."""

    @property
    def seq(self) -> int: ...
    @property
    def at(self) -> str: ...
    @property
    def actor(self) -> str: ...
    @property
    def action(self) -> str: ...
    @property
    def case_slug(self) -> str | None: ...
    @property
    def payload(self) -> str: ...
    @property
    def prev_hash(self) -> str: ...
    @property
    def hash(self) -> str: ...


class ChainHead(Protocol):
    @property
    def seq(self) -> int: ...
    @property
    def hash(self) -> str: ...


def verify_chain(entries: Iterable[ChainLink], head: ChainHead | None) -> ChainReport:
    """Walk the chain in seq order; report the first sequence number that does not verify."""
    expected_seq = 1
    prev = GENESIS
    count = 0

    def bad(seq: int, reason: str) -> ChainReport:
        return ChainReport(
            False, count, head.seq if head else 0, head.hash if head else GENESIS, seq, reason
        )

    for entry in entries:
        if entry.seq != expected_seq:
            if entry.seq > expected_seq:
                return bad(expected_seq, f"entry {expected_seq} is missing")
            return bad(entry.seq, f"entry {entry.seq} is out of order or duplicated")
        if entry.prev_hash != prev:
            return bad(entry.seq, f"entry {entry.seq} does not follow entry {entry.seq - 1}")
        recomputed = entry_hash(
            entry.seq,
            entry.at,
            entry.actor,
            entry.action,
            entry.case_slug,
            entry.payload,
            entry.prev_hash,
        )
        if recomputed != entry.hash:
            return bad(entry.seq, f"entry {entry.seq} was altered (hash mismatch)")
        prev = entry.hash
        count += 1
        expected_seq += 1

    last_seq = expected_seq - 1
    if head is None:
        if count:
            return bad(1, "the audit head record is missing")
        return ChainReport(True, 0, 0, GENESIS)
    if head.seq > last_seq:
        return bad(last_seq + 1, f"entry {last_seq + 1} is missing (the head says {head.seq})")
    if head.seq < last_seq:
        return bad(head.seq + 1, f"entry {head.seq + 1} was added behind the tool's back")
    if head.hash != prev:
        return bad(last_seq, f"entry {last_seq} does not match the recorded head")
    return ChainReport(True, count, head.seq, head.hash)


@dataclass(frozen=True)
class ClockFinding:
    """Entries `first`..`last` (seq) whose times are not when they were written."""

    first: int
    last: int
    detail: str
    kind: int = 0  # for the order of findings about the same entries: pinned, behind, unreadable

    @property
    def subject(self) -> str:
        return f"seq {self.first}" if self.first == self.last else f"seq {self.first}-{self.last}"


def written_under_pinned_clock(payload: str) -> bool:
    """The entry's payload (canonical JSON) says it was written under `VERIFY_FAKE_NOW`."""
    if _PINNED_TEXT not in payload:  # the cheap test first: almost never there
        return False
    try:
        value = orjson.loads(payload)
    except orjson.JSONDecodeError:
        return False
    return isinstance(value, dict) and value.get(CLOCK_KEY) == PINNED_CLOCK


def clock_findings(entries: Iterable[ChainLink]) -> list[ClockFinding]:
    """What an intact chain's times say about the clocks that dated its entries (in seq
    order; the chain itself proves the order, not the times):

    - entries dated more than `CLOCK_SKEW` before an entry written earlier (the latest-dated
      one so far), each run of such consecutive entries under that entry once: the clock
      that dated them was behind or set back (`VERIFY_FAKE_NOW`, a wrong system clock), or
      that entry's was ahead, which the trail alone cannot tell apart;
    - runs of consecutive entries written under a pinned clock (`VERIFY_FAKE_NOW`);
    - an entry whose time cannot be read (only a forger who rewrote the chain writes one).
    """
    out: list[ClockFinding] = []
    latest: tuple[datetime, int, str] | None = None  # the latest-dated entry so far
    behind: list[tuple[int, datetime, str]] = []  # the current run: seq, time, as stored
    behind_of: tuple[datetime, int, str] | None = None  # the entry the run is dated before
    pinned_run: list[int] = []

    def close_behind() -> None:
        if behind and behind_of is not None:
            out.append(_behind_finding(behind, behind_of))
        behind.clear()

    def close_pinned() -> None:
        if pinned_run:
            out.append(_pinned_finding(pinned_run[0], pinned_run[-1]))
        pinned_run.clear()

    for entry in entries:
        seq, at = entry.seq, entry.at
        if written_under_pinned_clock(entry.payload):
            if pinned_run and pinned_run[-1] != seq - 1:
                close_pinned()
            pinned_run.append(seq)
        else:
            close_pinned()
        try:
            when = parse_utc(at)
        except (ValueError, OverflowError):
            close_behind()
            out.append(ClockFinding(seq, seq, f"its time {at!r} cannot be read", 2))
            continue
        if latest is not None and when < latest[0] - CLOCK_SKEW:
            if behind and (behind[-1][0] != seq - 1 or behind_of != latest):
                close_behind()
            behind_of = latest
            behind.append((seq, when, at))
            continue
        close_behind()
        if latest is None or when > latest[0]:
            latest = (when, seq, at)
    close_behind()
    close_pinned()
    return sorted(out, key=lambda f: (f.first, f.last, f.kind))


def _behind_finding(
    run: list[tuple[int, datetime, str]], of: tuple[datetime, int, str]
) -> ClockFinding:
    (ref_when, ref_seq, ref_at), earliest = of, min(w for _, w, _ in run)
    if len(run) == 1:
        dated = f"dated {run[0][2]}, {_span(ref_when - earliest)} before"
    else:
        dated = (
            f"{len(run)} entries dated {iso(earliest)} to {iso(max(w for _, w, _ in run))}, "
            f"up to {_span(ref_when - earliest)} before"
        )
    return ClockFinding(
        run[0][0],
        run[-1][0],
        f"{dated} seq {ref_seq} ({ref_at}), though written after it: the clock that dated "
        f"{'it' if len(run) == 1 else 'them'} was behind or set back ({PINNED_CLOCK}, a "
        f"wrong system clock), or the one that dated seq {ref_seq} was ahead; the order of "
        "the trail is its seq, not its times",
        1,
    )


def _pinned_finding(first: int, last: int) -> ClockFinding:
    if first == last:
        said = "written under a pinned clock ({}): its time is what the clock was set to"
    else:
        said = (
            f"{last - first + 1} entries written under a pinned clock ({{}}): their times "
            "are what the clock was set to"
        )
    return ClockFinding(first, last, said.format(PINNED_CLOCK) + ", not when written")


def _span(gap: timedelta) -> str:
    """A gap of more than `CLOCK_SKEW`, roughly: `1292 days`, `3 h 12 min`, `7 min 5 s`."""
    seconds = int(gap.total_seconds())
    if seconds >= 2 * 86400:
        return f"{seconds // 86400} days"
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours} h {minutes} min"
    return f"{minutes} min {secs} s" if secs else f"{minutes} min"
