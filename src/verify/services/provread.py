"""Provenance reads without the ORM: `verify prov derivations`, `prov attributions`, `prov
appearance list`, `prov earliest`, `verify timeline` and the provenance section of the
reports (`verify.services.report`). Read through `verify.dbread` (stdlib sqlite3 for a SQLite
archive at the current schema, SQLAlchemy Core otherwise), as `verify.services.mediaread`
reads media, so that the commands do not pay SQLModel's import (about 0.4 s of a 0.6 s
call). What is made of the rows (the dicts, the earliest known appearance, the timeline) is
`verify.services.provlogic`'s; the rows here are its plain ones, with the models' column
names.

The functions taking a `Source` open one read transaction each; those taking a `Reader`
(`case_row`, `earliest_of`, `records_of`) read in the caller's, which is how a report reads
them on its own session's connection (`SqlAlchemyReader(session.connection())`) and so sees
one snapshot of the archive.
"""

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, NamedTuple, TypeVar

from verify.dbread import Reader, Source, rows_in
from verify.services.provlogic import (
    AccountRow,
    AppearanceRow,
    AttributionChangeRow,
    AttributionRow,
    BlobRow,
    CaseRecords,
    CaseRow,
    DerivationRow,
    MediaRow,
    NoteRow,
    StatusChangeRow,
    account_dict,
    appearance_dicts,
    attribution_dicts,
    claimed_platforms,
    find_earliest,
    note_order,
    original_posters,
    related_media,
    retracted,
    timeline_events,
)
from verify.services.refs import case_id, case_slug
from verify.timeutil import stored_datetime, stored_iso

# derivations with either end in the case, each end's bytes (a missing blob row: None)
_CASE_DERIVATIONS = (
    "SELECT d.id, d.child_id, cb.sha256, d.parent_id, pb.sha256, d.kind, d.evidence, d.note, "
    "d.created_at, d.created_by, d.retracted_at, d.retracted_by, d.retraction FROM derivations d "
    "LEFT JOIN media cm ON cm.id = d.child_id LEFT JOIN blobs cb ON cb.id = cm.blob_id "
    "LEFT JOIN media pm ON pm.id = d.parent_id LEFT JOIN blobs pb ON pb.id = pm.blob_id "
    "WHERE d.child_id IN (SELECT id FROM media WHERE case_id = :case) "
    "OR d.parent_id IN (SELECT id FROM media WHERE case_id = :case) ORDER BY d.id"
)


def list_accounts(source: Source) -> list[dict[str, Any]]:
    """Every account, by platform and handle (`provlogic.account_dict`)."""
    with source.reader() as db:
        rows = _records(db, AccountRow, "accounts ORDER BY platform, handle, id")
    return [account_dict(a) for a in rows]


def list_derivations(source: Source, case_ref: str) -> list[dict[str, Any]]:
    """Derivations with either end in the case, in id order, each end with its bytes'
    `sha256:<hex>` and the retraction, if any (`provlogic.retracted`)."""
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
                "retracted": retracted(stored_datetime(retracted_at), retracted_by, why),
            }
        )
    return out


def list_appearances(source: Source, case_ref: str) -> list[dict[str, Any]]:
    """A case's appearances in id order, each with its account and its media's bytes
    (`provlogic.appearance_dicts`)."""
    with source.reader() as db:
        cid = case_id(db, case_ref)
        return _appearance_dicts(db, _appearances(db, cid), case_slug(case_ref))


def list_attributions(source: Source, case_ref: str) -> list[dict[str, Any]]:
    """A case's attributions in id order, each with its state changes oldest first
    (`provlogic.attribution_dicts`)."""
    with source.reader() as db:
        cid = case_id(db, case_ref)
        attributions = _attributions(db, cid)
        accounts = _accounts(db, (a.account_id for a in attributions))
        slug = case_slug(case_ref)  # as stored: `Test-Case` names `test-case`
        return attribution_dicts(attributions, slug, accounts, _changes(db, cid))


def earliest(source: Source, case_ref: str) -> dict[str, Any]:
    """The earliest known appearance of the case's media, across every case that holds it
    (`earliest_of`)."""
    with source.reader() as db:
        return earliest_of(db, case_row(db, case_id(db, case_ref)))


def timeline(source: Source, case_ref: str) -> list[dict[str, Any]]:
    """Every dated fact of the case in time order, each with its type and source.

    Types: case.opened, appearance.posted, appearance.captured, media.captured (the capture
    time a media file's metadata gives, see `timeutil.capture_time`), media.acquired,
    status.changed, attribution.recorded / attribution.changed, derivation.recorded /
    derivation.retracted, note. The earliest known appearance (`earliest_of`) is marked
    `"earliest": true`; when it belongs to another case it is included with that case's
    slug. An appearance's events carry its impossible dates in `warnings`
    (`provlogic.date_problems`); a capture time without its UTC offset has precision
    `local` and a warning saying so; every other event has none (`provlogic.timeline_events`).
    """
    with source.reader() as db:
        case = case_row(db, case_id(db, case_ref))
        own = own_records(db, case)
        found = earliest_of(db, case, own)
        records = records_of(db, case, found, own)
    return timeline_events(records, found)


