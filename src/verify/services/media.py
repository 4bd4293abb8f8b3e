"""Evidence intake: preserve a file, analyse it in a child process, record custody facts.

Order of operations per file (never hashing or decoding inside a write transaction):
1. stream the file once into the content-addressed store (SHA-256 while copying; regular
   files only) — refused files stop here, nothing written;
2. if these bytes were never analysed, analyse the *stored* object (immutable) in a child
   process with time and memory limits;
3. one short write transaction: the blob (with metadata and frame hashes, or
   `analysis_failed` and the reason), the media row (who acquired it, when, from where,
   how) and the audit entry.
A file that cannot be parsed is still preserved: chain of custody comes first.
"""

import os
import shutil
import tempfile
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeGuard

from sqlmodel import Session, col, func, or_, select

from verify import audit
from verify.analysis import AnalysisResult, FrameHash, hex64, to_signed64
from verify.archive import Archive
from verify.errors import AnalysisError, BadInputError, VerifyError
from verify.models import Blob, Case, Frame, Media, pk
from verify.services.cases import get_case
from verify.services.refs import get_media
from verify.store import StoredObject
from verify.timeutil import iso, now
from verify.vocab import AnalysisState

if TYPE_CHECKING:
    from verify.analysis.sandbox import AnalysisPool


@dataclass
class AddResult:
    """What happened to one file given to `add_media`."""

    path: str
    media_id: int | None = None
    blob_id: int | None = None  # the stored file's row (not part of the JSON output)
    sha256: str | None = None
    size: int | None = None
    kind: str | None = None
    frames: int = 0
    analysis: str | None = None  # ok | analysis_failed
    error: str | None = None  # refusal or analysis failure, one line
    already_stored: bool = False
    exact_copies: list[dict[str, Any]] = field(default_factory=list)
    near_duplicates: list[dict[str, Any]] = field(default_factory=list)

    @property
    def failed(self) -> bool:
        return self.error is not None

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "media": self.media_id,
            "sha256": f"sha256:{self.sha256}" if self.sha256 else None,
            "size": self.size,
            "kind": self.kind,
            "frames": self.frames,
            "analysis": self.analysis,
            "error": self.error,
            "already_stored": self.already_stored,
            "exact_copies": self.exact_copies,
            "near_duplicates": self.near_duplicates,
        }


Progress = Callable[[int, int, AddResult], None]


def frame_rows(blob_id: int, frames: list[FrameHash]) -> list[Frame]:
    """The stored rows of one file's sampled frames (hashes as signed 64-bit integers)."""
    return [
        Frame(
            blob_id=blob_id,
            idx=f.idx,
            pts=f.pts,
            phash=to_signed64(f.phash),
            dhash=to_signed64(f.dhash),
            phash_masked=None if f.phash_masked is None else to_signed64(f.phash_masked),
            dhash_masked=None if f.dhash_masked is None else to_signed64(f.dhash_masked),
            pdq=f.pdq,
            pdq_quality=f.pdq_quality,
            informative=f.informative,
            scene_change=f.scene_change,
        )
        for f in frames
    ]


def without_frames(outcome: AnalysisResult | AnalysisError | None) -> AnalysisError | None:
    """An image or video whose analysis sampled no frame at all is a failed analysis: there
    is nothing to compare it with, and recording it as ok would read as "never seen"."""
    if (
        isinstance(outcome, AnalysisResult)
        and outcome.kind in ("image", "video")
        and not outcome.frames
    ):
        return AnalysisError(
            f"could not sample any frame of this {outcome.kind} (no decodable frames)"
        )
    return None


def analysis_mode(outcome: AnalysisResult, fast: bool) -> str:
    """ "keyframes" for a video hashed with `--fast` (keyframes only), else "full"."""
    return "keyframes" if fast and outcome.kind == "video" else "full"


def _exact_copies(session: Session, blob_id: int, exclude_media: int) -> list[dict[str, Any]]:
    rows = session.exec(
        select(Media, Case)
        .join(Case, col(Case.id) == col(Media.case_id))
        .where(Media.blob_id == blob_id, Media.id != exclude_media)
        .order_by(col(Media.id))
    ).all()
    return [{"case": c.slug, "media": m.id, "original_name": m.original_name} for m, c in rows]


