"""Provenance reasoning on records already read: the dicts of appearances and attributions,
posted dates and their impossibilities, the claimed original platforms, the earliest known
appearance and the timeline.

The dicts and the dates are shared by the ORM's write path (`verify.services.provenance`,
which answers a change with the record's dict) and the reads without the ORM
(`verify.services.provread`), so that both give the same dict for the same row: those
functions take either the ORM's models (`verify.models`) or the plain rows below, which have
the same names and columns. The earliest known appearance and the timeline are worked out
from the plain rows `provread` reads (for the commands and the reports alike). Reading is
the caller's job. Imports nothing heavy (no ORM).
"""

from __future__ import annotations  # the record types name the models for mypy only

from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, NamedTuple, TypeAlias

from verify.analysis import device_name
from verify.timeutil import CaptureTime, as_utc, capture_time, iso, now
from verify.vocab import OFFLINE_KINDS as OFFLINE_KINDS  # never a claimed original platform
from verify.vocab import AttributionState, DatePrecision, Role

if TYPE_CHECKING:
    from verify import models


# --------------------------------------------------------------------------- plain rows


class CaseRow(NamedTuple):
    id: int
    slug: str
    title: str
    created_at: datetime
    created_by: str


class AccountRow(NamedTuple):
    id: int
    platform: str
    handle: str
    display_name: str | None
    url: str | None
    kind: str
    credibility: str | None
    created_at: datetime
    created_by: str


# an appearance's free-text columns (besides its platform, account, media and dates):
# what `appearance.add` records as given, `appearance edit` sets and `verify check` compares
APPEARANCE_TEXT_FIELDS = (
    "url",
    "post_id",
    "caption",
    "language",
    "forwarded_from",
    "quoted_from",
    "archive_url",
    "note",
)


class AppearanceRow(NamedTuple):
    id: int
    case_id: int
    media_id: int | None
    platform: str
    url: str | None
    post_id: str | None
    account_id: int | None
    posted_at: datetime | None
    posted_precision: str
    captured_at: datetime | None
    caption: str | None
    language: str | None
    forwarded_from: str | None
    quoted_from: str | None
    archive_url: str | None
    note: str | None
    created_at: datetime
    created_by: str


class AttributionRow(NamedTuple):
    id: int
    role: str
    account_id: int
    target_type: str
    target_id: int | None
    state: str
    evidence: str | None
    according_to: str | None
    created_at: datetime
    created_by: str
    updated_at: datetime
    updated_by: str


class AttributionChangeRow(NamedTuple):
    attribution_id: int
    from_state: str | None
    to_state: str
    evidence: str | None
    according_to: str | None
    at: datetime
    by: str


class MediaRow(NamedTuple):
    id: int
    blob_id: int
    original_name: str
    source_url: str | None
    acquired_via: str | None
    acquired_by: str
    acquired_at: datetime


class BlobRow(NamedTuple):
    id: int
    kind: str
    meta: dict[str, Any] | None


class StatusChangeRow(NamedTuple):
    from_status: str | None
    to_status: str
    rationale: str
    at: datetime
    by: str


class DerivationRow(NamedTuple):
    id: int
    child_id: int
    parent_id: int
    kind: str
    evidence: dict[str, Any] | None
    note: str | None
    created_at: datetime
    created_by: str
    retracted_at: datetime | None
    retracted_by: str | None
    retraction: str | None


class NoteRow(NamedTuple):
    id: int
    text: str
    at: datetime
    by: str


def note_order(note: models.Note | NoteRow) -> tuple[Any, ...]:
    """The one order of a case's notes (case files, `case show`, reports): by time, then,
    for notes of one instant (a pinned clock, say), by who and what, so that two archives
    holding the same notes list them alike, then as recorded. Sorted in Python: a database
    would sort text by its collation."""
    at = as_utc(note.at) if isinstance(note.at, datetime) else note.at
    return (at, note.by, note.text, note.id or 0)


AnyAccount: TypeAlias = "models.Account | AccountRow"
AnyAppearance: TypeAlias = "models.Appearance | AppearanceRow"
AnyAttribution: TypeAlias = "models.Attribution | AttributionRow"
AnyChange: TypeAlias = "models.AttributionChange | AttributionChangeRow"


# --------------------------------------------------------------------------- dates


