"""Provenance reports: gather one case into a plain dict, render it, record it.

`build_report(archive, ref, at=...)` reads the case's tables in ONE read-only session and
returns a plain dict: that dict *is* the JSON report (schema: docs/report-schema.json).
The Markdown, HTML and PDF renderers (`verify.services.report_render`) draw only on it,
plus, for HTML, thumbnails decoded from the evidence store and a Graphviz drawing.

Determinism: nothing in the dict depends on the wall clock or on iteration order of the
database. The generation time is passed in (`--at`, else `timeutil.now()`, which honours
`VERIFY_FAKE_NOW`). The audit checkpoint shown is the last entry that is *not* a
`report.write` or an export (`audit.OUTPUT_ACTIONS`), so writing a report (which appends
`report.write`) or a copy does not change the next report rendered from the same evidence:
two renders are byte-identical.

The provenance section (appearances, attributions, derivations, the earliest known
appearance and the timeline) is read by `verify.services.provread` on the session's own
connection, so in the same snapshot as the rest, and reasoned on by
`verify.services.provlogic`, as `verify prov` and `verify timeline` do: the earliest (which
weighs copies of the same media held in other cases) is worked out once, and the timeline
marks it; the timeline's records are the rows the section shows. Each file's
near-duplicates in other cases come from `verify.services.search.near_duplicates_of_blob`.
The small adapters here (`_timeline_entries`, `_earliest_entry`, `_appearance_entry`,
`_attributions`, `_derivations`, `_near_duplicate_entries`) only convert their results to
the report's shapes.
"""

import hashlib
import importlib.metadata
import platform
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson
from sqlmodel import Session, col, select

from verify import __version__, audit
from verify.analysis import hex64, incomplete_note, is_placeholder_gps
from verify.archive import Archive
from verify.dbread import SqlAlchemyReader
from verify.errors import BadInputError
from verify.index import load_index
from verify.models import AuditEntry, Blob, Case, Claim, Frame, Media, pk
from verify.outputs import write_atomically
from verify.services import provread, recorded, search, status
from verify.services.cases import case_media, claim_to_dict, get_case
from verify.services.provlogic import (
    AccountRow,
    AppearanceRow,
    AttributionChangeRow,
    AttributionRow,
    DerivationRow,
    change_to_dict,
    format_posted,
    retracted,
    timeline_events,
)
from verify.services.statecheck import claim_changes, claim_number
from verify.timeutil import as_utc, capture_time, iso, now, parse_utc
from verify.vocab import VERDICTS, Role

SCHEMA_ID = "verify-report/1"
FORMATS = ("md", "html", "json", "pdf")
EXTENSIONS = {"md": "md", "html": "html", "json": "json", "pdf": "pdf"}
CONTACT_SHEET_MAX = 12  # keyframes shown per file; every frame's hashes are in the JSON
NOTABLE_VALUE_MAX = 500  # characters of a free-text tag shown in a report

# Free-text tags a reader should see because people write into them (and attackers do).
NOTABLE_TAGS = frozenset(
    {
        "artist",
        "author",
        "caption",
        "comment",
        "copyright",
        "creator",
        "credit",
        "description",
        "imagedescription",
        "keywords",
        "rights",
        "source",
        "title",
        "usercomment",
        "xpauthor",
        "xpcomment",
        "xpkeywords",
        "xpsubject",
        "xptitle",
    }
)

# Metadata fields compared across the copies held in a case.
DIFF_FIELDS: tuple[tuple[str, str], ...] = (
    ("device_tags", "device tags present (make, model, capture time, GPS)"),
    ("captured_at", "capture time"),
    ("creation_time", "container creation time"),
    ("gps", "GPS position"),
    ("make", "device make"),
    ("model", "device model"),
    ("software", "software"),
    ("encoder", "encoder"),
    ("xmp_creator_tool", "XMP creator tool"),
    ("c2pa", "C2PA"),
    ("rotation", "rotation"),
    ("dimensions", "dimensions"),
    ("duration", "duration (s)"),
)

# the metadata differences table's C2PA value when there is no manifest summary
C2PA_DIFF_TEXT = {"read": "none found", "not_installed": "not read", "not_recorded": "not known"}

DEPENDENCIES = (
    "alembic",
    "av",
    "defusedxml",
    "exifread",
    "imagehash",
    "jinja2",
    "numpy",
    "orjson",
    "pillow",
    "pillow-heif",
    "sqlalchemy",
    "sqlmodel",
)


@dataclass(frozen=True)
class WrittenReport:
    """What `write_report` produced: the bytes, their SHA-256 and where they went."""

    format: str
    path: Path | None  # None: written to stdout by the caller
    sha256: str  # "sha256:<hex>"
    size: int
    content: bytes
    audit_seq: int | None  # None: not recorded, the archive is read-only
    check_ok: bool  # `verify check` passed when the report was generated
    only_missing: bool = False  # it failed only for files not in this home's evidence store


# --------------------------------------------------------------------------- public API


def check_format(fmt: str) -> str:
    if fmt not in FORMATS:
        raise BadInputError(f"unknown report format {fmt!r}; use one of: {', '.join(FORMATS)}")
    return fmt


# what `-o FILE`'s extension says the format is, when `--format` is not given
FORMAT_OF_SUFFIX = {
    ".md": "md",
    ".markdown": "md",
    ".html": "html",
    ".htm": "html",
    ".json": "json",
    ".pdf": "pdf",
}


