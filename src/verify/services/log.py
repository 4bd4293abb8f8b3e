"""Checking the archive's integrity (`verify check`).
Listing the audit trail (`verify log`) is `verify.services.logread`, without the ORM."""

import re
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import text
from sqlalchemy.exc import DatabaseError
from sqlmodel import col, select

from verify import audit
from verify.archive import Archive
from verify.dbread import SqlAlchemyReader, database_failure, sqlite_reason
from verify.errors import BadInputError, IntegrityFailure
from verify.models import AuditEntry, AuditHead, Blob
from verify.services.statecheck import check_state

UNREADABLE = "cannot be read"  # a db-integrity finding's detail: the check stopped there


@dataclass
class Finding:
    category: (
        str  # db-integrity, audit-chain, state, clock, alias, missing, hash-mismatch,
        # unreadable, orphan, temp-file, stray, link, checkpoint
    )
    subject: str
    detail: str

    def to_dict(self) -> dict[str, str]:
        return {"category": self.category, "subject": self.subject, "detail": self.detail}


# Findings that are not damage to what the database records: leftovers of an interrupted
# write (orphan, temp-file) and entries the store never writes (stray), listed for a person
# to look at; the evidence itself is checked object by object.
HARMLESS = frozenset({"orphan", "temp-file", "stray"})
# Entries whose times are not when they were written (`audit.clock_findings`): reported,
# and the check still passes. The entries are intact and in order; a clock was wrong or
# pinned, which no later change can undo, so failing for it would fail the archive for good
# and make exit 3 mean less (docs/concepts.md#entry-times).
# Accounts stored under another name of their platform (`alias_findings`): the upgrade to
# schema 0005 left them as they were rather than merge two accounts; nothing was altered.
NOT_FAILING = HARMLESS | {"clock", "alias"}


@dataclass
class CheckReport:
    findings: list[Finding] = field(default_factory=list)
    audit_entries: int = 0  # entries verified (all of them when the chain is whole)
    audit_stored: int = 0  # entries in the database
    audit_head: str = audit.GENESIS
    first_bad_seq: int | None = None
    objects_checked: int = 0

    @property
    def ok(self) -> bool:
        return all(f.category in NOT_FAILING for f in self.findings)

    @property
    def clock_entries(self) -> list[tuple[int, int]]:
        """The entries of the `clock` findings (times not when they were written), as
        ranges of seq (first, last), merged and in order."""
        spans: list[tuple[int, int]] = []
        for f in self.findings:
            if f.category == "clock":
                a, _, b = f.subject.removeprefix("seq ").partition("-")
                spans.append((int(a), int(b or a)))
        merged: list[tuple[int, int]] = []
        for first, last in sorted(spans):
            if merged and first <= merged[-1][1] + 1:
                merged[-1] = (merged[-1][0], max(last, merged[-1][1]))
            else:
                merged.append((first, last))
        return merged

    @property
    def unreadable_database(self) -> bool:
        """The database could not be read through: the trail and the store were not checked."""
        return any(
            f.category == "db-integrity" and f.detail.startswith(UNREADABLE) for f in self.findings
        )

    @property
    def objects_missing(self) -> int:
        """Objects checked that are not in the evidence store (so not re-hashed)."""
        return sum(f.category == "missing" for f in self.findings)

    @property
    def only_missing(self) -> bool:
        return only_missing(self.objects_checked, [f.category for f in self.findings])

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "audit": {
                "entries": self.audit_entries,
                "stored": self.audit_stored,
                "head": self.audit_head,
                "first_bad_seq": self.first_bad_seq,
            },
            "objects_checked": self.objects_checked,
            "findings": [f.to_dict() for f in self.findings],
        }


def only_missing(objects_checked: int, categories: Sequence[str]) -> bool:
    """Every file checked is missing and nothing else is wrong (findings by category): most
    likely the archive's files were added under another home (a colleague's, on a team
    archive)."""
    missing = sum(c == "missing" for c in categories)
    return (
        objects_checked > 0
        and missing == objects_checked
        and all(c in (*NOT_FAILING, "missing") for c in categories)
    )


