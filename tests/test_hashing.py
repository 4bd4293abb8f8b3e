"""The hashing recipe: exact values, imagehash equality, trimming, masking, orientation."""

import io
from pathlib import Path

import imagehash
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image, ImageDraw

from verify.analysis import hex64, to_signed64, to_unsigned64
from verify.analysis.hashing import (
    WORK_SIZE,
    dhash64,
    gray_from_image,
    hamming64,
    hash_gray,
    hash_image,
    phash64,
    query_variants,
    rotate_gray,
    trim_box,
)
from verify.analysis.pdq import hamming256

U64 = st.integers(min_value=0, max_value=(1 << 64) - 1)


def scene(w: int = 640, h: int = 360, seed: int = 0) -> Image.Image:
    """A photo-like picture: gradients, shapes, texture noise (deterministic)."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w]
    r = 90 + 80 * np.sin(x / (w / 5.0) + seed) + 30 * np.cos(y / (h / 3.0))
    g = 110 + 70 * np.cos(x / (w / 3.0)) * np.sin(y / (h / 4.0) + seed)
    b = 140 + 60 * np.sin((x + y) / (w / 4.0))
    arr = np.stack([r, g, b], axis=-1) + rng.normal(0, 5, (h, w, 3))
    img = Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8))
    d = ImageDraw.Draw(img)
    for i in range(6):
        x0 = int(rng.integers(0, w - w // 5))
        y0 = int(rng.integers(0, h - h // 5))
        colour = tuple(int(c) for c in rng.integers(0, 256, 3))
        box = [x0, y0, x0 + w // (5 + i), y0 + h // (4 + i)]
        (d.ellipse if i % 2 else d.rectangle)(box, fill=colour)
    return img


def ih(img: Image.Image) -> tuple[int, int]:
    return int(str(imagehash.phash(img)), 16), int(str(imagehash.dhash(img)), 16)


# ----------------------------------------------------------------------------- helpers


@given(U64)
def test_signed_unsigned_round_trip(u: int) -> None:
    s = to_signed64(u)
    assert -(1 << 63) <= s < (1 << 63)
    assert to_unsigned64(s) == u
    assert hex64(s) == hex64(u) == f"{u:016x}"


@given(U64, U64)
def test_hamming64_properties(a: int, b: int) -> None:
    assert hamming64(a, b) == hamming64(b, a)
    assert hamming64(a, a) == 0
    assert hamming64(a, b) == bin(a ^ b).count("1")
    # signed storage form gives the same distance
    assert hamming64(to_signed64(a), to_signed64(b)) == hamming64(a, b)
    assert hamming64(to_signed64(a), b) == hamming64(a, b)


# ----------------------------------------------------------------------------- exact values


@pytest.mark.parametrize("colour", [(255, 255, 255), (0, 0, 255), (30, 200, 10), (128, 128, 128)])
def test_solid_colour_exact_values(colour: tuple[int, int, int]) -> None:
    img = Image.new("RGB", (320, 200), colour)
    h = hash_image(img)
    assert h.phash == 0x8000000000000000 == ih(img)[0]
    assert h.dhash == 0 == ih(img)[1]
    assert h.pdq_quality == 0
    assert h.informative is False
    assert h.box == (0, 200, 0, 320)  # a uniform picture is never trimmed away


def test_black_exact_values() -> None:
    h = hash_image(Image.new("RGB", (640, 480)))
    assert (h.phash, h.dhash, h.phash_masked, h.dhash_masked) == (0, 0, 0, 0)
    assert h.pdq_quality == 0 and h.informative is False


def test_photo_is_informative() -> None:
    h = hash_image(scene())
    assert h.informative is True
    assert h.pdq_quality >= 50


@pytest.mark.parametrize(
    ("w", "h", "seed"), [(640, 360, 0), (333, 517, 1), (32, 32, 2), (1200, 90, 3)]
)
def test_phash_dhash_bit_identical_to_imagehash(w: int, h: int, seed: int) -> None:
    grey = scene(w, h, seed).convert("L")
    g = np.asarray(grey)
    assert (phash64(g), dhash64(g)) == ih(grey)
    # and on RGB input, imagehash's own convert('L') is the same luma as ours
    assert (phash64(gray_from_image(scene(w, h, seed))), 0)[0] == ih(scene(w, h, seed))[0]


@pytest.mark.corpus
def test_imagehash_equality_on_corpus_photos(corpus: Path) -> None:
    files = sorted((corpus / "exif-samples/jpg").glob("*.jpg"))[:8]
    assert files
    checked = 0
    for f in files:
        try:
            im = Image.open(f)
            im.draft("L", (256, 256))
            grey = im.convert("L")
        except OSError:
            continue  # the corpus's corrupt sample
        g = np.asarray(grey)
        assert (phash64(g), dhash64(g)) == ih(grey), f.name
        checked += 1
    assert checked >= 6


def test_degenerate_sizes_do_not_raise() -> None:
    for size in [(0, 0), (1, 1), (1, 1000), (1000, 1), (3, 3)]:
        h = hash_image(Image.new("RGB", size, (10, 20, 30)))
        assert h.informative is False
        assert len(h.pdq) == 32


# ----------------------------------------------------------------------------- modes


def test_alpha_composited_onto_white_hidden_rgb() -> None:
    """Two fully transparent images with different hidden RGB are the same (white) picture."""
    a = np.zeros((100, 100, 4), np.uint8)
    b = a.copy()
    b[..., :3] = np.asarray(scene(100, 100))
    ha, hb = hash_image(Image.fromarray(a)), hash_image(Image.fromarray(b))
    assert ha == hb
    assert ha.informative is False
    # half-transparent content hashes as the image flattened onto white, not as its RGB
    c = np.asarray(scene(200, 120).convert("RGBA")).copy()
    c[..., 3] = 128
    white = Image.new("RGBA", (200, 120), (255, 255, 255, 255))
    flat = hash_image(Image.alpha_composite(white, Image.fromarray(c)).convert("RGB"))
    assert hash_image(Image.fromarray(c)) == flat
    assert hash_image(Image.fromarray(c)) != hash_image(Image.fromarray(c[..., :3]))


def test_sixteen_bit_images_normalised() -> None:
    ramp = (np.linspace(0, 65535, 256)[None, :] * np.ones((128, 1))).astype(np.uint16)
    g = gray_from_image(Image.frombytes("I;16", (256, 128), ramp.astype("<u2").tobytes()))
    assert g.dtype == np.uint8 and g.max() == 255 and g.min() == 0
    assert float(g.std()) > 60  # not collapsed to a uniform picture
    # a 16-bit photo hashes as its 8-bit version, and 12-bit data in a 16-bit container too
    g8 = np.asarray(scene(300, 200, 4).convert("L"))
    for shift in (8, 4):
        wide = (g8.astype(np.uint16) << shift).astype("<u2")
        img = Image.frombytes("I;16", (300, 200), wide.tobytes())
        h = hash_image(img)
        assert h.informative is True
        assert hamming64(h.phash, hash_gray(g8).phash) <= 2


def test_float_and_int_modes() -> None:
    base = np.asarray(scene(200, 150).convert("L"), dtype=np.float32)
    hf = hash_image(Image.fromarray(base / np.float32(255.0)))
    hi = hash_image(Image.fromarray(base.astype(np.int32)))
    hl = hash_image(Image.fromarray(base.astype(np.uint8)))
    assert hamming64(hf.phash, hl.phash) <= 2
    assert hamming64(hi.phash, hl.phash) <= 2


@pytest.mark.corpus
def test_pillow_modes_of_one_image(corpus: Path) -> None:
    d = corpus / "near-duplicates/threatexchange-pdq/misc-images/modes"
    ref = hash_image(Image.open(d / "original.jpg"))
    for f in sorted(d.iterdir()):
        if f.suffix == ".md" or f.name in ("1.png",):
            continue
        h = hash_image(Image.open(f))
        assert hamming64(h.phash, ref.phash) <= 8, f.name
        assert hamming256(h.pdq, ref.pdq) <= 40, f.name


# ----------------------------------------------------------------------------- trimming


def letterbox(img: Image.Image, frac: float, colour: int = 0, axis: str = "rows") -> Image.Image:
    w, h = img.size
    if axis == "rows":
        bar = int(h * frac)
        out = Image.new("RGB", (w, h + 2 * bar), (colour,) * 3)
        out.paste(img, (0, bar))
    else:
        bar = int(w * frac)
        out = Image.new("RGB", (w + 2 * bar, h), (colour,) * 3)
        out.paste(img, (bar, 0))
    return out


def jpeg(img: Image.Image, q: int) -> Image.Image:
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=q)
    buf.seek(0)
    return Image.open(buf)


@pytest.mark.parametrize(
    ("frac", "colour", "axis", "q"),
    [(0.125, 0, "rows", 90), (0.2, 0, "rows", 40), (0.15, 128, "cols", 75), (0.1, 255, "cols", 60)],
)
def test_letterbox_and_pillarbox_trimmed(frac: float, colour: int, axis: str, q: int) -> None:
    pic = scene(640, 360, 5)
    boxed = jpeg(letterbox(pic, frac, colour, axis), q)
    g = gray_from_image(boxed)
    y0, y1, x0, x1 = trim_box(g)
    w, h = pic.size
    if axis == "rows":
        bar = int(h * frac)
        assert abs(y0 - bar) <= 3 and abs((g.shape[0] - y1) - bar) <= 3
        assert (x0, x1) == (0, g.shape[1])
    else:
        bar = int(w * frac)
        assert abs(x0 - bar) <= 3 and abs((g.shape[1] - x1) - bar) <= 3
        assert (y0, y1) == (0, g.shape[0])
    a, b = hash_image(pic), hash_image(boxed)
    assert hamming64(a.phash, b.phash) <= 4
    assert hamming64(a.dhash, b.dhash) <= 4
    assert hamming256(a.pdq, b.pdq) <= 31
    # without trimming the hashes break (why the step exists)
    untrimmed = hash_gray(g, trim=False)
    assert hamming256(a.pdq, untrimmed.pdq) > hamming256(a.pdq, b.pdq)


def test_trim_never_removes_everything() -> None:
    # a picture that is one flat colour except a thin line: no axis trimmed below 25 %
    arr = np.full((400, 600), 40, np.uint8)
    arr[200, 100:500] = 200
    y0, y1, x0, x1 = trim_box(arr)
    assert y1 - y0 >= 100 and x1 - x0 >= 150


def test_working_image_size() -> None:
    h = hash_gray(np.asarray(scene(1280, 720).convert("L")))
    assert h.box == (0, 720, 0, 1280)
    big = hash_gray(np.asarray(scene(1600, 1200).convert("L")))
    assert big.box == (0, 1200, 0, 1600) and big.pdq_quality > 0
    assert WORK_SIZE == 512


# ----------------------------------------------------------------------------- masking


def subtitled(img: Image.Image, text: str) -> Image.Image:
    out = img.copy()
    d = ImageDraw.Draw(out)
    w, h = out.size
    # two lines of white text on a dark box in the bottom 20 %
    d.rectangle([w * 0.1, h * 0.82, w * 0.9, h * 0.97], fill=(20, 20, 20))
    for line, yy in ((text, 0.84), (text[::-1], 0.905)):
        for k in range(len(line)):
            x = int(w * 0.12 + k * w * 0.75 / max(1, len(line)))
            d.rectangle([x, int(h * yy), x + w // 90, int(h * yy) + h // 22], fill=(250, 250, 250))
    return out


def test_masked_band_robust_to_subtitles() -> None:
    worst_full, worst_masked = 0, 0
    for seed in range(4):
        pic = scene(854, 480, seed)
        a = hash_image(pic)
        b = hash_image(jpeg(subtitled(pic, "THE CITY WAS QUIET AT NIGHT"), 80))
        worst_full = max(worst_full, hamming64(a.phash, b.phash), hamming64(a.dhash, b.dhash))
        worst_masked = max(
            worst_masked,
            hamming64(a.phash_masked, b.phash_masked),
            hamming64(a.dhash_masked, b.dhash_masked),
        )
    assert worst_masked <= 4
    assert worst_masked < worst_full


# ----------------------------------------------------------------------------- orientation


def _orientation_variant(img: Image.Image, orientation: int) -> Image.Image:
    """Store `img` as a camera would for EXIF orientation N (pixels transformed so that
    exif_transpose restores `img`)."""
    inverse = {
        1: None,
        2: Image.Transpose.FLIP_LEFT_RIGHT,
        3: Image.Transpose.ROTATE_180,
        4: Image.Transpose.FLIP_TOP_BOTTOM,
        5: Image.Transpose.TRANSPOSE,
        6: Image.Transpose.ROTATE_90,
        7: Image.Transpose.TRANSVERSE,
        8: Image.Transpose.ROTATE_270,
    }[orientation]
    stored = img if inverse is None else img.transpose(inverse)
    exif = Image.Exif()
    exif[0x0112] = orientation
    buf = io.BytesIO()
    stored.save(buf, "JPEG", quality=90, exif=exif.tobytes())
    buf.seek(0)
    return Image.open(buf)


def test_exif_orientations_generated() -> None:
    pic = scene(480, 320, 7)
    upright = hash_image(jpeg(pic, 90))
    for o in range(1, 9):
        h = hash_image(_orientation_variant(pic, o))
        assert hamming64(h.phash, upright.phash) <= 4, o
        assert hamming64(h.dhash, upright.dhash) <= 4, o


@pytest.mark.corpus
def test_exif_orientations_corpus(corpus: Path) -> None:
    d = corpus / "exif-samples/jpg/orientation"
    for kind in ("landscape", "portrait"):
        upright = hash_image(Image.open(d / f"{kind}_1.jpg"))
        for o in range(2, 9):
            h = hash_image(Image.open(d / f"{kind}_{o}.jpg"))
            assert hamming64(h.phash, upright.phash) <= 4, (kind, o)
            assert hamming64(h.dhash, upright.dhash) <= 4, (kind, o)


def test_rotation_and_mirror_variants() -> None:
    g = np.asarray(scene(640, 360, 9).convert("L"))
    upright = hash_gray(g)
    for cw in (90, 180, 270):
        stored = rotate_gray(g, -cw % 360)  # what a camera stores for display rotation cw
        h = hash_gray(stored, rotation_cw=cw)
        assert hamming64(h.phash, upright.phash) <= 2, cw
        assert hamming256(h.pdq, upright.pdq) <= 8, cw
    v = query_variants(np.ascontiguousarray(g[:, ::-1]))
    assert hamming64(v["mirrored"].phash, upright.phash) <= 2
    assert hamming256(v["mirrored"].pdq, upright.pdq) <= 8
    assert hamming64(v["full"].phash, upright.phash) > 10


def test_rotate_gray_clockwise() -> None:
    g = np.arange(6, dtype=np.uint8).reshape(2, 3)
    assert rotate_gray(g, 90).tolist() == [[3, 0], [4, 1], [5, 2]]
    assert rotate_gray(g, 270).tolist() == [[2, 5], [1, 4], [0, 3]]
    assert rotate_gray(g, 0) is g


def test_flat_sky_is_not_a_letterbox() -> None:
    """A flat bright edge on one side only (sky, wall) is picture, not a bar: a subtitle
    band at the bottom must not change the trim box (it moved hashes by 18-24 bits)."""
    from PIL import ImageDraw

    pic = scene(640, 360, 5)
    sky = pic.copy()
    ImageDraw.Draw(sky).rectangle([0, 0, 640, 70], fill=(150, 190, 235))
    g = gray_from_image(sky)
    assert trim_box(g) == (0, 360, 0, 640)
    subtitled = sky.copy()
    ImageDraw.Draw(subtitled).rectangle([0, 300, 640, 350], fill=(0, 0, 0))
    assert trim_box(gray_from_image(subtitled)) == (0, 360, 0, 640)
    a, b = hash_image(sky), hash_image(subtitled)
    assert hamming64(a.phash_masked, b.phash_masked) <= 6


def test_dark_textured_edge_is_picture_not_a_bar() -> None:
    """A dark, textured picture edge (a shadow at luma ~22, std ~5) is not a letterbox. Recipe
    v1 trimmed such edges (bar test std <= 8), and whether it did flipped with a 1 % resize
    or a logo inside the edge, moving every hash by 15-20 bits. A real black bar next to
    the same edge is still trimmed, and only the bar."""
    rng = np.random.default_rng(3)
    pic = np.asarray(scene(640, 360, 5).convert("L")).copy()
    pic[:, :120] = np.clip(rng.normal(22, 5, (360, 120)), 0, 255).astype(np.uint8)
    assert trim_box(pic) == (0, 360, 0, 640)
    boxed = np.zeros((360, 640 + 2 * 60), np.uint8)
    boxed[:, 60:-60] = pic
    y0, y1, x0, x1 = trim_box(boxed)
    assert (y0, y1) == (0, 360) and abs(x0 - 60) <= 2 and abs(x1 - 700) <= 2
    a = hash_gray(pic)
    b = hash_gray(boxed)
    assert hamming64(a.dhash, b.dhash) <= 4 and hamming256(a.pdq, b.pdq) <= 31
