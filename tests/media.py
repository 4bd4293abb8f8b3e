"""Stills the tests generate themselves (never corpus copies); clips come from
`bench.clips.render`, shared with the benchmarks."""

from pathlib import Path

from bench.clips import canvas
from PIL import Image


def write_jpeg(
    path: Path,
    *,
    seed: int = 0,
    size: tuple[int, int] = (640, 480),
    exif: dict[int, object] | None = None,
) -> Path:
    """A photo-like JPEG (gradients, shapes, noise) with the given EXIF tags."""
    img = Image.fromarray(canvas(*size, seed))
    ex = Image.Exif()
    for tag, value in (exif or {}).items():
        ex[tag] = value
    img.save(path, "JPEG", quality=90, exif=ex.tobytes())
    return path
