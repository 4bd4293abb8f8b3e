"""Metadata of one media file, normalised and raw. Untrusted input: run it in the sandbox.

`read_metadata(path)` returns `(kind, mime, meta)` as described in `verify.analysis`:

- The type comes from the content (magic bytes), never from the filename. Images are opened
  by Pillow restricted to the formats we expect as evidence; videos by PyAV with the demuxer
  chosen from the magic bytes, so FFmpeg never probes arbitrary content (playlists, concat
  scripts and the like are never opened).
- Images: Pillow (+ pillow-heif for HEIC/HEIF, + defusedxml so `getxmp()` works) is the primary
  reader; exifread cross-checks JPEG/TIFF/PNG and any difference is listed in
  `meta["disagreements"]`. A decompression bomb is an error (the warning too).
- Video: PyAV container and stream tags, the display matrix of the first decoded frame, Apple
  (`com.apple.quicktime.*`) and Android (`com.android.version`) keys, ISO 6709 locations.
- Optional: a C2PA summary when `c2pa` (c2pa-python) is importable; a full exiftool dump into
  `raw["exiftool"]` when `exiftool` is on PATH.

Strings from files are attacker-controlled. Normalised values are stripped of NULs and
surrounding whitespace; raw values are kept as written except that NULs are removed (and text
that is not valid UTF-8 is shown with U+FFFD, its exact bytes kept in hex beside it).

Rotation convention: `meta["rotation"]` is the number of degrees the decoded frames must be
rotated *clockwise* to be upright. PyAV's `frame.rotation` (FFmpeg's display matrix angle) is
counter-clockwise, in [-180, 180], so `rotation = (-frame.rotation) % 360`: an iPhone portrait
clip with `frame.rotation == -90` gets `rotation == 90` (exiftool's `Composite:Rotation`), and
`PIL.Image.rotate(-rotation, expand=True)` (PIL rotates counter-clockwise) makes it upright.
"""

import functools
import importlib
import importlib.metadata
import importlib.util
import json
import math
import os
import re
import warnings
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from verify.analysis import is_placeholder_gps
from verify.errors import AnalysisError

NORMALISED_KEYS: tuple[str, ...] = (
    "make",
    "model",
    "software",
    "captured_at",
    "captured_at_raw",
    "captured_offset",
    "gps",
    "orientation",
    "width",
    "height",
    "duration",
    "fps",
    "rotation",
    "container",
    "video_codec",
    "audio_codec",
    "encoder",
    "creation_time",
    "xmp_creator_tool",
    "c2pa",
    "c2pa_reader",
    "gps_placeholder",
)

HEIF_BRANDS = {b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"mif1", b"msf1", b"mif2"}
AVIF_BRANDS = {b"avif", b"avis"}
QUICKTIME_FIRST_BOXES = {b"moov", b"mdat", b"wide", b"free", b"skip", b"pnot"}
CONTAINER_NAMES = {
    "video/mp4": "mp4",
    "video/quicktime": "mov",
    "video/3gpp": "3gp",
    "video/3gpp2": "3g2",
    "video/x-m4v": "m4v",
    "video/webm": "webm",
    "video/x-matroska": "matroska",
    "video/x-msvideo": "avi",
    "video/mp2t": "mpegts",
    "video/mpeg": "mpeg",
}
EXIFREAD_FORMATS = {"JPEG", "MPO", "TIFF", "PNG"}
FIRST_FRAME_PACKETS = 300  # decoder delay is at most a few dozen packets in practice
MAX_RAW_TEXT = 65536  # XMP packets and other long strings kept in raw, cut beyond this
MAX_RAW_BYTES = 256  # binary tag values longer than this are summarised as "<N bytes>"
# EXIF UserComment is text behind an 8-byte code (cameras pad it: Canon writes 264 NULs), so
# it is kept whole up to this size; the reports decode it (`services.report.user_comment_text`)
MAX_COMMENT_BYTES = 4096
EXIF_USER_COMMENT = 0x9286
EXIFTOOL_TIMEOUT = 30.0

_EXIF_DT = re.compile(r"^\s*(\d{4}):(\d{2}):(\d{2})[ T](\d{2}):(\d{2}):(\d{2})")
_OFFSET = re.compile(r"^([+-])(\d{2}):?(\d{2})$")
_XMP_DT = re.compile(
    r"^\s*(\d{4})[-:](\d{2})[-:](\d{2})T(\d{2}):(\d{2})(?::(\d{2})(?:\.\d+)?)?"
    r"(Z|[+-]\d{2}:?\d{2})?\s*$"
)
_ISO6709 = re.compile(
    r"^(?P<lat>[+-]\d+(?:\.\d+)?)(?P<lon>[+-]\d+(?:\.\d+)?)(?P<alt>[+-]\d+(?:\.\d+)?)?"
)


# ---------------------------------------------------------------------------- entry point


def _as_text(head: bytes) -> str:
    """', text "..."' when a file starts with plain text: a download that saved an HTML error
    page or a JSON reply instead of the media says so at a glance; '' otherwise."""
    try:
        text = head.decode("ascii")
    except UnicodeDecodeError:
        return ""
    if not text or not all(c.isprintable() or c in "\t\n\r" for c in text):
        return ""
    shown = text.replace("\\", "\\\\").replace("\n", "\\n").replace("\r", "\\r")
    return ', text "' + shown.replace("\t", "\\t").replace('"', '\\"') + '"'


