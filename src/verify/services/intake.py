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

Rows are written through `verify.dbwrite.Writer`, so this module never imports the ORM:
`verify media add` on a SQLite archive runs without SQLModel/SQLAlchemy (`IntakeArchive`),
any other archive through its SQLAlchemy connection (`Archive.writer()`), with the same rows.
The ORM helpers of `verify.services.media` (`record_media`, `frame_rows`, `_apply_outcome`,
used by the case-file importer and `media reanalyse`) build their rows here too.
"""

import contextlib
import dataclasses
import functools
import hashlib
import math
import os
import re
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TypeGuard

from verify import audit
from verify.analysis import AnalysisResult, FrameHash, incomplete_note, to_signed64
from verify.dbread import Reader
from verify.dbwrite import Writer
from verify.errors import AnalysisError, BadInputError
from verify.services.refs import case_id, case_slug
from verify.store import StoredObject
from verify.timeutil import iso, now, parse_utc
from verify.vocab import AnalysisState, parse_platform

if TYPE_CHECKING:
    from verify.analysis.sandbox import AnalysisPool
    from verify.store import ObjectStore


class IntakeSource(Protocol):
    """What `add_media` needs of an archive: `verify.archive.Archive` (any database) and
    `verify.dbwrite.IntakeArchive` (SQLite without the ORM) both qualify."""

    @property
    def home(self) -> Path: ...

    @property
    def actor(self) -> str: ...

    @property
    def store(self) -> "ObjectStore": ...

    def reader(self) -> contextlib.AbstractContextManager[Reader]: ...

    def writer(self) -> contextlib.AbstractContextManager[Writer]: ...

    def require_writable(self) -> None: ...


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
    analysis_mode: str | None = None  # full | keyframes (see Blob.analysis_mode)
    error: str | None = None  # refusal or analysis failure, one line
    analysis_error: str | None = None  # why the analysis failed, as recorded (no advice)
    # a truncated or damaged video analysed now: `verify.analysis.incomplete_note`, else None
    incomplete: str | None = None
    already_stored: bool = False
    # the archive's copy of these bytes was 'hash-mismatch' or 'unreadable' (as `verify
    # check` says) and this file, having their SHA-256, restored it (the damaged copy is
    # kept at `damaged_copy`); else None
    restored: str | None = None
    damaged_copy: str | None = None
    exact_copies: list[dict[str, Any]] = field(default_factory=list)
    near_duplicates: list[dict[str, Any]] = field(default_factory=list)

    @property
    def failed(self) -> bool:
        return self.error is not None

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": printable(self.path),
            "media": self.media_id,
            "sha256": f"sha256:{self.sha256}" if self.sha256 else None,
            "size": self.size,
            "kind": self.kind,
            "frames": self.frames,
            "analysis": self.analysis,
            "analysis_mode": self.analysis_mode,
            "analysis_error": self.analysis_error,
            "incomplete": self.incomplete,
            "error": None if self.error is None else printable(self.error),
            "already_stored": self.already_stored,
            "restored": self.restored,
            "damaged_copy": self.damaged_copy,
            "exact_copies": self.exact_copies,
            "near_duplicates": self.near_duplicates,
        }


Progress = Callable[[int, int, AddResult], None]
# (i, n, the file's result so far, seconds its analysis has run): called about once a second
# while `add_media` waits for file i of n
Waiting = Callable[[int, int, AddResult, float], None]


def printable(text: str) -> str:
    """A path or message as text that can be stored and printed: bytes of a file name that
    are not UTF-8 (kept by Python as lone surrogates, which SQLite, PostgreSQL and JSON
    refuse) become backslash escapes, `lat\\xe9.jpg`; anything else is unchanged."""
    try:
        raw = text.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:  # a surrogate that no file name byte became
        raw = text.encode("utf-8", "surrogatepass")
    return raw.decode("utf-8", "backslashreplace")


# --------------------------------------------------------------------------- rows


def frame_values(blob_id: int, frames: list[FrameHash]) -> list[dict[str, Any]]:
    """The `frames` rows of one file's sampled frames (hashes as signed 64-bit integers)."""
    return [
        {
            "blob_id": blob_id,
            "idx": f.idx,
            "pts": f.pts,
            "phash": to_signed64(f.phash),
            "dhash": to_signed64(f.dhash),
            "phash_masked": None if f.phash_masked is None else to_signed64(f.phash_masked),
            "dhash_masked": None if f.dhash_masked is None else to_signed64(f.dhash_masked),
            "pdq": f.pdq,
            "pdq_quality": f.pdq_quality,
            "informative": f.informative,
            "scene_change": f.scene_change,
        }
        for f in frames
    ]