def output_format(fmt: str | None, output: str | None) -> str:
    """The format to write: `fmt` (`--format`) when given, else what the extension of
    `output` (`-o`) says (`.html`/`.htm`, `.json`, `.md`/`.markdown`, `.pdf`), else md.

    A `--format` that contradicts the extension of `-o` is refused (BadInputError): an
    HTML report named `.md`, or Markdown named `.html`, opens as something it is not. An
    extension that names no format (`.txt`, none) or `-o -` goes with any `--format`."""
    said = None
    if output is not None and output != "-":
        said = FORMAT_OF_SUFFIX.get(Path(output).suffix.lower())
    if fmt is None:
        return said or "md"
    check_format(fmt)
    if said is not None and said != fmt:
        raise BadInputError(
            f"--format {fmt}, but the name -o {output} says {said} "
            f"({Path(output or '').suffix}): drop --format (or give -f {said}), or name the "
            f"file .{EXTENSIONS[fmt]}; nothing written"
        )
    return fmt


def default_filename(ref: str, fmt: str) -> str:
    """`<case>-report.<ext>`: where the CLI writes when no `-o` is given."""
    return f"{ref}-report.{EXTENSIONS[check_format(fmt)]}"


def build_report(
    archive: Archive,
    ref: str,
    *,
    at: datetime | None = None,
    redact_other_cases: bool = False,
) -> dict[str, Any]:
    """The whole report as a plain, JSON-ready dict (docs/report-schema.json).

    Read-only. `at` is the generation time written into the report (default: now); it
    cannot be earlier than a change recorded in the archive (reports and copies written are
    not changes), which the report could then show as made after it was generated, nor
    later than now (`_check_generated_at`). `redact_other_cases`: other cases' slugs and
    file names are replaced by neutral labels (`verify.services.redact`), for a report
    handed to a third party.
    """
    generated = at if at is not None else now()
    with archive.read() as session:
        if at is not None:
            _check_generated_at(session, ref, at)
        shas = session.exec(
            select(Blob.sha256)
            .join(Media, col(Media.blob_id) == col(Blob.id))
            .where(Media.case_id == pk(get_case(session, ref)))
        ).all()
    check = _integrity_check(archive, set(shas))
    with archive.read() as session:
        case = get_case(session, ref)
        case_id = pk(case)
        media_rows = case_media(session, case_id)
        blobs = {pk(b): b for _, b in media_rows}
        media_by_id = {pk(m): m for m, _ in media_rows}
        history = status.history_of(session, case)
        db = SqlAlchemyReader(session.connection())  # this session's snapshot
        case_row = provread.case_row(db, case_id)
        own = provread.own_records(db, case_row)
        found = provread.earliest_of(db, case_row, own)  # once: the timeline marks it too
        records = provread.records_of(db, case_row, found, own)
        # who put each record into this archive, and from which case file (one statement)
        trail = recorded.case_trail(
            recorded.read_entries(session, case.slug),
            case.slug,
            [d.id for d in records.derivations],
        )
        _history_recorded(history, trail)
        timeline = _timeline_entries(timeline_events(records, found, origins=True, at=at), trail)
        earliest = _earliest_entry(found)
        # the timeline's appearances end with the earliest when another case holds it
        appearances = [ap for ap in records.appearances if ap.case_id == case_id]
        accounts = records.accounts
        index = [load_index(archive)]  # once for every media of the case
        copies = _exact_copies(session, [pk(b) for _, b in media_rows], case_id)
        media_out = [
            _media_entry(
                session,
                m,
                b,
                _near_duplicate_entries(archive, index, b, case.slug),
                copies.get(pk(b), []),
                trail,
            )
            for m, b in media_rows
        ]
        report: dict[str, Any] = {
            "schema": SCHEMA_ID,
            "generated_at": iso(generated),
            "other_cases_redacted": False,
            "case": {
                "slug": case.slug,
                "title": case.title,
                "summary": case.summary,
                "created_at": iso(case.created_at),
                "created_by": case.created_by,
                "updated_at": iso(case.updated_at),
                "updated_by": case.updated_by,
                "recorded": recorded.recorded_dict(trail.opened),
            },
            "verdict": _verdict(case, history),
            "status_history": history,
            "claims": _claims_with_history(session, case_id, trail.claims),
            "notes": [
                {
                    "at": iso(n.at),
                    "by": n.by,
                    "text": n.text,
                    "recorded": recorded.recorded_dict(trail.notes.get(n.id)),
                }
                for n in records.notes
            ],
            "provenance": {
                "timeline": timeline,
                "earliest": earliest,
                "appearances": [
                    _appearance_entry(a, accounts, media_by_id, trail) for a in appearances
                ],
                "attributions": _attributions(
                    records.attributions, records.changes, accounts, media_by_id, trail
                ),
                "derivations": _derivations(
                    session, records.derivations, media_by_id, blobs, trail
                ),
            },
            "media": media_out,
            "metadata_differences": _metadata_differences(media_out),
            "integrity": {
                "audit": _audit_checkpoint(session),
                "check": check,
                "generator": generator_info(),
            },
        }
        if redact_other_cases:
            from verify.services.redact import redact_other_cases as redact

            report = redact(report, session.exec(select(Case.slug)).all())
    return report


def generate_report(
    archive: Archive,
    ref: str,
    fmt: str,
    *,
    at: datetime | None = None,
    redact_other_cases: bool = False,
) -> tuple[dict[str, Any], bytes]:
    """Build and render the report; nothing is written or recorded."""
    from verify.services import report_render

    check_format(fmt)
    data = build_report(archive, ref, at=at, redact_other_cases=redact_other_cases)
    return data, report_render.render(archive, data, fmt)