def format_posted(dt: datetime | None, precision: str) -> str | None:
    """The text form `parse_posted` reads back to the same value and precision."""
    if dt is None:
        return None
    dt = as_utc(dt)
    midnight = (dt.hour, dt.minute, dt.second, dt.microsecond) == (0, 0, 0, 0)
    if precision == DatePrecision.DAY and midnight:
        return dt.date().isoformat()
    if precision == DatePrecision.APPROXIMATE:
        if midnight:
            return f"~{dt.year:04d}-{dt.month:02d}" + ("" if dt.day == 1 else f"-{dt.day:02d}")
        return "~" + (iso(dt) or "")
    return iso(dt)


def _window(dt: datetime, precision: str) -> tuple[datetime, datetime]:
    """The interval a dated fact may lie in, given its precision."""
    dt = as_utc(dt)
    if precision == DatePrecision.DAY:
        return dt, dt + timedelta(days=1)
    if precision == DatePrecision.APPROXIMATE:
        return dt - timedelta(days=31), dt + timedelta(days=31)
    return dt, dt


def date_problems(
    posted_at: datetime | None,
    precision: str,
    captured_at: datetime | None,
    at: datetime,
) -> list[str]:
    """What is impossible about an appearance's dates, as of `at` (the archive's clock).

    A capture cannot come before the post (earlier than the posted time's window: a day
    posting may have been captured any time that day, an approximate one within 31 days
    of it), and neither date can lie in the future. Such claims are still recorded as given;
    these are the warnings shown for them. Empty when nothing is wrong.
    """
    problems: list[str] = []
    if posted_at is not None:
        posted = format_posted(posted_at, precision)
        earliest_post = _window(posted_at, precision)[0]
        if captured_at is not None and as_utc(captured_at) < earliest_post:
            problems.append(f"captured {iso(captured_at)} is before posted {posted}")
        if earliest_post > at:
            problems.append(f"posted {posted} is in the future")
    if captured_at is not None and as_utc(captured_at) > at:
        problems.append(f"captured {iso(captured_at)} is in the future")
    return problems


# --------------------------------------------------------------------------- dicts


def account_ref(account: AnyAccount) -> str:
    return ref_of(account.platform, account.handle)


def account_dict(account: AnyAccount) -> dict[str, Any]:
    """An account as `prov account show/list --json` give it."""
    return {
        "ref": account_ref(account),
        "platform": account.platform,
        "handle": account.handle,
        "display_name": account.display_name,
        "url": account.url,
        "kind": account.kind,
        "credibility": account.credibility,
        "created_at": iso(account.created_at),
        "created_by": account.created_by,
    }


def ref_of(platform: str, handle: str) -> str:
    """An account's reference, `platform:handle`, from its two columns."""
    return f"{platform}:{handle}"


def appearance_dicts(
    appearances: Iterable[AnyAppearance],
    case_slug: str,
    accounts: Mapping[int, AnyAccount],
    shas: Mapping[int, str],
) -> list[dict[str, Any]]:
    """Appearances as the listings give them, each with its account and its media's
    `sha256:<hex>` (looked up by id)."""
    return [
        _appearance_dict(
            ap,
            case_slug,
            accounts.get(ap.account_id) if ap.account_id else None,
            shas.get(ap.media_id) if ap.media_id else None,
        )
        for ap in appearances
    ]


def _appearance_dict(
    ap: AnyAppearance, case_slug: str, account: AnyAccount | None, media_sha: str | None
) -> dict[str, Any]:
    return {
        "id": ap.id,
        "case": case_slug,
        "platform": ap.platform,
        "url": ap.url,
        "post_id": ap.post_id,
        "account": account_ref(account) if account else None,
        "posted": format_posted(ap.posted_at, ap.posted_precision),
        "posted_at": iso(ap.posted_at),
        "posted_precision": ap.posted_precision if ap.posted_at else None,
        "captured_at": iso(ap.captured_at),
        "caption": ap.caption,
        "language": ap.language,
        "forwarded_from": ap.forwarded_from,
        "quoted_from": ap.quoted_from,
        "archive_url": ap.archive_url,
        "media": ap.media_id,
        "media_sha256": media_sha,
        "note": ap.note,
        "created_at": iso(ap.created_at),
        "created_by": ap.created_by,
    }


def retracted(at: datetime | None, by: str | None, why: str | None) -> dict[str, Any] | None:
    """A derivation's retraction as listings and reports give it: `{"at", "by", "why"}`, or
    None."""
    return None if at is None else {"at": iso(at), "by": by, "why": why}


def target_ref(attr: AnyAttribution) -> str:
    return "case" if attr.target_type == "case" else f"{attr.target_type}:{attr.target_id}"


