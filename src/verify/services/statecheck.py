"""Does the archive's current state agree with what its audit trail last recorded?

The hash chain proves the trail was not edited; it says nothing about the rows themselves.
Someone who edits a claim's finding directly in the database leaves the chain intact. This
replays the trail's case, claim and attribution entries and compares the last value each
recorded with the current row:

- a case's title, summary and status (`case.open` opens it `unverified`; `case.edit`,
  `status.set`), who opened it and when (`case.open`), and its status history: each
  `status_changes` row's from, to, rationale, who and when against the case's `status.set`
  entries, one for one in order;
- a claim's text, finding, confidence and rationale (`case.open` and `claim.add` create it
  unassessed, with no confidence and no rationale; `claim.assess`, and `claim.edit` from
  imports, change it), who last changed it (the actor of the last of those), and who added
  it and when (`claim_created`: as the creating entry records them, else its actor and
  time; none for an import's entry that does not record them);
- an attribution's role, actor and target (`attribution.add`), its state, evidence and
  according-to (`attribution.add`, `attribution.set`), and its state history: each
  `attribution_changes` row's from, to, evidence, according-to, who and when, one for one
  with those entries in order (who and when where they record them; the history and actor
  of an attribution an import recorded before they did are not compared: the earliest
  imports recorded one entry in its last state, the actor as the file spelt it);
- a media record's custody facts: original name, source URL, platform, acquired-via, label,
  who acquired it and when (where the entry records them: earlier ones do not), and which
  stored file (SHA-256) it holds (`media.add`, `media.edit` from imports);
- an appearance's platform, URL, post id, account, posted date (with its precision),
  capture time, caption, language, forwarded/quoted from, archive URL, media and note
  (`appearance.add`, which records its non-empty fields, and `appearance.edit`);
- a derivation's child, parent, kind, evidence and note (`derivation.add`,
  `derivation.edit`), and its retraction (none when added; `derivation.retract`);
- a note's text, the case it is attached to, who wrote it and when (`note.add`, by the
  note's id; who and when where it records them, else who as its actor, outside imports);
- an account's platform, handle, display name, URL, kind and credibility (`account.add`,
  `account.edit`; accounts and their `account.add` entries aligned in creation order).

Who and when are compared as an entry records them (`by`, `at`); entries that do not (those
written before they were) give who as their actor, outside imports, and no when.

A platform name, and an account's ref (`platform:handle`), is what the entry records or the
name the platform has now (`platform_now`, `ref_now`): migration 0005 moved records stored
under another spelling of a platform (`ig`, `Instagram`) to its name (`instagram`), as
the tool writes it now, and left the trail as it was. Only that way: a row moved back to
`ig` behind the tool's back differs from an entry that recorded `instagram`.

Only what an entry actually records is compared, so entries in the shapes of earlier versions
(`claim.add` carrying the assessment, say) replay as they were written. A case, claim, status
change, attribution or attribution change, media record, appearance, derivation, note or
account the trail created that is gone is reported, and so is a claim, status change or note
with no creating entry in a case whose `case.open` is in the trail, and an attribution change
with none in an attribution whose whole history the trail has; a case, attribution or
account with no creating entry at all has nothing to compare with and is left alone.
"""

import difflib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import orjson
from sqlmodel import Session, col, select

from verify.errors import VerifyError
from verify.models import (
    Account,
    Appearance,
    Attribution,
    AttributionChange,
    AuditEntry,
    Blob,
    Case,
    Claim,
    Derivation,
    Frame,
    Media,
    Note,
    StatusChange,
)
from verify.services.provlogic import APPEARANCE_TEXT_FIELDS
from verify.timeutil import iso, parse_utc
from verify.vocab import platform_name

# What `case.open` and `claim.add` create (the `Case` and `Claim` models' defaults).
OPENED_STATUS = "unverified"
NEW_CLAIM: dict[str, Any] = {"finding": "unassessed", "confidence": None, "rationale": ""}
# who opened a case and when: as `case.open` records them (since it does; before, who as
# its actor, outside imports)
CASE_FIELDS = ("title", "summary", "status", "created_by", "created_at")
CLAIM_FIELDS = ("text", "finding", "confidence", "rationale")
# who last changed a claim: the actor of its last entry (every claim entry sets it); who
# added it and when: as the entry that created it says (`claim_created`)
CLAIM_CHECKED = (*CLAIM_FIELDS, "updated_by", "created_by", "created_at")
STATUS_CHANGE_FIELDS = ("from", "to", "rationale", "by", "at")
STATUS_CHANGE_KEY = ("from", "to", "rationale")  # how rows and entries are aligned
# a note's text, the case it is attached to, who wrote it and when
NOTE_FIELDS = ("text", "case", "by", "at")
# an account's fields as `account.add` records them (`account.edit` changes the last four)
ACCOUNT_FIELDS = ("platform", "handle", "display_name", "url", "kind", "credibility")
# who did what to what (fixed once recorded), and its current state
ATTRIBUTION_FIELDS = ("role", "actor", "target", "state", "evidence", "according_to")
# each change of an attribution's state (`attribution_changes`), aligned on the first four
ATTRIBUTION_CHANGE_FIELDS = ("from", "to", "evidence", "according_to", "by", "at")
ATTRIBUTION_CHANGE_KEY = ("from", "to", "evidence", "according_to")
# the `attribution_changes` column each of ATTRIBUTION_CHANGE_FIELDS is read from
_CHANGE_COLUMNS = {"from": "from_state", "to": "to_state", "evidence": "evidence",
                   "according_to": "according_to", "by": "by", "at": "at"}  # fmt: skip