# the `frames` columns an analysis digest covers, in order
DIGEST_FRAME_COLUMNS = (
    "idx",
    "pts",
    "phash",
    "dhash",
    "phash_masked",
    "dhash_masked",
    "pdq",
    "pdq_quality",
    "informative",
    "scene_change",
)


def analysis_digest(meta: Any, frames: Iterable[Sequence[Any]]) -> str:
    """`sha256:HEX` of what an analysis stored for a file: its metadata (`blobs.meta`) and
    its frames' rows (DIGEST_FRAME_COLUMNS, in idx order). The `media.add` entry that
    analysed the file and each `media.reanalyse` record it, and `verify check` compares it
    with the rows, so that GPS, a capture time or a hash edited in the database is found.
    Numbers are written alike whichever database gave them back (PostgreSQL's JSONB returns
    2.0 as 2 and 1e16 as an integer), booleans as booleans, PDQ as hex."""
    rows = [[v if type(v) in _AS_IS else _plain(v) for v in row] for row in frames]
    body = audit.canonical_json({"meta": _plain(meta), "frames": rows})
    return "sha256:" + hashlib.sha256(body.encode()).hexdigest()


# values `_plain` gives back unchanged, skipped by type for speed: a frame row holds mostly
# these (`check` digests every stored frame: 100,000 rows took 1.1 s through `_plain` alone)
_AS_IS = frozenset({int, bool, str, type(None)})


def _plain(value: Any) -> Any:
    """A stored value as the digest writes it, whichever database gave it back: a whole
    float as an integer, bytes (PDQ) as hex, through JSON objects and arrays (booleans come
    back as booleans from both databases)."""
    if isinstance(value, float):  # the types are disjoint: the commonest (`pts`) first
        return int(value) if math.isfinite(value) and value.is_integer() else value
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).hex()
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def frame_digest_rows(frames: list[dict[str, Any]]) -> list[list[Any]]:
    """`frame_values` rows as `analysis_digest` takes them."""
    return [[f[k] for k in DIGEST_FRAME_COLUMNS] for f in sorted(frames, key=lambda f: f["idx"])]


def outcome_digest(outcome: AnalysisResult | AnalysisError | None) -> str:
    """`analysis_digest` of what `_record` stores for this outcome (worked out before its
    write transaction: nothing is hashed inside one)."""
    meta = outcome.meta if isinstance(outcome, AnalysisResult) else None
    rows = frame_values(0, outcome.frames) if analysed_ok(outcome) else []
    return analysis_digest(meta, frame_digest_rows(rows))


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


def analysed_ok(outcome: AnalysisResult | AnalysisError | None) -> TypeGuard[AnalysisResult]:
    """The analysis ran, decoded the pixels and sampled frames (see `without_frames`)."""
    return (
        isinstance(outcome, AnalysisResult)
        and outcome.error is None
        and without_frames(outcome) is None
    )


def failure(outcome: AnalysisResult | AnalysisError | None) -> str:
    """Why a file is `analysis_failed`: the child's error, the frames' when only the
    metadata could be read, or that no frame could be sampled."""
    if isinstance(outcome, AnalysisResult):
        empty = without_frames(outcome)
        return outcome.error or (empty.message if empty else "analysis failed")
    return outcome.message if outcome is not None else "analysis did not run"


