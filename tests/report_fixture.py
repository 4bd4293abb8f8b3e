"""A small, fixed fixture archive for report tests, built by inserting rows directly.

Times are pinned (services run under VERIFY_FAKE_NOW; rows we insert carry explicit
times) and the actor is fixed, so the same call builds the same archive every time. The
"files" are short byte strings put into the evidence store (so `verify check` passes);
their metadata and frame hashes are inserted as the analysis contract describes
(src/verify/analysis/__init__.py). `payload` lets the hostile-input tests put the same
string into every free-text field.
"""

import random
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from verify.analysis import PIPELINE, to_signed64
from verify.archive import Archive
from verify.models import (
    Account,
    Appearance,
    Attribution,
    AttributionChange,
    Blob,
    Derivation,
    Frame,
    Media,
    pk,
)
from verify.services import cases, status

SLUG = "belgorod-legion-video"
OTHER = "rvc-signs-video"
T0 = datetime(2023, 5, 24, 9, 0, tzinfo=UTC)


def _at(minutes: int) -> datetime:
    return T0 + timedelta(minutes=minutes)


def _meta(**kw: Any) -> dict[str, Any]:
    keys = [
        "make", "model", "software", "captured_at", "captured_at_raw", "captured_offset",
        "gps", "orientation", "width", "height", "duration", "fps", "rotation", "container",
        "video_codec", "audio_codec", "encoder", "creation_time", "xmp_creator_tool", "c2pa",
        "c2pa_reader",
    ]  # fmt: skip
    meta: dict[str, Any] = dict.fromkeys(keys)
    meta.update(kw)
    meta.setdefault("raw", {})
    meta.setdefault("disagreements", [])
    return meta


def _put(archive: Archive, tmp: Path, name: str, data: bytes) -> tuple[str, int]:
    src = tmp / name
    src.write_bytes(data)
    stored = archive.store.put_file(src)
    return stored.sha256, stored.size


def _frames(base: int, n: int, step: float, flip: int = 0, shift: int = 0) -> list[Frame]:
    """n frames whose pHash drifts from `base`; `flip` low bits differ from the original;
    frame i shows the original's frame i + shift."""
    out = []
    for i in range(n):
        ph = random.Random(base + i + shift).getrandbits(64) ^ ((1 << flip) - 1)
        dh = random.Random(base + i + shift + 7919).getrandbits(64) ^ ((1 << flip) - 1)
        out.append(
            Frame(
                blob_id=0,
                idx=i,
                pts=i * step,
                phash=to_signed64(ph),
                dhash=to_signed64(dh),
                informative=True,
                scene_change=i == 0,
            )
        )
    return out


