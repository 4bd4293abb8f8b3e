"""Media analysis: pure functions over one file, run in a child process (see sandbox.py).

This module is the contract between analysis and the rest of the tool.

`analyse_file(path, fast=False)` returns an `AnalysisResult`:
- `kind`: "image" | "video" | "other";
- `mime`: best guess from content (never from the filename), or None;
- `meta`: the normalised metadata dict below plus `"raw"` (reader -> tag -> value, strings) and
  `"disagreements"` (list of {"field", "pillow", "exifread"}) where readers differ;
- `frames`: sampled frames with perceptual hashes (`FrameHash`), in pts order;
- `pipeline`: identity of the fixed preprocessing + hashing recipe (e.g. "v3"); stored with
  every hash, because changing the resize path alone moves PDQ by 8-12 bits (hashes of the
  recipes in `COMPARABLE_PIPELINES` are compared with each other);
- `error`: None, or why the frames could not be decoded although the metadata was read (a
  truncated JPEG keeps its EXIF): the file is then `analysis_failed` with this reason, its
  kind, type and metadata kept, and no frames.

Normalised metadata keys (always present, None when unknown):
    make, model, software, captured_at (ISO 8601 with offset when known, else None),
    captured_at_raw (the EXIF/container string as written), captured_offset ("+03:00"|None),
    gps ({"lat": float, "lon": float, "alt": float|None} | None), orientation (EXIF 1-8|None),
    width, height (upright display size), duration (seconds, video), fps, rotation (degrees
    the frames must be rotated clockwise to be upright, 0/90/180/270), container,
    video_codec, audio_codec, encoder, creation_time (container tag, ISO), xmp_creator_tool,
    c2pa ({"state": "valid"|"invalid"|"trusted", "claim_generator", "signer", ...} | None),
    c2pa_reader ("c2pa-python 0.38.1" when the optional reader looked for a manifest, None
    when it is not installed: `c2pa` None then says nothing about the file),
    gps_placeholder (the position as written when it is exactly 0, 0 - a device without a fix
    - in which case `gps` is None; else None).

Only when it applies: `incomplete` ({"ends_at": s, "duration": s}): a video whose frames stop
well before the duration its container states, with no data left to reach it (truncated or
damaged): its frames and hashes cover only the beginning (`incomplete_note`).

Perceptual hashes are unsigned 64-bit ints here; storage converts to signed int64.
"""

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from verify.errors import VerifyError

PIPELINE = "v3"
# Recipes whose hashes can be compared with this one's: they differ only on pictures that
# some recipe trims differently (v3 trims windowbox bars that v2 left), where the two
# simply do not match, as a re-cropped copy would not. Stored files of these recipes are
# indexed and searched; `media reanalyse --outdated` still re-hashes every file whose
# `pipeline` is not PIPELINE. Anything else (v1) is left out until it is re-analysed.
COMPARABLE_PIPELINES = frozenset({"v2", "v3"})


@dataclass(frozen=True)
class FrameHash:
    idx: int
    pts: float  # seconds
    phash: int  # unsigned 64-bit
    dhash: int
    phash_masked: int | None = None  # bottom subtitle band masked
    dhash_masked: int | None = None
    pdq: bytes | None = None  # 32 bytes
    pdq_quality: int | None = None
    informative: bool = True  # False for uniform/black/near-blank frames: never matched on
    scene_change: bool = False


@dataclass
class AnalysisResult:
    kind: str
    mime: str | None
    meta: dict[str, Any]
    frames: list[FrameHash] = field(default_factory=list)
    pipeline: str = PIPELINE
    error: str | None = None


def incomplete_note(meta: Any) -> str | None:
    """What a reader must know about a truncated or damaged video's analysis (from
    `meta["incomplete"]`), one line, or None: `media add`, `media reanalyse`, `media show`
    and reports say it alike."""
    incomplete = meta.get("incomplete") if isinstance(meta, dict) else None
    if not isinstance(incomplete, dict):
        return None
    ends, duration = incomplete.get("ends_at"), incomplete.get("duration")
    if not isinstance(ends, int | float) or not isinstance(duration, int | float):
        return None
    stops = (
        "only the video's first frame decodes, of"
        if ends < 0.05
        else f"the video stops at {ends:.1f} s of"
    )
    return (
        f"{stops} the {duration:.1f} s its container states (truncated or damaged): its "
        "frames and hashes cover only that part"
    )


def to_signed64(u: int) -> int:
    """Unsigned 64-bit -> signed int64 (what SQLite/PostgreSQL can store)."""
    return u - (1 << 64) if u >= (1 << 63) else u


def to_unsigned64(s: int) -> int:
    return s + (1 << 64) if s < 0 else s


def hex64(u: int) -> str:
    """Fixed-width 16-digit hex, leading zeros kept."""
    return f"{to_unsigned64(u):016x}"


def device_name(meta: Mapping[str, Any]) -> str:
    """The device as one reads it: `Make Model`, or the model alone when it already starts
    with the make (case-insensitive; EXIF models often do: `Canon` + `Canon EOS 40D` ->
    `Canon EOS 40D`); "" when the metadata names neither. Used by `media show`, the
    timeline and the reports."""
    make, model = (str(meta.get(k) or "").strip() for k in ("make", "model"))
    if make and model.lower().startswith(make.lower()):
        make = ""
    return " ".join(p for p in (make, model) if p)


def is_placeholder_gps(gps: Any) -> bool:
    """True for a position of exactly 0°, 0°: what devices write without a fix, not a place."""
    return isinstance(gps, dict) and gps.get("lat") == 0 and gps.get("lon") == 0


def analyse_file(
    path: str,
    *,
    fast: bool = False,
    on_partial: Callable[[dict[str, Any]], None] | None = None,
) -> AnalysisResult:
    """Read metadata and sample + hash frames. Untrusted input: call it through
    `verify.analysis.sandbox` (child process with limits), never in the CLI process.

    `on_partial` (the sandbox's worker passes it) is called with {"kind", "mime", "meta"} once
    the metadata is read, before the frames: if the frames then fail in a way the child
    cannot report itself (a crash, the timeout, running out of memory), the file keeps its
    metadata (see `sandbox.salvage`)."""
    from verify.analysis.frames import extract_frames, extract_video
    from verify.analysis.metadata import read_metadata

    kind, mime, meta = read_metadata(path)
    if on_partial is not None:
        on_partial({"kind": kind, "mime": mime, "meta": meta})
    if kind == "image":
        try:
            frames = extract_frames(path, kind, meta, fast=fast)
        except VerifyError as exc:
            return AnalysisResult(kind, mime, meta, error=_image_reason(exc.message, path))
        except (OSError, SyntaxError, ValueError, EOFError) as exc:  # Pillow on malformed input
            reason = f"truncated or corrupt image: {exc}"
            return AnalysisResult(kind, mime, meta, error=_image_reason(reason, path))
        return AnalysisResult(kind=kind, mime=mime, meta=meta, frames=frames)
    if kind != "video":
        return AnalysisResult(kind=kind, mime=mime, meta=meta)
    frames, incomplete = extract_video(path, meta, fast=fast)
    if incomplete is not None:
        meta["incomplete"] = incomplete  # frames cover only the beginning (truncated, damaged)
    return AnalysisResult(kind=kind, mime=mime, meta=meta, frames=frames)


def _image_reason(message: str, path: str) -> str:
    """A pixel-decoding failure as the documented reason, without the store path."""
    message = message.replace(f"image {path} cannot be decoded: ", "truncated or corrupt image: ")
    message = message.replace(f"image {path} ", "image ").replace(path, "the file")
    return " ".join(message.split())