def with_retry_hint(
    message: str,
    reason: str | None,
    media_ref: str,
    meta: Mapping[str, Any] | None = None,
    home: Path | None = None,
) -> str:
    """`message`, followed by `retry_hint` when there is one."""
    hint = retry_hint(reason, media_ref, meta, home)
    return f"{message}; {hint}" if hint else message


def retry_hint(
    reason: str | None,
    media_ref: str,
    meta: Mapping[str, Any] | None = None,
    home: Path | None = None,
) -> str:
    """What to do about a failure that more time or memory may cure ("" for any other), as a
    command to paste: the limits are the sandbox's (`VERIFY_ANALYSIS_TIMEOUT`,
    `VERIFY_ANALYSIS_MEMORY`), and a long or large file can need more than the defaults.
    `media_ref` names the file for the `verify media reanalyse` that analyses it again;
    `meta` (what was read before the failure) sizes the suggestion by the video's length;
    `home`, the archive, is named in the command when it is not the one `verify` opens
    without `--home` (pasted as is, it would re-analyse another archive's media)."""
    text = reason or ""
    verify = verify_command(home)
    if text.startswith("timed out after"):
        seconds = suggested_timeout(text, meta)
        return (
            "if it is a long or large file, allow it more time (or triage it with `--fast`): "
            f"`VERIFY_ANALYSIS_TIMEOUT={seconds} {verify} media reanalyse {media_ref}`"
        )
    if "out of memory" in text:  # also "killed (signal SIGKILL; out of memory?)"
        return (
            "if it is a large file, allow it more memory: "
            f"`VERIFY_ANALYSIS_MEMORY={suggested_memory(text)} {verify} media reanalyse "
            f"{media_ref}`"
        )
    return ""


def verify_command(home: Path | None) -> str:
    """`verify`, with `--home HOME` when `home` is not the archive `verify` opens without
    `--home` (VERIFY_HOME, else the default)."""
    import shlex

    from verify.archive import default_home

    if home is None:
        return "verify"
    try:
        same = home.resolve() == default_home().resolve()
    except (OSError, RuntimeError):  # RuntimeError: a symlink loop
        same = False
    return "verify" if same else f"verify --home {shlex.quote(str(home))}"


# Analysis speed assumed when sizing a suggested timeout from a video's length: on 2 cores
# `media add` analysed 60 s of 1080p H.264 at 20-23x real time and 10 s of 4K at 4.5-5x
# (2026-12-06); half the duration leaves room for slower codecs and busier machines.
_REAL_TIME_FACTOR = 2.0


def suggested_timeout(reason: str, meta: Mapping[str, Any] | None = None) -> int:
    """A timeout (whole seconds) worth trying after "timed out after N s": twice N, or half
    the video's duration when that is more, rounded up to whole minutes."""
    from verify.analysis.sandbox import DEFAULT_TIMEOUT

    match = re.match(r"timed out after ([0-9.]+) s", reason)
    current = float(match.group(1)) if match else DEFAULT_TIMEOUT
    want = 2 * current
    duration = (meta or {}).get("duration")
    if isinstance(duration, int | float) and math.isfinite(duration) and duration > 0:
        want = max(want, duration / _REAL_TIME_FACTOR)
    return math.ceil(want / 60) * 60 if want >= 60 else math.ceil(want)


def suggested_memory(reason: str) -> str:
    """A memory limit worth trying after "out of memory (limit 2 GiB)": twice the limit, in
    whole GiB (4G when the reason does not say the limit)."""
    from verify.analysis.sandbox import parse_size

    match = re.search(r"limit ([0-9]+ [KMG]iB)", reason)  # as worker.human_bytes writes it
    limit = parse_size(match.group(1).replace(" ", "")) if match else None
    return f"{max(1, math.ceil(2 * limit / (1 << 30)))}G" if limit else "4G"


