"""Media files already in the archive: export frames, re-analyse; and the ORM
forms of intake's rows (`record_media` for the case-file importer, `frame_rows`).

Intake itself (`media add`) lives in `verify.services.intake`, which writes without the ORM;
listing and showing media, in `verify.services.mediaread`, which reads without it.
Every row is built there once, whichever path writes it.
"""

import contextlib
import errno
import functools
import os
import re
import shutil
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlmodel import Session, col, func, or_, select

from verify import audit
from verify.analysis import AnalysisResult, FrameHash, incomplete_note
from verify.archive import Archive
from verify.dbwrite import SqlAlchemyWriter
from verify.errors import AnalysisError, BadInputError, IntegrityFailure, VerifyError
from verify.models import Blob, Case, Frame, Media, pk
from verify.services.intake import (
    Acquisition,
    analysed_ok,
    analysis_digest,
    blob_facts,
    frame_values,
    insert_media,
    outcome_digest,
    outcome_values,
    verify_command,
    with_retry_hint,
)
from verify.services.mediaread import analysis_failed
from verify.services.refs import get_media
from verify.store import fsync_dir
from verify.timeutil import now
from verify.vocab import AnalysisState

if TYPE_CHECKING:
    from verify.analysis.sandbox import AnalysisPool

__all__ = [
    "export_frames",
    "frame_rows",
    "reanalyse",
    "record_media",
]


def frame_rows(blob_id: int, frames: list[FrameHash]) -> list[Frame]:
    """The stored rows of one file's sampled frames, as ORM objects (`frame_values`)."""
    return [Frame(**values) for values in frame_values(blob_id, frames)]


def _apply_outcome(blob: Blob, outcome: AnalysisResult | AnalysisError | None, fast: bool) -> None:
    """Record an analysis on its blob (frames are the caller's): `outcome_values`, the
    columns `media add` writes too."""
    for column, value in outcome_values(outcome, fast, now()).items():
        setattr(blob, column, value)


def record_media(session: Session, actor: str, case: Case, blob: Blob, acq: Acquisition) -> int:
    """`intake.insert_media` inside an ORM session's write transaction (the case-file
    importer): the media row and its `media.add` audit entry. Returns the media id."""
    session.flush()
    w = SqlAlchemyWriter(session.connection())
    facts = blob_facts(w, blob.sha256)
    assert facts is not None  # flushed above
    media_id, _ = insert_media(w, actor, pk(case), case.slug, facts, acq)
    return media_id


def _frames(session: Session, blob_id: int) -> list[Frame]:
    return list(
        session.exec(select(Frame).where(Frame.blob_id == blob_id).order_by(col(Frame.idx))).all()
    )


def export_frames(archive: Archive, ref: str, out_dir: str) -> list[dict[str, Any]]:
    """Write the sampled frames of a media file as JPEG working copies in `out_dir`.

    Decoding runs in a child process. All or nothing, as `export_media`: an existing file is
    never replaced (checked before anything is written), and the frames are put in place
    only once all of them were written. The export is recorded in the audit trail as a
    derivation: source SHA-256, each output's SHA-256, pts and file name (not on a
    read-only archive, which cannot be changed).
    """
    from verify.analysis.export import frame_name
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
    if not frames and blob.analysis_state == AnalysisState.FAILED.value:
        raise analysis_failed(pk(media), blob.analysis_error, verify_command(archive.home))
    if not frames:
        raise BadInputError(f"media {media.id} has no sampled frames to export")
    target = Path(out_dir).expanduser()
    archive.refuse_own_path(target, "export the frames")
    stem = blob.sha256[:12]
    for path in (target / frame_name(stem, f.idx, f.pts) for f in frames):
        if _taken(path, out_dir):
            raise _exists(path)
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
    written: list[dict[str, Any]] = []
    try:
        # working copies of evidence whose bytes are not the ones recorded would lie
        with _not_exported_if_damaged(media.id):
            archive.store.check_intact(blob.sha256)
        staged: list[dict[str, Any]] = run_in_child(
            "verify.analysis.export:export_frames",
            str(source),
            kind=blob.kind,
            mime=blob.mime,
            rotation=(blob.meta or {}).get("rotation") or 0,
            frames=[{"index": f.idx, "pts": f.pts} for f in frames],
            out_dir=str(staging),
            stem=stem,
        )
        for item in staged:
            name = Path(str(item["name"])).name
            _place(staging / name, staging.parent / name)  # never over a file
            written.append({**item, "name": name, "path": str(staging.parent / name)})
            with contextlib.suppress(FileNotFoundError):
                (staging / name).unlink()  # a hard link of the placed frame
        staging.rmdir()
        outputs = []
        for item in written:
            sha, size = hash_file(item["path"])
            outputs.append({**item, "sha256": f"sha256:{sha}", "size": size})
        # recorded before the command succeeds, as `media export` does: frames the trail
        # cannot record (the archive busy, its disk full, Ctrl-C) are removed with the rest.
        # On write-protected media the copies stay unrecorded (the CLI says so).
        archive.record_output(
            audit.FRAMES_EXPORT,
            [
                (
                    case_slug,
                    {
                        "media": media.id,
                        "source": f"sha256:{blob.sha256}",
                        "derivation": "frame_of",
                        "outputs": outputs,
                    },
                )
            ],
        )
    except BaseException as exc:
        for item in written:
            with contextlib.suppress(FileNotFoundError):
                Path(item["path"]).unlink()
        shutil.rmtree(staging, ignore_errors=True)
        _remove_created(target, created)
        if isinstance(exc, FileExistsError):  # appeared since the check above
            raise _exists(exc.filename2 or exc.filename) from exc
        raise
    return outputs


