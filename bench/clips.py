"""Deterministic generated media for tests and benchmarks (Pillow/numpy frames, PyAV libx264).

Content: a smooth photo-like canvas (gradients, shapes, mild noise) panned slowly, with
moving shapes and a frame counter so consecutive frames differ; `scenes` cuts to a
different canvas every `scene_len` seconds.
"""

from pathlib import Path

import av
import numpy as np
from PIL import Image, ImageDraw


def canvas(w: int, h: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    r = 90 + 80 * np.sin(x / (w / 5.0) + seed) + 30 * np.cos(y / (h / 3.0))
    g = 110 + 70 * np.cos(x / (w / 3.0)) * np.sin(y / (h / 4.0) + seed)
    b = 140 + 60 * np.sin((x + y) / (w / 4.0) + seed * 0.7)
    arr = np.stack([r, g, b], axis=-1) + rng.normal(0, 4, (h, w, 3)).astype(np.float32)
    img = Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8))
    d = ImageDraw.Draw(img)
    for i in range(12):
        x0 = int(rng.integers(0, w - w // 6))
        y0 = int(rng.integers(0, h - h // 6))
        colour = tuple(int(c) for c in rng.integers(0, 256, 3))
        box = [x0, y0, x0 + w // (6 + i % 5), y0 + h // (5 + i % 4)]
        (d.ellipse if i % 2 else d.rectangle)(box, fill=colour)
    return np.asarray(img)


def render(
    path: Path,
    *,
    width: int = 320,
    height: int = 240,
    seconds: float = 3.0,
    fps: int = 30,
    gop: int | None = None,
    bframes: int | None = None,
    rotation: int | None = None,
    upright_transform: int = 0,
    scene_len: float = 0.0,
    crf: int = 23,
    seed: int = 0,
    grain: float = 0.0,
    preset: str | None = None,
    x264_params: str | None = None,
) -> Path:
    """Write an H.264 MP4. `rotation`: display rotation written with set_display_rotation
    (PyAV/ffmpeg convention, counter-clockwise); the stored frames are then the upright
    content rotated `upright_transform` quarter turns clockwise (np.rot90 k = -n).
    `grain`: std-dev of per-frame noise (sensor-like; makes P-frames cost what they do in
    camera footage instead of near nothing). `x264_params`: e.g. "open-gop=1"."""
    n = round(seconds * fps)
    k = upright_transform % 4
    out_w, out_h = (height, width) if k % 2 else (width, height)
    pad = 64
    scenes = [canvas(width + 2 * pad, height + 2 * pad, seed + 100 * s) for s in range(8)]
    rng = np.random.default_rng(seed)
    tiles = (
        [rng.normal(0, grain, (256, 256, 1)).astype(np.int16) for _ in range(6)] if grain else []
    )
    reps = (height // 256 + 2, width // 256 + 2, 3)
    with av.open(str(path), "w") as c:
        s = c.add_stream("libx264", rate=fps)
        s.width, s.height, s.pix_fmt = out_w, out_h, "yuv420p"
        opts = {"crf": str(crf)}
        if preset is not None:
            opts["preset"] = preset
        if gop is not None:
            opts["g"] = str(gop)
            opts["keyint_min"] = str(min(gop, 25))
        if bframes is not None:
            opts["bf"] = str(bframes)
        if x264_params is not None:
            opts["x264-params"] = x264_params
        s.options = opts
        if rotation is not None:
            s.set_display_rotation(rotation)
        for i in range(n):
            t = i / fps
            scene = int(t // scene_len) % len(scenes) if scene_len else 0
            base = scenes[scene]
            dx = int(pad + pad * np.sin(t * 0.7))
            dy = int(pad + pad * np.cos(t * 0.5))
            frame = Image.fromarray(base[dy : dy + height, dx : dx + width])
            d = ImageDraw.Draw(frame)
            cx = int((width * 0.2) + (width * 0.6) * ((t * 0.13) % 1.0))
            d.ellipse(
                [cx, height // 3, cx + width // 10, height // 3 + width // 10], fill=(250, 240, 20)
            )
            d.rectangle([8, 8, 8 + 6 * (i % 40), 18], fill=(255, 255, 255))
            arr = np.asarray(frame)
            if tiles:
                oy, ox = (int(v) for v in rng.integers(0, 256, 2))
                noise = np.tile(tiles[i % len(tiles)], reps)[oy : oy + height, ox : ox + width]
                arr = np.clip(arr.astype(np.int16) + noise, 0, 255).astype(np.uint8)
            if k:
                arr = np.ascontiguousarray(np.rot90(arr, k=-k))
            for p in s.encode(av.VideoFrame.from_ndarray(arr, format="rgb24")):
                c.mux(p)
        for p in s.encode():
            c.mux(p)
    return path