def change_to_dict(ch: AnyChange) -> dict[str, Any]:
    return {
        "from": ch.from_state,
        "to": ch.to_state,
        "evidence": ch.evidence,
        "according_to": ch.according_to,
        "at": iso(ch.at),
        "by": ch.by,
    }


def attribution_dicts(
    attributions: Iterable[AnyAttribution],
    case_slug: str,
    accounts: Mapping[int, AnyAccount],
    changes: Mapping[int, Sequence[AnyChange]],
) -> list[dict[str, Any]]:
    """Attributions as the listings give them, each with its actor and its state changes
    oldest first (looked up by id)."""
    return [
        _attribution_dict(a, case_slug, accounts.get(a.account_id), changes.get(a.id or 0, ()))
        for a in attributions
    ]


def _attribution_dict(
    attr: AnyAttribution,
    case_slug: str,
    account: AnyAccount | None,
    changes: Sequence[AnyChange],
) -> dict[str, Any]:
    return {
        "id": attr.id,
        "case": case_slug,
        "role": attr.role,
        "actor": account_ref(account) if account else None,
        "target": target_ref(attr),
        "state": attr.state,
        "evidence": attr.evidence,
        "according_to": attr.according_to,
        "created_at": iso(attr.created_at),
        "created_by": attr.created_by,
        "updated_at": iso(attr.updated_at),
        "updated_by": attr.updated_by,
        "history": [change_to_dict(c) for c in changes],
    }


# --------------------------------------------------------------------------- earliest


def related_media(
    start: Iterable[int],
    same_bytes: Callable[[set[int]], set[int]],
    edges: Collection[tuple[int, int]],
) -> set[int]:
    """`start` (a case's media) plus, transitively, media with the same bytes
    (`same_bytes(ids)`: the media holding the blobs of these) or linked by a derivation
    (`edges`: every (child, parent))."""
    found = set(start)
    frontier = set(found)
    while frontier:
        same = same_bytes(frontier)
        linked = {p for c, p in edges if c in frontier} | {c for c, p in edges if p in frontier}
        new = (same | linked) - found
        found |= new
        frontier = new
    return found


def original_posters(attributions: Iterable[AttributionRow]) -> list[AttributionRow]:
    """The `original_poster` attributions neither refuted nor withdrawn, in the order
    given."""
    gone = (AttributionState.REFUTED, AttributionState.WITHDRAWN)
    return [a for a in attributions if a.role == Role.ORIGINAL_POSTER and a.state not in gone]


def claimed_platforms(
    posters: Sequence[AttributionRow],
    accounts: Mapping[int, AccountRow],
    targets: Mapping[int, AppearanceRow],
) -> tuple[list[str], list[dict[str, Any]]]:
    """Platforms the `original_posters` put the original on, and which attribution says
    each (`accounts` and target appearances by id).

    A target appearance gives its platform; otherwise the actor's platform (pseudo-platforms
    such as `person:` give none). Corroborated attributions win over claimed ones.
    """
    platforms: dict[str, str] = {}
    sources: list[dict[str, Any]] = []
    for attr in posters:
        account = accounts.get(attr.account_id)
        platform = None
        if attr.target_type == "appearance" and attr.target_id is not None:
            ap = targets.get(attr.target_id)
            platform = ap.platform if ap else None
        elif account is not None and account.platform not in OFFLINE_KINDS:
            platform = account.platform
        if platform is None:
            continue
        rank = "corroborated" if attr.state == AttributionState.CORROBORATED else "claimed"
        if platforms.get(platform) != "corroborated":
            platforms[platform] = rank
        sources.append(
            {
                "attribution": attr.id,
                "actor": account_ref(account) if account else None,
                "state": attr.state,
                "platform": platform,
            }
        )
    if "corroborated" in platforms.values():
        return sorted(p for p, r in platforms.items() if r == "corroborated"), sources
    return sorted(platforms), sources


def original_platform_state(
    platforms: Sequence[str], sources: Sequence[Mapping[str, Any]]
) -> str | None:
    """How the original platforms `claimed_platforms` gives are backed: `corroborated`
    when they come from corroborated attributions (then only those count), `claimed`
    otherwise (claimed, or state unknown), None when there are none. Refuted attributions
    never name one."""
    if not platforms:
        return None
    if any(s["state"] == AttributionState.CORROBORATED for s in sources):
        return "corroborated"
    return "claimed"


