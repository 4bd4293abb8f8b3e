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


PLATFORM_ALIASES = {"twitter": "x", "tg": "telegram"}


def platform_name(text: str) -> str:
    """A platform name as stored: trimmed, lowercase, aliases resolved (` Twitter` -> `x`,
    `TG` -> `telegram`), for appearances, accounts and media alike. Not checked: see
    `provenance.parse_platform` and `provenance.parse_account_ref`."""
    name = text.strip().lower()
    return PLATFORM_ALIASES.get(name, name)


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


class Finding(StrEnum):
    UNASSESSED = "unassessed"
    SUPPORTED = "supported"
    CONTRADICTED = "contradicted"
    UNPROVEN = "unproven"


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


class DerivationKind(StrEnum):
    SUBTITLED_FROM = "subtitled_from"
    REENCODE_OF = "reencode_of"
    CROPPED_FROM = "cropped_from"
    EXCERPT_OF = "excerpt_of"
    MIRRORED_FROM = "mirrored_from"
    SCREEN_RECORDING_OF = "screen_recording_of"
    TRANSLATED_FROM = "translated_from"
