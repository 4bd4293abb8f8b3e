"""Cases and their claims: the unit of work.

A case is one piece of attributed media and the claims about it. Its reference is the
slug (unique, lowercase letters, digits and hyphens), derived from the title when not
given.
"""

import re
import unicodedata
from datetime import datetime
from typing import Any, NamedTuple

from sqlmodel import Session, col, func, select

from verify import audit
from verify.archive import Archive
from verify.errors import BadInputError, NotFoundError
from verify.models import Blob, Case, Claim, Media, Note, pk
from verify.services.refs import SLUG_RE as SLUG_RE
from verify.services.refs import case_slug, no_case
from verify.services.refs import check_slug as check_slug
from verify.timeutil import iso, now
from verify.vocab import CaseStatus, Confidence, Finding, parse_enum

SLUG_MAX = 60


# Cyrillic (Russian, Ukrainian, Belarusian) to Latin, as in BGN/PCGN-style romanisation, for
# slugs only: a title in Russian gave "case", "case-2", ... (the title itself is kept as is)
_CYRILLIC = {
    "а": "a", "б": "b", "в": "v", "г": "g", "ґ": "g", "д": "d", "е": "e", "ё": "e",
    "є": "ye", "ж": "zh", "з": "z", "и": "i", "і": "i", "ї": "yi", "й": "y", "к": "k",
    "л": "l", "м": "m", "н": "n", "о": "o", "п": "p", "р": "r", "с": "s", "т": "t",
    "у": "u", "ў": "u", "ф": "f", "х": "kh", "ц": "ts", "ч": "ch", "ш": "sh",
    "щ": "shch", "ъ": "", "ы": "y", "ь": "", "э": "e", "ю": "yu", "я": "ya",
}  # fmt: skip
# Latin letters that Unicode does not decompose into a base letter and a mark (so the ASCII
# step below would drop them: "Łódź" gave "odz")
_LATIN_EXTRA = {
    "ł": "l", "ø": "o", "æ": "ae", "œ": "oe", "ß": "ss", "đ": "d", "ð": "d", "þ": "th",
    "ı": "i", "ħ": "h", "ŀ": "l",
}  # fmt: skip
_ROMAN = _CYRILLIC | _LATIN_EXTRA
# Greek (ELOT 743-style, for slugs only), applied once accents and breathings are dropped
_GREEK_PAIRS = (("ου", "ou"),)
_GREEK = str.maketrans({
    "α": "a", "β": "v", "γ": "g", "δ": "d", "ε": "e", "ζ": "z", "η": "i", "θ": "th",
    "ι": "i", "κ": "k", "λ": "l", "μ": "m", "ν": "n", "ξ": "x", "ο": "o", "π": "p",
    "ρ": "r", "σ": "s", "ς": "s", "τ": "t", "υ": "y", "φ": "f", "χ": "ch", "ψ": "ps",
    "ω": "o",
})  # fmt: skip
_GREEK_LETTERS = frozenset(map(chr, _GREEK))  # the letters the table romanises


def _latin(c: str) -> tuple[str, bool]:
    """One character of a lowercased, composed title in Latin letters, and whether it was
    transliterated letter by letter (a script without a romanisation here)."""
    if c.isascii():
        return c, False
    if c in _ROMAN:
        return _ROMAN[c], False
    # accents, breathings and compatibility forms (µ, ﬁ, full-width letters) off: Latin
    # gives ASCII, Greek its base letters (romanised below, where "ου" is one sound)
    bare = "".join(x for x in unicodedata.normalize("NFKD", c) if not unicodedata.combining(x))
    if bare and (bare.isascii() or all(x in _GREEK_LETTERS for x in bare.lower())):
        return bare.lower(), False
    if unicodedata.category(c)[0] in "LMN":  # letters, marks, digits of any other script
        from anyascii import anyascii

        latin = anyascii(c).replace("'", "").lower()  # a Thai vowel sign too; a stray accent: ""
        return latin, bool(latin)
    return " ", False  # symbols and emoji (anyascii would spell out "🔥" as ":fire:")