def _effective(ap: AppearanceRow) -> tuple[datetime, str, str] | None:
    """(date, precision, basis): the posted time if known, else when we captured it."""
    if ap.posted_at is not None:
        return as_utc(ap.posted_at), ap.posted_precision, "posted"
    if ap.captured_at is not None:
        return as_utc(ap.captured_at), DatePrecision.EXACT.value, "captured"
    return None


def find_earliest(
    case: CaseRow,
    appearances: Sequence[AppearanceRow],
    claimed: tuple[list[str], list[dict[str, Any]]],
    slugs: Mapping[int, str],
    describe: Callable[[AppearanceRow, str], dict[str, Any]],
) -> dict[str, Any]:
    """`provread.earliest_of`'s answer for `case` from the appearances considered (the
    case's and those of related media, in id order), `claimed_platforms`' answer, the slugs
    of the cases holding those appearances, and `describe(appearance, case slug)`: the
    appearance's dict (`appearance_dicts`)."""
    dated = [(e, ap) for ap in appearances if (e := _effective(ap)) is not None]
    dated.sort(key=lambda item: (item[0][0], item[1].id))
    platforms, sources = claimed
    # "claimed" or "corroborated": every sentence naming the platform says which
    state = original_platform_state(platforms, sources)
    result: dict[str, Any] = {
        "case": case.slug,
        "considered": len(appearances),
        "undated": len(appearances) - len(dated),
        "earliest": None,
        "uncertain_with": [],
        "uncertain_elsewhere": [],
        "claimed_original_platforms": platforms,
        "claimed_by": sources,
        "original_platform_state": state,
        "contradiction": False,
        "message": "",
    }
    if not dated:
        result["message"] = (
            "no dated appearance yet; add one with `verify prov appearance add "
            f"{case.slug} --posted DATE`"
        )
        return result
    (first_dt, first_prec, basis), first = dated[0]
    lo, hi = _window(first_dt, first_prec)
    uncertain = [
        ap.id
        for (dt, prec, _), ap in dated[1:]
        if _window(dt, prec)[0] < hi or (_window(dt, prec)[0] == lo and hi == lo)
    ]
    holder = case.slug if first.case_id == case.id else slugs.get(first.case_id, "?")
    data = describe(first, holder)
    data["basis"] = basis
    result["earliest"] = data
    # overlapping appearances of other cases (copies held there): named with their case,
    # which a reader of this case's listings would not find
    overlapping = [ap for _, ap in dated[1:] if ap.id in uncertain]
    elsewhere: dict[int, str] = {}  # appearance id -> its case, when not this one
    for ap in overlapping:
        if ap.case_id != case.id:
            elsewhere[ap.id] = slugs.get(ap.case_id, "?")
            result["uncertain_elsewhere"].append({"appearance": ap.id, "case": elsewhere[ap.id]})
    result["uncertain_with"] = uncertain
    if first.case_id != case.id:
        elsewhere[first.id] = data["case"]

    def named(ap: AppearanceRow) -> str:
        """`appearance 5 on telegram`; `appearance 5 (case other) on telegram` when it
        belongs to another case (its number would be looked for in this one's listings)."""
        case_of = f" (case {elsewhere[ap.id]})" if ap.id in elsewhere else ""
        return f"appearance {ap.id}{case_of} on {ap.platform}"

    when = format_posted(first.posted_at, first.posted_precision) or iso(first.captured_at)
    where = f"{named(first)}, {basis} {when}"
    # an appearance on a claimed platform whose date window overlaps the earliest's may
    # have come first: then nothing is contradicted, it cannot be told
    rivals = [ap for ap in overlapping if ap.platform in platforms]
    if platforms and first.platform not in platforms and rivals:
        which = ", ".join(named(ap) for ap in rivals)
        result["message"] = (
            f"earliest known is {where}, but its date overlaps {which} (the {state} original "
            f"platform): which came first cannot be told from these dates"
        )
    elif platforms and first.platform not in platforms:
        result["contradiction"] = True
        on_claimed = [ap for ap in appearances if ap.platform in platforms]
        hint = (
            "none of the known appearances is on it"
            if not on_claimed
            else "its appearances there are later or undated"
        )
        result["message"] = (
            f"earliest known is {where}; this contradicts the {state} original "
            f"platform {', '.join(platforms)} ({hint})"
        )
    else:
        result["message"] = f"earliest known is {where}"
    return result


# --------------------------------------------------------------------------- timeline

LOCAL_PRECISION = "local"  # timeline precision of a clock time whose UTC offset is unknown