def add_media(
    archive: Archive,
    case_ref: str,
    paths: list[str],
    *,
    source_url: str | None = None,
    platform: str | None = None,
    acquired_via: str | None = None,
    label: str | None = None,
    fast: bool = False,
    search: bool = True,
    progress: Progress | None = None,
    pools: "list[AnalysisPool] | None" = None,
) -> list[AddResult]:
    """Preserve and analyse each file; one `AddResult` per path, in order.

    Per-file problems (refused file, analysis failure) are reported in the result, not
    raised, so that one bad file among twenty does not stop the other nineteen. An unknown
    case is raised at once, before anything is stored.

    All files are preserved first; then the new bytes are analysed by a pool of limited
    child processes (`verify.analysis.sandbox.analyse_many`; `pools`, already started, are
    used first and closed), and each file's rows are written in its own short transaction
    as its analysis arrives, in input order.
    """
    from verify.analysis.sandbox import analyse_many, analysis_workers

    with archive.read() as session:
        case_slug = get_case(session, case_ref).slug
    results = [AddResult(path=p) for p in paths]
    stored: dict[int, StoredObject] = {}
    for i, result in enumerate(results):
        try:
            kept = archive.store.put_file(result.path)
        except BadInputError as exc:
            result.error = exc.message
            continue
        stored[i] = kept
        result.sha256, result.size = kept.sha256, kept.size
    with archive.read() as session:
        shas = sorted({o.sha256 for o in stored.values()})
        done = (
            set(
                session.exec(
                    select(Blob.sha256).where(
                        col(Blob.sha256).in_(shas), Blob.analysis_state != AnalysisState.PENDING
                    )
                ).all()
            )
            if shas
            else set()
        )
    pending: list[str] = []
    for kept in stored.values():
        if kept.sha256 not in done and str(kept.path) not in pending:
            pending.append(str(kept.path))
    analyses = analyse_many(pending, fast=fast, workers=analysis_workers(), pools=pools)
    if search and pending:
        # the near-duplicate search needs numpy and the index code: import them while this
        # thread only waits for the analysis children
        threading.Thread(target=_import_search, name="verify-import", daemon=True).start()
    got: dict[str, AnalysisResult | AnalysisError] = {}
    neighbours = _Neighbours(archive)
    try:
        for i, result in enumerate(results):
            obj = stored.get(i)
            if obj is not None:
                key = str(obj.path)
                while key in pending and key not in got:
                    path, arrived = next(analyses)
                    got[path] = arrived
                _record(
                    archive,
                    case_slug,
                    obj,
                    result,
                    got.get(key),
                    source_url=source_url,
                    platform=platform,
                    acquired_via=acquired_via,
                    label=label,
                    fast=fast,
                )
                if search and result.analysis == AnalysisState.OK:
                    result.near_duplicates = neighbours.of(result)
            if progress:
                progress(i + 1, len(results), result)
    finally:
        analyses.close()  # stops the pools, also when a write above failed
    return results


def _import_search() -> None:
    import verify.services.search  # noqa: F401 - imported for its side effect (warm-up)


class _Neighbours:
    """Near-duplicate search for the files of one `add_media` call. The frame index is
    loaded once; the frames recorded since are read by primary key into a second, small
    index. (Loading per file appended to, and so copied, the whole index every time: about
    0.09 s a file with 1M stored frames.)"""

    def __init__(self, archive: Archive) -> None:
        self.archive = archive
        self.parts: list[Any] = []  # [the index as loaded, the frames added since]

    def of(self, result: AddResult) -> list[dict[str, Any]]:
        from verify.index import frames_after, load_index
        from verify.services import search

        assert result.blob_id is not None  # set by _record
        if not self.parts:
            self.parts = [load_index(self.archive)]
        else:
            with self.archive.reader() as db:
                new = frames_after(db, self.parts[-1].max_id)
            if new.size:
                self.parts = [
                    self.parts[0],
                    self.parts[1].extended(new) if len(self.parts) > 1 else new,
                ]
        hits: list[dict[str, Any]] = search.near_duplicates_of_blob(
            self.archive, result.blob_id, indexes=self.parts
        )
        return hits


