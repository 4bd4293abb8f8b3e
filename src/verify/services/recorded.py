"""Who recorded each of a case's records in this archive, and how: from the audit trail.

A record's own `by`/`at` (an acquisition's `acquired_by`/`acquired_at`, a status change's,
the case's `created_by`/`created_at`, a note's, an appearance's or derivation's
`created_*`, an attribution change's) are what was *stated*: on the command line, the
person acting and the time; in a case file imported with `verify case import`, whatever the
file says ("OHCHR evidence unit", 2023-05-22T16:00:00Z), which nobody in this archive
witnessed. The audit entry that recorded it says who put it into this archive and when
(its actor and time are the importer's) and, for an import, from which file (`"import":
FILE-NAME` in its payload). A report shows the stated facts *as stated in case file FILE,
imported by ACTOR at TIME* from these entries (`CaseTrail`), read in one statement for the
whole case (`read_case_trail`), however many records it holds.

Entries are paired with rows as `verify check` pairs them (`statecheck`): media, notes,
appearances, attributions and derivations by the id in the payload; status changes one for
one in order; an attribution's history rows with its `attribution.add` then its
`attribution.set` entries (the last entries with the last rows: an import before the
history was recorded wrote one `attribution.add` for the first rows).
"""

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson
from sqlalchemy import and_, or_
from sqlmodel import Session, col, select

from verify.models import AuditEntry
from verify.services.statecheck import (
    CLAIM_ACTIONS,
    NEW_CLAIM,
    NOTED_KEY,
    claim_changes,
    claim_number,
)
from verify.timeutil import as_utc, parse_utc

DERIVATION_ACTIONS = ("derivation.add", "derivation.edit", "derivation.retract")
# the actions recording a case's own records, read by case slug
CASE_ACTIONS = (
    "case.open",
    "status.set",
    "note.add",
    "media.add",
    "media.edit",
    "appearance.add",
    "appearance.edit",
    "attribution.add",
    "attribution.set",
    *CLAIM_ACTIONS,
)


# the payload key naming the record, by action (an appearance's payload has `media` too)
ID_KEY = {
    "note.add": "note",
    "media.add": "media",
    "media.edit": "media",
    "appearance.add": "id",
    "appearance.edit": "id",
}


@dataclass(frozen=True)
class Recorded:
    """The audit entry that recorded something in this archive: who (its actor), when (its
    time), its sequence number, and the case file it was imported from (None: recorded
    here, on the command line)."""

    by: str
    at: str
    seq: int
    imported: str | None

    def to_dict(self) -> dict[str, Any]:
        return {"by": self.by, "at": self.at, "seq": self.seq, "import": self.imported}


def recorded_dict(r: Recorded | None) -> dict[str, Any] | None:
    return None if r is None else r.to_dict()


@dataclass(frozen=True)
class Entry:
    """One audit entry, its payload read (a payload that is not a JSON object is `{}`:
    `verify check` reports the damaged entry)."""

    seq: int
    at: str
    actor: str
    action: str
    case: str | None
    payload: dict[str, Any]

    @property
    def recorded(self) -> Recorded:
        imported = self.payload.get("import")
        return Recorded(
            self.actor, self.at, self.seq, imported if isinstance(imported, str) else None
        )

    def change(self) -> dict[str, Any]:
        """An edit entry as `{"by", "at", "seq", "import", "fields"}`: the fields it
        changed (`FIELD: {"old", "new"}` in its payload), sorted."""
        fields = sorted(
            k for k, v in self.payload.items() if isinstance(v, dict) and set(v) >= {"old", "new"}
        )
        return {**self.recorded.to_dict(), "fields": fields}


