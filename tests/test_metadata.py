"""verify.analysis.metadata on media generated here (Pillow, pillow-heif, PyAV/libx264).

Each fixture carries known EXIF / container tags; the assertions are the exact values a
verifier would read off `verify media show`. The real-corpus comparison with exiftool is in
test_sandbox.py (it runs through the sandbox).
"""

import io
import struct
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest
from PIL import Image
from pillow_heif import register_heif_opener

from verify.analysis.metadata import (
    NORMALISED_KEYS,
    _exiftool_path,
    exif_datetime,
    iso_datetime,
    parse_iso6709,
    read_metadata,
    sniff,
    tkhd_rotation,
)
from verify.errors import AnalysisError

register_heif_opener()

LAT = 50 + 27 / 60 + 0.5 / 3600  # 50°27'0.5" N
LON = 30 + 31 / 60 + 24 / 3600  # 30°31'24" E
XMP = (
    b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF '
    b'xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"><rdf:Description '
    b'xmlns:xmp="http://ns.adobe.com/xap/1.0/" xmp:CreatorTool="Darktable 4.6"/>'
    b"</rdf:RDF></x:xmpmeta>"
)


def camera_exif(*, offset: str | None = "+03:00", orientation: int = 6) -> Image.Exif:
    exif = Image.Exif()
    exif[0x010F] = "TestCam\x00"  # Make, NUL-padded as some cameras write it
    exif[0x0110] = "X100  "  # Model with trailing blanks
    exif[0x0131] = "fw 1.2"  # Software
    exif[0x0112] = orientation
    sub = exif.get_ifd(0x8769)
    sub[0x9003] = "2023:05:23 10:15:00"  # DateTimeOriginal
    if offset is not None:
        sub[0x9011] = offset  # OffsetTimeOriginal
    gps = exif.get_ifd(0x8825)
    gps[1], gps[2] = "N", (50.0, 27.0, 0.5)
    gps[3], gps[4] = "E", (30.0, 31.0, 24.0)
    gps[5], gps[6] = b"\x00", 179.5
    return exif


def save_image(path: Path, fmt: str, **kwargs: Any) -> Path:
    Image.new("RGB", (80, 60), "blue").save(path, fmt, **kwargs)
    return path


def make_video(
    path: Path,
    fmt: str,
    *,
    rotation: int | None = None,
    tags: dict[str, str] | None = None,
    frames: int = 6,
) -> Path:
    """A 64x48 libx264 clip at 10 fps; `rotation` is PyAV's (counter-clockwise) display angle."""
    with av.open(str(path), "w", format=fmt, options={"movflags": "use_metadata_tags"}) as out:
        for key, value in (tags or {}).items():
            out.metadata[key] = value
        stream = out.add_stream("libx264", rate=10)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        if rotation is not None:
            stream.set_display_rotation(rotation)
        for i in range(frames):
            img = np.zeros((48, 64, 3), np.uint8)
            img[:, :16] = 255
            img[:, :, 1] = (i * 20) % 256
            for packet in stream.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return path


APPLE_TAGS = {
    "creation_time": "2024-03-01T10:20:30.000000Z",
    "com.apple.quicktime.make": "Apple",
    "com.apple.quicktime.model": "iPhone 15 Pro",
    "com.apple.quicktime.software": "17.4",
    "com.apple.quicktime.location.ISO6709": "+48.8584+002.2945+035.000/",
    "com.apple.quicktime.creationdate": "2024-03-01T11:20:28+0100",
}


# ---------------------------------------------------------------------------- images


