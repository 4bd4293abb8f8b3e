"""Frame sampling: one frame per image, sampled frames per video, hashed with the hashing recipe.

Images: one frame (pts 0). JPEGs are decoded with `draft('L', ...)`, libjpeg's DCT-domain
downscale, asking for the working size from the short side so the reduction never goes below
the 512 px working image (performance-anchors.md §2); then EXIF transpose and the recipe.

Video (PyAV; see docs/hashing.md "Video sampling"):
- streams with B-frames decode with `skip_frame="NONREF"` (frames no other frame refers to
  are skipped: exact, about half the frames on x264 defaults), streams without B-frames
  decode fully. `BIDIR` is deliberately not used: it drops reference B-frames too and
  corrupts the frames after them (see `_skip_mode`). If skipping yields fewer than 75 % of
  the expected samples, the file is decoded again in full. The tail of a GOP that holds no
  sample is not decoded at all (`_gop_skipping`). Sampled frames go through one shared
  swscale context;
- a video with clean keyframes (IDR for H.264, no leading pictures) at least 10 s apart is
  cut there into segments, decoded in parallel (at most 2 at a time) by single-threaded
  decoders while one thread hashes, and the sampling rule is replayed over all their frames
  in order (`_segmented`, `_merge`); otherwise one decoder (`thread_type="AUTO"` with 2
  threads, SLICE for keyframes only) decodes while a second thread hashes. Thread counts are
  fixed, so the samples never depend on the machine;
- regular samples: the first decoded frame at or after each multiple of the interval, 1 s
  for videos up to 300 s, duration / 300 beyond (at most ~300 regular samples); when the
  duration is unknown, 1 s, halving the density each time 300 samples are exceeded;
- scene changes: mean absolute difference of a subsampled luma thumbnail between consecutive
  decoded frames above 15 (of 255) and above 4x its running average (fast motion is not a
  cut), at least 0.25 s after the previous sample, at most 100; marked `scene_change=True`;
- rotation: the frame's display matrix (`frame.rotation`, counter-clockwise in PyAV) turned
  into clockwise degrees; `meta["rotation"]` (clockwise) only when the frame has none;
- pts in seconds from the stream start;
- `fast=True`: keyframes only (`skip_frame="NONKEY"`), same sampling rule over them;
- a file with no decodable video frames gives [] (the caller decides what that means);
- a video whose frames stop well before its stated duration, with no data left to reach it
  (truncated or damaged), is reported as such by `extract_video` (`meta["incomplete"]`).
"""

# PyAV is imported only where video is decoded: a still (e.g. `verify search photo.jpg`, whose
# analysis child is a fresh interpreter) does not pay its ~0.07 s import.
from __future__ import annotations

import math
import os
import threading
from collections import deque
from collections.abc import Iterator
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from fractions import Fraction
from itertools import pairwise
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import numpy.typing as npt
from PIL import Image

if TYPE_CHECKING:
    import av
    from av.video.reformatter import VideoReformatter

from verify.analysis import FrameHash
from verify.analysis.hashing import WORK_SIZE, Hashes, gray_from_image, hash_gray
from verify.errors import BadInputError

__all__ = ["MAX_SAMPLES", "extract_frames", "extract_video", "frame_hash", "sample_interval"]

MAX_SAMPLES = 300  # regular samples per video (1 fps up to 5 minutes)
MAX_SCENE_CHANGES = 100
SCENE_DIFF = 15.0  # mean |diff| of the luma thumbnail (0-255) must exceed this ...
SCENE_RATIO = 4.0  # ... and this many times its running average (motion is not a cut)
SCENE_MIN_GAP = 0.25  # seconds after the previous sample
SKIP_FALLBACK = 0.75  # re-decode fully when skipping yields fewer samples than this x expected
# A video whose frames end more than max(END_SLACK s, END_SLACK_SHARE of its duration) before
# the duration its container states, with no packet reaching that end, is short (`_short`):
# truncated or damaged. The slack covers an audio track a little longer than the video.
END_SLACK = 1.0
END_SLACK_SHARE = 0.02
END_PROBE = 5.0  # seconds of packets read before that end to find one reaching it
# Segmented decoding (`_segmented`): segments start at clean keyframes at least SEGMENT_MIN s
# apart, or duration / MAX_SEGMENTS for long videos (each segment's decoder first decodes the
# file's first keyframe: with many segments that would add up)
SEGMENT_MIN = 10.0
MAX_SEGMENTS = 16
# Decoders at once: each thread costs address space (stack, malloc arena) under the analysis
# child's RLIMIT_AS (2 GiB by default), and so does each decoder's picture buffer. With 4,
# an 8K 10-bit HEVC clip that one decoder analyses (1.4 GB peak) ran out of memory.
MAX_DECODERS = 2
# Segments only for pictures up to 4K at 8 bits (width x height x bytes per sample): above,
# two decoders' picture buffers do not fit the default limit with room to spare
SEGMENT_MAX_PICTURE = 3840 * 2160
# Threads of the one decoder of a file decoded in one piece. Fixed, not the machine's core
# count: a frame-threaded decoder holds back as many frames as it has threads, which moves
# the GOP-tail rule's decisions and so the cut samples (with ffmpeg's automatic count, up
# to 16, a corpus file lost a cut sample on a 16-core machine).
ONE_PIECE_THREADS = 2
# Sampled frames are hashed on a second thread while decoding goes on; at most this many
# converted frames wait for it (a 1080p luma frame is 2 MB).
HASH_QUEUE = 4
_PLANAR_8BIT = {
    "yuv420p",
    "yuvj420p",
    "yuv422p",
    "yuvj422p",
    "yuv444p",
    "yuvj444p",
    "yuv411p",
    "yuv440p",
    "nv12",
    "nv21",
    "gray",
}