def _record(
    archive: Archive,
    case_slug: str,
    stored: StoredObject,
    result: AddResult,
    outcome: AnalysisResult | AnalysisError | None,
    *,
    source_url: str | None,
    platform: str | None,
    acquired_via: str | None,
    label: str | None,
    fast: bool = False,
) -> None:
    """One short write transaction: blob (if new), frames, media row, audit entry."""
    raw_path = result.path
    name = os.path.basename(os.fspath(raw_path)) or os.fspath(raw_path)
    with archive.write() as session:
        case = get_case(session, case_slug)
        blob = session.exec(select(Blob).where(Blob.sha256 == stored.sha256)).first()
        result.already_stored = blob is not None
        if blob is None or blob.analysis_state == AnalysisState.PENDING:
            blob = blob or Blob(sha256=stored.sha256, size=stored.size, stored_at=now())
            _apply_outcome(blob, outcome, fast)
            session.add(blob)
            session.flush()
            if _analysed_ok(outcome):
                session.add_all(frame_rows(pk(blob), outcome.frames))
        media, frame_count = record_media(
            session,
            archive.actor,
            case,
            blob,
            original_name=name,
            label=label,
            source_url=source_url,
            platform=platform,
            acquired_via=acquired_via,
        )
        result.media_id, result.blob_id = media.id, pk(blob)
        result.kind = blob.kind
        result.frames = frame_count
        result.analysis = blob.analysis_state
        result.exact_copies = _exact_copies(session, pk(blob), pk(media))
        if blob.analysis_state == AnalysisState.FAILED:
            result.error = f"{raw_path}: preserved, but {blob.analysis_error}"


def _analysed_ok(outcome: AnalysisResult | AnalysisError | None) -> TypeGuard[AnalysisResult]:
    """The analysis ran, decoded the pixels and sampled frames (see `without_frames`)."""
    return (
        isinstance(outcome, AnalysisResult)
        and outcome.error is None
        and without_frames(outcome) is None
    )


def _apply_outcome(blob: Blob, outcome: AnalysisResult | AnalysisError | None, fast: bool) -> None:
    """Record an analysis on its blob (frames are the caller's): what the file is and its
    metadata whenever they were read, even if no frame could be sampled; then the recipe and
    mode, or the reason it failed. Used by `media add` and `media reanalyse` alike."""
    if isinstance(outcome, AnalysisResult):
        blob.kind, blob.mime, blob.meta = outcome.kind, outcome.mime, outcome.meta
    if _analysed_ok(outcome):
        blob.pipeline = outcome.pipeline
        blob.analysis_mode = analysis_mode(outcome, fast)
        blob.analysis_state = AnalysisState.OK.value
        blob.analysis_error = None
    else:
        blob.analysis_state = AnalysisState.FAILED.value
        blob.analysis_mode = None
        blob.analysis_error = _failure(outcome)
    blob.analysed_at = now()


def _failure(outcome: AnalysisResult | AnalysisError | None) -> str:
    """Why a file is `analysis_failed`: the child's error, the frames' when only the
    metadata could be read, or that no frame could be sampled."""
    if isinstance(outcome, AnalysisResult):
        empty = without_frames(outcome)
        return outcome.error or (empty.message if empty else "analysis failed")
    return outcome.message if outcome is not None else "analysis did not run"


def record_media(
    session: Session,
    actor: str,
    case: Case,
    blob: Blob,
    *,
    original_name: str,
    label: str | None,
    source_url: str | None,
    platform: str | None,
    acquired_via: str | None,
    acquired_by: str | None = None,
    acquired_at: datetime | None = None,
    audit_extra: Mapping[str, Any] | None = None,
) -> tuple[Media, int]:
    """Insert a media row for stored bytes with its `media.add` audit entry, inside the
    caller's transaction (`media add` and the case-file importer both come here); acquired
    now by `actor` unless told otherwise. Returns the row and the blob's frame count."""
    media = Media(
        case_id=pk(case),
        blob_id=pk(blob),
        original_name=original_name,
        label=label,
        source_url=source_url,
        platform=platform,
        acquired_via=acquired_via,
        acquired_by=acquired_by or actor,
        acquired_at=acquired_at or now(),
    )
    session.add(media)
    session.flush()
    frame_count = session.exec(
        select(func.count()).select_from(Frame).where(Frame.blob_id == blob.id)
    ).one()
    payload = {
        "media": media.id,
        "sha256": f"sha256:{blob.sha256}",
        "size": blob.size,
        "original_name": original_name,
        "source_url": source_url,
        "platform": platform,
        "acquired_via": acquired_via,
        "label": label,
        "kind": blob.kind,
        "analysis": blob.analysis_state,
        "analysis_error": blob.analysis_error,
        "pipeline": blob.pipeline,
        "analysis_mode": blob.analysis_mode,
        "frames": frame_count,
    }
    audit.append(
        session,
        actor=actor,
        action="media.add",
        case=case.slug,
        payload={**payload, **(audit_extra or {})},
    )
    return media, frame_count


