"""Provenance: who posted, touched and claims what about a case's media, and how copies relate.

Four kinds of record, all append-only in spirit (an attribution's state changes are kept as
history rows, never overwritten):

- **accounts**: actors, written `platform:handle` (`x:@Gerashchenko_en`, `telegram:@channel`,
  `person:Andriy Yusov`, `org:Kremlin`). Global, not per case; created on first mention.
  Lookup ignores letter case (`x:@gerashchenko_en` is the same account). `twitter:` is an
  alias of `x:` and `tg:` of `telegram:`. The pseudo-platforms `person`, `org` and `outlet`
  name actors who are not a platform account; they imply the account kind and no platform.
- **appearances**: one post of the media on one platform (URL, post id, account, posted time
  with a precision, when we captured it, caption, language, forwarded/quoted from, archive
  URL), optionally linked to a media file the case holds.
- **attributions**: role x actor x target (the case, one media file or one appearance), with a
  state (claimed, corroborated, refuted, unknown), evidence and who says so. Creating one
  records its first state change; every later change appends an `AttributionChange`.
- **derivations**: typed edges between media files (child is `kind` of parent) with evidence
  (a JSON object). Self-links and cycles are refused.

This module writes them, and reads what a write needs (accounts, cycles, duplicates) and
what the case-file export (`verify.services.casefile`) writes out. The listings, the
earliest known appearance and the timeline are read without the ORM, for the commands and
the reports alike, by `verify.services.provread`; what is made of the records, the dicts a
write answers with included, is `verify.services.provlogic`'s. Every mutation runs in one
write transaction with its audit entry.

The `record_*` functions (and `new_account`, `apply_account_changes`) write one record and
its audit entry inside the caller's transaction; the command line and the case-file importer
(`verify.services.casefile`) both go through them, so each audit action has one payload
shape. They store the values they are given: checking and trimming input is the caller's
job. `audit_extra` adds keys to the payload (the importer's `{"import": FILE-NAME}`).
"""

import functools
import re
import urllib.parse
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import orjson
from sqlalchemy import or_
from sqlmodel import Session, col, func, select

from verify import audit
from verify.archive import Archive
from verify.errors import BadInputError, NotFoundError
from verify.models import (
    Account,
    Appearance,
    Attribution,
    AttributionChange,
    Blob,
    Case,
    Derivation,
    Media,
    pk,
)
from verify.services.cases import check_text, get_case
from verify.services.provlogic import (
    APPEARANCE_TEXT_FIELDS,
    OFFLINE_KINDS,
    appearance_dicts,
    attribution_dicts,
    date_problems,
    retracted,
    target_ref,
)
from verify.services.provlogic import account_dict as account_to_dict
from verify.services.provlogic import account_ref as account_ref
from verify.services.provlogic import change_to_dict as change_to_dict
from verify.services.provlogic import format_posted as format_posted
from verify.services.refs import get_media
from verify.timeutil import as_utc, iso, now, parse_utc
from verify.vocab import (
    AT,
    DOMAIN_PATTERN,
    FEDIVERSE,
    PATH,
    PLATFORM_BY_NAME,
    PLATFORM_PATTERN,
    AccountKind,
    AttributionState,
    DatePrecision,
    DerivationKind,
    Platform,
    Role,
    parse_enum,
    parse_platform,
    platform_name,
    unknown_platform_note,
)

PLATFORM_RE = re.compile(rf"^{PLATFORM_PATTERN}\Z")
_CONTROL = re.compile("[\x00-\x1f\x7f]")
_UPPER = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
_ASCII_LOWER = str.maketrans(_UPPER, _UPPER.lower())


# --------------------------------------------------------------------------- accounts


# How verify reads the handles of the platforms it knows (`vocab.PLATFORMS`: their hosts,
# handle styles and what a name may be). On platforms with @handles, `x:someone`,
# `x:@someone` and `x:https://x.com/someone` are one account, `x:@someone`.

# first path segments of @handle platforms' hosts that are not accounts (posts, searches,
# private links)
_NOT_A_HANDLE = {
    "i", "home", "search", "intent", "share", "hashtag", "explore", "settings", "messages",
    "c", "s", "joinchat", "addstickers", "p", "reel", "reels", "stories", "tv", "watch",
    "channel", "user", "shorts", "playlist", "results", "tag", "video",
}  # fmt: skip
# and those of one platform's hosts only
_NOT_A_HANDLE_ON = {
    "facebook": {
        "profile.php", "people", "pages", "groups", "events", "photo", "photo.php", "photos",
        "videos", "video.php", "story.php", "permalink.php", "sharer", "sharer.php",
        "marketplace", "gaming", "login", "login.php", "help", "notifications", "friends",
        "bookmarks", "home.php", "l.php", "dialog", "plugins", "ads", "business", "privacy",
        "policies", "legal", "fundraisers", "live", "media", "posts", "feeds", "watchparty",
    },
    "vk": {
        "feed", "im", "videos", "clips", "clip", "music", "audio", "audios", "photos",
        "friends", "groups", "login", "wall", "app", "apps", "away.php", "share.php", "doc",
        "docs", "market", "services", "al_feed.php", "bugs", "support", "about", "terms",
        "privacy", "dev", "blog", "jobs", "games", "stickers", "podcasts", "narratives",
        "discover", "live", "topic", "board", "album", "albums", "id",
    },
}  # fmt: skip
_DIGITS = re.compile(r"[0-9]{1,20}")
_DOMAIN = re.compile(DOMAIN_PATTERN)


@functools.cache
def _name_re(platform: str) -> re.Pattern[str]:
    """What a name on `platform` may be (`Platform.name_pattern`), compiled once."""
    return re.compile(PLATFORM_BY_NAME[platform].name_pattern)


def _split_ref(ref: str) -> tuple[str, str]:
    platform, sep, handle = ref.strip().partition(":")
    platform = platform_name(platform)
    handle = handle.strip()
    if not sep or not PLATFORM_RE.match(platform) or not handle or _CONTROL.search(handle):
        raise BadInputError(
            f"bad account {ref!r}: write platform:handle, e.g. x:@Gerashchenko_en, "
            "telegram:@channel or person:Andriy Yusov"
        )
    return platform, handle