def write_report(
    archive: Archive,
    ref: str,
    fmt: str,
    *,
    output: Path | None,
    at: datetime | None = None,
    redact_other_cases: bool = False,
) -> WrittenReport:
    """Render the report, write it to `output` (None: the caller prints `content`), and
    record its SHA-256 in the audit trail as `report.write` {format, sha256, path, at}
    (not on a read-only archive: `audit_seq` is then None).

    The file is written atomically (temp file in the same directory, then rename).
    """
    if output is not None:
        archive.refuse_own_path(output, "write the report")
    data, content = generate_report(archive, ref, fmt, at=at, redact_other_cases=redact_other_cases)
    digest = "sha256:" + hashlib.sha256(content).hexdigest()
    final: Path | None = None
    if output is not None:
        final = write_atomically(output, content, prefix=".verify-report-")
    payload = {
        "format": fmt,
        "sha256": digest,
        "size": len(content),
        "path": str(final) if final is not None else None,
        "generated_at": data["generated_at"],
    }
    if redact_other_cases:  # only then: the entries of other reports keep their shape
        payload["redact_other_cases"] = True
    # on write-protected media: the report, unrecorded (seq None; the CLI says so)
    seq = archive.record_output(audit.REPORT_WRITE, [(data["case"]["slug"], payload)])
    return WrittenReport(fmt, final, digest, len(content), content, seq, *_check_outcome(data))


def _check_outcome(data: dict[str, Any]) -> tuple[bool, bool]:
    """(check passed, it failed only for files missing from this home's evidence store)."""
    from verify.services.log import only_missing

    check = data["integrity"]["check"]
    categories = [f["category"] for f in check["findings"]]
    return bool(check["ok"]), only_missing(check["objects_checked"], categories)


