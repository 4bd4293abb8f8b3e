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


# How a platform's accounts are written (`Platform.handles`):
AT = "@name"  # one @handle: bare, with the @ or as a profile URL, it is `@name`
FEDIVERSE = "@name@instance"  # a Mastodon handle: the account's name and its server's
PATH = "kind/name"  # no @handles: what the profile URL's path says (`u/name`, `c/name`)
AS_GIVEN = "as given"  # nothing to read (a WhatsApp number or group): kept as written


class Platform:
    """A platform verify knows: how its accounts are written, and what it takes to read one
    from its spellings (`provenance.normalise_handle` does the reading). A plain class: a
    NamedTuple took 0.3 ms to define, a fifth of this module's import."""

    __slots__ = (
        "aliases",
        "at_kind",
        "bare",
        "handles",
        "hosts",
        "kinds",
        "name",
        "name_pattern",
        "url_at",
    )

    def __init__(
        self,
        name: str,
        handles: str,
        *,
        hosts: tuple[str, ...] = (),
        aliases: tuple[str, ...] = (),
        name_pattern: str = "",
        bare: bool = True,
        url_at: bool = False,
        kinds: tuple[tuple[str, str], ...] = (),
        at_kind: str = "",
    ) -> None:
        self.name = name
        self.handles = handles  # AT, FEDIVERSE, PATH or AS_GIVEN
        # hosts of its profile URLs, without `www.` (`*.linkedin.com`: any subdomain); none
        # for Mastodon, whose accounts live on any server
        self.hosts = hosts
        self.aliases = aliases  # other names for it, read as `name` (`twitter` -> `x`)
        self.name_pattern = name_pattern  # a regex of what a name may be (AT: with the @)
        # AT: whether a name written without its @ is the @handle (not on YouTube, where a
        # bare name may be a channel id), and whether its profile URLs carry the @
        # (`/@name`), so that a path without one is not a profile
        self.bare = bare
        self.url_at = url_at
        # PATH: each kind a URL path may begin with -> the kind as written (`user` -> `u`),
        # and the kind a name written `@name` is (`@someone` on Reddit is `u/someone`)
        self.kinds = kinds
        self.at_kind = at_kind

    def __repr__(self) -> str:
        return f"Platform({self.name!r})"


# A domain name (a Bluesky handle, a Mastodon server)
DOMAIN_PATTERN = (
    r"(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+"
    r"[A-Za-z](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
)

# The platforms verify knows, in the order it lists them. Any other platform name is
# legitimate but noted (`unknown_platform_note`), as it may be a typo (`tiktokk`).
PLATFORMS = (
    Platform(
        "x",
        AT,
        hosts=("x.com", "twitter.com", "mobile.twitter.com", "mobile.x.com"),
        aliases=("twitter",),
        name_pattern=r"@?[A-Za-z0-9_]{1,50}",
    ),
    Platform(
        "telegram",
        AT,
        hosts=("t.me", "telegram.me"),  # t.me/s/NAME too: the channel's web preview
        aliases=("tg",),
        name_pattern=r"@?[A-Za-z0-9_]{1,64}",
    ),
    Platform(
        "tiktok",
        AT,
        hosts=("tiktok.com", "m.tiktok.com"),
        name_pattern=r"@?[A-Za-z0-9_.]{1,64}",
        url_at=True,
    ),
    Platform(
        "instagram",
        AT,
        hosts=("instagram.com",),
        aliases=("ig",),
        name_pattern=r"@?[A-Za-z0-9_.]{1,64}",
    ),
    Platform(
        "youtube",
        AT,
        hosts=("youtube.com", "m.youtube.com"),
        aliases=("yt",),
        name_pattern=r"@[A-Za-z0-9_.-]{1,64}",
        bare=False,
        url_at=True,
    ),
    Platform(
        "threads",
        AT,
        hosts=("threads.net", "threads.com"),
        name_pattern=r"@?[A-Za-z0-9_.]{1,64}",
    ),
    # a Facebook or VK name has a letter: digits alone are a numeric id (profile.php?id=)
    Platform(
        "facebook",
        AT,
        hosts=(
            "facebook.com",
            "m.facebook.com",
            "web.facebook.com",
            "mbasic.facebook.com",
            "fb.com",
        ),
        aliases=("fb",),
        name_pattern=r"@?(?=[0-9.]*[A-Za-z])[A-Za-z0-9.]{1,50}",
    ),
    Platform(
        "vk",
        AT,
        hosts=("vk.com", "m.vk.com", "vk.ru", "m.vk.ru", "vkontakte.ru"),
        aliases=("vkontakte",),
        name_pattern=r"@?(?=[0-9_.]*[A-Za-z])[A-Za-z0-9_.]{1,32}",
    ),
    # a handle is a domain name (`name.bsky.social`, `nytimes.com`); a profile is
    # bsky.app/profile/HANDLE
    Platform(
        "bluesky", AT, hosts=("bsky.app",), aliases=("bsky",), name_pattern="@?" + DOMAIN_PATTERN
    ),
    # a channel's name, with the claim id that tells channels of one name apart when it is
    # given (`odysee.com/@name:7`; LBRY writes `@name#7`)
    Platform(
        "odysee",
        AT,
        hosts=("odysee.com",),
        name_pattern=r"@?[\w.-]{1,64}(?:[:#][0-9a-f]{1,40})?",
        url_at=True,
    ),
    # the account's name and its server's (`@name@mastodon.social`), on any server
    Platform("mastodon", FEDIVERSE, name_pattern=r"@?[A-Za-z0-9_.-]{1,64}@" + DOMAIN_PATTERN),
    # a user is u/NAME, a community r/NAME
    Platform(
        "reddit",
        PATH,
        hosts=(
            "reddit.com",
            "old.reddit.com",
            "new.reddit.com",
            "np.reddit.com",
            "m.reddit.com",
            "sh.reddit.com",
        ),
        name_pattern=r"[A-Za-z0-9_-]{2,21}",
        kinds=(("u", "u"), ("user", "u"), ("r", "r")),
        at_kind="u",
    ),
    # a channel is c/NAME, a user user/NAME
    Platform(
        "rumble",
        PATH,
        hosts=("rumble.com",),
        name_pattern=r"[A-Za-z0-9_.-]{1,100}",
        kinds=(("c", "c"), ("user", "user")),
    ),
    # a member is in/NAME, an organisation company/NAME (school/NAME, showcase/NAME)
    Platform(
        "linkedin",
        PATH,
        hosts=("linkedin.com", "*.linkedin.com"),  # uk.linkedin.com, de.linkedin.com, …
        name_pattern=r"[\w.-]{2,100}",
        kinds=(
            ("in", "in"),
            ("company", "company"),
            ("school", "school"),
            ("showcase", "showcase"),
        ),
    ),
    # a user by number is u/ID (weibo.com/u/ID, weibo.com/ID, m.weibo.cn/profile/ID), by
    # screen name n/NAME (weibo.com/n/NAME; an @mention is a screen name)
    Platform(
        "weibo",
        PATH,
        hosts=("weibo.com", "m.weibo.cn", "weibo.cn"),
        name_pattern=r"[\w-]{1,30}",
        kinds=(("u", "u"), ("profile", "u"), ("n", "n")),
        at_kind="n",
    ),
    Platform("whatsapp", AS_GIVEN),  # a number, a group's or a channel's name
)
PLATFORM_BY_NAME = {p.name: p for p in PLATFORMS}
KNOWN_PLATFORMS = tuple(PLATFORM_BY_NAME)
PLATFORM_ALIASES = {alias: p.name for p in PLATFORMS for alias in p.aliases}