class Slug(NamedTuple):
    text: str  # the slug ("case" when nothing was left)
    by_letter: bool  # some of the title was transliterated letter by letter
    empty: bool  # nothing was left of the title


def slug_of(title: str) -> Slug:
    """`slugify`, and how the slug was made (for the CLI's notes)."""
    letters = [_latin(c) for c in unicodedata.normalize("NFC", title).lower()]
    bare = "".join(latin for latin, _ in letters)
    for pair, latin in _GREEK_PAIRS:
        bare = bare.replace(pair, latin)
    ascii_title = bare.translate(_GREEK).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_title.lower()).strip("-")
    if len(slug) > SLUG_MAX:
        slug = slug[:SLUG_MAX].rsplit("-", 1)[0] if "-" in slug[:SLUG_MAX] else slug[:SLUG_MAX]
    return Slug(slug or "case", any(by_letter for _, by_letter in letters), not slug)


def slugify(title: str) -> str:
    """ASCII, lowercase, hyphen-separated, at most 60 characters, cut at a word boundary.
    Cyrillic and Greek are romanised (`Белгород` -> `belgorod`), accents dropped (`Łódź` ->
    `lodz`); other scripts are transliterated letter by letter with anyascii (`فيديو من غزة`
    -> `fydyw-mn-ghzh`, Han characters in their Mandarin reading), symbols and emoji dropped,
    and a title with nothing left gives "case" (the CLI then suggests --slug)."""
    return slug_of(title).text


def check_text(*values: str | None) -> None:
    """Refuse NUL characters in stored text: PostgreSQL cannot store them, and SQLite must
    not accept what PostgreSQL refuses (the same archive works on either)."""
    for value in values:
        if value is not None and "\x00" in value:
            raise BadInputError(
                f"text {value[:40]!r} contains a NUL character, which cannot be stored; remove it"
            )


def get_case(session: Session, ref: str) -> Case:
    """The case `ref` names (`refs.case_slug`), or NotFoundError naming the next step."""
    case = session.exec(select(Case).where(Case.slug == case_slug(ref))).first()
    if case is None:
        raise no_case(ref, session.exec(select(Case.slug)).all())
    return case


def case_media(session: Session, case_id: int) -> list[tuple[Media, Blob]]:
    """A case's media with their blobs, in media id order (the report and the timeline read
    them so; case files list them by acquisition: `casefile._in_file_order`)."""
    rows = session.exec(
        select(Media, Blob)
        .join(Blob, col(Blob.id) == col(Media.blob_id))
        .where(Media.case_id == case_id)
        .order_by(col(Media.id))
    ).all()
    return [(m, b) for m, b in rows]


def _unique_slug(session: Session, base: str) -> str:
    taken = set(session.exec(select(Case.slug).where(col(Case.slug).like(f"{base}%"))).all())
    if base not in taken:
        return base
    n = 2
    while f"{base}-{n}" in taken:
        n += 1
    return f"{base}-{n}"


def claims_by_case(session: Session, case_ids: list[int]) -> dict[int, list[Claim]]:
    """Each case's claims in order, in one query."""
    out: dict[int, list[Claim]] = {i: [] for i in case_ids}
    if not case_ids:
        return out
    for claim in session.exec(
        select(Claim)
        .where(col(Claim.case_id).in_(sorted(set(case_ids))))
        .order_by(col(Claim.case_id), col(Claim.position))
    ).all():
        out[claim.case_id].append(claim)
    return out


def claim_to_dict(claim: Claim) -> dict[str, Any]:
    return {
        "n": claim.position,
        "text": claim.text,
        "finding": claim.finding,
        "confidence": claim.confidence,
        "rationale": claim.rationale,
        "updated_at": iso(claim.updated_at),
        "updated_by": claim.updated_by,
    }


