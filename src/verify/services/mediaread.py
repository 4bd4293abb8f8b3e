"""`verify media list`, `media show` and `media frames` (the listing) without the ORM:
read through `verify.dbread` (stdlib sqlite3 for a SQLite archive at the current schema,
SQLAlchemy Core otherwise), as `verify.services.caselist` reads cases, so that these reads
do not pay SQLModel's import (about 0.4 s of a 0.7 s call).

The stored forms differ by backend and are normalised here: SQLite keeps times as
`YYYY-MM-DD HH:MM:SS.ffffff` UTC text, booleans as 0/1 and JSON as text (`null` for none);
PostgreSQL gives aware datetimes, booleans and decoded JSONB. A test compares the result
with the ORM's reading of the same rows on both backends.
"""

import json
import os
import stat
from pathlib import Path
from typing import Any

from verify.analysis import hex64
from verify.dbread import Reader, Source
from verify.errors import BadInputError, VerifyError
from verify.services.refs import case_id, media_row
from verify.store import ObjectStore
from verify.timeutil import stored_iso

_MEDIA_COLUMNS = (
    "m.id, m.original_name, m.label, m.source_url, m.platform, m.acquired_via, "
    "m.acquired_by, m.acquired_at, b.id, b.sha256, b.size, b.kind, b.mime, "
    "b.analysis_state, b.analysis_error, b.pipeline, b.analysis_mode, b.meta, c.slug "
    "FROM media m JOIN blobs b ON b.id = m.blob_id JOIN cases c ON c.id = m.case_id "
)
_CASE_MEDIA = f"SELECT {_MEDIA_COLUMNS}WHERE m.case_id = :case ORDER BY m.id"
_ONE_MEDIA = f"SELECT {_MEDIA_COLUMNS}WHERE m.id = :id"
# frames counted by the database, not loaded: a case's listing reads no hashes
_FRAME_COUNTS = (
    "SELECT blob_id, COUNT(*) FROM frames "
    "WHERE blob_id IN (SELECT blob_id FROM media WHERE case_id = :case) GROUP BY blob_id"
)
_FRAMES = (
    "SELECT idx, pts, phash, dhash, phash_masked, dhash_masked, pdq, pdq_quality, "
    "informative, scene_change FROM frames WHERE blob_id = :blob ORDER BY idx"
)


def analysis_failed(media_id: int, reason: str | None, verify: str) -> BadInputError:
    """Why a media file has no sampled frames to list or export: its analysis failed (the
    recorded reason), and the command that tries again (`verify`: how to call verify for
    this archive, `services.intake.verify_command`)."""
    return BadInputError(
        f"media {media_id} has no sampled frames: its analysis failed: {reason} "
        f"(`{verify} media reanalyse {media_id}` retries it)"
    )


def list_media(source: Source, case_ref: str) -> list[dict[str, Any]]:
    """A case's media files, in id order, without their frames (`frame_count` only)."""
    with source.reader() as db:
        cid = case_id(db, case_ref)
        rows = db.rows(_CASE_MEDIA, {"case": cid})
        counts = {int(b): int(n) for b, n in db.rows(_FRAME_COUNTS, {"case": cid})}
    return [_media(row, counts.get(int(row[8]), 0)) for row in rows]


def show_media(source: Source, ref: str) -> dict[str, Any]:
    """The media a user means by `ref` (`refs.media_row`): custody facts, metadata and
    sampled frames, with `stored` (where the preserved bytes are, read-only) and
    `in_store` (whether they are there: a colleague's home may be another folder)."""
    with source.reader() as db:
        media_id = int(media_row(db, ref)[0])
        found = db.rows(_ONE_MEDIA, {"id": media_id})
        if not found:  # the inner joins dropped it: a dangling blob or case id
            raise VerifyError(f"media {media_id} refers to a missing blob or case")
        [row] = found
        frames = _frames(db, int(row[8]))
    out = _media(row, len(frames))
    out["frames"] = frames
    path = shown_path(ObjectStore(source.home / "objects").path_for(str(row[9])))
    out["stored"] = str(path)
    try:
        out["in_store"] = stat.S_ISREG(os.lstat(path).st_mode)
    except OSError:  # not there, or a folder on the way this user may not read
        out["in_store"] = False
    return out


def shown_path(path: Path) -> Path:
    """`path` as a user should read it: absolute and normalised (`/tmp/x/work/../home` ->
    `/tmp/x/home`, `os.path.abspath`), symbolic links left as they are. Only where a `..`
    follows a symbolic link does the normalised path name another place (the system goes up
    from the link's target): the path is then kept as it was, made absolute."""
    absolute = path.absolute()
    normal = Path(os.path.abspath(absolute))
    if normal == absolute or os.path.realpath(normal) == os.path.realpath(absolute):
        return normal
    return absolute


def _media(row: tuple[Any, ...], frame_count: int) -> dict[str, Any]:
    (
        media_id,
        original_name,
        label,
        source_url,
        platform,
        acquired_via,
        acquired_by,
        acquired_at,
        _blob_id,
        sha256,
        size,
        kind,
        mime,
        analysis,
        analysis_error,
        pipeline,
        analysis_mode,
        meta,
        case_slug,
    ) = row
    return {
        "id": int(media_id),
        "case": case_slug,
        "sha256": f"sha256:{sha256}",
        "size": int(size),
        "kind": kind,
        "mime": mime,
        "original_name": original_name,
        "label": label,
        "source_url": source_url,
        "platform": platform,
        "acquired_via": acquired_via,
        "acquired_by": acquired_by,
        "acquired_at": stored_iso(acquired_at),
        "analysis": analysis,
        "analysis_error": analysis_error,
        "pipeline": pipeline,
        "analysis_mode": analysis_mode,
        "metadata": _json_object(meta),
        "frame_count": frame_count,
    }


def _json_object(value: Any) -> dict[str, Any]:
    """A JSON column as a dict: SQLite's text (`null` when none was stored), PostgreSQL's
    decoded JSONB, or SQL NULL."""
    if isinstance(value, (str, bytes)):
        value = json.loads(value)
    return dict(value or {})


def _frames(db: Reader, blob_id: int) -> list[dict[str, Any]]:
    return [
        {
            "index": int(idx),
            "pts": round(float(pts), 6),
            "phash": hex64(int(phash)),
            "dhash": hex64(int(dhash)),
            "phash_masked": None if phash_masked is None else hex64(int(phash_masked)),
            "dhash_masked": None if dhash_masked is None else hex64(int(dhash_masked)),
            "pdq": bytes(pdq).hex() if pdq is not None else None,
            "pdq_quality": None if pdq_quality is None else int(pdq_quality),
            "informative": bool(informative),
            "scene_change": bool(scene_change),
        }
        for (
            idx,
            pts,
            phash,
            dhash,
            phash_masked,
            dhash_masked,
            pdq,
            pdq_quality,
            informative,
            scene_change,
        ) in db.rows(_FRAMES, {"blob": blob_id})
    ]
