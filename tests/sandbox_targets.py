"""Targets the sandbox tests run in the child process (`tests.sandbox_targets:NAME`).

They misbehave on purpose (segfault, hang, hog memory, print to stdout), or stand in for the
frame sampler until `verify.analysis.frames` exists.
"""

import os
import signal
import sys
import time
import types
from typing import Any

from verify.errors import AnalysisError


def segfault(path: str) -> None:
    os.kill(os.getpid(), signal.SIGSEGV)


def sleep(path: str, seconds: float = 30.0) -> None:
    time.sleep(seconds)


def slow_analysis(path: str, fast: bool = False) -> None:
    """An analysis (`analyse_many` passes `fast`) that takes 30 s."""
    time.sleep(30.0)


def spin(path: str) -> None:
    while True:
        pass


def hog_memory(path: str) -> int:
    blocks = []
    for _ in range(64):
        blocks.append(bytearray(256 << 20))  # 16 GiB in total: far past RLIMIT_AS
    return len(blocks)


def exit_quietly(path: str, status: int = 0) -> None:
    sys.stdout.flush()
    os._exit(status)


def raise_value_error(path: str) -> None:
    raise ValueError("line one\nline two\x00")


def chatty(path: str) -> dict[str, Any]:
    """Writes to stdout three ways; none of it may corrupt the reply."""
    print("noise from print")
    sys.stdout.flush()
    os.write(1, b"noise from fd 1\n")
    return {"size": os.path.getsize(path), "bytes": b"\x00\xff", "tuple": (1, 2)}


def exifread_details(path: str) -> int:
    """ExifRead with MakerNote parsing on: loops `count` times on a MakerNote count bomb."""
    import exifread

    with open(path, "rb") as fh:
        return len(exifread.process_file(fh, details=True))


def metadata_and_decode(path: str) -> list[Any]:
    """read_metadata, then decode the pixels (every frame of a video, capped): stands in for
    the frame sampler so corrupt pixel data fails the way it will in analyse_file."""
    from verify.analysis.metadata import ffmpeg_reason, pillow_for, read_metadata

    kind, mime, meta = read_metadata(path)
    if kind == "image":
        image_mod, formats = pillow_for(mime)
        with image_mod.open(path, formats=formats) as im:
            im.load()
    elif kind == "video":
        import av

        decoded = 0
        try:
            with av.open(path, metadata_errors="surrogateescape") as container:
                for decoded, _frame in enumerate(container.decode(video=0), start=1):
                    if decoded >= 300:
                        break
        except av.FFmpegError as exc:
            if decoded == 0:
                reason = ffmpeg_reason(exc)
                raise AnalysisError(f"truncated or corrupt video: {reason}") from None
        if decoded == 0:
            raise AnalysisError("truncated or corrupt video: no frame could be decoded")
    return [kind, mime, meta]


def analyse_with_stub_frames(path: str, fast: bool = False) -> Any:
    """verify.analysis.analyse_file with a stub `verify.analysis.frames` (not written yet on
    this branch): one frame with a hash above 2**63 and a PDQ, to exercise the JSON rebuild."""
    from verify.analysis import FrameHash, analyse_file

    def extract_frames(path: str, kind: str, meta: dict[str, Any], *, fast: bool) -> list[Any]:
        return [
            FrameHash(
                idx=0,
                pts=0.0,
                phash=0xFFEE000000000001,
                dhash=0,
                pdq=bytes(range(32)),
                pdq_quality=100,
                informative=True,
                scene_change=fast,
            ),
            FrameHash(idx=1, pts=1.5, phash=0x8000000000000000, dhash=5, informative=False),
        ]

    def extract_video(path: str, meta: dict[str, Any], *, fast: bool) -> tuple[list[Any], None]:
        return extract_frames(path, "video", meta, fast=fast), None

    stub = types.ModuleType("verify.analysis.frames")
    stub.extract_frames = extract_frames  # type: ignore[attr-defined]
    stub.extract_video = extract_video  # type: ignore[attr-defined]
    sys.modules["verify.analysis.frames"] = stub
    return analyse_file(path, fast=fast)


