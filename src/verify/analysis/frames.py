"""Frame sampling: one frame per image, sampled frames per video, hashed with the hashing recipe.

Images: one frame (pts 0). JPEGs are decoded with `draft('L', ...)`, libjpeg's DCT-domain
downscale, asking for the working size from the short side so the reduction never goes below
the 512 px working image (performance-anchors.md §2); then EXIF transpose and the recipe.

Video (PyAV; see docs/hashing.md "Video sampling"):
- decode with `thread_type="AUTO"` (SLICE for keyframes only); streams with B-frames decode
  with `skip_frame="NONREF"` (frames no other frame refers to are skipped: exact, about half
  the frames on x264 defaults), streams without B-frames decode fully. `BIDIR` is
  deliberately not used: it drops reference B-frames too and corrupts the frames after them
  (see `_skip_mode`). If skipping yields fewer than 75 % of the expected samples, the file
  is decoded again in full. The tail of a GOP that holds no sample is not decoded at all
  (`_gop_skipping`). Sampled frames go through one shared swscale context and are hashed
  on a second thread while decoding goes on;
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
- a file with no decodable video frames gives [] (the caller decides what that means).
"""

# PyAV is imported only where video is decoded: a still (e.g. `verify search photo.jpg`, whose
# analysis child is a fresh interpreter) does not pay its ~0.07 s import.
from __future__ import annotations

import math
import threading
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
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

__all__ = ["MAX_SAMPLES", "extract_frames", "frame_hash", "sample_interval"]

MAX_SAMPLES = 300  # regular samples per video (1 fps up to 5 minutes)
MAX_SCENE_CHANGES = 100
SCENE_DIFF = 15.0  # mean |diff| of the luma thumbnail (0-255) must exceed this ...
SCENE_RATIO = 4.0  # ... and this many times its running average (motion is not a cut)
SCENE_MIN_GAP = 0.25  # seconds after the previous sample
SKIP_FALLBACK = 0.75  # re-decode fully when skipping yields fewer samples than this x expected
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
        return _video_frames(path, meta, fast=fast)
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
class _Sampler:
    interval: float
    adaptive: bool  # duration unknown: halve the density when over MAX_SAMPLES
    rotation_cw: int | None
    meta_rotation: int
    time_base: float | None = None  # the stream's, in seconds
    start: float | None = None
    next_t: float = 0.0
    last_taken: float = -1e9
    prev_thumb: npt.NDArray[np.float32] | None = None
    gap: bool = False  # frames were skipped since prev_thumb (see _gop_skipping)
    diff_avg: float | None = None
    taken: list[tuple[float, Future[Hashes], bool]] = field(default_factory=list)
    scene_count: int = 0
    decoded: int = 0
    # one swscale context for every sampled frame: a frame's own `to_ndarray(format=...)`
    # builds a new one each time (6-7 ms a frame at 720p; same pixels, a test checks)
    reformatter: VideoReformatter = field(default_factory=lambda: _reformatter())
    hasher: ThreadPoolExecutor | None = None
    slots: threading.BoundedSemaphore = field(
        default_factory=lambda: threading.BoundedSemaphore(HASH_QUEUE)
    )

    def feed(self, frame: av.VideoFrame, fps: float, fallback: float | None = None) -> None:
        t_abs = self.decoded / fps if fps > 0 else float(self.decoded)
        # frames flushed out of a frame-threaded decoder can lack a time base (frame.time is
        # NaN) but keep their pts: the stream's time base gives their time
        own = frame.pts * self.time_base if frame.pts is not None and self.time_base else None
        for cand in (frame.time, own, fallback):
            if cand is not None and math.isfinite(cand):
                t_abs = float(cand)
                break
        if self.start is None:
            self.start = t_abs
        t = max(0.0, t_abs - self.start)
        self.decoded += 1
        if self.rotation_cw is None:
            self.rotation_cw = _rotation_cw(frame, self.meta_rotation)

        thumb = _thumb(frame)
        scene = False
        gap, self.gap = self.gap, False
        if self.prev_thumb is not None and thumb.shape == self.prev_thumb.shape:
            diff = float(np.abs(thumb - self.prev_thumb).mean())
            baseline = self.diff_avg if self.diff_avg is not None else SCENE_DIFF
            scene = (
                diff > SCENE_DIFF
                and diff > SCENE_RATIO * baseline
                and t - self.last_taken >= SCENE_MIN_GAP
                and self.scene_count < MAX_SCENE_CHANGES
            )
            # running average of frame-to-frame change, cuts and gaps excluded
            if not scene and not gap:
                avg = self.diff_avg
                self.diff_avg = diff if avg is None else 0.8 * avg + 0.2 * diff
        self.prev_thumb = thumb

        regular = t >= self.next_t - 1e-6
        if not (regular or scene):
            return
        if regular:
            self.next_t = (math.floor(t / self.interval + 1e-9) + 1) * self.interval
        g = np.asarray(self.reformatter.reformat(frame, format="gray").to_ndarray(), np.uint8)
        self.taken.append((t, self._hash(g, self.rotation_cw), scene))
        self.last_taken = t
        if scene:
            self.scene_count += 1
        if self.adaptive and len(self.taken) - self.scene_count > MAX_SAMPLES:
            self._thin()

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
        kept: list[tuple[float, Future[Hashes], bool]] = []
        for t, h, scene in self.taken:
            on_grid = abs(t / self.interval - round(t / self.interval)) * self.interval < 0.5
            if scene or on_grid:
                kept.append((t, h, scene))
        self.taken = kept
        self.next_t = (math.floor(self.last_taken / self.interval) + 1) * self.interval


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

    def regular_count(self) -> int:
        return sum(1 for _, _, scene in self.taken if not scene)