def outcome_values(
    outcome: AnalysisResult | AnalysisError | None, fast: bool, at: datetime
) -> dict[str, Any]:
    """The `blobs` columns an analysis sets (`media add` and `media reanalyse` alike): what
    the file is and its metadata whenever they were read, even if no frame could be
    sampled; then the recipe and mode, or the reason it failed."""
    values: dict[str, Any] = {}
    if isinstance(outcome, AnalysisResult):
        values.update(kind=outcome.kind, mime=outcome.mime, meta=outcome.meta)
    if analysed_ok(outcome):
        values.update(
            pipeline=outcome.pipeline,
            analysis_mode=analysis_mode(outcome, fast),
            analysis_state=AnalysisState.OK.value,
            analysis_error=None,
        )
    else:
        values.update(
            analysis_state=AnalysisState.FAILED.value,
            analysis_mode=None,
            analysis_error=failure(outcome),
        )
    values["analysed_at"] = at
    return values


# A new blob row: what the ORM model's defaults give, before the analysis sets its part.
_NEW_BLOB = {
    "kind": "other",
    "mime": None,
    "analysis_state": AnalysisState.PENDING.value,
    "analysis_error": None,
    "pipeline": None,
    "analysis_mode": None,
    "meta": None,
    "analysed_at": None,
}


@dataclass(frozen=True)
class BlobFacts:
    """The blob columns a media row's audit entry and `AddResult` report."""

    id: int
    sha256: str
    size: int
    kind: str
    analysis_state: str
    analysis_error: str | None
    pipeline: str | None
    analysis_mode: str | None


def blob_facts(db: Reader, sha256: str) -> BlobFacts | None:
    """The stored facts of the blob holding these bytes, or None."""
    rows = db.rows(
        "SELECT id, sha256, size, kind, analysis_state, analysis_error, pipeline, "
        "analysis_mode FROM blobs WHERE sha256 = :sha",
        {"sha": sha256},
    )
    if not rows:
        return None
    r = rows[0]
    return BlobFacts(int(r[0]), str(r[1]), int(r[2]), str(r[3]), str(r[4]), r[5], r[6], r[7])


def acquisition_of(by: str | None, at: str | None) -> tuple[str | None, datetime | None]:
    """`media add --acquired-by/--acquired-at`, checked: a name (not empty, no control
    characters) and an ISO 8601 time (no offset: UTC; a bare date: 00:00 UTC) that is not in
    the future. None: the recorder, now."""
    who = None
    if by is not None:
        who = by.strip()
        if not who:
            raise BadInputError("--acquired-by is empty: give who obtained the file")
        if any(ord(c) < 32 or ord(c) == 127 for c in who):
            raise BadInputError("--acquired-by contains a control character; remove it")
    when = None
    if at is not None:
        try:
            when = parse_utc(at.strip())
        except ValueError:
            raise BadInputError(
                f"bad --acquired-at {at!r}: use ISO 8601, e.g. 2023-05-24T09:00Z or 2023-05-24"
            ) from None
        if when > now():
            raise BadInputError(f"--acquired-at {at!r} is in the future")
    return who, when


@dataclass(frozen=True)
class Acquisition:
    """Where a file came from and how, as its media row and `media.add` entry record it."""

    original_name: str
    label: str | None = None
    source_url: str | None = None
    platform: str | None = None
    acquired_via: str | None = None
    acquired_by: str | None = None  # None: the actor recording it
    acquired_at: datetime | None = None  # None: now
    audit_extra: Mapping[str, Any] | None = None  # more for the audit entry's payload