def frame_to_dict(f: Frame) -> dict[str, Any]:
    return {
        "index": f.idx,
        "pts": round(f.pts, 6),
        "phash": hex64(f.phash),
        "dhash": hex64(f.dhash),
        "phash_masked": None if f.phash_masked is None else hex64(f.phash_masked),
        "dhash_masked": None if f.dhash_masked is None else hex64(f.dhash_masked),
        "pdq": f.pdq.hex() if f.pdq is not None else None,
        "pdq_quality": f.pdq_quality,
        "informative": f.informative,
        "scene_change": f.scene_change,
    }


def _frames(session: Session, blob_id: int) -> list[Frame]:
    return list(
        session.exec(select(Frame).where(Frame.blob_id == blob_id).order_by(col(Frame.idx))).all()
    )


def media_to_dict(session: Session, media: Media) -> dict[str, Any]:
    """A media file's custody facts, metadata and sampled frames."""
    blob = session.get(Blob, media.blob_id)
    case = session.get(Case, media.case_id)
    if blob is None or case is None:
        raise VerifyError(f"media {media.id} refers to a missing blob or case")
    frames = _frames(session, pk(blob))
    out = _media_fields(media, blob, case.slug, len(frames))
    out["frames"] = [frame_to_dict(f) for f in frames]
    return out


def _media_fields(media: Media, blob: Blob, case_slug: str, frame_count: int) -> dict[str, Any]:
    return {
        "id": media.id,
        "case": case_slug,
        "sha256": f"sha256:{blob.sha256}",
        "size": blob.size,
        "kind": blob.kind,
        "mime": blob.mime,
        "original_name": media.original_name,
        "label": media.label,
        "source_url": media.source_url,
        "platform": media.platform,
        "acquired_via": media.acquired_via,
        "acquired_by": media.acquired_by,
        "acquired_at": iso(media.acquired_at),
        "analysis": blob.analysis_state,
        "analysis_error": blob.analysis_error,
        "pipeline": blob.pipeline,
        "analysis_mode": blob.analysis_mode,
        "metadata": dict(blob.meta or {}),
        "frame_count": frame_count,
    }


def list_media(archive: Archive, case_ref: str) -> list[dict[str, Any]]:
    """A case's media files without their frames: three queries whatever the case holds
    (the frames are counted by the database, not loaded)."""
    with archive.read() as session:
        case = get_case(session, case_ref)
        rows = session.exec(
            select(Media, Blob)
            .join(Blob, col(Blob.id) == col(Media.blob_id))
            .where(Media.case_id == case.id)
            .order_by(col(Media.id))
        ).all()
        in_case = select(Media.blob_id).where(Media.case_id == case.id)
        counts: dict[int, int] = {
            blob_id: n
            for blob_id, n in session.exec(
                select(Frame.blob_id, func.count())
                .where(col(Frame.blob_id).in_(in_case))
                .group_by(col(Frame.blob_id))
            ).all()
        }
        return [_media_fields(m, b, case.slug, counts.get(pk(b), 0)) for m, b in rows]


def show_media(archive: Archive, ref: str) -> dict[str, Any]:
    with archive.read() as session:
        return media_to_dict(session, get_media(session, ref))