# who acquired it and when are compared where the entry records them (`media.add` has
# since they were added; earlier entries do not)
MEDIA_FIELDS = (
    "original_name",
    "source_url",
    "platform",
    "acquired_via",
    "label",
    "acquired_by",
    "acquired_at",
)
DERIVATION_FIELDS = ("child", "parent", "kind", "evidence", "note", "retraction")
# an appearance's fields as `appearance.add` records them (`appearance_to_dict`, non-empty
# ones only: a field it leaves out was empty)
APPEARANCE_TEXT = ("platform", *APPEARANCE_TEXT_FIELDS)
APPEARANCE_FIELDS = (*APPEARANCE_TEXT, "account", "media", "posted", "captured_at")


# the fields that hold a platform name, and those that hold an account's ref
PLATFORM_FIELDS = frozenset({"platform"})
REF_FIELDS = frozenset({"actor", "account"})


def platform_now(recorded: str) -> str:
    """The name a platform recorded under another spelling has now (`ig`, `Instagram` ->
    `instagram`: `vocab.platform_name`), as migration 0005 gave the rows."""
    return platform_name(recorded)


def ref_now(ref: str) -> str:
    """An account's ref with its platform's name now (`ig:@x` -> `instagram:@x`), its
    handle as recorded (migration 0005 moves the platform only)."""
    platform, sep, handle = ref.partition(":")
    return f"{platform_now(platform)}:{handle}" if sep else ref


def _alike(name: str, now: Any, then: Any) -> bool:
    """A row's field is what the trail last recorded: the same value, or for a platform
    name or an account's ref, what the recorded one names now (`platform_now`, `ref_now`)."""
    if now == then:
        return True
    if not isinstance(now, str) or not isinstance(then, str):
        return False
    if name in PLATFORM_FIELDS:
        return now == platform_now(then)
    if name in REF_FIELDS:
        return now == ref_now(then)
    return False


class Recorded(NamedTuple):  # a tuple: one is made per field of each entry replayed
    value: Any
    seq: int


@dataclass(frozen=True)
class Mismatch:
    subject: str
    detail: str


Facts = dict[str, Recorded]


def _new(entry: AuditEntry, values: dict[str, Any]) -> Facts:
    seq = entry.seq  # once: an ORM attribute
    return {k: Recorded(v, seq) for k, v in values.items()}


def _set_new(facts: Facts, payload: dict[str, Any], fields: Iterable[str], seq: int) -> None:
    """`FIELD: {"old", "new"}` changes, as `case.edit`, `claim.edit` and `claim.assess` write."""
    for name in fields:
        change = payload.get(name)
        if isinstance(change, dict) and "new" in change:
            facts[name] = Recorded(change["new"], seq)


def _who_when(e: AuditEntry, payload: dict[str, Any]) -> dict[str, Any]:
    """Who made a change and when, as its entry records them (`by`, `at`: `status.set` and
    `note.add`, and the others that carry them, since they do). An entry without them gives
    who only: the entry's actor, who made a change on the command line (an import's is
    whoever the file names, not recorded)."""
    out: dict[str, Any] = {}
    if "by" in payload:
        out["by"] = payload["by"]
    elif "import" not in payload:
        out["by"] = e.actor
    if "at" in payload:
        out["at"] = _instant(payload["at"])
    return out


CLAIM_ACTIONS = ("claim.add", "claim.assess", "claim.edit")
# the payload key of a `claim.edit` an import writes for an assessment a case file dates that
# does not become the claim's current one (`recorded.claim_histories`): it changes nothing
NOTED_KEY = "assessment"


def claim_created(e: AuditEntry, payload: dict[str, Any]) -> dict[str, Any]:
    """Who added a claim and when, by the entry that created it (`claim.add`, or the
    `case.open` that listed it): as the entry records them (`by`, `at`: `claim.add` since
    this version, `case.open` since it records who opened the case); else, on the command
    line, the entry's actor and time (the claim row was written with them, and migration
    0004 gave it those); an import's entry without them gives none (the file did not say:
    migration 0004 left those claims without)."""
    imported = "import" in payload
    by = payload.get("by", None if imported else e.actor)
    at = payload.get("at", None if imported else e.at)
    return {"created_by": by, "created_at": _instant(at)}


