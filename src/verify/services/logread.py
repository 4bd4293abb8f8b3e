"""The audit trail as `verify log` lists it, and its checkpoint (`verify log --head`), read
through `verify.dbread` (stdlib sqlite3 for a SQLite archive at the current schema, so
without SQLModel's import; SQLAlchemy Core otherwise), as `verify.services.caselist` reads
the case listings. Tests read the same archive both ways and compare."""

from typing import Any, NamedTuple

import orjson

from verify import audit
from verify.dbread import Reader, Source, rows_in
from verify.errors import BadInputError, IntegrityFailure
from verify.services.refs import case_id, case_slug

# Constant statements (the columns spelt out in each): parameters are always bound.
_ALL = (
    'SELECT seq, "at", actor, action, case_slug, payload, prev_hash, hash '
    "FROM audit_entries ORDER BY seq"
)
_OF_CASE = (
    'SELECT seq, "at", actor, action, case_slug, payload, prev_hash, hash '
    "FROM audit_entries WHERE case_slug = :slug ORDER BY seq"
)
_HEAD = "SELECT seq, hash FROM audit_head WHERE id = 1"
# the derivations with a parent or a child among the case's media
_LINKS = (
    "SELECT id, child_id, parent_id FROM derivations "
    "WHERE child_id IN (SELECT id FROM media WHERE case_id = :id) "
    "OR parent_id IN (SELECT id FROM media WHERE case_id = :id)"
)
_OTHER_CASES = (
    "SELECT DISTINCT cases.slug FROM cases JOIN media ON media.case_id = cases.id "
    "WHERE media.id IN ({in}) AND cases.slug != :slug"
)
_DERIVATION_ENTRIES = (
    'SELECT seq, "at", actor, action, case_slug, payload, prev_hash, hash '
    "FROM audit_entries WHERE action LIKE 'derivation.%' AND case_slug IN ({in})"
)


class Entry(NamedTuple):
    """An audit entry's columns, named as `verify.models.AuditEntry`'s (what
    `audit.verify_chain` reads)."""

    seq: int
    at: str
    actor: str
    action: str
    case_slug: str | None
    payload: str
    prev_hash: str
    hash: str


class Head(NamedTuple):
    seq: int
    hash: str


def read_log(
    source: Source, case: str | None = None, *, limit: int | None = None
) -> list[dict[str, Any]]:
    """Audit entries in order (optionally one case's, optionally the last `limit`). A case's
    entries include the derivations linking its media to another case's, which are recorded
    under the child's case."""
    if limit is not None and limit < 0:
        raise BadInputError(f"bad limit {limit}: give a number of entries, 0 or more")
    with source.reader() as db:
        if case is None:
            rows = [Entry(*r) for r in db.rows(_ALL)]
        else:
            cid, slug = case_id(db, case), case_slug(case)
            own = [Entry(*r) for r in db.rows(_OF_CASE, {"slug": slug})]
            rows = sorted(own + cross_case_derivations(db, cid, slug), key=lambda e: e.seq)
    entries = [_to_dict(e) for e in rows]
    if limit is None:
        return entries
    return entries[-limit:] if limit else []


def head(source: Source) -> dict[str, Any]:
    """The chain head: a checkpoint worth keeping outside the archive. Refused (exit 3) when
    the chain does not verify: a checkpoint of a damaged trail would vouch for it."""
    with source.reader() as db:
        entries = [Entry(*r) for r in db.rows(_ALL)]
        heads = [Head(*r) for r in db.rows(_HEAD)]
    report = audit.verify_chain(entries, heads[0] if heads else None)
    if not report.ok:
        raise IntegrityFailure(
            f"the audit trail does not verify ({report.reason}): no checkpoint printed; "
            "`verify check` says more"
        )
    return {"seq": report.head_seq, "hash": report.head_hash}


def cross_case_derivations(db: Reader, cid: int, slug: str) -> list[Entry]:
    """`derivation.*` entries of other cases whose derivation has a parent or child in this
    case (a copy in another case derived from this case's file, or the reverse)."""
    links = db.rows(_LINKS, {"id": cid})
    if not links:
        return []
    ends = sorted({m for _, child, parent in links for m in (child, parent)})
    cases = sorted({s for (s,) in rows_in(db, _OTHER_CASES, ends, {"slug": slug})})
    if not cases:
        return []
    ids = {ident for ident, _, _ in links}
    out = []
    for entry in (Entry(*r) for r in rows_in(db, _DERIVATION_ENTRIES, cases)):
        try:
            ident = orjson.loads(entry.payload).get("id")
        except (orjson.JSONDecodeError, AttributeError):
            continue
        if ident in ids:
            out.append(entry)
    return out


def _to_dict(entry: Entry) -> dict[str, Any]:
    return {
        "seq": entry.seq,
        "at": entry.at,
        "actor": entry.actor,
        "action": entry.action,
        "case": entry.case_slug,
        "payload": orjson.loads(entry.payload),
        "prev_hash": entry.prev_hash,
        "hash": entry.hash,
    }