@dataclass
class CaseTrail:
    """The entries recording one case's records, by record (see the module docstring)."""

    opened: Recorded | None = None
    status: list[Recorded] = field(default_factory=list)  # status.set, in order
    notes: dict[int, Recorded] = field(default_factory=dict)
    media: dict[int, Recorded] = field(default_factory=dict)
    media_changes: dict[int, list[dict[str, Any]]] = field(default_factory=dict)
    appearances: dict[int, Recorded] = field(default_factory=dict)
    appearance_changes: dict[int, list[dict[str, Any]]] = field(default_factory=dict)
    attributions: dict[int, list[Entry]] = field(default_factory=dict)  # add, sets
    derivations: dict[int, Recorded] = field(default_factory=dict)
    derivation_changes: dict[int, list[dict[str, Any]]] = field(default_factory=dict)
    retractions: dict[int, Recorded] = field(default_factory=dict)
    claims: list[Entry] = field(default_factory=list)  # claim.*, in order
    # stored file (SHA-256 hex) -> each time its damaged copy was replaced, in order
    restorations: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    def status_at(self, index: int) -> Recorded | None:
        """The entry of the case's `index`-th status change (0-based, in order)."""
        return self.status[index] if 0 <= index < len(self.status) else None

    def attribution_history(self, ident: int, rows: int) -> list[Recorded | None]:
        """The entry of each of an attribution's `rows` history rows, in order: the last
        entries with the last rows, its `attribution.add` with the rows before them."""
        entries = self.attributions.get(ident, [])
        add = [e for e in entries if e.action == "attribution.add"]
        sets = [e.recorded for e in entries if e.action == "attribution.set"]
        later = sets[-rows:] if rows else []
        first = add[0].recorded if add else None
        return [first] * (rows - len(later)) + list(later)


# the payload key under which an import records who made an assessment and when, as the
# case file states it (`{"by", "at"}`): the entry's own actor and time are the importer's
STATED = "stated"


def stated(payload: dict[str, Any]) -> tuple[str, str] | None:
    """(by, at) a claim entry's payload says the change was made by and at, as a case file
    stated them; None when it does not say (made here, or an import without history)."""
    value = payload.get(STATED)
    if isinstance(value, dict) and isinstance(by := value.get("by"), str):
        at = value.get("at")
        return (by, at) if isinstance(at, str) else None
    return None


def noted(payload: dict[str, Any]) -> dict[str, Any] | None:
    """The assessment a `claim.edit` records beside the claim's current one (an import of
    an assessment a case file dated, ordered before the current one or saying the same:
    `statecheck.NOTED_KEY` with `stated`), as {finding, confidence, rationale ("" for
    none)}; None for any other entry."""
    value = payload.get(NOTED_KEY)
    if stated(payload) is None or not isinstance(value, dict):
        return None
    return {
        "finding": value.get("finding"),
        "confidence": value.get("confidence") or None,
        "rationale": value.get("rationale") or "",
    }


def assessment_order(item: dict[str, Any]) -> tuple[datetime, str]:
    """The one order of a claim's assessments, the same in every archive: by when each was
    made, then (the same instant) by who; one person's at the same instant (a pinned clock)
    stay in the order they were recorded in (sorts are stable, and an import records a
    file's in its order). The last is the claim's current assessment."""
    return (instant(item["at"]), str(item["by"] or ""))


def claim_histories(entries: Iterable[Entry]) -> dict[int, list[dict[str, Any]]]:
    """Claim number -> its assessments, as case files carry them, in `assessment_order`
    (oldest first; the last is the current one): one item per entry that changed the
    claim's finding, confidence or rationale (with the assessment after it), or `noted`
    one, as {finding, confidence, rationale, by, at}: who made it and when as a case file
    stated them when an import recorded it with them, else the entry's actor and time.
    `entries`: the case's entries in order (others are passed over). A change of the
    claim's text alone is not an assessment."""
    current: dict[int, dict[str, Any]] = {}
    out: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for e in entries:
        n = claim_number(e.action, e.payload)
        if n is None:
            continue
        now = current.setdefault(n, dict(NEW_CLAIM))
        values = noted(e.payload)
        if values is None:
            changes = claim_changes(e.action, e.payload)
            changed = False
            for key in NEW_CLAIM:
                if key in changes:
                    new = changes[key][1]
                    new = (new or "") if key == "rationale" else new
                    if new != now[key]:
                        now[key], changed = new, True
            if not changed:
                continue
            values = dict(now)
        by, at = stated(e.payload) or (e.actor, e.at)
        out[n].append({**values, "by": by, "at": at})
    for items in out.values():
        items.sort(key=assessment_order)
    return out


def instant(at: str | datetime) -> datetime:
    """An entry's or a file's time as a UTC datetime; an unreadable one (a damaged entry,
    which `verify check` reports) sorts first."""
    if isinstance(at, datetime):
        return as_utc(at)
    try:
        return parse_utc(at)
    except ValueError:
        return datetime.min.replace(tzinfo=UTC)


def _payload(text: str) -> dict[str, Any]:
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError:
        return {}
    return value if isinstance(value, dict) else {}