def case_row(db: Reader, cid: int) -> CaseRow:
    """The case with id `cid` (which exists: `refs.case_id` gives it)."""
    [case] = _records(db, CaseRow, "cases WHERE id = :id", {"id": cid})
    return case


class OwnRecords(NamedTuple):
    """The case's own appearances and attributions, in id order: read once (`own_records`)
    for both `earliest_of` and `records_of`."""

    appearances: list[AppearanceRow]
    attributions: list[AttributionRow]


def own_records(db: Reader, case: CaseRow) -> OwnRecords:
    return OwnRecords(_appearances(db, case.id), _attributions(db, case.id))


def records_of(
    db: Reader, case: CaseRow, earliest: Mapping[str, Any], own: OwnRecords | None = None
) -> CaseRecords:
    """What the case's timeline is made of (`provlogic.CaseRecords`, each in id order): its
    appearances and, last, the earliest known one (`earliest`, `earliest_of`'s answer for
    the case) when another case holds it; the accounts those and the attributions name; its
    media with their blobs, status changes, attributions with their state changes, the
    derivations with either end among its media (retracted ones too), and its notes.
    `own`: `own_records(db, case)`, when the caller has read them."""
    own = own or own_records(db, case)
    appearances = list(own.appearances)
    first = earliest["earliest"]
    if first is not None and first["case"] != case.slug:  # held by another case
        held = {"id": first["id"]}
        appearances += _records(db, AppearanceRow, "appearances WHERE id = :id", held)
    attributions = own.attributions
    ids = [ap.account_id for ap in appearances] + [a.account_id for a in attributions]
    where = {"case": case.id}
    blobs = {
        b.id: b
        for b in _records(
            db,
            BlobRow,
            "blobs WHERE id IN (SELECT blob_id FROM media WHERE case_id = :case)",
            where,
        )
    }
    media = _records(db, MediaRow, "media WHERE case_id = :case ORDER BY id", where)
    return CaseRecords(
        case=case,
        appearances=appearances,
        accounts=_accounts(db, ids),
        media=[(m, blobs[m.blob_id]) for m in media if m.blob_id in blobs],
        status_changes=_records(
            db, StatusChangeRow, "status_changes WHERE case_id = :case ORDER BY id", where
        ),
        attributions=attributions,
        changes=_changes(db, case.id),
        derivations=_records(db, DerivationRow, _ENDS, where),
        notes=sorted(_records(db, NoteRow, "notes WHERE case_id = :case", where), key=note_order),
    )


def earliest_of(db: Reader, case: CaseRow, own: OwnRecords | None = None) -> dict[str, Any]:
    """The earliest known appearance of the case's media, across every case that holds it
    (`provlogic.find_earliest`).

    Considered: the case's appearances and those, in any case, of media related to its own
    (`provlogic.related_media`: the same bytes, or linked by a derivation not retracted).
    Date used: posted time, else capture time (`basis` says which). `uncertain_with` lists
    appearances whose date window overlaps the earliest's; `contradiction` is true when the
    earliest is not on the platform the original posters claim (`provlogic.claimed_platforms`;
    see docs/provenance.md) and no appearance there overlaps it. `own`: as for `records_of`.
    """
    own = own or own_records(db, case)
    edges = [(int(c), int(p)) for c, p in db.rows(STANDING_EDGES)]
    media = [int(m) for (m,) in db.rows(_CASE_MEDIA_IDS, {"case": case.id})]
    related = sorted(related_media(media, lambda ids: _same_bytes(db, ids), edges))
    considered = {
        ap.id: ap
        for ap in own.appearances
        + _records_in(db, AppearanceRow, "appearances WHERE media_id IN ({in})", related)
    }
    appearances = [considered[i] for i in sorted(considered)]
    holders = sorted({ap.case_id for ap in appearances})
    slugs = {int(i): str(slug) for i, slug in rows_in(db, _SLUGS, holders)}
    posters = original_posters(own.attributions)
    targets = sorted(
        {a.target_id for a in posters if a.target_type == "appearance" and a.target_id is not None}
    )
    claimed = claimed_platforms(
        posters,
        _accounts(db, (a.account_id for a in posters)),
        {
            ap.id: ap
            for ap in _records_in(db, AppearanceRow, "appearances WHERE id IN ({in})", targets)
        },
    )
    return find_earliest(
        case, appearances, claimed, slugs, lambda ap, slug: _appearance_dicts(db, [ap], slug)[0]
    )