def by_name(path: str) -> Any:
    """Misbehaves according to the file's name (for pool tests); otherwise reads metadata."""
    from verify.analysis.metadata import read_metadata

    name = os.path.basename(path)
    if name.startswith("segv"):
        segfault(path)
    if name.startswith("hang"):
        sleep(path)
    if name.startswith("oom"):
        hog_memory(path)
    if name.startswith("exit"):
        exit_quietly(path, 3)
    return read_metadata(path)


def open_fds(path: str) -> list[str]:
    """What this child's file descriptors point at (Linux /proc)."""
    targets = []
    for fd in os.listdir("/proc/self/fd"):
        try:
            targets.append(os.readlink(f"/proc/self/fd/{fd}"))
        except OSError:
            continue
    return sorted(targets)


def warmed_up(path: str) -> bool:
    """Whether the fork server had finished its warm-up when it forked this child (the
    warm-up imports exifread; the first imports do not)."""
    return "exifread" in sys.modules


def _report_metadata(path: str, on_partial: Any) -> None:
    from verify.analysis.metadata import read_metadata

    kind, mime, meta = read_metadata(path)
    if on_partial is not None:
        on_partial({"kind": kind, "mime": mime, "meta": meta})


def metadata_then_hang(path: str, fast: bool = False, on_partial: Any = None) -> None:
    """Reads and reports the metadata as `analyse_file` does, then never finishes its frames
    (a video too long for the timeout)."""
    _report_metadata(path, on_partial)
    time.sleep(30.0)


def metadata_then_segfault(path: str, fast: bool = False, on_partial: Any = None) -> None:
    """Reports the metadata, then crashes (a decoder segfault while sampling frames)."""
    _report_metadata(path, on_partial)
    os.kill(os.getpid(), signal.SIGSEGV)


def metadata_then_error(path: str, fast: bool = False, on_partial: Any = None) -> None:
    """Reports the metadata, then fails with an exception the child reports itself."""
    _report_metadata(path, on_partial)
    raise MemoryError


def off_contract_then_segfault(path: str, fast: bool = False, on_partial: Any = None) -> None:
    """Reports something that is not metadata, then crashes."""
    if on_partial is not None:
        on_partial({"kind": "video", "mime": None, "meta": {"make": "x"}})
    os.kill(os.getpid(), signal.SIGSEGV)


def huge_report_then_segfault(path: str, fast: bool = False, on_partial: Any = None) -> None:
    """Reports metadata too large to keep (over the server's MAX_PARTIAL), then crashes."""
    from verify.analysis.metadata import read_metadata

    kind, mime, meta = read_metadata(path)
    if on_partial is not None:
        on_partial({"kind": kind, "mime": mime, "meta": {**meta, "software": "x" * (5 << 20)}})
    os.kill(os.getpid(), signal.SIGSEGV)


def analyse_file_frames_hang(path: str, fast: bool = False, on_partial: Any = None) -> Any:
    """The real `analyse_file`, whose frame sampling never ends (a video too long for the
    timeout)."""
    from verify.analysis import analyse_file, frames

    def hang(*args: Any, **kwargs: Any) -> None:
        time.sleep(30.0)

    frames.extract_frames = hang  # type: ignore[assignment]
    frames.extract_video = hang  # type: ignore[assignment]
    return analyse_file(path, fast=fast, on_partial=on_partial)


def analyse_file_slowly(path: str, fast: bool = False, on_partial: Any = None) -> Any:
    """The real `analyse_file`, 2.5 s late (a long video, for progress while it runs)."""
    from verify.analysis import analyse_file

    time.sleep(2.5)
    return analyse_file(path, fast=fast, on_partial=on_partial)


def big_result(path: str, size: int = 0) -> str:
    """A reply of `size` bytes and more: many pipe-sized reads for the parent."""
    return "x" * size
