"""Decode chosen frames of a stored file and write them as JPEG working copies.

Runs in a child process (`verify.analysis.sandbox.run_in_child`): the file is untrusted.
Frames are written upright (EXIF orientation for images, the stream rotation for video),
named `<stem>-f<index>-<pts in ms>ms.jpg`, so a verifier can feed them to reverse image
search and still tell which frame of which file each one is.
"""

from pathlib import Path
from typing import Any

JPEG_QUALITY = 92


def frame_name(stem: str, index: int, pts: float) -> str:
    """An exported frame's file name: which file (`stem`), which frame, at what time."""
    return f"{stem}-f{index:04d}-{round(pts * 1000):08d}ms.jpg"


def export_frames(
    path: str,
    *,
    kind: str,
    mime: str | None = None,
    rotation: int,
    frames: list[dict[str, Any]],
    out_dir: str,
    stem: str,
) -> list[dict[str, Any]]:
    from PIL import ImageOps

    from verify.analysis.metadata import pillow_for

    out = Path(out_dir)
    written: list[dict[str, Any]] = []
    if kind == "image":
        # the same Pillow plugins (pillow-heif included) as ingest used for this type
        image_mod, formats = pillow_for(mime)
        with image_mod.open(path, formats=formats) as im:
            upright = ImageOps.exif_transpose(im) or im
            rgb = upright.convert("RGB")
        f = frames[0]
        target = out / frame_name(stem, int(f["index"]), float(f["pts"]))
        rgb.save(target, "JPEG", quality=JPEG_QUALITY)
        return [{"index": f["index"], "pts": f["pts"], "path": str(target), "name": target.name}]

    import av

    wanted = sorted(frames, key=lambda f: float(f["pts"]))
    with av.open(path, metadata_errors="surrogateescape") as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        pos = 0
        for frame in container.decode(stream):
            if pos >= len(wanted):
                break
            if frame.time is None or frame.time + 1e-3 < float(wanted[pos]["pts"]):
                continue
            image = frame.to_image()  # type: ignore[no-untyped-call]
            if rotation:
                image = image.rotate(-rotation, expand=True)
            while pos < len(wanted) and float(wanted[pos]["pts"]) <= frame.time + 1e-3:
                f = wanted[pos]
                target = out / frame_name(stem, int(f["index"]), float(f["pts"]))
                image.save(target, "JPEG", quality=JPEG_QUALITY)
                written.append(
                    {"index": f["index"], "pts": f["pts"], "path": str(target), "name": target.name}
                )
                pos += 1
    return written