def claim_changes(action: str, payload: dict[str, Any]) -> dict[str, tuple[Any, Any]]:
    """`FIELD: (old, new)` for what a claim entry records; the one reading of claim entries,
    for the replay here and for the report's claim history.

    `claim.add` creates the claim: each field it records, old None (earlier imports recorded
    the assessment in it); `claim.edit` writes `FIELD: {"old", "new"}` for any of
    CLAIM_FIELDS; `claim.assess` does for finding, confidence and rationale (entries before
    this version give the new rationale as `why`, old None: they do not record it)."""
    if action == "claim.add":
        return {k: (None, payload[k]) for k in CLAIM_FIELDS if k in payload}
    fields = CLAIM_FIELDS if action == "claim.edit" else ("finding", "confidence", "rationale")
    out = {}
    for name in fields:
        change = payload.get(name)
        if isinstance(change, dict) and "new" in change:
            out[name] = (change.get("old"), change["new"])
    if action == "claim.assess" and isinstance(payload.get("why"), str):
        out["rationale"] = (None, payload["why"])
    return out


def claim_number(action: str, payload: Any) -> int | None:
    """The claim a `claim.*` entry's payload is about (its `n`), else None."""
    if action not in CLAIM_ACTIONS or not isinstance(payload, dict):
        return None
    n = payload.get("n")
    return n if isinstance(n, int) else None