# the derivations with either end among the case's media (as `_CASE_DERIVATIONS`)
_ENDS = (
    "derivations WHERE child_id IN (SELECT id FROM media WHERE case_id = :case) "
    "OR parent_id IN (SELECT id FROM media WHERE case_id = :case) ORDER BY id"
)
_CASE_MEDIA_IDS = "SELECT id FROM media WHERE case_id = :case ORDER BY id"
# the derivations reasoning follows: those not retracted (a retracted one relates nothing;
# `provenance.derivation_edges` and the duplicate search read them through these too)
STANDING = "retracted_at IS NULL"
STANDING_EDGES = f"SELECT child_id, parent_id FROM derivations WHERE {STANDING}"  # noqa: S608 - constants
_SAME_BYTES = "SELECT id FROM media WHERE blob_id IN (SELECT blob_id FROM media WHERE id IN ({in}))"
_SHAS = "SELECT m.id, b.sha256 FROM media m JOIN blobs b ON b.id = m.blob_id WHERE m.id IN ({in})"
_SLUGS = "SELECT id, slug FROM cases WHERE id IN ({in})"
# the columns the ORM gives as datetimes (SQLite keeps them as text) and as JSON
_TIMES = {
    "created_at",
    "updated_at",
    "posted_at",
    "captured_at",
    "acquired_at",
    "at",
    "retracted_at",
}
# (an attribution's `evidence` is text: only a derivation's is JSON)
_JSON: dict[type[NamedTuple], set[str]] = {BlobRow: {"meta"}, DerivationRow: {"evidence"}}

Row = TypeVar("Row", bound=NamedTuple)


def _select(row: type[Row], rest: str) -> str:
    """SELECT of the columns `row` names (quoted: `at` and `by` are keywords) FROM `rest`.
    Table and column names come from this module, never from input."""
    columns = ", ".join(f'"{name}"' for name in row._fields)
    return f"SELECT {columns} FROM {rest}"  # noqa: S608 - names are ours


def _typed(row: type[Row], values: Iterable[tuple[Any, ...]]) -> list[Row]:
    """Rows as the ORM types them: times as aware datetimes, JSON decoded."""
    json_columns = _JSON.get(row, set())

    def value(name: str, stored: Any) -> Any:
        if name in _TIMES:
            return stored_datetime(stored)
        return _json(stored) if name in json_columns else stored

    return [row(*map(value, row._fields, v)) for v in values]


def _records(
    db: Reader, row: type[Row], rest: str, params: Mapping[str, Any] | None = None
) -> list[Row]:
    return _typed(row, db.rows(_select(row, rest), params))


def _records_in(db: Reader, row: type[Row], rest: str, values: Sequence[Any]) -> list[Row]:
    """`_records` whose `{in}` is an IN list of `values` (`rows_in`: unordered)."""
    return _typed(row, rows_in(db, _select(row, rest), values))


def _appearances(db: Reader, cid: int) -> list[AppearanceRow]:
    return _records(
        db, AppearanceRow, "appearances WHERE case_id = :case ORDER BY id", {"case": cid}
    )


def _attributions(db: Reader, cid: int) -> list[AttributionRow]:
    return _records(
        db, AttributionRow, "attributions WHERE case_id = :case ORDER BY id", {"case": cid}
    )


def _changes(db: Reader, cid: int) -> dict[int, list[AttributionChangeRow]]:
    """The state changes of the case's attributions, each one's oldest first."""
    out: dict[int, list[AttributionChangeRow]] = {}
    rest = (
        "attribution_changes WHERE attribution_id IN "
        "(SELECT id FROM attributions WHERE case_id = :case) ORDER BY id"
    )
    for ch in _records(db, AttributionChangeRow, rest, {"case": cid}):
        out.setdefault(ch.attribution_id, []).append(ch)
    return out


def _accounts(db: Reader, ids: Iterable[int | None]) -> dict[int, AccountRow]:
    wanted = sorted({i for i in ids if i is not None})
    return {a.id: a for a in _records_in(db, AccountRow, "accounts WHERE id IN ({in})", wanted)}


def _same_bytes(db: Reader, ids: set[int]) -> set[int]:
    """The media holding the same bytes as any of these (themselves included)."""
    return {int(m) for (m,) in rows_in(db, _SAME_BYTES, sorted(ids))}


def _appearance_dicts(
    db: Reader, appearances: Sequence[AppearanceRow], case_slug: str
) -> list[dict[str, Any]]:
    media = sorted({ap.media_id for ap in appearances if ap.media_id is not None})
    shas = {int(m): f"sha256:{sha}" for m, sha in rows_in(db, _SHAS, media)}
    accounts = _accounts(db, (ap.account_id for ap in appearances))
    return appearance_dicts(appearances, case_slug, accounts, shas)


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
