"""Index and search logic on archives built from chosen hashes (no media decoding)."""

import random

import numpy as np
import pytest

from tests.search_helpers import flip64, near_copy, random_frames, store
from verify.analysis import FrameHash
from verify.archive import Archive
from verify.index import FrameIndex, load_index
from verify.services import search


@pytest.mark.parametrize("backend", ["numpy", "faiss"])
def test_range_search_matches_brute_force(backend: str, monkeypatch: pytest.MonkeyPatch) -> None:
    import verify.index

    if backend == "faiss":
        pytest.importorskip("faiss", reason="faiss-cpu (optional extra `fast`) not installed")
        monkeypatch.setattr(verify.index, "FAISS_MIN_WORK", 1)
    else:
        monkeypatch.setenv("VERIFY_NO_FAISS", "1")
    rng = np.random.default_rng(1)
    col = rng.integers(0, 2**63, size=70_000, dtype=np.int64).view(np.uint64)
    queries = np.concatenate([col[[5, 40_000, 69_999]], rng.integers(0, 2**63, 20).view(np.uint64)])
    queries[0] ^= np.uint64(0b1011)  # 3 bits from row 5
    idx = FrameIndex.empty()
    idx.dhash = col
    qi, rows, dist = idx.range_search("dhash", queries, 12)
    got = sorted(zip(qi.tolist(), rows.tolist(), dist.tolist(), strict=True))
    full = np.bitwise_count(col[None, :] ^ queries[:, None])
    want = sorted(
        (int(q), int(r), int(full[q, r])) for q, r in zip(*np.nonzero(full <= 12), strict=True)
    )
    assert got == want
    assert (0, 5, 3) in got and (1, 40_000, 0) in got and (2, 69_999, 0) in got


def test_self_join_finds_each_pair_once() -> None:
    from verify.index import self_join

    rng = np.random.default_rng(2)
    col = rng.integers(0, 2**63, size=40_000, dtype=np.int64).view(np.uint64)
    col[39_000] = col[3] ^ np.uint64(1)
    col[20_000] = col[7]
    qi, rows, dist = self_join(col, col, 4)
    assert sorted(zip(qi.tolist(), rows.tolist(), dist.tolist(), strict=True)) == [
        (3, 39_000, 1),
        (7, 20_000, 0),
    ]


def test_mirror_helpers_match_hashing_a_mirrored_image() -> None:
    import imagehash
    from PIL import Image, ImageOps

    # a textured image (flat rows give dHash ties, the one case the mirror rule gets wrong)
    noise = np.random.default_rng(3).integers(0, 255, (24, 40, 3), dtype=np.uint8)
    img = Image.fromarray(noise).resize((320, 192), Image.Resampling.BICUBIC)
    mirrored = ImageOps.mirror(img)

    def u64(h: object) -> np.ndarray:
        return np.array([int(str(h), 16)], dtype=np.uint64)

    d, dm = u64(imagehash.dhash(img)), u64(imagehash.dhash(mirrored))
    p, pm = u64(imagehash.phash(img)), u64(imagehash.phash(mirrored))
    assert int(np.bitwise_count(search.mirror_dhash(d) ^ dm)[0]) <= 4
    assert int(np.bitwise_count(d ^ dm)[0]) > 16
    assert int(np.bitwise_count(search.mirror_phash(p) ^ pm)[0]) <= 8


def _video(archive: Archive, case: str, name: str, frames: list[FrameHash]) -> int:
    return store(archive, case, name, frames).media_id


def test_subclip_with_offset_is_a_match_with_alignment(archive: Archive) -> None:
    rng = random.Random(3)
    original = random_frames(60, rng)
    _video(archive, "telegram-case", "original.mp4", original)
    for k in range(5):
        _video(archive, "other", f"noise{k}.mp4", random_frames(30, rng))
    # the query is seconds 12..41 of the original, re-encoded, starting at its own 0
    excerpt = near_copy(original[12:42], rng, bits=4, shift=-12.0)
    hits = search.search_frames(archive, excerpt, query_kind="video")
    assert len(hits) == 1
    h = hits[0]
    assert (h["case"], h["original_name"], h["tier"], h["rank"]) == (
        "telegram-case",
        "original.mp4",
        "match",
        1,
    )
    assert h["frames_matched"] == {"query": 30, "candidate": 30}
    assert (h["query_fraction"], h["candidate_fraction"]) == (1.0, 0.5)
    assert h["offset"] == 12.0
    assert h["aligned"] == "query 00:00-00:29 ~ candidate 00:12-00:41, offset +12 s"
    assert h["variant"] == "full"
    assert h["best_distance"] <= 4 and h["median_distance"] <= 4