def test_jpeg_exif_gps_offset_orientation_xmp(tmp_path: Path) -> None:
    # Named .png on purpose: the type comes from the content, never the extension.
    path = save_image(tmp_path / "photo.png", "JPEG", exif=camera_exif(), xmp=XMP)
    kind, mime, meta = read_metadata(str(path))
    assert (kind, mime) == ("image", "image/jpeg")
    assert meta["make"] == "TestCam"
    assert meta["model"] == "X100"
    assert meta["software"] == "fw 1.2"
    assert meta["captured_at"] == "2023-05-23T10:15:00+03:00"
    assert meta["captured_at_raw"] == "2023:05:23 10:15:00"
    assert meta["captured_offset"] == "+03:00"
    assert meta["gps"] == {
        "lat": pytest.approx(LAT, abs=1e-9),
        "lon": pytest.approx(LON, abs=1e-9),
        "alt": 179.5,
    }
    assert meta["orientation"] == 6
    assert (meta["width"], meta["height"]) == (60, 80)  # upright: orientation 6 swaps 80x60
    assert meta["xmp_creator_tool"] == "Darktable 4.6"
    assert meta["rotation"] is None and meta["duration"] is None and meta["c2pa"] is None
    assert meta["disagreements"] == []  # exifread read the same values
    assert meta["raw"]["pillow"]["IFD0:Make"] == "TestCam"  # NUL stripped, otherwise as written
    assert meta["raw"]["pillow"]["IFD0:Model"] == "X100  "
    assert meta["raw"]["exifread"]["Image Make"] == "TestCam"
    assert "Darktable 4.6" in meta["raw"]["xmp"]["packet"]


@pytest.mark.parametrize(
    ("fmt", "mime", "exifread_used"),
    [("PNG", "image/png", True), ("WEBP", "image/webp", False), ("AVIF", "image/avif", False)],
)
def test_png_webp_avif_exif(tmp_path: Path, fmt: str, mime: str, exifread_used: bool) -> None:
    path = save_image(tmp_path / "photo.bin", fmt, exif=camera_exif())
    kind, got_mime, meta = read_metadata(str(path))
    assert (kind, got_mime) == ("image", mime)
    assert (meta["make"], meta["model"]) == ("TestCam", "X100")
    assert meta["captured_at"] == "2023-05-23T10:15:00+03:00"
    assert meta["gps"]["lat"] == pytest.approx(LAT, abs=1e-9)
    assert meta["gps"]["lon"] == pytest.approx(LON, abs=1e-9)
    assert meta["orientation"] == 6
    assert (meta["width"], meta["height"]) == (60, 80)
    # exifread is only asked about JPEG/TIFF/PNG (it reads nothing from WebP, crashes on HEIC).
    assert ("exifread" in meta["raw"]) is exifread_used
    assert meta["disagreements"] == []


def test_heic_exif_orientation_kept_and_size_as_decoded(tmp_path: Path) -> None:
    path = save_image(tmp_path / "IMG_0001.JPG", "HEIF", exif=camera_exif())
    kind, mime, meta = read_metadata(str(path))
    assert (kind, mime) == ("image", "image/heic")
    assert (meta["make"], meta["model"], meta["software"]) == ("TestCam", "X100", "fw 1.2")
    assert meta["captured_at"] == "2023-05-23T10:15:00+03:00"
    assert meta["gps"]["lat"] == pytest.approx(LAT, abs=1e-9)
    # The EXIF value as written; libheif applies the HEIF transforms (none here), so the size
    # is the decoded one and pillow-heif has reset the in-memory EXIF orientation to 1.
    assert meta["orientation"] == 6
    assert (meta["width"], meta["height"]) == (80, 60)
    assert "exifread" not in meta["raw"]


def test_local_time_without_offset_is_not_an_instant(tmp_path: Path) -> None:
    path = save_image(tmp_path / "a.jpg", "JPEG", exif=camera_exif(offset=None, orientation=1))
    _, _, meta = read_metadata(str(path))
    assert meta["captured_at"] is None
    assert meta["captured_at_raw"] == "2023:05:23 10:15:00"
    assert meta["captured_offset"] is None
    assert (meta["width"], meta["height"]) == (80, 60)