def read_metadata(path: str) -> tuple[str, str | None, dict[str, Any]]:
    """(kind, mime, meta) of the file at `path`; kind is "image", "video" or "other".

    Raises AnalysisError with a one-line reason for empty files, content we do not recognise
    or cannot parse, and decompression bombs. Call it through `verify.analysis.sandbox`.
    """
    try:
        with open(path, "rb") as fh:
            size = os.fstat(fh.fileno()).st_size
            head = fh.read(4096)
    except OSError as exc:
        raise AnalysisError(f"cannot read the file: {exc.strerror or exc}") from None
    if size == 0:
        raise AnalysisError("empty file (0 bytes): nothing to analyse")
    family, mime, demuxer = sniff(head)
    meta = empty_meta()
    if family == "image":
        kind = "image"
        _read_image(path, mime, meta)
    elif family == "video" and demuxer is not None:
        kind = _read_video(path, demuxer, meta)
        meta["container"] = CONTAINER_NAMES.get(mime or "", demuxer)
    elif family == "jxl":
        raise AnalysisError("not a media file we can read: JPEG XL is not supported yet")
    else:
        raise AnalysisError(
            f"not a media file we can read: unrecognised content (starts {head[:8].hex()}"
            f"{_as_text(head[:24])})"
        )
    # whether C2PA was looked for at all: without the optional reader `c2pa` is None for a
    # signed file too, which must not read as "no manifest"
    meta["c2pa_reader"] = c2pa_reader()
    meta["c2pa"] = _read_c2pa(path, meta["raw"])
    _read_exiftool(path, meta["raw"])
    if meta["gps"] is not None and is_placeholder_gps(meta["gps"]):
        # 0°, 0° ("Null Island") is what a device writes when it has no fix, not a position:
        # kept aside (and in `raw`), never shown or mapped as a location
        meta["gps_placeholder"], meta["gps"] = meta["gps"], None
    return kind, mime, meta


def empty_meta() -> dict[str, Any]:
    """Every normalised key set to None, plus empty `raw` and `disagreements`."""
    meta: dict[str, Any] = dict.fromkeys(NORMALISED_KEYS)
    meta["raw"] = {}
    meta["disagreements"] = []
    return meta


# ---------------------------------------------------------------------------- type sniffing


def sniff(head: bytes) -> tuple[str | None, str | None, str | None]:
    """(family, mime, FFmpeg demuxer) from the first bytes of a file; family is "image",
    "video", "jxl" or None (unknown)."""
    if head.startswith(b"\xff\xd8\xff"):
        return "image", "image/jpeg", None
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image", "image/png", None
    if head.startswith((b"GIF87a", b"GIF89a")):
        return "image", "image/gif", None
    if head.startswith((b"II*\x00", b"MM\x00*")):
        return "image", "image/tiff", None
    if head.startswith(b"BM") and len(head) >= 26:
        return "image", "image/bmp", None
    if head.startswith(b"RIFF") and head[8:12] == b"WEBP":
        return "image", "image/webp", None
    if head.startswith(b"RIFF") and head[8:12] == b"AVI ":
        return "video", "video/x-msvideo", "avi"
    if head.startswith(b"\xff\x0a") or head.startswith(b"\x00\x00\x00\x0cJXL \r\n\x87\n"):
        return "jxl", "image/jxl", None
    if head[4:8] == b"ftyp":
        return _sniff_isobmff(head)
    if head[4:8] in QUICKTIME_FIRST_BOXES:
        return "video", "video/quicktime", "mov"
    if head.startswith(b"\x1a\x45\xdf\xa3"):
        webm = b"webm" in head[:64]
        return "video", "video/webm" if webm else "video/x-matroska", "matroska"
    if _is_mpegts(head, 188, 0) or _is_mpegts(head, 192, 4):
        return "video", "video/mp2t", "mpegts"
    if head.startswith(b"\x00\x00\x01\xba"):
        return "video", "video/mpeg", "mpeg"
    if head.startswith(b"\x00\x00\x01\xb3"):
        return "video", "video/mpeg", "mpegvideo"
    return None, None, None


def _sniff_isobmff(head: bytes) -> tuple[str, str, str | None]:
    box_size = int.from_bytes(head[0:4], "big")
    major = head[8:12]
    brands = {head[i : i + 4] for i in range(16, min(box_size, len(head)) - 3, 4)}
    if major in AVIF_BRANDS or (major in {b"mif1", b"msf1"} and brands & AVIF_BRANDS):
        return "image", "image/avif", None
    if major in HEIF_BRANDS:
        return "image", "image/heic" if major.startswith(b"he") else "image/heif", None
    if major == b"qt  ":
        return "video", "video/quicktime", "mov"
    if major.startswith(b"3g2"):
        return "video", "video/3gpp2", "mov"
    if major.startswith(b"3g"):
        return "video", "video/3gpp", "mov"
    if major == b"M4V ":
        return "video", "video/x-m4v", "mov"
    return "video", "video/mp4", "mov"


def _is_mpegts(head: bytes, packet: int, skip: int) -> bool:
    if len(head) < skip + 2 * packet + 1:
        return False
    return all(head[skip + i * packet] == 0x47 for i in range(3) if skip + i * packet < len(head))


# ---------------------------------------------------------------------------- strings


def clean_text(value: str) -> str:
    """Raw form of an untrusted string: NULs removed, otherwise as written."""
    return value.replace("\x00", "")


def _norm_text(value: Any) -> str | None:
    """Normalised form: NULs and surrounding whitespace removed; empty -> None."""
    if value is None:
        return None
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    text = _unsurrogate(clean_text(str(value))).strip()
    return text or None