class _Replay:
    def __init__(self) -> None:
        self.cases: dict[str, Facts] = {}
        self.claims: dict[tuple[str, int], Facts] = {}
        self.status_changes: dict[str, list[Facts]] = {}  # per case, in order
        self.notes: dict[int, Facts] = {}
        # accounts in the order `account.add` created them (the order of their ids), with
        # the ref each was created under (`ref`): entries name an account by it, not its id
        self.accounts: list[Facts] = []
        self.account_at: dict[str, int] = {}  # ref -> index in `accounts`
        # the ref with its platform's name now (`ref_now`) -> index: the ref `account.edit`
        # names an account moved by migration 0005 by
        self.account_now: dict[str, int] = {}
        # sha256 (hex) -> the digest of what the last analysis of those bytes stored
        self.analyses: dict[str, Recorded] = {}
        self.attributions: dict[int, Facts] = {}
        # per attribution whose every state change the trail records, those, in order
        self.attribution_changes: dict[int, list[Facts]] = {}
        self.media: dict[int, Facts] = {}
        self.appearances: dict[int, Facts] = {}
        self.derivations: dict[int, Facts] = {}

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
        if action in ("media.add", "media.edit", "media.reanalyse"):
            self.analysis(e, payload)
            if action != "media.reanalyse":
                self.media_entry(e, payload)
            return
        if action in ("appearance.add", "appearance.edit"):
            self.appearance(e, payload)
            return
        if action in ("derivation.add", "derivation.edit", "derivation.retract"):
            self.derivation(e, payload)
            return
        if action in ("account.add", "account.edit"):
            self.account(e, payload)
            return
        if slug is None:
            return
        if action == "case.open":
            opened = {"status": Recorded(OPENED_STATUS, seq)}
            opened |= _new(e, {k: payload[k] for k in ("title", "summary") if k in payload})
            who_when = _who_when(e, payload)
            opened |= _new(e, {f"created_{k}": v for k, v in who_when.items()})
            self.cases[slug] = opened
            texts = payload.get("claims") or []
            created = claim_created(e, payload)
            for n, text in enumerate(texts if isinstance(texts, list) else [], start=1):
                claim = {**NEW_CLAIM, "text": text, "updated_by": e.actor, **created}
                self.claims[(slug, n)] = _new(e, claim)
        elif action == "case.edit" and slug in self.cases:
            _set_new(self.cases[slug], payload, ("title", "summary"), seq)
        elif action == "status.set" and "to" in payload:
            if slug in self.cases:
                self.cases[slug]["status"] = Recorded(payload["to"], seq)
            change = {"from": payload.get("from"), "to": payload["to"]}
            change["rationale"] = payload.get("why") or ""
            change |= _who_when(e, payload)
            self.status_changes.setdefault(slug, []).append(_new(e, change))
        elif action == "note.add" and isinstance(payload.get("note"), int):
            note = {"case": slug} | {k: payload[k] for k in ("text",) if k in payload}
            self.notes[payload["note"]] = _new(e, note | _who_when(e, payload))
        elif (number := claim_number(action, payload)) is not None:
            if isinstance(payload.get(NOTED_KEY), dict):
                return  # an assessment noted beside the current one: the claim is unchanged
            recorded = {k: new for k, (_, new) in claim_changes(action, payload).items()}
            recorded["updated_by"] = e.actor  # each claim entry's command sets it
            if action == "claim.add":
                recorded |= claim_created(e, payload)
                self.claims[(slug, number)] = _new(e, {**NEW_CLAIM, **recorded})
            elif (slug, number) in self.claims:
                self.claims[(slug, number)] |= _new(e, recorded)

    def attribution(self, e: AuditEntry, payload: dict[str, Any]) -> None:
        ident = payload.get("id")
        if not isinstance(ident, int):
            return
        change = {k: payload.get(k) for k in ("evidence", "according_to")}
        if e.action == "attribution.add":
            recorded = {k: payload[k] for k in ATTRIBUTION_FIELDS if k in payload}
            # Imports before `by`/`at` were recorded wrote the actor as the file spelt it,
            # and (the earliest) a new attribution as one entry in its last state: their
            # actor and state changes are not compared.
            if "import" in payload and "at" not in payload:
                recorded.pop("actor", None)
            else:
                first = {"from": None, "to": payload.get("state"), **change}
                self.attribution_changes[ident] = [_new(e, first | _who_when(e, payload))]
            self.attributions[ident] = _new(e, recorded)
        elif e.action == "attribution.set" and ident in self.attributions:
            facts = self.attributions[ident]
            if "to" in payload:
                facts["state"] = Recorded(payload["to"], e.seq)
            facts |= _new(e, {k: payload[k] for k in change if k in payload})
            if ident in self.attribution_changes:
                later = {"from": payload.get("from"), "to": payload.get("to"), **change}
                self.attribution_changes[ident].append(_new(e, later | _who_when(e, payload)))

    def account(self, e: AuditEntry, payload: dict[str, Any]) -> None:
        if e.action == "account.add":
            ref = payload.get("ref")
            if isinstance(ref, str):
                self.account_at[ref] = len(self.accounts)
                self.account_now.setdefault(ref_now(ref), len(self.accounts))
                recorded = {k: payload[k] for k in ACCOUNT_FIELDS if k in payload}
                self.accounts.append(_new(e, {"ref": ref, "key": ref_now(ref), **recorded}))
            return
        ref = str(payload.get("account"))
        index = self.account_at.get(ref, self.account_now.get(ref))
        if index is not None:
            _set_new(self.accounts[index], payload, ACCOUNT_FIELDS, e.seq)

    def analysis(self, e: AuditEntry, payload: dict[str, Any]) -> None:
        """The digest an analysis recorded (`media.add` of bytes it analysed, and
        `media.reanalyse`), by the bytes' SHA-256."""
        digest, sha = payload.get("analysis_digest"), payload.get("sha256")
        if isinstance(digest, str) and isinstance(sha, str):
            self.analyses[sha.removeprefix("sha256:")] = Recorded(digest, e.seq)

    def media_entry(self, e: AuditEntry, payload: dict[str, Any]) -> None:
        ident = payload.get("media")
        if not isinstance(ident, int):
            return
        if e.action == "media.add":
            recorded = {k: payload[k] for k in (*MEDIA_FIELDS, "sha256") if k in payload}
            # imports before the shared payload shape: `"sha256": HEX, "name"` (json.md)
            if "name" in payload and "original_name" not in payload:
                recorded["original_name"] = payload["name"]
            sha = recorded.get("sha256")
            if isinstance(sha, str) and not sha.startswith("sha256:"):
                recorded["sha256"] = f"sha256:{sha}"
            self.media[ident] = _new(e, recorded)
        elif ident in self.media:
            _set_new(self.media[ident], payload, MEDIA_FIELDS, e.seq)
        when = self.media.get(ident, {}).get("acquired_at")
        if when is not None:  # as `media_row` gives it, whatever form the entry has
            self.media[ident]["acquired_at"] = Recorded(_instant(when.value), when.seq)

    def appearance(self, e: AuditEntry, payload: dict[str, Any]) -> None:
        ident = payload.get("id")
        if not isinstance(ident, int):
            return
        if e.action == "appearance.add":
            recorded = {k: payload.get(k) for k in APPEARANCE_FIELDS}
            recorded["posted"] = _posted_text(payload.get("posted"))
            recorded["captured_at"] = _instant_text(payload.get("captured_at"))
            self.appearances[ident] = _new(e, recorded)
            return
        facts = self.appearances.get(ident)
        if facts is None:
            return
        _set_new(facts, payload, APPEARANCE_TEXT, e.seq)
        # an import's edit names the model's columns, not the `appearance.add` fields
        for column, name in (("account_id", "account"), ("media_id", "media")):
            change = payload.get(column)
            if isinstance(change, dict) and "new" in change:
                new = change["new"]
                facts[name] = Recorded(("account id", new) if name == "account" else new, e.seq)
        at, precision = payload.get("posted_at"), payload.get("posted_precision")
        if isinstance(at, dict) or isinstance(precision, dict):
            old_at, old_precision = _posted_parts(facts["posted"].value)
            new_at = at["new"] if isinstance(at, dict) and "new" in at else old_at
            new_precision = (
                precision["new"]
                if isinstance(precision, dict) and "new" in precision
                else old_precision
            )
            facts["posted"] = Recorded(_posted_from(new_at, new_precision), e.seq)
        captured = payload.get("captured_at")
        if isinstance(captured, dict) and "new" in captured:
            facts["captured_at"] = Recorded(_instant_text(captured["new"]), e.seq)

    def derivation(self, e: AuditEntry, payload: dict[str, Any]) -> None:
        ident = payload.get("id")
        if not isinstance(ident, int):
            return
        if e.action == "derivation.add":
            recorded = {k: payload[k] for k in DERIVATION_FIELDS if k in payload}
            if "evidence" in recorded:
                recorded["evidence"] = _json_text(recorded["evidence"])
            recorded["retraction"] = None  # every derivation is recorded standing
            self.derivations[ident] = _new(e, recorded)
        elif e.action == "derivation.retract" and ident in self.derivations:
            self.derivations[ident]["retraction"] = Recorded(payload.get("why"), e.seq)
        elif ident in self.derivations:
            facts = self.derivations[ident]
            _set_new(facts, payload, ("note",), e.seq)
            change = payload.get("evidence")
            if isinstance(change, dict) and "new" in change:
                facts["evidence"] = Recorded(_json_text(change["new"]), e.seq)


