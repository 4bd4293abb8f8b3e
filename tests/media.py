"""Media the tests generate themselves (never corpus copies): JPEGs with EXIF, H.264 clips."""

from fractions import Fraction
from pathlib import Path

from PIL import Image, ImageDraw


def scene(
    width: int, height: int, t: float, *, seed: int = 0, text: str | None = None
) -> Image.Image:
    """A frame with structure (gradient, moving shapes) so perceptual hashes mean something."""
    img = Image.new("RGB", (width, height))
    draw = ImageDraw.Draw(img)
    for y in range(0, height, 4):
        shade = int(40 + 150 * y / height)
        draw.rectangle(
            [0, y, width, y + 4], fill=(shade, (shade + 60 * seed) % 255, 200 - shade // 2)
        )
    for k in range(5):
        x = int((width * (0.1 + 0.18 * k) + t * 40 * (k + 1 + seed)) % width)
        y = int(height * (0.2 + 0.12 * ((k + seed) % 5)))
        r = max(4, width // (12 + 2 * k))
        draw.ellipse(
            [x - r, y - r, x + r, y + r],
            fill=((70 * k + 30 * seed) % 255, 220 - 30 * k, 60 + 35 * k),
        )
    draw.rectangle(
        [int(width * 0.6), int(height * 0.55), int(width * 0.9), int(height * 0.8)],
        fill=(20 + 40 * seed % 200, 30, 90),
    )
    if text:
        band = int(height * 0.12)
        draw.rectangle([0, height - band - 8, width, height - 8], fill=(0, 0, 0))
        draw.text((width // 10, height - band), text, fill=(255, 255, 255))
    return img


def write_jpeg(
    path: Path,
    *,
    seed: int = 0,
    size: tuple[int, int] = (640, 480),
    exif: dict[int, object] | None = None,
) -> Path:
    img = scene(*size, 0.0, seed=seed)
    ex = Image.Exif()
    for tag, value in (exif or {}).items():
        ex[tag] = value
    img.save(path, "JPEG", quality=90, exif=ex.tobytes())
    return path


def write_clip(
    path: Path,
    *,
    seconds: float = 3.0,
    fps: int = 25,
    size: tuple[int, int] = (320, 240),
    seed: int = 0,
    subtitle: str | None = None,
    rotation: int | None = None,
    codec: str = "libx264",
    options: dict[str, str] | None = None,
) -> Path:
    import av

    with av.open(str(path), "w") as out:
        stream = out.add_stream(codec, rate=fps)
        stream.width, stream.height = size
        stream.pix_fmt = "yuv420p"
        stream.options = options or {"preset": "ultrafast", "crf": "23"}
        if rotation is not None:
            stream.set_display_rotation(rotation)
        n = int(seconds * fps)
        for i in range(n):
            img = scene(*size, i / fps, seed=seed, text=subtitle)
            frame = av.VideoFrame.from_image(img)
            frame.pts = i
            frame.time_base = Fraction(1, fps)
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return path
