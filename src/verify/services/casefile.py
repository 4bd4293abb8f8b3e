"""Case files: a case as readable TOML, for git, review and exchange (docs/case-files.md).

`export_case` writes everything the archive knows about one case except media bytes: the
case, claims, status history, notes, the accounts it mentions, media (by SHA-256 with names
and acquisition facts), appearances, attributions with their state history, and derivations
between its media. The writer is ours and deterministic, so export -> import into a fresh
archive -> export is byte-identical.

`import_case` recreates or updates a case from such a file:
- records are matched: claims by position; status changes by their order; notes by what
  they are (text, at, by: a journal, listed in time order); media by content and
  acquisition, appearances and attributions by when and by whom they were first recorded
  (`_pair`; all three listed in time order, `_in_time`, so that archives
  that merged each other's additions number them alike); accounts by `ref`; derivations
  by (child, parent, kind). Claims, media, appearances and attributions carry `n` (1, 2,
  3… in file order); cross-references inside the file use those numbers: `media:2`,
  `appearance:1`;
- provenance is append-only: a file that lacks a record the archive has, rewrites a status
  change, note or attribution history entry, or changes a media file's SHA-256 is refused;
- editable fields (titles, claim findings, appearance facts, account details, attribution
  state, derivation evidence) are updated, each change its own audit entry, when the file
  continues from the case as it is now: its `base` (the digest of the case as exported,
  `state_digest`) is the case's state, or one of its `earlier` states (`known_states` of the
  exporting archive: where its case came from) is; or with `update=True` (`--update`);
  otherwise the import is refused with the list of changes, so that an older export or
  another archive's file never puts back or replaces what a colleague changed since; a file
  from an archive that changed the case while this one did too is merged with it against
  the latest state both come from whose text this archive kept (`merge_states`,
  `case_states`), facts both changed differently refused; an import that changed the case
  ends with a `case.import` entry of the state it left;
- claims the file dates (`created_at`/`created_by`) must be the archive's at their place,
  and the case's `created_at` the archive's case's: two archives' claims at the same
  place, or another case with the same slug, are refused (two archives' media,
  appearances and attributions are merged: `merge_states`);
- an export ends with `# end of case file`: a file with `base` but without it was cut short;
- `*_at` / `*_by` fields may be omitted (hand-written files): new records then get the time
  of import and the importing actor, and existing records keep theirs;
- media bytes are never in the file: a media entry is accepted only when the archive already
  holds those bytes (any case); otherwise the import is refused with the next step;
- everything is checked before anything is written, inside one transaction: an invalid file
  changes nothing and writes no audit entry; importing the same file twice changes nothing;
- accounts, media, appearances, attributions (and their state changes) and derivations are
  written by the same service functions as on the command line (`provenance.record_*`,
  `new_account`, `apply_account_changes`, `media.record_media`), so their audit entries have
  one shape whichever path writes them (docs/json.md); the import adds `"import": FILE-NAME`.
"""

import hashlib
import math
import re
import tomllib
from collections import Counter, defaultdict, deque
from collections.abc import Callable, Collection, Hashable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, NoReturn

import orjson
from sqlmodel import Session, col, select

from verify import audit
from verify.archive import Archive
from verify.errors import BadInputError
from verify.models import (
    Account,
    Appearance,
    Attribution,
    AuditEntry,
    AuditHead,
    Blob,
    Case,
    CaseState,
    Claim,
    Derivation,
    Media,
    Note,
    StatusChange,
    pk,
)
from verify.outputs import write_atomically
from verify.services import provenance as prov
from verify.services import recorded
from verify.services.cases import SLUG_RE, case_media, get_case
from verify.services.intake import Acquisition
from verify.services.media import record_media
from verify.services.provlogic import note_order
from verify.services.statecheck import NEW_CLAIM, NOTED_KEY
from verify.services.status import allowed_transitions
from verify.timeutil import as_utc, iso, now, parse_utc
from verify.vocab import (
    VERDICTS,
    AccountKind,
    AttributionState,
    CaseStatus,
    Confidence,
    DatePrecision,
    DerivationKind,
    Finding,
    Role,
    parse_platform,
    unknown_platform_note,
)

# 2: claims carry their assessments ([[claims.history]]); 1 (read as before): they did not
FORMAT = 2
HISTORY_FORMAT = 2
READABLE_FORMATS = (1, 2)
SHA_RE = re.compile(r"^[0-9a-f]{64}\Z")
BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+\Z")
INT64 = 2**63

# ============================================================================ export


def _enc_str(value: str) -> str:
    out = ['"']
    for ch in value:
        o = ord(ch)
        if ch == '"':
            out.append('\\"')
        elif ch == "\\":
            out.append("\\\\")
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\t":
            out.append("\\t")
        elif o < 0x20 or o == 0x7F:
            out.append(f"\\u{o:04X}")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def _representable(value: Any) -> bool:
    """Can `value` be written as a TOML value (no nulls, 64-bit integers)?"""
    if value is None:
        return False
    if isinstance(value, bool | str | float):
        return True
    if isinstance(value, int):
        return -INT64 <= value < INT64
    if isinstance(value, list):
        return all(_representable(v) for v in value)
    if isinstance(value, dict):
        return all(isinstance(k, str) and _representable(v) for k, v in value.items())
    return False


def _enc_key(key: str) -> str:
    return key if BARE_KEY.match(key) else _enc_str(key)


