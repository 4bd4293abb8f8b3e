"""Frame sampling: images, generated clips (sampling, skipping, rotation, scene changes), corpus."""

import csv
from collections.abc import Callable
from pathlib import Path

import av
import numpy as np
import pytest
from bench.clips import canvas, render
from PIL import Image

import verify.analysis.frames as frames_mod
from verify.analysis.frames import extract_frames, extract_video, sample_interval
from verify.analysis.hashing import hamming64, hash_gray, hash_image
from verify.analysis.pdq import hamming256
from verify.errors import BadInputError


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("clips")
    return {
        "plain": render(d / "plain.mp4", seconds=4.0, gop=30),
        "nob": render(d / "nob.mp4", seconds=4.0, gop=30, bframes=0),
        "scenes": render(d / "scenes.mp4", seconds=4.0, scene_len=1.5, seed=3),
        "rot90": render(d / "rot90.mp4", seconds=4.0, gop=30, rotation=90, upright_transform=1),
        "rotm90": render(d / "rotm90.mp4", seconds=4.0, gop=30, rotation=-90, upright_transform=3),
        "stored_ccw": render(d / "stored_ccw.mp4", seconds=4.0, gop=30, upright_transform=3),
        "shortgop": render(d / "shortgop.mp4", seconds=4.0, gop=10, seed=4),
        "opengop": render(
            d / "opengop.mp4", seconds=4.0, gop=20, scene_len=1.3, x264_params="open-gop=1"
        ),
    }


# ----------------------------------------------------------------------------- images


def _jpeg(img: Image.Image, path: Path, orientation: int | None = None) -> Path:
    kw = {}
    if orientation:
        exif = Image.Exif()
        exif[0x0112] = orientation
        kw["exif"] = exif.tobytes()
    img.save(path, "JPEG", quality=90, **kw)
    return path


def test_image_is_one_frame(tmp_path: Path) -> None:
    pic = Image.fromarray(canvas(1920, 1080, 1))
    path = _jpeg(pic, tmp_path / "a.jpg")
    (f,) = extract_frames(str(path), "image", {})
    assert (f.idx, f.pts, f.scene_change, f.informative) == (0, 0.0, False, True)
    assert len(f.pdq or b"") == 32 and (f.pdq_quality or 0) >= 50
    # draft-mode decode stays within a few bits of hashing the fully decoded image
    full = hash_image(Image.open(path))
    assert hamming64(f.phash, full.phash) <= 4
    assert hamming64(f.dhash, full.dhash) <= 4
    assert hamming256(f.pdq or b"", full.pdq) <= 24


def test_image_exif_rotation_upright(tmp_path: Path) -> None:
    pic = Image.fromarray(canvas(800, 600, 2))
    upright = extract_frames(str(_jpeg(pic, tmp_path / "u.jpg")), "image", {})[0]
    stored = pic.transpose(Image.Transpose.ROTATE_90)  # orientation 6 = rotate 90 CW to view
    rotated = extract_frames(str(_jpeg(stored, tmp_path / "r.jpg", 6)), "image", {})[0]
    assert hamming64(upright.phash, rotated.phash) <= 4


def test_png_with_alpha(tmp_path: Path) -> None:
    """docs/hashing.md: alpha is composited onto white first. A PNG with transparency hashes
    exactly as the same picture flattened onto white, whatever RGB hides under alpha 0."""
    rgba = np.dstack([canvas(300, 200, 4), np.zeros((200, 300), np.uint8)])
    rgba[..., 3] = np.linspace(0, 255, 300, dtype=np.uint8)[None, :]  # transparent -> opaque
    rgba[:, :40, :3] = canvas(40, 200, 9)  # junk under (almost) full transparency
    picture = Image.fromarray(rgba, "RGBA")
    picture.save(tmp_path / "a.png")
    white = Image.new("RGBA", picture.size, (255, 255, 255, 255))
    Image.alpha_composite(white, picture).convert("RGB").save(tmp_path / "flat.png")
    (f,) = extract_frames(str(tmp_path / "a.png"), "image", {})
    (flat,) = extract_frames(str(tmp_path / "flat.png"), "image", {})
    assert f.informative
    assert (f.phash, f.dhash, f.pdq) == (flat.phash, flat.dhash, flat.pdq)
    # on black instead it is another picture
    black = Image.new("RGBA", picture.size, (0, 0, 0, 255))
    Image.alpha_composite(black, picture).convert("RGB").save(tmp_path / "black.png")
    (dark,) = extract_frames(str(tmp_path / "black.png"), "image", {})
    assert hamming64(f.dhash, dark.dhash) > 8