def insert_media(
    w: Writer, actor: str, case_id: int, case_slug: str, blob: BlobFacts, acq: Acquisition
) -> tuple[int, int]:
    """Insert a media row for stored bytes with its `media.add` audit entry, inside the
    caller's transaction (`media add` and the case-file importer both come here). Returns
    the media id and the blob's frame count."""
    acquired_by = acq.acquired_by or actor
    acquired_at = acq.acquired_at or now()
    media_id = w.insert(
        "media",
        {
            "case_id": case_id,
            "blob_id": blob.id,
            "original_name": acq.original_name,
            "label": acq.label,
            "source_url": acq.source_url,
            "platform": acq.platform,
            "acquired_via": acq.acquired_via,
            "acquired_by": acquired_by,
            "acquired_at": acquired_at,
        },
    )
    frame_count = int(
        w.rows("SELECT count(*) FROM frames WHERE blob_id = :b", {"b": blob.id})[0][0]
    )
    payload = {
        "media": media_id,
        "sha256": f"sha256:{blob.sha256}",
        "size": blob.size,
        "original_name": acq.original_name,
        "source_url": acq.source_url,
        "platform": acq.platform,
        "acquired_via": acq.acquired_via,
        "acquired_by": acquired_by,
        "acquired_at": iso(acquired_at),
        "label": acq.label,
        "kind": blob.kind,
        "analysis": blob.analysis_state,
        "analysis_error": blob.analysis_error,
        "pipeline": blob.pipeline,
        "analysis_mode": blob.analysis_mode,
        "frames": frame_count,
    }
    audit.append_row(
        w,
        actor=actor,
        action="media.add",
        case=case_slug,
        payload={**payload, **(acq.audit_extra or {})},
    )
    return media_id, frame_count


def _exact_copies(db: Reader, blob_id: int, exclude_media: int) -> list[dict[str, Any]]:
    rows = db.rows(
        "SELECT c.slug, m.id, m.original_name FROM media m JOIN cases c ON c.id = m.case_id "
        "WHERE m.blob_id = :b AND m.id != :m ORDER BY m.id",
        {"b": blob_id, "m": exclude_media},
    )
    return [{"case": slug, "media": int(mid), "original_name": name} for slug, mid, name in rows]


# --------------------------------------------------------------------------- add


