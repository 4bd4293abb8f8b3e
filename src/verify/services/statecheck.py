"""Does the archive's current state agree with what its audit trail last recorded?

The hash chain proves the trail was not edited; it says nothing about the rows themselves.
Someone who edits a claim's finding directly in the database leaves the chain intact. This
replays the trail's case, claim and attribution entries and compares the last value each
recorded with the current row:

- a case's title, summary and status (`case.open` opens it `unverified`; `case.edit`,
  `status.set`);
- a claim's text, finding, confidence and rationale (`case.open` and `claim.add` create it
  unassessed, with no confidence and no rationale; `claim.assess`, and `claim.edit` from
  imports, change it);
- an attribution's state, evidence and according-to (`attribution.add`, `attribution.set`).

Only what an entry actually records is compared, so entries in the shapes of earlier versions
(`claim.add` carrying the assessment, say) replay as they were written. A case, claim or
attribution the trail created that is gone is reported, and so is a claim with no creating
entry in a case whose `case.open` is in the trail; a case or attribution with no creating
entry at all has nothing to compare with and is left alone.
"""

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import orjson
from sqlmodel import Session, select

from verify.models import Attribution, AuditEntry, Case, Claim

# What `case.open` and `claim.add` create (the `Case` and `Claim` models' defaults).
OPENED_STATUS = "unverified"
NEW_CLAIM: dict[str, Any] = {"finding": "unassessed", "confidence": None, "rationale": ""}
CASE_FIELDS = ("title", "summary", "status")
CLAIM_FIELDS = ("text", "finding", "confidence", "rationale")
ATTRIBUTION_FIELDS = ("state", "evidence", "according_to")


@dataclass(frozen=True)
class Recorded:
    value: Any
    seq: int


@dataclass(frozen=True)
class Mismatch:
    subject: str
    detail: str


Facts = dict[str, Recorded]


def _new(entry: AuditEntry, values: dict[str, Any]) -> Facts:
    return {k: Recorded(v, entry.seq) for k, v in values.items()}


def _set_new(facts: Facts, payload: dict[str, Any], fields: Iterable[str], seq: int) -> None:
    """`FIELD: {"old", "new"}` changes, as `case.edit`, `claim.edit` and `claim.assess` write."""
    for name in fields:
        change = payload.get(name)
        if isinstance(change, dict) and "new" in change:
            facts[name] = Recorded(change["new"], seq)


class _Replay:
    def __init__(self) -> None:
        self.cases: dict[str, Facts] = {}
        self.claims: dict[tuple[str, int], Facts] = {}
        self.attributions: dict[int, Facts] = {}

    def claim(self, slug: str, payload: dict[str, Any]) -> Facts | None:
        n = payload.get("n")
        if not isinstance(n, int):
            return None
        return self.claims.get((slug, n))

    def apply(self, e: AuditEntry) -> None:
        try:
            payload = orjson.loads(e.payload)
        except orjson.JSONDecodeError:
            return  # the chain check reports an unreadable entry's tampering
        if not isinstance(payload, dict):
            return
        slug, action, seq = e.case_slug, e.action, e.seq
        if action.startswith("attribution."):
            self.attribution(e, payload)
            return
        if slug is None:
            return
        if action == "case.open":
            opened = {"status": Recorded(OPENED_STATUS, seq)}
            opened |= _new(e, {k: payload[k] for k in ("title", "summary") if k in payload})
            self.cases[slug] = opened
            texts = payload.get("claims") or []
            for n, text in enumerate(texts if isinstance(texts, list) else [], start=1):
                self.claims[(slug, n)] = _new(e, {**NEW_CLAIM, "text": text})
        elif action == "case.edit" and slug in self.cases:
            _set_new(self.cases[slug], payload, ("title", "summary"), seq)
        elif action == "status.set" and slug in self.cases and "to" in payload:
            self.cases[slug]["status"] = Recorded(payload["to"], seq)
        elif action == "claim.add" and isinstance(payload.get("n"), int):
            # earlier imports recorded the assessment in `claim.add` itself
            recorded = {k: payload[k] for k in CLAIM_FIELDS if k in payload}
            self.claims[(slug, payload["n"])] = _new(e, {**NEW_CLAIM, **recorded})
        elif action == "claim.edit":
            edited = self.claim(slug, payload)
            if edited is not None:
                _set_new(edited, payload, CLAIM_FIELDS, seq)
        elif action == "claim.assess":
            assessed = self.claim(slug, payload)
            if assessed is not None:
                _set_new(assessed, payload, ("finding", "confidence"), seq)
                if isinstance(payload.get("why"), str):
                    assessed["rationale"] = Recorded(payload["why"], seq)

    def attribution(self, e: AuditEntry, payload: dict[str, Any]) -> None:
        ident = payload.get("id")
        if not isinstance(ident, int):
            return
        if e.action == "attribution.add":
            self.attributions[ident] = _new(
                e, {k: payload[k] for k in ATTRIBUTION_FIELDS if k in payload}
            )
        elif e.action == "attribution.set" and ident in self.attributions:
            facts = self.attributions[ident]
            if "to" in payload:
                facts["state"] = Recorded(payload["to"], e.seq)
            facts |= _new(e, {k: payload[k] for k in ATTRIBUTION_FIELDS[1:] if k in payload})


