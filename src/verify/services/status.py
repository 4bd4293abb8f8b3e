"""Verification status workflow, with history and a rationale for every change.

Open statuses: unverified (a new case), in_progress, needs_review. Verdicts: verified,
misattributed, misleading, false, inconclusive. Rules:
- a verdict needs a rationale (`--why`);
- reopening a case that has a verdict needs a rationale, and goes to in_progress or
  needs_review (never back to unverified);
- nothing goes back to `unverified`, and setting the current status again is refused.
"""

from typing import Any

from sqlmodel import Session, col, select

from verify import audit
from verify.archive import Archive
from verify.errors import BadInputError
from verify.models import Case, StatusChange, pk
from verify.services.cases import check_text, get_case
from verify.timeutil import iso, now
from verify.vocab import OPEN_STATUSES, VERDICTS, CaseStatus, parse_enum


def allowed_transitions(current: CaseStatus) -> list[CaseStatus]:
    if current in VERDICTS:
        return [CaseStatus.IN_PROGRESS, CaseStatus.NEEDS_REVIEW]
    return [s for s in CaseStatus if s not in (current, CaseStatus.UNVERIFIED)]


def set_status(archive: Archive, ref: str, status: str, why: str | None = None) -> dict[str, Any]:
    """Move a case to `status`; returns the recorded change."""
    if status not in set(CaseStatus) and ref.strip().lower() in set(CaseStatus):
        # `verify status set in_progress my-case`: the two the other way round
        raise BadInputError(
            f"unknown status {status!r}; the case comes first: "
            f"`verify status set {status} {ref.strip().lower()}`"
        )
    target = parse_enum(CaseStatus, status, "status")
    check_text(why)
    rationale = (why or "").strip()
    with archive.write() as session:
        case = get_case(session, ref)
        current = CaseStatus(case.status)
        allowed = allowed_transitions(current)
        if target == current:
            raise BadInputError(f"case {case.slug!r} is already {current}{_since(session, case)}")
        if target not in allowed:
            names = ", ".join(s.value for s in allowed)
            raise BadInputError(
                f"case {case.slug!r} cannot go from {current} to {target}; allowed: {names}"
            )
        if target in VERDICTS and not rationale:
            raise BadInputError(f"the verdict {target} needs a rationale: add --why TEXT")
        if current in VERDICTS and target in OPEN_STATUSES and not rationale:
            raise BadInputError(
                f"reopening case {case.slug!r} (now {current}) needs a rationale: add --why TEXT"
            )
        at = now()
        change = StatusChange(
            case_id=pk(case),
            from_status=current.value,
            to_status=target.value,
            rationale=rationale,
            at=at,
            by=archive.actor,
        )
        session.add(change)
        case.status = target.value
        case.updated_at = at
        case.updated_by = archive.actor
        session.add(case)
        audit.append(
            session,
            actor=archive.actor,
            action="status.set",
            case=case.slug,
            # who and when as the history row has them, for `verify check` to compare
            payload={
                "from": current.value,
                "to": target.value,
                "why": rationale,
                "by": archive.actor,
                "at": iso(at),
            },
        )
        return change_to_dict(change)


def _since(session: Session, case: Case) -> str:
    """' (set by alice at 2023-05-23T10:00:00Z)', from the case's last status change; the
    two may have raced to the same status. '' when the status was never changed."""
    last = session.exec(
        select(StatusChange)
        .where(StatusChange.case_id == pk(case))
        .order_by(col(StatusChange.id).desc())
        .limit(1)
    ).first()
    return f" (set by {last.by} at {iso(last.at)})" if last is not None else ""


def change_to_dict(change: StatusChange) -> dict[str, Any]:
    return {
        "from": change.from_status,
        "to": change.to_status,
        "why": change.rationale,
        "at": iso(change.at),
        "by": change.by,
    }


def history_of(session: Session, case: Case) -> list[dict[str, Any]]:
    """Every status `case` has had, oldest first, starting with its opening (in the caller's
    transaction)."""
    changes = session.exec(
        select(StatusChange)
        .where(StatusChange.case_id == case.id)
        # Insertion order, not clock order: changes are serialised by the write lock,
        # while `at` comes from whichever machine made the change (a claim, not a fact).
        .order_by(col(StatusChange.id))
    ).all()
    opened = {
        "from": None,
        "to": CaseStatus.UNVERIFIED.value,
        "why": "case opened",
        "at": iso(case.created_at),
        "by": case.created_by,
    }
    return [opened, *(change_to_dict(c) for c in changes)]


def status_history(archive: Archive, ref: str) -> list[dict[str, Any]]:
    """Every status the case has had, oldest first, starting with its opening."""
    with archive.read() as session:
        return history_of(session, get_case(session, ref))