def test_image_without_metadata_has_every_key(tmp_path: Path) -> None:
    path = save_image(tmp_path / "plain", "PNG")
    kind, mime, meta = read_metadata(str(path))
    assert (kind, mime) == ("image", "image/png")
    assert set(NORMALISED_KEYS) <= set(meta)
    given = ("width", "height", "c2pa_reader")  # the reader, when c2pa-python is installed
    assert {k: meta[k] for k in NORMALISED_KEYS if k not in given} == dict.fromkeys(
        k for k in NORMALISED_KEYS if k not in given
    )
    assert (meta["width"], meta["height"]) == (80, 60)
    assert meta["disagreements"] == []


def test_exifread_disagreement_is_recorded(tmp_path: Path) -> None:
    # Text after a NUL: Pillow keeps it (we drop only the NUL), exifread stops at the NUL.
    exif = camera_exif()
    exif[0x010F] = "Canon\x00Hidden"
    path = save_image(tmp_path / "d.jpg", "JPEG", exif=exif)
    _, _, meta = read_metadata(str(path))
    assert meta["make"] == "CanonHidden"
    assert meta["disagreements"] == [
        {"field": "make", "pillow": "CanonHidden", "exifread": "Canon"}
    ]


def test_xmp_dates_and_gps_used_when_exif_has_none(tmp_path: Path) -> None:
    xmp = (
        b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF '
        b'xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"><rdf:Description '
        b'xmlns:xmp="http://ns.adobe.com/xap/1.0/" xmlns:exif="http://ns.adobe.com/exif/1.0/" '
        b'xmp:CreateDate="2016-08-17T11:10:24-04:00" exif:GPSLatitude="48,53.323582N" '
        b'exif:GPSLongitude="21,2.595070W"/></rdf:RDF></x:xmpmeta>'
    )
    path = save_image(tmp_path / "x.jpg", "JPEG", xmp=xmp)
    _, _, meta = read_metadata(str(path))
    assert meta["captured_at"] == "2016-08-17T11:10:24-04:00"
    assert meta["captured_at_raw"] == "2016-08-17T11:10:24-04:00"
    assert meta["captured_offset"] == "-04:00"
    assert meta["gps"]["lat"] == pytest.approx(48 + 53.323582 / 60)
    assert meta["gps"]["lon"] == pytest.approx(-(21 + 2.595070 / 60))