def _url(handle: str, hosts: tuple[str, ...] | None) -> tuple[str, list[str]] | None:
    """The host and path segments (percent-decoded) of `handle` as an http(s) URL (the
    scheme may be left out) on one of `hosts` (`*.example.com`: any subdomain of it; None:
    any domain name, without a user or a port), else None."""
    text = handle if "://" in handle else "https://" + handle
    try:
        parsed = urllib.parse.urlsplit(text)
        host = (parsed.hostname or "").removeprefix("www.")
        bare = parsed.username is None and parsed.port is None
    except ValueError:  # not a URL at all (`[`, a bad port)
        return None
    if parsed.scheme not in ("http", "https"):
        return None
    if hosts is None:
        if not bare or not _DOMAIN.fullmatch(host):  # any domain name
            return None
    elif host not in hosts and not any(h.startswith("*.") and host.endswith(h[1:]) for h in hosts):
        return None
    return host, [urllib.parse.unquote(p) for p in parsed.path.split("/") if p]


def _url_path(handle: str, hosts: tuple[str, ...]) -> list[str] | None:
    """The path segments of `handle` as an http(s) URL on one of `hosts` (`_url`), else
    None."""
    found = _url(handle, hosts)
    return None if found is None else found[1]


def _path_handle(platform: Platform, handle: str) -> str:
    """On a platform without @handles (`vocab.PATH`): `KIND/NAME` for an account written so
    (`/u/NAME`, `user/NAME`, `@NAME` where an @name is one kind, a profile URL, `weibo.com/ID`),
    else `handle` as given (a bare name may be of any kind)."""
    kinds = dict(platform.kinds)
    name = _name_re(platform.name)
    if platform.at_kind and handle.startswith("@") and name.fullmatch(handle[1:]):
        return f"{platform.at_kind}/{handle[1:]}"
    parts = handle.strip("/").split("/")
    if len(parts) != 2 or parts[0].lower() not in kinds:
        parts = _url_path(handle, platform.hosts) or []
        if platform.name == "weibo" and len(parts) == 1 and _DIGITS.fullmatch(parts[0]):
            parts = ["u", parts[0]]  # weibo.com/ID is a user's page, as weibo.com/u/ID is
    if len(parts) == 2 and parts[0].lower() in kinds and name.fullmatch(parts[1]):
        return f"{kinds[parts[0].lower()]}/{parts[1]}"
    return handle


def _fediverse_handle(platform: Platform, handle: str) -> str:
    """On Mastodon (`vocab.FEDIVERSE`): `@NAME@SERVER` for an account written so, without
    the first @, or as its profile URL on its server (`https://SERVER/@NAME`,
    `https://SERVER/users/NAME`) or another's (`https://OTHER/@NAME@SERVER`); else `handle`
    as given (a name without its server names no one account)."""
    full = _name_re(platform.name)
    if full.fullmatch(handle):
        return handle if handle.startswith("@") else "@" + handle
    found = _url(handle, None)
    if found is None:
        return handle
    host, parts = found
    if len(parts) == 1 and parts[0].startswith("@"):
        name = parts[0][1:]
    elif len(parts) == 2 and parts[0] == "users":
        name = parts[1]
    else:
        return handle  # a post (`/@NAME/ID`), a server page
    written = "@" + (name if "@" in name else f"{name}@{host}")
    return written if full.fullmatch(written) else handle


def normal_prefix(platform: str, handle: str) -> str | None:
    """What the one spelling of a handle on `platform` starts with, if `handle` has it: `@`
    on platforms with @handles (Mastodon's too), `KIND/` on those without (`u/` or `r/` on
    Reddit); else None."""
    known = PLATFORM_BY_NAME.get(platform)
    if known is None:
        return None
    if known.handles in (AT, FEDIVERSE) and handle.startswith("@"):
        return "@"
    kind, slash, _ = handle.partition("/")
    if known.handles == PATH and slash and kind in {k for _, k in known.kinds}:
        return kind + "/"
    return None


def normalise_handle(platform: str, handle: str) -> str:
    """The one spelling of a handle on the platforms verify knows (`vocab.PLATFORMS`).
    With @handles: `someone` and a profile URL (`https://x.com/someone`, `t.me/s/channel`,
    `https://www.tiktok.com/@someone`, `https://bsky.app/profile/name.bsky.social`,
    `https://odysee.com/@name:7`) become `@someone`; on Mastodon, `@name@server`
    (`_fediverse_handle`); without them, `KIND/NAME` (`u/someone` or `r/community` on
    Reddit, `c/channel` on Rumble, `in/someone` on LinkedIn, `u/ID` on Weibo:
    `_path_handle`). Anything not clearly a handle (a post URL, a YouTube channel id or bare
    name, a numeric Facebook or VK id, `(unknown)`) and every other platform's handle
    (WhatsApp's, an unknown platform's) is kept as given."""
    known = PLATFORM_BY_NAME.get(platform)
    if known is None:
        return handle
    if known.handles == PATH:
        return _path_handle(known, handle)
    if known.handles == FEDIVERSE:
        return _fediverse_handle(known, handle)
    if known.handles != AT:
        return handle
    chars = _name_re(platform)
    if chars.fullmatch(handle) or chars.fullmatch("@" + handle):
        if not known.bare and not handle.startswith("@"):
            return handle
        name = handle if handle.startswith("@") else "@" + handle
    else:
        parts = _url_path(handle, known.hosts)
        if parts is None:
            return handle
        if platform == "telegram" and parts[:1] == ["s"]:
            parts = parts[1:]  # t.me/s/channel: the channel's web preview
        if platform == "bluesky":  # a profile is bsky.app/profile/HANDLE, and nothing else
            parts = parts[1:] if parts[:1] == ["profile"] else []
        not_handles = _NOT_A_HANDLE | _NOT_A_HANDLE_ON.get(platform, set())
        if len(parts) != 1 or parts[0].lower() in not_handles:  # `/@channel` is a handle
            return handle
        name = parts[0]
        if known.url_at and not name.startswith("@"):
            return handle  # their profile URLs carry the @; anything else is not one
        name = name if name.startswith("@") else "@" + name
        if not chars.fullmatch(name):
            return handle
    if platform == "odysee":  # `@name#7`, as LBRY writes a claim id, is `@name:7`
        name = name.replace("#", ":")
    return name


def account_ref_as_given(ref: str) -> str:
    """`platform:handle` with the platform's alias resolved and the handle as written: what
    a case file names, looked up with `find_account` (which knows the other spellings)."""
    platform, handle = _split_ref(ref)
    return f"{platform}:{handle}"


