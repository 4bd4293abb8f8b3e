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


def cut_video(src: Path, dst: Path, *, keep: float = 0.4) -> Path:
    """A truncated copy of the H.264 MP4 `src` that still opens: remuxed with its index
    first (`movflags=faststart`), then cut after `keep` of its bytes, as an interrupted
    download leaves it."""
    import av

    whole = dst.with_name(dst.name + ".whole.mp4")
    with av.open(str(src)) as i, av.open(str(whole), "w", options={"movflags": "faststart"}) as o:
        stream = o.add_stream_from_template(i.streams.video[0])
        for packet in i.demux(i.streams.video[0]):
            if packet.dts is None:
                continue
            packet.stream = stream
            o.mux(packet)
    data = whole.read_bytes()
    whole.unlink()
    dst.write_bytes(data[: int(len(data) * keep)])
    return dst