def platform_name(text: str) -> str:
    """A platform name as stored: trimmed, lowercase, aliases resolved (` Twitter` -> `x`,
    `TG` -> `telegram`), for appearances, accounts and media alike. Not checked: see
    `parse_platform` and `provenance.parse_account_ref`."""
    name = text.strip().lower()
    return PLATFORM_ALIASES.get(name, name)


# What a platform name may be
PLATFORM_PATTERN = r"[a-z][a-z0-9_.-]{0,63}"


def parse_platform(text: str) -> tuple[str, str | None]:
    """A platform given for an appearance or a media file (`--platform`, a case file): its
    name as stored (`platform_name`), and the note to show when verify does not know it
    (`unknown_platform_note`; None for a platform it knows). Refuses what is not a platform
    name, pseudo-platforms (`person`, `org`, `outlet`) included (BadInputError)."""
    import re

    name = platform_name(text)
    if not re.fullmatch(PLATFORM_PATTERN, name) or name in OFFLINE_KINDS:
        raise BadInputError(f"bad platform {name!r}: a lowercase name such as x, telegram, youtube")
    return name, unknown_platform_note(name)


def unknown_platform_note(platform: str, account: str | None = None) -> str | None:
    """The one note for a platform verify does not know, with what the user may have meant
    (the closest known name, aliases included: `did you mean tiktok?`, `did you mean
    twitter?`, else the known ones); None for a known platform.

    For a platform given (`parse_platform`): `tiktokk` is recorded as given, and the
    earliest appearance would then call a claimed `tiktok` contradicted. For a new account
    `account` (its ref) on `platform`, the pseudo-platforms are known too. Nothing is
    refused: unknown platforms are legitimate."""
    import difflib

    known = (*KNOWN_PLATFORMS, *OFFLINE_KINDS) if account is not None else KNOWN_PLATFORMS
    if platform in known:
        return None
    close = difflib.get_close_matches(platform, [*known, *PLATFORM_ALIASES], 1)
    hint = f"did you mean {close[0]}?" if close else "known: " + ", ".join(known)
    if account is not None:
        return (
            f"note: new account {account} on platform {platform!r}, which verify does not "
            f"know ({hint})"
        )
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


# Pseudo-platforms: actors who are not a platform account (`person:Andriy Yusov`). They
# imply the account's kind and never count as a platform where media was posted.
OFFLINE_KINDS = {
    "person": AccountKind.PERSON,
    "org": AccountKind.ORGANISATION,
    "outlet": AccountKind.OUTLET,
}


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