def parse_account_ref(ref: str) -> tuple[str, str]:
    """`x:@Gerashchenko_en` -> ("x", "@Gerashchenko_en"); `x:Gerashchenko_en` and
    `x:https://x.com/Gerashchenko_en` too (`normalise_handle`). Raises BadInputError for
    what is not `platform:handle`."""
    platform, handle = _split_ref(ref)
    return platform, normalise_handle(platform, handle)


def find_account(session: Session, ref: str) -> Account | None:
    """The account `ref` names: its handle as written, then in its one spelling
    (`normalise_handle`), then without the @ (not on YouTube, where a bare name may be a
    channel id); on platforms with @handles, last, an account stored by an earlier version
    under another spelling (`x:https://x.com/someone`)."""
    platform, given = _split_ref(ref)
    handle = normalise_handle(platform, given)
    tries = [given, handle]
    known = PLATFORM_BY_NAME.get(platform)
    at_handles = known is not None and known.handles in (AT, FEDIVERSE) and known.bare
    if at_handles and handle.startswith("@"):
        tries.append(handle[1:])
    for h in dict.fromkeys(tries):
        found = _find_handle(session, platform, h)
        if found is not None:
            return found
    prefix = normal_prefix(platform, handle)
    if prefix is not None:
        return _older_spelling(session, platform, handle, prefix)
    return None


def _older_spelling(session: Session, platform: str, handle: str, prefix: str) -> Account | None:
    """An account stored without the one spelling of `handle` (a profile URL, say), which
    starts with `prefix` (`normal_prefix`): only handles without it that contain the name
    are read and normalised."""
    folded = handle.translate(_ASCII_LOWER)
    # the name alone (a Mastodon handle's without its server, which a URL writes apart)
    name = folded[len(prefix) :].partition("@")[0]
    name = name.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    candidates = session.exec(
        select(Account)
        .where(
            Account.platform == platform,
            ~col(Account.handle).startswith(prefix),
            _ascii_lower(session, col(Account.handle)).like(f"%{name}%", escape="\\"),
        )
        .order_by(col(Account.id))
    ).all()
    for account in candidates:
        if normalise_handle(platform, account.handle).translate(_ASCII_LOWER) == folded:
            return account
    return None


def _ascii_lower(session: Session, column: Any) -> Any:
    """`column` with A-Z folded and every other letter kept: SQLite's lower() does that,
    PostgreSQL's folds every letter (`Ärzte` and `ärzte` would be one account there)."""
    if session.get_bind().dialect.name == "postgresql":
        return func.translate(column, _UPPER, _UPPER.lower())
    return func.lower(column)


def account_key(ref: str) -> str:
    """What makes two refs one account: platform, the handle's one spelling, A-Z folded."""
    platform, handle = parse_account_ref(ref)
    return f"{platform}:{handle}".translate(_ASCII_LOWER)


def _find_handle(session: Session, platform: str, handle: str) -> Account | None:
    # Exact match first; then ASCII letter case only (a Unicode fold here could miss a
    # stored handle and then collide with it on insert).
    exact = session.exec(
        select(Account).where(Account.platform == platform, Account.handle == handle)
    ).first()
    if exact is not None:
        return exact
    folded = handle.translate(_ASCII_LOWER)
    return session.exec(
        select(Account)
        .where(
            Account.platform == platform,
            _ascii_lower(session, col(Account.handle)) == folded,
        )
        .order_by(col(Account.id))
    ).first()


def get_account(session: Session, ref: str) -> Account:
    account = find_account(session, ref)
    if account is None:
        raise NotFoundError(f"no account {ref!r}; `verify prov account list` shows the accounts")
    return account


def accounts_by_id(session: Session, ids: Iterable[int | None]) -> dict[int, Account]:
    """The accounts with these ids, in one query."""
    wanted = sorted({i for i in ids if i is not None})
    if not wanted:
        return {}
    rows = session.exec(select(Account).where(col(Account.id).in_(wanted))).all()
    return {pk(a): a for a in rows}


def _opt(value: str | None) -> str | None:
    """Optional text: surrounding blanks dropped, empty means absent."""
    if value is None:
        return None
    value = value.strip()
    return value or None


def new_account(
    session: Session,
    actor: str,
    ref: str,
    *,
    case: str | None,
    display_name: str | None = None,
    url: str | None = None,
    kind: str | None = None,
    credibility: str | None = None,
    created_at: datetime | None = None,
    created_by: str | None = None,
    audit_extra: Mapping[str, Any] | None = None,
    notes: list[str] | None = None,
) -> Account:
    """Create an account inside the caller's write transaction, with its audit entry; on a
    platform verify does not know, its `unknown_platform_note` is appended to `notes`."""
    platform, handle = parse_account_ref(ref)
    check_text(display_name, url, credibility)
    if kind is None:
        kind_value = OFFLINE_KINDS.get(platform, AccountKind.UNKNOWN).value
    else:
        kind_value = parse_enum(AccountKind, kind, "account kind").value
    account = Account(
        platform=platform,
        handle=handle,
        display_name=_opt(display_name),
        url=_opt(url),
        kind=kind_value,
        credibility=_opt(credibility),
        created_at=created_at or now(),
        created_by=created_by or actor,
    )
    session.add(account)
    session.flush()
    payload = account_to_dict(account)
    del payload["created_at"], payload["created_by"]
    _audit(session, actor, "account.add", case, payload, audit_extra)
    said = unknown_platform_note(account.platform, account_ref(account))
    if notes is not None and said is not None:
        notes.append(said)
    return account


def _audit(
    session: Session,
    actor: str,
    action: str,
    case: str | None,
    payload: dict[str, Any],
    extra: Mapping[str, Any] | None,
) -> None:
    audit.append(
        session, actor=actor, action=action, case=case, payload={**payload, **(extra or {})}
    )


def ensure_account(
    session: Session, actor: str, ref: str, *, case: str | None, notes: list[str] | None = None
) -> Account:
    """The account named `ref`, created (kind from the platform) on first mention (`notes`:
    see `new_account`)."""
    return find_account(session, ref) or new_account(session, actor, ref, case=case, notes=notes)