def generator_info() -> dict[str, Any]:
    """Tool and dependency versions (importlib.metadata), for reproducing the analysis."""
    deps: dict[str, str] = {}
    for name in DEPENDENCIES:
        try:
            deps[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            deps[name] = "not installed"
    return {
        "tool": "verify",
        "version": __version__,
        "python": platform.python_version(),
        "dependencies": deps,
    }


# --------------------------------------------------------------------------- helpers


def _integrity_check(archive: Archive, objects: set[str]) -> dict[str, Any]:
    """`verify check` at generation time: the database and the whole audit chain, and this
    case's stored objects re-hashed (not every object in the archive)."""
    from verify.services.log import check_archive

    # the clock findings up to the audit checkpoint: this report, once recorded, is not in
    # the next one's
    result = check_archive(archive, objects=objects, clock_to_last_change=True)
    return {
        "ok": result.ok,
        "objects_checked": result.objects_checked,
        # not in the evidence store of the home the report was written from (on a team
        # archive: most likely added under a colleague's home), so not re-hashed
        "objects_missing": result.objects_missing,
        "findings": [f.to_dict() for f in result.findings],
    }


def _audit_checkpoint(session: Session) -> dict[str, Any]:
    """The last audit entry that is not a `report.write` or an export, as a `verify check
    --against` checkpoint. Those are left out so that recording a report (or a copy made
    since) does not change the next one; they are still in the chain, and the chain is
    verified in `check`."""
    entry = session.exec(
        select(AuditEntry)
        .where(col(AuditEntry.action).not_in(audit.OUTPUT_ACTIONS))
        .order_by(col(AuditEntry.seq).desc())
        .limit(1)
    ).first()
    if entry is None:
        return {"seq": 0, "hash": audit.GENESIS, "entries": 0, "checkpoint": None}
    return {
        "seq": entry.seq,
        "hash": entry.hash,
        "entries": entry.seq,
        "checkpoint": f"{entry.seq}:{entry.hash}",
    }


def _claims_with_history(
    session: Session, case_id: int, entries: Sequence[recorded.Entry]
) -> list[dict[str, Any]]:
    """The case's claims, each with `history`: every recorded change to its finding,
    confidence, rationale or text, oldest first, from the audit trail (`entries`: the
    case's `claim.*` entries, in order)."""
    history = _claim_changes(entries)
    out = []
    for c in _claims(session, case_id):
        claim = {**claim_to_dict(c), "history": history.get(c.position, [])}
        # who last changed the claim as it stands, and when: its latest recorded change
        # (an assessment a case file dated: its assessor, as stated, not the importer),
        # else its recording (an import keeps the file's), not the row's last write
        current = [h for h in claim["history"] if not h["noted"]]
        claim["changed_by"], claim["changed_at"] = (
            (current[-1]["by"], current[-1]["at"])
            if current
            else (c.created_by or c.updated_by, iso(c.created_at or c.updated_at))
        )
        out.append(claim)
    return out


def _claim_changes(entries: Sequence[recorded.Entry]) -> dict[int, list[dict[str, Any]]]:
    """Claim number -> its changes as the audit trail records them (`claim.assess`,
    `claim.edit`, and the assessment an earlier import wrote into `claim.add`), read as
    `verify check` replays them (`statecheck.claim_changes`); `import`: the case file an
    import took it from, else None; who and when are then the importer's, unless the file
    dated the assessment (its claim history): then they are the file's, and `recorded` says
    who imported it when."""
    out: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for e in entries:
        payload = e.payload  # {} when unreadable: `verify check` reports the damaged entry
        n = claim_number(e.action, payload)
        if n is None:
            continue
        found = claim_changes(e.action, payload)
        if e.action == "claim.add":
            found.pop("text", None)  # the claim as added, not a change of its text
        # an assessment a case file dated: who made it and when as the file states them,
        # and who imported it when (`recorded`); else the entry's own actor and time
        said = recorded.stated(payload)
        change: dict[str, Any] = {
            "at": e.at if said is None else said[1],
            "by": e.actor if said is None else said[0],
            "seq": e.seq,
            "import": e.recorded.imported,
            "recorded": None if said is None else e.recorded.to_dict(),
        }
        beside = recorded.noted(payload)  # recorded beside the current assessment
        change["noted"] = beside is not None
        if beside is not None:
            found = {k: (None, v) for k, v in beside.items() if v is not None}
        for field in ("finding", "confidence", "text"):
            old_new = found.get(field)
            change[field] = None if old_new is None else {"from": old_new[0], "to": old_new[1]}
        why = found.get("rationale", (None, None))[1]
        change["rationale"] = why if isinstance(why, str) and why else None
        if any(change[k] is not None for k in ("finding", "confidence", "text", "rationale")):
            out[n].append(change)
    return out


def _claims(session: Session, case_id: int) -> list[Claim]:
    return list(
        session.exec(
            select(Claim).where(Claim.case_id == case_id).order_by(col(Claim.position))
        ).all()
    )


def _history_recorded(history: list[dict[str, Any]], trail: recorded.CaseTrail) -> None:
    """Each status history row (`status.history_of`: the opening, then each change in
    order) gets `recorded`: the entry that recorded it (`case.open`, `status.set`)."""
    for index, row in enumerate(history):
        entry = trail.opened if index == 0 else trail.status_at(index - 1)
        row["recorded"] = recorded.recorded_dict(entry)


def _verdict(case: Case, history: list[dict[str, Any]]) -> dict[str, Any]:
    last = history[-1]
    return {
        "status": case.status,
        "is_verdict": case.status in {v.value for v in VERDICTS},
        "rationale": last["why"],
        "set_by": last["by"],
        "set_at": last["at"],
        "recorded": last["recorded"],
    }


def _account_entry(acc: AccountRow | None) -> dict[str, Any] | None:
    if acc is None:
        return None
    return {
        "id": acc.id,
        "platform": acc.platform,
        "handle": acc.handle,
        "display_name": acc.display_name,
        "url": acc.url,
        "kind": acc.kind,
    }


def _media_ref(
    m: Media | None, sha256: str | None = None, case: str | None = None
) -> dict[str, Any] | None:
    """A media file named in a section: id, name, label, and `case`, the slug of the case
    holding it when that is not this case (null: this case's own), with its SHA-256 when
    known."""
    if m is None:
        return None
    out: dict[str, Any] = {"id": pk(m), "name": m.original_name, "label": m.label, "case": case}
    if sha256 is not None:
        out["sha256"] = sha256
    return out


def _appearance_entry(
    a: AppearanceRow,
    accounts: Mapping[int, AccountRow],
    media: dict[int, Media],
    trail: recorded.CaseTrail,
) -> dict[str, Any]:
    return {
        "id": a.id,
        "platform": a.platform,
        "url": a.url,
        "post_id": a.post_id,
        "account": _account_entry(accounts.get(a.account_id) if a.account_id else None),
        "posted_at": iso(a.posted_at),
        "posted_precision": a.posted_precision,
        # as given, to its precision: "2023-09-12", "~2023-09" (posted_at is then midnight
        # UTC of that day, not a time anyone recorded)
        "posted": format_posted(a.posted_at, a.posted_precision),
        "captured_at": iso(a.captured_at),
        "caption": a.caption,
        "language": a.language,
        "forwarded_from": a.forwarded_from,
        "quoted_from": a.quoted_from,
        "archive_url": a.archive_url,
        "note": a.note,
        "media": _media_ref(media.get(a.media_id) if a.media_id else None),
        "recorded": recorded.recorded_dict(trail.appearances.get(a.id)),
        "changed": trail.appearance_changes.get(a.id, []),
    }


TIMELINE_KEYS = (
    "at",
    "when",
    "precision",
    "type",
    "text",
    "source",
    "ref",
    "case",
    "earliest",
    "warnings",
)


def _timeline_entries(
    events: list[dict[str, Any]], trail: recorded.CaseTrail
) -> list[dict[str, Any]]:
    """`provlogic.timeline_events`' events, cut to the report's keys, each with `recorded`:
    the entry that recorded the fact it shows (`_origin_entry`)."""
    return [
        {**{k: e.get(k) for k in TIMELINE_KEYS}, "recorded": _origin_entry(e.get("origin"), trail)}
        for e in events
    ]


# the facts of a media record an acquisition event shows
ACQUISITION_FIELDS = frozenset(
    {"original_name", "acquired_by", "acquired_at", "acquired_via", "source_url"}
)


def _acquisition_entry(trail: recorded.CaseTrail, media_id: int) -> dict[str, Any] | None:
    """The entry that last stated a media file's acquisition facts: its `media.add`, or a
    later `media.edit` (a case file's) that changed them."""
    edits = [
        c for c in trail.media_changes.get(media_id, []) if ACQUISITION_FIELDS & set(c["fields"])
    ]
    if edits:
        return {k: edits[-1][k] for k in ("by", "at", "seq", "import")}
    return recorded.recorded_dict(trail.media.get(media_id))


def _origin_entry(origin: Any, trail: recorded.CaseTrail) -> dict[str, Any] | None:
    """The entry that recorded a timeline event's record (`origin`, see
    `provlogic.timeline_events`); for an acquisition, the last that stated its facts (a
    case file's `media.edit` after a `media.add` here). None: no entry (a capture time read
    from the file, another case's appearance)."""
    if not origin:
        return None
    kind, *key = origin
    found: recorded.Recorded | None = None
    if kind == "case":
        found = trail.opened
    elif kind == "status":
        found = trail.status_at(key[0])
    elif kind == "attribution":
        ident, index = key
        entries = trail.attribution_history(ident, index + 1)
        found = entries[index] if len(entries) > index else None
    elif kind == "media":
        return _acquisition_entry(trail, key[0])
    else:
        table = {
            "appearance": trail.appearances,
            "derivation": trail.derivations,
            "retraction": trail.retractions,
            "note": trail.notes,
        }.get(kind, {})
        found = table.get(key[0])
    return recorded.recorded_dict(found)


def _earliest_entry(res: dict[str, Any]) -> dict[str, Any]:
    """`provread.earliest_of`'s answer in the report's shape (docs/report-schema.json)."""
    first = res.get("earliest") or {}
    return {
        "appearance": first.get("id"),
        "case": first.get("case"),
        "platform": first.get("platform"),
        "basis": first.get("basis"),
        "at": first.get("posted_at")
        if first.get("basis") == "posted"
        else first.get("captured_at"),
        "message": res.get("message") or "",
        "contradiction": bool(res.get("contradiction")),
        "claimed_original_platforms": list(res.get("claimed_original_platforms") or []),
        "original_platform_state": res.get("original_platform_state"),
        "uncertain_with": list(res.get("uncertain_with") or []),
        "uncertain_elsewhere": list(res.get("uncertain_elsewhere") or []),
    }


def _attributions(
    rows: Sequence[AttributionRow],
    changes: Mapping[int, Sequence[AttributionChangeRow]],
    accounts: Mapping[int, AccountRow],
    media: dict[int, Media],
    trail: recorded.CaseTrail,
) -> list[dict[str, Any]]:
    """Attributions grouped by role (vocabulary order), each with its state history and
    the entries that recorded them."""
    by_role: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        history = changes.get(r.id, ())
        entries = trail.attribution_history(r.id, len(history))
        by_role[r.role].append(
            {
                "id": r.id,
                "account": _account_entry(accounts.get(r.account_id)),
                "target": _target(r, media),
                "state": r.state,
                "evidence": r.evidence,
                "according_to": r.according_to,
                "created_at": iso(r.created_at),
                "created_by": r.created_by,
                "updated_at": iso(r.updated_at),
                "updated_by": r.updated_by,
                "recorded": recorded.recorded_dict(entries[0] if entries else None),
                "history": [
                    {**change_to_dict(c), "recorded": recorded.recorded_dict(e)}
                    for c, e in zip(history, entries, strict=True)
                ],
            }
        )
    order = [r.value for r in Role]
    roles = sorted(by_role, key=lambda name: (order.index(name) if name in order else 99, name))
    return [{"role": role, "items": by_role[role]} for role in roles]


def _target(r: AttributionRow, media: dict[int, Media]) -> dict[str, Any]:
    name = None
    if r.target_type == "media" and r.target_id in media:
        name = media[r.target_id].original_name
    return {"type": r.target_type, "id": r.target_id, "name": name}


def _derivations(
    session: Session,
    rows: Sequence[DerivationRow],
    media: dict[int, Media],
    blobs: dict[int, Blob],
    trail: recorded.CaseTrail,
) -> list[dict[str, Any]]:
    """The derivations whose child or parent is held in this case (`rows`), each end named;
    the media at an end held by another case are read here, with that case's slug (a
    reader must not take another investigation's file for one of this case's)."""
    outside = ({r.child_id for r in rows} | {r.parent_id for r in rows}) - set(media)
    refs: dict[int, dict[str, Any] | None] = {
        ident: _media_ref(m, blobs[m.blob_id].sha256 if m.blob_id in blobs else None)
        for ident, m in media.items()
    }
    if outside:
        found = session.exec(
            select(Media, Blob.sha256, Case.slug)
            .join(Blob, col(Blob.id) == col(Media.blob_id))
            .join(Case, col(Case.id) == col(Media.case_id))
            .where(col(Media.id).in_(sorted(outside)))
        ).all()
        refs |= {pk(m): _media_ref(m, sha, slug) for m, sha, slug in found}
    return [
        {
            "id": r.id,
            "child": refs.get(r.child_id),
            "parent": refs.get(r.parent_id),
            "kind": r.kind,
            "evidence": r.evidence,
            "note": r.note,
            "created_at": iso(r.created_at),
            "created_by": r.created_by,
            "retracted": _retraction(r, trail),
            "recorded": recorded.recorded_dict(trail.derivations.get(r.id)),
            "changed": trail.derivation_changes.get(r.id, []),
        }
        for r in rows
    ]


def _retraction(r: DerivationRow, trail: recorded.CaseTrail) -> dict[str, Any] | None:
    """`provlogic.retracted`, with the entry that recorded the retraction."""
    out = retracted(r.retracted_at, r.retracted_by, r.retraction)
    if out is None:
        return None
    return {**out, "recorded": recorded.recorded_dict(trail.retractions.get(r.id))}


def _meta_value(meta: dict[str, Any], key: str) -> Any:
    value = meta.get(key)
    return value if value not in ("", [], {}) else None


def _gps(meta: dict[str, Any]) -> dict[str, Any] | None:
    gps = meta.get("gps")
    if not isinstance(gps, dict) or is_placeholder_gps(gps):  # 0, 0 stored by an earlier version
        return None
    lat, lon = gps.get("lat"), gps.get("lon")
    if not isinstance(lat, int | float) or not isinstance(lon, int | float):
        return None
    if not (-90 <= lat <= 90 and -180 <= lon <= 180):
        return None
    alt = gps.get("alt")
    lat_s, lon_s = f"{lat:.6f}", f"{lon:.6f}"
    return {
        "lat": float(lat),
        "lon": float(lon),
        "alt": float(alt) if isinstance(alt, int | float) else None,
        "map_url": f"https://www.openstreetmap.org/?mlat={lat_s}&mlon={lon_s}#map=16/{lat_s}/{lon_s}",
    }


def _notable_tags(meta: dict[str, Any]) -> list[dict[str, str]]:
    """Free-text tags (Artist, ImageDescription, XPComment, XMP, title…) from `meta.raw`."""
    raw = meta.get("raw")
    out: list[dict[str, str]] = []
    if not isinstance(raw, dict):
        return out
    for reader in sorted(raw, key=str):
        tags = raw[reader]
        if not isinstance(tags, dict):
            continue
        for tag in sorted(tags, key=str):
            leaf = str(tag).replace(" ", "").rsplit(":", 1)[-1].rsplit(".", 1)[-1].lower()
            if leaf not in NOTABLE_TAGS:
                continue
            value = tags[tag]
            text = value if isinstance(value, str) else _plain(value)
            if leaf == "usercomment" and str(reader) in EXIF_READERS:
                text = user_comment_text(text)
            if not text.strip():
                continue
            if len(text) > NOTABLE_VALUE_MAX:
                text = text[:NOTABLE_VALUE_MAX] + "…"
            out.append({"reader": str(reader), "tag": str(tag), "value": text})
    return out


# EXIF UserComment: an 8-byte character code, then the text (EXIF 2.32, 4.6.5)
_UC_ASCII, _UC_UNICODE, _UC_JIS, _UC_UNDEFINED = (
    b"ASCII\0\0\0",
    b"UNICODE\0",
    b"JIS\0\0\0\0\0",
    b"\0" * 8,
)
_UC_CODES = (_UC_ASCII, _UC_UNICODE, _UC_JIS, _UC_UNDEFINED)
EXIF_READERS = frozenset({"pillow", "exifread"})  # readers whose UserComment is the EXIF tag


def user_comment_text(stored: str) -> str:
    """The text of an EXIF UserComment as the analysis stored it in `meta.raw`.

    Stored forms (`verify.analysis.metadata._raw_put`): bytes that are printable ASCII
    once trailing NULs are cut are kept as text, so a header with nothing after it is
    `ASCII`, `UNICODE` or `JIS`; any other bytes are `0x` + hex (the 8-byte code has NULs,
    so every real comment is hex); longer than `MAX_COMMENT_BYTES` (256 before comments
    were kept whole) are `<N bytes>` (kept as is: the bytes are gone). The code says how to
    read the rest: ASCII and undefined (8 NULs) as ASCII, else UTF-8, else Latin-1;
    UNICODE as UTF-16 in the byte order `_utf16` can tell (else unchanged); JIS as JIS X
    0208. NULs are dropped and trailing spaces cut, so an empty comment (all spaces or
    NULs, the common case) gives "". Text that is not one of these forms, or cannot be read
    for sure, is returned unchanged.
    """
    if stored in ("ASCII", "UNICODE", "JIS"):
        return ""  # the character code alone
    if not stored.startswith("0x"):
        return stored
    try:
        data = bytes.fromhex(stored[2:])
    except ValueError:
        return stored
    code, body = data[:8], data[8:]
    if not body.strip(b"\0 "):
        return "" if code in _UC_CODES or not code.strip(b"\0 ") else stored
    text: str | None = None
    if code in (_UC_ASCII, _UC_UNDEFINED):
        for encoding in ("ascii", "utf-8", "latin-1"):
            try:
                text = body.decode(encoding)
                break
            except UnicodeDecodeError:
                continue
    elif code == _UC_UNICODE:
        text = _utf16(body)
    elif code == _UC_JIS:
        try:
            text = (b"\x1b$B" + body.rstrip(b"\0") + b"\x1b(B").decode("iso2022_jp")
        except UnicodeDecodeError:
            text = None
    if text is None:
        return stored
    return text.replace("\0", "").rstrip()


def _utf16(body: bytes) -> str | None:
    """UTF-16 text whose byte order is not kept (EXIF writes the TIFF header's; the analysis
    does not store it): a byte-order mark if any; else the one order whose text is plausible
    (Latin, Greek or Cyrillic letters, digits, punctuation), for the other order turns such
    text into rare symbols or CJK. When neither or both orders read so (CJK text reads as
    other CJK either way), None: the hex stays, rather than text that may be wrong."""
    if body[:2] in (b"\xfe\xff", b"\xff\xfe"):
        order = "utf-16-be" if body[:2] == b"\xfe\xff" else "utf-16-le"
        try:
            return body[2 : 2 + (len(body) - 2) // 2 * 2].decode(order)
        except UnicodeDecodeError:
            return None
    body = body[: len(body) // 2 * 2]  # a stray last byte is no character
    readings = []
    for order in ("utf-16-be", "utf-16-le"):
        try:
            text = body.decode(order)
        except UnicodeDecodeError:
            continue
        if all(_plausible(c) for c in text.replace("\0", "")):
            readings.append(text)
    return readings[0] if len(readings) == 1 else None


def _plausible(c: str) -> bool:
    """A character of the scripts a byte-order guess can tell apart (see `_utf16`)."""
    n = ord(c)
    return (c.isprintable() and (n < 0x0250 or 0x0370 <= n < 0x0530)) or c in "\n\t"


def _plain(value: Any) -> str:

    try:
        return orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()
    except TypeError:
        return str(value)


def _metadata(meta: dict[str, Any]) -> dict[str, Any]:
    """The metadata that matters to a verifier, from the normalised keys."""
    c2pa = meta.get("c2pa")
    return {
        "captured_at": _meta_value(meta, "captured_at"),
        "captured_at_raw": _meta_value(meta, "captured_at_raw"),
        "captured_offset": _meta_value(meta, "captured_offset"),
        "creation_time": _meta_value(meta, "creation_time"),
        "make": _meta_value(meta, "make"),
        "model": _meta_value(meta, "model"),
        "software": _meta_value(meta, "software"),
        "gps": _gps(meta),
        "orientation": _meta_value(meta, "orientation"),
        "rotation": _meta_value(meta, "rotation"),
        "width": _meta_value(meta, "width"),
        "height": _meta_value(meta, "height"),
        "duration": _meta_value(meta, "duration"),
        "fps": _meta_value(meta, "fps"),
        "container": _meta_value(meta, "container"),
        "video_codec": _meta_value(meta, "video_codec"),
        "audio_codec": _meta_value(meta, "audio_codec"),
        "encoder": _meta_value(meta, "encoder"),
        "xmp_creator_tool": _meta_value(meta, "xmp_creator_tool"),
        "c2pa": c2pa if isinstance(c2pa, dict) and c2pa else None,
        **_c2pa_read(meta),
        "notable_tags": _notable_tags(meta),
        "disagreements": meta.get("disagreements") or [],
    }


def _c2pa_read(meta: dict[str, Any]) -> dict[str, Any]:
    """Whether the file was looked at for C2PA (`c2pa` null says nothing otherwise):
    `c2pa_read` is `read` (by `c2pa_reader`, e.g. `c2pa-python 0.38.1`), `not_installed`
    (the optional reader was not installed when the file was analysed) or `not_recorded`
    (analysed before the analysis recorded it)."""
    if "c2pa_reader" not in meta:
        return {"c2pa_read": "not_recorded", "c2pa_reader": None}
    reader = meta["c2pa_reader"]
    if isinstance(reader, str) and reader:
        return {"c2pa_read": "read", "c2pa_reader": reader}
    return {"c2pa_read": "not_installed", "c2pa_reader": None}


def _frames(session: Session, blob_id: int) -> list[dict[str, Any]]:
    rows = session.exec(select(Frame).where(Frame.blob_id == blob_id).order_by(col(Frame.idx)))
    return [
        {
            "idx": f.idx,
            "pts": round(f.pts, 3),
            "phash": hex64(f.phash),
            "dhash": hex64(f.dhash),
            "phash_masked": hex64(f.phash_masked) if f.phash_masked is not None else None,
            "informative": f.informative,
            "scene_change": f.scene_change,
        }
        for f in rows
    ]


def contact_sheet(frames: Sequence[dict[str, Any]], limit: int = CONTACT_SHEET_MAX) -> list[int]:
    """Indexes (`idx`) of at most `limit` frames spread evenly over the file."""
    n = len(frames)
    if n <= limit:
        return [f["idx"] for f in frames]
    picks = sorted({round(i * (n - 1) / (limit - 1)) for i in range(limit)})
    return [frames[p]["idx"] for p in picks]


def _exact_copies(
    session: Session, blob_ids: list[int], case_id: int
) -> dict[int, list[dict[str, Any]]]:
    """Per file: the media in other cases holding the same bytes, by media id (search's
    `holdings`; search shows them as exact copies, never as near-duplicates)."""
    held = search.holdings(SqlAlchemyReader(session.connection()), blob_ids)
    return {
        blob: [
            {"case": h.case, "media": h.media, "name": h.original_name}
            for h in media
            if h.case_id != case_id
        ]
        for blob, media in held.items()
    }


def _check_generated_at(session: Session, ref: str, at: datetime) -> None:
    """Refuse a generation time after now, or before any change recorded in the archive
    since: any entry that is not an output (`audit.OUTPUT_ACTIONS`: a report, a copy) dated
    after it, or recorded (by seq) after a report of this case dated exactly then, whatever
    its date (a clock behind). Not only this case's: a report draws on every case (the
    earliest appearance weighs copies held elsewhere, duplicate search, the audit
    checkpoint), so only an archive unchanged since `at` gives the report it gave then."""
    case = get_case(session, ref)  # an unknown case is named first (exit 4)
    current = now()
    when = as_utc(at)
    if when > current:
        raise BadInputError(
            f"--at {iso(at)} is in the future (now {iso(current.replace(microsecond=0))}): "
            "a report cannot be dated after it is written"
        )
    written = _report_written_at(session, case.slug, when)
    rows = session.exec(
        select(AuditEntry.seq, AuditEntry.at, AuditEntry.action, AuditEntry.case_slug)
        .where(col(AuditEntry.action).not_in(audit.OUTPUT_ACTIONS))
        .order_by(col(AuditEntry.seq))
    ).all()
    since = [
        (seq, dated, action, slug)
        for seq, dated, action, slug in rows
        if parse_utc(dated) > when or (written is not None and seq > written)
    ]
    if not since:
        return
    seq, dated, action, slug = since[0]
    where = f" in case {slug}" if slug else ""
    if parse_utc(dated) > when:
        first = f"seq {seq}, {action}{where}, at {iso(parse_utc(dated))}"
    else:
        first = (
            f"seq {seq}, {action}{where}, dated {iso(parse_utc(dated))} but recorded after "
            f"the report dated {iso(at)} (seq {written})"
        )
    count = "a change" if len(since) == 1 else f"{len(since)} changes"
    first = first if len(since) == 1 else f"the first: {first}"
    raise BadInputError(
        f"--at {iso(at)} is before {count} recorded in the archive ({first}): a "
        "report cannot be dated before what it shows, and it draws on every case (earliest "
        "appearances, copies, the audit checkpoint); one written then is listed by "
        f"`verify log {case.slug}` (report.write, with its SHA-256)"
    )


def _report_written_at(session: Session, slug: str, when: datetime) -> int | None:
    """The seq of the first report of the case recorded as generated at `when`, if any."""
    for seq, payload in session.exec(
        select(AuditEntry.seq, AuditEntry.payload)
        .where(AuditEntry.case_slug == slug, AuditEntry.action == audit.REPORT_WRITE)
        .order_by(col(AuditEntry.seq))
    ).all():
        try:
            generated = orjson.loads(payload).get("generated_at")
            if isinstance(generated, str) and parse_utc(generated) == when:
                return int(seq)
        except (orjson.JSONDecodeError, AttributeError, ValueError, OverflowError):
            continue
    return None


def _media_entry(
    session: Session,
    m: Media,
    b: Blob,
    near_duplicates: list[dict[str, Any]],
    exact_copies: list[dict[str, Any]],
    trail: recorded.CaseTrail,
) -> dict[str, Any]:
    meta = b.meta if isinstance(b.meta, dict) else {}
    frames = _frames(session, pk(b))
    return {
        "id": pk(m),
        "name": m.original_name,
        "label": m.label,
        "sha256": b.sha256,
        "size": b.size,
        "kind": b.kind,
        "mime": b.mime,
        "acquired": {
            "by": m.acquired_by,
            "at": iso(m.acquired_at),
            "via": m.acquired_via,
            "source_url": m.source_url,
            "platform": m.platform,
            # the entry that stated these facts last: for a case file's, who imported it
            "recorded": _acquisition_entry(trail, pk(m)),
        },
        # who put the record into this archive (the importer, for a case file's), and later
        # changes of its facts (`media.edit`: imports only)
        "recorded": recorded.recorded_dict(trail.media.get(pk(m))),
        "changed": trail.media_changes.get(pk(m), []),
        # the evidence store's copy of these bytes found damaged and replaced by a new
        # acquisition of them (`media.add` with `restored`), whichever case it was for
        "restorations": trail.restorations.get(b.sha256, []),
        "analysis": {
            "state": b.analysis_state,
            "error": b.analysis_error,
            "incomplete": incomplete_note(meta),
            "pipeline": b.pipeline,
            "mode": b.analysis_mode,
            "analysed_at": iso(b.analysed_at),
            "stored_at": iso(b.stored_at),
        },
        "metadata": _metadata(meta),
        "frame_count": len(frames),
        "frames": frames,
        "contact_sheet": contact_sheet(frames),
        "exact_copies": exact_copies,
        "near_duplicates": near_duplicates,
    }


def _near_duplicate_entries(
    archive: Archive, index: list[Any], blob: Blob, case_slug: str
) -> list[dict[str, Any]]:
    """`verify.services.search.near_duplicates_of_blob`, other cases only, in this report's
    shape (docs/report-schema.json); search's ranking order is kept."""
    out = []
    for h in search.near_duplicates_of_blob(archive, pk(blob), indexes=index):
        if h.get("case") == case_slug:
            continue  # copies within the case are the derivations section's business
        q_range, c_range = h.get("query_range"), h.get("candidate_range")
        aligned = [{"query": q_range, "candidate": c_range}] if q_range and c_range else []
        out.append(
            {
                "case": h["case"],
                "media": h["media"],
                "name": h.get("original_name") or h.get("name") or "",
                "sha256": str(h.get("sha256", "")).removeprefix("sha256:"),
                "tier": h["tier"],
                "score": h["score"],
                "query_frames_matched": h.get("query_fraction"),
                "candidate_frames_matched": h.get("candidate_fraction"),
                "best_distance": h.get("best_distance"),
                "median_distance": h.get("median_distance"),
                "offset": h.get("offset"),
                "aligned": aligned,
                "variant": h.get("variant"),
            }
        )
    return out


def _diff_value(media: dict[str, Any], key: str) -> str | None:
    md = media["metadata"]
    if key == "device_tags":
        present = any(md.get(k) for k in ("make", "model", "captured_at_raw", "gps"))
        return "yes" if present else "no"
    if key == "gps":
        gps = md.get("gps")
        return None if not gps or is_placeholder_gps(gps) else f"{gps['lat']:.6f}, {gps['lon']:.6f}"
    if key == "c2pa":  # "—" would say absent: say whether it was looked for
        c2pa = md.get("c2pa")
        if c2pa:
            return str(c2pa.get("state"))
        return C2PA_DIFF_TEXT.get(str(md.get("c2pa_read")), "not read")
    if key == "captured_at":  # UTC, or the camera's local time marked as such
        captured = capture_time(md)
        raw = md.get("captured_at_raw")
        return captured.text if captured else (None if raw is None else str(raw))
    if key == "dimensions":
        w, h = md.get("width"), md.get("height")
        return f"{w}x{h}" if w and h else None
    value = md.get(key)
    return None if value is None else str(value)


def _metadata_differences(media: list[dict[str, Any]]) -> dict[str, Any]:
    """Which copy kept which metadata: one row per field, one value per media file."""
    rows = []
    for key, label in DIFF_FIELDS:
        values = [{"media": m["id"], "value": _diff_value(m, key)} for m in media]
        distinct = {v["value"] for v in values}
        rows.append({"field": key, "label": label, "differs": len(distinct) > 1, "values": values})
    return {"media": [m["id"] for m in media], "rows": rows if len(media) > 1 else []}
