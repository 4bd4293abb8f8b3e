"""Test helper: put Blob + Media rows in an archive directly, without analysis.

No bytes go to the evidence store: provenance and case files only need the rows. The media
row and its `media.add` audit entry are written as `verify media add` writes them;
`analysed` gives a blob the metadata an analysis would have stored.
"""

import hashlib
import json
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import text
from sqlmodel import select

from verify.archive import Archive, open_archive
from verify.models import Blob, Media, pk
from verify.services.cases import get_case
from verify.services.intake import Acquisition
from verify.services.media import record_media

ACQUIRED = datetime(2023, 5, 24, 9, 0, tzinfo=UTC)


def sha_of(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()


def ensure_blob(archive: Archive, sha256: str, size: int = 1) -> int:
    """A Blob row for these bytes (no object in the store)."""
    with archive.write() as session:
        blob = session.exec(select(Blob).where(Blob.sha256 == sha256)).first()
        if blob is None:
            blob = Blob(sha256=sha256, size=size, stored_at=ACQUIRED)
            session.add(blob)
            session.flush()
        return pk(blob)


def add_media(
    archive: Archive,
    case: str,
    name: str,
    content: bytes | None = None,
    *,
    sha256: str | None = None,
    acquired_at: datetime = ACQUIRED,
    acquired_by: str = "tester",
    via: str | None = None,
    source_url: str | None = None,
) -> int:
    """A media row in `case` for `content` (or a given sha256); returns the media id."""
    sha = sha256 or sha_of(content if content is not None else name.encode())
    ensure_blob(archive, sha)
    with archive.write() as session:
        c = get_case(session, case)
        blob = session.exec(select(Blob).where(Blob.sha256 == sha)).one()
        acq = Acquisition(
            original_name=name,
            source_url=source_url,
            acquired_via=via,
            acquired_by=acquired_by,
            acquired_at=acquired_at,
        )
        return record_media(session, archive.actor, c, blob, acq)


def analysed(
    archive: Archive, media: int, meta: dict[str, object] | None, kind: str = "image"
) -> None:
    """Give a media file's blob the metadata an analysis would have stored (None: failed)."""
    with archive.write() as session:
        m = session.get(Media, media)
        assert m is not None
        blob = session.get(Blob, m.blob_id)
        assert blob is not None
        blob.meta, blob.kind = meta, kind
        blob.analysis_state = "ok" if meta is not None else "analysis_failed"
        session.add(blob)


def set_pipeline(home: Path, media: int, pipeline: str) -> None:
    """As an older version leaves a file: the hashing recipe (`pipeline`) of media `media`'s
    bytes, and the archive's sidecar index marked as built from that recipe's frames."""
    archive = open_archive(home, actor="tester")
    try:
        with archive.engine.execution_options(verify_write=True).begin() as conn:
            conn.execute(
                text(
                    "UPDATE blobs SET pipeline = :p "
                    "WHERE id = (SELECT blob_id FROM media WHERE id = :m)"
                ),
                {"p": pipeline, "m": media},
            )
    finally:
        archive.close()
    manifest = home / "index" / "frames-v1.json"
    data = json.loads(manifest.read_text())
    data["pipeline"] = pipeline
    manifest.write_text(json.dumps(data))