def _enc(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return _enc_str(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, list):
        return "[" + ", ".join(_enc(v) for v in value) + "]"
    if isinstance(value, dict):
        if not value:
            return "{}"
        items = ", ".join(f"{_enc_key(k)} = {_enc(v)}" for k, v in sorted(value.items()))
        return "{ " + items + " }"
    raise TypeError(f"cannot write {type(value).__name__} to TOML")


def _evidence_value(evidence: dict[str, Any]) -> Any:
    """An inline table when TOML can say it exactly, else the canonical JSON text."""
    if _representable(evidence):
        return evidence
    return audit.canonical_json(evidence)


class _Writer:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def comment(self, text: str) -> None:
        self.lines.append(f"# {text}")

    def blank(self) -> None:
        self.lines.append("")

    def header(self, name: str) -> None:
        if self.lines and self.lines[-1] != "":
            self.blank()
        self.lines.append(name)

    def kv(self, key: str, value: Any) -> None:
        if value is None:
            return
        self.lines.append(f"{key} = {_enc(value)}")

    def text(self) -> str:
        return "\n".join(self.lines).rstrip("\n") + "\n"


def _match(
    rows: Sequence[Note], wants: list[dict[str, Any]], same: Callable[[Note, dict[str, Any]], bool]
) -> tuple[list[int], int | None]:
    """Pair a case's notes with the file's notes that are the same: dated ones first
    (exactly one row each), then undated ones (written by hand: any row with their text),
    so that an undated note never takes a dated one's row. Returns the file's notes left
    (to add, in file order) and the first row left unpaired."""
    left = list(range(len(wants)))
    paired: list[int | None] = [None] * len(rows)
    for dated in (True, False):
        for i, row in enumerate(rows):
            if paired[i] is None:
                found = next(
                    (
                        j
                        for j in left
                        if (wants[j]["at"] is not None and wants[j]["by"] is not None) == dated
                        and same(row, wants[j])
                    ),
                    None,
                )
                if found is not None:
                    left.remove(found)
                    paired[i] = found
    unpaired = next((i for i, j in enumerate(paired) if j is None), None)
    return left, unpaired


def _in_time(at: datetime | None, by: str | None, *content: Any) -> tuple[Any, ...]:
    """The order of a case file's media, appearances, attributions and derivations: by when,
    then by whom, each was first recorded (acquired, for media; stamps an import keeps), so
    that two archives that each added some and exchanged them list and number them alike,
    whichever recorded which first. Media then by name and content (two desks may each
    state one acquisition time for files from one source); the others as recorded (records
    of one instant come from one import of a hand-written file, in its order, and keep it
    in every archive they reach). A record the file does not date comes last (an import
    dates it now). Sorted in Python, as `note_order`."""
    if at is None:
        return (1,)
    return (0, as_utc(at), by or "", *(c or "" for c in content))


def media_order(m: "_Acquired") -> tuple[Any, ...]:
    """`_in_time` for media: by acquisition, then by all else the file says of them."""
    return _in_time(m.at, m.by, m.name, m.sha256, m.source_url, m.via, m.platform, m.label)


def _in_file_order(
    media_rows: list[tuple[Media, Blob]],
    *stamped: list[Appearance] | list[Attribution] | list[Derivation],
) -> None:
    """Sort a case's media and its `stamped` records (appearances, attributions,
    derivations) as its case file lists them (`_in_time`; then as recorded)."""
    media_rows.sort(
        key=lambda mb: (
            *media_order(_Acquired.of_row(mb[0], mb[1].sha256)),
            pk(mb[0]),
        )
    )
    for rows in stamped:
        rows.sort(key=lambda r: (*_in_time(r.created_at, r.created_by), pk(r)))


Keys = Sequence[Sequence[Hashable | None]]  # per level, each record's key (None: not given)


def _pair(
    held: Keys,
    wants: Keys,
    *,
    by_place: bool = True,
    unique: Collection[int] = (),
    gated: Collection[int] = (),
    places: Sequence[int] | None = None,
) -> tuple[list[int | None], list[int]]:
    """Pair a file's records with the archive's by what identifies them, level by level
    (`wants[level][j]` for the file's j-th record, `held[level][i]` for the archive's i-th):
    at each level, the k-th of the file's records left with one key is paired with the k-th
    of the archive's left with it, wherever each is listed; at a level in `unique`, only a
    key one record left on each side has; at a level in `gated`, only for records whose
    group at the next level (the records left with their key there) differs in size between
    the two sides (one side added a record to it). Then (`by_place`) a record that gave no
    key at any level (written by hand, without `created_at`/`created_by`) is the archive's
    at its place (`places[j]`: the archive's j-th record as recorded; without `places`, as
    listed: the first left after the record the entry before it was paired with), unless
    another took that one. Returns each file record's pair (an index into the archive's, or None: a
    new record) and the archive's records left unpaired."""
    count = len(wants[0]) if wants else 0
    size = len(held[0]) if held else 0
    paired: list[int | None] = [None] * count
    taken: set[int] = set()
    for level, (held_keys, want_keys) in enumerate(zip(held, wants, strict=True)):
        if level in gated:
            nxt = level + 1
            sizes = Counter(k for i, k in enumerate(held[nxt]) if i not in taken)
            sizes.subtract(k for j, k in enumerate(wants[nxt]) if paired[j] is None)
            held_keys = [k if sizes[held[nxt][i]] else None for i, k in enumerate(held_keys)]
            want_keys = [k if sizes[wants[nxt][j]] else None for j, k in enumerate(want_keys)]
        queues: dict[Hashable, deque[int]] = defaultdict(deque)
        for i, key in enumerate(held_keys):
            if i not in taken and key is not None:
                queues[key].append(i)
        left = Counter(k for j, k in enumerate(want_keys) if paired[j] is None and k is not None)
        for j, key in enumerate(want_keys):
            if paired[j] is not None or key is None or not queues[key]:
                continue
            if level in unique and (left[key] != 1 or len(queues[key]) != 1):
                continue
            i = queues[key].popleft()
            paired[j] = i
            taken.add(i)
    if by_place and places is not None:
        for j in range(min(count, size)):
            if all(level[j] is None for level in wants) and places[j] not in taken:
                paired[j] = places[j]
                taken.add(places[j])
    elif by_place:
        # as listed: the archive's first record left after the one the entry before it was
        # paired with (records only the file lists, interleaved in time, shift no place)
        after = -1
        for j in range(count):
            if paired[j] is None and all(level[j] is None for level in wants):
                found = next((i for i in range(after + 1, size) if i not in taken), None)
                if found is not None:
                    paired[j] = found
                    taken.add(found)
            done = paired[j]
            if done is not None:
                after = done
    return paired, [i for i in range(size) if i not in taken]


# how `_pair` takes media keys: every level but the last pairs only what leaves no doubt
# (`_media_keys`)
MEDIA_PAIRING: dict[str, Any] = {"unique": tuple(range(7))}


@dataclass(frozen=True)
class _Acquired:
    """What a case file says of a media record (`_media_keys`)."""

    sha256: str
    at: datetime | None
    by: str | None
    name: str
    source_url: str | None
    via: str | None
    platform: str | None
    label: str | None

    @classmethod
    def of_row(cls, m: Media, sha256: str) -> "_Acquired":
        return cls(
            sha256, m.acquired_at, m.acquired_by, m.original_name, m.source_url,
            m.acquired_via, m.platform, m.label,
        )  # fmt: skip

    @classmethod
    def of_file(cls, m: dict[str, Any]) -> "_Acquired":
        return cls(
            m["sha256"], m["acquired_at"], m["acquired_by"], m["original_name"],
            m["source_url"], m["acquired_via"], m["platform"], m["label"],
        )  # fmt: skip


def _media_keys(records: Sequence[_Acquired]) -> list[list[Any]]:
    """What identifies a case's media in a case file (`_pair`, `MEDIA_PAIRING`):
    the same bytes may be acquired more than once (two records), and an acquisition's facts
    may be corrected, so a record is paired by all it says, then by its content with its
    acquisition (when and by whom), then with its file name and who, or when, then with its
    name, or who, or when alone, each only where one record on each side has that key;
    last, the records of one content left, in their order."""

    def key(m: _Acquired, *parts: Any) -> Any:
        return None if any(p is None for p in parts) else (m.sha256, *parts)

    at = [iso(m.at) for m in records]
    return [
        [
            (m.sha256, a, m.by, m.name, m.source_url, m.via, m.platform, m.label)
            for m, a in zip(records, at, strict=True)
        ],
        [key(m, a, m.by) for m, a in zip(records, at, strict=True)],
        [key(m, m.name, m.by) for m in records],
        [key(m, m.name, a) for m, a in zip(records, at, strict=True)],
        [key(m, m.name) for m in records],
        [key(m, m.by) for m in records],
        [key(m, a) for m, a in zip(records, at, strict=True)],
        [m.sha256 for m in records],
    ]


def _stamp(created_at: datetime | None, created_by: str | None) -> tuple[str, str] | None:
    """What identifies an appearance or attribution in a case file (`_pair`): when and by
    whom it was first recorded, which an import keeps; None when the file does not say."""
    when = iso(created_at)
    return None if when is None or created_by is None else (when, created_by)


# how `_pair` takes appearances' and attributions' keys: by stamp and what they say where
# that leaves no doubt and the sides hold different numbers of records of that stamp, then
# the records of one stamp left, in their order (`_stamped_keys`)
STAMPED_PAIRING: dict[str, Any] = {"unique": (0,), "gated": (0,)}


def _stamped_keys(
    records: Sequence[tuple[datetime | None, str | None, tuple[Any, ...]]],
) -> list[list[Any]]:
    """What identifies appearances or attributions in a case file (`_pair`,
    `STAMPED_PAIRING`): when and by whom each was first recorded (`_stamp`) with what it
    says (`_appearance_said`, `_attribution_said`), where one record on each side says it and
    the two sides hold different numbers of records of that stamp (records of one instant
    from two archives under a pinned clock, told apart); then the records of one stamp
    left, in their order (records of one instant, as one import of a hand-written file adds
    them, keep their order in every archive, whatever is corrected in them since)."""
    stamps = [_stamp(at, by) for at, by, _ in records]
    return [
        [None if s is None else (s, said) for s, (_, _, said) in zip(stamps, records, strict=True)],
        list(stamps),
    ]


def _appearance_said(
    platform: str, url: str | None, post_id: str | None, account: str | None
) -> tuple[Any, ...]:
    return (platform, url, post_id, account)


def _attribution_said(role: str, actor: str | None, target: str) -> tuple[Any, ...]:
    return (role, actor, target)


def _file_said(section: str, r: dict[str, Any]) -> tuple[Any, ...]:
    """What a case file's appearance or attribution says (`_stamped_keys`), as a row's
    would (`_Importer.stamped`)."""
    if section == "appearances":
        return _appearance_said(r["platform"], r["url"], r["post_id"], r["account"])
    return _attribution_said(r["role"], r["actor"], (r["target"] or ("case",))[0])


def _file_stamped_keys(section: str, records: Sequence[dict[str, Any]]) -> list[list[Any]]:
    """`_stamped_keys` of a case file's appearances or attributions."""
    return _stamped_keys(
        [(r["created_at"], r["created_by"], _file_said(section, r)) for r in records]
    )


def _described(section: str, record: dict[str, Any]) -> str:
    """A media file, appearance or attribution of a case file, as a conflict names it."""
    if section == "media":
        return f"{record['original_name']}, sha256:{record['sha256']}"
    return f"recorded by {record['created_by']} at {iso(record['created_at'])}"


@dataclass
class _Sides:
    """A section's records told apart for a three-way merge (`_identities`): an identity
    for each record of the ancestor, this archive's case and the file, alike for records
    that are one; and the ancestor's records the file lacks."""

    ids: list[list[Hashable]]
    lacking: list[int]
    unpaired: list[int]  # the ancestor's records this archive's case was not paired with


def _identities(sides: Sequence[Keys], content: Sequence[Sequence[Hashable]], **how: Any) -> _Sides:
    """For `merge_states`: a record of this archive's or the file's paired with one of the
    ancestor's (`_pair`, with `how`; the file's by place too, when written by hand) is that
    one; of the others, one this archive and the file both hold (the same first-level key
    and the same `content`: one record a third archive sent to both, say) is one record;
    the rest are each their own (two records recorded at one instant by one name, under a
    pinned clock, stay two)."""
    ancestor, ours, theirs = sides
    size = len(ancestor[0]) if ancestor else 0
    o_pairs, unpaired = _pair(ancestor, ours, by_place=False, **how)
    t_pairs, lacking = _pair(ancestor, theirs, **how)
    o_new = [i for i, p in enumerate(o_pairs) if p is None]
    t_new = [j for j, p in enumerate(t_pairs) if p is None]

    def same(keys: Keys, records: Sequence[Hashable], picked: list[int]) -> list[list[Hashable]]:
        return [[None if keys[0][i] is None else (keys[0][i], records[i]) for i in picked]]

    both, _ = _pair(same(ours, content[1], o_new), same(theirs, content[2], t_new), by_place=False)
    ids: list[list[Hashable]] = [[("a", i) for i in range(size)]]
    ids.append([("o", i) if p is None else ("a", p) for i, p in enumerate(o_pairs)])
    t_ids: list[Hashable] = [None if p is None else ("a", p) for p in t_pairs]
    for jj, p in enumerate(both):
        j = t_new[jj]
        t_ids[j] = ("t", j) if p is None else ("o", o_new[p])
    ids.append(t_ids)
    return _Sides(ids, lacking, unpaired)


def render_case(
    session: Session,
    case: Case,
    *,
    claim_stamps: bool = True,
    claim_history: bool = True,
    in_time_order: bool = True,
    records_by_time: bool = True,
) -> str:
    """The case file text for `case` (deterministic). `claim_stamps=False`: as versions
    before claims had `created_at`/`created_by` rendered it; `claim_history=False`: as
    versions before claims carried their assessment history; `in_time_order=False`: as
    versions before notes were listed in time order (as recorded); `records_by_time=False`:
    as versions before media, appearances, attributions and derivations were (`_in_time`;
    the head comment then said records are matched by `n`); all to recognise those
    versions' exports' `base` (`_Importer.run`)."""
    w = _Writer()
    w.comment("verify case file: edit it, then `verify case import FILE` applies the changes.")
    if records_by_time:
        w.comment("Format reference: docs/case-files.md. Append records; never delete one or")
        w.comment("change its created_at/created_by (provenance is append-only).")
    else:
        w.comment(
            "Format reference: docs/case-files.md. Records are matched by `n`; append, do not"
        )
        w.comment("renumber or delete (provenance is append-only).")
    w.kv("format", FORMAT if claim_history else 1)

    w.header("[case]")
    w.kv("slug", case.slug)
    w.kv("title", case.title)
    w.kv("summary", case.summary or None)
    w.kv("status", case.status)
    w.kv("created_at", iso(case.created_at))
    w.kv("created_by", case.created_by)

    claims = session.exec(
        select(Claim).where(Claim.case_id == case.id).order_by(col(Claim.position))
    ).all()
    histories = (
        recorded.claim_histories(recorded.read_claim_entries(session, case.slug))
        if claim_history and claims
        else {}
    )
    for claim in claims:
        w.header("[[claims]]")
        w.kv("n", claim.position)
        w.kv("text", claim.text)
        w.kv("finding", claim.finding)
        w.kv("confidence", claim.confidence)
        w.kv("rationale", claim.rationale or None)
        if claim_stamps:
            # left out for a claim an import recorded before claims had them (none known)
            w.kv("created_at", iso(claim.created_at))
            w.kv("created_by", claim.created_by)
        for h in histories.get(claim.position, []):
            w.header("[[claims.history]]")
            w.kv("finding", h["finding"])
            w.kv("confidence", h["confidence"])
            w.kv("rationale", h["rationale"] or None)
            w.kv("at", h["at"])
            w.kv("by", h["by"])

    for sc in session.exec(
        select(StatusChange).where(StatusChange.case_id == case.id).order_by(col(StatusChange.id))
    ).all():
        w.header("[[status_changes]]")
        w.kv("to", sc.to_status)
        w.kv("why", sc.rationale or None)
        w.kv("at", iso(sc.at))
        w.kv("by", sc.by)

    notes = session.exec(select(Note).where(Note.case_id == case.id).order_by(col(Note.id))).all()
    for note in sorted(notes, key=note_order) if in_time_order else notes:
        w.header("[[notes]]")
        w.kv("text", note.text)
        w.kv("at", iso(note.at))
        w.kv("by", note.by)

    appearances = prov._appearances(session, case)
    attributions = prov._attributions(session, case)
    media_rows = case_media(session, pk(case))
    derivations = prov._case_derivations(session, case)
    if records_by_time:
        _in_file_order(media_rows, appearances, attributions, derivations)
    by_id = prov.accounts_by_id(session, _account_ids(appearances, attributions))
    accounts = sorted(by_id.values(), key=lambda a: (a.platform, a.handle, a.id or 0))
    for acc in accounts:
        w.header("[[accounts]]")
        w.kv("ref", prov.account_ref(acc))
        w.kv("name", acc.display_name)
        w.kv("kind", acc.kind)
        w.kv("url", acc.url)
        w.kv("credibility", acc.credibility)
        w.kv("created_at", iso(acc.created_at))
        w.kv("created_by", acc.created_by)

    media_ref = {pk(m): f"media:{i}" for i, (m, _) in enumerate(media_rows, start=1)}
    for i, (m, blob) in enumerate(media_rows, start=1):
        w.header("[[media]]")
        w.kv("n", i)
        w.kv("sha256", blob.sha256)
        w.kv("name", m.original_name)
        w.kv("label", m.label)
        w.kv("source_url", m.source_url)
        w.kv("platform", m.platform)
        w.kv("acquired_via", m.acquired_via)
        w.kv("acquired_by", m.acquired_by)
        w.kv("acquired_at", iso(m.acquired_at))

    ap_ref = {pk(a): f"appearance:{i}" for i, a in enumerate(appearances, start=1)}
    for i, ap in enumerate(appearances, start=1):
        poster = by_id.get(ap.account_id) if ap.account_id else None
        w.header("[[appearances]]")
        w.kv("n", i)
        w.kv("platform", ap.platform)
        w.kv("account", prov.account_ref(poster) if poster else None)
        w.kv("url", ap.url)
        w.kv("post_id", ap.post_id)
        w.kv("posted", prov.format_posted(ap.posted_at, ap.posted_precision))
        w.kv("captured_at", iso(ap.captured_at))
        w.kv("caption", ap.caption)
        w.kv("language", ap.language)
        w.kv("forwarded_from", ap.forwarded_from)
        w.kv("quoted_from", ap.quoted_from)
        w.kv("archive_url", ap.archive_url)
        w.kv("media", media_ref.get(ap.media_id) if ap.media_id else None)
        w.kv("note", ap.note)
        w.kv("created_at", iso(ap.created_at))
        w.kv("created_by", ap.created_by)

    history = prov.changes_by_attribution(session, (pk(a) for a in attributions))
    for i, attr in enumerate(attributions, start=1):
        actor = by_id.get(attr.account_id)
        if attr.target_type == "media":
            target = media_ref.get(attr.target_id or -1, f"media:?{attr.target_id}")
        elif attr.target_type == "appearance":
            target = ap_ref.get(attr.target_id or -1, f"appearance:?{attr.target_id}")
        else:
            target = "case"
        w.header("[[attributions]]")
        w.kv("n", i)
        w.kv("role", attr.role)
        w.kv("actor", prov.account_ref(actor) if actor else None)
        w.kv("target", target)
        w.kv("state", attr.state)
        w.kv("evidence", attr.evidence)
        w.kv("according_to", attr.according_to)
        w.kv("created_at", iso(attr.created_at))
        w.kv("created_by", attr.created_by)
        for ch in history[pk(attr)]:
            w.header("[[attributions.history]]")
            w.kv("state", ch.to_state)
            w.kv("evidence", ch.evidence)
            w.kv("according_to", ch.according_to)
            w.kv("at", iso(ch.at))
            w.kv("by", ch.by)

    elsewhere = 0
    for d in derivations:
        if d.child_id not in media_ref or d.parent_id not in media_ref:
            elsewhere += 1  # a link to another case's media: in the archive, not in this file
            continue
        w.header("[[derivations]]")
        w.kv("child", media_ref[d.child_id])
        w.kv("kind", d.kind)
        w.kv("parent", media_ref[d.parent_id])
        w.kv("evidence", _evidence_value(d.evidence) if d.evidence else None)
        w.kv("note", d.note)
        w.kv("created_at", iso(d.created_at))
        w.kv("created_by", d.created_by)
        if d.retracted_at is not None:
            w.kv("retraction", d.retraction)
            w.kv("retracted_at", iso(d.retracted_at))
            w.kv("retracted_by", d.retracted_by)
    w.blank()
    if elsewhere:
        # said, not named: the other cases are not the recipient's to read about
        w.comment(LEFT_OUT.format(n=elsewhere, s="" if elsewhere == 1 else "s"))
    w.comment(END_MARK)
    return w.text()


END_MARK = "end of case file"  # the last line of an export: a file cut short lacks it
_DIGEST_RE = re.compile(r"sha256:[0-9a-f]{64}")  # a state digest (`state_digest`)
# a case's derivations to or from media in other cases of the archive are not exported
LEFT_OUT = (
    "not in this file: {n} derivation{s} linking this case's media to media of other cases "
    "(the archive keeps them)"
)
_LEFT_OUT = re.compile(r"^# not in this file: (\d+) derivations? ", re.MULTILINE)


_EXCHANGE_LINES = re.compile(
    r'(?m)^base = "sha256:[0-9a-f]{64}"\n(?:earlier = \[\n(?:  "sha256:[0-9a-f]{64}",\n)*\]\n)?'
)


def as_exported(text: str) -> str:
    """A case file's text without its `base` and `earlier` lines: the case as exported
    (`render_case`), whose digest is `base`, if nobody edited the file."""
    return _EXCHANGE_LINES.sub("", text, count=1)


def keep_state(session: Session, slug: str, text: str) -> str:
    """Keep the text of a state of case `slug` (as `render_case` gives it) under its digest,
    for a later merge (`merge_states`); returns the digest."""
    digest = state_digest(text)
    if session.get(CaseState, digest) is None:
        session.add(CaseState(digest=digest, case_slug=slug, text=text))
    return digest


def kept_state(session: Session, digest: str) -> str | None:
    """The kept text of a state, if this archive has it and it hashes to its digest."""
    row = session.get(CaseState, digest)
    return row.text if row is not None and state_digest(row.text) == digest else None


# fields of a record that change together, merged as one (`merge_states`)
_TOGETHER: dict[str, tuple[tuple[str, ...], ...]] = {
    "claims": (("finding", "confidence", "rationale", "history"),),
    "appearances": (("posted_at", "posted_precision"),),
    "attributions": (("state", "evidence", "according_to", "history"),),
    "derivations": (("retraction", "retracted_at", "retracted_by"),),
}


# a field as a case file names it, where the parsed record's name differs
_FILE_KEY = {"posted_at": "posted", "display_name": "name", "original_name": "name"}


@dataclass(frozen=True)
class Conflict:
    """A fact both sides changed differently since the state both come from (`merge_states`);
    `resolvable`: --update can take the file's (else the import refuses it anyway: two
    records added at one place, two attribution histories that part)."""

    text: str
    resolvable: bool = True


def merge_states(ancestor: "Doc", ours: "Doc", theirs: "Doc") -> tuple["Doc", list[Conflict]]:
    """Three-way merge of case files: `theirs` (a file) and `ours` (this archive's case as a
    file) against a state both come from (`ancestor`). For each fact, the side that changed
    it since the ancestor wins; a fact both changed, to different values, is a conflict
    (the file's value is taken, and the conflict listed). Records only one side added are
    kept; a record both added under one key (an account, a derivation) is merged field by
    field; notes both added are all kept, in time order; media, appearances, attributions
    and derivations both added are all kept, numbered again in case-file order (one both
    hold, the same: `_identities`); two claims or status changes added at the same place
    are a conflict the import refuses (those are matched by place, append-only). A claim's
    assessments are merged by the import
    itself (format 2); a claim reworded on one side and assessed on the other is a
    conflict. Returns the merged file, to import as a fast-forward, and the conflicts."""
    conflicts: list[Conflict] = []

    def values(record: dict[str, Any], keys: tuple[str, ...]) -> list[Any]:
        return [record.get(k) for k in keys]

    described: dict[Hashable, str] = {}  # identities of records, as a conflict names them

    def shown(group: tuple[str, ...], value: list[Any]) -> str:
        """A group's value as the file writes it (`posted = "~2023-05"`, not its instant; a
        reference to another record by that record, not by its number on either side)."""
        if group == ("posted_at", "posted_precision") and value[0] is not None:
            return shown_value(prov.format_posted(value[0], value[1]))
        if group in (("media",), ("target",)) and value[0] is not None:
            ref = value[0][1] if group == ("target",) else value[0]
            return described.get(ref, "?")
        return shown_value(value[0])

    def record(
        section: str, where: str, a: dict[str, Any], o: dict[str, Any], t: dict[str, Any]
    ) -> dict[str, Any]:
        """`a` is {} for a record both sides added since (under one key)."""
        out = dict(t)
        together = _TOGETHER.get(section, ())
        keys = [*together, *((k,) for k in t if not any(k in g for g in together))]
        changed: dict[str, str] = {}  # group's first key -> who changed it: ours/theirs/both
        for group in keys:
            av, ov, tv = values(a, group), values(o, group), values(t, group)
            if group[0] in ("created_at", "created_by") and (not a or tv == [None]):
                # the import keeps the record's own; a file that leaves a stamp out (written
                # by hand) does not say, and never changes it
                out.update(zip(group, ov, strict=True))
                continue
            if tv == av or ov == tv:
                out.update(zip(group, ov, strict=True))  # only this archive changed it
                changed[group[0]] = "ours" if ov != av else ""
                continue
            if ov == av:
                changed[group[0]] = "theirs"  # only the file changed it
                continue
            changed[group[0]] = "both"
            if section == "claims" and "history" in group and theirs.format >= HISTORY_FORMAT:
                continue  # assessments: merged by the import (`merge_assessments`)
            name = _FILE_KEY.get(group[0], group[0])
            conflicts.append(
                Conflict(
                    f"{where}.{name}: here {shown(group, ov)}, in the file {shown(group, tv)}, "
                    f"both changed from {shown(group, av)}",
                    # two histories, or two retractions, of one record: neither replaces the
                    # other (the import refuses to rewrite either)
                    resolvable=not (
                        (section == "attributions" and "history" in group)
                        or (section == "derivations" and "retraction" in group)
                    ),
                )
            )
        worded, assessed = changed.get("text"), changed.get("finding")
        if (
            section == "claims"
            and worded in ("ours", "theirs")
            and assessed not in (None, "", worded)
        ):
            # an assessment is of a wording: one side reworded the claim, the other assessed
            # it on the old words
            words = o["text"] if worded == "ours" else t["text"]
            side = "here" if worded == "ours" else "in the file"
            conflicts.append(
                Conflict(
                    f"{where}: reworded {side} ({shown_value(words)}) and assessed on the other "
                    "side, on the old wording",
                    resolvable=False,
                )
            )
        return out

    def listed(section: str) -> list[dict[str, Any]]:
        a_list, o_list, t_list = (getattr(d, section) for d in (ancestor, ours, theirs))
        out: list[dict[str, Any]] = []
        for i in range(max(len(o_list), len(t_list))):
            a = a_list[i] if i < len(a_list) else None
            o = o_list[i] if i < len(o_list) else None
            t = t_list[i] if i < len(t_list) else None
            where = f"{section}[{i + 1}]"
            if o is None or t is None:
                one = t if o is None else o
                assert one is not None  # i is below one of the two lengths
                out.append(one)  # added by one side since
            elif a is None:
                if o != t:
                    conflicts.append(
                        Conflict(
                            f"{where}: each archive added a different one since (this "
                            f"archive's by {o.get('created_by') or o.get('by') or '?'}, the "
                            f"file's by {t.get('created_by') or t.get('by') or '?'})",
                            resolvable=False,
                        )
                    )
                out.append(t)
            else:
                out.append(record(section, where, a, o, t))
        return out

    def journal() -> list[dict[str, Any]]:
        """Notes, a journal of dated entries: those either side added since are all kept,
        in time order (`note_order`, as every archive lists them), so that two archives
        that each took the other's converge. The file's undated notes (written by hand: the
        importer's, now) come last. A note the ancestor had is never dropped or changed
        (append-only); a file that lacks one is matched by place, as before (and refused).
        Notes are counted, not only compared: the same words by the same person at the same
        instant (a pinned clock) twice are two notes."""
        a_list, o_list, t_list = ancestor.notes, ours.notes, theirs.notes
        undated = [n for n in t_list if n["at"] is None or n["by"] is None]
        dated = [n for n in t_list if n["at"] is not None and n["by"] is not None]

        def key(n: dict[str, Any]) -> tuple[Any, ...]:  # `note_order` of a file's note
            return (as_utc(n["at"]), n["by"], n["text"])

        if Counter(key(n) for n in a_list) - Counter(key(n) for n in dated):
            return listed("notes")  # the file lost or changed a note: refused by place
        mine = Counter(key(n) for n in o_list)
        out = list(o_list)
        for n in dated:
            if mine[key(n)] > 0:
                mine[key(n)] -= 1  # this archive has it
            else:
                out.append(n)
        return [*sorted(out, key=key), *undated]

    def keyed(
        section: str,
        key: "Callable[[dict[str, Any]], Any]",
        docs: Sequence[list[dict[str, Any]]] | None = None,
        label: "Callable[[Any], str]" = str,
    ) -> list[dict[str, Any]]:
        a_by, o_by, t_by = (
            {key(r): r for r in records}
            for records in (docs or [getattr(d, section) for d in (ancestor, ours, theirs)])
        )
        # this archive's first (as `unioned`), then the file's others
        out = [
            o
            if k not in t_by
            else record(section, f"{section}[{label(k)}]", a_by.get(k, {}), o, t_by[k])
            for k, o in o_by.items()
        ]
        return out + [t for k, t in t_by.items() if k not in o_by]

    # media, appearances, attributions and derivations: each side's records are told apart
    # by what identifies them (`_identities`), the references between them (`media:2`,
    # `appearance:1`) read as those identities, the records merged (those only one side
    # added kept, those both held merged field by field) and numbered again in case-file
    # order (`_in_time`), which both archives then list alike
    docs = (ancestor, ours, theirs)

    def media_content(m: dict[str, Any]) -> Hashable:
        return tuple(sorted((k, str(v)) for k, v in m.items()))

    def stamped_content(r: dict[str, Any]) -> Hashable:
        return tuple(
            sorted((k, str(v)) for k, v in r.items() if k not in ("media", "target", "history"))
        )

    def stamped_sides(section: str) -> _Sides:
        return _identities(
            [_file_stamped_keys(section, getattr(d, section)) for d in docs],
            [[stamped_content(r) for r in getattr(d, section)] for d in docs],
            **STAMPED_PAIRING,
        )

    media_sides = _identities(
        [_media_keys([_Acquired.of_file(m) for m in d.media]) for d in docs],
        [[media_content(m) for m in d.media] for d in docs],
        **MEDIA_PAIRING,
    )
    ap_sides, attr_sides = stamped_sides("appearances"), stamped_sides("attributions")
    for section, sides_of in (
        ("media", media_sides),
        ("appearances", ap_sides),
        ("attributions", attr_sides),
    ):
        for i in sides_of.unpaired:
            # a record both held, which this archive's case holds (append-only) but which
            # was not told apart from others: merging could add it again
            held = getattr(ancestor, section)[i]
            conflicts.append(
                Conflict(
                    f"{section}: one both archives held ({_described(section, held)}) is not "
                    "told apart from others of this archive's",
                    resolvable=False,
                )
            )
        for i in sides_of.lacking:
            # a record both archives held, which the file dropped or re-dated: an import
            # never deletes or replaces one (append-only)
            held = getattr(ancestor, section)[i]
            conflicts.append(
                Conflict(
                    f"{section}: the file lacks one both archives held "
                    f"({_described(section, held)}), or changed what identifies it",
                    resolvable=False,
                )
            )

    for d, m_ids, a_ids in zip(docs, media_sides.ids, ap_sides.ids, strict=True):
        for k, m in zip(m_ids, d.media, strict=True):
            described.setdefault(k, f"{m['original_name']} (sha256:{m['sha256'][:12]}…)")
        for k, a in zip(a_ids, d.appearances, strict=True):
            described.setdefault(
                k, f"the appearance recorded by {a['created_by']} at {iso(a['created_at'])}"
            )

    def as_identities(
        d: Doc, m: list[Hashable], ap: list[Hashable]
    ) -> dict[str, list[dict[str, Any]]]:
        def target(t: tuple[str, int] | None) -> Any:
            return None if t is None else (t[0], (m if t[0] == "media" else ap)[t[1] - 1])

        return {
            "media": d.media,
            "appearances": [
                {**a, "media": None if a["media"] is None else m[a["media"] - 1]}
                for a in d.appearances
            ],
            "attributions": [{**a, "target": target(a["target"])} for a in d.attributions],
            "derivations": [
                {**x, "child": m[x["child"] - 1], "parent": m[x["parent"] - 1]}
                for x in d.derivations
            ],
        }

    sides = [
        as_identities(d, m, ap)
        for d, m, ap in zip(docs, media_sides.ids, ap_sides.ids, strict=True)
    ]

    def unioned(section: str, ids: list[list[Hashable]]) -> list[tuple[Hashable, dict[str, Any]]]:
        (a_list, o_list, t_list) = (side[section] for side in sides)
        a_by = dict(zip(ids[0], a_list, strict=True))
        t_by = {k: (j, t) for j, (k, t) in enumerate(zip(ids[2], t_list, strict=True), start=1)}
        # this archive's first, then the file's others: records of one instant (a pinned
        # clock) keep, once sorted, the order this archive holds them in, as its import
        # then pairs them (`_pair`)
        out: list[tuple[Hashable, dict[str, Any]]] = []
        for k, o in zip(ids[1], o_list, strict=True):
            if k not in t_by:
                out.append((k, o))
                continue
            j, t = t_by.pop(k)
            out.append((k, record(section, f"{section}[{j}]", a_by.get(k, {}), o, t)))
        return out + [(k, t) for k, (_, t) in t_by.items()]

    media = sorted(
        unioned("media", media_sides.ids),
        key=lambda km: media_order(_Acquired.of_file(km[1])),
    )

    def stamped(r: tuple[Hashable, dict[str, Any]]) -> tuple[Any, ...]:
        return _in_time(r[1]["created_at"], r[1]["created_by"])

    # records of one instant keep their order: the file's, then this archive's own
    appearances = sorted(unioned("appearances", ap_sides.ids), key=stamped)
    attributions = sorted(unioned("attributions", attr_sides.ids), key=stamped)
    media_n = {k: n for n, (k, _) in enumerate(media, start=1)}
    ap_n = {k: n for n, (k, _) in enumerate(appearances, start=1)}

    def numbered_target(t: tuple[str, Hashable] | None) -> tuple[str, int] | None:
        return None if t is None else (t[0], (media_n if t[0] == "media" else ap_n)[t[1]])

    derivations = keyed(
        "derivations",
        lambda r: (r["child"], r["parent"], r["kind"]),
        [side["derivations"] for side in sides],
        lambda k: f"media:{media_n[k[0]]} {k[2]} media:{media_n[k[1]]}",
    )
    derivations.sort(key=lambda x: _in_time(x["created_at"], x["created_by"]))
    case = record("case", "case", ancestor.case, ours.case, theirs.case)
    merged = Doc(
        case=case,
        base=theirs.base,
        earlier=theirs.earlier,
        format=theirs.format,
        claims=listed("claims"),
        status_changes=listed("status_changes"),
        notes=journal(),
        # one account however its ref is spelled (`@Rybar`, `@rybar`), as the import finds it
        accounts=keyed("accounts", lambda r: prov.account_key(r["ref"])),
        media=[m for _, m in media],
        appearances=[
            {**a, "media": None if a["media"] is None else media_n[a["media"]]}
            for _, a in appearances
        ],
        attributions=[{**a, "target": numbered_target(a["target"])} for _, a in attributions],
        derivations=[
            {**x, "child": media_n[x["child"]], "parent": media_n[x["parent"]]} for x in derivations
        ],
    )
    if merged.status_changes:
        case["status"] = merged.status_changes[-1]["to"]
    return merged, conflicts


def mentioned_accounts(session: Session, case: Case) -> set[int]:
    """The accounts a case mentions (its appearances' and attributions'): those its file
    lists. Accounts are shared by the archive's cases; only these are part of the case's
    state (`state_digest`)."""
    return _account_ids(prov._appearances(session, case), prov._attributions(session, case))


def _account_ids(
    appearances: Iterable[Appearance], attributions: Iterable[Attribution]
) -> set[int]:
    return {a.account_id for a in appearances if a.account_id} | {
        a.account_id for a in attributions
    }


def left_out(text: str) -> int:
    """How many derivations to other cases' media an export's text says it leaves out."""
    m = _LEFT_OUT.search(text)
    return int(m.group(1)) if m else 0


def state_digest(text: str) -> str:
    """`sha256:HEX` of a case as `render_case` renders it: an export records it as `base`,
    the state its edits start from (see `_Importer.run`)."""
    return "sha256:" + hashlib.sha256(text.encode("utf-8")).hexdigest()


def with_base(text: str, base: str, earlier: Iterable[str] = ()) -> str:
    """The export of `render_case`'s `text`: `base` (`state_digest(text)`) after the
    `format` line, then `earlier` (other states of the case this archive held at an
    exchange, `known_states`), sorted, so that two archives that exchanged the same files
    write the same list."""
    m = re.search(r"(?m)^format = \d+\n", text)
    assert m, "render_case writes the format line"
    head = f'base = "{base}"\n'
    others = sorted(set(earlier) - {base})
    if others:
        head += "earlier = [\n" + "".join(f'  "{d}",\n' for d in others) + "]\n"
    return f"{text[: m.end()]}{head}{text[m.end() :]}"


@dataclass(frozen=True)
class KnownState:
    """A state of a case (its `state_digest`) that this archive's case as it is now comes
    from: the audit entry that says so (the first)."""

    action: str  # audit.CASE_EXPORT or audit.CASE_IMPORT
    at: datetime
    seq: int
    held: bool  # the case was in that state then (else: an imported file came from it)
    # the last entry that says the case was in that state (its first, if none since; the
    # entry that taught it, if never held): the newest state both sides come from is
    # the one this archive was in last (`_Importer.merge`)
    last: int = 0


def known_states(session: Session, slug: str) -> dict[str, KnownState]:
    """The states case `slug` passed through at its exchanges, as far as this archive knows:
    the `base` of each export (`case.export`); the state each changing import left, the
    file's `base` and the file's `earlier` (`case.import`: the file's state and what it came
    from; an import keeps every record of the file, or it is refused). Another archive
    holding one of them holds nothing this archive's case lacks, so a file of this case's
    current state continues from it: an export lists them as `earlier`, and an import
    whose file lists the case's state there is a fast-forward (`_Importer.run`)."""
    rows = session.exec(
        select(AuditEntry.seq, AuditEntry.at, AuditEntry.action, AuditEntry.payload)
        .where(
            AuditEntry.case_slug == slug,
            col(AuditEntry.action).in_((audit.CASE_EXPORT, audit.CASE_IMPORT)),
        )
        .order_by(col(AuditEntry.seq))
    ).all()
    out: dict[str, KnownState] = {}
    for seq, at, action, payload in rows:
        data = orjson.loads(payload)
        if action == audit.CASE_EXPORT:
            digests = [data.get("base")]
        else:
            digests = [data.get("state"), data.get("base"), *(data.get("earlier") or [])]
        for i, digest in enumerate(digests):
            if isinstance(digest, str) and _DIGEST_RE.fullmatch(digest):
                known = KnownState(action, parse_utc(at), seq, held=i == 0, last=seq)
                if digest not in out or (known.held and not out[digest].held):
                    out[digest] = known
                elif known.held:
                    out[digest] = replace(out[digest], last=seq)
    return out


def export_case(
    archive: Archive, ref: str, path: str | Path | None = None, *, record: bool = False
) -> str:
    """The case file text; also written to `path` (atomically) when given. `record`: append
    a `case.export` entry {sha256, size, path (None: standard output), base}, so that a desk
    can show later what it sent (not on a read-only archive)."""
    if path is not None:
        archive.refuse_own_path(Path(path), "write the case file")
    with archive.read() as session:
        case = get_case(session, ref)
        slug = case.slug
        rendered = render_case(session, case)
        earlier = known_states(session, slug)
    base = state_digest(rendered)
    text = with_base(rendered, base, earlier)
    data = text.encode("utf-8")
    final = None
    if path is not None:
        final = write_atomically(Path(path), data, prefix=".verify-case-")
    if record:
        payload = {
            "sha256": "sha256:" + hashlib.sha256(data).hexdigest(),
            "size": len(data),
            "path": None if final is None else str(Path(final).absolute()),
            "base": base,
        }
        # its state kept with the entry, for a later merge (`merge_states`)
        archive.record_output(
            audit.CASE_EXPORT, [(slug, payload)], also=lambda s: keep_state(s, slug, rendered)
        )
    return text


# ============================================================================ parse + validate


@dataclass
class _Ctx:
    label: str

    def fail(self, key: str, message: str) -> NoReturn:
        raise BadInputError(f"{self.label}: {key}: {message}")


def _assessment(ctx: _Ctx, w: str, t: dict[str, Any]) -> dict[str, Any]:
    """A claim's (or a claim history entry's) finding, confidence and rationale; a finding
    other than unassessed needs a rationale, as `verify claim assess` does."""
    finding = _enum(ctx, w, t, "finding", Finding, "finding") if "finding" in t else None
    conf = _enum(ctx, w, t, "confidence", Confidence, "confidence") if "confidence" in t else None
    rationale = _str(ctx, w, t, "rationale") or ""
    finding_v = (finding or Finding.UNASSESSED).value
    if finding_v != Finding.UNASSESSED and not rationale.strip():
        ctx.fail(f"{w}.rationale", f"a finding of {finding_v} needs a rationale")
    return {
        "finding": finding_v,
        "confidence": conf.value if conf else None,
        "rationale": rationale,
    }


def _check_dated(ctx: _Ctx, w: str, entry: dict[str, Any], before: dict[str, Any] | None) -> None:
    """A claim history entry says who assessed and when (`at` and `by`, as exports write
    them), or neither (written by hand: the importer's, now; only after every dated one).
    Dated ones come oldest first, and none is dated in the future (beyond the clock skew
    `verify check` allows between machines)."""
    at, by = entry["at"], entry["by"]
    if by is not None and not by.strip():
        ctx.fail(f"{w}.by", "empty: give who made the assessment, or leave out both at and by")
    if (at is None) != (by is None):
        ctx.fail(w, "give both at and by (who assessed the claim, and when), or neither")
    if at is None:
        if before is not None and before["at"] is None:
            ctx.fail(w, "one undated entry per claim (yours, now): the last")
        return
    if before is not None and before["at"] is None:
        ctx.fail(f"{w}.at", "a dated entry after an undated one: undated entries go last")
    if before is not None and at < before["at"]:
        ctx.fail(f"{w}.at", f"{iso(at)} is before the entry above it: entries go oldest first")
    if at > now() + audit.CLOCK_SKEW:
        ctx.fail(f"{w}.at", f"{iso(at)} is in the future")


def _check_keys(ctx: _Ctx, where: str, table: dict[str, Any], allowed: tuple[str, ...]) -> None:
    for key in table:
        if key not in allowed:
            ctx.fail(where, f"unknown key {key!r}; known keys: {', '.join(allowed)}")


def _str(
    ctx: _Ctx, where: str, table: dict[str, Any], key: str, *, required: bool = False
) -> str | None:
    value = table.get(key)
    if value is None:
        if required:
            ctx.fail(f"{where}.{key}" if where else key, "is required")
        return None
    if not isinstance(value, str):
        ctx.fail(f"{where}.{key}", f"expected a string, got {type(value).__name__}")
    if required and not value.strip():
        ctx.fail(f"{where}.{key}", "cannot be empty")
    if "\x00" in value:
        ctx.fail(f"{where}.{key}", "contains a NUL character, which cannot be stored; remove it")
    return value if value != "" else None


def _enum(ctx: _Ctx, where: str, table: dict[str, Any], key: str, kind: Any, what: str) -> Any:
    value = _str(ctx, where, table, key, required=True)
    try:
        return kind(value)
    except ValueError:
        allowed = ", ".join(m.value for m in kind)
        ctx.fail(f"{where}.{key}", f"unknown {what} {value!r}; use one of: {allowed}")


def _instant(ctx: _Ctx, where: str, table: dict[str, Any], key: str) -> datetime | None:
    value = table.get(key)
    if value is None:
        return None
    if isinstance(value, datetime):
        return as_utc(value)
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=UTC)
    if not isinstance(value, str):
        ctx.fail(f"{where}.{key}", f"expected a date, got {type(value).__name__}")
    try:
        return prov.parse_instant(value, "date")
    except BadInputError as exc:
        ctx.fail(f"{where}.{key}", exc.message)


