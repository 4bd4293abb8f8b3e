"""Resolving user references: media (a numeric id `12` or a unique `sha256:` prefix) and cases
(a slug, in any letter case; a slug that names none suggests the close ones).

Each resolver exists over an ORM session (`get_media`, `get_case` in services.cases) and over
plain SQL rows (`media_row`, `case_id`, for the ORM-free search path in `verify.dbread`);
the parsing, the choice among candidates and every error message are shared.
"""

import difflib
import os
import re
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from verify.dbread import Reader
from verify.errors import BadInputError, NotFoundError

if TYPE_CHECKING:
    from sqlmodel import Session

    from verify.models import Media

MIN_PREFIX = 6
SLUG_RE = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,78}[a-z0-9])?$")


def check_slug(slug: str) -> str:
    """`slug` as a new case's reference, or BadInputError saying what a slug is."""
    if not SLUG_RE.match(slug):
        raise _bad_slug(slug)
    return slug


def _bad_slug(ref: str) -> BadInputError:
    if os.path.lexists(ref) and ("." in ref or os.sep in ref):
        # `verify media add clip.mp4 my-case`: the file where the case goes
        return BadInputError(
            f"bad case reference {ref!r}: that is a file; the case comes first "
            "(e.g. `verify media add CASE FILE...`)"
        )
    return BadInputError(
        f"bad case reference {ref!r}: a slug is 1-80 lowercase letters, digits and "
        "hyphens, starting and ending with a letter or digit"
    )


def case_slug(ref: str) -> str:
    """The slug a case reference names: slugs are lowercase, so `Drone-Strike-2024` names
    `drone-strike-2024`. BadInputError for what cannot name a case."""
    slug = ref.lower()
    if not SLUG_RE.match(slug):
        raise _bad_slug(ref)
    return slug


MAX_SUGGESTIONS = 3


def close_slugs(ref: str, slugs: Iterable[str]) -> list[str]:
    """The slugs a reference that names no case may have meant: the one slug it begins
    (`drone-strike` for `drone-strike-kherson-2024`), else up to MAX_SUGGESTIONS close
    spellings (difflib), closest first."""
    slug = ref.lower()
    known = sorted(set(slugs))
    prefixed = [s for s in known if s.startswith(slug)]
    if len(prefixed) == 1:
        return prefixed
    return difflib.get_close_matches(slug, known, n=MAX_SUGGESTIONS)


def no_case(ref: str, slugs: Iterable[str] = ()) -> NotFoundError:
    """No case `ref`: the slugs among `slugs` it may have meant, else where to look."""
    close = close_slugs(ref, slugs)
    if not close:
        return NotFoundError(f"no case {ref!r}; `verify case list` shows the cases")
    meant = close[0] if len(close) == 1 else f"{', '.join(close[:-1])} or {close[-1]}"
    return NotFoundError(f"no case {ref!r}; did you mean {meant}?")


def case_id(db: Reader, ref: str) -> int:
    """The id of the case `ref` names (`case_slug`), or NotFoundError naming the next step."""
    rows = db.rows("SELECT id FROM cases WHERE slug = :slug", {"slug": case_slug(ref)})
    if not rows:
        raise no_case(ref, (str(r[0]) for r in db.rows("SELECT slug FROM cases")))
    return int(rows[0][0])


def _parse_media_ref(ref: str) -> int | str:
    """A media id, or the lowercase hex prefix of a `sha256:` reference."""
    if ref.isascii() and ref.isdigit():
        if int(ref) > 2**63 - 1:  # beyond any row id (SQLite would overflow)
            raise _no_media_id(ref)
        return int(ref)
    prefix = ref.removeprefix("sha256:").lower()
    if (
        not ref.startswith("sha256:")
        or len(prefix) < MIN_PREFIX
        or any(c not in "0123456789abcdef" for c in prefix)
    ):
        raise BadInputError(
            f"bad media reference {ref!r}: use a media id (e.g. 12) or sha256: and at least "
            f"{MIN_PREFIX} hex digits"
        )
    return prefix


def _no_media_id(ref: str) -> NotFoundError:
    return NotFoundError(f"no media {ref}; `verify media list CASE` shows media ids")


def _pick(ref: str, found: list[tuple[int, int]]) -> int:
    """The one media among (media id, blob id) rows, in media id order, matching a prefix."""
    if not found:
        raise NotFoundError(f"no media with hash {ref}")
    if len({blob for _, blob in found}) > 1:
        raise BadInputError(f"media reference {ref} is ambiguous; give more hex digits")
    if len(found) > 1:
        ids = ", ".join(str(m) for m, _ in found)
        raise BadInputError(f"{ref} is held as several media ({ids}); use the media id instead")
    return found[0][0]


def get_media(session: "Session", ref: str, *, case_id: int | None = None) -> "Media":
    """The media a user means by `ref`.

    `12` is media id 12. `sha256:ab12cd…` (at least 6 hex digits) is the media whose file has
    that hash prefix; when the same bytes are in several cases, pass `case_id` or use the id.
    """
    from sqlmodel import col, select

    from verify.models import Blob, Media

    ref = ref.strip()
    parsed = _parse_media_ref(ref)
    if isinstance(parsed, int):
        media = session.get(Media, parsed)
        if media is None:
            raise _no_media_id(ref)
        if case_id is not None and media.case_id != case_id:
            from verify.models import Case

            held = session.get(Case, media.case_id)
            here = session.get(Case, case_id)
            raise NotFoundError(
                f"media {ref} is in case {held.slug if held else '?'}, not in "
                f"{here.slug if here else 'this case'}; `verify media list CASE` shows a "
                "case's media (the same bytes can be added to this case too)"
            )
        return media
    query = (
        select(Media)
        .join(Blob, col(Blob.id) == col(Media.blob_id))
        .where(col(Blob.sha256).startswith(parsed))
        .order_by(col(Media.id))
    )
    if case_id is not None:
        query = query.where(Media.case_id == case_id)
    found = session.exec(query).all()
    by_id = {m.id: m for m in found}
    return by_id[_pick(ref, [(m.id or 0, m.blob_id) for m in found])]


_MEDIA_ROW = (
    "SELECT m.id, m.blob_id, m.case_id, b.sha256, b.kind "
    "FROM media m LEFT JOIN blobs b ON b.id = m.blob_id "
)


def media_row(db: Reader, ref: str) -> tuple[Any, ...]:
    """`get_media` over plain SQL: (media id, blob id, case id, blob sha256, blob kind); the
    blob columns are None when the blob row is missing."""
    ref = ref.strip()
    parsed = _parse_media_ref(ref)
    if isinstance(parsed, int):
        rows = db.rows(_MEDIA_ROW + "WHERE m.id = :id", {"id": parsed})
        if not rows:
            raise _no_media_id(ref)
        return rows[0]
    rows = db.rows(
        _MEDIA_ROW + "WHERE b.sha256 LIKE :prefix ORDER BY m.id", {"prefix": parsed + "%"}
    )
    chosen = _pick(ref, [(int(r[0]), int(r[1])) for r in rows])
    return next(r for r in rows if r[0] == chosen)