def case_to_dict(session: Session, case: Case, *, with_notes: bool = False) -> dict[str, Any]:
    out = _case_dict(case, claims_by_case(session, [pk(case)])[pk(case)])
    if with_notes:
        from verify.services.provlogic import note_order

        notes = sorted(
            session.exec(select(Note).where(Note.case_id == case.id)).all(), key=note_order
        )
        out["notes"] = [note_to_dict(n) for n in notes]
    return out


def note_to_dict(note: Note) -> dict[str, Any]:
    """A note as `case show --json` lists it."""
    return {"id": note.id, "text": note.text, "at": iso(note.at), "by": note.by}


def _case_dict(case: Case, claims: list[Claim]) -> dict[str, Any]:
    return {
        "slug": case.slug,
        "title": case.title,
        "summary": case.summary,
        "status": case.status,
        "claims": [claim_to_dict(c) for c in claims],
        "created_at": iso(case.created_at),
        "created_by": case.created_by,
        "updated_at": iso(case.updated_at),
        "updated_by": case.updated_by,
    }


def _touch(case: Case, actor: str) -> None:
    case.updated_at = now()
    case.updated_by = actor


def open_case(
    archive: Archive,
    title: str,
    *,
    slug: str | None = None,
    claims: list[str] | None = None,
    summary: str = "",
) -> dict[str, Any]:
    """Open a new case (status `unverified`); returns its dict (with the slug), and in
    `same_title` the slugs of the cases that already have its title (letter case and
    surrounding blanks aside): it is opened all the same."""
    check_text(title, summary, *(claims or []))
    title = title.strip()
    if not title:
        raise BadInputError("a case needs a non-empty title")
    claim_texts = [c.strip() for c in (claims or [])]
    if any(not c for c in claim_texts):
        raise BadInputError("a claim cannot be empty")
    if slug is not None:
        check_slug(slug)
    with archive.write() as session:
        same_title = _titled(session, title)
        if slug is None:
            final_slug = _unique_slug(session, slugify(title))
        else:
            if session.exec(select(Case).where(Case.slug == slug)).first():
                raise BadInputError(f"a case {slug!r} already exists; choose another --slug")
            final_slug = slug
        at = now()
        case = Case(
            slug=final_slug,
            title=title,
            summary=summary.strip(),
            status=CaseStatus.UNVERIFIED.value,
            created_at=at,
            created_by=archive.actor,
            updated_at=at,
            updated_by=archive.actor,
        )
        session.add(case)
        session.flush()
        for i, text in enumerate(claim_texts, start=1):
            session.add(_new_claim(case, i, text, archive.actor, at))
        audit.append(
            session,
            actor=archive.actor,
            action="case.open",
            case=final_slug,
            # who opened it and when, as the case row (and its claims) have them, for
            # `verify check` to compare
            payload={
                "title": title,
                "summary": case.summary,
                "claims": claim_texts,
                "by": archive.actor,
                "at": iso(at),
            },
        )
        session.flush()
        return {**case_to_dict(session, case, with_notes=True), "same_title": same_title}


def _titled(session: Session, title: str) -> list[str]:
    """The slugs of the cases titled `title` but for letter case and surrounding blanks,
    oldest first (compared here: SQLite's lower() folds only A-Z)."""
    wanted = title.strip().lower()
    rows = session.exec(select(Case.slug, Case.title).order_by(col(Case.id))).all()
    return [slug for slug, held in rows if held.strip().lower() == wanted]


def list_cases(archive: Archive, *, status: str | None = None) -> list[dict[str, Any]]:
    if status is not None:
        parse_enum(CaseStatus, status, "status")
    with archive.read() as session:
        query = select(Case).order_by(col(Case.created_at), col(Case.id))
        if status is not None:
            query = query.where(Case.status == status)
        rows = session.exec(query).all()
        claims = claims_by_case(session, [pk(c) for c in rows])
        return [_case_dict(c, claims[pk(c)]) for c in rows]


def show_case(archive: Archive, ref: str) -> dict[str, Any]:
    with archive.read() as session:
        return case_to_dict(session, get_case(session, ref), with_notes=True)