def _unsurrogate(text: str) -> str:
    """Text PyAV decoded with surrogateescape, made valid Unicode (invalid bytes -> U+FFFD)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    return text


def _raw_put(raw: dict[str, str], key: str, value: Any, *, max_bytes: int = MAX_RAW_BYTES) -> None:
    """Store an untrusted tag value in a raw dict as a string."""
    if isinstance(value, bytes):
        if len(value) > max_bytes:
            raw[key] = f"<{len(value)} bytes>"
            return
        stripped = value.rstrip(b"\x00")
        if stripped and all(32 <= b < 127 or b in (9, 10, 13) for b in stripped):
            raw[key] = stripped.decode("ascii")
        else:
            raw[key] = "0x" + value.hex()
        return
    text = clean_text(value if isinstance(value, str) else str(value))
    fixed = _unsurrogate(text)
    if fixed != text:
        raw[key + ".hex"] = text.encode("utf-8", "surrogateescape").hex()
    if len(fixed) > MAX_RAW_TEXT:
        fixed = fixed[:MAX_RAW_TEXT] + f"... <{len(fixed)} characters>"
    raw[key] = fixed


# ---------------------------------------------------------------------------- times, places


def exif_datetime(raw: str | None, offset: str | None) -> tuple[str | None, str | None]:
    """(captured_at, captured_offset) from an EXIF "YYYY:MM:DD HH:MM:SS" and an optional
    "+HH:MM" offset. The ISO value is returned only when the offset is known; EXIF local times
    are not instants."""
    if not raw:
        return None, None
    m = _EXIF_DT.match(raw)
    off = _parse_offset(offset)
    if m is None or off is None:
        return None, None
    try:
        y, mo, d, h, mi, sec = (int(g) for g in m.groups())
        naive = datetime(y, mo, d, h, mi, sec)
    except ValueError:
        return None, None
    sign, hh, mm = off
    delta = timedelta(hours=hh, minutes=mm) * (1 if sign == "+" else -1)
    return naive.replace(tzinfo=timezone(delta)).isoformat(), f"{sign}{hh:02d}:{mm:02d}"


def xmp_datetime(raw: str) -> tuple[str | None, str | None]:
    """(captured_at, captured_offset) from an XMP date ("2005-12-17T22:03:32Z",
    "2011-03-12T15:36:11.00+01:00"); ISO only when the value carries a zone."""
    m = _XMP_DT.match(raw)
    if m is None or not m.group(7):
        return None, None
    zone = "+00:00" if m.group(7) == "Z" else m.group(7)
    wall = f"{m.group(1)}:{m.group(2)}:{m.group(3)} {m.group(4)}:{m.group(5)}:{m.group(6) or '00'}"
    return exif_datetime(wall, zone)


def _xmp_coordinate(value: str | None, refs: str) -> float | None:
    """XMP exif:GPSLatitude "48,53.323582N" or "48,53,19.4N" -> signed decimal degrees."""
    text = _norm_text(value)
    if not text or text[-1].upper() not in refs:
        return None
    try:
        parts = [float(p) for p in text[:-1].split(",")]
    except ValueError:
        return None
    if not 1 <= len(parts) <= 3:
        return None
    deg = float(sum(p / 60**i for i, p in enumerate(parts)))
    return -deg if text[-1].upper() == refs[1] else deg


def _parse_offset(offset: str | None) -> tuple[str, int, int] | None:
    if not offset:
        return None
    m = _OFFSET.match(offset.strip())
    if m is None:
        return None
    hh, mm = int(m.group(2)), int(m.group(3))
    if hh > 14 or mm > 59:
        return None
    return m.group(1), hh, mm


def iso_datetime(text: str | None) -> tuple[str | None, datetime | None]:
    """Normalised ISO form of a container date ("2019-07-24T08:25:57.000000Z",
    "2019-07-24T11:25:57+0300", "2012-09-10 20:52:00") and the aware datetime when the text
    carries a zone. Naive values stay naive: AVI and some MP4 writers record local time."""
    if not text:
        return None, None
    t = text.strip()
    t = re.sub(r"([+-]\d{2})(\d{2})$", r"\1:\2", t)
    try:
        dt = datetime.fromisoformat(t.replace("Z", "+00:00"))
    except ValueError:
        return None, None
    dt = dt.replace(microsecond=0)
    if dt.tzinfo is None:
        return dt.isoformat(), None
    if dt.utcoffset() == timedelta(0):
        return dt.astimezone(UTC).isoformat().replace("+00:00", "Z"), dt
    return dt.isoformat(), dt


def parse_iso6709(text: str | None) -> dict[str, float | None] | None:
    """{"lat", "lon", "alt"} from an ISO 6709 string ("+32.0929+034.8620+028.516/"), accepting
    degrees, DDMM.mm and DDMMSS.ss forms. None when absent or out of range."""
    if not text:
        return None
    m = _ISO6709.match(text.strip())
    if m is None:
        return None
    lat = _iso6709_angle(m.group("lat"), 2)
    lon = _iso6709_angle(m.group("lon"), 3)
    alt = float(m.group("alt")) if m.group("alt") else None
    if lat is None or lon is None or abs(lat) > 90 or abs(lon) > 180:
        return None
    return {"lat": lat, "lon": lon, "alt": alt}


def _iso6709_angle(value: str, degree_digits: int) -> float | None:
    sign = -1.0 if value[0] == "-" else 1.0
    body = value[1:]
    whole = body.split(".")[0]
    frac = float("0." + body.split(".")[1]) if "." in body else 0.0
    n = len(whole)
    if n == degree_digits:
        return sign * (int(whole) + frac)
    if n == degree_digits + 2:
        deg, minutes = int(whole[:degree_digits]), int(whole[degree_digits:]) + frac
        return sign * (deg + minutes / 60)
    if n == degree_digits + 4:
        deg = int(whole[:degree_digits])
        minutes = int(whole[degree_digits : degree_digits + 2])
        seconds = int(whole[degree_digits + 2 :]) + frac
        return sign * (deg + minutes / 60 + seconds / 3600)
    return None


def _to_float(value: Any) -> float | None:
    """A finite float from a rational-ish EXIF value (IFDRational, tuple, int), else None."""
    try:
        if isinstance(value, tuple) and len(value) == 2:
            num, den = value
            f = int(num) / int(den) if den else math.nan
        else:
            f = float(value)
    except (TypeError, ValueError, ZeroDivisionError, OverflowError):
        return None
    return f if math.isfinite(f) else None


def _dms(value: Any, ref: Any, negative_refs: tuple[str, ...]) -> float | None:
    if not isinstance(value, (tuple, list)) or len(value) == 0:
        return None
    parts = [_to_float(v) for v in value[:3]]
    if parts[0] is None:
        return None
    # A 0/0 minutes or seconds component (Nikon D5000 writes one) counts as 0, as in exiftool.
    deg = float(sum((p or 0.0) / 60**i for i, p in enumerate(parts)))
    ref_text = _norm_text(ref) or ""
    return -deg if ref_text[:1].upper() in negative_refs else deg


def gps_from_exif(gps: dict[int, Any]) -> dict[str, float | None] | None:
    """Decimal degrees (south and west negative) and altitude in metres from a GPS IFD."""
    lat = _dms(gps.get(2), gps.get(1), ("S",))
    lon = _dms(gps.get(4), gps.get(3), ("W",))
    if lat is None or lon is None or abs(lat) > 90 or abs(lon) > 180:
        return None
    alt = _to_float(gps.get(6)) if 6 in gps else None
    if alt is not None and gps.get(5) in (1, b"\x01"):
        alt = -alt
    return {"lat": lat, "lon": lon, "alt": alt}


# ---------------------------------------------------------------------------- images


# Pillow plugin per sniffed type: a file that looks like a JPEG is parsed by the JPEG plugin
# and nothing else. PDF, EPS, FITS, PSD, DDS and the rest are never loaded: their parsers are
# where most Pillow CVEs live, and nobody sends them as photos.
PILLOW_PLUGINS = {
    "image/jpeg": ("JpegImagePlugin", "JPEG"),  # MPO files come back from the JPEG plugin
    "image/png": ("PngImagePlugin", "PNG"),
    "image/gif": ("GifImagePlugin", "GIF"),
    "image/tiff": ("TiffImagePlugin", "TIFF"),
    "image/bmp": ("BmpImagePlugin", "BMP"),
    "image/webp": ("WebPImagePlugin", "WEBP"),
    "image/avif": ("AvifImagePlugin", "AVIF"),
    "image/heic": ("pillow_heif", "HEIF"),
    "image/heif": ("pillow_heif", "HEIF"),
}


def pillow_for(mime: str | None = None) -> tuple[Any, list[str]]:
    """(PIL.Image, allowed formats) for a sniffed MIME type, importing only that plugin (a
    child pays ~40-80 ms for each plugin it loads, and `Image.init()` loads them all)."""
    from PIL import Image

    plugins = [PILLOW_PLUGINS[mime]] if mime in PILLOW_PLUGINS else list(PILLOW_PLUGINS.values())
    for module, _ in plugins:
        if module == "pillow_heif":
            from pillow_heif import register_heif_opener

            register_heif_opener()
        else:
            importlib.import_module(f"PIL.{module}")
    return Image, sorted({fmt for _, fmt in plugins})


def _read_image(path: str, mime: str | None, meta: dict[str, Any]) -> None:
    from PIL import ExifTags, UnidentifiedImageError

    image_mod, formats = pillow_for(mime)
    raw = meta["raw"]
    try:
        with warnings.catch_warnings():
            # Pillow warns between 1x and 2x the pixel limit and raises above it; both are bombs.
            # Its "Corrupt EXIF data" UserWarnings at open are noise here (tags are re-read
            # and their warnings recorded in _read_pillow).
            warnings.simplefilter("ignore", UserWarning)
            warnings.simplefilter("error", image_mod.DecompressionBombWarning)
            with image_mod.open(path, formats=formats) as im:
                _read_pillow(im, meta, ExifTags)
    except (image_mod.DecompressionBombError, image_mod.DecompressionBombWarning) as exc:
        raise AnalysisError(_bomb_reason(str(exc))) from None
    except UnidentifiedImageError:
        raise AnalysisError(
            "not a media file we can read: image header not recognised by Pillow"
        ) from None
    except (OSError, SyntaxError, ValueError, EOFError, NotImplementedError, OverflowError) as exc:
        # Pillow's documented failure types for malformed input (its fuzzers accept these).
        raise AnalysisError(f"truncated or corrupt image: {_one_line(exc)}") from None
    if meta["raw"].get("pillow", {}).get("format") in EXIFREAD_FORMATS:
        _cross_check_exifread(path, meta)
    raw.setdefault("pillow", {})


def _bomb_reason(message: str) -> str:
    m = re.search(r"\((\d+) pixels\)", message)
    pixels = m.group(1) if m else "too many"
    return f"decompression bomb: {pixels} pixels exceeds the limit"


def _read_pillow(im: Any, meta: dict[str, Any], exif_tags: Any) -> None:
    raw: dict[str, str] = {}
    meta["raw"]["pillow"] = raw
    raw["format"] = str(im.format)
    raw["mode"] = str(im.mode)
    raw["size"] = f"{im.size[0]}x{im.size[1]}"
    ifd0: dict[int, Any] = {}
    exif_ifd: dict[int, Any] = {}
    gps_ifd: dict[int, Any] = {}
    with warnings.catch_warnings(record=True) as caught:
        # "Possibly corrupt EXIF data ... Skipping tag": Pillow skips the tag (an absurd
        # MakerNote count, say) and we keep going, noting what was skipped.
        warnings.simplefilter("always", UserWarning)
        try:
            exif = im.getexif()
            ifd0 = dict(exif)
            exif_ifd = dict(exif.get_ifd(exif_tags.IFD.Exif)) if ifd0 else {}
            gps_ifd = dict(exif.get_ifd(exif_tags.IFD.GPSInfo)) if ifd0 else {}
        except Exception as exc:  # noqa: BLE001 - hostile EXIF; the pixels may be fine. Recorded.
            raw["_exif_error"] = f"{type(exc).__name__}: {_one_line(exc)}"
    for i, warning in enumerate(caught[:5]):
        raw[f"_warning{i}"] = _one_line(str(warning.message))
    for tag, value in ifd0.items():
        if tag in (exif_tags.IFD.Exif, exif_tags.IFD.GPSInfo):
            continue
        _raw_put(raw, "IFD0:" + exif_tags.TAGS.get(tag, f"0x{tag:04x}"), value)
    for tag, value in exif_ifd.items():
        limit = MAX_COMMENT_BYTES if tag == EXIF_USER_COMMENT else MAX_RAW_BYTES
        _raw_put(raw, "ExifIFD:" + exif_tags.TAGS.get(tag, f"0x{tag:04x}"), value, max_bytes=limit)
    for tag, value in gps_ifd.items():
        _raw_put(raw, "GPS:" + exif_tags.GPSTAGS.get(tag, f"0x{tag:04x}"), value)

    meta["make"] = _norm_text(ifd0.get(0x010F))
    meta["model"] = _norm_text(ifd0.get(0x0110))
    meta["software"] = _norm_text(ifd0.get(0x0131))
    orientation = ifd0.get(0x0112)
    meta["orientation"] = (
        orientation if isinstance(orientation, int) and 1 <= orientation <= 8 else None
    )

    # Capture time: DateTimeOriginal, else DateTimeDigitized (ModifyDate is not a capture
    # time). A blank or malformed value ("    :  :     :  :  ") falls through to the next.
    for dt_tag, off_tag in ((0x9003, 0x9011), (0x9004, 0x9012)):
        dt_raw = _norm_text(exif_ifd.get(dt_tag))
        if dt_raw and _EXIF_DT.match(dt_raw):
            meta["captured_at_raw"] = dt_raw
            offset = _norm_text(exif_ifd.get(off_tag))
            meta["captured_at"], meta["captured_offset"] = exif_datetime(dt_raw, offset)
            break
    meta["gps"] = gps_from_exif(gps_ifd) if gps_ifd else None

    width, height = im.size
    if im.format == "HEIF":
        # libheif has already applied the HEIF irot/imir transforms (the size is upright) and
        # pillow-heif resets EXIF Orientation to 1, keeping the value as written aside.
        original = im.info.get("original_orientation")
        if isinstance(original, int) and 1 <= original <= 8:
            meta["orientation"] = original
            raw["_orientation"] = "HEIF: transforms applied by libheif; size is upright"
    elif meta["orientation"] in (5, 6, 7, 8):
        width, height = height, width
    meta["width"], meta["height"] = width, height
    _read_xmp(im, meta)
    if im.format in ("JPEG", "MPO", "TIFF"):
        _read_iptc(im, meta)


def _read_xmp(im: Any, meta: dict[str, Any]) -> None:
    from xml.etree.ElementTree import ParseError

    packet = im.info.get("xmp") or im.info.get("XML:com.adobe.xmp")
    if not packet:
        return
    xmp_raw: dict[str, str] = {}
    meta["raw"]["xmp"] = xmp_raw
    text = packet.decode("utf-8", "replace") if isinstance(packet, bytes) else str(packet)
    _raw_put(xmp_raw, "packet", text)
    try:
        tree = im.getxmp()
    except (ParseError, ValueError) as exc:  # defusedxml's refusals are ValueErrors
        xmp_raw["_error"] = _one_line(exc)
        return
    tool = _first_key(tree, "CreatorTool")
    meta["xmp_creator_tool"] = _norm_text(tool)
    if meta["software"] is None and meta["xmp_creator_tool"] is not None:
        meta["software"] = meta["xmp_creator_tool"]
    if meta["captured_at_raw"] is None:
        # No EXIF capture time: exif:DateTimeOriginal, xmp:CreateDate, photoshop:DateCreated.
        for key in ("DateTimeOriginal", "CreateDate", "DateCreated"):
            value = _norm_text(_first_key(tree, key))
            if value and _XMP_DT.match(value):
                meta["captured_at_raw"] = value
                meta["captured_at"], meta["captured_offset"] = xmp_datetime(value)
                break
    if meta["gps"] is None:
        lat = _xmp_coordinate(_first_key(tree, "GPSLatitude"), "NS")
        lon = _xmp_coordinate(_first_key(tree, "GPSLongitude"), "EW")
        if lat is not None and lon is not None and abs(lat) <= 90 and abs(lon) <= 180:
            meta["gps"] = {"lat": lat, "lon": lon, "alt": None}


_IPTC_NAMES = {
    (2, 55): "DateCreated",
    (2, 60): "TimeCreated",
    (2, 80): "By-line",
    (2, 110): "Credit",
    (2, 115): "Source",
    (2, 116): "CopyrightNotice",
    (2, 120): "Caption-Abstract",
    (2, 5): "ObjectName",
    (2, 25): "Keywords",
}


def _read_iptc(im: Any, meta: dict[str, Any]) -> None:
    """IPTC-IIM (APP13): kept raw; DateCreated + TimeCreated is the last capture-time fallback
    (news-agency photos often carry nothing else)."""
    from PIL import IptcImagePlugin

    try:
        info = IptcImagePlugin.getiptcinfo(im) or {}
    except (OSError, SyntaxError, ValueError, IndexError) as exc:
        meta["raw"]["iptc"] = {"_error": _one_line(exc)}
        return
    if not info:
        return
    raw: dict[str, str] = {}
    meta["raw"]["iptc"] = raw
    for key, value in info.items():
        name = _IPTC_NAMES.get(key, f"{key[0]}:{key[1]}")
        values = value if isinstance(value, list) else [value]
        _raw_put(raw, name, b"; ".join(v for v in values if isinstance(v, bytes)))
    date = info.get((2, 55))
    if meta["captured_at_raw"] is None and isinstance(date, bytes) and len(date) == 8:
        time_ = info.get((2, 60))
        clock = time_.decode("ascii", "replace") if isinstance(time_, bytes) else ""
        m = re.match(r"^(\d{2})(\d{2})(\d{2})([+-]\d{4})?$", clock)
        d = date.decode("ascii", "replace")
        if m is None or not d.isdigit():
            return
        meta["captured_at_raw"] = f"{d} {clock}"
        wall = f"{d[:4]}:{d[4:6]}:{d[6:]} {m.group(1)}:{m.group(2)}:{m.group(3)}"
        meta["captured_at"], meta["captured_offset"] = exif_datetime(wall, m.group(4))


def _first_key(node: Any, key: str) -> str | None:
    """The first string value under `key` anywhere in getxmp()'s nested dicts and lists."""
    stack: list[Any] = [node]
    while stack:
        item = stack.pop(0)
        if isinstance(item, dict):
            if key in item:
                found = _text_of(item[key])
                if found is not None:
                    return found
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return None