def _compare(subject: str, row: Any, facts: Facts, fields: Iterable[str]) -> list[Mismatch]:
    out = []
    for name in fields:
        if name not in facts:
            continue
        now, then = getattr(row, name), facts[name]
        if now != then.value:
            label = name.replace("_", "-")
            out.append(
                Mismatch(
                    subject,
                    f"{label} is {_show(now)} but the audit trail last recorded "
                    f"{_show(then.value)} (seq {then.seq}): changed behind the tool's back",
                )
            )
    return out


def _show(value: Any) -> str:
    if value is None:
        return "none"
    text = str(value)
    return repr(text if len(text) <= 60 else text[:57] + "...")


def check_state(session: Session, entries: Iterable[AuditEntry]) -> list[Mismatch]:
    """Replay `entries` (in seq order) and compare with the current cases, claims and
    attributions, inside the caller's read transaction."""
    replay = _Replay()
    for entry in entries:
        replay.apply(entry)
    out: list[Mismatch] = []
    cases = {c.id: c for c in session.exec(select(Case)).all()}
    slugs = {c.slug for c in cases.values()}

    def slug_of(case_id: int) -> str:  # a dangling case id is a foreign-key finding
        case = cases.get(case_id)
        return f"#{case_id}" if case is None else case.slug

    for case in sorted(cases.values(), key=lambda c: c.slug):
        facts = replay.cases.get(case.slug)
        if facts is not None:  # no `case.open`: nothing recorded to compare with
            out += _compare(f"case {case.slug}", case, facts, CASE_FIELDS)
    for slug in sorted(set(replay.cases) - slugs):
        seq = replay.cases[slug]["status"].seq
        out.append(Mismatch(f"case {slug}", f"opened at seq {seq} but gone from the archive"))
    seen: set[tuple[str, int]] = set()
    claims = session.exec(select(Claim)).all()
    for claim in sorted(claims, key=lambda c: (slug_of(c.case_id), c.position)):
        slug = slug_of(claim.case_id)
        key = (slug, claim.position)
        seen.add(key)
        subject = f"case {slug} claim {claim.position}"
        facts = replay.claims.get(key)
        if facts is None:
            # the trail has this case from its opening, so it has every claim's creation
            if slug in replay.cases:
                out.append(Mismatch(subject, "not in the audit trail (no claim.add)"))
            continue
        out += _compare(subject, claim, facts, CLAIM_FIELDS)
    for slug, n in sorted(set(replay.claims) - seen):
        if slug in slugs:
            seq = min(r.seq for r in replay.claims[(slug, n)].values())
            out.append(
                Mismatch(f"case {slug} claim {n}", f"added at seq {seq} but gone from the archive")
            )
    attributions = {a.id: a for a in session.exec(select(Attribution)).all()}
    for ident, attr in sorted(attributions.items(), key=lambda kv: kv[0] or 0):
        assert ident is not None
        subject = f"attribution {ident} (case {slug_of(attr.case_id)})"
        facts = replay.attributions.get(ident)
        if facts is not None:  # no `attribution.add`: nothing recorded to compare with
            out += _compare(subject, attr, facts, ATTRIBUTION_FIELDS)
    for ident in sorted(set(replay.attributions) - set(attributions)):
        out.append(Mismatch(f"attribution {ident}", "recorded but gone from the archive"))
    return out