def read_entries(session: Session, slug: str) -> list[Entry]:
    """The entries recording the case's records (CASE_ACTIONS under its slug), every
    derivation entry (a derivation linking this case's file to another case's may be
    recorded under the other case) and every `media.add` that restored a damaged stored
    copy (under any case: whichever added the bytes again), in one statement, in order."""
    rows = session.exec(
        select(AuditEntry)
        .where(
            or_(
                and_(col(AuditEntry.case_slug) == slug, col(AuditEntry.action).in_(CASE_ACTIONS)),
                col(AuditEntry.action).in_(DERIVATION_ACTIONS),
                # a prefilter (payloads are canonical JSON: sorted keys, no spaces); the
                # payload read decides (`case_trail`)
                and_(
                    col(AuditEntry.action) == "media.add",
                    col(AuditEntry.payload).contains('"restored":'),
                ),
            )
        )
        .order_by(col(AuditEntry.seq))
    ).all()
    return [Entry(e.seq, e.at, e.actor, e.action, e.case_slug, _payload(e.payload)) for e in rows]


def read_claim_entries(session: Session, slug: str) -> list[Entry]:
    """The case's `claim.*` entries, in order (for `claim_histories`)."""
    rows = session.exec(
        select(AuditEntry)
        .where(col(AuditEntry.case_slug) == slug, col(AuditEntry.action).in_(CLAIM_ACTIONS))
        .order_by(col(AuditEntry.seq))
    ).all()
    return [Entry(e.seq, e.at, e.actor, e.action, e.case_slug, _payload(e.payload)) for e in rows]


def case_trail(entries: Iterable[Entry], slug: str, derivations: Sequence[int]) -> CaseTrail:
    """`entries` (from `read_entries`) by record, for the case `slug` and the derivations
    with ids `derivations` (this case's, whichever case recorded them)."""
    trail = CaseTrail()
    wanted = set(derivations)
    changes: dict[str, dict[int, list[dict[str, Any]]]] = {
        "media.edit": defaultdict(list),
        "appearance.edit": defaultdict(list),
        "derivation.edit": defaultdict(list),
    }
    for e in entries:
        p, action = e.payload, e.action
        if action == "media.add" and isinstance(p.get("restored"), str):
            _restoration(trail, e, slug)
        if action in DERIVATION_ACTIONS:
            ident = p.get("id")
            if not isinstance(ident, int) or ident not in wanted:
                continue
            if action == "derivation.add":
                trail.derivations.setdefault(ident, e.recorded)
            elif action == "derivation.retract":
                trail.retractions.setdefault(ident, e.recorded)
            else:
                changes[action][ident].append(e.change())
            continue
        if e.case != slug:
            continue
        if action == "case.open":
            trail.opened = trail.opened or e.recorded
        elif action == "status.set":
            trail.status.append(e.recorded)
        elif action in CLAIM_ACTIONS:
            trail.claims.append(e)
        elif action == "attribution.add" or action == "attribution.set":
            ident = p.get("id")
            if isinstance(ident, int):
                trail.attributions.setdefault(ident, []).append(e)
        else:
            key = p.get(ID_KEY[action])
            if not isinstance(key, int):
                continue
            if action == "note.add":
                trail.notes.setdefault(key, e.recorded)
            elif action == "media.add":
                trail.media.setdefault(key, e.recorded)
            elif action == "appearance.add":
                trail.appearances.setdefault(key, e.recorded)
            elif action in changes:
                changes[action][key].append(e.change())
    trail.media_changes = dict(changes["media.edit"])
    trail.appearance_changes = dict(changes["appearance.edit"])
    trail.derivation_changes = dict(changes["derivation.edit"])
    return trail


def _restoration(trail: CaseTrail, e: Entry, slug: str) -> None:
    """A `media.add` that found the stored copy of its bytes damaged (`restored`: what
    `verify check` says of it, `hash-mismatch` or `unreadable`) and replaced it with the
    bytes it was adding, keeping the damaged copy at `damaged_copy` (relative to the
    evidence store, `objects/`)."""
    p = e.payload
    sha = p.get("sha256")
    if not isinstance(sha, str):
        return
    kept = p.get("damaged_copy")
    trail.restorations.setdefault(sha.removeprefix("sha256:"), []).append(
        {
            "found": p["restored"],
            "damaged_copy": f"objects/{kept}" if isinstance(kept, str) else None,
            "media": p.get("media") if isinstance(p.get("media"), int) else None,
            "case": None if e.case == slug else e.case,
            **e.recorded.to_dict(),
        }
    )
