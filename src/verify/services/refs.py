"""Resolving user references to media: a numeric id (`12`) or a unique `sha256:` prefix."""

from sqlmodel import Session, col, select

from verify.errors import BadInputError, NotFoundError
from verify.models import Blob, Media

MIN_PREFIX = 6


def get_media(session: Session, ref: str, *, case_id: int | None = None) -> Media:
    """The media a user means by `ref`.

    `12` is media id 12. `sha256:ab12cd…` (at least 6 hex digits) is the media whose file has
    that hash prefix; when the same bytes are in several cases, pass `case_id` or use the id.
    """
    ref = ref.strip()
    if ref.isdigit():
        media = session.get(Media, int(ref))
        if media is None or (case_id is not None and media.case_id != case_id):
            raise NotFoundError(f"no media {ref}; `verify media list CASE` shows media ids")
        return media
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
    query = (
        select(Media)
        .join(Blob, col(Blob.id) == col(Media.blob_id))
        .where(col(Blob.sha256).startswith(prefix))
        .order_by(col(Media.id))
    )
    if case_id is not None:
        query = query.where(Media.case_id == case_id)
    found = session.exec(query).all()
    if not found:
        raise NotFoundError(f"no media with hash {ref}")
    if len({m.blob_id for m in found}) > 1:
        raise BadInputError(f"media reference {ref} is ambiguous; give more hex digits")
    if len(found) > 1:
        ids = ", ".join(str(m.id) for m in found)
        raise BadInputError(
            f"{ref} is held in several cases (media {ids}); use the media id instead"
        )
    return found[0]