def test_undecodable_image_is_bad_input(tmp_path: Path) -> None:
    p = tmp_path / "bad.jpg"
    p.write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    with pytest.raises(BadInputError, match="cannot be decoded"):
        extract_frames(str(p), "image", {})


def test_other_kind_has_no_frames(tmp_path: Path) -> None:
    p = tmp_path / "x.txt"
    p.write_text("hello")
    assert extract_frames(str(p), "other", {}) == []


# ----------------------------------------------------------------------------- video sampling


def test_sample_interval_rule() -> None:
    assert sample_interval(None) == 1.0
    assert sample_interval(60.0) == 1.0
    assert sample_interval(300.0) == 1.0
    assert sample_interval(3600.0) == 12.0


def test_video_sampled_at_one_fps(clips: dict[str, Path]) -> None:
    fr = extract_frames(str(clips["plain"]), "video", {})
    assert [f.idx for f in fr] == list(range(len(fr)))
    assert not any(f.scene_change for f in fr)  # one continuous shot: no cut samples
    assert len(fr) == 4
    for want, f in zip([0.0, 1.0, 2.0, 3.0], fr, strict=True):
        assert want <= f.pts <= want + 0.1  # first decoded frame at or after each second
    assert all(f.informative for f in fr)
    assert [f.pts for f in fr] == sorted(f.pts for f in fr)


def _full_decode(monkeypatch: pytest.MonkeyPatch, path: Path) -> list[frames_mod.FrameHash]:
    with monkeypatch.context() as m:
        m.setattr(frames_mod, "_skip_mode", lambda stream, fast: "DEFAULT")
        return extract_frames(str(path), "video", {})