def _posted(ctx: _Ctx, where: str, table: dict[str, Any]) -> tuple[datetime, str] | None:
    value = table.get("posted")
    if value is None:
        return None
    if isinstance(value, datetime):
        return as_utc(value), DatePrecision.EXACT.value
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=UTC), DatePrecision.DAY.value
    if not isinstance(value, str):
        ctx.fail(f"{where}.posted", f"expected a date, got {type(value).__name__}")
    try:
        dt, precision = prov.parse_posted(value)
    except BadInputError as exc:
        ctx.fail(f"{where}.posted", exc.message)
    return dt, precision.value


def _list(ctx: _Ctx, raw: dict[str, Any], key: str) -> list[dict[str, Any]]:
    value = raw.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        ctx.fail(key, f"expected a list of tables ([[{key}]])")
    return value


def _numbered(ctx: _Ctx, key: str, items: list[dict[str, Any]]) -> None:
    for i, item in enumerate(items, start=1):
        n = item.get("n", i)  # optional; when given it must say the position
        if n != i or isinstance(n, bool):
            ctx.fail(
                f"{key}[{i}].n",
                f"expected {i}, got {n!r} (entries are numbered 1, 2, 3… in file order)",
            )


def _account_ref(ctx: _Ctx, key: str, value: str) -> str:
    """The ref as written (platform alias resolved): looking it up finds an account stored
    under another spelling of its handle, and a new one is stored in the one spelling."""
    try:
        return prov.account_ref_as_given(value)
    except BadInputError as exc:
        ctx.fail(key, exc.message)