class CaseRecords(NamedTuple):
    """What a case's timeline is made of, each in id order: its appearances (and, last,
    the earliest known one when another case holds it), the accounts they and the
    attributions name (by id), its media with their blobs, status changes, attributions
    with their state changes (by attribution id), the derivations with either end among its
    media, and its notes."""

    case: CaseRow
    appearances: Sequence[AppearanceRow]
    accounts: Mapping[int, AccountRow]
    media: Sequence[tuple[MediaRow, BlobRow]]
    status_changes: Sequence[StatusChangeRow]
    attributions: Sequence[AttributionRow]
    changes: Mapping[int, Sequence[AttributionChangeRow]]
    derivations: Sequence[DerivationRow]
    notes: Sequence[NoteRow]


def timeline_events(
    records: CaseRecords,
    earliest: dict[str, Any],
    *,
    origins: bool = False,
    at: datetime | None = None,
) -> list[dict[str, Any]]:
    """The timeline of `records.case` (see `provread.timeline`); `earliest` is
    `find_earliest`'s answer for the same case. With `origins`, each event also has
    `origin`, the record it comes from (for the report to say who recorded it):
    `("case",)`, `("appearance", ID)`, `("media", ID)`, `("status", INDEX)` (0-based, in
    order), `("attribution", ID, INDEX)` (of its history rows), `("derivation", ID)`,
    `("retraction", ID)`, `("note", ID)`, or None (a capture time read from the file).
    `at`: the time the timeline is drawn as of (a report's `--at`), against which a date
    is "in the future"; now when not given."""
    c = records.case
    first = earliest["earliest"]
    events: list[dict[str, Any]] = []

    def add(
        at: datetime,
        kind: str,
        text: str,
        source: str | None,
        ref: str | None,
        precision: str = "exact",
        other_case: str | None = None,
        warnings: Sequence[str] = (),
        when: str | None = None,
        origin: tuple[Any, ...] | None = None,
    ) -> None:
        events.append(
            {
                **({"origin": origin} if origins else {}),
                "_sort": as_utc(at),
                "at": iso(at),
                "when": when or format_posted(at, precision),
                "precision": precision,
                "type": kind,
                "text": text,
                "source": source,
                "ref": ref,
                "case": other_case,
                "earliest": False,
                "warnings": list(warnings),
            }
        )

    add(
        c.created_at, "case.opened", f"case opened: {c.title}", c.created_by, None, origin=("case",)
    )
    accounts = records.accounts
    clock = as_utc(at) if at is not None else now()
    for ap in records.appearances:
        acct = accounts.get(ap.account_id) if ap.account_id else None
        who = account_ref(acct) if acct else "unknown account"
        source = ap.url or ap.archive_url or who
        other_case = first["case"] if ap.case_id != c.id and first else None
        problems = date_problems(ap.posted_at, ap.posted_precision, ap.captured_at, clock)
        if ap.posted_at is not None:
            add(
                ap.posted_at,
                "appearance.posted",
                f"posted on {ap.platform} by {who}",
                source,
                f"appearance:{ap.id}",
                ap.posted_precision,
                other_case,
                problems,
                origin=("appearance", ap.id),
            )
        if ap.captured_at is not None:
            add(
                ap.captured_at,
                "appearance.captured",
                f"captured from {ap.platform} ({who})",
                source,
                f"appearance:{ap.id}",
                other_case=other_case,
                warnings=problems,
                origin=("appearance", ap.id),
            )
    for m, blob in records.media:
        # what the file's own metadata says; one event per media, even for the same bytes
        meta = blob.meta if isinstance(blob.meta, dict) else None
        captured = capture_time(meta)
        if meta is not None and captured is not None:
            device = device_name(meta)
            add(
                captured.at,
                "media.captured",
                f"capture time in the file's metadata: {m.original_name}"
                + (f" ({device})" if device else ""),
                _META_SOURCE.get(blob.kind, "file metadata"),
                f"media:{m.id}",
                LOCAL_PRECISION if captured.local else DatePrecision.EXACT.value,
                warnings=[_local_warning(captured)] if captured.local else (),
                when=captured.text,
            )
    for m, _ in records.media:
        # who, then how, as `media show` and the reports' custody rows give them: the how is
        # free text ("sent by email"), which before the actor read "via sent by email by bob"
        how = f", via {m.acquired_via}" if m.acquired_via else ""
        add(
            m.acquired_at,
            "media.acquired",
            f"acquired {m.original_name} by {m.acquired_by}{how}",
            m.source_url or m.acquired_by,
            f"media:{m.id}",
            origin=("media", m.id),
        )
    for index, sc in enumerate(records.status_changes):
        why = f": {sc.rationale}" if sc.rationale else ""
        add(
            sc.at,
            "status.changed",
            f"status {sc.from_status} -> {sc.to_status}{why}",
            sc.by,
            None,
            origin=("status", index),
        )
    for attr in records.attributions:
        acct = accounts.get(attr.account_id)
        who = account_ref(acct) if acct else "?"
        for index, ch in enumerate(records.changes.get(attr.id, ())):
            if ch.from_state is None:
                text = f"{attr.role}: {who} ({ch.to_state})"
                kind = "attribution.recorded"
            else:
                text = f"{attr.role}: {who} {ch.from_state} -> {ch.to_state}"
                kind = "attribution.changed"
            if ch.evidence:
                text += f"; evidence: {ch.evidence}"
            # who says so, or else who recorded it: never one shown as the other
            source = (
                f"according to {ch.according_to}" if ch.according_to else f"recorded by {ch.by}"
            )
            add(
                ch.at,
                kind,
                text,
                source,
                f"attribution:{attr.id}",
                origin=("attribution", attr.id, index),
            )
    for d in records.derivations:
        add(
            d.created_at,
            "derivation.recorded",
            f"media {d.child_id} {d.kind} media {d.parent_id}",
            d.created_by,
            f"derivation:{d.id}",
            origin=("derivation", d.id),
        )
        if d.retracted_at is not None:
            add(
                d.retracted_at,
                "derivation.retracted",
                f"media {d.child_id} {d.kind} media {d.parent_id} retracted: {d.retraction}",
                d.retracted_by,
                f"derivation:{d.id}",
                origin=("retraction", d.id),
            )
    for n in records.notes:
        add(n.at, "note", n.text, n.by, f"note:{n.id}", origin=("note", n.id))
    _flag_recorded_before_opening(events, as_utc(c.created_at))
    order = {t: i for i, t in enumerate(_TYPE_ORDER)}
    events.sort(key=lambda e: (e["_sort"], order.get(e["type"], 99)))
    for e in events:
        del e["_sort"]
    if first is not None:
        ref = f"appearance:{first['id']}"
        kind = "appearance.posted" if first["basis"] == "posted" else "appearance.captured"
        for e in events:
            if e["ref"] == ref and e["type"] == kind:
                e["earliest"] = True
                break
    return events