def test_skipping_is_exact(clips: dict[str, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    """Frames decoded with non-reference frames skipped hash exactly as fully decoded ones
    (BIDIR would drop x264's reference B-frames and corrupt later frames)."""
    skipped = extract_frames(str(clips["plain"]), "video", {})
    full = _full_decode(monkeypatch, clips["plain"])
    # the same samples (same frames, same times), each hashing the same
    assert [f.pts for f in skipped] == [g.pts for g in full]
    assert len(skipped) == 4
    for f, g in zip(skipped, full, strict=True):
        assert (f.phash, f.dhash, f.pdq) == (g.phash, g.dhash, g.pdq), f.pts


def _reference_hashes(path: Path) -> dict[float, tuple[int, int, bytes]]:
    """Every frame fully decoded, converted by the frame's own `to_ndarray(format="gray")`
    and hashed on this thread: the plain route the sampler's shortcuts must agree with."""
    out = {}
    with av.open(str(path)) as c:
        for frame in c.decode(c.streams.video[0]):
            h = hash_gray(frame.to_ndarray(format="gray"))
            out[round(float(frame.time or 0.0), 3)] = (h.phash, h.dhash, h.pdq)
    return out


@pytest.mark.parametrize("name", ["plain", "scenes", "shortgop", "opengop", "nob", "fullrange"])
def test_sampled_hashes_equal_the_plain_route(
    clips: dict[str, Path], tmp_path: Path, name: str
) -> None:
    """The shortcuts (skipping non-reference frames and GOP tails, one shared swscale
    context, hashing on a second thread) change no hash: every sample equals that frame
    fully decoded, for short, long and open GOPs, without B-frames, in full range."""
    path = clips.get(name) or _fullrange_clip(tmp_path / "fullrange.mp4")
    ref = _reference_hashes(path)
    fr = extract_frames(str(path), "video", {})
    assert len(fr) >= 4
    for f in fr:
        assert (f.phash, f.dhash, f.pdq) == ref[round(f.pts, 3)], f.pts


def test_gop_tails_without_samples_are_not_decoded(clips: dict[str, Path]) -> None:
    """With 1/3 s GOPs and 1 s samples, most of each GOP is skipped; the samples (times and
    hashes) are those of decoding every GOP to its end."""
    path = str(clips["shortgop"])
    skipping = frames_mod._decode(path, {}, None, False)
    everything = frames_mod._decode(path, {}, None, False, gop_skip=False)
    assert skipping is not None and everything is not None
    assert skipping.decoded < 0.6 * everything.decoded

    def samples(p: frames_mod._Pass) -> list[tuple[float, int, int, bytes]]:
        return [(t, h.phash, h.dhash, h.pdq) for t, h, scene in p.taken if not scene]

    assert samples(skipping) == samples(everything)
    assert len(samples(skipping)) == 4


def _all_samples(p: frames_mod._Pass | None) -> list[tuple[float, int, int, bytes, bool]]:
    assert p is not None
    return [(round(t, 4), h.phash, h.dhash, h.pdq or b"", scene) for t, h, scene in p.taken]


def _regular(p: frames_mod._Pass | None) -> list[tuple[float, int, int, bytes, bool]]:
    return [s for s in _all_samples(p) if not s[-1]]


@pytest.mark.parametrize("name", ["plain", "scenes", "shortgop", "opengop", "nob", "rot90"])
def test_segmented_decoding_keeps_the_samples_of_one_piece(
    clips: dict[str, Path], monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    """Decoding runs of GOPs in parallel and replaying the sampling rule over them takes
    the regular samples of decoding the file in one piece, with the same hashes; every
    frame both take hashes the same; cuts at segment boundaries are found ("scenes" has
    keyframes at its cuts, 1.5 s and 3 s)."""
    monkeypatch.setattr(frames_mod, "SEGMENT_MIN", 0.3)
    monkeypatch.setattr(frames_mod, "_decode_threads", lambda: 2)
    path = str(clips[name])
    segmented = frames_mod._decode(path, {}, None, False)
    whole = frames_mod._decode(path, {}, None, False, segments=False)
    assert segmented is not None and whole is not None
    assert _regular(segmented) == _regular(whole)
    both = {s[0]: s[1:4] for s in _all_samples(whole)}
    for t, *hashes, _ in _all_samples(segmented):
        assert t not in both or both[t] == tuple(hashes), t
    if name == "opengop":
        # its keyframes after the first have leading pictures: nowhere to cut cleanly
        assert segmented.segments == 1
    else:
        assert segmented.segments >= 3
    scenes = [t for t, *_, scene in _all_samples(segmented) if scene]
    if name == "scenes":
        assert any(1.5 <= t <= 1.6 for t in scenes), scenes
    elif name != "opengop":
        assert scenes == []  # one continuous shot: no cut at segment boundaries either


def test_segmented_samples_do_not_depend_on_the_cores(
    clips: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Segments are a function of the file: 1, 2 or 7 CPUs take the same samples (the scene
    detector's running average crosses segment boundaries)."""
    monkeypatch.setattr(frames_mod, "SEGMENT_MIN", 0.3)
    path = str(clips["scenes"])
    runs = []
    for cpus in (1, 2, 7):
        monkeypatch.setattr(frames_mod, "_decode_threads", lambda cpus=cpus: cpus)
        p = frames_mod._decode(path, {}, None, False)
        assert p is not None and p.segments > 2
        runs.append(_all_samples(p))
    assert runs[0] == runs[1] == runs[2]


def test_segments_start_only_at_clean_keyframes() -> None:
    scan = frames_mod._Scan(
        times=[0.0, 2.0, 4.0, 6.0, 8.0, 10.0, 12.0],
        pts=[0, 2, 4, 6, 8, 10, 12],
        clean=[True, True, True, False, True, True, True],
    )
    # at least 5 s apart; 6.0 has leading pictures, so the cut moves to 8.0
    assert frames_mod._segment_starts(scan, 5.0) == [0, 4]
    assert frames_mod._segment_starts(scan, 2.0) == [0, 1, 2, 4, 5, 6]


def test_h264_idr_is_read_from_the_first_slice() -> None:
    """Only an IDR picture (NAL type 5) starts a clean segment in H.264; a keyframe that
    is a plain I slice (type 1, a recovery point) does not. Both NAL framings."""
    aud, sei, idr, non_idr = b"\x09\xf0", b"\x06\x05\x01\x00", b"\x65\x88", b"\x41\x9a"

    def avcc(*nals: bytes) -> bytes:
        return b"".join(len(n).to_bytes(4, "big") + n for n in nals)

    def annexb(*nals: bytes) -> bytes:
        return b"".join(b"\x00\x00\x00\x01" + n for n in nals)

    assert frames_mod._h264_idr(avcc(sei, idr), 4)
    assert not frames_mod._h264_idr(avcc(sei, non_idr), 4)
    assert frames_mod._h264_idr(annexb(aud, sei, idr), 0)
    assert not frames_mod._h264_idr(annexb(aud, non_idr, idr), 0)
    assert not frames_mod._h264_idr(b"", 4)
    assert not frames_mod._h264_idr(avcc(sei), 4)


def test_unsegmentable_file_is_decoded_in_one_piece(
    clips: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Where a segment cannot promise the one-piece result (here: its seek fails), the
    whole file is decoded in one piece instead."""
    monkeypatch.setattr(frames_mod, "SEGMENT_MIN", 0.3)
    monkeypatch.setattr(frames_mod, "_decode_threads", lambda: 2)
    path = str(clips["shortgop"])

    def no_seek(*args: object) -> None:
        raise frames_mod._Unsegmentable("seeking found no keyframe")

    monkeypatch.setattr(frames_mod, "_segment_packets", no_seek)
    p = frames_mod._decode(path, {}, None, False)
    assert p is not None and p.segments == 1
    assert _all_samples(p) == _all_samples(
        frames_mod._decode(path, {}, None, False, segments=False)
    )


def test_damage_in_a_segment_sends_the_file_to_one_decoder(
    clips: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """One decoder stops at damage and keeps what came before; a segment past the damage
    would keep more. A decoding error in any segment therefore decodes the file in one
    piece, so damaged files sample as they always did."""
    monkeypatch.setattr(frames_mod, "SEGMENT_MIN", 0.3)
    monkeypatch.setattr(frames_mod, "_decode_threads", lambda: 2)
    path = str(clips["shortgop"])
    real = frames_mod._segment_packets

    def damaged(container: object, stream: object, lo: int | None, hi: int | None) -> object:
        for i, packet in enumerate(real(container, stream, lo, hi)):  # type: ignore[arg-type]
            if lo is not None and i == 3:
                raise av.error.InvalidDataError(-1094995529, "Invalid data")
            yield packet

    monkeypatch.setattr(frames_mod, "_segment_packets", damaged)
    p = frames_mod._decode(path, {}, None, False)
    assert p is not None and p.segments == 1
    assert _all_samples(p) == _all_samples(
        frames_mod._decode(path, {}, None, False, segments=False)
    )


@pytest.mark.parametrize("segmented", [True, False])
@pytest.mark.parametrize("error", [av.error.MemoryError, av.error.BlockingIOError])
def test_decoder_out_of_memory_is_not_damage(
    clips: dict[str, Path], monkeypatch: pytest.MonkeyPatch, segmented: bool, error: type
) -> None:
    """FFmpeg failing to allocate (ENOMEM) or to start a thread (EAGAIN) under the analysis
    child's memory limit is a MemoryError, not a damaged tail: treated as damage, a 4K clip
    under a 500 MiB limit was analysed as 0-1 frames without any error."""
    monkeypatch.setattr(frames_mod, "SEGMENT_MIN", 0.3)
    monkeypatch.setattr(frames_mod, "_decode_threads", lambda: 2)
    real = frames_mod._Sampler.feed
    calls = []

    def feed(self: frames_mod._Sampler, *args: object) -> None:
        calls.append(1)
        if len(calls) == 5:
            raise error(12, "Cannot allocate memory")
        real(self, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(frames_mod._Sampler, "feed", feed)
    with pytest.raises(MemoryError, match="ran out of memory"):
        frames_mod._decode(str(clips["shortgop"]), {}, None, False, segments=segmented)


def test_large_pictures_and_mpeg_ts_are_decoded_in_one_piece(
    clips: dict[str, Path], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Two decoders' picture buffers must fit the analysis child's memory: pictures above
    SEGMENT_MAX_PICTURE (8 bits; 10-bit samples count twice) stay in one piece. So do
    MPEG-TS files, where seeking is approximate."""
    monkeypatch.setattr(frames_mod, "SEGMENT_MIN", 0.3)
    path = str(clips["shortgop"])  # 320 x 240
    assert frames_mod._decode(path, {}, None, False).segments > 1  # type: ignore[union-attr]
    monkeypatch.setattr(frames_mod, "SEGMENT_MAX_PICTURE", 320 * 240 - 1)
    assert frames_mod._decode(path, {}, None, False).segments == 1  # type: ignore[union-attr]
    monkeypatch.undo()
    monkeypatch.setattr(frames_mod, "SEGMENT_MIN", 0.3)
    ts = tmp_path / "shortgop.ts"
    with av.open(path) as src, av.open(str(ts), "w", format="mpegts") as dst:
        out = dst.add_stream_from_template(src.streams.video[0])
        for packet in src.demux(src.streams.video[0]):
            if packet.dts is not None:
                packet.stream = out
                dst.mux(packet)
    p = frames_mod._decode(str(ts), {}, None, False)
    assert p is not None and p.segments == 1 and len(p.taken) >= 4


def test_replaying_segments_takes_the_samples_of_one_sequence(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Property test of the replay: random frame times, changes and gaps, cut into random
    segments, recorded segment by segment (`_record`, which hashes only frames that are or
    could be samples) and merged (`_merge`), take exactly the samples of the rule applied
    to the whole sequence, and every sample was hashed."""
    import random
    from concurrent.futures import Future

    monkeypatch.setattr(frames_mod._Sampler, "_gray", lambda self, frame: None)

    def fake_hash(self: object, g: object, rotation_cw: int) -> Future[str]:
        f: Future[str] = Future()
        f.set_result("hashed")
        return f

    monkeypatch.setattr(frames_mod._Sampler, "_hash", fake_hash)
    for seed in range(400):
        rng = random.Random(seed)
        n = rng.randint(5, 300)
        interval = rng.choice([1.0, 1.0, 1.3333, 2.5])
        t, seq = 0.0, []
        for _ in range(n):
            change = rng.choice(
                [rng.uniform(0, 10), rng.uniform(0, 40), rng.uniform(10, 120), rng.uniform(14, 70)]
            )
            seq.append((t, change, rng.random() < 0.1))
            t += rng.choice([1 / 30, 1 / 60, 0.1, 0.5, 0.04, 1.0, 0.26])
        cuts = sorted(rng.sample(range(1, n), min(n - 1, rng.randint(0, 10))))
        bounds = [0, *cuts, n]
        segs = []
        for k in range(len(bounds) - 1):
            seg = frames_mod._Sampler(
                interval=interval,
                adaptive=False,
                rotation_cw=0,
                meta_rotation=0,
                segment=True,
                regrid=k > 0,
            )
            seg.start = 0.0
            chunk = seq[bounds[k] : bounds[k + 1]]
            for j, (ft, change, gap) in enumerate(chunk):
                seg._record(None, ft, None if j == 0 else change, gap)  # type: ignore[arg-type]
            # thumbnails such that the merge's boundary change is the frame's own change
            seg.first_thumb = np.full((1, 1), chunk[0][1], np.float32)
            seg.prev_thumb = np.zeros((1, 1), np.float32)
            seg.gap = False
            segs.append(seg)
        got = [(round(ft, 6), scene) for ft, _, scene in frames_mod._merge(segs, interval)]
        decider, want = frames_mod._Decider(interval), []
        for i, (ft, change, gap) in enumerate(seq):
            regular, scene = decider.decide(
                ft, None if i == 0 else change, gap if i not in bounds else False
            )
            if regular or scene:
                want.append((round(ft, 6), scene))
        assert got == want, seed


def _fullrange_clip(path: Path) -> Path:
    rng = np.random.default_rng(5)
    base = canvas(320, 240, 9)
    with av.open(str(path), "w") as out:
        s = out.add_stream("libx264", rate=30)
        s.width, s.height, s.pix_fmt = 320, 240, "yuvj420p"
        for i in range(120):
            img = np.roll(base, i * 2, axis=1)
            img = np.clip(img + rng.normal(0, 2, img.shape), 0, 255).astype(np.uint8)
            for pkt in s.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                out.mux(pkt)
        for pkt in s.encode():
            out.mux(pkt)
    with av.open(str(path)) as c:
        assert c.streams.video[0].codec_context.pix_fmt == "yuvj420p"
    return path


def test_stream_without_b_frames(clips: dict[str, Path]) -> None:
    with av.open(str(clips["nob"])) as c:
        assert not c.streams.video[0].codec_context.has_b_frames
    fr = extract_frames(str(clips["nob"]), "video", {})
    assert len([f for f in fr if not f.scene_change]) == 4
    a = extract_frames(str(clips["plain"]), "video", {})
    # same content, different GOP structure: matching frames
    assert hamming64(fr[0].phash, a[0].phash) <= 4


def test_fast_mode_keyframes_only(clips: dict[str, Path]) -> None:
    fr = extract_frames(str(clips["plain"]), "video", {}, fast=True)
    # GOP 30 at 30 fps: keyframes at 0, 1, 2, 3 s
    assert [round(f.pts, 2) for f in fr] == [0.0, 1.0, 2.0, 3.0]


@pytest.mark.parametrize("name", ["plain", "nob", "shortgop", "rot90"])
def test_no_cut_no_scene_change_samples(clips: dict[str, Path], name: str) -> None:
    """A clip of one continuous shot (motion, no cut) gets its regular samples only: the
    detector does not fire on motion or on a GOP boundary."""
    fr = extract_frames(str(clips[name]), "video", {})
    assert [f.scene_change for f in fr] == [False] * 4


def test_scene_changes_detected(clips: dict[str, Path]) -> None:
    fr = extract_frames(str(clips["scenes"]), "video", {})
    cuts = [f.pts for f in fr if f.scene_change]
    # cuts at 1.5 s and 3.0 s: 1.5 is between regular samples; 3.0 is one already
    assert any(1.5 <= t <= 1.6 for t in cuts)
    assert all(f.pts != pytest.approx(g.pts) for f in fr for g in fr if f is not g)


def test_rotated_clip_hashes_upright(clips: dict[str, Path]) -> None:
    """A clip stored sideways with display-rotation metadata hashes as the upright clip."""
    upright = extract_frames(str(clips["plain"]), "video", {})
    for name in ("rot90", "rotm90"):
        rotated = extract_frames(str(clips[name]), "video", {})
        assert len(rotated) == len(upright)
        for a, b in zip(upright, rotated, strict=True):
            assert abs(a.pts - b.pts) < 0.05
            assert hamming64(a.phash, b.phash) <= 4, name
            assert hamming64(a.dhash, b.dhash) <= 4, name
            assert hamming256(a.pdq or b"", b.pdq or b"") <= 31, name


def test_meta_rotation_used_without_display_matrix(clips: dict[str, Path]) -> None:
    upright = extract_frames(str(clips["plain"]), "video", {})
    sideways = extract_frames(str(clips["stored_ccw"]), "video", {})
    fixed = extract_frames(str(clips["stored_ccw"]), "video", {"rotation": 90})
    assert hamming64(upright[1].phash, fixed[1].phash) <= 4
    assert hamming64(upright[1].phash, sideways[1].phash) > 10


def test_undecodable_video_gives_no_frames(tmp_path: Path, clips: dict[str, Path]) -> None:
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 8)
    assert extract_frames(str(junk), "video", {}) == []
    truncated = tmp_path / "trunc.mp4"
    truncated.write_bytes(clips["plain"].read_bytes()[:3000])
    assert extract_frames(str(truncated), "video", {}) == []
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    assert extract_frames(str(empty), "video", {}) == []


def test_audio_only_file_gives_no_frames(tmp_path: Path) -> None:
    p = tmp_path / "a.m4a"
    with av.open(str(p), "w") as c:
        s = c.add_stream("aac", rate=44100)
        frame = av.AudioFrame.from_ndarray(
            np.zeros((1, 1024), np.float32), format="fltp", layout="mono"
        )
        frame.sample_rate = 44100
        for pkt in s.encode(frame):
            c.mux(pkt)
        for pkt in s.encode():
            c.mux(pkt)
    assert extract_frames(str(p), "video", {}) == []


# ----------------------------------------------------------------------------- corpus


def _videos(corpus: Path) -> list[dict[str, str]]:
    with (corpus / "inventory.csv").open(newline="") as fh:
        return [r for r in csv.DictReader(fh) if r["kind"] == "video"]


@pytest.fixture(scope="module")
def in_one_piece() -> Callable[[str], frames_mod._Pass | None]:
    """`_decode` of a file in one piece (no segments), which two corpus tests compare other
    decodings with: decoded once per file (the corpus takes about 15 s)."""
    decoded: dict[str, frames_mod._Pass | None] = {}

    def decode(path: str) -> frames_mod._Pass | None:
        if path not in decoded:
            decoded[path] = frames_mod._decode(path, {}, None, False, segments=False)
        return decoded[path]

    return decode


@pytest.mark.corpus
def test_corpus_rotated_videos_upright(corpus: Path) -> None:
    for rel in (
        "metadata-extractor-images/mov/with-gps.mov",
        "metadata-extractor-images/mp4/ftyp3gp5.mp4",
    ):
        fr = extract_frames(str(corpus / rel), "video", {})
        assert fr, rel
        with av.open(str(corpus / rel)) as c:
            s = c.streams.video[0]
            w, h = s.codec_context.width, s.codec_context.height
        assert w > h  # stored landscape, displayed portrait (rotation -90 in ffprobe terms)
        # the upright picture is portrait: hash the first frame's rotation by hand
        with av.open(str(corpus / rel)) as c:
            frame = next(c.decode(video=0))
            assert frame.rotation == -90
            upright = Image.fromarray(frame.to_ndarray(format="gray")).rotate(-90, expand=True)
        want = hash_image(upright)
        assert hamming64(fr[0].phash, want.phash) <= 2


@pytest.mark.corpus
@pytest.mark.slow
def test_every_decodable_corpus_video_yields_frames(corpus: Path) -> None:
    """Every corpus video with more than 2 decodable frames (per the inventory) yields
    frames; keyframe (fast) mode keeps this under a minute on 2 shared cores."""
    checked = 0
    for row in _videos(corpus):
        decoded = row["frames_decoded"]
        if not decoded.isdigit() or int(decoded) <= 2:
            continue
        fr = extract_frames(str(corpus / row["path"]), "video", {}, fast=True)
        assert fr, row["path"]
        checked += 1
    assert checked >= 40


@pytest.mark.corpus
def test_corpus_gop_skipping_keeps_every_regular_sample(
    corpus: Path, in_one_piece: Callable[[str], frames_mod._Pass | None]
) -> None:
    """On every corpus video (H.264, HEVC, MPEG-2/4, VP8/9, ProRes, MTS, ...) skipping GOP
    tails keeps each pass's regular samples among the other's samples (a frame can be a
    regular sample in one pass and a scene-change one in the other), and every frame both
    passes sample hashes the same."""
    skipped_total = full_total = 0
    for row in _videos(corpus):
        path = str(corpus / row["path"])
        a = in_one_piece(path)
        b = frames_mod._decode(path, {}, None, False, gop_skip=False)
        if a is None or b is None:
            assert a is None and b is None, row["path"]
            continue
        all_a = {round(t, 3): (h.phash, h.dhash, h.pdq) for t, h, _ in a.taken}
        all_b = {round(t, 3): (h.phash, h.dhash, h.pdq) for t, h, _ in b.taken}
        regular_a = {round(t, 3) for t, _, scene in a.taken if not scene}
        regular_b = {round(t, 3) for t, _, scene in b.taken if not scene}
        assert regular_a <= all_b.keys(), (row["path"], sorted(regular_a - all_b.keys()))
        assert regular_b <= all_a.keys(), (row["path"], sorted(regular_b - all_a.keys()))
        for t in all_a.keys() & all_b.keys():
            assert all_a[t] == all_b[t], (row["path"], t)
        skipped_total += a.decoded
        full_total += b.decoded
    assert skipped_total < 0.8 * full_total


@pytest.mark.corpus
def test_corpus_segmented_decoding_keeps_the_samples_of_one_piece(
    corpus: Path,
    monkeypatch: pytest.MonkeyPatch,
    in_one_piece: Callable[[str], frames_mod._Pass | None],
) -> None:
    """On every corpus video, segments of about 1 s decoded in parallel take the regular
    samples of decoding in one piece with the same hashes, and every frame both take hashes
    the same. This caught an x264 stream whose later IDR frames decode as grey to a decoder
    that never saw the first keyframe's SEI (ffmpeg mimics old x264 builds' bugs from it).
    Scene changes, looked for among slightly different frames, stay close."""
    monkeypatch.setattr(frames_mod, "SEGMENT_MIN", 1.0)
    monkeypatch.setattr(frames_mod, "_decode_threads", lambda: 2)
    segmented_files = scenes_a = scenes_b = 0
    for row in _videos(corpus):
        path = str(corpus / row["path"])
        a = frames_mod._decode(path, {}, None, False)
        b = in_one_piece(path)
        if a is None or b is None:
            assert a is None and b is None, row["path"]
            continue
        assert _regular(a) == _regular(b), row["path"]
        both = {s[0]: s[1:4] for s in _all_samples(b)}
        for t, *hashes, _ in _all_samples(a):
            assert t not in both or both[t] == tuple(hashes), (row["path"], t)
        segmented_files += a.segments > 1
        scenes_a += sum(s[-1] for s in _all_samples(a))
        scenes_b += sum(s[-1] for s in _all_samples(b))
    assert segmented_files >= 25
    assert abs(scenes_a - scenes_b) <= max(3, 0.1 * scenes_b), (scenes_a, scenes_b)


# --------------------------------------------------------------------- truncated videos


def test_a_truncated_video_says_where_it_stops(tmp_path: Path) -> None:
    """A video cut short (an interrupted download) still decodes its beginning: its frames
    are kept, and `extract_video` says where it stops against the duration its index
    states, in full and `--fast` alike. It was reported as analysed in full."""
    from tests.media import cut_video

    whole = render(tmp_path / "whole.mp4", seconds=12.0, gop=30)
    cut = cut_video(whole, tmp_path / "cut.mp4")
    for fast in (False, True):
        frames, incomplete = extract_video(str(cut), {}, fast=fast)
        assert 3 <= len(frames) <= 6
        assert incomplete is not None
        assert incomplete["duration"] == 12.0
        assert 3.0 <= incomplete["ends_at"] <= 6.0
        assert extract_video(str(whole), {}, fast=fast)[1] is None


def test_frames_not_decoded_because_no_sample_needs_them_are_not_missing(
    tmp_path: Path,
) -> None:
    """With `--fast` the last frame decoded is the last keyframe, 1 s before the end of this
    25 s clip (GOP 12 s), and the keyframe before it 13 s before: the file's packets reach
    the end, so it is complete."""
    clip = render(tmp_path / "longgop.mp4", seconds=25.0, fps=25, gop=300)
    frames, incomplete = extract_video(str(clip), {}, fast=True)
    assert [f.pts for f in frames] == [0.0, 12.0, 24.0]  # the keyframes
    assert incomplete is None
    assert extract_video(str(clip), {}, fast=False)[1] is None


def test_the_warning_says_when_only_the_first_frame_decodes() -> None:
    from verify.analysis import incomplete_note

    assert incomplete_note({"incomplete": {"ends_at": 0.032, "duration": 46.665}}) == (
        "only the video's first frame decodes, of the 46.7 s its container states "
        "(truncated or damaged): its frames and hashes cover only that part"
    )
    assert incomplete_note({"incomplete": {"ends_at": 1.233, "duration": 6.867}}) == (
        "the video stops at 1.2 s of the 6.9 s its container states (truncated or damaged): "
        "its frames and hashes cover only that part"
    )
    assert incomplete_note({"duration": 6.9}) is None
