"""Controlled vocabularies. Stored as plain strings; validated here so the schema stays simple."""

from enum import StrEnum
from typing import TypeVar

from verify.errors import BadInputError

E = TypeVar("E", bound=StrEnum)


def parse_enum(kind: type[E], value: str, what: str) -> E:
    """`kind(value)`, or one line naming the allowed values."""
    try:
        return kind(value)
    except ValueError:
        allowed = ", ".join(m.value for m in kind)
        raise BadInputError(f"unknown {what} {value!r}; use one of: {allowed}") from None


PLATFORM_ALIASES = {
    "twitter": "x",
    "tg": "telegram",
    "fb": "facebook",
    "ig": "instagram",
    "yt": "youtube",
    "vkontakte": "vk",
    "bsky": "bluesky",
}


def platform_name(text: str) -> str:
    """A platform name as stored: trimmed, lowercase, aliases resolved (` Twitter` -> `x`,
    `TG` -> `telegram`), for appearances, accounts and media alike. Not checked: see
    `provenance.parse_platform` and `provenance.parse_account_ref`."""
    name = text.strip().lower()
    return PLATFORM_ALIASES.get(name, name)


# The platforms verify knows: it reads their handles (`provenance.AT_HANDLE_HOSTS`,
# `provenance.REDDIT_HOSTS`) or, on WhatsApp, which has none, keeps them as given
# (`provenance.HANDLES_AS_GIVEN`); a test keeps these alike. Any other platform is
# legitimate but noted, as it may be a typo (`tiktokk`).
KNOWN_PLATFORMS = (
    "x",
    "telegram",
    "tiktok",
    "instagram",
    "youtube",
    "threads",
    "facebook",
    "vk",
    "bluesky",
    "reddit",
    "whatsapp",
)


def platform_hint(platform: str, known: tuple[str, ...] = KNOWN_PLATFORMS) -> str | None:
    """For a platform verify does not know, what the user may have meant: `did you mean
    tiktok?` (the closest of `known`, aliases included: `twiter` -> `twitter`), else the
    known ones. None for a known platform."""
    import difflib

    if platform in known:
        return None
    close = difflib.get_close_matches(platform, [*known, *PLATFORM_ALIASES], 1)
    return f"did you mean {close[0]}?" if close else "known: " + ", ".join(known)


def unknown_platform_given(platform: str) -> str | None:
    """The note for a platform given with --platform (an appearance's, a media file's) that
    verify does not know: `tiktokk` is recorded as given, and the earliest appearance would
    then call a claimed `tiktok` contradicted. None for a known platform."""
    hint = platform_hint(platform)
    if hint is None:
        return None
    return f"note: platform {platform!r} is not one verify knows ({hint}); recorded as given"


class CaseStatus(StrEnum):
    UNVERIFIED = "unverified"
    IN_PROGRESS = "in_progress"
    NEEDS_REVIEW = "needs_review"
    VERIFIED = "verified"
    MISATTRIBUTED = "misattributed"
    MISLEADING = "misleading"
    FALSE = "false"
    INCONCLUSIVE = "inconclusive"


OPEN_STATUSES = frozenset({CaseStatus.UNVERIFIED, CaseStatus.IN_PROGRESS, CaseStatus.NEEDS_REVIEW})
VERDICTS = frozenset(set(CaseStatus) - OPEN_STATUSES)

# What each status means, as docs/concepts.md words it (tests/test_docs.py keeps the two
# alike). A status is the case's overall verdict on its media and the claims about it;
# reports give a verdict's meaning beside its name ("false" alone reads badly).
STATUS_MEANING: dict[CaseStatus, str] = {
    CaseStatus.UNVERIFIED: "not yet worked on; every new case starts here",
    CaseStatus.IN_PROGRESS: "being verified",
    CaseStatus.NEEDS_REVIEW: "waiting for someone else to check the work before a verdict",
    CaseStatus.VERIFIED: "the media is what it is claimed to be",
    CaseStatus.MISATTRIBUTED: "the media is genuine, but not from the source, place or time "
    "it is credited to",
    CaseStatus.MISLEADING: "the media is genuine, but presented in a way that misleads: "
    "missing context, a misleading caption or cut",
    CaseStatus.FALSE: "the media, or the main claim about what it shows, is false: "
    "fabricated, staged or manipulated",
    CaseStatus.INCONCLUSIVE: "the evidence does not settle it either way",
}


class Finding(StrEnum):
    UNASSESSED = "unassessed"
    SUPPORTED = "supported"
    CONTRADICTED = "contradicted"
    UNPROVEN = "unproven"


# What each finding means, as docs/concepts.md words it (tests/test_docs.py checks).
FINDING_MEANING: dict[Finding, str] = {
    Finding.SUPPORTED: "the evidence supports the claim",
    Finding.CONTRADICTED: "the evidence contradicts the claim",
    Finding.UNPROVEN: "assessed, but the evidence does not settle it",
    Finding.UNASSESSED: "not assessed yet",
}


class Confidence(StrEnum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"


class AnalysisState(StrEnum):
    PENDING = "pending"
    OK = "ok"
    FAILED = "analysis_failed"


class AccountKind(StrEnum):
    PERSON = "person"
    ORGANISATION = "organisation"
    CHANNEL = "channel"
    OUTLET = "outlet"
    UNKNOWN = "unknown"


class DatePrecision(StrEnum):
    EXACT = "exact"
    DAY = "day"
    APPROXIMATE = "approximate"


class Role(StrEnum):
    ORIGINAL_POSTER = "original_poster"
    REUPLOADER = "reuploader"
    SUBTITLER = "subtitler"
    TRANSLATOR = "translator"
    FILMER = "filmer"
    EDITOR = "editor"
    NARRATOR = "narrator"
    CLAIMANT = "claimant"


class AttributionState(StrEnum):
    CLAIMED = "claimed"
    CORROBORATED = "corroborated"
    REFUTED = "refuted"
    UNKNOWN = "unknown"
    WITHDRAWN = "withdrawn"


# What each attribution state means, as docs/provenance.md words it (tests/test_docs.py
# checks). "Claimed" is not a finding: it records what someone asserts.
ATTRIBUTION_STATE_MEANING: dict[AttributionState, str] = {
    AttributionState.CLAIMED: "someone says so",
    AttributionState.CORROBORATED: "independent evidence supports it",
    AttributionState.REFUTED: "evidence contradicts it",
    AttributionState.UNKNOWN: "not established either way",
    AttributionState.WITHDRAWN: "recorded in error, not part of the case",
}


class DerivationKind(StrEnum):
    SUBTITLED_FROM = "subtitled_from"
    REENCODE_OF = "reencode_of"
    CROPPED_FROM = "cropped_from"
    EXCERPT_OF = "excerpt_of"
    MIRRORED_FROM = "mirrored_from"
    SCREEN_RECORDING_OF = "screen_recording_of"
    TRANSLATED_FROM = "translated_from"
