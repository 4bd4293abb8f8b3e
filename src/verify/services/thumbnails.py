"""Contact-sheet thumbnails decoded from the evidence store, in a child process.

Decoding is untrusted-input work (PyAV segfaulted on mutated video; see ARCHITECTURE.md),
so the report never decodes in its own process: `thumbnails_in_child` calls
`thumbnails_of_file` through `verify.analysis.sandbox.AnalysisPool` (a forked child per
file with a wall-clock timeout, an address-space and a CPU limit; see docs/security.md)
and gets base64 JPEGs back.

Output is deterministic for the same bytes and library versions: frames are picked by
pts (seek to the previous keyframe, decode forward), rotated upright, scaled to fit
`THUMB_SIDE`, and encoded as baseline JPEG without metadata.
"""

import base64
import io
from typing import Any

THUMB_SIDE = 160
JPEG_QUALITY = 72
PTS_TOLERANCE_S = 0.002
TARGET = "verify.services.thumbnails:thumbnails_of_file"


def _jpeg(img: Any) -> str:
    from PIL import Image

    img = img.convert("RGB")
    img.thumbnail((THUMB_SIDE, THUMB_SIDE), Image.Resampling.LANCZOS)
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=JPEG_QUALITY, optimize=False, progressive=False)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def image_thumbnail(path: str) -> str:
    from PIL import ImageOps

    from verify.analysis.metadata import pillow_for

    image_mod, formats = pillow_for()  # the formats ingest reads, pillow-heif included
    with image_mod.open(path, formats=formats) as img:
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


def thumbnails_of_file(path: str, *, kind: str, pts: list[float]) -> list[str | None]:
    """Child-side target: base64 JPEG per requested pts (None where no frame decodes)."""
    times = [float(p) for p in pts]
    if kind == "image":
        return [image_thumbnail(path)] * len(times)
    if kind == "video":
        return video_thumbnails(path, times)
    return [None] * len(times)


def thumbnails_in_child(jobs: list[dict[str, Any]]) -> tuple[list[list[str | None]], str | None]:
    """Decode each job {"path", "kind", "pts", "name"} in the analysis sandbox: one fork
    server imports the decoders once, and each file is decoded in its own forked child with
    the sandbox's limits (`AnalysisPool`).

    Returns (results, problem): a file whose decoder fails, crashes or times out gets no
    thumbnails and is named in `problem`, so the report still renders and says why.
    """
    from verify.analysis.sandbox import AnalysisPool

    results: list[list[str | None]] = []
    problems: list[str] = []
    if not jobs:
        return results, None
    with AnalysisPool(TARGET) as pool:
        for job in jobs:
            results.append(_one(pool, job, problems))
    return results, "; ".join(problems) or None


def _one(pool: Any, job: dict[str, Any], problems: list[str]) -> list[str | None]:
    from verify.errors import AnalysisError

    want = len(job["pts"])
    name = job.get("name", job["path"])
    try:
        got = pool.run(job["path"], kind=job["kind"], pts=job["pts"])
    except AnalysisError as exc:
        problems.append(f"{name}: {exc.message}")
        return [None] * want
    if not isinstance(got, list) or len(got) != want:
        problems.append(f"{name}: unexpected decoder output")
        return [None] * want
    return [v if isinstance(v, str) else None for v in got]