_NAME_BYTES = 200  # an exported file's name, before the media id (file systems allow 255)
# Replaced by "_" in an exported file's name: controls (C0, DEL, C1), the bidi overrides and
# isolates, LRM/RLM/ALM, the line and paragraph separators, soft hyphens and zero-width
# characters (a name must show what it is: "invoice\u202egpj.exe" displays as
# "invoiceexe.jpg"), path separators, and what FAT and exFAT (USB sticks) refuse.
_UNSAFE_IN_NAME = re.compile(
    '[\x00-\x1f\x7f-\x9f\xad\u061c\u200b-\u200f\u2028-\u202e\u2060\u2066-\u2069\ufeff/\\\\<>:"|?*]'
)


def export_media(archive: Archive, refs: list[str], out_dir: str) -> list[dict[str, Any]]:
    """Copy the preserved bytes of media files into `out_dir` as `ID-ORIGINALNAME`, each
    checked against its SHA-256 as it is copied, for opening in another tool or handing
    on. All or nothing: no file is written unless every one can be and is recorded, and an
    existing file is never replaced. Each copy is recorded in the audit trail
    (`media.export`: media, sha256, size, path), except on a read-only archive.
    """
    wanted: dict[int, tuple[Media, Blob, str]] = {}
    with archive.read() as session:
        for ref in refs:
            media = get_media(session, ref)
            blob = session.get(Blob, media.blob_id)
            case = session.get(Case, media.case_id)
            if blob is None or case is None:
                raise VerifyError(f"media {media.id} refers to a missing blob or case")
            wanted.setdefault(pk(media), (media, blob, case.slug))
    target = Path(out_dir).expanduser()
    archive.refuse_own_path(target, "export")
    names = {mid: f"{mid}-{export_name(m.original_name)}" for mid, (m, _, _) in wanted.items()}
    for name in names.values():
        if _taken(target / name, out_dir):
            raise _exists(target / name)
    created = _first_missing(target)
    try:
        target.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise BadInputError(f"{out_dir} is not a directory; nothing was exported") from None
    except OSError as exc:
        _remove_created(target, created)
        raise BadInputError(f"cannot create {out_dir}: {exc.strerror}") from exc
    outputs: list[dict[str, Any]] = [
        {
            "media": mid,
            "case": slug,
            "sha256": f"sha256:{blob.sha256}",
            "size": blob.size,
            "path": str((target / names[mid]).absolute()),
        }
        for mid, (_, blob, slug) in wanted.items()
    ]
    staged: list[tuple[int, Path]] = []
    placed: list[Path] = []
    try:
        with _terminate_as_interrupt():
            for mid, (_, blob, _) in wanted.items():
                with _not_exported_if_damaged(mid):
                    staged.append((mid, archive.store.copy_out(blob.sha256, target)))
            mode = _file_mode()
            for mid, tmp in staged:
                os.chmod(tmp, mode)
                final = target / names[mid]
                _place(tmp, final)
                placed.append(final)
            for _, tmp in staged:
                with contextlib.suppress(FileNotFoundError):
                    tmp.unlink()  # a hard link of a placed copy, or renamed already
            with contextlib.suppress(OSError):  # some file systems cannot (FAT on Windows)
                fsync_dir(target)
            # recorded before the command succeeds: a copy the trail cannot record (the
            # archive busy, its disk full, Ctrl-C) is removed with the others
            archive.record_output(
                audit.MEDIA_EXPORT,
                [
                    (out["case"], {k: out[k] for k in ("media", "sha256", "size", "path")})
                    for out in outputs
                ],
            )
    except BaseException as exc:
        for path in [*placed, *(tmp for _, tmp in staged)]:
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
        _remove_created(target, created)
        if isinstance(exc, FileExistsError):  # appeared since the check above
            raise _exists(exc.filename2 or exc.filename) from exc
        if isinstance(exc, OSError):
            raise BadInputError(
                f"cannot write into {out_dir}: {exc.strerror or exc}; nothing was exported"
            ) from exc
        raise
    return outputs