def _posted_text(value: Any) -> Any:
    """`appearance.add`'s posted display form, re-formatted canonically (None stays)."""
    if not isinstance(value, str):
        return value
    at, precision = _posted_parts(value)
    return _posted_from(at, precision)


def _posted_parts(value: Any) -> tuple[Any, Any]:
    """(instant, precision) of a posted display form; (None, None) for none."""
    from verify.services.provenance import parse_posted

    if not isinstance(value, str):
        return None, None
    try:
        at, precision = parse_posted(value)
    except VerifyError:
        return value, None  # not ours to read: compared as written
    return at, precision.value


def _posted_from(at: Any, precision: Any) -> Any:
    from verify.services.provenance import format_posted
    from verify.timeutil import parse_utc

    if at is None:
        return None
    if isinstance(at, str):
        try:
            at = parse_utc(at)
        except ValueError:
            return at
    return format_posted(at, str(precision or "exact"))


def _instant_text(value: Any) -> Any:
    """An instant as `iso` writes it, whichever ISO form it was recorded in."""
    from verify.timeutil import iso, parse_utc

    if not isinstance(value, str):
        return value
    try:
        return iso(parse_utc(value))
    except ValueError:
        return value


def _json_text(value: Any) -> Any:
    return None if value is None else orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()


def _compare(subject: str, row: Any, facts: Facts, fields: Iterable[str]) -> list[Mismatch]:
    out = []
    for name in fields:
        if name not in facts:
            continue
        now, then = _value(row, name), facts[name]
        if not _alike(name, now, then.value):
            label = name.replace("_", "-")
            out.append(
                Mismatch(
                    subject,
                    f"{label} is {_show(now)} but the audit trail last recorded "
                    f"{_show(then.value)} (seq {then.seq}): changed behind the tool's back",
                )
            )
    return out


def _instant(value: Any) -> Any:
    """A recorded time as `iso` writes it, whichever form the entry has it in (`iso` text,
    or a datetime as orjson writes one into an import's `media.edit`); else as it is."""
    if isinstance(value, str):
        try:
            return iso(parse_utc(value))
        except ValueError:
            return value
    return value


def _value(row: Any, name: str) -> Any:
    """A row's field: an attribute, or (a dict) a key."""
    return row[name] if isinstance(row, dict) else getattr(row, name)


def _show(value: Any) -> str:
    if value is None:
        return "none"
    text = str(value)
    return repr(text if len(text) <= 60 else text[:57] + "...")