def edit_case(
    archive: Archive,
    ref: str,
    *,
    title: str | None = None,
    summary: str | None = None,
) -> dict[str, Any]:
    """Change title and/or summary; the audit entry records old and new values."""
    check_text(title, summary)
    if title is not None and not title.strip():
        raise BadInputError("a case needs a non-empty title")
    if title is None and summary is None:
        raise BadInputError("nothing to change: give --title and/or --summary")
    with archive.write() as session:
        case = get_case(session, ref)
        changes: dict[str, Any] = {}
        if title is not None and title.strip() != case.title:
            changes["title"] = {"old": case.title, "new": title.strip()}
            case.title = title.strip()
        if summary is not None and summary.strip() != case.summary:
            changes["summary"] = {"old": case.summary, "new": summary.strip()}
            case.summary = summary.strip()
        if changes:
            _touch(case, archive.actor)
            session.add(case)
            audit.append(
                session, actor=archive.actor, action="case.edit", case=case.slug, payload=changes
            )
        return case_to_dict(session, case)


def add_claim(archive: Archive, ref: str, text: str) -> int:
    """Add a claim under test; returns its number within the case."""
    check_text(text)
    text = text.strip()
    if not text:
        raise BadInputError("a claim cannot be empty")
    with archive.write() as session:
        case = get_case(session, ref)
        last = session.exec(select(func.max(Claim.position)).where(Claim.case_id == case.id)).one()
        position = (last or 0) + 1
        at = now()
        session.add(_new_claim(case, position, text, archive.actor, at))
        _touch(case, archive.actor)
        session.add(case)
        audit.append(
            session,
            actor=archive.actor,
            action="claim.add",
            case=case.slug,
            # who added it and when, as the claim row has them, for `verify check` to compare
            payload={"n": position, "text": text, "by": archive.actor, "at": iso(at)},
        )
        return position


def _confidence(value: str) -> Confidence | None:
    """A confidence as given: `low`, `medium`, `high`, or `none` (no confidence)."""
    if value.strip().lower() == "none":
        return None
    try:
        return Confidence(value)
    except ValueError:
        allowed = ", ".join([*(c.value for c in Confidence), "none"])
        raise BadInputError(f"unknown confidence {value!r}; use one of: {allowed}") from None


def _assessment(finding: str, confidence: str | None, rationale: str) -> str:
    """`contradicted (high confidence) with the rationale 'x'`, for the refusal of a
    repeated assessment."""
    if finding == Finding.UNASSESSED:
        return finding
    conf = f" ({confidence} confidence)" if confidence else ""
    return f"{finding}{conf} with the rationale {rationale!r}"