def export_frames(archive: Archive, ref: str, out_dir: str) -> list[dict[str, Any]]:
    """Write the sampled frames of a media file as JPEG working copies in `out_dir`.

    Decoding runs in a child process. The export is recorded in the audit trail as a
    derivation: source SHA-256, each output's SHA-256, pts and file name.
    """
    from verify.analysis.sandbox import run_in_child
    from verify.store import hash_file

    with archive.read() as session:
        media = get_media(session, ref)
        blob = session.get(Blob, media.blob_id)
        if blob is None:
            raise VerifyError(f"media {media.id} refers to a missing blob")
        frames = _frames(session, pk(blob))
        case = session.get(Case, media.case_id)
        case_slug = case.slug if case else None
    if not frames:
        raise BadInputError(f"media {media.id} has no sampled frames to export")
    target = Path(out_dir)
    created = _first_missing(target)
    try:
        target.mkdir(parents=True, exist_ok=True)
        # the child writes into a hidden staging directory; the frames are moved into
        # place only when all of them were written, so a failure leaves nothing behind
        staging = Path(tempfile.mkdtemp(prefix=".verify-export-", dir=target)).resolve()
    except OSError as exc:
        _remove_created(target, created)
        raise BadInputError(f"cannot create {out_dir}: {exc.strerror}") from exc
    source = archive.store.path_for(blob.sha256)
    try:
        staged: list[dict[str, Any]] = run_in_child(
            "verify.analysis.export:export_frames",
            str(source),
            kind=blob.kind,
            mime=blob.mime,
            rotation=(blob.meta or {}).get("rotation") or 0,
            frames=[{"index": f.idx, "pts": f.pts} for f in frames],
            out_dir=str(staging),
            stem=f"{blob.sha256[:12]}",
        )
        written = []
        for item in staged:
            name = Path(str(item["name"])).name
            os.replace(staging / name, staging.parent / name)
            written.append({**item, "name": name, "path": str(staging.parent / name)})
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        _remove_created(target, created)
        raise
    staging.rmdir()
    outputs = []
    for item in written:
        sha, size = hash_file(item["path"])
        outputs.append({**item, "sha256": f"sha256:{sha}", "size": size})
    with archive.write() as session:
        audit.append(
            session,
            actor=archive.actor,
            action="media.frames.export",
            case=case_slug,
            payload={
                "media": media.id,
                "source": f"sha256:{blob.sha256}",
                "derivation": "frame_of",
                "outputs": outputs,
            },
        )
    return outputs


def _first_missing(path: Path) -> Path | None:
    """The outermost directory of `path` that does not exist yet (what mkdir -p creates)."""
    missing = None
    for p in (path, *path.parents):
        if p.exists():
            break
        missing = p
    return missing


def _remove_created(target: Path, created: Path | None) -> None:
    """Remove the directories an export created, innermost first, while they are empty."""
    if created is None:
        return
    created = created.absolute()
    for p in (target.absolute(), *target.absolute().parents):
        try:
            p.rmdir()
        except OSError:
            return
        if p == created:
            return


# --------------------------------------------------------------------------- re-analysis


@dataclass
class ReanalyseResult:
    """What happened to one stored file given to `reanalyse`."""

    sha256: str
    media: list[int]
    before: str | None  # hashing recipe of the frames replaced
    after: str | None = None
    mode_before: str | None = None  # full | keyframes | None (see Blob.analysis_mode)
    mode: str | None = None
    kind: str | None = None
    frames: int = 0
    analysis: str | None = None  # ok | analysis_failed
    error: str | None = None
    damaged: bool = False  # the stored copy is missing or altered (not re-analysed)

    @property
    def failed(self) -> bool:
        return self.error is not None

    def to_dict(self) -> dict[str, Any]:
        return {
            "sha256": f"sha256:{self.sha256}",
            "media": self.media,
            "pipeline_before": self.before,
            "pipeline": self.after,
            "analysis_mode_before": self.mode_before,
            "analysis_mode": self.mode,
            "kind": self.kind,
            "frames": self.frames,
            "analysis": self.analysis,
            "error": self.error,
        }