def _text_of(value: Any) -> str | None:
    if isinstance(value, str):
        return value
    if isinstance(value, dict):  # rdf:Alt / rdf:Seq -> {"li": ...} or {"text": ...}
        for k in ("text", "li", "Alt", "Seq", "Bag"):
            if k in value:
                return _text_of(value[k])
    if isinstance(value, list) and value:
        return _text_of(value[0])
    return None


def _cross_check_exifread(path: str, meta: dict[str, Any]) -> None:
    """Read the EXIF again with exifread and record where it disagrees with Pillow.

    exifread has no exception contract (IndexError, UnicodeDecodeError, AssertionError seen on
    real files), so any exception is recorded, never raised. `details=False` skips MakerNotes,
    whose attacker-chosen element count makes exifread loop for minutes.
    """
    import logging

    import exifread

    logging.getLogger("exifread").setLevel(logging.CRITICAL)  # its warnings go to stderr
    raw: dict[str, str] = {}
    meta["raw"]["exifread"] = raw
    try:
        with open(path, "rb") as fh:
            tags = exifread.process_file(fh, details=False, extract_thumbnail=False)
    except Exception as exc:  # noqa: BLE001 - third-party parser without an exception contract
        raw["_error"] = f"{type(exc).__name__}: {_one_line(exc)}"
        return
    if not tags:
        raw["_error"] = "no EXIF tags found"
        return
    for key, tag in tags.items():
        _raw_put(raw, key, getattr(tag, "printable", tag))

    def value(key: str) -> Any:
        tag = tags.get(key)
        return None if tag is None else tag.values

    theirs: dict[str, Any] = {
        "make": _norm_text(value("Image Make")),
        "model": _norm_text(value("Image Model")),
        "software": _norm_text(value("Image Software")),
        "captured_at_raw": _norm_text(value("EXIF DateTimeOriginal"))
        or _norm_text(value("EXIF DateTimeDigitized")),
    }
    orient = value("Image Orientation")
    theirs["orientation"] = orient[0] if isinstance(orient, list) and orient else None
    lat = _dms(_ratios(value("GPS GPSLatitude")), value("GPS GPSLatitudeRef"), ("S",))
    lon = _dms(_ratios(value("GPS GPSLongitude")), value("GPS GPSLongitudeRef"), ("W",))
    ours_gps = meta["gps"] or {}
    pillow_software = _norm_text(meta["raw"].get("pillow", {}).get("IFD0:Software"))
    ours: dict[str, Any] = {
        "make": meta["make"],
        "model": meta["model"],
        "software": pillow_software,
        "captured_at_raw": meta["captured_at_raw"],
        "orientation": meta["orientation"],
    }
    for field_name, mine in ours.items():
        other = theirs[field_name]
        if field_name == "orientation" and other is not None and not 1 <= other <= 8:
            other = None
        if mine != other:
            meta["disagreements"].append({"field": field_name, "pillow": mine, "exifread": other})
    for field_name, mine_f, other_f in (
        ("gps.lat", ours_gps.get("lat"), lat),
        ("gps.lon", ours_gps.get("lon"), lon),
    ):
        if (mine_f is None) != (other_f is None) or (
            mine_f is not None and other_f is not None and abs(mine_f - other_f) > 1e-6
        ):
            meta["disagreements"].append(
                {"field": field_name, "pillow": mine_f, "exifread": other_f}
            )