def test_unrelated_and_low_information_frames_never_match(archive: Archive) -> None:
    rng = random.Random(4)
    black = [
        FrameHash(idx=i, pts=float(i), phash=0, dhash=0, pdq=bytes(32), informative=False)
        for i in range(5)
    ]
    extra = [
        FrameHash(idx=5 + f.idx, pts=5.0 + f.pts, phash=f.phash, dhash=f.dhash, pdq=f.pdq)
        for f in random_frames(3, rng)
    ]
    store(archive, "c", "black.mp4", black + extra)
    store(archive, "c", "other.mp4", random_frames(40, rng))
    query = black + random_frames(10, rng)
    assert search.search_frames(archive, query, query_kind="video") == []
    assert search.search_frames(archive, black, query_kind="video") == []


def test_image_matches_video_frame_and_back(archive: Archive) -> None:
    rng = random.Random(5)
    video = random_frames(20, rng)
    v = store(archive, "c", "clip.mp4", video)
    still = near_copy([video[7]], rng, bits=2, shift=-7.0)
    hits = search.search_frames(archive, still, query_kind="image")
    assert [(h["media"], h["tier"]) for h in hits] == [(v.media_id, "match")]
    assert hits[0]["aligned"] == "image ~ candidate frame at 00:07"
    img = store(archive, "c", "still.jpg", still, kind="image")
    back = search.near_duplicates_of_blob(archive, v.blob_id)
    assert [(h["media"], h["tier"], h["frames_matched"]) for h in back] == [
        (img.media_id, "match", {"query": 1, "candidate": 1})
    ]


def test_masked_and_mirrored_variants(archive: Archive) -> None:
    rng = random.Random(6)
    frames = random_frames(10, rng)
    stored = store(archive, "c", "clean.mp4", frames)
    # subtitled copy: full-frame hashes far off, masked hashes close
    subtitled = [
        FrameHash(
            idx=f.idx,
            pts=f.pts,
            phash=rng.getrandbits(64),
            dhash=rng.getrandbits(64),
            phash_masked=f.phash_masked,
            dhash_masked=f.dhash_masked,
            pdq=bytes(rng.getrandbits(8) for _ in range(32)),
        )
        for f in frames
    ]
    hits = search.search_frames(archive, subtitled, query_kind="video")
    assert [(h["media"], h["tier"], h["variant"]) for h in hits] == [
        (stored.media_id, "match", "masked")
    ]
    arr = lambda xs: np.array(xs, dtype=np.uint64)  # noqa: E731
    mirrored = [
        FrameHash(
            idx=f.idx,
            pts=f.pts,
            phash=int(search.mirror_phash(arr([f.phash]))[0]),
            dhash=int(search.mirror_dhash(arr([f.dhash]))[0]),
            phash_masked=int(search.mirror_phash(arr([f.phash_masked]))[0]),
            dhash_masked=int(search.mirror_dhash(arr([f.dhash_masked]))[0]),
            pdq=None,
        )
        for f in frames
    ]
    hits = search.search_frames(archive, mirrored, query_kind="video")
    assert [(h["media"], h["tier"], h["variant"]) for h in hits] == [
        (stored.media_id, "match", "mirrored")
    ]


def test_hits_list_every_holding_and_case_filter(archive: Archive) -> None:
    rng = random.Random(7)
    frames = random_frames(8, rng)
    a = store(archive, "case-a", "a.mp4", frames)
    b = store(archive, "case-b", "copy-of-a.mp4", frames, blob_id=a.blob_id)
    q = near_copy(frames, rng, bits=3)
    hits = search.search_frames(archive, q, query_kind="video")
    assert [(h["case"], h["media"], h["rank"]) for h in hits] == [
        ("case-a", a.media_id, 1),
        ("case-b", b.media_id, 2),
    ]
    hits = search.search_frames(archive, q, query_kind="video", case="case-b")
    assert [h["media"] for h in hits] == [b.media_id]
    assert search.search_frames(archive, q, query_kind="video", exclude_blob_id=a.blob_id) == []