def extract_frames(
    path: str, kind: str, meta: dict[str, Any], *, fast: bool = False
) -> list[FrameHash]:
    """Sample and hash the frames of one file (see the module docstring)."""
    if kind == "image":
        return [frame_hash(0, 0.0, image_hashes(path))]
    if kind == "video":
        return extract_video(path, meta, fast=fast)[0]
    return []


# --------------------------------------------------------------------------- images


def image_hashes(path: str) -> Hashes:
    """The hashing recipe on a still image file (first frame of multi-frame formats)."""
    try:
        with Image.open(path) as im:
            if im.format == "JPEG":
                w, h = im.size
                scale = WORK_SIZE / max(w, h)
                if scale < 1.0:
                    # draft() keeps both sides >= the request: ask for the fitted size
                    im.draft("L", (max(1, int(w * scale)), max(1, int(h * scale))))
            g = gray_from_image(im)
    except Image.DecompressionBombError as e:
        raise BadInputError(f"image {path} is too large to decode safely: {e}") from e
    except OSError as e:
        raise BadInputError(f"image {path} cannot be decoded: {e}") from e
    return hash_gray(g)


def frame_hash(idx: int, pts: float, h: Hashes, scene_change: bool = False) -> FrameHash:
    """The stored form of one sampled frame's hashes."""
    return FrameHash(
        idx=idx,
        pts=pts,
        phash=h.phash,
        dhash=h.dhash,
        phash_masked=h.phash_masked,
        dhash_masked=h.dhash_masked,
        pdq=h.pdq,
        pdq_quality=h.pdq_quality,
        informative=h.informative,
        scene_change=scene_change,
    )


# --------------------------------------------------------------------------- video


def sample_interval(duration: float | None) -> float:
    """Seconds between regular samples: 1 s, or duration / MAX_SAMPLES for long videos."""
    if duration is None or duration <= 0 or not math.isfinite(duration):
        return 1.0
    return max(1.0, duration / MAX_SAMPLES)


@dataclass
class _Decider:
    """The sampling rule, applied to decoded frames in presentation order: a regular sample
    at the first frame at or after each multiple of `interval`, and scene changes (see the
    module docstring). The sequential sampler applies it as frames decode; segmented
    decoding replays it over every segment's frames (`_merge`), so both take the same
    samples."""

    interval: float
    next_t: float = 0.0
    last_taken: float = -1e9
    diff_avg: float | None = None  # running average of frame-to-frame change
    scene_count: int = 0

    def decide(self, t: float, diff: float | None, gap: bool) -> tuple[bool, bool]:
        """(regular, scene change) for a frame at `t` s whose thumbnail differs from the
        previous decoded frame's by `diff` (None: no previous frame), `gap`: frames were
        skipped between them."""
        scene = False
        if diff is not None:
            baseline = self.diff_avg if self.diff_avg is not None else SCENE_DIFF
            scene = (
                diff > SCENE_DIFF
                and diff > SCENE_RATIO * baseline
                and t - self.last_taken >= SCENE_MIN_GAP
                and self.scene_count < MAX_SCENE_CHANGES
            )
            # cuts and gaps never enter the running average
            if not scene and not gap:
                avg = self.diff_avg
                self.diff_avg = diff if avg is None else 0.8 * avg + 0.2 * diff
        regular = t >= self.next_t - 1e-6
        if regular:
            self.next_t = _grid_after(t, self.interval)
        if regular or scene:
            self.last_taken = t
        if scene:
            self.scene_count += 1
        return regular, scene


def _grid_after(t: float, interval: float) -> float:
    """The first multiple of `interval` after `t`."""
    return (math.floor(t / interval + 1e-9) + 1) * interval


def _grid_at(t: float, interval: float) -> float:
    """The last multiple of `interval` at or before `t`."""
    return math.floor(t / interval + 1e-9) * interval


class _Unsegmentable(Exception):
    """Segmented decoding cannot promise the sequential result: decode sequentially."""