def _ratios(values: Any) -> tuple[Any, ...] | None:
    if not isinstance(values, list):
        return None
    out: list[Any] = []
    for v in values:
        num, den = getattr(v, "num", None), getattr(v, "den", None)
        out.append((num, den) if num is not None and den is not None else v)
    return tuple(out)


# ---------------------------------------------------------------------------- video


def _read_video(path: str, demuxer: str, meta: dict[str, Any]) -> str:
    import av

    raw: dict[str, str] = {}
    meta["raw"]["pyav"] = raw
    av.logging.set_level(None)
    try:
        container = av.open(path, format=demuxer, metadata_errors="surrogateescape")
    except av.FFmpegError as exc:
        raise AnalysisError(f"truncated or corrupt video: {ffmpeg_reason(exc)}") from None
    with container:
        tags = {k: v for k, v in container.metadata.items()}
        for key, val in tags.items():
            _raw_put(raw, "format:" + key, val)
        if container.duration is not None and container.duration > 0:
            meta["duration"] = round(container.duration / 1_000_000, 3)
        audio = container.streams.audio[0] if container.streams.audio else None
        if audio is not None:
            meta["audio_codec"] = _codec_name(audio.codec_context)
        video = next(
            (s for s in container.streams.video if not (s.disposition & _attached_pic())), None
        )
        stream_tags: dict[str, str] = {}
        if video is not None:
            stream_tags = {k: v for k, v in video.metadata.items()}
            for key, val in stream_tags.items():
                _raw_put(raw, "video:" + key, val)
            _read_video_stream(container, video, meta, raw)
        _video_tags(tags, stream_tags, meta)
    return "video" if video is not None else "other"