def test_exact_bytes_win_a_tie(archive: Archive) -> None:
    """Two stored files with the same frame hashes score the same against a query; the one
    holding the query's very bytes ranks first even though the other is older."""
    frames = random_frames(8, random.Random(8))
    older = store(archive, "case-a", "masked-copy.mp4", frames)
    same = store(archive, "case-b", "same-bytes.mp4", frames)
    hits = search.search_frames(archive, frames, query_kind="video", query_sha256=same.sha256)
    assert hits[0]["score"] == hits[1]["score"]
    assert [(h["media"], h["exact"], h["rank"]) for h in hits] == [
        (same.media_id, True, 1),
        (older.media_id, False, 2),
    ]


def test_suggestion_tier_between_thresholds(archive: Archive) -> None:
    rng = random.Random(8)
    frames = random_frames(10, rng)
    stored = store(archive, "c", "x.mp4", frames)
    # dHash 13 bits off (above match, within suggestion), pHash 15 off, no PDQ
    q = [
        FrameHash(
            idx=f.idx,
            pts=f.pts,
            phash=int(near_copy([f], rng, bits=15)[0].phash),
            dhash=int(near_copy([f], rng, bits=13)[0].dhash),
            pdq=bytes(32),
        )
        for f in frames
    ]
    hits = search.search_frames(archive, q, query_kind="video")
    assert [(h["media"], h["tier"]) for h in hits] == [(stored.media_id, "suggestion")]
    # --threshold 13 promotes it to a match
    hits = search.search_frames(archive, q, query_kind="video", threshold=13)
    assert [h["tier"] for h in hits] == ["match"]


def test_sidecar_written_extended_and_rebuilt(archive: Archive) -> None:
    rng = random.Random(9)
    store(archive, "c", "one.mp4", random_frames(5, rng))
    first = load_index(archive)
    assert first.size == 5
    manifest = archive.home / "index" / "frames-v1.json"
    assert manifest.is_file()
    store(archive, "c", "two.mp4", random_frames(4, rng))
    second = load_index(archive)  # sidecar + 4 rows read by id
    assert second.size == 9
    assert second.frame_id.tolist() == sorted(second.frame_id.tolist())
    from sqlalchemy import text

    with archive.write() as session:
        session.connection().execute(text("DELETE FROM frames WHERE id = 2"))
    third = load_index(archive)  # a removal forces a rebuild
    assert third.size == 8 and 2 not in third.frame_id.tolist()
    # the sidecar on disk now holds the rebuilt state
    import json

    assert json.loads(manifest.read_text())["rows"] == 8


def test_clusters(archive: Archive) -> None:
    rng = random.Random(10)
    f1, f2 = random_frames(6, rng), random_frames(6, rng)
    a = store(archive, "c1", "a.mp4", f1)
    b = store(archive, "c2", "a-reupload.mp4", near_copy(f1, rng, bits=3, shift=2.0))
    c = store(archive, "c2", "b.mp4", f2)
    d = store(archive, "c3", "b-copy.mp4", f2, blob_id=c.blob_id)
    store(archive, "c3", "lonely.mp4", random_frames(6, rng))
    clusters = search.find_clusters(archive)
    got = [sorted(m["media"] for m in cl["media"]) for cl in clusters]
    assert got == [sorted([a.media_id, b.media_id]), sorted([c.media_id, d.media_id])]
    assert clusters[0]["links"][0]["offset"] == 2.0
    only = search.find_clusters(archive, case="c2")
    assert only == []  # within c2 alone, nothing has a partner


@pytest.mark.parametrize("bad", [-1, 33])
def test_threshold_out_of_range(archive: Archive, bad: int) -> None:
    from verify.errors import BadInputError

    with pytest.raises(BadInputError, match="out of range"):
        search.search_frames(
            archive, random_frames(1, random.Random(0)), query_kind="image", threshold=bad
        )


def _off(frames: list[FrameHash], rng: random.Random, dbits: int, pbits: int) -> list[FrameHash]:
    """The frames with dHash `dbits` and pHash `pbits` off, no PDQ and no masked hashes."""
    return [
        FrameHash(
            idx=f.idx,
            pts=f.pts,
            phash=flip64(f.phash, pbits, rng),
            dhash=flip64(f.dhash, dbits, rng),
            pdq=None,
        )
        for f in frames
    ]