def _decode(
    path: str,
    meta: dict[str, Any],
    skip: Skip | None,
    fast: bool,
    *,
    packet_filter: bool = True,
    gop_skip: bool = True,
) -> _Pass | None:
    """One decoding pass (`skip` None: chosen from the stream; `gop_skip`: leave out GOP
    tails no sample needs, see `_gop_skipping`); None when the file has no video stream or
    cannot be opened."""
    import av
    import av.error

    try:
        container = av.open(path)
    except (av.error.FFmpegError, UnicodeDecodeError):
        return None
    with container:
        if not container.streams.video:
            return None
        stream = container.streams.video[0]
        if skip is None:
            skip = _skip_mode(stream, fast)
        # frame threading only pays when many frames are decoded: keyframes-only decoding
        # was 2x slower with it (0.44 s against 0.23 s on a 20 s 720p clip)
        stream.thread_type = "SLICE" if skip == "NONKEY" else "AUTO"
        stream.codec_context.skip_frame = skip
        duration = _duration(container, stream) or _meta_duration(meta)
        fps = float(stream.average_rate or stream.guessed_rate or 0)
        sampler = _Sampler(
            interval=sample_interval(duration),
            adaptive=duration is None,
            rotation_cw=None,
            meta_rotation=_meta_rotation(meta),
            time_base=float(stream.time_base) if stream.time_base else None,
        )
        only_keys = skip == "NONKEY" and packet_filter
        keys = [] if skip == "NONKEY" or not gop_skip else _keyframe_times(path)
        with ThreadPoolExecutor(1, thread_name_prefix="verify-hash") as hasher:
            sampler.hasher = hasher
            try:
                # keyframes shown in decode order, as every sane stream has them; anything
                # else is decoded in full rather than reasoned about
                if len(keys) > 1 and all(a < b for a, b in pairwise(keys)):
                    frames = _gop_skipping(container, stream, keys, sampler)
                else:
                    frames = _frames(container, stream, keyframes_only=only_keys)
                for frame, fallback in frames:
                    sampler.feed(frame, fps, fallback)
            except (av.error.FFmpegError, EOFError):
                pass  # a damaged tail: keep what decoded (never crash on odd streams)
            return _Pass(sampler.results(), skip, duration, sampler.decoded)


def _frames(
    container: av.container.InputContainer, stream: av.VideoStream, *, keyframes_only: bool
) -> Iterator[tuple[av.VideoFrame, float | None]]:
    """Decoded frames in presentation order, with a fallback time in seconds. Keyframes
    only: packets that are not keyframes are never sent to the decoder (NONKEY would still
    parse and drop each of them); frames flushed out of the reorder buffer at the end lose
    their pts, so they get their packet's (keyframes come out in packet order)."""
    if not keyframes_only:
        for frame in container.decode(stream):
            yield frame, None
        return
    times: deque[float | None] = deque()
    tb = stream.time_base
    for packet in container.demux(stream):
        if packet.size and packet.is_keyframe:
            times.append(float(packet.pts * tb) if packet.pts is not None and tb else None)
            frames = stream.decode(packet)
        elif not packet.size:  # the end-of-stream flush
            frames = stream.decode(None)
        else:
            continue
        for frame in frames:
            yield frame, times.popleft() if times else None


def _keyframe_times(path: str) -> list[float]:
    """Presentation times (s) of the keyframe packets, in decode order, from a demux-only
    pass (no decoding: 0.03-0.1 s for a 60 s clip). [] when any is unknown."""
    import av
    import av.error

    try:
        with av.open(path) as container:
            stream = container.streams.video[0]
            tb = stream.time_base
            if tb is None:
                return []
            keys: list[float] = []
            for packet in container.demux(stream):
                if packet.size and packet.is_keyframe:
                    if packet.pts is None:
                        return []
                    keys.append(float(packet.pts * tb))
            return keys
    except (av.error.FFmpegError, UnicodeDecodeError, IndexError, EOFError):
        return []


def _gop_skipping(
    container: av.container.InputContainer,
    stream: av.VideoStream,
    keys: list[float],
    sampler: _Sampler,
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
    little."""
    tb = stream.time_base
    nxt = 0  # index in `keys` of the next keyframe not yet sent
    jumped_to: float | None = None
    for packet in container.demux(stream):
        if not packet.size:  # the end-of-stream flush
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


def _meta_duration(meta: dict[str, Any]) -> float | None:
    d = meta.get("duration")
    return float(d) if isinstance(d, int | float) and d > 0 else None


def _expected(duration: float | None, interval: float) -> int:
    if duration is None:
        return 1
    return int(duration / interval) + 1


def _video_frames(path: str, meta: dict[str, Any], *, fast: bool) -> list[FrameHash]:
    first = _decode(path, meta, None, fast)
    if first is None:
        return []
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
    return [frame_hash(i, t, h, scene) for i, (t, h, scene) in enumerate(taken)]