def build(
    archive: Archive,
    tmp: Path,
    monkeypatch: pytest.MonkeyPatch,
    *,
    payload: str | None = None,
    real_files: dict[str, Path] | None = None,
) -> str:
    """Build the fixture; returns the main case's slug."""
    p = payload
    monkeypatch.setenv("VERIFY_FAKE_NOW", "2023-05-24T09:00:00Z")
    cases.open_case(
        archive,
        p or "Alleged Freedom of Russia Legion video, Belgorod, May 2023",
        slug=SLUG,
        claims=[
            p or "shows fighters of the Freedom of Russia Legion",
            "filmed in Graivoron, Belgorod region, 22 May 2023",
        ],
        summary=p or "Tweeted by @Gerashchenko_en on 23 May 2023, said to be from Telegram.",
    )
    cases.open_case(archive, "RVC village-sign video", slug=OTHER)
    monkeypatch.setenv("VERIFY_FAKE_NOW", "2023-05-24T12:00:00Z")
    status.set_status(archive, SLUG, "in_progress")
    monkeypatch.setenv("VERIFY_FAKE_NOW", "2023-05-25T10:30:00Z")
    cases.assess_claim(
        archive,
        SLUG,
        1,
        finding="supported",
        confidence="medium",
        why=p or "insignia match the Legion's flag | patches visible at 00:12",
    )
    cases.add_note(archive, SLUG, p or "Asked the Telegram channel admin for the original file.")
    monkeypatch.setenv("VERIFY_FAKE_NOW", "2023-05-26T08:00:00Z")
    status.set_status(
        archive,
        SLUG,
        "misattributed",
        why=p or "earliest copy is the Telegram post; the subtitled X copy is a re-upload",
    )

    files = real_files or {}
    blob_specs = [
        ("legion-telegram.mp4", b"fixture: clean Telegram original\n", "video", "video/mp4"),
        (p or "legion-subtitled.mp4", b"fixture: subtitled X re-upload\n", "video", "video/mp4"),
        ("rvc-sign.mp4", b"fixture: excerpt held in another case\n", "video", "video/mp4"),
    ]
    shas = []
    for name, data, _, _ in blob_specs:
        key = name if name in files else None
        if key:
            shas.append(_put(archive, tmp, "src-" + str(len(shas)), files[key].read_bytes()))
        else:
            shas.append(_put(archive, tmp, f"src-{len(shas)}", data))

    raw: dict[str, Any] = {"pyav": {"title": "Legion raid", "comment": ""}}
    if p:
        raw = {
            "pillow": {"Artist": p, "ImageDescription": p, "XPComment": p, "Make": "x"},
            "xmp": {"dc:description": p, "dc:creator": p},
            "pyav": {"title": p},
        }
    metas = [
        _meta(
            make="Apple",
            model="iPhone 12",
            software="16.4.1",
            captured_at="2023-05-22T14:03:11+03:00",
            captured_at_raw="2023:05:22 14:03:11",
            captured_offset="+03:00",
            gps={"lat": 50.4853, "lon": 35.6692, "alt": 142.0},
            width=1080,
            height=1920,
            duration=42.0,
            fps=30.0,
            rotation=90,
            container="mov,mp4",
            video_codec="h264",
            audio_codec="aac",
            creation_time="2023-05-22T11:03:11Z",
            encoder=None,
            c2pa_reader="c2pa-python 0.38.1",  # looked, found none; the others: not installed
            raw=raw,
        ),
        _meta(
            width=720,
            height=1280,
            duration=30.0,
            fps=30.0,
            rotation=0,
            container="mov,mp4",
            video_codec="h264",
            audio_codec="aac",
            encoder=p or "Lavf60.3.100",
            xmp_creator_tool=p,
            raw=raw if p else {},
        ),
        _meta(
            width=640,
            height=360,
            duration=20.0,
            fps=25.0,
            rotation=0,
            container="mov,mp4",
            video_codec="h264",
        ),
    ]
    base = 0xD1C3_9A5E_7713_0F28
    frame_sets = [
        _frames(base, 22, 2.0),
        _frames(base, 16, 2.0, flip=3),  # same picture, subtitle band changes a few bits
        _frames(base, 8, 2.0, flip=2, shift=4),  # excerpt of the original from 00:08
    ]
    with archive.write() as s:
        blobs = []
        for (_, _, kind, mime), (sha, size), meta in zip(blob_specs, shas, metas, strict=True):
            b = Blob(
                sha256=sha,
                size=size,
                kind=kind,
                mime=mime,
                analysis_state="ok",
                pipeline=PIPELINE,
                meta=meta,
                analysed_at=_at(5),
                stored_at=_at(4),
            )
            s.add(b)
            blobs.append(b)
        s.flush()
        for b, frames in zip(blobs, frame_sets, strict=True):
            for f in frames:
                f.blob_id = pk(b)
                s.add(f)
        from sqlmodel import select

        from verify.models import Case

        case_id = pk(s.exec(select(Case).where(Case.slug == SLUG)).one())
        other_id = pk(s.exec(select(Case).where(Case.slug == OTHER)).one())
        media = [
            Media(
                case_id=case_id,
                blob_id=pk(blobs[0]),
                original_name=blob_specs[0][0],
                label="clean original",
                source_url="https://t.me/frl_channel/1021",
                platform="telegram",
                acquired_via="telegram-desktop export",
                acquired_by="tester",
                acquired_at=_at(10),
            ),
            Media(
                case_id=case_id,
                blob_id=pk(blobs[1]),
                original_name=blob_specs[1][0],
                label=p,
                source_url=p or "https://x.com/Gerashchenko_en/status/1661000000000000000",
                platform="x",
                acquired_via=p or "yt-dlp 2023.03.04",
                acquired_by="tester",
                acquired_at=_at(20),
            ),
            Media(
                case_id=other_id,
                blob_id=pk(blobs[2]),
                original_name=blob_specs[2][0],
                acquired_by="tester",
                acquired_at=_at(30),
            ),
        ]
        for m in media:
            s.add(m)
        s.flush()
        acc_tg = Account(
            platform="telegram",
            handle=p or "@frl_channel",
            display_name=p or "Legion Svoboda Rossii",
            url=p or "https://t.me/frl_channel",
            kind="channel",
            created_at=_at(40),
            created_by="tester",
        )
        acc_x = Account(
            platform="x",
            handle="@Gerashchenko_en",
            display_name="Anton Gerashchenko",
            url="https://x.com/Gerashchenko_en",
            kind="person",
            created_at=_at(41),
            created_by="tester",
        )
        s.add(acc_tg)
        s.add(acc_x)
        s.flush()
        s.add(
            Appearance(
                case_id=case_id,
                media_id=pk(media[1]),
                platform="x",
                url=p or "https://x.com/Gerashchenko_en/status/1661000000000000000",
                post_id="1661000000000000000",
                account_id=pk(acc_x),
                posted_at=datetime(2023, 5, 23, 8, 15, tzinfo=UTC),
                captured_at=_at(20),
                caption=p or "Subtitles by me.",
                language="en",
                archive_url="https://web.archive.org/web/2023/https://x.com/x",
                created_at=_at(42),
                created_by="tester",
            )
        )
        s.add(
            Appearance(
                case_id=case_id,
                media_id=pk(media[0]),
                platform="telegram",
                url="https://t.me/frl_channel/1021",
                post_id="1021",
                account_id=pk(acc_tg),
                posted_at=datetime(2023, 5, 22, 17, 40, tzinfo=UTC),
                captured_at=_at(10),
                caption="Легион «Свобода России»",
                language="ru",
                note=p,
                created_at=_at(43),
                created_by="tester",
            )
        )
        s.add(
            Appearance(
                case_id=case_id,
                platform="press",
                url=p or "javascript:alert(1)",
                posted_precision="day",
                note="press re-use, date only",
                posted_at=datetime(2023, 5, 24, tzinfo=UTC),
                created_at=_at(44),
                created_by="tester",
            )
        )
        s.flush()
        attr1 = Attribution(
            case_id=case_id,
            role="subtitler",
            account_id=pk(acc_x),
            target_type="media",
            target_id=pk(media[1]),
            state="corroborated",
            evidence=p or "tweet text: 'subtitles by me'",
            according_to="@Gerashchenko_en",
            created_at=_at(50),
            created_by="tester",
            updated_at=_at(55),
            updated_by="tester",
        )
        attr2 = Attribution(
            case_id=case_id,
            role="original_poster",
            account_id=pk(acc_tg),
            state="claimed",
            evidence="earliest post found",
            according_to=p or "desk search 2023-05-24",
            created_at=_at(51),
            created_by="tester",
            updated_at=_at(51),
            updated_by="tester",
        )
        s.add(attr1)
        s.add(attr2)
        s.flush()
        s.add(
            AttributionChange(
                attribution_id=pk(attr1),
                from_state=None,
                to_state="claimed",
                evidence="self-claimed in tweet",
                according_to="@Gerashchenko_en",
                at=_at(50),
                by="tester",
            )
        )
        s.add(
            AttributionChange(
                attribution_id=pk(attr1),
                from_state="claimed",
                to_state="corroborated",
                evidence=p or "clean original has no subtitles",
                according_to="tester",
                at=_at(55),
                by="tester",
            )
        )
        s.add(
            AttributionChange(
                attribution_id=pk(attr2),
                from_state=None,
                to_state="claimed",
                at=_at(51),
                by="tester",
            )
        )
        s.add(
            Derivation(
                child_id=pk(media[1]),
                parent_id=pk(media[0]),
                kind="subtitled_from",
                evidence={"phash_median_distance": 3, "frames_matched": "16/22"},
                note=p,
                created_at=_at(60),
                created_by="tester",
            )
        )
    # the clock when the tests write their reports (dated 2023-06-01, which cannot be later
    # than now); a test that records more sets an earlier time itself, then `report_time`
    report_time(monkeypatch)
    return SLUG


def report_time(monkeypatch: pytest.MonkeyPatch) -> None:
    """Set the clock to the time the tests date their reports (`--at 2023-06-01T00:00:00Z`)."""
    monkeypatch.setenv("VERIFY_FAKE_NOW", "2023-06-01T00:00:00Z")