def _holders(archive: Archive, blob_ids: list[int]) -> dict[int, list[str]]:
    """Per file: 'media ID in case SLUG' for each media holding it (search's `holdings`)."""
    if not blob_ids:
        return {}
    from verify.services.search import holdings

    with archive.read() as session:
        held = holdings(SqlAlchemyReader(session.connection()), blob_ids)
    return {b: [f"media {h.media} in case {h.case}" for h in media] for b, media in held.items()}


def check_archive(
    archive: Archive,
    *,
    against: str | None = None,
    objects: Collection[str] | None = None,
    clock_to_last_change: bool = False,
) -> CheckReport:
    """Verify the database, the audit chain, that the cases, claims and attributions agree
    with what the chain last recorded (`statecheck`), and every stored object.

    `against` is an earlier checkpoint `SEQ:sha256:HEX` (from `verify log --head`): the
    entry with that seq must still carry that hash. `objects` (SHA-256 hex digests) limits
    the re-hashing, the costly part, to those objects (a case's report checks its own); the
    database, the chain, orphans and temp files are always checked in full.
    `clock_to_last_change` limits the clock findings to the entries up to the last one that
    is not an output (`audit.OUTPUT_ACTIONS`; a report's audit checkpoint), so that writing
    a report does not change the next one rendered from the same archive.
    """
    report = CheckReport()
    try:
        blob_ids = _check_database(archive, report, against, clock_to_last_change)
    except DatabaseError as exc:  # a damaged SQLite file may fail the very check
        if not isinstance(database_failure(exc), IntegrityFailure):
            raise
        report.findings.append(
            Finding("db-integrity", "database", f"{UNREADABLE}: {sqlite_reason(exc)}")
        )
        return report  # nothing in it to check the evidence store against
    known = set(blob_ids)
    bad: list[tuple[str, str]] = []
    for sha in sorted(known if objects is None else known & set(objects)):
        problem = archive.store.verify_object(sha)
        report.objects_checked += 1
        if problem:
            bad.append((sha, problem))
    held = _holders(archive, [blob_ids[sha] for sha, _ in bad])
    for sha, problem in bad:
        what = {
            "missing": "not in the evidence store",
            "hash-mismatch": "altered or damaged",
        }.get(problem, "cannot be read (not a regular file, or an error reading it)")
        where = ", ".join(held.get(blob_ids[sha], [])) or "no media"
        report.findings.append(Finding(problem, f"sha256:{sha}", f"object {what} ({where})"))
    for sha in archive.store.iter_objects():
        if sha not in known:
            report.findings.append(
                Finding("orphan", f"sha256:{sha}", "object not referenced by the database")
            )
    for tmp in archive.store.iter_temp():
        report.findings.append(Finding("temp-file", str(tmp), "left by an interrupted write"))
    for path in archive.store.iter_stray():
        if path.is_symlink():
            # what it leads to is outside the store, objects the database holds included:
            # deleting it, as a stray, would lose them
            report.findings.append(
                Finding(
                    "link",
                    str(path),
                    "a symbolic link in the evidence store (verify "
                    "never writes one): whatever is reached through it is outside the store",
                )
            )
        else:
            report.findings.append(
                Finding("stray", str(path), "not an object of the store (verify never writes this)")
            )
    return report