# What is recorded in a case once it is open, dated by the clock of whoever recorded it:
# none can be dated before the case was opened (appearances, capture times and acquisitions
# can: they say when something happened elsewhere).
RECORDED_IN_CASE = frozenset(
    {
        "status.changed",
        "attribution.recorded",
        "attribution.changed",
        "derivation.recorded",
        "derivation.retracted",
        "note",
    }
)


def _flag_recorded_before_opening(events: list[dict[str, Any]], opened: datetime) -> None:
    """Warn on each event recorded in the case but dated before it was opened (beyond the
    clock skew `verify check` allows): the clock that dated it was wrong or pinned."""
    from verify.audit import CLOCK_SKEW

    for e in events:
        if e["type"] in RECORDED_IN_CASE and e["_sort"] < opened - CLOCK_SKEW:
            e["warnings"].append(
                f"dated before the case was opened ({iso(opened)}), though recorded in it "
                "since: the clock that dated it was wrong or pinned (VERIFY_FAKE_NOW); "
                "`verify check` lists such audit entries as clock findings"
            )


def _local_warning(captured: CaptureTime) -> str:
    clock = captured.at.replace(tzinfo=None).isoformat(sep=" ")
    return (
        f"capture time {clock} is the camera's local time, with no UTC offset in the file: "
        "placed as if it were UTC; the actual instant may be up to 14 hours earlier or "
        "12 hours later"
    )


# where a media file's capture time comes from, by kind
_META_SOURCE = {
    "image": "file metadata (EXIF/XMP/IPTC)",
    "video": "file metadata (container tags)",
}

# same instant: a file is captured before it is posted, captured by us, or acquired
_TYPE_ORDER = (
    "media.captured",
    "appearance.posted",
    "appearance.captured",
    "media.acquired",
    "case.opened",
    "attribution.recorded",
    "attribution.changed",
    "derivation.recorded",
    "derivation.retracted",
    "status.changed",
    "note",
)