def add_media(
    archive: IntakeSource,
    case_ref: str,
    paths: list[str],
    *,
    source_url: str | None = None,
    platform: str | None = None,
    acquired_via: str | None = None,
    acquired_by: str | None = None,
    acquired_at: str | None = None,
    label: str | None = None,
    fast: bool = False,
    search: bool = True,
    progress: Progress | None = None,
    pools: "list[AnalysisPool] | None" = None,
    waiting: Waiting | None = None,
) -> list[AddResult]:
    """Preserve and analyse each file; one `AddResult` per path, in order.

    Per-file problems (refused file, analysis failure) are reported in the result, not
    raised, so that one bad file among twenty does not stop the other nineteen. An unknown
    case is raised at once, before anything is stored.

    Each file is preserved (store copy, fsync) and, if its bytes have no analysis yet, handed
    at once to a pool of limited child processes (`verify.analysis.sandbox.Analyses`;
    `pools`, already started, are used first and closed), so the first files are analysed
    while the next are copied. Each file's rows are then written in its own short
    transaction as its analysis arrives, in input order.

    `acquired_by` / `acquired_at` (ISO 8601): who obtained the files and when, when that
    was not the person recording them, now (`acquisition_of`); the `media.add` entry's
    actor and time stay the recorder's.
    """
    from verify.analysis.sandbox import Analyses, analysis_workers

    obtained = acquisition_of(acquired_by, acquired_at)

    if platform is not None:  # as an appearance's: `X` is `x`, `tg` is `telegram`
        platform = parse_platform(platform)[0]
    results = [AddResult(path=p) for p in paths]
    stored: dict[int, StoredObject] = {}
    pending: set[str] = set()
    got: dict[str, AnalysisResult | AnalysisError] = {}
    neighbours = _Neighbours(archive)
    analyses = Analyses(fast=fast, workers=analysis_workers(), pools=pools)
    try:
        with archive.reader() as db:
            case_id(db, case_ref)
        archive.require_writable()  # a read-only archive: refused before anything is stored
        slug = case_slug(case_ref)  # as stored: `Drone-Strike` names `drone-strike`
        actor = archive.actor  # may run `git config`: never inside a write transaction
        for i, result in enumerate(results):
            try:
                kept = archive.store.put_file(result.path)
            except BadInputError as exc:
                result.error = exc.message
                continue
            stored[i] = kept
            result.sha256, result.size = kept.sha256, kept.size
            key = str(kept.path)
            if key in pending or _analysed(archive, kept.sha256):
                continue
            analyses.submit(key)
            if search and not pending:
                # the result's validation and the near-duplicate search need modules (numpy,
                # the index code): import them while this thread stores files and waits for
                # the analysis children
                threading.Thread(target=_import_search, name="verify-import", daemon=True).start()
            pending.add(key)
        for i, result in enumerate(results):
            # taken out before `_record`: from there on, its prepared replacement (if any)
            # is `_restoring`'s, which puts it in place once the restore is recorded
            obj = stored.pop(i, None)
            if obj is not None:
                key = str(obj.path)
                tick = None
                if waiting is not None:
                    tick = functools.partial(waiting, i + 1, len(results), result)
                while key in pending and key not in got:
                    path, arrived = analyses.next_outcome(waiting=tick)
                    got[path] = arrived
                _record(
                    archive,
                    actor,
                    slug,
                    obj,
                    result,
                    got.get(key),
                    source_url=source_url,
                    platform=platform,
                    acquired_via=acquired_via,
                    label=label,
                    fast=fast,
                    obtained=obtained,
                )
                if search and result.analysis == AnalysisState.OK:
                    result.near_duplicates = neighbours.of(result)
            if progress:
                progress(i + 1, len(results), result)
    finally:
        analyses.close()  # stops the pools, also when storing or a write above failed
        for obj in stored.values():
            # files a stopped batch (busy, Ctrl-C) did not reach: the verified replacement
            # prepared for a damaged copy is dropped, as `_restoring` drops its own when
            # the recording fails
            if obj.pending is not None:
                with contextlib.suppress(OSError):
                    obj.pending.unlink(missing_ok=True)
    return results


def _analysed(archive: IntakeSource, sha256: str) -> bool:
    """Whether these bytes are already stored with an analysis (done or failed). A short
    read of its own: no snapshot is held while the next files are copied."""
    with archive.reader() as db:
        rows = db.rows("SELECT analysis_state FROM blobs WHERE sha256 = :sha", {"sha": sha256})
    return bool(rows) and rows[0][0] != AnalysisState.PENDING.value


def _import_search() -> None:
    # what is needed once an analysis arrives: its validation (the metadata contract) and
    # the near-duplicate search (numpy, the index)
    import verify.analysis.metadata
    import verify.services.search  # noqa: F401


class _Neighbours:
    """Near-duplicate search for the files of one `add_media` call. The frame index is
    loaded once; the frames recorded since are read by primary key into a second, small
    index. (Loading per file appended to, and so copied, the whole index every time: about
    0.09 s a file with 1M stored frames.)"""

    def __init__(self, archive: IntakeSource) -> None:
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