def png_bomb(width: int, height: int) -> bytes:
    """A 1-bit greyscale PNG declaring width x height, built by hand (Pillow would need the
    pixels in memory): IHDR + zlib-streamed all-zero rows."""
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    comp = zlib.compressobj(9)
    rows = (b"\x00" * (1 + (width + 7) // 8)) * 200
    body = b"".join(comp.compress(rows) for _ in range(height // 200)) + comp.flush()
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", body) + chunk(b"IEND", b"")


def test_decompression_bomb_warning_level_is_an_error_too(tmp_path: Path) -> None:
    # 10,000 x 10,000 = 1e8 pixels: above MAX_IMAGE_PIXELS (89.5M), below 2x, where Pillow
    # only warns. We refuse it all the same.
    path = tmp_path / "warn.png"
    path.write_bytes(png_bomb(10_000, 10_000))
    with pytest.raises(AnalysisError) as err:
        read_metadata(str(path))
    assert str(err.value) == "decompression bomb: 100000000 pixels exceeds the limit"
    assert Image.MAX_IMAGE_PIXELS == 89_478_485  # reading did not switch the guard off


def test_unrecognised_and_empty_files(tmp_path: Path) -> None:
    text = tmp_path / "notes.jpg"
    text.write_bytes(b"just some text, not a photo\n")
    with pytest.raises(AnalysisError) as err:
        read_metadata(str(text))
    assert str(err.value) == (
        "not a media file we can read: unrecognised content (starts 6a75737420736f6d, "
        'text "just some text, not a ph")'
    )
    page = tmp_path / "video.mp4"  # a download that saved the site's error page
    page.write_bytes(b"<!DOCTYPE html>\n<html lang=en><head>")
    with pytest.raises(AnalysisError) as err:
        read_metadata(str(page))
    assert str(err.value).endswith('(starts 3c21444f43545950, text "<!DOCTYPE html>\\n<html la")')
    with pytest.raises(AnalysisError, match=r"^cannot read the file: No such file or directory$"):
        read_metadata(str(tmp_path / "gone.jpg"))
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    with pytest.raises(AnalysisError) as err:
        read_metadata(str(empty))
    assert str(err.value) == "empty file (0 bytes): nothing to analyse"


# ---------------------------------------------------------------------------- video


def test_mov_apple_tags_rotation_location(tmp_path: Path) -> None:
    path = make_video(tmp_path / "IMG_0001.MOV", "mov", rotation=-90, tags=APPLE_TAGS)
    kind, mime, meta = read_metadata(str(path))
    assert (kind, mime) == ("video", "video/quicktime")
    assert (meta["make"], meta["model"], meta["software"]) == ("Apple", "iPhone 15 Pro", "17.4")
    # Apple's creationdate carries the local offset: preferred over the UTC container time.
    assert meta["captured_at"] == "2024-03-01T11:20:28+01:00"
    assert meta["captured_at_raw"] == "2024-03-01T11:20:28+0100"
    assert meta["captured_offset"] == "+01:00"
    assert meta["creation_time"] == "2024-03-01T10:20:30Z"
    assert meta["gps"] == {"lat": 48.8584, "lon": 2.2945, "alt": 35.0}
    # PyAV frame.rotation -90 (counter-clockwise) = rotate 90 clockwise to be upright.
    assert meta["rotation"] == 90
    assert meta["raw"]["pyav"]["frame.rotation"] == "-90"
    assert (meta["width"], meta["height"]) == (48, 64)  # display size, upright
    assert (meta["raw"]["pyav"]["coded_width"], meta["raw"]["pyav"]["coded_height"]) == ("64", "48")
    assert (meta["container"], meta["video_codec"], meta["audio_codec"]) == ("mov", "h264", None)
    assert meta["duration"] == 0.6
    assert meta["fps"] == 10.0
    assert meta["encoder"] is not None and meta["encoder"].startswith("Lavf")
    assert meta["orientation"] is None


@pytest.mark.parametrize(
    ("pyav_rotation", "rotation", "size"),
    [(90, 270, (48, 64)), (180, 180, (64, 48)), (None, 0, (64, 48))],
)
def test_mp4_rotation_android_location(
    tmp_path: Path, pyav_rotation: int | None, rotation: int, size: tuple[int, int]
) -> None:
    tags = {
        "creation_time": "2023-01-02T03:04:05Z",
        "location": "+51.5007-000.1246/",
        "com.android.version": "14",
    }
    path = make_video(tmp_path / "clip", "mp4", rotation=pyav_rotation, tags=tags)
    kind, mime, meta = read_metadata(str(path))
    assert (kind, mime, meta["container"]) == ("video", "video/mp4", "mp4")
    assert meta["rotation"] == rotation
    assert (meta["width"], meta["height"]) == size
    assert meta["software"] == "Android 14"
    assert meta["make"] is None
    assert meta["gps"] == {"lat": 51.5007, "lon": -0.1246, "alt": None}
    # No better source: the container's UTC creation time is the capture time.
    assert meta["captured_at"] == meta["creation_time"] == "2023-01-02T03:04:05Z"
    assert meta["captured_offset"] is None


def test_rotation_from_tkhd_when_no_frame_decodes(tmp_path: Path) -> None:
    path = make_video(tmp_path / "c.mp4", "mp4", rotation=-90)
    data = bytearray(path.read_bytes())
    mdat = data.index(b"mdat") + 4
    size = int.from_bytes(data[mdat - 8 : mdat - 4], "big")
    data[mdat : mdat - 8 + size] = bytes(size - 8)  # every sample zeroed: nothing decodes
    path.write_bytes(bytes(data))
    assert tkhd_rotation(str(path)) == -90
    _, _, meta = read_metadata(str(path))
    assert meta["rotation"] == 90
    assert "tkhd" in meta["raw"]["pyav"]["_rotation"]


def test_truncated_mp4_is_an_analysis_error(tmp_path: Path) -> None:
    path = make_video(tmp_path / "t.mp4", "mp4", frames=20)
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])  # moov (at the end) lost
    with pytest.raises(AnalysisError) as err:
        read_metadata(str(path))
    assert str(err.value).startswith("truncated or corrupt video: ")
    assert "\n" not in str(err.value)


def test_audio_only_container_is_other(tmp_path: Path) -> None:
    path = tmp_path / "voice.m4a"
    with av.open(str(path), "w", format="mp4") as out:
        stream = out.add_stream("aac", rate=8000)
        samples = np.zeros((1, 1024), np.float32)
        for _ in range(4):
            frame = av.AudioFrame.from_ndarray(samples, format="fltp", layout="mono")
            frame.sample_rate = 8000
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    kind, mime, meta = read_metadata(str(path))
    assert (kind, mime, meta["audio_codec"], meta["video_codec"]) == (
        "other",
        "video/mp4",
        "aac",
        None,
    )


# ---------------------------------------------------------------------------- parsers


@pytest.mark.parametrize(
    ("head", "expected"),
    [
        (b"\xff\xd8\xff\xe1", ("image", "image/jpeg", None)),
        (b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic", ("image", "image/heic", None)),
        (b"\x00\x00\x00\x1cftypavif\x00\x00\x00\x00avifmif1", ("image", "image/avif", None)),
        (b"\x00\x00\x00\x14ftypqt  \x00\x00\x00\x00qt  ", ("video", "video/quicktime", "mov")),
        (b"\x00\x00\x00\x18ftyp3gp5\x00\x00\x00\x003gp5isom", ("video", "video/3gpp", "mov")),
        (b"RIFF\x00\x00\x00\x00AVI LIST", ("video", "video/x-msvideo", "avi")),
        (b"\x1a\x45\xdf\xa3\x93\x42\x82\x88matroska", ("video", "video/x-matroska", "matroska")),
        (b"#EXTM3U\n#EXT-X-VERSION:3\n", (None, None, None)),  # playlists never reach FFmpeg
        (b"%PDF-1.7", (None, None, None)),
    ],
)
def test_sniff(head: bytes, expected: tuple[str | None, str | None, str | None]) -> None:
    assert sniff(head) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("+32.0929+034.8620+028.516/", {"lat": 32.0929, "lon": 34.862, "alt": 28.516}),
        ("+51.4169-000.0806/", {"lat": 51.4169, "lon": -0.0806, "alt": None}),
        ("-3330.5+15100.25/", {"lat": -33.508333333333333, "lon": 151.00416666666666, "alt": None}),
        ("+403000-0740000/", {"lat": 40.5, "lon": -74.0, "alt": None}),
        ("+91.0+000.0/", None),
        ("garbage", None),
        ("", None),
    ],
)
def test_parse_iso6709(text: str, expected: dict[str, float | None] | None) -> None:
    got = parse_iso6709(text)
    if expected is None:
        assert got is None
    else:
        assert got == {
            k: (pytest.approx(v) if v is not None else None) for k, v in expected.items()
        }


def test_exif_and_iso_datetimes() -> None:
    assert exif_datetime("2023:05:23 10:15:00", "-04:30") == ("2023-05-23T10:15:00-04:30", "-04:30")
    assert exif_datetime("2023:05:23 10:15:00", None) == (None, None)
    assert exif_datetime("0000:00:00 00:00:00", "+00:00") == (None, None)
    assert exif_datetime("    :  :     :  :  ", "+01:00") == (None, None)
    assert exif_datetime("2023:05:23 10:15:00", "+25:00") == (None, None)
    assert iso_datetime("2019-07-24T08:25:57.000000Z")[0] == "2019-07-24T08:25:57Z"
    assert iso_datetime("2019-07-24T11:25:57+0300")[0] == "2019-07-24T11:25:57+03:00"
    assert iso_datetime("2012-09-10 20:52:00") == ("2012-09-10T20:52:00", None)  # AVI: local
    assert iso_datetime("yesterday") == (None, None)


def test_jpeg_built_in_memory_helper_is_valid() -> None:
    # Guards the fixtures above: Pillow can decode what the helpers write.
    buf = io.BytesIO()
    Image.new("RGB", (8, 8)).save(buf, "JPEG", exif=camera_exif())
    assert Image.open(io.BytesIO(buf.getvalue())).getexif()[0x0112] == 6


# ---------------------------------------------------------------------------- untrusted strings


def test_video_tag_with_invalid_utf8_is_kept_with_its_bytes(tmp_path: Path) -> None:
    path = make_video(tmp_path / "t.mp4", "mp4", tags={"title": "Hello QQ\x1b[2J"})
    data = path.read_bytes()
    assert data.count(b"QQ") == 1
    path.write_bytes(data.replace(b"QQ", b"\xff\xfe"))  # not UTF-8: PyAV would raise without
    _, _, meta = read_metadata(str(path))  # metadata_errors="surrogateescape"
    raw = meta["raw"]["pyav"]
    assert raw["format:title"] == "Hello \ufffd\ufffd\x1b[2J"  # escape kept: clean() is the CLI's
    assert raw["format:title.hex"] == b"Hello \xff\xfe\x1b[2J".hex()


def test_iptc_date_is_the_last_fallback(tmp_path: Path) -> None:
    def dataset(record: int, tag: int, value: bytes) -> bytes:
        return bytes([0x1C, record, tag]) + struct.pack(">H", len(value)) + value

    iptc = dataset(2, 55, b"20090909") + dataset(2, 60, b"170000+0200") + dataset(2, 80, b"Ann")
    block = b"8BIM" + struct.pack(">H", 0x0404) + b"\x00\x00" + struct.pack(">I", len(iptc)) + iptc
    if len(block) % 2:
        block += b"\x00"
    payload = b"Photoshop 3.0\x00" + block
    app13 = b"\xff\xed" + struct.pack(">H", len(payload) + 2) + payload
    plain = save_image(tmp_path / "p.jpg", "JPEG").read_bytes()
    path = tmp_path / "iptc.jpg"
    path.write_bytes(plain[:2] + app13 + plain[2:])
    _, _, meta = read_metadata(str(path))
    assert meta["captured_at"] == "2009-09-09T17:00:00+02:00"
    assert meta["captured_at_raw"] == "20090909 170000+0200"
    assert meta["raw"]["iptc"]["By-line"] == "Ann"


# ---------------------------------------------------------------------------- optional readers


def test_exiftool_dump_when_on_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bindir = tmp_path / "bin"
    bindir.mkdir()
    fake = bindir / "exiftool"
    fake.write_text(
        "#!/bin/sh\n"
        'echo \'[{"SourceFile": "x", "IFD0:Make": "TestCam", "Composite:GPSLatitude": 50.45,'
        ' "System:FileName": "secret-name.jpg"}]\'\n'
    )
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bindir}:/usr/bin:/bin")
    path = save_image(tmp_path / "a.jpg", "JPEG", exif=camera_exif())
    _exiftool_path.cache_clear()  # looked up once per process
    try:
        _, _, meta = read_metadata(str(path))
    finally:
        _exiftool_path.cache_clear()
    assert meta["raw"]["exiftool"] == {"IFD0:Make": "TestCam", "Composite:GPSLatitude": "50.45"}
    assert meta["make"] == "TestCam"  # exiftool is a deep reader, never the normalised source