def check_state(session: Session, entries: Iterable[AuditEntry]) -> list[Mismatch]:
    """Replay `entries` (in seq order) and compare with the current cases, claims and
    attributions, inside the caller's read transaction."""
    from verify.services.provlogic import ref_of

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
            row = {k: getattr(case, k) for k in ("title", "summary", "status", "created_by")}
            row["created_at"] = iso(case.created_at)
            out += _compare(f"case {case.slug}", row, facts, CASE_FIELDS)
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
        row = {k: getattr(claim, k) for k in (*CLAIM_FIELDS, "updated_by", "created_by")}
        row["created_at"] = iso(claim.created_at)
        out += _compare(subject, row, facts, CLAIM_CHECKED)
    for slug, n in sorted(set(replay.claims) - seen):
        if slug in slugs:
            seq = min(r.seq for r in replay.claims[(slug, n)].values())
            out.append(
                Mismatch(f"case {slug} claim {n}", f"added at seq {seq} but gone from the archive")
            )
    columns = [getattr(Account, c) for c in ACCOUNT_FIELDS]
    query = select(Account.id, *columns).order_by(col(Account.id))
    account_rows = [dict(zip(("id", *ACCOUNT_FIELDS), r, strict=True)) for r in session.exec(query)]
    accounts = {r["id"]: ref_of(r["platform"], r["handle"]) for r in account_rows}
    out += _check_attributions(session, replay, slug_of, accounts)
    out += _check_status_history(session, replay, slug_of, slugs)
    out += _check_notes(session, replay, slug_of)
    out += _check_accounts(account_rows, accounts, replay)
    out += _check_provenance(session, replay, slug_of, accounts)
    out += _check_analyses(session, replay)
    return out


def _check_attributions(
    session: Session, replay: _Replay, slug_of: Any, accounts: dict[int, str]
) -> list[Mismatch]:
    """Each attribution against its `attribution.add` and `attribution.set` entries: role,
    actor and target as recorded when added, state, evidence and according-to as last set;
    and its state history (`attribution_changes`), one row for one entry, aligned as the
    status history is (`_history`)."""
    from verify.services.provlogic import AttributionRow, target_ref

    out: list[Mismatch] = []
    columns = [getattr(Attribution, c) for c in AttributionRow._fields]
    attributions: dict[int, tuple[int, AttributionRow]] = {}  # id -> case id, row
    for case_id, *values in session.exec(select(Attribution.case_id, *columns)).all():
        attr = AttributionRow(*values)
        attributions[attr.id] = (case_id, attr)
    for ident, (case_id, attr) in sorted(attributions.items()):
        facts = replay.attributions.get(ident)
        if facts is None:  # no `attribution.add`: nothing recorded to compare with
            continue
        row = {k: getattr(attr, k) for k in ("role", "state", "evidence", "according_to")}
        row |= {"actor": accounts.get(attr.account_id), "target": target_ref(attr)}
        out += _compare(_attribution(ident, slug_of(case_id)), row, facts, ATTRIBUTION_FIELDS)
    for ident in sorted(set(replay.attributions) - set(attributions)):
        out.append(Mismatch(f"attribution {ident}", "recorded but gone from the archive"))
    rows: dict[int, list[dict[str, Any]]] = {}
    columns = [getattr(AttributionChange, c) for c in _CHANGE_COLUMNS.values()]
    query = select(AttributionChange.attribution_id, *columns)
    for ident, *values in session.exec(query.order_by(col(AttributionChange.id))).all():
        change = dict(zip(_CHANGE_COLUMNS, values, strict=True))
        rows.setdefault(ident, []).append(change | {"at": iso(change["at"])})
    for ident in sorted(set(replay.attribution_changes) & set(attributions)):
        numbered = _numbered(f"{_attribution(ident, slug_of(attributions[ident][0]))} change")
        out += _history(
            (numbered, numbered),
            rows.get(ident, []),
            replay.attribution_changes[ident],
            ATTRIBUTION_CHANGE_KEY,
            ATTRIBUTION_CHANGE_FIELDS,
            "recorded",
            "attribution.set",  # the trail has every change of this attribution
        )
    return out


def _attribution(ident: int, slug: str) -> str:
    return f"attribution {ident} (case {slug})"


def _check_analyses(session: Session, replay: _Replay) -> list[Mismatch]:
    """What each analysis stored (metadata, frame hashes) against the digest its entry
    recorded (`intake.analysis_digest`), for the files whose entries record one."""
    from verify.dbread import IN_CHUNK
    from verify.services.intake import DIGEST_FRAME_COLUMNS, analysis_digest

    out: list[Mismatch] = []
    shas = sorted(replay.analyses)
    columns = [getattr(Frame, c) for c in DIGEST_FRAME_COLUMNS]
    for start in range(0, len(shas), IN_CHUNK):
        # only the files whose analysis recorded a digest: their metadata and frames
        query_blobs = select(Blob.id, Blob.sha256, Blob.meta).where(
            col(Blob.sha256).in_(shas[start : start + IN_CHUNK])
        )
        # Core, not the ORM's row loading: the columns' types are converted alike (booleans,
        # JSON), at about half the cost over every stored frame
        conn = session.connection()
        chunk = conn.execute(query_blobs).all()
        frames: dict[int | None, list[tuple[Any, ...]]] = {ident: [] for ident, _, _ in chunk}
        query = (
            select(Frame.blob_id, *columns)
            .where(col(Frame.blob_id).in_([ident for ident, _, _ in chunk]))
            .order_by(col(Frame.blob_id), col(Frame.idx))
        )
        for blob_id, *values in conn.execute(query).all():
            frames[blob_id].append(tuple(values))
        for ident, sha, meta in chunk:
            recorded = replay.analyses[sha]
            if analysis_digest(meta, frames[ident]) != recorded.value:
                out.append(
                    Mismatch(
                        f"file sha256:{sha[:12]}",
                        "its metadata or frame hashes differ from what its analysis stored "
                        f"(recorded at seq {recorded.seq}): changed behind the tool's back "
                        "(`verify media reanalyse` reads them again from the file)",
                    )
                )
    return out