@dataclass
class _Sampler:
    """Frames in, samples out. Sequential (`segment` False): the rule is applied as frames
    decode. One segment of a segmented pass (`segment` True): every decoded frame is
    recorded for `_merge`, and hashed when it is, or could be, a sample."""

    interval: float
    adaptive: bool  # duration unknown: halve the density when over MAX_SAMPLES
    rotation_cw: int | None
    meta_rotation: int
    time_base: float | None = None  # the stream's, in seconds
    start: float | None = None
    segment: bool = False
    regrid: bool = False  # segment mode: the first frame starts the grid (not the first segment)
    decider: _Decider = field(init=False)
    prev_thumb: npt.NDArray[np.float32] | None = None
    first_thumb: npt.NDArray[np.float32] | None = None
    gap: bool = False  # frames were skipped since prev_thumb (see _gop_skipping)
    taken: list[tuple[float, Future[Hashes], bool]] = field(default_factory=list)
    decoded: int = 0
    # segment mode: every decoded frame (t, diff with the previous one, gap, hashes if any)
    # and a lower bound of the running average the replay will have (`_candidate`)
    frames: list[tuple[float, float | None, bool, Future[Hashes] | None]] = field(
        default_factory=list
    )
    avg_floor: float = 0.0
    last_regular: float = -1e9
    last_t: float | None = None  # the latest frame decoded (s from the first)
    # one swscale context for every sampled frame: a frame's own `to_ndarray(format=...)`
    # builds a new one each time (6-7 ms a frame at 720p; same pixels, a test checks)
    reformatter: VideoReformatter = field(default_factory=lambda: _reformatter())
    hasher: ThreadPoolExecutor | None = None
    slots: threading.BoundedSemaphore = field(
        default_factory=lambda: threading.BoundedSemaphore(HASH_QUEUE)
    )

    def __post_init__(self) -> None:
        self.decider = _Decider(self.interval)

    @property
    def next_t(self) -> float:
        """When the next regular sample is due (s from the start)."""
        return self.decider.next_t

    def feed(self, frame: av.VideoFrame, fps: float, fallback: float | None = None) -> None:
        t = self._time(frame, fps, fallback)
        self.decoded += 1
        self.last_t = t if self.last_t is None else max(self.last_t, t)
        if self.rotation_cw is None:
            self.rotation_cw = _rotation_cw(frame, self.meta_rotation)
        thumb = _thumb(frame)
        gap, self.gap = self.gap, False
        diff = None
        if self.prev_thumb is not None and thumb.shape == self.prev_thumb.shape:
            diff = float(np.abs(thumb - self.prev_thumb).mean())
        if self.prev_thumb is None:
            self.first_thumb = thumb
        self.prev_thumb = thumb
        if self.segment:
            self._record(frame, t, diff, gap)
            return
        regular, scene = self.decider.decide(t, diff, gap)
        if not (regular or scene):
            return
        self.taken.append((t, self._hash(self._gray(frame), self.rotation_cw), scene))
        if self.adaptive and len(self.taken) - self.decider.scene_count > MAX_SAMPLES:
            self._thin()

    def _time(self, frame: av.VideoFrame, fps: float, fallback: float | None) -> float:
        """Seconds from the first frame of the video."""
        t_abs: float | None = None
        # frames flushed out of a frame-threaded decoder can lack a time base (frame.time is
        # NaN) but keep their pts: the stream's time base gives their time
        own = frame.pts * self.time_base if frame.pts is not None and self.time_base else None
        for cand in (frame.time, own, fallback):
            if cand is not None and math.isfinite(cand):
                t_abs = float(cand)
                break
        if t_abs is None:
            if self.segment:
                raise _Unsegmentable("a frame without a time")
            t_abs = self.decoded / fps if fps > 0 else float(self.decoded)
        if self.start is None:
            self.start = t_abs
        return max(0.0, t_abs - self.start)

    def _record(self, frame: av.VideoFrame, t: float, diff: float | None, gap: bool) -> None:
        """Segment mode: the replay needs every frame's change, and the hashes of the frames
        it may take. Regular samples here are the replay's own (they depend only on times,
        and a segment starts with the grid point at or before its keyframe due) except,
        perhaps, the first frame (an earlier segment may have covered that grid point), so
        it is always hashed. A frame can be a replayed scene change only if `_candidate`.
        A later segment's first frame starts the grid at the grid point at or before it."""
        first = not self.frames
        if first and self.regrid:
            self.decider.next_t = _grid_at(t, self.interval)
        regular = t >= self.decider.next_t - 1e-6
        if regular:
            self.decider.next_t = _grid_after(t, self.interval)
        candidate = diff is not None and self._candidate(t, diff, gap)
        fut = None
        if first or regular or candidate:
            assert self.rotation_cw is not None
            fut = self._hash(self._gray(frame), self.rotation_cw)
        if regular and not first:
            self.last_regular = t
        self.frames.append((t, diff, gap, fut))

    def _candidate(self, t: float, diff: float, gap: bool) -> bool:
        """Whether the replay could call this frame a scene change. It needs diff above 4x
        its running average, which is at least `avg_floor` (the same average started from
        0 instead of from what came before the segment, updated only where the frame cannot
        be a cut), and 0.25 s after its last sample, which is no earlier than this segment's
        last regular sample after the first frame."""
        cand = (
            diff > SCENE_DIFF
            and diff > SCENE_RATIO * self.avg_floor
            and t - self.last_regular >= SCENE_MIN_GAP
        )
        if not cand and not gap:
            self.avg_floor = 0.8 * self.avg_floor + 0.2 * diff
        return cand

    def _gray(self, frame: av.VideoFrame) -> npt.NDArray[np.uint8]:
        return np.asarray(self.reformatter.reformat(frame, format="gray").to_ndarray(), np.uint8)

    def _hash(self, g: npt.NDArray[np.uint8], rotation_cw: int) -> Future[Hashes]:
        """Hash on the hashing thread (decoding goes on meanwhile), or here without one."""
        if self.hasher is None:
            done: Future[Hashes] = Future()
            done.set_result(hash_gray(g, rotation_cw=rotation_cw))
            return done
        self.slots.acquire()
        try:
            fut = self.hasher.submit(hash_gray, g, rotation_cw=rotation_cw)
        except BaseException:
            self.slots.release()
            raise
        fut.add_done_callback(lambda _: self.slots.release())
        return fut

    def results(self) -> list[tuple[float, Hashes, bool]]:
        """The samples taken, hashed (waits for the hashing thread)."""
        return [(t, fut.result(), scene) for t, fut, scene in self.taken]

    def _thin(self) -> None:
        """Unknown duration and too many samples: keep every other regular sample."""
        self.interval *= 2
        self.decider.interval = self.interval
        kept: list[tuple[float, Future[Hashes], bool]] = []
        for t, h, scene in self.taken:
            on_grid = abs(t / self.interval - round(t / self.interval)) * self.interval < 0.5
            if scene or on_grid:
                kept.append((t, h, scene))
        self.taken = kept
        self.decider.next_t = (
            math.floor(self.decider.last_taken / self.interval) + 1
        ) * self.interval


