"""`verify prov derivations` without the ORM: read through `verify.dbread` (stdlib sqlite3
for a SQLite archive at the current schema, SQLAlchemy Core otherwise), as
`verify.services.mediaread` reads media, so that the listing does not pay SQLModel's import
(about 0.4 s of a 0.6 s call). A test compares the result with the ORM's reading
(`provenance.list_derivations`) on both backends.
"""

import json
from collections.abc import Mapping
from typing import Any

from verify.dbread import Source
from verify.services.refs import case_id
from verify.timeutil import stored_iso

# derivations with either end in the case, each end's bytes (a missing blob row: None)
_CASE_DERIVATIONS = (
    "SELECT d.id, d.child_id, cb.sha256, d.parent_id, pb.sha256, d.kind, d.evidence, d.note, "
    "d.created_at, d.created_by, d.retracted_at, d.retracted_by, d.retraction FROM derivations d "
    "LEFT JOIN media cm ON cm.id = d.child_id LEFT JOIN blobs cb ON cb.id = cm.blob_id "
    "LEFT JOIN media pm ON pm.id = d.parent_id LEFT JOIN blobs pb ON pb.id = pm.blob_id "
    "WHERE d.child_id IN (SELECT id FROM media WHERE case_id = :case) "
    "OR d.parent_id IN (SELECT id FROM media WHERE case_id = :case) ORDER BY d.id"
)


def list_derivations(source: Source, case_ref: str) -> list[dict[str, Any]]:
    """Derivations with either end in the case, in id order (`provenance.list_derivations`)."""
    with source.reader() as db:
        rows = db.rows(_CASE_DERIVATIONS, {"case": case_id(db, case_ref)})
    out = []
    for row in rows:
        d_id, child, child_sha, parent, parent_sha, kind, evidence, note, at, by = row[:10]
        retracted_at, retracted_by, why = row[10:]
        out.append(
            {
                "id": int(d_id),
                "child": int(child),
                "child_sha256": f"sha256:{child_sha}" if child_sha is not None else None,
                "parent": int(parent),
                "parent_sha256": f"sha256:{parent_sha}" if parent_sha is not None else None,
                "kind": str(kind),
                "evidence": _json(evidence),
                "note": note,
                "created_at": stored_iso(at),
                "created_by": by,
                "retracted": None
                if retracted_at is None
                else {"at": stored_iso(retracted_at), "by": retracted_by, "why": why},
            }
        )
    return out


def _json(value: Any) -> Any:
    """A JSON column as the ORM gives it: SQLite's text (`null` when none was stored),
    PostgreSQL's decoded JSONB, or SQL NULL."""
    return json.loads(value) if isinstance(value, (str, bytes)) else value


def evidence_value(value: Any) -> str | None:
    """An evidence value as a reader sees it: objects, lists and true/false as JSON
    (`{"candidate": 10, "query": 10}`), never Python's repr; None stays None (each output
    shows its own "no value" mark)."""
    if value is None:
        return None
    if isinstance(value, dict | list | bool):
        return json.dumps(value, sort_keys=True, ensure_ascii=False)
    return str(value)


def match_phrase(verdict: Mapping[str, Any], query: str, candidate: str) -> str:
    """A search verdict (or the evidence `prov derive --evidence-from-search` kept of one)
    in words: `8/8 frames of media 2 and 8/8 of media 1, median 6 bits (best 4), variant
    masked, offset +0 s`. KeyError, TypeError or ValueError when it is not one (evidence
    edited by hand)."""
    fm = verdict["frames_matched"]
    parts = [
        f"{int(fm['query'])}/{int(verdict['query_frames'])} frames of {query} and "
        f"{int(fm['candidate'])}/{int(verdict['candidate_frames'])} of {candidate}",
        f"median {float(verdict['median_distance']):g} bits (best {int(verdict['best_distance'])})",
        f"variant {verdict['variant']}",
    ]
    if verdict.get("offset") is not None:
        parts.append(f"offset {float(verdict['offset']):+g} s")
    return ", ".join(parts)
