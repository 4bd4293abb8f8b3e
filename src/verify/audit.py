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
cannot vouch for: an entry written under the pinned clock of tests and demos
(`VERIFY_FAKE_NOW`) says so in its payload (`CLOCK_KEY`).
"""

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

import orjson

from verify.timeutil import FAKE_NOW, iso, now, pinned

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
# An entry written under a pinned clock (`VERIFY_FAKE_NOW`, tests and demos) carries
# `"clock": "VERIFY_FAKE_NOW"` in its payload: its `at` is what the clock was pinned to.
CLOCK_KEY = "clock"
PINNED_CLOCK = FAKE_NOW


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