@contextlib.contextmanager
def _restoring(
    archive: IntakeSource, stored: StoredObject, result: AddResult
) -> Iterator[tuple[StoredObject, Path | None]]:
    """Around the transaction recording `stored`: when the store's copy of these bytes is
    damaged, where it will be set aside (None otherwise); once the transaction has
    committed, the verified bytes replace it (`ObjectStore.restore`); if it fails, they
    are dropped and the damaged copy stays, for `verify check` to keep reporting."""
    aside = None
    try:  # from here on, the prepared bytes are this function's to put in place or drop
        if stored.pending is not None:
            if archive.store.verify_object(stored.sha256) is None:  # restored meanwhile
                stored.pending.unlink(missing_ok=True)
                stored = dataclasses.replace(stored, existed=True, damaged=None, pending=None)
            else:
                stamp = now().strftime("%Y%m%dT%H%M%S.%fZ")
                aside = archive.store.set_aside_path(stored.sha256, stamp)
                result.restored = stored.damaged
                result.damaged_copy = str(aside)
        yield stored, aside
    except BaseException:
        if stored.pending is not None:
            stored.pending.unlink(missing_ok=True)
        raise
    if stored.pending is not None and aside is not None:
        archive.store.restore(stored, aside)


def _record(
    archive: IntakeSource,
    actor: str,
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
    obtained: tuple[str | None, datetime | None] = (None, None),
) -> None:
    """One short write transaction: blob (if new), frames, media row, audit entry. A damaged
    stored copy is replaced by these bytes only once the entry saying so is committed."""
    raw_path = printable(result.path)
    name = os.path.basename(raw_path) or raw_path
    digest = outcome_digest(outcome)  # recorded below if these bytes are analysed now
    with _restoring(archive, stored, result) as (stored, aside), archive.writer() as w:
        cid = case_id(w, case_slug)
        found = blob_facts(w, stored.sha256)
        result.already_stored = found is not None
        if found is None or found.analysis_state == AnalysisState.PENDING.value:
            if found is not None:
                blob_id = found.id
                w.update("blobs", blob_id, outcome_values(outcome, fast, now()))
            else:
                new = {"sha256": stored.sha256, "size": stored.size, "stored_at": now()}
                analysed = outcome_values(outcome, fast, now())
                blob_id = w.insert("blobs", {**new, **_NEW_BLOB, **analysed})
            if analysed_ok(outcome):
                w.insert_many("frames", frame_values(blob_id, outcome.frames))
                result.incomplete = incomplete_note(outcome.meta)
            # what this analysis stored, for `verify check`
            recorded = {"analysis_digest": digest}
        else:
            recorded = {}  # analysed before: that add's entry recorded it
        blob = blob_facts(w, stored.sha256)
        assert blob is not None  # found or written above
        restored = None
        if aside is not None:
            kept = aside.relative_to(archive.store.root).as_posix()
            restored = {"restored": result.restored, "damaged_copy": kept}
        extra = (restored or {}) | recorded
        by, at = obtained
        acq = Acquisition(
            name, label, source_url, platform, acquired_via, by, at, audit_extra=extra
        )
        media_id, frame_count = insert_media(w, actor, cid, case_slug, blob, acq)
        result.media_id, result.blob_id = media_id, blob.id
        result.kind = blob.kind
        result.frames = frame_count
        result.analysis = blob.analysis_state
        result.analysis_mode = blob.analysis_mode
        result.exact_copies = _exact_copies(w, blob.id, media_id)
        if blob.analysis_state == AnalysisState.FAILED:
            result.analysis_error = blob.analysis_error
            # bytes stored before keep that analysis: this command did not try again
            said = (
                f"preserved earlier, and its analysis then failed: {blob.analysis_error}"
                if found is not None and found.analysis_state != AnalysisState.PENDING.value
                else f"preserved, but {blob.analysis_error}"
            )
            # what this command read before the failure sizes the suggested limit
            meta = outcome.meta if isinstance(outcome, AnalysisResult) else None
            result.error = with_retry_hint(
                f"{raw_path}: {said}", blob.analysis_error, str(media_id), meta, archive.home
            )


__all__ = [
    "AddResult",
    "BlobFacts",
    "IntakeSource",
    "Progress",
    "Waiting",
    "add_media",
    "analysed_ok",
    "analysis_mode",
    "blob_facts",
    "failure",
    "frame_values",
    "insert_media",
    "outcome_values",
    "retry_hint",
    "with_retry_hint",
    "without_frames",
]