def test_c2pa_summary_from_a_manifest_store() -> None:
    from verify.analysis.metadata import summarise_c2pa

    store = {
        "active_manifest": "urn:uuid:1",
        "manifests": {
            "urn:uuid:1": {
                "claim_generator": "c2pa-rs/0.91",
                "signature_info": {
                    "issuer": "Test CA",
                    "common_name": "Newsroom",
                    "time": "2025-01-02T03:04:05Z",
                },
            }
        },
        "validation_state": "Valid",
        "validation_status": [{"code": "signingCredential.untrusted"}],
    }
    raw: dict[str, Any] = {}
    assert summarise_c2pa(store, raw) == {
        "state": "valid",
        "claim_generator": "c2pa-rs/0.91",
        "signer": "Newsroom",
        "issuer": "Test CA",
        "signed_at": "2025-01-02T03:04:05Z",
        "failures": ["signingCredential.untrusted"],
    }
    assert "urn:uuid:1" in raw["c2pa"]["manifest_store"]
    assert summarise_c2pa({"manifests": {}}, {}) is None


def test_metadata_records_whether_c2pa_was_looked_for(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`c2pa` null is "no manifest" only when the optional reader looked: `c2pa_reader`
    says whether it did (a report said "not present or not read" for a signed file read
    without c2pa-python)."""
    import types

    from verify.analysis import metadata

    path = save_image(tmp_path / "plain", "PNG")

    class C2paError(Exception):
        pass

    class ManifestNotFound(C2paError):
        pass

    class Reader:
        def __init__(self, path: str) -> None:
            raise ManifestNotFound("no JUMBF data found")

    fake = types.SimpleNamespace(Reader=Reader, C2paError=C2paError)
    for installed, version, want in (
        (None, None, None),
        (fake, "0.38.1", "c2pa-python 0.38.1"),
    ):
        metadata.c2pa_reader.cache_clear()
        monkeypatch.setattr(metadata, "_optional_c2pa", lambda m=installed: m)
        monkeypatch.setattr(metadata.importlib.metadata, "version", lambda name, v=version: v)
        try:
            _, _, meta = read_metadata(str(path))
        finally:
            metadata.c2pa_reader.cache_clear()
        assert (meta["c2pa"], meta["c2pa_reader"]) == (None, want)


def test_padded_user_comment_is_kept_whole(tmp_path: Path) -> None:
    """Canon pads UserComment to 264 bytes of NULs: it was stored as `<264 bytes>`, which a
    report cannot tell from text. It is kept (as hex) up to 4096 bytes; other binary tags
    are still summarised beyond 256."""
    from verify.services.report import user_comment_text

    exif = camera_exif()
    sub = exif.get_ifd(0x8769)
    sub[0x9286] = bytes(264)  # UserComment: undefined code, then 256 NULs
    sub[0xA302] = bytes(300)  # CFAPattern, any long binary value
    path = save_image(tmp_path / "canon.jpg", "JPEG", exif=exif)
    raw = read_metadata(str(path))[2]["raw"]["pillow"]
    assert raw["ExifIFD:UserComment"] == "0x" + "00" * 264
    assert user_comment_text(raw["ExifIFD:UserComment"]) == ""
    assert raw["ExifIFD:CFAPattern"] == "<300 bytes>"
    sub[0x9286] = b"ASCII\0\0\0" + b"x" * 300
    path = save_image(tmp_path / "long.jpg", "JPEG", exif=exif)
    raw = read_metadata(str(path))[2]["raw"]["pillow"]
    assert user_comment_text(raw["ExifIFD:UserComment"]) == "x" * 300
    sub[0x9286] = b"ASCII\0\0\0" + b"x" * 4089
    path = save_image(tmp_path / "huge.jpg", "JPEG", exif=exif)
    assert read_metadata(str(path))[2]["raw"]["pillow"]["ExifIFD:UserComment"] == "<4097 bytes>"


def test_codecs_are_named_by_format_not_decoder() -> None:
    """FFmpeg decodes MP3 with `mp3float`: the metadata says `mp3`, as ffprobe does."""
    import av

    from verify.analysis.metadata import _codec_name

    assert _codec_name(av.codec.CodecContext.create("mp3float", "r")) == "mp3"
    assert _codec_name(av.codec.CodecContext.create("h264", "r")) == "h264"
    assert _codec_name(None) is None