def _check_status_history(
    session: Session, replay: _Replay, slug_of: Any, slugs: set[str]
) -> list[Mismatch]:
    """Each case's status history (`status_changes`, the verdicts' rationales) against its
    `status.set` entries, one for one in order. The two lists are aligned on (from, to,
    rationale) first, so that a change deleted from the middle is reported as gone, not as
    every later one edited; changes paired with other values are compared field by field."""
    out: list[Mismatch] = []
    rows: dict[str, list[StatusChange]] = {}
    for row in session.exec(select(StatusChange).order_by(col(StatusChange.id))).all():
        rows.setdefault(slug_of(row.case_id), []).append(row)
    for slug in sorted(set(rows) | (set(replay.status_changes) & slugs)):
        numbered = _numbered(f"case {slug} status change")
        out += _history(
            (numbered, numbered),
            [_status_values(row) for row in rows.get(slug, [])],
            replay.status_changes.get(slug, []),
            STATUS_CHANGE_KEY,
            STATUS_CHANGE_FIELDS,
            "set",
            # the trail has the case from its opening, so every change of its status
            "status.set" if slug in replay.cases else None,
        )
    return out


def _numbered(name: str) -> Callable[[int], str]:
    """'NAME N' for the row at index N - 1 of a history."""
    return lambda index: f"{name} {index + 1}"


def _history(
    subjects: tuple[Callable[[int], str], Callable[[int], str]],
    have: list[dict[str, Any]],
    recorded: list[Facts],
    key: tuple[str, ...],
    fields: tuple[str, ...],
    verb: str,
    creating: str | None,
) -> list[Mismatch]:
    """One history's rows (`have`, in insertion order) against the entries that recorded
    them (`recorded`, in seq order), one for one. The two are aligned on `key` first, so
    that a row deleted from the middle is reported as gone, not as every later one edited;
    rows paired with other values are compared field by field on `fields`. A row no entry
    recorded is reported when the trail holds the whole history (`creating`: the action
    that would have recorded it), and left alone otherwise. `subjects` name a row by its
    index in `have`, and a recorded one that is gone by its index in `recorded`."""
    row_subject, gone_subject = subjects
    out: list[Mismatch] = []
    keys = [tuple(v[k] for k in key) for v in have]
    wanted = [tuple(f[k].value for k in key) for f in recorded]
    opcodes: Sequence[tuple[str, int, int, int, int]]
    if keys == wanted:  # as it should be: row for entry, no alignment to work out
        opcodes = [("equal", 0, len(wanted), 0, len(keys))]
    else:
        opcodes = difflib.SequenceMatcher(a=wanted, b=keys, autojunk=False).get_opcodes()
    for _, w1, w2, h1, h2 in opcodes:
        paired = min(w2 - w1, h2 - h1)
        for k in range(paired):  # equal, or replaced: compare what each holds
            out += _compare(row_subject(h1 + k), have[h1 + k], recorded[w1 + k], fields)
        for w in range(w1 + paired, w2):
            seq = min(r.seq for r in recorded[w].values())
            out.append(Mismatch(gone_subject(w), f"{verb} at seq {seq} but gone from the archive"))
        if creating is not None:
            for h in range(h1 + paired, h2):
                out.append(Mismatch(row_subject(h), f"not in the audit trail (no {creating})"))
    return out


def _check_accounts(
    rows: list[dict[str, Any]], refs: dict[int, str], replay: _Replay
) -> list[Mismatch]:
    """Each account against its `account.add` and `account.edit` entries: platform, handle,
    display name, URL, kind and credibility (what the entries record; not who created it or
    when). The entries name an account by its ref, which an edited handle changes, so the
    accounts (in id order) and the `account.add` entries (in seq order, the order they were
    created in) are aligned on the ref first, its platform's name now on both sides
    (`ref_now`: migration 0005 moved some, and left others as they were), with `_history`:
    an account whose handle was edited is paired with its entry and its handle reported,
    a deleted one is gone. An account with no `account.add` has nothing to compare with and
    is left alone."""
    have = [{"ref": refs[row["id"]], "key": ref_now(refs[row["id"]]), **row} for row in rows]
    recorded = replay.accounts
    # named by id and ref, as `prov account list` shows them; a gone one by its ref
    subjects = (
        lambda h: f"account {rows[h]['id']} ({have[h]['ref']})",
        lambda w: f"account {recorded[w]['ref'].value}",
    )
    return _history(subjects, have, recorded, ("key",), ACCOUNT_FIELDS, "added", None)