def export_name(original: str | None) -> str:
    """A file name for an export from the name a file was added under, which is untrusted:
    its last path component, unsafe characters (`_UNSAFE_IN_NAME`) replaced, no trailing dots
    or spaces (which Windows and FAT drop), at most `_NAME_BYTES` bytes of UTF-8 with the
    extension kept; `file` when nothing is left."""
    base = (original or "").replace("\\", "/").rsplit("/", 1)[-1]
    base = _UNSAFE_IN_NAME.sub("_", base).strip().rstrip(". ")
    if not base:
        return "file"
    if len(base.encode()) > _NAME_BYTES:
        stem, dot, ext = base.rpartition(".")
        if not dot or len(ext.encode()) > 16:
            stem, ext = base, ""
        keep = _NAME_BYTES - len(ext.encode()) - (1 if ext else 0)
        stem = stem.encode()[:keep].decode(errors="ignore").rstrip(". ")
        base = f"{stem}.{ext}" if ext and stem else stem or ext
    return base or "file"


@contextlib.contextmanager
def _not_exported_if_damaged(media_id: int | None) -> Iterator[None]:
    """A stored file that is missing or altered (IntegrityFailure), named by its media."""
    try:
        yield
    except IntegrityFailure as exc:
        raise IntegrityFailure(f"media {media_id}: {exc.message}; nothing was exported") from exc


def _exists(path: object) -> BadInputError:
    return BadInputError(
        f"{path} already exists; nothing was exported (choose another directory, or move "
        "that file away)"
    )


def _taken(path: Path, out_dir: str) -> bool:
    """Whether something is at `path` (a file, a directory, a dangling link)."""
    try:
        os.lstat(path)
    except FileNotFoundError:
        return False
    except NotADirectoryError:
        raise BadInputError(f"{out_dir} is not a directory; nothing was exported") from None
    except OSError as exc:
        raise BadInputError(
            f"cannot write into {out_dir}: {exc.strerror or exc}; nothing was exported"
        ) from exc
    return True


def _place(tmp: Path, final: Path) -> None:
    """Give `tmp` the name `final`, never replacing a file there: a hard link where the
    file system has them (atomic); elsewhere (USB sticks' FAT) the name is first taken with
    an exclusive create, then the copy renamed over that placeholder of ours."""
    try:
        os.link(tmp, final)
        return
    except FileExistsError:
        raise
    except OSError as exc:
        if exc.errno not in _NO_LINKS:
            raise
    fd = os.open(final, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC)
    os.close(fd)
    try:
        os.rename(tmp, final)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            final.unlink()
        raise


_NO_LINKS = {errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EMLINK, errno.ENOSYS}