def _codec_name(ctx: Any) -> str | None:
    """The format's name (`mp3`), not the decoder's (`mp3float`), as ffprobe and exiftool
    give it."""
    if ctx is None:
        return None
    codec = getattr(ctx, "codec", None)
    name = getattr(codec, "canonical_name", None) if codec is not None else None
    return str(name or ctx.name)


def _attached_pic() -> int:
    import av

    return int(av.stream.Disposition.attached_pic)


def _read_video_stream(
    container: Any, video: Any, meta: dict[str, Any], raw: dict[str, str]
) -> None:
    import av

    ctx = video.codec_context
    if ctx is not None:
        meta["video_codec"] = _codec_name(ctx)
    coded_w = ctx.width if ctx is not None else 0
    coded_h = ctx.height if ctx is not None else 0
    rate = video.average_rate or video.guessed_rate or video.base_rate
    if rate:
        meta["fps"] = round(float(rate), 3)
    if meta["duration"] is None and video.duration is not None and video.time_base:
        meta["duration"] = round(float(video.duration * video.time_base), 3)

    rotation_ccw: int | None = None
    try:
        for count, packet in enumerate(container.demux(video)):
            if count >= FIRST_FRAME_PACKETS:
                break
            frames = packet.decode()
            if frames:
                first = frames[0]
                rotation_ccw = int(first.rotation)
                coded_w, coded_h = coded_w or first.width, coded_h or first.height
                break
    except (av.FFmpegError, ValueError, EOFError) as exc:
        raw["_first_frame_error"] = ffmpeg_reason(exc)
    if rotation_ccw is None and container.format.name == "mov":
        rotation_ccw = tkhd_rotation(container.name)
        raw["_rotation"] = "no frame decoded; read from the tkhd matrix"
    if rotation_ccw is None:
        raw["_rotation"] = "unknown: no frame decoded"
    else:
        raw["frame.rotation"] = str(rotation_ccw)
        meta["rotation"] = (-rotation_ccw) % 360
    raw["coded_width"], raw["coded_height"] = str(coded_w), str(coded_h)

    width, height = coded_w or None, coded_h or None
    sar = video.sample_aspect_ratio
    if width and sar and sar.numerator and sar.denominator and sar != 1:
        raw["sample_aspect_ratio"] = f"{sar.numerator}:{sar.denominator}"
        width = round(width * sar)
    if meta["rotation"] in (90, 270):
        width, height = height, width
    meta["width"], meta["height"] = width, height


