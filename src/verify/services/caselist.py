"""`verify case list`, `verify case show` and `verify status history` without the ORM: the
same data as `verify.services.cases.list_cases` and `show_case` and
`verify.services.status.status_history`, read through `verify.dbread` (stdlib
sqlite3 for a SQLite archive at the current schema, SQLAlchemy Core otherwise), so that the
most used reads do not pay SQLModel's import (about 0.4 s of a 0.7 s call). A test compares
the two on SQLite and PostgreSQL."""

from typing import Any

from verify.dbread import Source
from verify.services.provlogic import NoteRow, note_order
from verify.services.refs import case_id
from verify.timeutil import stored_iso
from verify.vocab import CaseStatus, parse_enum

# (all cases, those with a status): constant statements, the status a bound parameter
_CASES = (
    "SELECT id, slug, title, summary, status, created_at, created_by, updated_at, updated_by "
    "FROM cases ORDER BY created_at, id",
    "SELECT id, slug, title, summary, status, created_at, created_by, updated_at, updated_by "
    "FROM cases WHERE status = :status ORDER BY created_at, id",
)
_CLAIMS = (
    "SELECT case_id, position, text, finding, confidence, rationale, updated_at, updated_by "
    "FROM claims ORDER BY case_id, position",
    "SELECT case_id, position, text, finding, confidence, rationale, updated_at, updated_by "
    "FROM claims WHERE case_id IN (SELECT id FROM cases WHERE status = :status) "
    "ORDER BY case_id, position",
)
_CASE = (
    "SELECT id, slug, title, summary, status, created_at, created_by, updated_at, updated_by "
    "FROM cases WHERE id = :id"
)
_CASE_CLAIMS = (
    "SELECT case_id, position, text, finding, confidence, rationale, updated_at, updated_by "
    "FROM claims WHERE case_id = :id ORDER BY position"
)
_OPENED = "SELECT created_at, created_by FROM cases WHERE id = :id"
_STATUS_CHANGES = (
    'SELECT from_status, to_status, rationale, "at", "by" FROM status_changes '
    "WHERE case_id = :id ORDER BY id"
)
_NOTES = 'SELECT id, text, "at", "by" FROM notes WHERE case_id = :id'


def list_cases(source: Source, *, status: str | None = None) -> list[dict[str, Any]]:
    """Every case (or those with `status`), oldest first, with its claims in order."""
    if status is not None:
        parse_enum(CaseStatus, status, "status")
    which = int(status is not None)
    params = {"status": status} if status is not None else None
    with source.reader() as db:
        cases = db.rows(_CASES[which], params)
        claims = _claims(db.rows(_CLAIMS[which], params))
    return [_case(row, claims.get(int(row[0]), [])) for row in cases]


def show_case(source: Source, ref: str) -> dict[str, Any]:
    """The case with slug `ref` (NotFoundError naming the next step), its claims and notes."""
    with source.reader() as db:
        cid = case_id(db, ref)
        [row] = db.rows(_CASE, {"id": cid})
        claims = _claims(db.rows(_CASE_CLAIMS, {"id": cid}))
        notes = sorted((NoteRow(*n) for n in db.rows(_NOTES, {"id": cid})), key=note_order)
    out = _case(row, claims.get(cid, []))
    out["notes"] = [
        {"id": note_id, "text": text, "at": stored_iso(at), "by": by}
        for note_id, text, at, by in notes
    ]
    return out


def status_history(source: Source, ref: str) -> list[dict[str, Any]]:
    """Every status the case with slug `ref` has had, oldest first, starting with its
    opening; changes in the order they were recorded (their times are the recording
    machines' claims)."""
    with source.reader() as db:
        cid = case_id(db, ref)
        [(created_at, created_by)] = db.rows(_OPENED, {"id": cid})
        changes = db.rows(_STATUS_CHANGES, {"id": cid})
    opened = {
        "from": None,
        "to": CaseStatus.UNVERIFIED.value,
        "why": "case opened",
        "at": stored_iso(created_at),
        "by": created_by,
    }
    return [
        opened,
        *(
            {"from": old, "to": new, "why": why, "at": stored_iso(at), "by": by}
            for old, new, why, at, by in changes
        ),
    ]


def _case(row: tuple[Any, ...], claims: list[dict[str, Any]]) -> dict[str, Any]:
    _id, slug, title, summary, state, created_at, created_by, updated_at, updated_by = row
    return {
        "slug": slug,
        "title": title,
        "summary": summary,
        "status": state,
        "claims": claims,
        "created_at": stored_iso(created_at),
        "created_by": created_by,
        "updated_at": stored_iso(updated_at),
        "updated_by": updated_by,
    }


def _claims(rows: list[tuple[Any, ...]]) -> dict[int, list[Any]]:
    out: dict[int, list[Any]] = {}
    for owner, n, text, finding, confidence, rationale, at, by in rows:
        out.setdefault(int(owner), []).append(
            {
                "n": n,
                "text": text,
                "finding": finding,
                "confidence": confidence,
                "rationale": rationale,
                "updated_at": stored_iso(at),
                "updated_by": by,
            }
        )
    return out