def _json_value(ctx: _Ctx, key: str, value: Any) -> Any:
    if isinstance(value, dict):
        if any("\x00" in str(k) for k in value):
            ctx.fail(key, "contains a NUL character, which cannot be stored; remove it")
        return {str(k): _json_value(ctx, f"{key}.{k}", v) for k, v in value.items()}
    if isinstance(value, list):
        return [_json_value(ctx, key, v) for v in value]
    if isinstance(value, str) and "\x00" in value:
        ctx.fail(key, "contains a NUL character, which cannot be stored; remove it")
    if isinstance(value, bool | int | float | str):
        return value
    ctx.fail(
        key,
        f"evidence values must be text, numbers, booleans, lists or tables, "
        f"not {type(value).__name__} (quote dates)",
    )


@dataclass
class Doc:
    """A validated case file. `None` in *_at / *_by fields means 'not given'."""

    case: dict[str, Any]
    # the digest of the case as exported (`state_digest`), None in a hand-written file
    base: str | None = None
    # other states of the case the exporting archive held at an exchange (`known_states`)
    earlier: frozenset[str] = frozenset()
    format: int = 1  # FORMAT and before
    claims: list[dict[str, Any]] = field(default_factory=list)
    status_changes: list[dict[str, Any]] = field(default_factory=list)
    notes: list[dict[str, Any]] = field(default_factory=list)
    accounts: list[dict[str, Any]] = field(default_factory=list)
    media: list[dict[str, Any]] = field(default_factory=list)
    appearances: list[dict[str, Any]] = field(default_factory=list)
    attributions: list[dict[str, Any]] = field(default_factory=list)
    derivations: list[dict[str, Any]] = field(default_factory=list)


TOP_KEYS = (
    "format",
    "base",
    "earlier",
    "case",
    "claims",
    "status_changes",
    "notes",
    "accounts",
    "media",
    "appearances",
    "attributions",
    "derivations",
)