MAX_BOXES = 10_000


def tkhd_rotation(path: str) -> int | None:
    """Counter-clockwise display rotation of the first video track from the ISO-BMFF `mvhd`
    and `tkhd` matrices (FFmpeg's convention, as PyAV's `frame.rotation`), for files where no
    frame decodes. Walks at most MAX_BOXES boxes; None when there is no video track or the
    file is malformed."""
    with open(path, "rb") as fh:
        size = os.fstat(fh.fileno()).st_size
        moov = _find_box(fh, 0, size, b"moov")
        if moov is None:
            return None
        pos, end = moov
        mvhd = _find_box(fh, pos, end, b"mvhd")
        movie_quarter = _matrix_quarter(fh, mvhd[0], 4 + 16 + 16, 4 + 28 + 16) if mvhd else 0
        while True:
            trak = _find_box(fh, pos, end, b"trak")
            if trak is None:
                return None
            t_start, t_end = trak
            pos = t_end
            mdia = _find_box(fh, t_start, t_end, b"mdia")
            hdlr = _find_box(fh, mdia[0], mdia[1], b"hdlr") if mdia else None
            if hdlr is None:
                continue
            fh.seek(hdlr[0] + 8)  # version/flags, pre_defined (QuickTime: component type)
            if fh.read(4) != b"vide":
                continue
            tkhd = _find_box(fh, t_start, t_end, b"tkhd")
            track_quarter = _matrix_quarter(fh, tkhd[0], 4 + 20 + 16, 4 + 32 + 16) if tkhd else None
            if track_quarter is None or movie_quarter is None:
                return None
            return {0: 0, 1: -90, 2: 180, 3: 90}[(track_quarter + movie_quarter) % 4]


def _matrix_quarter(fh: Any, payload: int, skip_v0: int, skip_v1: int) -> int | None:
    """Clockwise quarter turns (0-3) of the 3x3 matrix in a full box (mvhd/tkhd)."""
    fh.seek(payload)
    version = fh.read(1)
    fh.seek(payload + (skip_v1 if version == b"\x01" else skip_v0))
    matrix = fh.read(36)
    if len(matrix) != 36:
        return None
    a, b = (int.from_bytes(matrix[i : i + 4], "big", signed=True) for i in (0, 4))
    if a == 0 and b == 0:
        return None
    return round(math.degrees(math.atan2(b, a)) / 90) % 4


def _find_box(fh: Any, start: int, end: int, box_type: bytes) -> tuple[int, int] | None:
    """(payload start, box end) of the first `box_type` box between start and end."""
    pos = start
    for _ in range(MAX_BOXES):
        if pos + 8 > end:
            return None
        fh.seek(pos)
        header = fh.read(8)
        if len(header) < 8:
            return None
        size, kind = int.from_bytes(header[:4], "big"), header[4:]
        payload = pos + 8
        if size == 1:
            large = fh.read(8)
            if len(large) < 8:
                return None
            size, payload = int.from_bytes(large, "big"), pos + 16
        elif size == 0:
            size = end - pos
        if size < payload - pos or pos + size > end:
            return None
        if kind == box_type:
            return payload, pos + size
        pos += size
    return None