@contextlib.contextmanager
def _terminate_as_interrupt() -> Iterator[None]:
    """SIGTERM and SIGHUP raise KeyboardInterrupt meanwhile (main thread only), so that a
    killed or hung-up export still removes its partial copies (they are in the user's
    directory, where `verify check` never looks)."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    previous = {  # a signal ignored on purpose (`nohup` ignores SIGHUP) stays ignored
        sig: signal.signal(sig, interrupt)
        for sig in (signal.SIGTERM, signal.SIGHUP)
        if signal.getsignal(sig) is not signal.SIG_IGN
    }
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _file_mode() -> int:
    """The mode a new file gets here (0o666 less the umask), as `cp` would give it."""
    mask = os.umask(0o22)
    os.umask(mask)
    return 0o666 & ~mask


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
    incomplete: str | None = None  # a truncated or damaged video (`incomplete_note`)

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
            "incomplete": self.incomplete,
            "error": self.error,
        }


def failed_count(archive: Archive) -> int:
    """How many stored files have a failed analysis (`reanalyse(failed=True)` takes them)."""
    with archive.read() as session:
        n = session.exec(
            select(func.count())
            .select_from(Blob)
            .where(Blob.analysis_state == AnalysisState.FAILED.value)
        ).one()
    return int(n)


def reanalyse(
    archive: Archive,
    refs: list[str],
    *,
    outdated: bool = False,
    failed: bool = False,
    fast: bool = False,
    pools: "list[AnalysisPool] | None" = None,
    progress: Callable[[int, int, ReanalyseResult], None] | None = None,
    waiting: Callable[[int, int, ReanalyseResult, float], None] | None = None,
) -> list[ReanalyseResult]:
    """Analyse stored files again with this version's recipe and replace their metadata and
    frames: the files of the media `refs`, with `outdated` every file analysed with another
    recipe or keyframes only, and with `failed` every file whose analysis failed (e.g. timed
    out, before a higher limit was set). One write transaction per file, with an audit
    entry (`media.reanalyse`) for each case holding it;
    a file whose analysis now fails keeps nothing stale (state `analysis_failed`, no frames).
    `waiting` is called about once a second with (i, n, result, seconds analysed) while file
    i's analysis runs.
    """
    from verify.analysis import PIPELINE
    from verify.analysis.sandbox import Analyses, analysis_workers

    if not refs and not outdated and not failed:
        raise BadInputError(
            "give media references, --outdated for every outdated file, or --failed for "
            "every file whose analysis failed"
        )
    archive.require_writable()
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
        if failed:
            broken = session.exec(
                select(Blob.id)
                .where(Blob.analysis_state == AnalysisState.FAILED.value)
                .order_by(col(Blob.id))
            ).all()
            order.extend(b for b in broken if b is not None and b not in order)
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
        try:
            archive.store.check_intact(result.sha256)
        except IntegrityFailure as exc:
            which = ", ".join(str(m) for m in result.media)
            result.error = f"media {which}: {exc.message}; not re-analysed"
            result.damaged = True
        else:
            paths[b] = str(archive.store.path_for(result.sha256))
    todo = [paths[b] for b in order if b in paths]
    # results arrive in input order; each file is written as soon as its analysis is in
    analyses = Analyses(fast=fast, workers=analysis_workers(), pools=pools)
    try:
        for path in todo:
            analyses.submit(path)
        for i, (b, result) in enumerate(zip(order, results, strict=True)):
            if b in paths:
                tick = None
                if waiting is not None:
                    tick = functools.partial(waiting, i + 1, len(results), result)
                _, outcome = analyses.next_outcome(waiting=tick)
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

    # what is stored below, for `verify check` (each entry records it), worked out before the
    # write transaction; a failure that read no metadata keeps the file's earlier metadata
    digest = outcome_digest(outcome) if isinstance(outcome, AnalysisResult) else None
    with archive.write() as session:
        blob = session.get(Blob, blob_id)
        if blob is None:  # removed meanwhile
            result.error = f"sha256:{result.sha256}: no longer in the archive"
            return
        result.before, result.mode_before = blob.pipeline, blob.analysis_mode
        session.exec(delete(Frame).where(col(Frame.blob_id) == blob_id))
        _apply_outcome(blob, outcome, fast)
        if digest is None:  # metadata alone, no frames: a few hundred bytes
            digest = analysis_digest(blob.meta, [])
        if analysed_ok(outcome):
            session.add_all(frame_rows(blob_id, outcome.frames))
            result.frames = len(outcome.frames)
            result.incomplete = incomplete_note(outcome.meta)
        else:
            ref = str(result.media[0]) if result.media else f"sha256:{result.sha256[:12]}"
            held = ", ".join(str(m) for m in result.media)
            which = f"media {held}" if held else f"sha256:{result.sha256}"
            result.error = with_retry_hint(
                f"{which}: {blob.analysis_error}", blob.analysis_error, ref, blob.meta, archive.home
            )
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
                    "analysis_digest": digest,
                },
            )