def parse_case_file(text: str, label: str) -> Doc:
    """Parse and validate a case file completely, without touching any archive."""
    ctx = _Ctx(label)
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        cut = ""
        if re.search(r'(?m)^base = "sha256:', text) and f"\n# {END_MARK}" not in text:
            # an export cut short in the middle of a line (a truncated download or mail)
            cut = (
                f"; it lacks an export's last line (`# {END_MARK}`): it was cut short "
                "(export it again)"
            )
        raise BadInputError(f"{label}: not valid TOML: {exc}{cut}") from None
    for key in raw:
        if key not in TOP_KEYS:
            ctx.fail(key, f"unknown key {key!r}; known keys: {', '.join(TOP_KEYS)}")
    fmt = raw.get("format", 1)
    if fmt not in READABLE_FORMATS or isinstance(fmt, bool):
        ctx.fail(
            "format",
            f"unsupported format {fmt!r}; this verify reads formats "
            f"{', '.join(map(str, READABLE_FORMATS))}",
        )
    base = raw.get("base")
    if base is not None:
        if not isinstance(base, str) or not _DIGEST_RE.fullmatch(base):
            ctx.fail("base", "must be sha256:HEX, as `verify case export` writes it")
        # an export ends with this line: a file cut short at a line's end is still valid
        # TOML, and would import as if its last records had never existed
        if f"\n# {END_MARK}" not in text:
            ctx.fail(
                "base",
                f"the file lacks its last line (`# {END_MARK}`): it was cut short (export "
                "it again); if you removed that line on purpose, remove `base` too",
            )

    earlier = raw.get("earlier", [])
    if not isinstance(earlier, list) or not all(
        isinstance(d, str) and _DIGEST_RE.fullmatch(d) for d in earlier
    ):
        ctx.fail("earlier", "must be a list of sha256:HEX, as `verify case export` writes it")
    if base is None:
        earlier = []  # a hand-made file (its `base` removed): nothing shows where it starts

    c = raw.get("case")
    if not isinstance(c, dict):
        ctx.fail("case", "missing [case] table (slug, title, status)")
    _check_keys(ctx, "case", c, ("slug", "title", "summary", "status", "created_at", "created_by"))
    slug = _str(ctx, "case", c, "slug", required=True) or ""
    if not SLUG_RE.match(slug):
        ctx.fail("case.slug", f"bad slug {slug!r}: lowercase letters, digits and hyphens")
    title = _str(ctx, "case", c, "title", required=True)
    status = _enum(ctx, "case", c, "status", CaseStatus, "status") if "status" in c else None
    doc = Doc(
        case={
            "slug": slug,
            "title": title,
            "summary": _str(ctx, "case", c, "summary") or "",
            "status": (status or CaseStatus.UNVERIFIED).value,
            "created_at": _instant(ctx, "case", c, "created_at"),
            "created_by": _str(ctx, "case", c, "created_by"),
        },
        base=base,
        earlier=frozenset(earlier),
        format=fmt,
    )

    claims = _list(ctx, raw, "claims")
    _numbered(ctx, "claims", claims)
    for i, t in enumerate(claims, start=1):
        w = f"claims[{i}]"
        _check_keys(
            ctx,
            w,
            t,
            (
                "n",
                "text",
                "finding",
                "confidence",
                "rationale",
                "created_at",
                "created_by",
                "history",
            ),
        )
        claim = {
            "text": _str(ctx, w, t, "text", required=True),
            **_assessment(ctx, w, t),
            "created_at": _instant(ctx, w, t, "created_at"),
            "created_by": _str(ctx, w, t, "created_by"),
            "history": None,
        }
        if "history" in t and fmt < HISTORY_FORMAT:
            ctx.fail(f"{w}.history", f"needs format = {HISTORY_FORMAT} (this file says {fmt})")
        if "history" not in t and fmt >= HISTORY_FORMAT and claim["finding"] != "unassessed":
            # assessed by hand in a file that lists assessments: as an undated entry
            claim["history"] = [{**{k: claim[k] for k in NEW_CLAIM}, "at": None, "by": None}]
        if "history" in t:
            hist = t["history"]
            if not isinstance(hist, list) or not all(isinstance(h, dict) for h in hist):
                ctx.fail(f"{w}.history", "expected a list of tables ([[claims.history]])")
            if not hist:
                ctx.fail(f"{w}.history", "cannot be empty; omit it instead")
            entries: list[dict[str, Any]] = []
            for j, h in enumerate(hist, start=1):
                hw = f"{w}.history[{j}]"
                _check_keys(ctx, hw, h, ("finding", "confidence", "rationale", "at", "by"))
                entry = {
                    **_assessment(ctx, hw, h),
                    "at": _instant(ctx, hw, h, "at"),
                    "by": _str(ctx, hw, h, "by"),
                }
                _check_dated(ctx, hw, entry, entries[-1] if entries else None)
                entries.append(entry)
            # the last: an undated one (the importer's, now), else in the one order of
            # assessments (entries are oldest first; the same instant, by who and what)
            dated = [e for e in entries if e["at"] is not None]
            last = (
                entries[-1]
                if len(dated) < len(entries)
                else sorted(dated, key=recorded.assessment_order)[-1]
            )
            for key in NEW_CLAIM:
                if last[key] != claim[key]:
                    ctx.fail(
                        f"{w}.{key}",
                        f"must equal the last history entry's ({last[key]!r}); to change it, "
                        "append a [[claims.history]] entry",
                    )
            claim["history"] = entries
        doc.claims.append(claim)

    current = CaseStatus.UNVERIFIED
    for i, t in enumerate(_list(ctx, raw, "status_changes"), start=1):
        w = f"status_changes[{i}]"
        _check_keys(ctx, w, t, ("to", "why", "at", "by"))
        to = _enum(ctx, w, t, "to", CaseStatus, "status")
        why = _str(ctx, w, t, "why") or ""
        if to not in allowed_transitions(current):
            allowed = ", ".join(s.value for s in allowed_transitions(current))
            ctx.fail(f"{w}.to", f"cannot go from {current} to {to}; allowed: {allowed}")
        if (to in VERDICTS or current in VERDICTS) and not why.strip():
            ctx.fail(f"{w}.why", f"going from {current} to {to} needs a rationale")
        doc.status_changes.append(
            {
                "from": current.value,
                "to": to.value,
                "why": why,
                "at": _instant(ctx, w, t, "at"),
                "by": _str(ctx, w, t, "by"),
            }
        )
        current = to
    if current.value != doc.case["status"]:
        ctx.fail(
            "case.status",
            f"is {doc.case['status']!r} but the status history ends at {current.value!r}; "
            "add a [[status_changes]] entry with `to` and `why`",
        )

    for i, t in enumerate(_list(ctx, raw, "notes"), start=1):
        w = f"notes[{i}]"
        _check_keys(ctx, w, t, ("text", "at", "by"))
        doc.notes.append(
            {
                "text": _str(ctx, w, t, "text", required=True),
                "at": _instant(ctx, w, t, "at"),
                "by": _str(ctx, w, t, "by"),
            }
        )

    seen_accounts: set[str] = set()
    for i, t in enumerate(_list(ctx, raw, "accounts"), start=1):
        w = f"accounts[{i}]"
        _check_keys(
            ctx, w, t, ("ref", "name", "kind", "url", "credibility", "created_at", "created_by")
        )
        ref = _account_ref(ctx, f"{w}.ref", _str(ctx, w, t, "ref", required=True) or "")
        key = prov.account_key(ref)  # one account however its handle is spelt
        if key in seen_accounts:
            ctx.fail(f"{w}.ref", f"account {ref!r} is listed twice")
        seen_accounts.add(key)
        kind = _enum(ctx, w, t, "kind", AccountKind, "account kind") if "kind" in t else None
        doc.accounts.append(
            {
                "ref": ref,
                "display_name": _str(ctx, w, t, "name"),
                "kind": kind.value if kind else None,
                "url": _str(ctx, w, t, "url"),
                "credibility": _str(ctx, w, t, "credibility"),
                "created_at": _instant(ctx, w, t, "created_at"),
                "created_by": _str(ctx, w, t, "created_by"),
            }
        )

    media = _list(ctx, raw, "media")
    _numbered(ctx, "media", media)
    for i, t in enumerate(media, start=1):
        w = f"media[{i}]"
        _check_keys(
            ctx,
            w,
            t,
            (
                "n",
                "sha256",
                "name",
                "label",
                "source_url",
                "platform",
                "acquired_via",
                "acquired_by",
                "acquired_at",
            ),
        )
        sha = (_str(ctx, w, t, "sha256", required=True) or "").removeprefix("sha256:")
        if not SHA_RE.match(sha):
            ctx.fail(f"{w}.sha256", f"not a SHA-256 (64 lowercase hex digits): {sha!r}")
        # as `media add --platform` and an appearance's: `Telegram` is `telegram`, `ig`
        # is `instagram`; what is not a platform name is refused
        media_platform = _str(ctx, w, t, "platform")
        if media_platform is not None:
            try:
                media_platform = parse_platform(media_platform)[0]
            except BadInputError as exc:
                ctx.fail(f"{w}.platform", exc.message)
        doc.media.append(
            {
                "sha256": sha,
                "original_name": _str(ctx, w, t, "name", required=True),
                "label": _str(ctx, w, t, "label"),
                "source_url": _str(ctx, w, t, "source_url"),
                "platform": media_platform,
                "acquired_via": _str(ctx, w, t, "acquired_via"),
                "acquired_by": _str(ctx, w, t, "acquired_by"),
                "acquired_at": _instant(ctx, w, t, "acquired_at"),
            }
        )

    def local_ref(key: str, value: str | None, kinds: tuple[str, ...]) -> tuple[str, int] | None:
        if value is None:
            return None
        kind, _, num = value.partition(":")
        limit = {"media": len(doc.media), "appearance": len(appearances)}
        if kind not in kinds or not num.isdigit():
            ctx.fail(key, f"bad reference {value!r}; use " + " or ".join(f"{k}:N" for k in kinds))
        if not 1 <= int(num) <= limit[kind]:
            what = "media" if kind == "media" else "appearance"
            ctx.fail(
                key,
                f"unknown {what} {value!r}: the file lists {limit[kind]} "
                f"[[{kind if kind == 'media' else 'appearances'}]]",
            )
        return kind, int(num)

    appearances = _list(ctx, raw, "appearances")
    _numbered(ctx, "appearances", appearances)
    for i, t in enumerate(appearances, start=1):
        w = f"appearances[{i}]"
        _check_keys(
            ctx,
            w,
            t,
            (
                "n",
                "platform",
                "account",
                "url",
                "post_id",
                "posted",
                "captured_at",
                "caption",
                "language",
                "forwarded_from",
                "quoted_from",
                "archive_url",
                "media",
                "note",
                "created_at",
                "created_by",
            ),
        )
        account = _str(ctx, w, t, "account")
        try:
            platform = parse_platform(_str(ctx, w, t, "platform", required=True) or "")[0]
        except BadInputError as exc:
            ctx.fail(f"{w}.platform", exc.message)
        posted = _posted(ctx, w, t)
        m = local_ref(f"{w}.media", _str(ctx, w, t, "media"), ("media",))
        doc.appearances.append(
            {
                "platform": platform,
                "account": _account_ref(ctx, f"{w}.account", account) if account else None,
                "url": _str(ctx, w, t, "url"),
                "post_id": _str(ctx, w, t, "post_id"),
                "posted_at": posted[0] if posted else None,
                "posted_precision": posted[1] if posted else DatePrecision.EXACT.value,
                "captured_at": _instant(ctx, w, t, "captured_at"),
                "caption": _str(ctx, w, t, "caption"),
                "language": _str(ctx, w, t, "language"),
                "forwarded_from": _str(ctx, w, t, "forwarded_from"),
                "quoted_from": _str(ctx, w, t, "quoted_from"),
                "archive_url": _str(ctx, w, t, "archive_url"),
                "media": m[1] if m else None,
                "note": _str(ctx, w, t, "note"),
                "created_at": _instant(ctx, w, t, "created_at"),
                "created_by": _str(ctx, w, t, "created_by"),
            }
        )

    attributions = _list(ctx, raw, "attributions")
    _numbered(ctx, "attributions", attributions)
    for i, t in enumerate(attributions, start=1):
        w = f"attributions[{i}]"
        _check_keys(
            ctx,
            w,
            t,
            (
                "n",
                "role",
                "actor",
                "target",
                "state",
                "evidence",
                "according_to",
                "created_at",
                "created_by",
                "history",
            ),
        )
        role = _enum(ctx, w, t, "role", Role, "role")
        state = (
            _enum(ctx, w, t, "state", AttributionState, "state")
            if "state" in t
            else AttributionState.CLAIMED
        )
        target_text = _str(ctx, w, t, "target")
        target = (
            None
            if target_text in (None, "case")
            else local_ref(f"{w}.target", target_text, ("media", "appearance"))
        )
        history: list[dict[str, Any]] | None = None
        if "history" in t:
            history = []
            hist = t["history"]
            if not isinstance(hist, list) or not all(isinstance(h, dict) for h in hist):
                ctx.fail(f"{w}.history", "expected a list of tables ([[attributions.history]])")
            for j, h in enumerate(hist, start=1):
                hw = f"{w}.history[{j}]"
                _check_keys(ctx, hw, h, ("state", "evidence", "according_to", "at", "by"))
                history.append(
                    {
                        "state": _enum(ctx, hw, h, "state", AttributionState, "state").value,
                        "evidence": _str(ctx, hw, h, "evidence"),
                        "according_to": _str(ctx, hw, h, "according_to"),
                        "at": _instant(ctx, hw, h, "at"),
                        "by": _str(ctx, hw, h, "by"),
                    }
                )
        entry = {
            "role": role.value,
            "actor": _account_ref(ctx, f"{w}.actor", _str(ctx, w, t, "actor", required=True) or ""),
            "target": target,
            "state": state.value,
            "evidence": _str(ctx, w, t, "evidence"),
            "according_to": _str(ctx, w, t, "according_to"),
            "created_at": _instant(ctx, w, t, "created_at"),
            "created_by": _str(ctx, w, t, "created_by"),
            "history": history,
        }
        if history is not None:
            if not history:
                ctx.fail(f"{w}.history", "cannot be empty; omit it instead")
            last = history[-1]
            for key in ("state", "evidence", "according_to"):
                if last[key] != entry[key]:
                    ctx.fail(
                        f"{w}.{key}",
                        f"must equal the last history entry's ({last[key]!r}); to change it, "
                        "append a [[attributions.history]] entry or drop the history",
                    )
        doc.attributions.append(entry)

    edges: dict[int, set[int]] = {}
    seen_edges: set[tuple[int, int, str]] = set()
    for i, t in enumerate(_list(ctx, raw, "derivations"), start=1):
        w = f"derivations[{i}]"
        _check_keys(
            ctx,
            w,
            t,
            (
                "child",
                "kind",
                "parent",
                "evidence",
                "note",
                "created_at",
                "created_by",
                "retraction",
                "retracted_at",
                "retracted_by",
            ),
        )
        child = local_ref(f"{w}.child", _str(ctx, w, t, "child", required=True), ("media",))
        parent = local_ref(f"{w}.parent", _str(ctx, w, t, "parent", required=True), ("media",))
        assert child is not None and parent is not None  # required above
        kind = _enum(ctx, w, t, "kind", DerivationKind, "derivation kind")
        retraction = _str(ctx, w, t, "retraction")
        if retraction is None and ("retracted_at" in t or "retracted_by" in t):
            ctx.fail(w, "retracted_at and retracted_by need retraction: why it was taken back")
        if retraction is not None and not retraction.strip():
            ctx.fail(f"{w}.retraction", "give why the derivation was taken back")
        if retraction is None:  # a retracted derivation relates nothing: no cycle either
            cycle = prov.find_cycle(edges, child[1], parent[1])
            if cycle:
                path = " -> ".join(f"media:{m}" for m in cycle)
                ctx.fail(w, f"derivation cycle: {path}")
            edges.setdefault(child[1], set()).add(parent[1])
        if (child[1], parent[1], kind.value) in seen_edges:
            ctx.fail(w, "listed twice")
        seen_edges.add((child[1], parent[1], kind.value))
        ev = t.get("evidence")
        evidence: dict[str, Any] | None
        if ev is None:
            evidence = None
        elif isinstance(ev, str):
            try:
                evidence = prov.parse_evidence(ev)
            except BadInputError as exc:
                ctx.fail(f"{w}.evidence", exc.message)
        elif isinstance(ev, dict):
            evidence = _json_value(ctx, f"{w}.evidence", ev) or None
        else:
            ctx.fail(f"{w}.evidence", "expected a table or text")
        doc.derivations.append(
            {
                "child": child[1],
                "parent": parent[1],
                "kind": kind.value,
                "evidence": evidence,
                "note": _str(ctx, w, t, "note"),
                "created_at": _instant(ctx, w, t, "created_at"),
                "created_by": _str(ctx, w, t, "created_by"),
                "retraction": retraction,
                "retracted_at": _instant(ctx, w, t, "retracted_at"),
                "retracted_by": _str(ctx, w, t, "retracted_by"),
            }
        )
    return doc


# ============================================================================ import


@dataclass
class ImportResult:
    slug: str
    created: bool
    changes: int
    # the audit entries the import wrote (or, `dry_run`, would write): {action, payload}
    entries: list[dict[str, Any]] = field(default_factory=list)
    # impossible appearance dates in the file, recorded as given (`prov.appearance_problems`)
    warnings: list[str] = field(default_factory=list)
    # accounts, media and appearances it recorded on platforms verify does not know, one
    # note for each platform (`vocab.unknown_platform_note`); assessed claims the file
    # lists no assessment of
    notes: list[str] = field(default_factory=list)


def shown_value(value: Any) -> str:
    """A value in an import's one-line refusal (and `case import --dry-run`'s lines):
    quoted, at most 40 characters."""
    if isinstance(value, datetime):
        value = iso(value)
    text = "none" if value is None or value == "" else repr(value)
    return text if len(text) <= 40 else text[:39] + "…"


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, datetime) and isinstance(b, datetime):
        return as_utc(a) == as_utc(b)
    return bool(a == b)


def _stated(h: dict[str, Any]) -> dict[str, Any]:
    """The `stated` payload of an assessment a file's history dates (who made it, when);
    none for the importer's own (an undated entry: the audit entry's actor and time)."""
    if h.get("at") is None or h.get("by") is None or h.get("own"):
        return {}
    return {recorded.STATED: {"by": h["by"], "at": iso(h["at"])}}


def _noted(h: dict[str, Any]) -> dict[str, Any]:
    """The payload of an assessment recorded without becoming the claim's current one."""
    assessment = {k: h[k] or None if k == "rationale" else h[k] for k in NEW_CLAIM}
    return {NOTED_KEY: assessment, **_stated(h)}


def _same_assessment(mine: dict[str, Any], theirs: dict[str, Any]) -> bool:
    """The archive's assessment `mine` (`recorded.claim_histories`) is the file's `theirs`
    (whose `at` is the same instant)."""
    return all((mine[k] or None) == (theirs[k] or None) for k in NEW_CLAIM) and (
        theirs["by"] is None or theirs["by"] == mine["by"]
    )


def _state_said(state: str, evidence: str | None, by: str | None, at: datetime | None) -> str:
    why = f" ({shown_value(evidence)})" if evidence else ""
    return f"{state}{why}, by {by or '?'} at {iso(at) or '?'}"


def _said(h: dict[str, Any], *, who: bool = True) -> str:
    conf = f", {h['confidence']} confidence" if h["confidence"] else ""
    why = f": {shown_value(h['rationale'])}" if h["rationale"] else ""
    by = f", by {h['by'] or '?'}" if who and "by" in h else ""
    return f"{h['finding']}{conf}{why}{by}"


# what to do when each archive added a record at one place and no state both come from is
# kept to merge them against (`_Importer.same_record`, `_Importer.media`)
BOTH_ADDED = (
    "have the file's sender import this archive's latest export first and send a new export "
    "(it then holds both), or import the file as another case (change its `slug`)"
)


@dataclass
class _Records:
    """A case's media (with their blobs), appearances and attributions (`_Importer.in_file`)."""

    media: list[tuple[Media, Blob]]
    appearances: list[Appearance]
    attributions: list[Attribution]