def _video_tags(tags: dict[str, str], stream_tags: dict[str, str], meta: dict[str, Any]) -> None:
    def tag(*keys: str) -> str | None:
        for key in keys:
            for source in (tags, stream_tags):
                val = _norm_text(source.get(key))
                if val:
                    return val
        return None

    meta["make"] = tag("com.apple.quicktime.make", "make")
    meta["model"] = tag("com.apple.quicktime.model", "model")
    android = tag("com.android.version")
    meta["software"] = tag("com.apple.quicktime.software", "software") or (
        f"Android {android}" if android else None
    )
    meta["encoder"] = _norm_text(tags.get("encoder")) or _norm_text(stream_tags.get("encoder"))
    meta["gps"] = parse_iso6709(tag("com.apple.quicktime.location.ISO6709", "location"))

    creation_raw = tag("creation_time")
    meta["creation_time"], creation_dt = iso_datetime(creation_raw)
    apple_raw = tag("com.apple.quicktime.creationdate")
    apple_iso, apple_dt = iso_datetime(apple_raw)
    if apple_raw and apple_dt is not None:
        # Apple's key carries the local offset: the best capture time a video has.
        meta["captured_at_raw"], meta["captured_at"] = apple_raw, apple_iso
        offset = apple_dt.utcoffset()
        if offset is not None:
            minutes = int(offset.total_seconds() // 60)
            sign = "+" if minutes >= 0 else "-"
            meta["captured_offset"] = f"{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"
    elif creation_raw:
        # Container creation time: UTC in MP4/MOV/MKV, local (naive) in AVI. The instant is
        # known only when the tag carries a zone; the local offset of the capture never is.
        meta["captured_at_raw"] = creation_raw
        meta["captured_at"] = meta["creation_time"] if creation_dt is not None else None


# ---------------------------------------------------------------------------- optional readers


@functools.cache
def _optional_c2pa() -> Any:
    """The c2pa module when c2pa-python is installed, else None (looked up once per process)."""
    if importlib.util.find_spec("c2pa") is None:
        return None
    return importlib.import_module("c2pa")


C2PA_DISTRIBUTION = "c2pa-python"
C2PA_EXTRA = "pip install 'verify[c2pa]'"  # the optional extra that installs it (pyproject)


@functools.cache
def c2pa_reader() -> str | None:
    """`c2pa-python VERSION` when the optional C2PA reader is installed (the files analysed
    are then looked at for a manifest), else None: stored as `meta["c2pa_reader"]`."""
    if _optional_c2pa() is None:
        return None
    try:
        version = importlib.metadata.version(C2PA_DISTRIBUTION)
    except importlib.metadata.PackageNotFoundError:
        version = "version unknown"
    return f"{C2PA_DISTRIBUTION} {version}"


@functools.cache
def _exiftool_path() -> str | None:
    import shutil

    return shutil.which("exiftool")


def _read_c2pa(path: str, raw: dict[str, Any]) -> dict[str, Any] | None:
    """Summary of the active C2PA manifest when c2pa-python is installed, else None.

    "valid" means the signature and hashes check out; "trusted" additionally means the signer
    chains to a configured trust list. A self-signed manifest is valid, not trusted.
    """
    c2pa = _optional_c2pa()
    if c2pa is None:
        return None
    try:
        with c2pa.Reader(path) as reader:
            store = json.loads(reader.json())
    except c2pa.C2paError as exc:
        if "ManifestNotFound" in type(exc).__name__ or "no JUMBF" in str(exc):
            return None
        raw["c2pa"] = {"_error": _one_line(exc)}
        return {
            "state": "invalid",
            "claim_generator": None,
            "signer": None,
            "error": _one_line(exc),
        }
    return summarise_c2pa(store, raw)


def summarise_c2pa(store: dict[str, Any], raw: dict[str, Any]) -> dict[str, Any] | None:
    """{"state", "claim_generator", "signer", "signed_at", "failures"} from a manifest store."""
    label = store.get("active_manifest")
    manifests = store.get("manifests") or {}
    manifest = manifests.get(label) if isinstance(manifests, dict) else None
    if not isinstance(manifest, dict):
        return None
    _raw_put(raw.setdefault("c2pa", {}), "manifest_store", json.dumps(store, sort_keys=True))
    state_text = str(store.get("validation_state") or "").lower()
    statuses = store.get("validation_status") or []
    failures = [str(s.get("code")) for s in statuses if isinstance(s, dict) and s.get("code")]
    if state_text not in ("valid", "invalid", "trusted"):
        state_text = "invalid" if failures else "valid"
    generator = manifest.get("claim_generator")
    info = manifest.get("claim_generator_info")
    if not generator and isinstance(info, list) and info and isinstance(info[0], dict):
        generator = " ".join(str(info[0].get(k, "")) for k in ("name", "version")).strip()
    sig = manifest.get("signature_info") or {}
    signer = sig.get("common_name") or sig.get("issuer") if isinstance(sig, dict) else None
    return {
        "state": state_text,
        "claim_generator": _norm_text(generator),
        "signer": _norm_text(signer),
        "issuer": _norm_text(sig.get("issuer")) if isinstance(sig, dict) else None,
        "signed_at": _norm_text(sig.get("time")) if isinstance(sig, dict) else None,
        "failures": failures,
    }


def _read_exiftool(path: str, raw: dict[str, Any]) -> None:
    """Full `exiftool -j -G1 -a -n` dump into raw["exiftool"] when exiftool is on PATH."""
    import subprocess

    exe = _exiftool_path()
    if exe is None:
        return
    out: dict[str, str] = {}
    raw["exiftool"] = out
    try:
        proc = subprocess.run(
            [exe, "-j", "-G1", "-a", "-n", "-api", "LargeFileSupport=1", os.path.abspath(path)],
            capture_output=True,
            timeout=EXIFTOOL_TIMEOUT,
            check=False,
        )
        records = json.loads(proc.stdout or b"[]")
    except (subprocess.TimeoutExpired, OSError, ValueError) as exc:
        out["_error"] = _one_line(exc)
        return
    if not records or not isinstance(records[0], dict):
        out["_error"] = _one_line(proc.stderr.decode("utf-8", "replace")) or "no output"
        return
    for key, val in records[0].items():
        if key in ("SourceFile", "System:Directory", "System:FileName"):
            continue
        _raw_put(out, key, val if isinstance(val, str) else json.dumps(val))


# ---------------------------------------------------------------------------- helpers


def ffmpeg_reason(exc: BaseException) -> str:
    """FFmpeg's message without the errno and the file path (the caller names the file, and
    the path is the evidence store's, not the user's)."""
    strerror = getattr(exc, "strerror", None)
    return _one_line(strerror if isinstance(strerror, str) and strerror else str(exc))


def _one_line(exc: BaseException | str, limit: int = 200) -> str:
    text = str(exc) if not isinstance(exc, str) else exc
    text = " ".join(_unsurrogate(clean_text(text)).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
