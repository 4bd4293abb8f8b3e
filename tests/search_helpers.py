"""Build archives for search tests by inserting blob/media/frame rows with chosen hashes."""

import hashlib
import random
from collections.abc import Sequence
from dataclasses import dataclass

from verify.analysis import PIPELINE, FrameHash
from verify.archive import Archive
from verify.models import Blob, Media
from verify.services.cases import get_case, open_case
from verify.services.media import frame_rows
from verify.timeutil import now


def rand64(rng: random.Random) -> int:
    return rng.getrandbits(64)


def rand_pdq(rng: random.Random) -> bytes:
    return rng.getrandbits(256).to_bytes(32, "big")


def flip64(value: int, bits: int, rng: random.Random) -> int:
    for b in rng.sample(range(64), bits):
        value ^= 1 << b
    return value


def flip_pdq(value: bytes, bits: int, rng: random.Random) -> bytes:
    v = int.from_bytes(value, "big")
    for b in rng.sample(range(256), bits):
        v ^= 1 << b
    return v.to_bytes(32, "big")


def random_frames(n: int, rng: random.Random, *, step: float = 1.0) -> list[FrameHash]:
    """n unrelated informative frames at pts 0, step, 2*step, ..."""
    out = []
    for i in range(n):
        ph, dh = rand64(rng), rand64(rng)
        out.append(
            FrameHash(
                idx=i,
                pts=i * step,
                phash=ph,
                dhash=dh,
                phash_masked=ph,
                dhash_masked=dh,
                pdq=rand_pdq(rng),
                pdq_quality=90,
            )
        )
    return out


def near_copy(
    frames: Sequence[FrameHash],
    rng: random.Random,
    *,
    bits: int = 3,
    pdq_bits: int = 20,
    shift: float = 0.0,
) -> list[FrameHash]:
    """The same frames with a few bits flipped in every hash, pts shifted by `shift`."""
    return [
        FrameHash(
            idx=i,
            pts=f.pts + shift,
            phash=flip64(f.phash, bits, rng),
            dhash=flip64(f.dhash, bits, rng),
            phash_masked=flip64(f.phash_masked or f.phash, bits, rng),
            dhash_masked=flip64(f.dhash_masked or f.dhash, bits, rng),
            pdq=flip_pdq(f.pdq or bytes(32), pdq_bits, rng),
            pdq_quality=f.pdq_quality,
            informative=f.informative,
        )
        for i, f in enumerate(frames)
    ]


@dataclass
class Stored:
    blob_id: int
    media_id: int
    sha256: str


def ensure_case(archive: Archive, slug: str) -> int:
    with archive.read() as session:
        try:
            case = get_case(session, slug)
            assert case.id is not None
            return case.id
        except Exception:
            pass
    open_case(archive, slug, slug=slug)
    with archive.read() as session:
        cid = get_case(session, slug).id
        assert cid is not None
        return cid


def store(
    archive: Archive,
    case: str,
    name: str,
    frames: Sequence[FrameHash],
    *,
    kind: str | None = None,
    blob_id: int | None = None,
) -> Stored:
    """A media row in `case` named `name` holding a blob with these frames (or the existing
    blob `blob_id`, for an exact copy in another case)."""
    case_id = ensure_case(archive, case)
    with archive.write() as session:
        if blob_id is None:
            sha = hashlib.sha256(name.encode() + repr(frames[:1]).encode()).hexdigest()
            blob = Blob(
                sha256=sha,
                size=1000,
                kind=kind or ("video" if len(frames) > 1 else "image"),
                analysis_state="ok",
                pipeline=PIPELINE,
                stored_at=now(),
            )
            session.add(blob)
            session.flush()
            assert blob.id is not None
            blob_id = blob.id
            session.add_all(frame_rows(blob_id, frames))
        else:
            found = session.get(Blob, blob_id)
            assert found is not None
            sha = found.sha256
        media = Media(
            case_id=case_id,
            blob_id=blob_id,
            original_name=name,
            acquired_by="tester",
            acquired_at=now(),
        )
        session.add(media)
        session.flush()
        assert media.id is not None
        return Stored(blob_id=blob_id, media_id=media.id, sha256=sha)