class _Importer:
    def __init__(
        self,
        session: Session,
        archive: Archive,
        ctx: _Ctx,
        doc: Doc,
        name: str,
        *,
        update: bool = False,
        sha256: str | None = None,
        exported: str | None = None,
    ) -> None:
        self.s = session
        # the file's bytes' hash, and its text as exported when it is (`as_exported` hashes
        # to its `base`), both computed before the transaction
        self.sha256 = sha256
        self.exported = exported
        self.actor = archive.actor
        self.ctx = ctx
        self.doc = doc
        self.name = name
        self.slug = doc.case["slug"]
        self.changes = 0
        self.at = now()
        self.known_accounts: dict[str, Account] = {}
        # added to every audit payload; records written through the services (`prov.record_*`,
        # `media.record_media`, …) get it as `audit_extra`, and the import counts them itself
        self.extra = {"import": name}
        self.existing_created_at: datetime | None = None
        self.warnings: list[str] = []
        self.account_notes: list[str] = []  # and media's and appearances'
        self.noted_platforms: set[str] = set()
        # facts of records the archive holds that the file changes ("claims[1].finding
        # 'contradicted' -> 'unassessed'"): applied only when the file was exported from the
        # case as it is now (`fast_forward`) or the user says so (`update`, `--update`)
        self.edits: list[str] = []
        self.update_asked = update
        self.fast_forward = False
        # the file was exported from the case as it is now (its `base`): a hand edit of it
        self.exact = False
        # changes to accounts the case did not mention (`mentioned_accounts`): no state of the
        # case says which side's details are newer, so only an exact file or --update applies them
        self.outside: list[str] = []
        self.mentioned: set[int] = set()
        # the case's state digest before the import (None: a new case), and the states this
        # archive held at earlier exchanges (`known_states`)
        self.before: str | None = None
        self.known: dict[str, KnownState] = {}
        # the kept state the file was merged against (`merge`), if it was
        self.merged_from: str | None = None
        self.records: _Records | None = None  # `in_file`
        self.undated_added = 0  # records added without a time of their own (`undated`)

    def log(self, action: str, payload: dict[str, Any], *, count: bool = True) -> None:
        self.changes += count
        audit.append(
            self.s,
            actor=self.actor,
            action=action,
            case=self.slug,
            payload=_jsonable({**payload, **self.extra}),
        )

    def update(
        self, where: str, row: Any, values: dict[str, Any], keep_if_none: tuple[str, ...] = ()
    ) -> dict[str, Any]:
        """Set differing fields on `row` (the file's record `where`, e.g. `claims[2]`); fields
        in keep_if_none stay when the file omits them. Each change is noted in `edits`."""
        changes: dict[str, Any] = {}
        for key, new in values.items():
            if new is None and key in keep_if_none:
                continue
            old = getattr(row, key)
            if not _same(old, new):
                changes[key] = {"old": old, "new": new}
                setattr(row, key, new)
        if changes:
            self.s.add(row)
            self.edited(where, changes)
        return changes

    def edited(self, where: str, changes: dict[str, Any]) -> None:
        for key, change in changes.items():
            name = {"account_id": "account", "media_id": "media"}.get(key, key)
            old, new = (self.shown(key, change[k]) for k in ("old", "new"))
            self.edits.append(f"{where}.{name} {old} -> {new}")

    def shown(self, key: str, value: Any) -> str:
        """A changed value as the refusal lists it: accounts by their ref, media by their
        SHA-256 (row ids mean nothing to the reader of a file)."""
        if value is not None and key == "account_id":
            account = self.s.get(Account, value)
            value = prov.account_ref(account) if account is not None else value
        elif value is not None and key == "media_id":
            row = self.s.get(Media, value)
            blob = self.s.get(Blob, row.blob_id) if row is not None else None
            value = f"sha256:{blob.sha256[:12]}" if blob is not None else value
        return shown_value(value)

    def require_fast_forward(self) -> None:
        """Refuse a file that would change facts the archive holds unless it was exported
        from the case as it is now, or the user asked for it (`--update`): an older export,
        or one from another archive whose case has moved on, would otherwise put back what
        a colleague changed since, or replace a record both sides added, silently."""
        if self.update_asked:
            return
        if self.outside and self.fast_forward and not self.exact:
            shown = "; ".join(self.outside[:4])
            if len(self.outside) > 4:
                shown += f"; and {len(self.outside) - 4} more"
            raise BadInputError(
                f"{self.ctx.label}: it would change {len(self.outside)} detail"
                f"{'s' if len(self.outside) != 1 else ''} of accounts this case did not "
                f"mention ({shown}); accounts are shared by this archive's cases, and "
                "nothing in the file shows which details are newer: check them (`verify "
                "prov account list`), then import again with --update to apply them"
            )
        if not self.edits or self.fast_forward:
            return
        shown = "; ".join(self.edits[:4])
        if len(self.edits) > 4:
            shown += f"; and {len(self.edits) - 4} more"
        older = self.older()
        then = (
            f"check them (`verify log {self.slug}` shows who changed what here), then import "
            "again with --update to apply them, or export the case again and re-apply your edits"
        )
        if self.doc.base is None:
            why = (
                "the file has no `base` (written by hand), so nothing shows it starts from "
                "the case as it is now"
            )
        elif older is not None:
            why = older
            then = "the values listed are older than this archive's; --update would put them back"
        else:
            why = (
                "this archive's case is no longer the one the file was exported from, nor "
                "one it held at an earlier exchange (it changed after the export, or both "
                "archives changed it since they last exchanged it)"
            )
        raise BadInputError(
            f"{self.ctx.label}: it would change {len(self.edits)} "
            f"fact{'s' if len(self.edits) != 1 else ''} this archive holds ({shown}), and "
            f"{why}: {then}"
        )

    def came_back(self) -> bool:
        """The file's state is one this archive knew, but the file passed through a state
        this archive knew after it (its `earlier`): a change the file's archive undid since,
        not an older file."""
        base = self.known.get(self.doc.base or "")
        if base is None:
            return False
        since = [self.known[d] for d in self.doc.earlier if d in self.known]
        return any((k.seq, k.held) > (base.seq, base.held) for k in since)

    def older(self) -> str | None:
        """Why the file is older than this archive's case, when its `base` is a state the
        case was in, or came from, before it became what it is now (`known_states`)."""
        known = self.known.get(self.doc.base or "")
        if known is None or self.doc.base == self.before or self.came_back():
            return None
        how = "held it" if known.held else "imported a file of it, or of a later state of the case,"
        return (
            f"the file is an earlier state of this case (this archive {how} at "
            f"{iso(known.at)}: audit seq {known.seq}, {known.action}), and the case has "
            "changed since"
        )

    def touch(self, case: Case) -> None:
        """The case was changed by this import (as `cases._touch` on the command line)."""
        case.updated_at, case.updated_by = self.at, self.actor
        self.s.add(case)

    def same_record(self, what: str, n: int, row: Any, want: dict[str, Any]) -> None:
        """The archive's record at the file's record's place is that record: when the file
        says who recorded it and when, they must be the row's. Otherwise both archives added
        a record there after they last exchanged the case, and an import never replaces one
        with the other. A row that does not say (a claim an import recorded before claims
        had stamps: the file did not say) is taken to be the file's record."""
        at, by = want["created_at"], want["created_by"]
        if (at is None or row.created_at is None or _same(row.created_at, at)) and (
            by is None or row.created_by is None or row.created_by == by
        ):
            return
        self.ctx.fail(
            f"{what}s[{n}]",
            f"this archive's {what} {n} was recorded by {row.created_by or '?'} at "
            f"{iso(row.created_at) or '?'}, the file's by {by or '?'} at {iso(at) or '?'}: "
            f"they are different {what}s (each archive added one after "
            f"they last exchanged this case); an import never replaces one with another: "
            + (
                # claims are numbered (`case assess CASE N`): two cannot both keep one number
                "to keep the file's claims beside this archive's, import it as another case "
                "(change its `slug`)"
                if what == "claim"
                else BOTH_ADDED
            ),
        )

    def paired(
        self,
        what: str,
        key: str,
        rows: Sequence[Any],
        held: Keys,
        wants: Keys,
        described: Callable[[Any], str],
        differs: Callable[[int, Any], None],
        how: dict[str, Any],
    ) -> list[Any]:
        """The archive's record each of the file's `key` records is (`_pair`), or None for a
        new one. Each of the archive's `rows` (in case-file order) must be in the file
        (append-only): when the file's record at a missing row's place is another one,
        `differs(n, row)` says so; else the file lacks the row, `described(row)`. `how`:
        how `_pair` takes the keys (`MEDIA_PAIRING`, `STAMPED_PAIRING`). A record
        without stamps is the archive's at its place: in an export (a `base`), as exports
        list them; in a file written by hand, as recorded (id order, as the command line
        lists them)."""
        listed = len(wants[0])
        places = (
            None
            if self.doc.base is not None
            else sorted(range(len(rows)), key=lambda i: pk(rows[i]))
        )
        paired, left = _pair(held, wants, places=places, **how)
        if left:
            i = left[0]
            if i < listed and paired[i] is None:
                differs(i + 1, rows[i])
            self.ctx.fail(
                f"{key}[{i + 1}]",
                f"the file lacks the archive's {what} {i + 1} ({described(rows[i])}); "
                f"provenance is append-only: {self.remedy()}",
            )
        return [None if p is None else rows[p] for p in paired]

    def older_export(self) -> bool:
        """Could the file be an export of a version before claims had `created_at` /
        `created_by`? (None of its claims has them.)"""
        return all(c["created_at"] is None and c["created_by"] is None for c in self.doc.claims)

    def prefix(self, key: str, in_archive: int, in_file: int) -> None:
        if in_archive > in_file:
            self.ctx.fail(
                f"{key}[{in_file + 1}]",
                f"the archive has {in_archive} {key} but the file lists {in_file}; provenance "
                f"is append-only: {self.remedy()}",
            )

    def remedy(self) -> str:
        """What to do when the file lacks records the archive has: the archive's case was
        opened at a different time (another case with the same slug), or the file is an old
        export. A hand-written file gives no `created_at`, so it could be either."""
        here = self.existing_created_at
        there = self.doc.case["created_at"]
        other = "change the slug in the file or import it into another archive (VERIFY_HOME)"
        if here is not None and there is not None and not _same(here, there):
            return (
                f"the file's case was opened at {iso(there)}, this archive's case {self.slug} "
                f"at {iso(here)}: they are different cases with the same slug; {other}"
            )
        again = "export the case again and re-apply your edits"
        older = self.older()
        if older is not None:
            return f"{older}; {again}"
        if there is None:
            return (
                f"if the file describes another case than this archive's {self.slug}, {other}; "
                f"if it is an older export of it, {again}"
            )
        return again

    # ---------------------------------------------------------------- sections

    def run(self) -> tuple[Case, bool]:
        case = self.s.exec(select(Case).where(Case.slug == self.slug)).first()
        created = case is None
        self.existing_created_at = None if case is None else case.created_at
        c = self.doc.case
        if case is not None:
            if c["created_at"] is not None and not _same(case.created_at, c["created_at"]):
                # a case's opening time never changes: another case with the same slug
                self.ctx.fail("case.created_at", self.remedy())
            # a fast-forward: the file was exported from the case as it is now, or from a
            # later state of an archive that held it as it is now (`earlier`); a
            # hand-written file (no `base`) never is: its edits need `--update`
            current = render_case(self.s, case)
            self.before = state_digest(current)
            self.known = known_states(self.s, self.slug)
            self.mentioned = mentioned_accounts(self.s, case)
            self.exact = self.doc.base == self.before
            # from a state this archive's case was in (`earlier`), to one it has never been
            # in: a file whose state it held before (and left, or came back from) is older
            self.fast_forward = self.exact or (
                self.doc.base is not None
                and self.before in self.doc.earlier
                and (self.doc.base not in self.known or self.came_back())
            )
            if not self.fast_forward and self.doc.base is not None:
                # an export of an earlier version: its `base` is the case as that version
                # rendered it (records as recorded, not in time order; notes too;
                # before claims carried their history, or before they had stamps)
                by_id = {"records_by_time": False}
                as_recorded = {**by_id, "in_time_order": False}
                older: list[dict[str, bool]] = [by_id, as_recorded]
                if all(c["history"] is None for c in self.doc.claims):
                    older.append({"claim_history": False, **as_recorded})
                    if self.older_export():
                        older.append({"claim_history": False, "claim_stamps": False, **as_recorded})
                # (its `earlier` names the case as that version rendered it, too)
                for how in older:
                    then = state_digest(render_case(self.s, case, **how))
                    if self.doc.base == then:
                        self.fast_forward = self.exact = True
                        break
                    if then in self.doc.earlier and (
                        self.doc.base not in self.known or self.came_back()
                    ):
                        self.fast_forward = True
                        break
            if (
                not self.fast_forward
                and self.doc.base is not None
                and self.doc.format >= HISTORY_FORMAT
                and self.older() is None
            ):
                self.merge(current)
                c = self.doc.case  # the merged file's
        if case is None:
            case = Case(
                slug=self.slug,
                title=c["title"],
                summary=c["summary"],
                status=CaseStatus.UNVERIFIED.value,
                created_at=c["created_at"] or self.at,
                created_by=c["created_by"] or self.actor,
                updated_at=self.at,
                updated_by=self.actor,
            )
            self.s.add(case)
            self.s.flush()
            opened = {"by": case.created_by, "at": iso(case.created_at)}  # the file's, or now
            self.log(
                "case.open", {"title": case.title, "summary": case.summary, "claims": [], **opened}
            )
        else:
            changes = self.update("case", case, {"title": c["title"], "summary": c["summary"]})
            if changes:
                self.touch(case)
                self.log("case.edit", changes)
        self.claims(case)
        self.status(case)
        self.notes(case)
        self.accounts()
        media_ids = self.media(case)
        ap_ids = self.appearances(case, media_ids)
        self.attributions(case, media_ids, ap_ids)
        self.derivations(media_ids)
        self.require_fast_forward()
        if self.undated_added and self.doc.base is not None:
            n = self.undated_added
            self.account_notes.append(
                f"note: {n} record{'s' if n != 1 else ''} this edited export adds "
                f"{'have' if n != 1 else 'has'} no time of {'their' if n != 1 else 'its'} own "
                f"(created_at, at, acquired_at) and {'were' if n != 1 else 'was'} recorded as "
                f"made now, by {self.actor}: to pass the change on, send a new export (`verify "
                "case export`), not this file, which would have each archive record "
                f"{'them' if n != 1 else 'it'} as its own (kept twice at a later exchange)"
            )
        self.s.flush()
        after = render_case(self.s, case)
        state = state_digest(after)
        learnt = ({self.doc.base} | self.doc.earlier) - self.known.keys() - {state, None}
        if state != self.before or self.changes or learnt:
            # the state this import left, and the states the file came from that this
            # archive did not know (its case holds all they held): a later export lists
            # them in `earlier`; an import that changes nothing and teaches nothing writes
            # nothing
            payload = {
                "sha256": self.sha256,
                "base": self.doc.base,
                "state": state,
                "earlier": sorted(self.doc.earlier - self.known.keys() - {state, self.doc.base}),
                "update": self.update_asked,
                "merged": self.merged_from,
            }
            self.log(audit.CASE_IMPORT, payload, count=False)
            # their texts, for a later merge
            keep_state(self.s, self.slug, after)
            if self.exported is not None:
                keep_state(self.s, self.slug, self.exported)
        return case, created

    def merge(self, current: str) -> None:
        """A file from an archive that changed the case while this one did too: merged
        with this archive's case (`current`) against the latest state both come from whose
        text this archive kept (`merge_states`), then imported as a fast-forward. Facts
        both sides changed are refused, or with --update taken from the file."""
        came_from = {d for d in (self.doc.base, *self.doc.earlier) if d is not None}
        shared = came_from & self.known.keys()
        if not shared:
            return  # nothing in common known: the edits need --update, as before
        # the newest state both come from (a merge records the state it left and the
        # file's base in one entry: the state held here first), in one order everywhere
        digest = max(shared, key=lambda d: (self.known[d].last, self.known[d].held, d))
        text = kept_state(self.s, digest)
        if text is None:
            return  # its text not kept here (learnt from a file): merging against an
            # older state could undo what happened since, so the edits need --update
        ancestor = parse_case_file(text, f"{self.ctx.label} (kept state {digest})")
        ours = parse_case_file(current, f"{self.ctx.label} (this archive's case)")
        merged, conflicts = merge_states(ancestor, ours, self.doc)
        stuck = [c.text for c in conflicts if not c.resolvable]
        if stuck or (conflicts and not self.update_asked):
            known = self.known[digest]
            how = "held here" if known.held else "learnt here from an imported file"
            listed = stuck or [c.text for c in conflicts]
            shown = "; ".join(listed[:4])
            if len(listed) > 4:
                shown += f"; and {len(listed) - 4} more"
            since = (
                f"{self.ctx.label}: this archive and the file's each changed the case since "
                f"the state both come from ({how} at {iso(known.at)}, audit seq {known.seq})"
            )
            if stuck:
                raise BadInputError(
                    f"{since}, in {len(listed)} way{'s' if len(listed) != 1 else ''} that "
                    f"cannot be merged, with --update either ({shown}): provenance is "
                    "append-only, so the two archives' histories of this case part here; to "
                    "keep the file's beside this archive's, import it as another case (change "
                    "its `slug`)"
                )
            raise BadInputError(
                f"{since}, and both changed {len(listed)} fact{'s' if len(listed) != 1 else ''} "
                f"differently ({shown}): agree which stands (`verify log {self.slug}` shows "
                "who changed what here); --update takes the file's"
            )
        self.doc = merged
        self.fast_forward = True
        self.merged_from = digest

    def claims(self, case: Case) -> None:
        rows = list(
            self.s.exec(
                select(Claim).where(Claim.case_id == case.id).order_by(col(Claim.position))
            ).all()
        )
        self.prefix("claims", len(rows), len(self.doc.claims))
        held = (
            recorded.claim_histories(recorded.read_claim_entries(self.s, self.slug)) if rows else {}
        )
        for n, want in enumerate(self.doc.claims, start=1):
            if n <= len(rows):
                self.held_claim(case, rows[n - 1], n, want, held.get(n, []))
            else:
                self.new_claim(case, n, want)

    def held_claim(
        self, case: Case, row: Claim, n: int, want: dict[str, Any], held: list[dict[str, Any]]
    ) -> None:
        """The file's claim `n` onto the archive's (`row`, its assessments `held`). In a
        file from before claims carried their assessments (format 1), its assessment is a
        fact the file changes (fast-forward or --update), made by the importer; else the
        assessments are merged (`merge_assessments`)."""
        w = f"claims[{n}]"
        history = want["history"]
        merged = self.doc.format >= HISTORY_FORMAT
        self.same_record("claim", n, row, want)
        before = {k: getattr(row, k) for k in NEW_CLAIM}
        text = (row.text, want["text"])
        fields = ("text",) if merged else ("text", *NEW_CLAIM)
        changes = self.update(w, row, {k: want[k] for k in fields})
        if changes:
            row.updated_at, row.updated_by = self.at, self.actor
            self.touch(case)
            self.log("claim.edit", {"n": n, **changes})
        if merged:
            self.merge_assessments(case, row, w, held, history or [])
            self.early_assessments(w, row.created_at, history or [])
            if history is None and before["finding"] != Finding.UNASSESSED.value:
                # the usual case (the sender had no assessment of it yet), said as a note: a
                # hand edit back to unassessed would otherwise do nothing, unsaid
                self.account_notes.append(
                    f"{w}: the file lists no assessment of claim {n} (its sender had none), so "
                    f"this archive's finding {before['finding']!r} stands (a file returns a "
                    "claim to unassessed with a [[claims.history]] entry saying so)"
                )
        self.reworded_claim(n, text, before, {k: getattr(row, k) for k in NEW_CLAIM})

    def new_claim(self, case: Case, n: int, want: dict[str, Any]) -> None:
        """The file's claim `n`, which the archive does not hold: added as on the command
        line (`claim.add` {n, text, by, at}: who added it and when, the file's, else the
        importer, now), then each of its assessments in order as the `claim.edit` a later
        import of it would write."""
        history = want["history"]
        created_at = self.undated(want["created_at"])
        created_by = want["created_by"] or self.actor
        self.early_assessments(f"claims[{n}]", created_at, history or [])
        self.s.add(
            Claim(
                case_id=pk(case),
                position=n,
                **{k: want[k] for k in ("text", *NEW_CLAIM)},
                created_at=created_at,
                created_by=created_by,
                updated_at=self.at,
                updated_by=self.actor,
            )
        )
        self.touch(case)  # as `claim add` does
        stamp = {"by": created_by, "at": iso(created_at)}
        self.log("claim.add", {"n": n, "text": want["text"], **stamp})
        if history is None:  # format 1, or unassessed
            entries = [{**{k: want[k] for k in NEW_CLAIM}, "at": None, "by": None}]
        else:
            entries = sorted(
                (f for f in history if f["at"] is not None), key=recorded.assessment_order
            )  # stable: one person's at one instant in the file's order
            entries += [
                self.dated(f"claims[{n}]", f, entries[-1] if entries else None)
                for f in history[len(entries) :]
            ]
        was: dict[str, Any] = dict(NEW_CLAIM)
        for h in entries:
            # in order, each is the claim's current one after it (the last is the file's:
            # checked when read); one saying what the one before it said is kept, as stated
            assessed = {k: {"old": old, "new": h[k]} for k, old in was.items() if h[k] != old}
            was = {k: h[k] for k in NEW_CLAIM}
            if assessed:
                self.log("claim.edit", {"n": n, **assessed, **_stated(h)}, count=False)
            elif _stated(h):
                self.log("claim.edit", {"n": n, **_noted(h)}, count=False)

    def merge_assessments(
        self,
        case: Case,
        row: Claim,
        w: str,
        held: list[dict[str, Any]],
        history: list[dict[str, Any]],
    ) -> None:
        """Merge the file's assessments of a claim the archive holds (`history`) with the
        archive's (`held`, from `recorded.claim_histories`). An assessment is who made it
        and when: one the archive has is passed over, and one by the same person at the
        same instant that says otherwise is a rewritten one, refused. Each other one is
        recorded as the file states it, in `recorded.assessment_order`: as the claim's
        current assessment when it comes after every assessment the archive has, else
        noted beside them (`statecheck.NOTED_KEY`: the claim is unchanged). So two
        archives that each assessed the claim after an exchange end with the same
        assessments and the same current one (the last), whichever imports first. An
        undated entry (written by hand) is the importer's, now."""
        order = recorded.assessment_order
        # the archive's by (at, by): more than one only under a pinned clock, in the order
        # they were recorded, which the file's at the same (at, by) are matched with
        held_at: dict[tuple[datetime, str], list[dict[str, Any]]] = defaultdict(list)
        for h in held:
            held_at[order(h)].append(h)
        matched: dict[tuple[datetime, str], int] = defaultdict(int)
        latest = held[-1] if held else None  # in that order
        dated = [(j, f) for j, f in enumerate(history, start=1) if f["at"] is not None]
        for j, f in sorted(dated, key=lambda jf: order(jf[1])):
            key = order(f)
            k, matched[key] = matched[key], matched[key] + 1
            if k < len(held_at[key]):
                mine = held_at[key][k]
                if _same_assessment(mine, f):
                    continue
                self.ctx.fail(
                    f"{w}.history[{j}]",
                    f"this archive's assessment by {f['by']} at {iso(f['at'])} is "
                    f"{_said(mine, who=False)}; the file's is {_said(f, who=False)}: an "
                    "assessment once recorded "
                    "is not rewritten; to change the claim's finding, assess it again "
                    "(`verify claim assess`) or append a new [[claims.history]] entry",
                )
            if latest is None or key >= order(latest):
                self.assess(case, row, f)
                latest = f
            else:
                self.note_assessment(row, f)
        # the one undated entry (the last, checked when read): the importer's, now, when it
        # changes the claim; a fact the file changes, as on a claim of a format 1 file, so
        # applied only to the case as exported (or with --update): importing the same
        # edited file again after a colleague assessed the claim does not put it back
        for f in history[len(dated) :]:
            if all(_same(getattr(row, k), f[k]) for k in NEW_CLAIM):
                continue
            f = self.dated(w, f, latest)
            was = {k: getattr(row, k) for k in NEW_CLAIM}
            self.edited(w, {"assessment": {"old": _said(was), "new": _said(f, who=False)}})
            self.assess(case, row, f)

    def early_assessments(
        self, w: str, created_at: datetime | None, history: list[dict[str, Any]]
    ) -> None:
        """A warning for each history entry dated before its claim was added (beyond the
        clock skew `verify check` allows): recorded as stated, as impossible dates of an
        appearance are, but said."""
        if created_at is None:
            return
        for j, h in enumerate(history, start=1):
            if h["at"] is not None and h["at"] < as_utc(created_at) - audit.CLOCK_SKEW:
                self.warnings.append(
                    f"{w}.history[{j}]: assessed at {iso(h['at'])}, before the claim was "
                    f"added ({iso(created_at)}); recorded as stated"
                )

    def dated(self, w: str, f: dict[str, Any], latest: dict[str, Any] | None) -> dict[str, Any]:
        """History entry `f` with who and when: an undated one is the importer's, now,
        which must come after the claim's latest assessment (a clock behind another's)."""
        if f["at"] is not None:
            return f
        if latest is not None and recorded.assessment_order(latest) > (self.at, self.actor):
            self.ctx.fail(
                w,
                f"its latest assessment, by {latest['by']}, is dated {latest['at']}, not "
                f"before this machine's clock ({iso(self.at)}): one of the clocks is wrong; "
                "an undated history entry is yours, now, and must come after it",
            )
        return {**f, "at": self.at, "by": self.actor, "own": True}

    def assess(self, case: Case, row: Claim, h: dict[str, Any]) -> None:
        """Make `h` the claim's current assessment, as the file states it."""
        changes = {
            k: {"old": getattr(row, k), "new": h[k]}
            for k in NEW_CLAIM
            if not _same(getattr(row, k), h[k])
        }
        if not changes:  # the latest, saying what the current one says: kept as stated
            self.note_assessment(row, h)
            return
        for k, change in changes.items():
            setattr(row, k, change["new"])
        row.updated_at, row.updated_by = self.at, self.actor
        self.s.add(row)
        self.touch(case)
        self.log("claim.edit", {"n": row.position, **changes, **_stated(h)})

    def note_assessment(self, row: Claim, h: dict[str, Any]) -> None:
        """Record assessment `h`, as the file states it, beside the claim's current one:
        the claim (and who changed it last) stays as it is."""
        self.log("claim.edit", {"n": row.position, **_noted(h)})

    def reworded_claim(
        self, n: int, text: tuple[str, str], before: dict[str, Any], after: dict[str, Any]
    ) -> None:
        """A finding holds for the wording it was made on: a file that rewords an assessed
        claim (`text`: old, new) must assess it anew (a finding, confidence or rationale of
        its own) or return it to `unassessed`. Otherwise the old finding would stand under
        words nobody assessed, and the report would show it as theirs. `before`, `after`:
        the claim's assessment before the import and as the import leaves it."""
        if text[0] == text[1] or before["finding"] == Finding.UNASSESSED.value:
            return
        if any(not _same(before[k], after[k]) for k in NEW_CLAIM):
            return
        self.ctx.fail(
            f"claims[{n}]",
            f"the file rewords claim {n} ({text[0]!r} -> {text[1]!r}) "
            f"but keeps the assessment made on the old wording (finding {before['finding']!r}); "
            "a finding holds for the words it was made on: give the claim a new assessment "
            "in the file (a [[claims.history]] entry without at and by is yours, now; "
            "finding 'unassessed' returns it to unassessed)",
        )

    def status(self, case: Case) -> None:
        rows = list(
            self.s.exec(
                select(StatusChange)
                .where(StatusChange.case_id == case.id)
                .order_by(col(StatusChange.id))
            ).all()
        )
        self.prefix("status_changes", len(rows), len(self.doc.status_changes))
        for i, (row, want) in enumerate(zip(rows, self.doc.status_changes, strict=False), 1):
            if (row.to_status, row.rationale) != (want["to"], want["why"]) or any(
                want[k] is not None and not _same(getattr(row, k), want[k]) for k in ("at", "by")
            ):
                self.ctx.fail(
                    f"status_changes[{i}]",
                    f"the archive's status change {i} is to {row.to_status} by {row.by} at "
                    f"{iso(row.at)} ({shown_value(row.rationale)}), the file's to {want['to']} "
                    f"by {want['by'] or '?'} at {iso(want['at']) or '?'} "
                    f"({shown_value(want['why'])}): the status history is append-only, so the "
                    "two cannot both hold; if each archive set a status after they last "
                    "exchanged this case, their histories part here: to keep the file's beside "
                    "this archive's, import it as another case (change its `slug`)",
                )
        for n, want in enumerate(self.doc.status_changes[len(rows) :], start=len(rows) + 1):
            at = self.undated(want["at"])
            self.ahead(f"status_changes[{n}]", at)
            self.s.add(
                StatusChange(
                    case_id=pk(case),
                    from_status=want["from"],
                    to_status=want["to"],
                    rationale=want["why"],
                    at=at,
                    by=want["by"] or self.actor,
                )
            )
            case.status = want["to"]
            case.updated_at, case.updated_by = self.at, self.actor
            self.s.add(case)
            by = want["by"] or self.actor
            payload = {"from": want["from"], "to": want["to"], "why": want["why"]}
            self.log("status.set", payload | {"by": by, "at": iso(at)})

    def notes(self, case: Case) -> None:
        """Notes are a journal: each of the archive's must be in the file (at its place, or
        elsewhere in a file that lists notes in time order after a merge); the file's
        others are added."""
        rows = sorted(
            self.s.exec(select(Note).where(Note.case_id == case.id)).all(), key=note_order
        )

        def same(row: Note, want: dict[str, Any]) -> bool:
            return row.text == want["text"] and all(
                want[k] is None or _same(getattr(row, k), want[k]) for k in ("at", "by")
            )

        left, unmatched = _match(rows, self.doc.notes, same)
        if unmatched is not None:
            i, row = unmatched + 1, rows[unmatched]
            if len(self.doc.notes) < len(rows) or not left:
                self.ctx.fail(
                    f"notes[{i}]",
                    f"the file lacks the archive's note {i} (by {row.by} at {iso(row.at)}: "
                    f"{shown_value(row.text)}); provenance is append-only: {self.remedy()}",
                )
            want = self.doc.notes[left[0]]  # the file's first note this archive lacks
            self.ctx.fail(
                f"notes[{i}]",
                f"differs from the archive's note (notes are append-only): the archive's "
                f"by {row.by} at {iso(row.at)}: {shown_value(row.text)}; the file's by "
                f"{want['by'] or '?'} at {iso(want['at']) or '?'}: {shown_value(want['text'])}",
            )
        for j in left:
            want = self.doc.notes[j]
            self.ahead(f"notes[{j + 1}]", want["at"])
            note = Note(
                case_id=pk(case),
                text=want["text"],
                at=self.undated(want["at"]),
                by=want["by"] or self.actor,
            )
            self.s.add(note)
            self.s.flush()
            self.log(
                "note.add",
                {"note": note.id, "text": note.text, "by": note.by, "at": iso(note.at)},
            )

    def undated(self, at: datetime | None) -> datetime:
        """When a record the file adds was made: as the file says, else now (counted: an
        edited export passed on as it is would have each archive date its additions
        itself, `run`)."""
        if at is None:
            self.undated_added += 1
            return self.at
        return at

    def ahead(self, where: str, at: datetime | None) -> None:
        """Warn of a record dated ahead of this machine's clock (beyond the skew `verify
        check` allows): another machine's clock ran ahead. It is recorded as stated, and
        listed after what is written here until then."""
        if at is not None and at > self.at + audit.CLOCK_SKEW:
            self.warnings.append(
                f"{where}: dated {iso(at)}, ahead of this machine's clock ({iso(self.at)}): "
                "the clock of the machine that wrote it may run ahead; recorded as stated"
            )

    def account(self, ref: str) -> Account:
        cached = self.known_accounts.get(ref)
        if cached is not None:
            return cached
        found = prov.find_account(self.s, ref)
        if found is not None:
            self.known_accounts[ref] = found
            return found
        noted = len(self.account_notes)
        account = prov.new_account(
            self.s,
            self.actor,
            ref,
            case=self.slug,
            created_at=self.at,
            audit_extra=self.extra,
            notes=self.account_notes,
        )
        self.changes += 1
        if len(self.account_notes) > noted:
            self.noted_platforms.add(account.platform)
        return account

    def accounts(self) -> None:
        for want in self.doc.accounts:
            found = prov.find_account(self.s, want["ref"])
            if found is None:
                noted = len(self.account_notes)
                account = prov.new_account(
                    self.s,
                    self.actor,
                    want["ref"],
                    case=self.slug,
                    display_name=want["display_name"],
                    url=want["url"],
                    kind=want["kind"],
                    credibility=want["credibility"],
                    created_at=want["created_at"],
                    created_by=want["created_by"],
                    audit_extra=self.extra,
                    notes=self.account_notes,
                )
                self.changes += 1
                if len(self.account_notes) > noted:
                    self.noted_platforms.add(account.platform)
                continue
            values = {k: want[k] for k in ("display_name", "url", "credibility")}
            values["kind"] = want["kind"] or found.kind
            changes = prov.apply_account_changes(
                self.s, self.actor, found, values, self.slug, audit_extra=self.extra
            )
            if changes:
                self.edited(f"accounts[{want['ref']}]", changes)
                if found.id not in self.mentioned:
                    self.outside.extend(self.edits[-len(changes) :])
                self.changes += 1

    def in_file(self, case: Case) -> "_Records":
        """The case's records as its case file lists them (before this import adds any)."""
        if self.records is None:
            self.records = r = _Records(
                case_media(self.s, pk(case)),
                prov._appearances(self.s, case),
                prov._attributions(self.s, case),
            )
            _in_file_order(r.media, r.appearances, r.attributions)
        return self.records

    def media(self, case: Case) -> list[int]:
        """Media are matched by content and acquisition (`_media_keys`)."""
        held = self.in_file(case).media
        sha = {pk(m): b.sha256 for m, b in held}

        def differs(n: int, row: Media) -> None:
            self.ctx.fail(
                f"media[{n}].sha256",
                f"the archive's media {n} of this case is sha256:{sha[pk(row)]}, the file's "
                f"sha256:{self.doc.media[n - 1]['sha256']}: a file's hash cannot change, and an "
                "import never replaces one acquisition with another (each archive may have "
                f"added one after they last exchanged this case): {BOTH_ADDED}",
            )

        pairs = self.paired(
            "media",
            "media",
            [m for m, _ in held],
            _media_keys([_Acquired.of_row(m, b.sha256) for m, b in held]),
            _media_keys([_Acquired.of_file(w) for w in self.doc.media]),
            lambda row: f"sha256:{sha[pk(row)]}, {shown_value(row.original_name)}",
            differs,
            MEDIA_PAIRING,
        )
        ids: list[int] = []
        for n, (want, row) in enumerate(zip(self.doc.media, pairs, strict=True), start=1):
            blob = self.s.exec(select(Blob).where(Blob.sha256 == want["sha256"])).first()
            values = {k: v for k, v in want.items() if k != "sha256"}
            if row is not None:
                changes = self.update(
                    f"media[{n}]", row, values, keep_if_none=("acquired_by", "acquired_at")
                )
                if changes:
                    self.log("media.edit", {"media": row.id, **changes})
                    if "platform" in changes:  # an edited platform is checked as a new one
                        self.platform_note(row.platform)
                ids.append(pk(row))
                continue
            if blob is None:
                # the file's case does not exist before its import: the bytes go into
                # another case first (the same content is stored once, whichever case)
                # into another case, not this one: a media record added here would be a
                # second acquisition of the bytes in this case, beside the file's (the same
                # content is stored once)
                into = "to another case " if self.existing_created_at is not None else ""
                # every file missing, named, so that one round of `media add` does
                missing = [
                    f"sha256:{w['sha256']} ({shown_value(w['original_name'])})"
                    for w, r in zip(self.doc.media[n - 1 :], pairs[n - 1 :], strict=True)
                    if r is None
                    and self.s.exec(select(Blob.id).where(Blob.sha256 == w["sha256"])).first()
                    is None
                ]
                more = (
                    f"; and {len(missing) - 1} more: "
                    + ", ".join(missing[1:6])
                    + (", …" if len(missing) > 6 else "")
                    if len(missing) > 1
                    else ""
                )
                entries = "these entries" if len(missing) > 1 else "this entry"
                self.ctx.fail(
                    f"media[{n}].sha256",
                    f"the archive does not hold the bytes of {missing[0]}{more}; add the "
                    f"file{'s' if len(missing) > 1 else ''} {into}first (e.g. `verify case open "
                    "Incoming --slug incoming`, then `verify media add incoming FILE…`) and "
                    f"import again, or remove {entries}",
                )
            acq = Acquisition(
                original_name=values["original_name"],
                label=values["label"],
                source_url=values["source_url"],
                platform=values["platform"],
                acquired_via=values["acquired_via"],
                acquired_by=values["acquired_by"],
                acquired_at=self.undated(values["acquired_at"]),
                audit_extra=self.extra,
            )
            media_id = record_media(self.s, self.actor, case, blob, acq)
            self.changes += 1
            self.platform_note(acq.platform)
            ids.append(media_id)
        return ids

    def platform_note(self, platform: str | None) -> None:
        """The note for a new or edited media record or appearance on a platform verify does
        not know (`unknown_platform_note`): one for one typo, as on the command line, so not when a
        new account on the same platform, or an earlier record, has said it."""
        said = None if platform is None else unknown_platform_note(platform)
        if platform is not None and said is not None and platform not in self.noted_platforms:
            self.noted_platforms.add(platform)
            self.account_notes.append(said)

    def stamped(self, what: str, rows: list[Any]) -> list[Any]:
        """The file's `what`s (appearance, attribution) paired with the case's (`paired`,
        `rows` as the case file lists them), by when and by whom each was first recorded
        (`_stamp`)."""
        wants = getattr(self.doc, f"{what}s")
        refs = {
            i: prov.account_ref(a)
            for i, a in prov.accounts_by_id(self.s, (r.account_id for r in rows)).items()
        }

        def said(r: Any) -> tuple[Any, ...]:
            ref = refs.get(r.account_id or -1)
            if what == "appearance":
                return _appearance_said(r.platform, r.url, r.post_id, ref)
            return _attribution_said(r.role, ref, r.target_type)

        return self.paired(
            what,
            f"{what}s",
            rows,
            _stamped_keys([(r.created_at, r.created_by, said(r)) for r in rows]),
            _file_stamped_keys(f"{what}s", wants),
            lambda row: ", ".join(
                str(part)
                for part in (*said(row), f"recorded by {row.created_by} at {iso(row.created_at)}")
                if part
            ),
            lambda n, row: self.same_record(what, n, row, wants[n - 1]),
            STAMPED_PAIRING,
        )

    def appearances(self, case: Case, media_ids: list[int]) -> list[int]:
        pairs = self.stamped("appearance", self.in_file(case).appearances)
        ids: list[int] = []
        for n, (want, row) in enumerate(zip(self.doc.appearances, pairs, strict=True), start=1):
            values = {
                k: v
                for k, v in want.items()
                if k not in ("account", "media", "created_at", "created_by")
            }
            values["account_id"] = pk(self.account(want["account"])) if want["account"] else None
            values["media_id"] = media_ids[want["media"] - 1] if want["media"] else None
            if row is not None:
                self.same_record("appearance", n, row, want)
                changes = self.update(f"appearances[{n}]", row, values)
                if changes:
                    self.log("appearance.edit", {"id": row.id, "n": n, **changes})
                    if "platform" in changes:  # an edited platform is checked as a new one
                        self.platform_note(row.platform)
            else:
                row = Appearance(
                    case_id=pk(case),
                    **values,
                    created_at=self.undated(want["created_at"]),
                    created_by=want["created_by"] or self.actor,
                )
                prov.record_appearance(self.s, self.actor, self.slug, row, audit_extra=self.extra)
                self.changes += 1
                self.platform_note(row.platform)
            ids.append(pk(row))
            self.warnings += [
                f"{p} (appearances[{n}])" for p in prov.appearance_problems(row, self.at)
            ]
        return ids

    def attributions(self, case: Case, media_ids: list[int], ap_ids: list[int]) -> None:
        rows = self.in_file(case).attributions
        pairs = self.stamped("attribution", rows)
        recorded = prov.changes_by_attribution(self.s, (pk(r) for r in rows))
        for n, (want, attr) in enumerate(zip(self.doc.attributions, pairs, strict=True), start=1):
            w = f"attributions[{n}]"
            account = self.account(want["actor"])
            if want["target"] is None:
                target_type, target_id = "case", None
            else:
                kind, num = want["target"]
                target_type = kind
                target_id = (media_ids if kind == "media" else ap_ids)[num - 1]
            history = want["history"]
            if attr is None:
                # recorded as on the command line: created in its first state, then each
                # later history entry as a state change (one record for the import's count)
                first, *later = history or [
                    {
                        "state": want["state"],
                        "evidence": want["evidence"],
                        "according_to": want["according_to"],
                        "at": want["created_at"],
                        "by": want["created_by"],
                    }
                ]
                for j, h in enumerate((first, *later), start=1):
                    self.require_evidence(w, h, j if history else None)
                new = prov.record_attribution(
                    self.s,
                    self.actor,
                    case,
                    role=want["role"],
                    account=account,
                    target_type=target_type,
                    target_id=target_id,
                    state=first["state"],
                    evidence=first["evidence"],
                    according_to=first["according_to"],
                    created_at=self.undated(want["created_at"] or first["at"]),
                    created_by=want["created_by"] or first["by"] or self.actor,
                    first_at=first["at"] or self.at,
                    first_by=first["by"] or self.actor,
                    audit_extra=self.extra,
                )
                for h in later:
                    self.change_state(new, h)
                self.changes += 1
                continue
            self.same_record("attribution", n, attr, want)
            fixed = {
                "role": want["role"],
                "account_id": pk(account),
                "target_type": target_type,
                "target_id": target_id,
            }
            for key, value in fixed.items():
                if getattr(attr, key) != value:
                    self.ctx.fail(
                        f"{w}.{'actor' if key == 'account_id' else key.split('_')[0]}",
                        "differs from the archive's attribution; role, actor and target cannot "
                        "change (refute it and add a new one)",
                    )
            existing = recorded[pk(attr)]
            if history is not None:
                if len(existing) > len(history):
                    self.ctx.fail(f"{w}.history", "lacks entries the archive has (append-only)")
                for j, (row, h) in enumerate(zip(existing, history, strict=False), 1):
                    if (row.to_state, row.evidence, row.according_to) != (
                        h["state"],
                        h["evidence"],
                        h["according_to"],
                    ) or any(
                        h[k] is not None and not _same(getattr(row, k), h[k]) for k in ("at", "by")
                    ):
                        mine = _state_said(row.to_state, row.evidence, row.by, row.at)
                        theirs = _state_said(h["state"], h["evidence"], h["by"], h["at"])
                        self.ctx.fail(
                            f"{w}.history[{j}]",
                            f"this archive's state change {j} is {mine}; the file's is {theirs}: "
                            "each archive changed the attribution after they last exchanged "
                            "the case, or the file's history was edited; an import never "
                            "rewrites a history: to take the file's state, set it here with "
                            f"`verify prov attribution set {pk(attr)} --state "
                            f"{h['state']} --evidence …`",
                        )
                new_entries = history[len(existing) :]
            elif (attr.state, attr.evidence, attr.according_to) != (
                want["state"],
                want["evidence"],
                want["according_to"],
            ):
                self.edited(w, {"state": {"old": attr.state, "new": want["state"]}})
                new_entries = [
                    {
                        "state": want["state"],
                        "evidence": want["evidence"],
                        "according_to": want["according_to"],
                        "at": None,
                        "by": None,
                    }
                ]
            else:
                new_entries = []
            for k, h in enumerate(new_entries, start=len(existing) + 1):
                self.require_evidence(w, h, k if history is not None else None)
                self.change_state(attr, h)
                self.changes += 1

    def require_evidence(self, w: str, h: dict[str, Any], j: int | None) -> None:
        """A state the import records now is corroborated or refuted only with evidence, as
        on the command line. A state the file dates itself (`at`, as every exported history
        entry has) replays what an archive recorded, possibly before the rule (a
        corroboration without evidence): refusing it would leave that case unable to move to
        another archive; its entry names the import. `j`: the history entry's number, or
        None for the attribution's own fields."""
        if h["at"] is not None:
            return
        said = prov.missing_evidence(h["state"], h["evidence"])
        if said is not None:
            where = f"{w}.evidence" if j is None else f"{w}.history[{j}].evidence"
            self.ctx.fail(where, f"{h['state']} needs evidence: {said}")

    def change_state(self, attr: Attribution, h: dict[str, Any]) -> None:
        """Append history entry `h` to `attr` (timed now, by the importer, when it says not)."""
        prov.record_attribution_change(
            self.s,
            self.actor,
            attr,
            self.slug,
            state=h["state"],
            evidence=h["evidence"],
            according_to=h["according_to"],
            at=h["at"] or self.at,
            by=h["by"] or self.actor,
            audit_extra=self.extra,
        )

    def derivations(self, media_ids: list[int]) -> None:
        local = {mid: f"media:{i}" for i, mid in enumerate(media_ids, start=1)}
        in_case = set(media_ids)
        existing = {
            (d.child_id, d.parent_id, d.kind): d
            for d in self.s.exec(select(Derivation)).all()
            if d.child_id in in_case and d.parent_id in in_case
        }
        wanted = {
            (media_ids[d["child"] - 1], media_ids[d["parent"] - 1], d["kind"]): d
            for d in self.doc.derivations
        }
        for key in sorted(set(existing) - set(wanted)):
            self.ctx.fail(
                "derivations",
                f"the archive links {local[key[0]]} {key[2]} {local[key[1]]}, which the file "
                f"lacks; provenance is append-only (to take a link back, retract it: `verify "
                f"prov derivation retract`): {self.remedy()}",
            )
        edges = prov.derivation_edges(self.s)
        for i, (key, want) in enumerate(wanted.items(), start=1):
            child, parent, kind = key
            if key in existing:
                row = existing[key]
                if row.retracted_at is not None and row.retraction != want["retraction"]:
                    self.ctx.fail(
                        f"derivations[{i}]",
                        f"the archive retracted it ({row.retraction!r}), which the file "
                        + ("lacks" if want["retraction"] is None else "words otherwise")
                        + "; provenance is append-only",
                    )
                changes = self.update(
                    f"derivations[{i}]", row, {"evidence": want["evidence"], "note": want["note"]}
                )
                if changes:
                    self.log("derivation.edit", {"id": row.id, **changes})
                if row.retracted_at is None and want["retraction"] is not None:
                    self.retract(row, want)
                continue
            if want["retraction"] is None:
                cycle = prov.find_cycle(edges, child, parent)
                if cycle:
                    path = " -> ".join(local.get(m, f"media {m} (another case)") for m in cycle)
                    self.ctx.fail(f"derivations[{i}]", f"derivation cycle: {path}")
                edges.setdefault(child, set()).add(parent)
            row = prov.record_derivation(
                self.s,
                self.actor,
                self.slug,
                child_id=child,
                parent_id=parent,
                kind=kind,
                evidence=want["evidence"],
                note=want["note"],
                created_at=self.undated(want["created_at"]),
                created_by=want["created_by"] or self.actor,
                audit_extra=self.extra,
            )
            self.changes += 1
            if want["retraction"] is not None:
                self.retract(row, want)

    def retract(self, row: Derivation, want: dict[str, Any]) -> None:
        prov.record_retraction(
            self.s,
            self.actor,
            self.slug,
            row,
            want["retraction"],
            at=want["retracted_at"] or self.at,
            by=want["retracted_by"] or self.actor,
            audit_extra=self.extra,
        )
        self.changes += 1


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime):
        return iso(value)
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return value