def reanalyse(
    archive: Archive,
    refs: list[str],
    *,
    outdated: bool = False,
    fast: bool = False,
    pools: "list[AnalysisPool] | None" = None,
    progress: Callable[[int, int, ReanalyseResult], None] | None = None,
) -> list[ReanalyseResult]:
    """Analyse stored files again with this version's recipe and replace their metadata and
    frames: the files of the media `refs`, and with `outdated` every file analysed with
    another recipe. One write transaction per file, with an audit entry (`media.reanalyse`)
    for each case holding it;
    a file whose analysis now fails keeps nothing stale (state `analysis_failed`, no frames).
    """
    from verify.analysis import PIPELINE
    from verify.analysis.sandbox import analyse_many, analysis_workers

    if not refs and not outdated:
        raise BadInputError("give media references, or --outdated for every outdated file")
    order: list[int] = []
    with archive.read() as session:
        for ref in refs:
            blob_id = get_media(session, ref).blob_id
            if blob_id not in order:
                order.append(blob_id)
        if outdated:
            # another recipe, or keyframes only (`--fast`): both search weaker than full
            stale = session.exec(
                select(Blob.id)
                .where(
                    Blob.analysis_state == AnalysisState.OK.value,
                    or_(Blob.pipeline != PIPELINE, col(Blob.analysis_mode) == "keyframes"),
                )
                .order_by(col(Blob.id))
            ).all()
            order.extend(b for b in stale if b is not None and b not in order)
        blobs = {b.id: b for b in session.exec(select(Blob).where(col(Blob.id).in_(order)))}
        held: dict[int, list[int]] = {}
        for m in session.exec(
            select(Media).where(col(Media.blob_id).in_(order)).order_by(col(Media.id))
        ):
            held.setdefault(m.blob_id, []).append(pk(m))
    results = [
        ReanalyseResult(sha256=blobs[b].sha256, media=held.get(b, []), before=blobs[b].pipeline)
        for b in order
    ]
    paths: dict[int, str] = {}
    for b, result in zip(order, results, strict=True):
        problem = archive.store.verify_object(result.sha256)
        if problem is not None:
            what = "is missing" if problem == "missing" else "no longer matches its SHA-256"
            result.error = f"sha256:{result.sha256}: the stored copy {what} (see `verify check`)"
            result.damaged = True
        else:
            paths[b] = str(archive.store.path_for(result.sha256))
    todo = [paths[b] for b in order if b in paths]
    # results arrive in input order; each file is written as soon as its analysis is in
    analyses = analyse_many(todo, fast=fast, workers=analysis_workers(), pools=pools)
    try:
        for i, (b, result) in enumerate(zip(order, results, strict=True)):
            if b in paths:
                _, outcome = next(analyses)
                _replace_analysis(archive, b, result, outcome, fast=fast)
            if progress:
                progress(i + 1, len(results), result)
    finally:
        analyses.close()
    return results


def _replace_analysis(
    archive: Archive,
    blob_id: int,
    result: ReanalyseResult,
    outcome: AnalysisResult | AnalysisError | None,
    *,
    fast: bool = False,
) -> None:
    from sqlmodel import delete

    with archive.write() as session:
        blob = session.get(Blob, blob_id)
        if blob is None:  # removed meanwhile
            result.error = f"sha256:{result.sha256}: no longer in the archive"
            return
        result.before, result.mode_before = blob.pipeline, blob.analysis_mode
        session.exec(delete(Frame).where(col(Frame.blob_id) == blob_id))
        _apply_outcome(blob, outcome, fast)
        if _analysed_ok(outcome):
            session.add_all(frame_rows(blob_id, outcome.frames))
            result.frames = len(outcome.frames)
        else:
            result.error = f"sha256:{result.sha256}: {blob.analysis_error}"
        session.add(blob)
        session.flush()
        result.after, result.mode, result.kind, result.analysis = (
            blob.pipeline,
            blob.analysis_mode,
            blob.kind,
            blob.analysis_state,
        )
        # one entry per case holding the file, naming that case's media (as media.add does),
        # so each case's log shows it; a file in no case gets one entry without a case
        by_case: dict[str | None, list[int]] = {}
        for media, slug in session.exec(
            select(Media, Case.slug)
            .join(Case, col(Case.id) == col(Media.case_id))
            .where(Media.blob_id == blob_id)
            .order_by(col(Media.id))
        ):
            by_case.setdefault(slug, []).append(pk(media))
        for case_slug, media_ids in (by_case or {None: []}).items():
            audit.append(
                session,
                actor=archive.actor,
                action="media.reanalyse",
                case=case_slug,
                payload={
                    "sha256": f"sha256:{result.sha256}",
                    "media": media_ids,
                    "pipeline_before": result.before,
                    "pipeline": blob.pipeline,
                    "analysis_mode_before": result.mode_before,
                    "analysis_mode": blob.analysis_mode,
                    "analysis": blob.analysis_state,
                    "analysis_error": blob.analysis_error,
                    "frames": result.frames,
                },
            )