def test_threshold_edges_0_and_32(archive: Archive) -> None:
    """--threshold takes 0-32: at 0 only an identical dHash matches (pHash within 2); at 32
    the scan widens to 32 bits, so a copy 32 dHash bits off (pHash 34) is a match."""
    rng = random.Random(13)
    frames = random_frames(6, rng)
    stored = store(archive, "c", "x.mp4", frames)

    def found(q: list[FrameHash], threshold: int | None) -> list[tuple[int, str, int]]:
        hits = search.search_frames(archive, q, query_kind="video", threshold=threshold)
        return [(h["media"], h["tier"], h["best_distance"]) for h in hits]

    m = stored.media_id
    assert found(_off(frames, rng, 0, 2), 0) == [(m, "match", 0)]
    assert found(_off(frames, rng, 0, 3), 0) == [(m, "suggestion", 0)]
    assert found(_off(frames, rng, 1, 0), 0) == [(m, "suggestion", 1)]
    far = _off(frames, rng, 32, 34)
    assert found(far, None) == []  # beyond the default scan radius (14)
    (hit,) = search.search_frames(archive, far, query_kind="video", threshold=32)
    assert (hit["media"], hit["tier"], hit["offset"]) == (m, "match", 0)
    assert hit["variant"] == "full"  # (best_distance: unrelated frames sit at 32 +- 4)
    # the frame rule at the edges (full variant, no PDQ)
    dd = np.array([0, 0, 1, 32, 32, 33], dtype=np.int16)
    dp = np.array([2, 3, 0, 34, 35, 34], dtype=np.int16)
    dq = np.full(6, -1, dtype=np.int16)
    assert search._tiers("full", dd, dp, dq, 0).tolist() == [2, 1, 1, 0, 0, 0]
    assert search._tiers("full", dd, dp, dq, 32).tolist() == [2, 2, 2, 2, 0, 0]
    # the masked variants stay 4 bits tighter, but an identical masked pair matches even at
    # thresholds 0-3 (it could never match there: N - 4 is below 0)
    md = np.array([0, 0, 1, 28, 29], dtype=np.int16)
    mp = np.array([0, 1, 0, 30, 30], dtype=np.int16)
    mq = np.full(5, -1, dtype=np.int16)
    assert search._tiers("masked", md, mp, mq, 0).tolist() == [2, 1, 1, 0, 0]
    assert search._tiers("masked", md, mp, mq, 3).tolist() == [2, 2, 1, 0, 0]
    assert search._tiers("masked", md, mp, mq, 32).tolist() == [2, 2, 2, 2, 1]


def test_still_fast_path_equals_aggregate(archive: Archive) -> None:
    rng = random.Random(11)
    f = random_frames(1, rng)
    a = store(archive, "c", "a.jpg", f, kind="image")
    b = store(archive, "c", "b.jpg", near_copy(f, rng, bits=3), kind="image")
    clusters = search.find_clusters(archive)
    assert [sorted(m["media"] for m in cl["media"]) for cl in clusters] == [
        sorted([a.media_id, b.media_id])
    ]
    link = clusters[0]["links"][0]
    hits = search.near_duplicates_of_blob(archive, a.blob_id)
    assert (link["tier"], link["score"], link["variant"]) == (
        hits[0]["tier"],
        hits[0]["score"],
        hits[0]["variant"],
    )


def test_masked_variants_match_tighter() -> None:
    """The masked variants have no PDQ to confirm them: they match MASKED_MARGIN bits
    tighter. Near-blank white frames with one small object met at masked dHash 9-10, pHash
    12-14 (docs/matching.md); the full variant keeps its thresholds."""
    assert search.MASKED_MARGIN == 4
    for variant in ("masked", "mirrored+masked"):
        assert search.frame_tier(variant, 8, 10, -1) == "match"
        assert search.frame_tier(variant, 9, 10, -1) == "suggestion"
        assert search.frame_tier(variant, 8, 11, -1) == "suggestion"
        assert search.frame_tier(variant, 9, 12, 20) == "suggestion"  # PDQ ignored when masked
    for variant in ("full", "mirrored"):
        assert search.frame_tier(variant, 9, 12, -1) == "match"
        assert search.frame_tier(variant, 12, 14, -1) == "match"
    # --threshold N moves the masked thresholds with the full ones
    dd = np.array([10, 11, 10], dtype=np.int16)
    dp = np.array([12, 12, 13], dtype=np.int16)
    dq = np.full(3, -1, dtype=np.int16)
    assert search._tiers("masked", dd, dp, dq, 14).tolist() == [2, 1, 1]
    assert search._tiers("full", dd, dp, dq, 14).tolist() == [2, 2, 2]