def assess_claim(
    archive: Archive,
    ref: str,
    n: int,
    *,
    finding: str | None = None,
    confidence: str | None = None,
    why: str | None = None,
) -> dict[str, Any]:
    """Assess a claim: an assessment is a whole (finding, confidence, rationale).

    With `finding`, all three are set: the confidence given (none when not given) and the
    rationale `why`, which every finding but `unassessed` needs; `unassessed` clears the
    confidence and the rationale (giving either with it is refused). Without `finding`,
    the current assessment is amended: `confidence` (`none` removes it) and/or `why`
    replace its own, the finding and the rest kept; an unassessed claim has nothing to
    amend. An assessment identical to the current one is refused, as `status set` refuses
    the current status. The audit entry records each field that changed, old and new."""
    check_text(why)
    rationale = (why or "").strip() or None  # a blank --why is no rationale
    if finding is None and confidence is None and rationale is None:
        raise BadInputError("nothing to change: give --finding, --confidence and/or --why")
    new_finding = parse_enum(Finding, finding, "finding") if finding is not None else None
    new_conf = _confidence(confidence) if confidence is not None else None
    with archive.write() as session:
        case = get_case(session, ref)
        claim = session.exec(
            select(Claim).where(Claim.case_id == case.id, Claim.position == n)
        ).first()
        if claim is None:
            raise NotFoundError(
                f"case {case.slug!r} has no claim {n}; "
                f"`verify case show {case.slug}` lists its claims"
            )
        # after the lookup: a missing claim is the first thing to say, not its rationale
        subject = f"claim {n} of case {case.slug!r}"
        after: tuple[str, str | None, str]
        if new_finding == Finding.UNASSESSED:
            if new_conf is not None or rationale is not None:
                raise BadInputError(
                    "--finding unassessed clears the confidence and the rationale: leave out "
                    "--confidence and --why (`verify note add` can say why)"
                )
            after = (Finding.UNASSESSED.value, None, "")
        elif new_finding is not None:
            if rationale is None:
                raise BadInputError(f"a finding of {new_finding} needs a rationale: add --why TEXT")
            after = (new_finding.value, new_conf.value if new_conf else None, rationale)
        elif claim.finding == Finding.UNASSESSED:
            raise BadInputError(
                f"{subject} is unassessed, so there is no assessment to amend: give --finding "
                "and --why"
            )
        else:  # amend the current assessment
            after = (
                claim.finding,
                claim.confidence if confidence is None else (new_conf.value if new_conf else None),
                claim.rationale if rationale is None else rationale,
            )
        before = (claim.finding, claim.confidence, claim.rationale)
        if after == before:
            raise BadInputError(
                f"{subject} is already {_assessment(*before)} (last changed by {claim.updated_by} "
                f"at {iso(claim.updated_at)}); nothing to change"
            )
        _after_latest_assessment(session, case.slug, n, archive.actor)
        changes: dict[str, Any] = {"n": n}
        for name, old, new in zip(
            ("finding", "confidence", "rationale"), before, after, strict=True
        ):
            if old != new:
                changes[name] = {"old": old, "new": new}
        claim.finding, claim.confidence, claim.rationale = after
        claim.updated_at = now()
        claim.updated_by = archive.actor
        session.add(claim)
        _touch(case, archive.actor)
        session.add(case)
        audit.append(
            session, actor=archive.actor, action="claim.assess", case=case.slug, payload=changes
        )
        return claim_to_dict(claim)


def _new_claim(case: Case, position: int, text: str, actor: str, at: datetime) -> Claim:
    """A claim as the command line adds it: unassessed, added and last changed by `actor`
    at `at`."""
    return Claim(
        case_id=pk(case),
        position=position,
        text=text,
        created_at=at,
        created_by=actor,
        updated_at=at,
        updated_by=actor,
    )


def _after_latest_assessment(session: Session, slug: str, n: int, actor: str) -> None:
    """A new assessment comes after the claim's latest (the last in the one order every
    archive gives them: `recorded.assessment_order`): one a case file dated after this
    machine's clock (another machine's clock ahead, or this one behind) is refused until
    then, as the two archives would otherwise disagree on which assessment is current."""
    from verify.services import recorded

    held = recorded.claim_histories(recorded.read_claim_entries(session, slug)).get(n, [])
    if held and recorded.assessment_order(held[-1]) > (now(), actor):
        latest = held[-1]
        raise BadInputError(
            f"claim {n} of case {slug!r} was last assessed by {latest['by']} at "
            f"{latest['at']}, which is after this machine's clock ({iso(now())}): one of "
            "the clocks is wrong; assess it after that time, or correct the clock"
        )


def add_note(archive: Archive, ref: str, text: str) -> dict[str, Any]:
    """Append a note to a case; returns it as `case show` lists it (`note_to_dict`)."""
    check_text(text)
    text = text.strip()
    if not text:
        raise BadInputError("a note cannot be empty")
    with archive.write() as session:
        case = get_case(session, ref)
        note = Note(case_id=pk(case), text=text, at=now(), by=archive.actor)
        session.add(note)
        session.flush()
        audit.append(
            session,
            actor=archive.actor,
            action="note.add",
            case=case.slug,
            # who wrote it and when, as the note row has them, for `verify check` to compare
            payload={"note": note.id, "text": text, "by": note.by, "at": iso(note.at)},
        )
        return note_to_dict(note)