def _check_notes(session: Session, replay: _Replay, slug_of: Any) -> list[Mismatch]:
    """Each note against its `note.add` (by the note's id): its text, the case it is
    attached to, who wrote it and when (the last two where the entry records them). A note
    the trail added that is gone is reported, and so is one with no `note.add` in a case
    whose `case.open` is in the trail (which then has every note of the case)."""
    out: list[Mismatch] = []
    columns = [getattr(Note, c) for c in ("case_id", "text", "by", "at")]
    query = select(Note.id, *columns).order_by(col(Note.id))
    seen: set[int] = set()
    for ident, case_id, text, by, at in session.exec(query).all():
        seen.add(ident)
        slug = slug_of(case_id)
        subject = f"note {ident} (case {slug})"
        facts = replay.notes.get(ident)
        if facts is None:
            if slug in replay.cases:
                out.append(Mismatch(subject, "not in the audit trail (no note.add)"))
            continue
        row = {"text": text, "case": slug, "by": by, "at": iso(at)}
        out += _compare(subject, row, facts, NOTE_FIELDS)
    for ident in sorted(set(replay.notes) - seen):
        facts = replay.notes[ident]
        out.append(
            Mismatch(
                f"note {ident} (case {facts['case'].value})",
                f"added at seq {facts['case'].seq} but gone from the archive",
            )
        )
    return out


def _status_values(row: StatusChange) -> dict[str, Any]:
    values = {"from": row.from_status, "to": row.to_status, "rationale": row.rationale}
    return values | {"by": row.by, "at": iso(row.at)}


def _check_provenance(
    session: Session, replay: _Replay, slug_of: Any, accounts: dict[int, str]
) -> list[Mismatch]:
    """Media records, appearances and derivations against what the trail recorded."""
    from verify.services.provenance import format_posted

    shas = {i: sha for i, sha in session.exec(select(Blob.id, Blob.sha256)).all()}
    for facts in replay.appearances.values():  # an import's edit named the account by id
        account = facts.get("account")
        if account is not None and isinstance(account.value, tuple):
            facts["account"] = Recorded(accounts.get(account.value[1]), account.seq)

    def media_row(m: Media) -> tuple[str, dict[str, Any]]:
        row = {k: getattr(m, k) for k in MEDIA_FIELDS}
        row["acquired_at"] = iso(m.acquired_at)
        row["sha256"] = f"sha256:{shas[m.blob_id]}" if m.blob_id in shas else None
        return f"media {m.id} (case {slug_of(m.case_id)})", row

    def appearance_row(ap: Appearance) -> tuple[str, dict[str, Any]]:
        row = {k: getattr(ap, k) for k in APPEARANCE_TEXT}
        row["account"] = accounts.get(ap.account_id) if ap.account_id else None
        row["media"] = ap.media_id
        row["posted"] = format_posted(ap.posted_at, ap.posted_precision)
        row["captured_at"] = iso(ap.captured_at)
        return f"appearance {ap.id} (case {slug_of(ap.case_id)})", row

    def derivation_row(d: Derivation) -> tuple[str, dict[str, Any]]:
        row = {"child": d.child_id, "parent": d.parent_id, "kind": d.kind, "note": d.note}
        row["retraction"] = d.retraction
        row["evidence"] = _json_text(d.evidence)
        return f"derivation {d.id}", row

    return [
        *_against(
            session,
            Media,
            replay.media,
            media_row,
            (*MEDIA_FIELDS, "sha256"),
            "added",
        ),
        *_against(
            session, Appearance, replay.appearances, appearance_row, APPEARANCE_FIELDS, "added"
        ),
        *_against(
            session, Derivation, replay.derivations, derivation_row, DERIVATION_FIELDS, "recorded"
        ),
    ]


def _against(
    session: Session,
    model: Any,
    recorded: dict[int, Facts],
    as_row: Any,
    fields: tuple[str, ...],
    verb: str,
) -> list[Mismatch]:
    """Each row of `model` the trail created compared with what it recorded (`as_row`: the
    row's subject and fields), and each row it created that is gone."""
    out: list[Mismatch] = []
    rows = {r.id: r for r in session.exec(select(model)).all()}
    for ident in sorted(i for i in rows if i in recorded):
        subject, row = as_row(rows[ident])
        out += _compare(subject, row, recorded[ident], fields)
    name = model.__name__.lower()
    for ident in sorted(set(recorded) - set(rows)):
        out.append(Mismatch(f"{name} {ident}", f"{verb} but gone from the archive"))
    return out