def read_case_file(path: str | Path) -> tuple[str, str]:
    """(text, label) of a case file; one-line errors for unreadable files."""
    label = str(path)
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise BadInputError(f"{label}: cannot read: {exc.strerror or exc}") from None
    try:
        return data.decode("utf-8"), label
    except UnicodeDecodeError as exc:
        raise BadInputError(f"{label}: not UTF-8 text (byte {exc.start})") from None


def import_case(
    archive: Archive, path: str | Path, *, update: bool = False, dry_run: bool = False
) -> ImportResult:
    """Create or update the case a file describes; see the module docstring for the rules.
    `update`: apply changes to facts the archive holds even when the file was not exported
    from the case as it is now (`--update`). `dry_run`: the same checks and the entries it
    would write, then nothing written (`--dry-run`)."""
    text, label = read_case_file(path)
    return import_case_text(archive, text, label, update=update, dry_run=dry_run)


class _DryRun(Exception):
    """Raised inside the import's transaction to roll it back (`dry_run`)."""

    def __init__(self, result: ImportResult) -> None:
        self.result = result


def import_case_text(
    archive: Archive, text: str, label: str, *, update: bool = False, dry_run: bool = False
) -> ImportResult:
    doc = parse_case_file(text, label)
    ctx = _Ctx(label)
    name = Path(label).name
    digest = "sha256:" + hashlib.sha256(text.encode("utf-8")).hexdigest()
    exported: str | None = as_exported(text)
    if doc.base is None or state_digest(exported or "") != doc.base:
        exported = None  # edited since its export: not the state its `base` names
    try:
        with archive.write() as session:
            start = session.exec(select(AuditHead.seq)).first() or 0
            importer = _Importer(
                session, archive, ctx, doc, name, update=update, sha256=digest, exported=exported
            )
            case, created = importer.run()
            session.flush()
            written = session.exec(
                select(AuditEntry.action, AuditEntry.payload)
                .where(AuditEntry.seq > start)
                .order_by(col(AuditEntry.seq))
            ).all()
            result = ImportResult(
                case.slug,
                created,
                importer.changes,
                [{"action": a, "payload": orjson.loads(p)} for a, p in written],
                importer.warnings,
                importer.account_notes,
            )
            if dry_run:
                raise _DryRun(result)  # rolls the transaction back
            return result
    except _DryRun as stopped:
        return stopped.result
    except BadInputError as exc:
        if exc.message.startswith(f"{label}: "):
            raise
        raise type(exc)(f"{label}: {exc.message}") from None
