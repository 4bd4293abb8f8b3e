"""Robustness of the hashing recipe on real corpus images (the table in docs/hashing.md).

Usage: python -m bench.hashing.robustness [CORPUS]   (default ../shared/corpus)
Prints median (max) Hamming distances per transform over the informative images, the
unrelated-pair minima, and the subtitle-mask fraction comparison.
"""

import io
import itertools
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageOps

import verify.analysis.hashing as recipe
from verify.analysis.hashing import Hashes, gray_from_image, hamming64, hash_image, query_variants
from verify.analysis.pdq import hamming256


def load(corpus: Path) -> list[Image.Image]:
    nd = corpus / "near-duplicates"
    files = [
        *sorted((nd / "imagededup-ukbench/base_images").glob("*.jpg")),
        nd / "threatexchange-pdq/bridge-mods/aaa-orig.jpg",
        *sorted((nd / "threatexchange-pdq/reg-test-input/labelme-subset").glob("*.jpg")),
        *sorted((corpus / "exif-samples/jpg").glob("*.jpg"))[:9],
        *sorted((corpus / "immich-test-assets").rglob("*.jpg"))[:10],
    ]
    out = []
    for f in files:
        try:
            im = ImageOps.exif_transpose(Image.open(f)).convert("RGB")
        except OSError:
            continue
        im.thumbnail((1280, 1280))
        out.append(im)
    return out


def jpeg(im: Image.Image, q: int) -> Image.Image:
    b = io.BytesIO()
    im.save(b, "JPEG", quality=q)
    b.seek(0)
    return Image.open(b).convert("RGB")


def subtitles(im: Image.Image) -> Image.Image:
    out = im.copy()
    d = ImageDraw.Draw(out)
    w, h = out.size
    for line in (0.84, 0.91):
        for k in range(28):
            x = int(w * 0.12 + k * w * 0.75 / 28)
            y = int(h * line)
            d.rectangle([x, y, x + max(2, w // 90), y + max(3, h // 24)], fill=(250, 250, 250))
    return out


def logo(im: Image.Image) -> Image.Image:
    out = im.copy()
    w, h = out.size
    ImageDraw.Draw(out).rectangle(
        [int(w * 0.8), int(h * 0.04), int(w * 0.96), int(h * 0.14)], fill=(255, 255, 255)
    )
    return out


def letterbox(im: Image.Image) -> Image.Image:
    w, h = im.size
    bar = int(h * 0.125)
    out = Image.new("RGB", (w, h + 2 * bar))
    out.paste(im, (0, bar))
    return out


def crop(im: Image.Image, f: float) -> Image.Image:
    w, h = im.size
    return im.crop((int(w * f), int(h * f), int(w * (1 - f)), int(h * (1 - f))))


TRANSFORMS: dict[str, Callable[[Image.Image], Image.Image]] = {
    "JPEG q30": lambda im: jpeg(im, 30),
    "scale 50 %": lambda im: im.resize((im.width // 2, im.height // 2)),
    "greyscale": lambda im: im.convert("L").convert("RGB"),
    "subtitles, 2 lines at the bottom": subtitles,
    "logo box, top right": logo,
    "letterbox 12.5 % (trimmed)": letterbox,
    "crop 5 % each side": lambda im: crop(im, 0.05),
    "crop 10 % each side": lambda im: crop(im, 0.10),
    "rotate 5 degrees (+ crop)": lambda im: crop(im.rotate(5), 0.06),
}


def row(name: str, pairs: list[tuple[Hashes, Hashes]]) -> None:
    def f(v: list[int]) -> str:
        return f"{int(np.median(v))} ({max(v)})"

    cols = [
        [hamming64(a.phash, b.phash) for a, b in pairs],
        [hamming64(a.dhash, b.dhash) for a, b in pairs],
        [hamming256(a.pdq, b.pdq) for a, b in pairs],
        [hamming64(a.phash_masked, b.phash_masked) for a, b in pairs],
        [hamming64(a.dhash_masked, b.dhash_masked) for a, b in pairs],
    ]
    print(f"| {name} | " + " | ".join(f(c) for c in cols) + " |")


def main() -> None:
    corpus = Path(sys.argv[1]) if len(sys.argv) > 1 else Path("../shared/corpus")
    imgs = load(corpus)
    base = [hash_image(im) for im in imgs]
    good = [(b, im) for b, im in zip(base, imgs, strict=True) if b.informative]
    print(f"{len(imgs)} images, {len(good)} informative")
    print("| Transform | pHash | dHash | PDQ | pHash masked | dHash masked |")
    print("|---|---|---|---|---|---|")
    for name, fn in TRANSFORMS.items():
        row(name, [(b, hash_image(fn(im))) for b, im in good])
    flip = Image.Transpose.FLIP_LEFT_RIGHT
    mirrored = [(b, query_variants(gray_from_image(im.transpose(flip)))) for b, im in good]
    row("mirror, mirrored query", [(b, v["mirrored"]) for b, v in mirrored])
    row("mirror, plain", [(b, v["full"]) for b, v in mirrored])
    un = list(itertools.combinations([b for b, _ in good], 2))
    for label, dist in (
        ("pHash", lambda a, b: hamming64(a.phash, b.phash)),
        ("dHash", lambda a, b: hamming64(a.dhash, b.dhash)),
        ("PDQ", lambda a, b: hamming256(a.pdq, b.pdq)),
        ("pHash masked", lambda a, b: hamming64(a.phash_masked, b.phash_masked)),
        ("dHash masked", lambda a, b: hamming64(a.dhash_masked, b.dhash_masked)),
    ):
        d = [dist(a, b) for a, b in un]
        print(
            f"unrelated {label}: {len(d)} pairs, min {min(d)}, 1 % {np.percentile(d, 1):.0f}, "
            f"median {np.median(d):.0f}"
        )
    for keep in (0.7, 0.75, 0.8, 0.85):
        recipe.MASK_KEEP = keep
        d = [
            max(
                hamming64(a.phash_masked, b.phash_masked), hamming64(a.dhash_masked, b.dhash_masked)
            )
            for a, b in ((hash_image(im), hash_image(subtitles(im))) for _, im in good)
        ]
        print(
            f"mask keep {keep}: subtitles masked max(pHash, dHash) median {np.median(d):.0f}, "
            f"max {max(d)}"
        )


if __name__ == "__main__":
    main()
