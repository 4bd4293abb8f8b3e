"""Contact-sheet thumbnails decoded from the evidence store, in a child process.

Decoding is untrusted-input work (PyAV segfaulted on mutated video; see ARCHITECTURE.md),
so the report never decodes in its own process: `thumbnails_in_child` runs this module as
`python -m verify.services.thumbnails` with a wall-clock timeout and an address-space
limit, sends the jobs as JSON on stdin and reads base64 JPEGs back. When
`verify.analysis.sandbox.run_in_child` lands on main this can move onto it.

Output is deterministic for the same bytes and library versions: frames are picked by
pts (seek to the previous keyframe, decode forward), rotated upright, scaled to fit
`THUMB_SIDE`, and encoded as baseline JPEG without metadata.
"""

import base64
import io
import json
import resource
import subprocess
import sys
from typing import Any

THUMB_SIDE = 160
JPEG_QUALITY = 72
CHILD_TIMEOUT_S = 120
CHILD_MEMORY_BYTES = 4 << 30
PTS_TOLERANCE_S = 0.002


def _jpeg(img: Any) -> str:
    from PIL import Image

    img = img.convert("RGB")
    img.thumbnail((THUMB_SIDE, THUMB_SIDE), Image.Resampling.LANCZOS)
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=JPEG_QUALITY, optimize=False, progressive=False)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def image_thumbnail(path: str) -> str:
    from PIL import Image, ImageOps

    try:
        import pillow_heif

        pillow_heif.register_heif_opener()
    except ImportError:  # HEIC support is optional for thumbnails
        pass
    with Image.open(path) as img:
        img.draft("RGB", (THUMB_SIDE * 2, THUMB_SIDE * 2))
        upright = ImageOps.exif_transpose(img)
        return _jpeg(upright)


def video_thumbnails(path: str, pts_list: list[float]) -> list[str | None]:
    """One thumbnail per requested pts (seconds from the stream start)."""
    import av

    out: list[str | None] = [None] * len(pts_list)
    with av.open(path, metadata_errors="surrogateescape") as container:
        stream = container.streams.video[0]
        tb = stream.time_base
        if tb is None:
            return out
        start = float(stream.start_time * tb) if stream.start_time is not None else 0.0
        for i, pts in sorted(enumerate(pts_list), key=lambda p: p[1]):
            target = start + pts
            container.seek(int(target / tb), stream=stream, backward=True, any_frame=False)
            chosen = None
            for frame in container.decode(stream):
                if frame.time is None:
                    continue
                chosen = frame
                if frame.time >= target - PTS_TOLERANCE_S:
                    break
            if chosen is not None:
                img = chosen.to_image()  # type: ignore[no-untyped-call]
                rotation = int(getattr(chosen, "rotation", 0) or 0)
                if rotation:
                    img = img.rotate(rotation, expand=True)
                out[i] = _jpeg(img)
    return out


def run_jobs(jobs: list[dict[str, Any]]) -> list[list[str | None]]:
    """Each job: {"path", "kind": image|video, "pts": [...]} -> base64 JPEG per pts."""
    import av
    from PIL import Image

    undecodable = (
        OSError,
        ValueError,
        EOFError,
        IndexError,
        av.FFmpegError,
        Image.DecompressionBombError,
    )
    results: list[list[str | None]] = []
    for job in jobs:
        pts = [float(p) for p in job["pts"]]
        try:
            if job["kind"] == "image":
                thumb = image_thumbnail(job["path"])
                results.append([thumb] * len(pts))
            elif job["kind"] == "video":
                results.append(video_thumbnails(job["path"], pts))
            else:
                results.append([None] * len(pts))
        except undecodable:  # a file that will not decode gets no thumbnail, not an error
            results.append([None] * len(pts))
    return results


def thumbnails_in_child(jobs: list[dict[str, Any]]) -> tuple[list[list[str | None]], str | None]:
    """Run `run_jobs` in a child process. Returns (results, problem): on a crash or timeout
    every thumbnail is None and `problem` says why, so the report still renders."""
    empty: list[list[str | None]] = [[None] * len(j["pts"]) for j in jobs]
    if not jobs:
        return empty, None
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "verify.services.thumbnails"],
            input=json.dumps(jobs).encode(),
            capture_output=True,
            timeout=CHILD_TIMEOUT_S,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return empty, f"thumbnail decoder timed out after {CHILD_TIMEOUT_S} s"
    if proc.returncode != 0:
        return empty, f"thumbnail decoder failed (exit status {proc.returncode})"
    try:
        results = json.loads(proc.stdout)
    except ValueError:
        return empty, "thumbnail decoder returned unreadable output"
    if not isinstance(results, list) or len(results) != len(jobs):
        return empty, "thumbnail decoder returned unexpected output"
    return results, None


def _main() -> None:  # pragma: no cover - exercised through thumbnails_in_child
    # The limit is set here, in the child, before any decoder is loaded (no preexec_fn:
    # that is unsafe when the parent has threads).
    resource.setrlimit(resource.RLIMIT_AS, (CHILD_MEMORY_BYTES, CHILD_MEMORY_BYTES))
    jobs = json.loads(sys.stdin.buffer.read())
    sys.stdout.write(json.dumps(run_jobs(jobs)))


if __name__ == "__main__":
    _main()