def _check_database(
    archive: Archive, report: CheckReport, against: str | None, clock_to_last_change: bool
) -> dict[str, int]:
    """The database's part of `check_archive`, its findings added to `report`: SQLite's
    integrity and foreign keys, the chain, the rows against it, the checkpoint. Returns the
    stored objects' ids by SHA-256."""
    with archive.read() as session:
        if archive.is_sqlite:
            rows = session.execute(text("PRAGMA integrity_check")).all()
            problems = [str(r[0]) for r in rows if str(r[0]) != "ok"]
            for p in problems:
                report.findings.append(Finding("db-integrity", "database", p))
            fk = session.execute(text("PRAGMA foreign_key_check")).all()
            for r in fk:
                report.findings.append(
                    Finding("db-integrity", f"table {r[0]}", f"row {r[1]} breaks a foreign key")
                )
        entries = session.exec(select(AuditEntry).order_by(col(AuditEntry.seq))).all()
        chain = audit.verify_chain(entries, session.get(AuditHead, 1))
        report.audit_entries = chain.entries
        report.audit_stored = len(entries)
        report.audit_head = chain.head_hash
        if not chain.ok:
            report.first_bad_seq = chain.first_bad_seq
            report.findings.append(
                Finding("audit-chain", f"seq {chain.first_bad_seq}", chain.reason or "bad")
            )
        if chain.ok:  # a broken trail is no reference to compare the rows with
            for m in check_state(session, entries):
                report.findings.append(Finding("state", m.subject, m.detail))
            dated: Sequence[AuditEntry] = entries
            if clock_to_last_change:
                changes = [i for i, e in enumerate(entries) if e.action not in audit.OUTPUT_ACTIONS]
                dated = entries[: changes[-1] + 1] if changes else []
            for c in audit.clock_findings(dated):
                report.findings.append(Finding("clock", c.subject, c.detail))
        for a in alias_findings(session):
            report.findings.append(Finding("alias", a.subject, a.detail))
        if against is not None:  # "" (e.g. from an empty checkpoint file) is bad input
            report.findings.extend(_check_checkpoint(session, against))
        stored = session.exec(select(Blob.sha256, Blob.id)).all()
        blob_ids = {sha: i for sha, i in stored if i is not None}  # ids are never null
    return blob_ids


def alias_findings(session: Any) -> list[Finding]:
    """The accounts stored under another name of their platform (`ig` for `instagram`),
    which migration 0005 did not move: another account has the name there, and moving one
    would have made the two one actor's, silently. The ref such an account is shown by
    names the other one now (or none), so this one is out of reach of the command line;
    its records stay with it. Each is an `alias` finding, which does not fail the check."""
    from verify.errors import VerifyError
    from verify.models import Account
    from verify.services.provenance import find_account
    from verify.services.provlogic import ref_of
    from verify.vocab import platform_name

    out: list[Finding] = []
    stored = session.exec(select(Account).order_by(col(Account.id))).all()
    for account in stored:
        now = platform_name(account.platform)
        if now == account.platform:
            continue
        ref = ref_of(account.platform, account.handle)
        try:
            other = find_account(session, ref)
        except VerifyError:  # not a ref the command line reads at all
            other = None
        names = (
            f"{ref!r} names no account now"
            if other is None
            else f"{ref!r} names account {other.id} ({ref_of(other.platform, other.handle)}) now"
        )
        out.append(
            Finding(
                "alias",
                f"account {account.id} ({ref})",
                f"stored under {account.platform!r}, another name of {now}: the upgrade to "
                "schema 0005 did not move it there, as another account of the same name is "
                f"(or would have been) there, and the two are not merged; {names}, and this "
                "one keeps its attributions and appearances",
            )
        )
    return out


def _check_checkpoint(session: Any, against: str) -> list[Finding]:
    seq_text, _, digest = against.strip().partition(":")
    if not seq_text.isdigit() or not re.fullmatch(r"sha256:[0-9a-f]{64}", digest):
        raise BadInputError(
            f"bad checkpoint {against!r}: expected SEQ:sha256:HEX as printed by `verify log --head`"
        )
    entry = session.get(AuditEntry, int(seq_text))
    if entry is None:
        return [Finding("checkpoint", f"seq {seq_text}", "the checkpoint's entry is gone")]
    if entry.hash != digest:
        return [Finding("checkpoint", f"seq {seq_text}", "the entry differs from the checkpoint")]
    return []