def test_vectorised_tiers_equal_the_documented_rule() -> None:
    grid = [
        (dd, dp, dq)
        for dd in range(0, 17)
        for dp in range(0, 21, 2)
        for dq in (-1, 30, 60, 61, 80, 81)
    ]
    dd = np.array([g[0] for g in grid], dtype=np.int16)
    dp = np.array([g[1] for g in grid], dtype=np.int16)
    dq = np.array([g[2] for g in grid], dtype=np.int16)
    names = {2: "match", 1: "suggestion", 0: None}
    for variant in search.VARIANTS:
        got = [names[int(t)] for t in search._tiers(variant, dd, dp, dq, None)]
        assert got == [search.frame_tier(variant, *g) for g in grid], variant


@pytest.mark.parametrize("radius", [3, 7, 11])
def test_mih_self_join_equals_brute_force(radius: int) -> None:
    from verify.index import self_join

    rng = np.random.default_rng(radius)
    n = 3000
    col = rng.integers(0, 2**63, n, dtype=np.int64).view(np.uint64)
    for k in range(0, 600, 2):  # planted pairs, 0-11 bits apart
        col[k + 1] = col[k]
        for b in rng.choice(64, int(rng.integers(0, 12)), replace=False):
            col[k + 1] ^= np.uint64(1) << np.uint64(b)
    group = np.arange(n, dtype=np.int64)
    group[11] = group[10]  # frames of one file: that planted pair is skipped
    for queries in (col, search.mirror_dhash(col)):
        d = np.bitwise_count(queries[:, None] ^ col[None, :]).astype(np.int16)
        d = np.minimum(d, d.T)  # an isometric involution: (i, j) and (j, i) are one pair
        want = {
            (int(i), int(j))
            for i, j in zip(*np.nonzero(np.triu(d <= radius, 1)), strict=True)
            if group[i] != group[j]
        }
        qi, rows, dist = self_join(queries, col, radius, group=group)
        got = set(zip(qi.tolist(), rows.tolist(), strict=True))
        assert got == want
        if queries is col:
            assert len(want) >= 20 and (10, 11) not in got
        assert all(int(x) <= radius for x in dist)


def test_a_sidecar_from_before_the_audit_hash_is_rebuilt_once_where_it_can_be(
    archive: Archive, monkeypatch: pytest.MonkeyPatch
) -> None:
    import json

    import verify.index

    rng = random.Random(12)
    store(archive, "c", "one.mp4", random_frames(5, rng))
    load_index(archive)
    manifest = archive.home / "index" / "frames-v1.json"
    old = json.loads(manifest.read_text())
    old.pop("audit_hash")  # as an earlier version wrote it
    manifest.write_text(json.dumps(old))
    monkeypatch.setattr(verify.index, "writable", lambda path: False)  # a read-only archive
    assert load_index(archive).size == 5
    assert "audit_hash" not in json.loads(manifest.read_text())  # used as it was
    monkeypatch.setattr(verify.index, "writable", lambda path: True)
    assert load_index(archive).size == 5
    assert "audit_hash" in json.loads(manifest.read_text())  # rebuilt, with the hash


def test_an_offset_that_rounds_to_zero_is_not_negative() -> None:
    """-0.04 s rounds to -0.0, which was shown as `offset -0 s`."""
    pairs = [(float(t), t - 0.04, t, t, "match", "plain", 2, -1) for t in range(10)]
    verdict = search.aggregate(pairs, 10, 10, query_is_video=True, candidate_is_video=True)
    assert verdict is not None
    assert str(verdict["offset"]) == "0.0" and verdict["aligned"].endswith("offset +0 s")