def add_account(
    archive: Archive,
    ref: str,
    *,
    display_name: str | None = None,
    url: str | None = None,
    kind: str | None = None,
    credibility: str | None = None,
) -> dict[str, Any]:
    """Create an account; returns its dict, with `notes` (`unknown_platform_note`)."""
    with archive.write() as session:
        if (held := find_account(session, ref)) is not None:
            same = "" if account_ref(held) == ref.strip() else f" as {account_ref(held)!r}"
            raise BadInputError(
                f"account {ref!r} already exists{same}; change it with `verify prov account edit`"
            )
        notes: list[str] = []
        account = new_account(
            session,
            archive.actor,
            ref,
            case=None,
            display_name=display_name,
            url=url,
            kind=kind,
            credibility=credibility,
            notes=notes,
        )
        return {**account_to_dict(account), "notes": notes}


ACCOUNT_FIELDS = ("display_name", "url", "kind", "credibility")


def apply_account_changes(
    session: Session,
    actor: str,
    account: Account,
    values: Mapping[str, str | None],
    case: str | None,
    audit_extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Set the given fields; append one `account.edit` entry when anything changed."""
    check_text(*values.values())
    changes: dict[str, Any] = {}
    for name, raw in values.items():
        if name not in ACCOUNT_FIELDS:
            raise ValueError(f"not an account field: {name}")
        if name == "kind":
            new: str | None = parse_enum(AccountKind, raw or "", "account kind").value
        else:
            new = _opt(raw)
        old = getattr(account, name)
        if new != old:
            changes[name] = {"old": old, "new": new}
            setattr(account, name, new)
    if changes:
        session.add(account)
        payload = {"account": account_ref(account), **changes}
        _audit(session, actor, "account.edit", case, payload, audit_extra)
    return changes


def edit_account(
    archive: Archive,
    ref: str,
    *,
    display_name: str | None = None,
    url: str | None = None,
    kind: str | None = None,
    credibility: str | None = None,
) -> dict[str, Any]:
    """Change an account's descriptive fields (old and new values go to the audit trail)."""
    given = {
        k: v
        for k, v in {
            "display_name": display_name,
            "url": url,
            "kind": kind,
            "credibility": credibility,
        }.items()
        if v is not None
    }
    if not given:
        raise BadInputError("nothing to change: give --name, --url, --kind or --credibility")
    with archive.write() as session:
        account = get_account(session, ref)
        apply_account_changes(session, archive.actor, account, given, None)
        return account_to_dict(account)


# --------------------------------------------------------------------------- dates

_DATE_ONLY = re.compile(r"^(\d{4})(?:-(\d{2})(?:-(\d{2}))?)?$")
DATE_HELP = "use 2023-05-23, 2023-05-23T14:05Z, 2023-05-23T14:05+03:00 or ~2023-05"


def parse_posted(value: str) -> tuple[datetime, DatePrecision]:
    """A posted time and its precision.

    `2023-05-23` -> that day (precision day, stored as 00:00 UTC); `2023-05-23T14:05Z` or with
    an offset -> exact, converted to UTC (no offset means UTC); a leading `~` makes any form
    approximate; `2023-05` and `2023` are approximate (the first day of the month/year).
    """
    text = value.strip()
    approx = text.startswith("~")
    if approx:
        text = text[1:].strip()
    try:
        m = _DATE_ONLY.match(text)
        if m:
            y, mo, d = m.group(1), m.group(2), m.group(3)
            dt = datetime(int(y), int(mo or 1), int(d or 1), tzinfo=UTC)
            exact_day = d is not None and not approx
            return dt, DatePrecision.DAY if exact_day else DatePrecision.APPROXIMATE
        if "T" not in text and " " not in text:
            raise ValueError(text)
        dt = parse_utc(text)
    except ValueError:
        raise BadInputError(f"bad date {value!r}: {DATE_HELP}") from None
    return dt, DatePrecision.APPROXIMATE if approx else DatePrecision.EXACT


def parse_instant(value: str, what: str = "date") -> datetime:
    """An exact instant (ISO 8601; no offset means UTC; a bare date means 00:00 UTC)."""
    try:
        return parse_utc(value.strip())
    except ValueError:
        raise BadInputError(
            f"bad {what} {value!r}: use ISO 8601, e.g. 2023-05-24T09:00Z or 2023-05-24"
        ) from None


def appearance_problems(ap: Appearance, at: datetime | None = None) -> list[str]:
    """`date_problems` of a stored appearance, each as `appearance ID: ...`."""
    found = date_problems(ap.posted_at, ap.posted_precision, ap.captured_at, at or now())
    return [f"appearance {ap.id}: {p}" for p in found]


# --------------------------------------------------------------------------- appearances


def media_shas(session: Session, ids: Iterable[int | None]) -> dict[int, str]:
    """`sha256:<hex>` of each of these media files, in one query."""
    wanted = sorted({i for i in ids if i is not None})
    if not wanted:
        return {}
    rows = session.exec(
        select(Media.id, Blob.sha256)
        .join(Blob, col(Blob.id) == col(Media.blob_id))
        .where(col(Media.id).in_(wanted))
    ).all()
    return {m: f"sha256:{sha}" for m, sha in rows if m is not None}


def appearances_to_dicts(
    session: Session, appearances: Sequence[Appearance], case_slug: str
) -> list[dict[str, Any]]:
    """`appearance_to_dict` for many appearances, with two queries in all."""
    accounts = accounts_by_id(session, (ap.account_id for ap in appearances))
    shas = media_shas(session, (ap.media_id for ap in appearances))
    return appearance_dicts(appearances, case_slug, accounts, shas)


def appearance_to_dict(session: Session, ap: Appearance, case_slug: str) -> dict[str, Any]:
    return appearances_to_dicts(session, [ap], case_slug)[0]


def add_appearance(
    archive: Archive,
    case: str,
    *,
    platform: str | None = None,
    url: str | None = None,
    post_id: str | None = None,
    account: str | None = None,
    posted: str | None = None,
    captured: str | None = None,
    caption: str | None = None,
    language: str | None = None,
    forwarded_from: str | None = None,
    quoted_from: str | None = None,
    archive_url: str | None = None,
    media: str | None = None,
    note: str | None = None,
) -> dict[str, Any]:
    """Record one appearance; the platform defaults to the account's. Returns its dict, with
    `warnings`: what is impossible about its dates (`appearance_problems`; still recorded),
    and `notes`: about an account it created (`unknown_platform_note`)."""
    check_text(url, post_id, caption, language, forwarded_from, quoted_from, archive_url, note)
    posted_at, precision = parse_posted(posted) if posted else (None, DatePrecision.EXACT)
    captured_at = parse_instant(captured, "capture time") if captured else None
    platform, said = parse_platform(platform) if platform is not None else (None, None)
    with archive.write() as session:
        c = get_case(session, case)
        notes: list[str] = []
        acct = None
        if account:
            acct = ensure_account(session, archive.actor, account, case=c.slug, notes=notes)
        # one note for one typo: a new account on the same unknown platform has said it
        if said is not None and not (notes and acct is not None and acct.platform == platform):
            notes.insert(0, said)
        if platform is None:
            if acct is None or acct.platform in OFFLINE_KINDS:
                raise BadInputError(
                    "an appearance needs a platform: give --platform or a platform --account"
                )
            platform = acct.platform
        media_row = get_media(session, media, case_id=c.id) if media else None
        ap = Appearance(
            case_id=pk(c),
            media_id=media_row.id if media_row else None,
            platform=platform,
            url=_opt(url),
            post_id=_opt(post_id),
            account_id=acct.id if acct else None,
            posted_at=posted_at,
            posted_precision=precision.value,
            captured_at=captured_at,
            caption=_opt(caption),
            language=_opt(language),
            forwarded_from=_opt(forwarded_from),
            quoted_from=_opt(quoted_from),
            archive_url=_opt(archive_url),
            note=_opt(note),
            created_at=now(),
            created_by=archive.actor,
        )
        data = record_appearance(session, archive.actor, c.slug, ap)
        data["warnings"] = appearance_problems(ap, ap.created_at)
        data["notes"] = notes
        return data


_META = {"case", "created_at", "created_by", "media_sha256", "posted_at", "posted_precision"}


def record_appearance(
    session: Session,
    actor: str,
    case_slug: str,
    ap: Appearance,
    audit_extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Insert the new appearance `ap` with its `appearance.add` audit entry (the appearance's
    non-null fields, without case and created_*); returns `appearance_to_dict`."""
    session.add(ap)
    session.flush()
    data = appearance_to_dict(session, ap, case_slug)
    payload = {k: v for k, v in data.items() if v is not None and k not in _META}
    _audit(session, actor, "appearance.add", case_slug, payload, audit_extra)
    return data


# What `prov appearance edit` can set or clear: the model's columns, as its options name
# them (`account` and `media` take references; `posted` sets `posted_at` with its precision).
APPEARANCE_EDITABLE = (
    "platform",
    "account",
    "posted",
    "captured",
    "media",
    *APPEARANCE_TEXT_FIELDS,
)


# the columns an edit changes, as its options name them
_EDITED_AS = {
    "account_id": "account",
    "media_id": "media",
    "posted_at": "posted",
    "posted_precision": "posted",
    "captured_at": "captured",
}


def edit_appearance(
    archive: Archive,
    appearance_id: int,
    values: Mapping[str, str],
    *,
    clear: Iterable[str] = (),
    why: str,
) -> dict[str, Any]:
    """Correct a recorded appearance: set the fields in `values` (named as in
    `APPEARANCE_EDITABLE`, given as on `add_appearance`), empty those in `clear`, with the
    reason. One `appearance.edit` entry records, for each changed column, its old and new
    value (the shape a case file's import writes, which `verify check` replays), with `why`.
    Refused: an unknown field, a field both set and cleared, clearing the platform, a
    reason left empty, and an edit that changes nothing. Returns the appearance's dict
    with `changed` (the columns), `warnings` (its dates, `appearance_problems`) and `notes`
    (about a platform or account verify does not know)."""
    cleared = sorted(set(clear))
    for name in [*values, *cleared]:
        if name not in APPEARANCE_EDITABLE:
            raise BadInputError(
                f"cannot edit an appearance's {name!r}; use: {', '.join(APPEARANCE_EDITABLE)}"
            )
    if both := sorted(set(values) & set(cleared)):
        raise BadInputError(f"{', '.join(both)}: give a value or --clear, not both")
    if "platform" in cleared:
        raise BadInputError("an appearance needs a platform: give the right one instead")
    if not values and not cleared:
        raise BadInputError("nothing to change: give the fields to correct (see --help)")
    check_text(why, *values.values())
    if not why.strip():
        raise BadInputError("--why is empty: say why the appearance is corrected")
    wanted: dict[str, Any] = {}
    notes: list[str] = []
    said = None
    if "platform" in values:
        wanted["platform"], said = parse_platform(values["platform"])
    if "posted" in values:
        at, precision = parse_posted(values["posted"])
        wanted["posted_at"], wanted["posted_precision"] = at, precision.value
    if "captured" in values:
        wanted["captured_at"] = parse_instant(values["captured"], "capture time")
    for name in APPEARANCE_TEXT_FIELDS:
        if name in values:
            wanted[name] = _opt(values[name])
    for name in cleared:
        column = {"posted": "posted_at", "captured": "captured_at"}.get(name, name)
        wanted[{"account": "account_id", "media": "media_id"}.get(column, column)] = None
        if name == "posted":
            wanted["posted_precision"] = DatePrecision.EXACT.value
    with archive.write() as session:
        ap = session.get(Appearance, appearance_id)
        if ap is None:
            raise NotFoundError(
                f"no appearance {appearance_id}; `verify prov appearance list CASE` lists them"
            )
        c = session.exec(select(Case).where(Case.id == ap.case_id)).one()
        acct_platform = None
        if values.get("account"):
            acct = ensure_account(
                session, archive.actor, values["account"], case=c.slug, notes=notes
            )
            wanted["account_id"], acct_platform = acct.id, acct.platform
        if values.get("media"):
            wanted["media_id"] = get_media(session, values["media"], case_id=c.id).id
        # one note for one typo, as on `appearance add`
        if said is not None and not (notes and wanted.get("platform") == acct_platform):
            notes.insert(0, said)
        changes: dict[str, Any] = {}
        for column, new in wanted.items():
            old = getattr(ap, column)
            if isinstance(old, datetime) or isinstance(new, datetime):
                if (old and as_utc(old)) != (new and as_utc(new)):
                    changes[column] = {"old": iso(old), "new": iso(new)}
            elif old != new:
                changes[column] = {"old": old, "new": new}
            if column in changes:
                setattr(ap, column, new)
        if not changes:
            raise BadInputError(f"appearance {appearance_id} already has that; nothing to change")
        # its place in the case (`n`, as case files number appearances): one count
        n = session.exec(
            select(func.count())
            .select_from(Appearance)
            .where(Appearance.case_id == c.id, col(Appearance.id) <= ap.id)
        ).one()
        session.add(ap)
        session.flush()
        payload = {"id": ap.id, "n": n, **changes, "why": why.strip()}
        _audit(session, archive.actor, "appearance.edit", c.slug, payload, None)
        data = appearance_to_dict(session, ap, c.slug)
        data["changed"] = sorted({_EDITED_AS.get(column, column) for column in changes})
        data["warnings"] = appearance_problems(ap, now())
        data["notes"] = notes
        return data


def _appearances(session: Session, case: Case) -> list[Appearance]:
    """The case's appearances in id order, as recorded (case files list them in time
    order: `casefile._in_file_order`)."""
    return list(
        session.exec(
            select(Appearance).where(Appearance.case_id == case.id).order_by(col(Appearance.id))
        ).all()
    )


# --------------------------------------------------------------------------- attributions


def changes_by_attribution(
    session: Session, ids: Iterable[int]
) -> dict[int, list[AttributionChange]]:
    """Each attribution's state changes, oldest first (recording order), in one query."""
    wanted = sorted(set(ids))
    out: dict[int, list[AttributionChange]] = {i: [] for i in wanted}
    if not wanted:
        return out
    for ch in session.exec(
        select(AttributionChange)
        .where(col(AttributionChange.attribution_id).in_(wanted))
        .order_by(col(AttributionChange.id))
    ).all():
        out[ch.attribution_id].append(ch)
    return out


def attributions_to_dicts(
    session: Session, attributions: Sequence[Attribution], case_slug: str
) -> list[dict[str, Any]]:
    """`attribution_to_dict` for many attributions, with two queries in all."""
    accounts = accounts_by_id(session, (a.account_id for a in attributions))
    changes = changes_by_attribution(session, (pk(a) for a in attributions))
    return attribution_dicts(attributions, case_slug, accounts, changes)


def attribution_to_dict(session: Session, attr: Attribution, case_slug: str) -> dict[str, Any]:
    return attributions_to_dicts(session, [attr], case_slug)[0]


def parse_target(session: Session, case: Case, target: str | None) -> tuple[str, int | None]:
    """`case` (default), `media:ID|sha256:…` or `appearance:ID`, which must belong to the case."""
    if target is None or target.strip() == "case":
        return "case", None
    kind, _, ref = target.strip().partition(":")
    if kind == "media" and ref:
        return "media", pk(get_media(session, ref, case_id=case.id))
    if kind == "appearance" and ref.isdigit():
        ap = session.get(Appearance, int(ref))
        if ap is None or ap.case_id != case.id:
            raise NotFoundError(
                f"case {case.slug!r} has no appearance {ref}; "
                f"`verify prov appearance list {case.slug}` shows them"
            )
        return "appearance", pk(ap)
    raise BadInputError(
        f"bad target {target!r}: use case, media:ID (or media:sha256:PREFIX) or appearance:ID"
    )


# A finding on an attribution names what it rests on: what supports or contradicts it; a
# withdrawal, why the attribution was recorded in error.
EVIDENCE_NEEDED = {
    AttributionState.CORROBORATED: "what supports it",
    AttributionState.REFUTED: "what contradicts it",
    AttributionState.WITHDRAWN: "why it was recorded in error",
}


def missing_evidence(state: str, evidence: str | None) -> str | None:
    """What the evidence would have to say ("what supports it", …) when an attribution in
    `state` lacks it, else None: corroborated, refuted and withdrawn need evidence, here and
    in a case file's import."""
    if evidence and evidence.strip():
        return None
    return EVIDENCE_NEEDED.get(AttributionState(state))


def require_evidence(state: AttributionState, evidence: str | None) -> None:
    said = missing_evidence(state.value, evidence)
    if said is not None:
        source = (
            ""
            if state == AttributionState.WITHDRAWN
            else " (and --according-to: whose finding it is)"
        )
        raise BadInputError(f"{state.value} needs --evidence: {said}{source}")


def attribute(
    archive: Archive,
    case: str,
    role: str,
    actor: str,
    *,
    target: str | None = None,
    state: str = "claimed",
    evidence: str | None = None,
    according_to: str | None = None,
) -> dict[str, Any]:
    """Record that `actor` had `role` (e.g. subtitler) for the case, a media file or a post.
    Returns the attribution's dict, with `notes`: about an account it created
    (`unknown_platform_note`)."""
    role_v = parse_enum(Role, role, "role")
    state_v = parse_enum(AttributionState, state, "attribution state")
    if state_v == AttributionState.WITHDRAWN:
        raise BadInputError(
            "a new attribution cannot be withdrawn: one recorded in error is withdrawn "
            "with `verify prov attribution set ID --state withdrawn --evidence WHY`"
        )
    check_text(evidence, according_to)
    require_evidence(state_v, _opt(evidence))
    with archive.write() as session:
        c = get_case(session, case)
        target_type, target_id = parse_target(session, c, target)
        notes: list[str] = []
        acct = ensure_account(session, archive.actor, actor, case=c.slug, notes=notes)
        attr = record_attribution(
            session,
            archive.actor,
            c,
            role=role_v.value,
            account=acct,
            target_type=target_type,
            target_id=target_id,
            state=state_v.value,
            evidence=_opt(evidence),
            according_to=_opt(according_to),
        )
        return {**attribution_to_dict(session, attr, c.slug), "notes": notes}


def record_attribution(
    session: Session,
    actor: str,
    case: Case,
    *,
    role: str,
    account: Account,
    target_type: str,
    target_id: int | None,
    state: str,
    evidence: str | None,
    according_to: str | None,
    created_at: datetime | None = None,
    created_by: str | None = None,
    first_at: datetime | None = None,
    first_by: str | None = None,
    audit_extra: Mapping[str, Any] | None = None,
) -> Attribution:
    """Insert an attribution, its first state change and the `attribution.add` audit entry.

    Created now by `actor` unless `created_at`/`created_by` say otherwise; the first change
    is dated like the attribution unless `first_at`/`first_by` say otherwise (a case file
    may give both).
    """
    at = created_at or now()
    by = created_by or actor
    attr = Attribution(
        case_id=pk(case),
        role=role,
        account_id=pk(account),
        target_type=target_type,
        target_id=target_id,
        state=state,
        evidence=evidence,
        according_to=according_to,
        created_at=at,
        created_by=by,
        updated_at=at,
        updated_by=by,
    )
    session.add(attr)
    session.flush()
    session.add(
        AttributionChange(
            attribution_id=pk(attr),
            from_state=None,
            to_state=state,
            evidence=evidence,
            according_to=according_to,
            at=first_at or at,
            by=first_by or by,
        )
    )
    session.flush()
    payload = {
        "id": attr.id,
        "role": role,
        "actor": account_ref(account),
        "target": target_ref(attr),
        "state": state,
        "evidence": evidence,
        "according_to": according_to,
        # who recorded the first state and when, as its history row has them (for `check`)
        "by": first_by or by,
        "at": iso(first_at or at),
    }
    _audit(session, actor, "attribution.add", case.slug, payload, audit_extra)
    return attr


def record_attribution_change(
    session: Session,
    actor: str,
    attr: Attribution,
    case_slug: str,
    *,
    state: str,
    evidence: str | None,
    according_to: str | None,
    at: datetime | None = None,
    by: str | None = None,
    audit_extra: Mapping[str, Any] | None = None,
) -> AttributionChange:
    """Move `attr` to `state` with this evidence: append the change (now, by `actor`, unless
    `at`/`by` say otherwise), update the attribution, add the `attribution.set` entry."""
    old = attr.state
    change = AttributionChange(
        attribution_id=pk(attr),
        from_state=old,
        to_state=state,
        evidence=evidence,
        according_to=according_to,
        at=at or now(),
        by=by or actor,
    )
    session.add(change)
    attr.state, attr.evidence, attr.according_to = state, evidence, according_to
    attr.updated_at, attr.updated_by = change.at, change.by
    session.add(attr)
    session.flush()
    payload = {
        "id": attr.id,
        "from": old,
        "to": state,
        "evidence": evidence,
        "according_to": according_to,
        "by": change.by,  # as the history row has them (for `check`)
        "at": iso(change.at),
    }
    _audit(session, actor, "attribution.set", case_slug, payload, audit_extra)
    return change


def set_attribution_state(
    archive: Archive,
    attribution_id: int,
    state: str,
    *,
    evidence: str | None = None,
    according_to: str | None = None,
) -> dict[str, Any]:
    """Move an attribution to `state`, appending the change (the old state stays in history).

    A change of state carries the evidence and source given with it and nothing of the old
    state's (a refutation is never credited to whoever made the claim); a move to
    corroborated or refuted needs evidence. Given the state it already has, the change
    updates the evidence or source given and keeps the other."""
    state_v = parse_enum(AttributionState, state, "attribution state")
    check_text(evidence, according_to)
    with archive.write() as session:
        attr = session.get(Attribution, attribution_id)
        if attr is None:
            raise NotFoundError(
                f"no attribution {attribution_id}; `verify prov attributions CASE` lists them"
            )
        c = session.exec(select(Case).where(Case.id == attr.case_id)).one()
        if state_v.value != attr.state:  # a new state: only what was said with it
            new_evidence, new_according = _opt(evidence), _opt(according_to)
        else:
            new_evidence = _opt(evidence) if evidence is not None else attr.evidence
            new_according = _opt(according_to) if according_to is not None else attr.according_to
        require_evidence(state_v, new_evidence)
        if (state_v.value, new_evidence, new_according) == (
            attr.state,
            attr.evidence,
            attr.according_to,
        ):
            if evidence is None and according_to is None:
                raise BadInputError(
                    f"attribution {attribution_id} is already {attr.state}; nothing to change "
                    "(--evidence and --according-to update its evidence and source)"
                )
            raise BadInputError(
                f"attribution {attribution_id} is already {attr.state} with that evidence; "
                "nothing to change"
            )
        record_attribution_change(
            session,
            archive.actor,
            attr,
            c.slug,
            state=state_v.value,
            evidence=new_evidence,
            according_to=new_according,
        )
        return attribution_to_dict(session, attr, c.slug)


def _attributions(session: Session, case: Case) -> list[Attribution]:
    """The case's attributions in id order, as recorded (case files list them in time
    order: `casefile._in_file_order`)."""
    return list(
        session.exec(
            select(Attribution).where(Attribution.case_id == case.id).order_by(col(Attribution.id))
        ).all()
    )


# --------------------------------------------------------------------------- derivations


def parse_evidence(text: str | None) -> dict[str, Any] | None:
    """`--evidence`: a JSON object is kept as is; any other text becomes {"text": TEXT}."""
    if text is None or not text.strip():
        return None
    stripped = text.strip()
    if stripped.startswith("{"):
        try:
            value = orjson.loads(stripped)
        except orjson.JSONDecodeError as exc:
            raise BadInputError(f"bad evidence JSON: {exc}") from None
        if isinstance(value, dict):
            return value
    return {"text": stripped}


def json_strings(value: Any) -> list[str]:
    """Every string (keys included) in a JSON value, for the NUL check."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for k, v in value.items() for s in (k, *json_strings(v))]
    if isinstance(value, list):
        return [s for v in value for s in json_strings(v)]
    return []


def derivations_to_dicts(
    session: Session, derivations: Sequence[Derivation]
) -> list[dict[str, Any]]:
    """`derivation_to_dict` for many derivations, with one query in all."""
    shas = media_shas(session, (m for d in derivations for m in (d.child_id, d.parent_id)))
    return [
        {
            "id": d.id,
            "child": d.child_id,
            "child_sha256": shas.get(d.child_id),
            "parent": d.parent_id,
            "parent_sha256": shas.get(d.parent_id),
            "kind": d.kind,
            "evidence": d.evidence,
            "note": d.note,
            "created_at": iso(d.created_at),
            "created_by": d.created_by,
            "retracted": retracted(d.retracted_at, d.retracted_by, d.retraction),
        }
        for d in derivations
    ]


def derivation_to_dict(session: Session, d: Derivation) -> dict[str, Any]:
    return derivations_to_dicts(session, [d])[0]


def find_cycle(edges: dict[int, set[int]], child: int, parent: int) -> list[int] | None:
    """The path child -> parent -> ... -> child that adding edge child->parent would close.

    `edges` maps each media to the media it derives from (child -> parents).
    """
    if child == parent:
        return [child, child]
    previous: dict[int, int] = {}
    queue = deque([parent])
    seen = {parent}
    while queue:
        node = queue.popleft()
        for nxt in sorted(edges.get(node, ())):
            if nxt in seen:
                continue
            previous[nxt] = node
            if nxt == child:
                path = [child]
                while path[-1] != parent:
                    path.append(previous[path[-1]])
                return [child, *reversed(path)]
            seen.add(nxt)
            queue.append(nxt)
    return None


def derivation_edges(session: Session) -> dict[int, set[int]]:
    """child -> the media it derives from, by the derivations not retracted."""
    from verify.dbread import SqlAlchemyReader
    from verify.services.provread import STANDING_EDGES

    edges: dict[int, set[int]] = {}
    for child, parent in SqlAlchemyReader(session.connection()).rows(STANDING_EDGES):
        edges.setdefault(int(child), set()).add(int(parent))
    return edges


def derive(
    archive: Archive,
    child: str,
    parent: str,
    kind: str,
    *,
    evidence: str | dict[str, Any] | None = None,
    note: str | None = None,
) -> dict[str, Any]:
    """Record that media `child` is `kind` of media `parent` (e.g. subtitled_from)."""
    kind_v = parse_enum(DerivationKind, kind, "derivation kind")
    ev = evidence if isinstance(evidence, dict) else parse_evidence(evidence)
    ev = ev or None  # an empty object says nothing
    check_text(note, *json_strings(ev))
    with archive.write() as session:
        c_media = get_media(session, child)
        p_media = get_media(session, parent)
        c_id, p_id = pk(c_media), pk(p_media)
        if c_id == p_id:
            raise BadInputError(f"media {c_id} cannot derive from itself")
        cycle = find_cycle(derivation_edges(session), c_id, p_id)
        if cycle:
            path = " -> ".join(f"media {m}" for m in cycle)
            raise BadInputError(f"refusing a derivation cycle: {path}")
        dup = session.exec(
            select(Derivation).where(
                Derivation.child_id == c_id,
                Derivation.parent_id == p_id,
                Derivation.kind == kind_v.value,
            )
        ).first()
        if dup is not None:
            taken_back = " and retracted" if dup.retracted_at is not None else ""
            raise BadInputError(
                f"already recorded{taken_back}: derivation {dup.id} ({kind_v} {c_id} <- {p_id})"
            )
        case = session.get(Case, c_media.case_id)
        d = record_derivation(
            session,
            archive.actor,
            case.slug if case else None,
            child_id=c_id,
            parent_id=p_id,
            kind=kind_v.value,
            evidence=ev,
            note=_opt(note),
        )
        return derivation_to_dict(session, d)


def record_derivation(
    session: Session,
    actor: str,
    case_slug: str | None,
    *,
    child_id: int,
    parent_id: int,
    kind: str,
    evidence: dict[str, Any] | None,
    note: str | None,
    created_at: datetime | None = None,
    created_by: str | None = None,
    audit_extra: Mapping[str, Any] | None = None,
) -> Derivation:
    """Insert a derivation (checked by the caller: no self-link, cycle or duplicate) with
    its `derivation.add` audit entry; recorded now by `actor` unless told otherwise."""
    d = Derivation(
        child_id=child_id,
        parent_id=parent_id,
        kind=kind,
        evidence=evidence,
        note=note,
        created_at=created_at or now(),
        created_by=created_by or actor,
    )
    session.add(d)
    session.flush()
    data = derivation_to_dict(session, d)
    payload = {k: data[k] for k in ("id", "child", "child_sha256", "parent", "parent_sha256")}
    payload |= {"kind": kind, "evidence": evidence, "note": note}
    _audit(session, actor, "derivation.add", case_slug, payload, audit_extra)
    return d


def retract_derivation(archive: Archive, ident: int, why: str) -> dict[str, Any]:
    """Take back derivation `ident` (a wrong media id, a mistaken kind): it stays on record,
    with who, when and why, and is left out of reasoning from then on. Append-only: a
    retraction is never undone."""
    why = why.strip()
    if not why:
        raise BadInputError("a retraction needs --why: what was wrong with the derivation")
    check_text(why)
    with archive.write() as session:
        d = session.get(Derivation, ident)
        if d is None:
            raise NotFoundError(f"no derivation {ident} (see `verify prov derivations CASE`)")
        if d.retracted_at is not None:
            raise BadInputError(
                f"derivation {ident} was already retracted by {d.retracted_by} at "
                f"{iso(d.retracted_at)}: {d.retraction}"
            )
        child = session.get(Media, d.child_id)
        case = session.get(Case, child.case_id) if child is not None else None
        record_retraction(session, archive.actor, case.slug if case else None, d, why)
        return derivation_to_dict(session, d)


def record_retraction(
    session: Session,
    actor: str,
    case_slug: str | None,
    d: Derivation,
    why: str,
    *,
    at: datetime | None = None,
    by: str | None = None,
    audit_extra: Mapping[str, Any] | None = None,
) -> None:
    """Mark `d` retracted (checked by the caller: not already) with its `derivation.retract`
    audit entry; now by `actor` unless told otherwise (an import keeps the file's)."""
    d.retracted_at, d.retracted_by, d.retraction = at or now(), by or actor, why
    session.add(d)
    session.flush()
    payload = {"id": d.id, "child": d.child_id, "parent": d.parent_id, "kind": d.kind}
    _audit(session, actor, "derivation.retract", case_slug, payload | {"why": why}, audit_extra)


def _case_media_ids(session: Session, case: Case) -> list[int]:
    """The ids of the case's media, in order."""
    return [
        m
        for m in session.exec(
            select(Media.id).where(Media.case_id == case.id).order_by(col(Media.id))
        ).all()
        if m is not None
    ]


def _case_derivations(session: Session, case: Case) -> list[Derivation]:
    """Derivations with either end in the case, in id order (case files list them in time
    order: `casefile._in_file_order`)."""
    ids = _case_media_ids(session, case)
    if not ids:
        return []
    return list(
        session.exec(
            select(Derivation)
            .where(or_(col(Derivation.child_id).in_(ids), col(Derivation.parent_id).in_(ids)))
            .order_by(col(Derivation.id))
        ).all()
    )