def _reformatter() -> VideoReformatter:
    from av.video.reformatter import VideoReformatter

    return VideoReformatter()


def _rotation_cw(frame: av.VideoFrame, meta_rotation: int) -> int:
    """Clockwise degrees to upright: PyAV's frame.rotation is counter-clockwise."""
    ccw = getattr(frame, "rotation", 0) or 0
    if ccw:
        return (-round(float(ccw) / 90.0) * 90) % 360
    return meta_rotation


def _thumb(frame: av.VideoFrame) -> npt.NDArray[np.float32]:
    """A ~64-120 px luma thumbnail for scene-change detection, without colour conversion for
    8-bit planar YUV (a strided view of the Y plane)."""
    if frame.format.name in _PLANAR_8BIT:
        plane = frame.planes[0]
        y = np.frombuffer(memoryview(plane), dtype=np.uint8)
        y = y.reshape(-1, plane.line_size)[: frame.height, : frame.width]
        step = max(1, min(frame.height, frame.width) // 64)
        return y[::step, ::step].astype(np.float32)
    small = frame.reformat(width=96, height=64, format="gray")
    return small.to_ndarray().astype(np.float32)


def _duration(container: av.container.InputContainer, stream: av.VideoStream) -> float | None:
    if stream.duration is not None and stream.time_base is not None:
        d = float(stream.duration * stream.time_base)
        if d > 0:
            return d
    if container.duration is not None and container.duration > 0:
        return container.duration / 1_000_000
    return None


def _meta_rotation(meta: dict[str, Any]) -> int:
    r = meta.get("rotation")
    if isinstance(r, int | float) and math.isfinite(r):
        return (round(float(r) / 90.0) * 90) % 360
    return 0


Skip = Literal["DEFAULT", "NONREF", "BIDIR", "NONKEY"]


def _skip_mode(stream: av.VideoStream, fast: bool) -> Skip:
    """NONKEY for triage; otherwise NONREF: skipping only frames nothing refers to is exact.
    BIDIR is not used: it also drops B-frames that are references (x264's default
    b-pyramid, HEVC), and the frames decoded after them come out corrupted (measured:
    PDQ median 26, max 48 bits from the same frame fully decoded; 0 with NONREF)."""
    if fast:
        return "NONKEY"
    return "NONREF" if stream.codec_context.has_b_frames else "DEFAULT"


@dataclass
class _Pass:
    taken: list[tuple[float, Hashes, bool]]  # (pts, hashes, scene change)
    skip: Skip
    duration: float | None
    decoded: int = 0  # frames that came out of the decoder and were looked at
    segments: int = 1  # decoded as this many segments in parallel (`_segmented`)
    last_t: float | None = None  # the latest frame decoded, s from the first
    data_end: float | None = None  # where the video packets read end (None: not all read)

    def regular_count(self) -> int:
        return sum(1 for _, _, scene in self.taken if not scene)


def _decode_threads() -> int:
    """CPUs this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def _open_stream(
    path: str, skip: Skip | None, fast: bool, threads: int
) -> tuple[av.container.InputContainer, av.VideoStream, Skip]:
    """The file's first video stream set up for decoding (`skip` None: chosen from the
    stream; `threads` 0: the decoder's choice). Raises IndexError without video."""
    import av

    container = av.open(path)
    try:
        stream = container.streams.video[0]
        if skip is None:
            skip = _skip_mode(stream, fast)
        # frame threading only pays when many frames are decoded: keyframes-only decoding
        # was 2x slower with it (0.44 s against 0.23 s on a 20 s 720p clip)
        stream.thread_type = "SLICE" if skip == "NONKEY" else "AUTO"
        if threads:
            stream.codec_context.thread_count = threads
        stream.codec_context.skip_frame = skip
    except BaseException:
        container.close()
        raise
    return container, stream, skip


def _decode(
    path: str,
    meta: dict[str, Any],
    skip: Skip | None,
    fast: bool,
    *,
    packet_filter: bool = True,
    gop_skip: bool = True,
    segments: bool = True,
) -> _Pass | None:
    """One decoding pass (`skip` None: chosen from the stream; `gop_skip`: leave out GOP
    tails no sample needs, see `_gop_skipping`; `segments`: decode runs of GOPs in
    parallel, see `_segmented`); None when the file has no video stream or cannot be
    opened."""
    import av
    import av.error

    try:
        container, stream, skip = _open_stream(path, skip, fast, ONE_PIECE_THREADS)
    except (av.error.FFmpegError, UnicodeDecodeError, IndexError):
        return None
    with container:
        duration = _duration(container, stream) or _meta_duration(meta)
        fps = float(stream.average_rate or stream.guessed_rate or 0)
        time_base = float(stream.time_base) if stream.time_base else None
        scan = None if skip == "NONKEY" or not gop_skip else _keyframe_scan(path)
        # `--fast` is not segmented: its keyframes decode on one thread while a second
        # hashes them, which already keeps 2 cores busy (segments measured no faster).
        # Whether a file is segmented depends on the file alone (never on the cores), so
        # its samples are the same on every machine.
        if (
            scan is not None
            and segments
            and duration is not None
            and _segmentable(container, stream)
        ):
            starts = _segment_starts(scan, max(SEGMENT_MIN, duration / MAX_SEGMENTS))
            if len(starts) > 1:
                try:
                    return _segmented(path, meta, skip, scan, starts, duration, fps, time_base)
                except _Unsegmentable:
                    pass  # decode it in one piece below
        sampler = _Sampler(
            interval=sample_interval(duration),
            adaptive=duration is None,
            rotation_cw=None,
            meta_rotation=_meta_rotation(meta),
            time_base=time_base,
        )
        only_keys = skip == "NONKEY" and packet_filter
        # how far the packets go: the scan read them all; keyframes only reads them all too
        reach = scan.reach if scan is not None else _Reach() if only_keys else None
        with ThreadPoolExecutor(1, thread_name_prefix="verify-hash") as hasher:
            sampler.hasher = hasher
            try:
                if scan is not None:
                    frames = _gop_skipping(container.demux(stream), stream, scan.times, sampler)
                else:
                    frames = _frames(container, stream, keyframes_only=only_keys, reach=reach)
                for frame, fallback in frames:
                    sampler.feed(frame, fps, fallback)
            except (av.error.MemoryError, av.error.BlockingIOError) as e:
                # not damage: the file would analyse with more memory, so no partial result
                raise _out_of_memory(e) from e
            except (av.error.FFmpegError, EOFError):
                pass  # a damaged tail: keep what decoded (never crash on odd streams)
            return _Pass(
                sampler.results(),
                skip,
                duration,
                sampler.decoded,
                last_t=sampler.last_t,
                data_end=None if reach is None else reach.end,
            )


def _segmentable(container: av.container.InputContainer, stream: av.VideoStream) -> bool:
    """Not for MPEG program and transport streams (seeking there is approximate: every try
    ended in a fallback), nor for pictures above SEGMENT_MAX_PICTURE."""
    import av

    if container.format.name in ("mpeg", "mpegts"):
        return False
    cc = stream.codec_context
    try:
        bits = max(c.bits for c in av.VideoFormat(cc.pix_fmt or "yuv420p").components)
    except (ValueError, TypeError):
        bits = 8
    return (cc.width or 0) * (cc.height or 0) * (2 if bits > 8 else 1) <= SEGMENT_MAX_PICTURE


def _out_of_memory(e: Exception) -> MemoryError:
    """FFmpeg could not allocate memory (ENOMEM) or start a thread (EAGAIN, which reaches
    Python only then) under the analysis child's address-space limit: not damage, so no
    partial result. A builtin MemoryError, which the sandbox reports as "out of memory"
    (PyAV's is not one). Treated as damage, a 4K clip under a 500 MiB limit gave 0 frames."""
    return MemoryError(f"the video decoder ran out of memory: {e}")


def _segment_starts(scan: _Scan, min_len: float) -> list[int]:
    """Indices of the keyframes segments start at: the first, then each closed one (no
    leading pictures) at least `min_len` s after the previous start. A function of the
    file alone, so the samples never depend on the machine."""
    starts = [0]
    for i in range(1, len(scan.times)):
        if scan.clean[i] and scan.times[i] - scan.times[starts[-1]] >= min_len:
            starts.append(i)
    return starts


def _segmented(
    path: str,
    meta: dict[str, Any],
    skip: Skip,
    scan: _Scan,
    starts: list[int],
    duration: float,
    fps: float,
    time_base: float | None,
) -> _Pass:
    """Decode runs of GOPs in parallel, each from its first keyframe with a single-threaded
    decoder of its own, then replay the sampling rule over all of their frames in order
    (`_merge`). Regular samples and every hash are those of decoding the file in one piece
    (tests check, on the corpus too); scene changes are the rule applied to the frames the
    segments looked at, which include each segment's first keyframe. Which segments there
    are depends on the file alone, so the samples never depend on the machine. Raises
    _Unsegmentable where a segment cannot keep that promise."""
    interval = sample_interval(duration)
    workers = min(_decode_threads(), len(starts), MAX_DECODERS)
    first_ready, abort = threading.Event(), threading.Event()
    start: list[float] = []

    def run(k: int) -> _Sampler:
        import av.error

        sampler = _Sampler(
            interval=interval,
            adaptive=False,
            rotation_cw=None,
            meta_rotation=_meta_rotation(meta),
            time_base=time_base,
            segment=True,
            regrid=k > 0,
            hasher=hasher,
            slots=slots,
        )
        lo = scan.pts[starts[k]] if k else None
        hi = scan.pts[starts[k + 1]] if k + 1 < len(starts) else None
        try:
            if k:
                first_ready.wait()
                if not start:
                    raise _Unsegmentable("the first segment has no frame")
                sampler.start = start[0]
            if abort.is_set():
                raise _Unsegmentable("another segment gave up")
            try:
                # one thread each: a decoder's output delay, and with it which frames the
                # GOP-tail rule skips, then depends on the stream alone, never on the cores
                container, stream, _ = _open_stream(path, skip, False, 1)
                with container:
                    packets = _segment_packets(container, stream, lo, hi)
                    drop = scan.times[starts[k]] if k else None
                    frames = _gop_skipping(packets, stream, scan.times, sampler, drop)
                    for frame, fallback in frames:
                        if abort.is_set():
                            raise _Unsegmentable("another segment gave up")
                        sampler.feed(frame, fps, fallback)
                        if not k and not first_ready.is_set() and sampler.start is not None:
                            start.append(sampler.start)
                            first_ready.set()
            except (av.error.MemoryError, av.error.BlockingIOError) as e:
                raise _out_of_memory(e) from e
            except (av.error.FFmpegError, EOFError, IndexError) as e:
                # one decoder stops at damage and keeps what came before it; a segment past
                # the damage would keep more, so such files are decoded that way
                raise _Unsegmentable(f"a decoding error: {e}") from e
        except BaseException:
            abort.set()
            raise
        finally:
            if not k:
                first_ready.set()
        return sampler

    # All hashing on one thread, as when decoding in one piece: numpy's OpenBLAS takes a
    # 32 MB+ buffer for each thread that calls it, which under the analysis child's address
    # space limit made a 4K video end the child (OpenBLAS exits on a failed allocation)
    # where the decoders alone fitted. At most HASH_QUEUE frames wait, whichever segment.
    slots = threading.BoundedSemaphore(HASH_QUEUE)
    with (
        ThreadPoolExecutor(1, thread_name_prefix="verify-hash") as hasher,
        ThreadPoolExecutor(workers, thread_name_prefix="verify-decode") as pool,
    ):
        futures = [pool.submit(run, k) for k in range(len(starts))]
        try:
            wait(futures, return_when=FIRST_EXCEPTION)
        except BaseException:  # e.g. KeyboardInterrupt: the segments stop at their next frame
            abort.set()
            first_ready.set()
            raise
        failed = [f for f in futures if f.done() and f.exception() is not None]
        if failed:
            abort.set()
            first_ready.set()
            for f in futures:
                f.cancel()
            wait(futures)
            # the cause, not the segments that gave up because of it
            errors = [e for f in futures if not f.cancelled() and (e := f.exception())]
            raise next((e for e in errors if not isinstance(e, _Unsegmentable)), errors[0])
        segs = [f.result() for f in futures]
    rotations = {s.rotation_cw for s in segs if s.rotation_cw is not None}
    if len(rotations) > 1:
        raise _Unsegmentable("the rotation changes")
    taken = _merge(segs, interval)
    last_t = max((s.last_t for s in segs if s.last_t is not None), default=None)
    decoded = sum(s.decoded for s in segs)
    return _Pass(taken, skip, duration, decoded, len(segs), last_t, scan.reach.end)


def _segment_packets(
    container: av.container.InputContainer,
    stream: av.VideoStream,
    lo: int | None,
    hi: int | None,
) -> Iterator[av.Packet[Any] | None]:
    """The packets of one segment, from the keyframe whose pts is `lo` (None: the start of
    the file) up to the keyframe whose pts is `hi`, then None (flush the decoder). Segments
    after the first begin by giving the decoder the file's first keyframe, whose frames
    `_gop_skipping` drops: decoders keep state from it (ffmpeg reads the x264 build from
    its SEI and mimics that build's known bugs; a decoder that never saw it decoded a
    corpus file's later IDR frames as grey), then seek back to `lo`."""
    reached = lo is None
    if lo is not None:
        for packet in container.demux(stream):
            if packet.size and packet.is_keyframe:
                yield packet
                break
        else:
            raise _Unsegmentable("no keyframe")
        container.seek(lo, stream=stream, backward=True)
    first = True
    for packet in container.demux(stream):
        if not packet.size:
            break
        if not reached:
            assert lo is not None
            # a seek lands on a keyframe at or before its target, or it cannot be trusted
            if first and not (packet.is_keyframe and packet.pts is not None and packet.pts <= lo):
                raise _Unsegmentable("seeking landed past the segment")
            first = False
            if not packet.is_keyframe or packet.pts is None or packet.pts < lo:
                continue
            if packet.pts != lo:
                raise _Unsegmentable("seeking passed the keyframe")
            reached = True
        elif packet.is_keyframe and packet.pts == hi:
            break
        yield packet
    if not reached:
        raise _Unsegmentable("seeking found no keyframe")
    yield None


def _merge(segs: list[_Sampler], interval: float) -> list[tuple[float, Hashes, bool]]:
    """Replay the sampling rule over the frames of every segment in order. A segment's
    first frame is compared with the last frame decoded before it, as in one piece."""
    decider = _Decider(interval)
    taken: list[tuple[float, Hashes, bool]] = []
    prev: _Sampler | None = None
    lost = False  # a segment decoded nothing: frames are missing before the next one
    for seg in segs:
        for i, (t, diff, gap, fut) in enumerate(seg.frames):
            if not i and prev is not None:
                a, b = prev.prev_thumb, seg.first_thumb
                diff = None
                if a is not None and b is not None and a.shape == b.shape:
                    diff = float(np.abs(b - a).mean())
                gap = prev.gap or lost
            regular, scene = decider.decide(t, diff, gap)
            if regular or scene:
                if fut is None:
                    raise _Unsegmentable("a sample was not hashed")
                taken.append((t, fut.result(), scene))
        lost = not seg.frames and prev is not None
        if seg.frames:
            prev = seg
    return taken


def _frames(
    container: av.container.InputContainer,
    stream: av.VideoStream,
    *,
    keyframes_only: bool,
    reach: _Reach | None = None,
) -> Iterator[tuple[av.VideoFrame, float | None]]:
    """Decoded frames in presentation order, with a fallback time in seconds. Keyframes
    only: packets that are not keyframes are never sent to the decoder (NONKEY would still
    parse and drop each of them); frames flushed out of the reorder buffer at the end lose
    their pts, so they get their packet's (keyframes come out in packet order); `reach`
    sees every packet read."""
    if not keyframes_only:
        for frame in container.decode(stream):
            yield frame, None
        return
    times: deque[float | None] = deque()
    tb = stream.time_base
    for packet in container.demux(stream):
        if reach is not None and packet.size:
            reach.see(packet, stream)
        if packet.size and packet.is_keyframe:
            times.append(float(packet.pts * tb) if packet.pts is not None and tb else None)
            frames = stream.decode(packet)
        elif not packet.size:  # the end-of-stream flush
            frames = stream.decode(None)
        else:
            continue
        for frame in frames:
            yield frame, times.popleft() if times else None


@dataclass
class _Reach:
    """Where the video packets read so far end, in seconds from the stream's start: a
    truncated file's stop before its stated duration (`_short`). Kept in the stream's time
    base while packets are seen (every packet of a file goes through `see`)."""

    last: int | None = None  # the latest packet end, in time-base units
    # the stream's time base and start, copied: a stream outlives its closed container only
    # as a dangling object (its time base read None once the file was closed)
    time_base: Fraction | None = None
    start: int = 0

    def see(self, packet: av.Packet[Any], stream: av.VideoStream) -> None:
        pts = packet.pts
        if pts is None:
            return
        end = pts + (packet.duration or 0)
        if self.last is None:
            self.time_base, self.start = stream.time_base, stream.start_time or 0
        if self.last is None or end > self.last:
            self.last = end

    @property
    def end(self) -> float | None:
        if self.last is None or self.time_base is None:
            return None
        return float((self.last - self.start) * self.time_base)


@dataclass
class _Scan:
    """The keyframe packets, in decode order, from a demux-only pass."""

    times: list[float]  # presentation times, s
    pts: list[int]  # the same, in the stream's time base
    clean: list[bool]  # a decoder started here decodes what follows as one started earlier
    reach: _Reach = field(default_factory=lambda: _Reach())  # how far its packets go


def _keyframe_scan(path: str) -> _Scan | None:
    """The keyframes of the first video stream from a demux-only pass (no decoding: 0.03-0.1
    s for a 60 s clip). None when any has no pts, when they are not shown in decode order
    (as every sane stream has them: anything else is decoded in full rather than reasoned
    about), or when there are fewer than two.

    A keyframe is clean when no packet after it in decode order is shown before it (no
    leading pictures, which refer to the GOP before) and, for H.264, when it is an IDR
    picture: a plain I-frame marked as a keyframe (recovery point) does not stop later
    frames referring past it."""
    import av
    import av.error

    scan = _Scan([], [], [])
    pending: int | None = None  # the keyframe just read: is the next packet shown after it?
    try:
        with av.open(path) as container:
            stream = container.streams.video[0]
            tb = stream.time_base
            if tb is None:
                return None
            h264 = stream.codec_context.name == "h264"
            extradata = stream.codec_context.extradata or b""
            # avcC (MP4, MKV): NAL units prefixed by their length; else Annex B start codes
            length_size = (extradata[4] & 3) + 1 if extradata[:1] == b"\x01" else 0
            for packet in container.demux(stream):
                if not packet.size:
                    continue
                scan.reach.see(packet, stream)
                if pending is not None:
                    scan.clean[-1] &= packet.pts is not None and packet.pts > pending
                    pending = None
                if packet.is_keyframe:
                    if packet.pts is None:
                        return None
                    scan.pts.append(packet.pts)
                    scan.times.append(float(packet.pts * tb))
                    scan.clean.append(not h264 or _h264_idr(bytes(packet), length_size))
                    pending = packet.pts
    except (av.error.FFmpegError, UnicodeDecodeError, IndexError, EOFError):
        return None
    if len(scan.times) < 2 or not all(a < b for a, b in pairwise(scan.times)):
        return None
    return scan


def _h264_idr(data: bytes, length_size: int) -> bool:
    """Whether an H.264 access unit's first slice is an IDR slice (NAL type 5; a non-IDR
    slice is 1-4). `length_size`: bytes of the NAL length prefix, 0 for Annex B."""
    pos = 0
    while pos < len(data):
        if length_size:
            n = int.from_bytes(data[pos : pos + length_size], "big")
            start, pos = pos + length_size, pos + length_size + n
        else:
            i = data.find(b"\x00\x00\x01", pos)
            if i < 0:
                return False
            start = i + 3
            nxt = data.find(b"\x00\x00\x01", start)
            pos = len(data) if nxt < 0 else nxt
        if start >= len(data):
            return False
        kind = data[start] & 0x1F
        if 1 <= kind <= 5:
            return kind == 5
    return False


def _gop_skipping(
    packets: Iterator[av.Packet[Any] | None],
    stream: av.VideoStream,
    keys: list[float],
    sampler: _Sampler,
    drop_before: float | None = None,
) -> Iterator[tuple[av.VideoFrame, float | None]]:
    """Decoded frames, leaving out the tail of every GOP that holds no sample.

    A packet that is not a keyframe is not decoded when the next keyframe (in decode order)
    is shown at or before the time the next regular sample is due: no frame before that
    keyframe can be the first one at or after that time, and nothing after the keyframe
    refers back past it. The regular samples and their hashes are those of decoding
    everything (a test checks). After such a jump, frames shown before the keyframe are
    dropped (an open GOP's leading pictures refer to what was skipped), and the keyframe is
    compared with the last frame before the gap by the usual cut rule: encoders put
    keyframes at cuts, so cuts are still found (fast motion across a gap can add a
    scene-change sample at a keyframe; the gap's change never enters the running
    average). With 1-2 s GOPs (phones) most of each GOP is skipped; with long GOPs,
    little. `packets`: the demuxer's, or a segment's (`_segment_packets`); None or an empty
    packet flushes the decoder. Frames skipped at the end leave `sampler.gap` set.
    `drop_before`: frames shown before this time (s) are dropped, as after a jump."""
    tb = stream.time_base
    nxt = 0  # index in `keys` of the next keyframe not yet sent
    jumped_to = drop_before
    for packet in packets:
        if packet is None or not packet.size:  # the end-of-stream flush
            frames = stream.decode(None)
        else:
            pts = float(packet.pts * tb) if packet.pts is not None and tb else None
            if packet.is_keyframe and pts is not None:
                while nxt < len(keys) and keys[nxt] <= pts + 1e-6:
                    nxt += 1
            elif pts is not None and nxt < len(keys) and sampler.start is not None:
                due = sampler.start + sampler.next_t
                if keys[nxt] <= due + 1e-6:
                    jumped_to = keys[nxt]
                    continue
            frames = stream.decode(packet)
        for frame in frames:
            if jumped_to is not None:
                shown = float(frame.pts * tb) if frame.pts is not None and tb else None
                if shown is not None and shown < jumped_to - 1e-6:
                    continue
                sampler.gap = True
                jumped_to = None
            yield frame, None
    if jumped_to is not None:
        sampler.gap = True


def _meta_duration(meta: dict[str, Any]) -> float | None:
    d = meta.get("duration")
    return float(d) if isinstance(d, int | float) and d > 0 else None


def _expected(duration: float | None, interval: float) -> int:
    if duration is None:
        return 1
    return int(duration / interval) + 1


def extract_video(
    path: str, meta: dict[str, Any], *, fast: bool = False
) -> tuple[list[FrameHash], dict[str, float] | None]:
    """A video's sampled frames, and `{"ends_at", "duration"}` (seconds) when its frames end
    well before the duration its container gives and no packet reaches that end: a
    truncated or damaged file, whose frames cover only its beginning (else None). `ends_at`
    is where its video stops: the end of the last packet read, or the last frame decoded."""
    first = _decode(path, meta, None, fast)
    if first is None:
        return [], None
    best = first
    if first.skip == "NONKEY" and not first.taken:
        # e.g. field-coded (interlaced) streams whose keyframe spans two packets: let the
        # decoder see every packet and drop non-keyframes itself
        again = _decode(path, meta, "NONKEY", fast, packet_filter=False)
        if again is not None:
            best = again
    if first.skip == "NONREF":
        want = _expected(first.duration, sample_interval(first.duration))
        if first.regular_count() < SKIP_FALLBACK * want:
            full = _decode(path, meta, "DEFAULT", fast)
            if full is not None and full.regular_count() > first.regular_count():
                best = full
    taken = sorted(best.taken, key=lambda x: x[0])
    frames = [frame_hash(i, t, h, scene) for i, (t, h, scene) in enumerate(taken)]
    return frames, _short(path, best)


def _short(path: str, decoded: _Pass) -> dict[str, float] | None:
    """`{"ends_at", "duration"}` when the frames decoded end more than the slack before the
    stated duration and the file holds no video packet reaching it (`_data_end`): frames not
    decoded because no sample needed them (GOP tails, non-keyframes with `--fast`) do not
    count, missing data does."""
    duration, last_t = decoded.duration, decoded.last_t
    if duration is None or last_t is None:
        return None  # nothing to compare (no frames at all is reported as such)
    until = duration - max(END_SLACK, END_SLACK_SHARE * duration)
    if last_t >= until:
        return None
    # the packets this pass read, when it read them all (else a read near the end)
    data_end = decoded.data_end if decoded.data_end is not None else _data_end(path, until)
    if data_end is not None and data_end >= until:
        return None
    return {"ends_at": round(max(last_t, data_end or 0.0), 3), "duration": round(duration, 3)}


def _data_end(path: str, until: float) -> float | None:
    """Where the file's video packets end (s from the stream's start), read from a few
    seconds before `until` without decoding: as far as the packets read go, stopping at the
    first reaching `until`; None when none was read, or `until` when the stream has no times
    to compare.
    A truncated file has no packets left to give there (a cut MP4's index still lists them)."""
    import av
    import av.error

    reach = _Reach()
    try:
        with av.open(path) as container:
            stream = container.streams.video[0]
            tb = stream.time_base
            if tb is None:
                return until
            start = stream.start_time or 0
            container.seek(
                start + int(max(0.0, until - END_PROBE) / tb), stream=stream, backward=True
            )
            for packet in container.demux(stream):
                if packet.size:
                    reach.see(packet, stream)
                if reach.end is not None and reach.end >= until:
                    break
    except (av.error.FFmpegError, UnicodeDecodeError, IndexError, EOFError):
        pass  # the damage that stopped the decoder stops this read too
    return reach.end
