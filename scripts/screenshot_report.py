"""Render the example case's HTML report and look at it in headless Chromium.

    python scripts/screenshot_report.py [--out docs/report-screenshot.png] [--keep DIR]

Builds an example archive in a temporary directory from real corpus media
(../shared/corpus or $VERIFY_CORPUS): a clean "original" clip, a re-upload of it with a
logo, a phone video with GPS and rotation, and an excerpt held in a second case (so the
near-duplicate section has something to show). Writes the HTML report with a fixed `--at`,
opens it in headless Chromium (Debian `chromium`; as root it needs --no-sandbox), and:

- fails if Chromium logged any console message (CSP violations and script errors are
  console messages: `INFO:CONSOLE` lines with --enable-logging=stderr);
- fails if the rendered DOM (`--dump-dom`) lacks any report section;
- saves the screenshot (default docs/report-screenshot.png).

Media go in through `verify media add` (preserved, analysed in the sandbox); provenance
rows (accounts, appearances, attributions, derivations) are written straight into the tables
with fixed, invented times so the picture is stable: the scenario is an illustration, and
these rows have no audit entries (a real case records them with `verify prov ...`).
Exit status: 0 ok, 1 a check failed, 2 chromium or the corpus is missing.
"""

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "src"))

from verify.archive import Archive, open_archive  # noqa: E402
from verify.timeutil import parse_utc  # noqa: E402

AT = parse_utc("2023-06-01T00:00:00Z")
SLUG = "belgorod-legion-video"
OTHER = "rvc-signs-video"
SECTIONS = ("verdict", "claims", "provenance", "media", "differences", "integrity")
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
    "--force-device-scale-factor=1",
]
FILES = {
    "original": "near-duplicates/threatexchange-tmk/chair-orig-22-sd-bar.mp4",
    "reupload": "near-duplicates/threatexchange-tmk/chair-22-with-small-logo-bar.mp4",
    "phone": "metadata-extractor-images/mov/with-gps.mov",
    "excerpt": "near-duplicates/threatexchange-tmk/chair-19-sd-bar.mp4",
}


def corpus_dir() -> Path | None:
    env = os.environ.get("VERIFY_CORPUS")
    path = Path(env) if env else REPO.parent / "shared" / "corpus"
    if not (path / "inventory.csv").is_file():
        path = Path("/work/shared/corpus")
    return path if (path / "inventory.csv").is_file() else None


def find_chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    return None


# ------------------------------------------------------------------ the example archive


def _add_media(archive: Archive, case: str, path: Path, at: datetime, **facts: Any) -> int:
    """`verify media add` (preserve, analyse in the sandbox, record) at a pinned time."""
    from verify.services import intake

    os.environ["VERIFY_FAKE_NOW"] = at.isoformat()
    (result,) = intake.add_media(archive, case, [str(path)], search=False, **facts)
    if result.error or result.media_id is None:
        raise RuntimeError(f"{path}: {result.error}")
    return result.media_id


def build_example(home: Path, corpus: Path) -> Archive:
    """The example case (modelled on the Belgorod Legion video, with corpus stand-ins)."""
    from verify.models import (
        Account,
        Appearance,
        Attribution,
        AttributionChange,
        Case,
        Derivation,
        pk,
    )  # fmt: skip
    from verify.services import cases, status

    os.environ["VERIFY_FAKE_NOW"] = "2023-05-24T09:00:00Z"
    archive = open_archive(home, actor="desk-analyst")
    cases.open_case(
        archive,
        "Alleged Freedom of Russia Legion video, Belgorod region, May 2023",
        slug=SLUG,
        claims=[
            "shows fighters of the Freedom of Russia Legion",
            "filmed in Graivoron, Belgorod region, on 22 May 2023",
            "subtitles were added by @Gerashchenko_en",
        ],
        summary="ILLUSTRATION ONLY: the appearances, times, URLs, findings and verdict below "
        "are invented to show every section of a report; they are not findings about the real "
        "video. Corpus clips stand in for the media.",
    )
    cases.open_case(archive, "Russian Volunteer Corps village-sign video", slug=OTHER)
    os.environ["VERIFY_FAKE_NOW"] = "2023-05-24T11:00:00Z"
    status.set_status(archive, SLUG, "in_progress")
    t = lambda h, m=0: datetime(2023, 5, 24, h, m, tzinfo=UTC)  # noqa: E731
    ids = {
        "original": _add_media(
            archive, SLUG, corpus / FILES["original"], t(9, 10),
            label="clean copy from the Telegram post",
            source_url="https://t.me/example_channel/1021", platform="telegram",
            acquired_via="Telegram Desktop export",
        ),
        "reupload": _add_media(
            archive, SLUG, corpus / FILES["reupload"], t(9, 20),
            label="re-upload with a logo, from X",
            source_url="https://x.com/example/status/1661000000000000000", platform="x",
            acquired_via="yt-dlp 2023.03.04",
        ),
        "phone": _add_media(
            archive, SLUG, corpus / FILES["phone"], t(9, 40),
            label="phone recording sent to the desk",
            acquired_via="email attachment",
        ),
    }  # fmt: skip
    _add_media(archive, OTHER, corpus / FILES["excerpt"], t(10))
    with archive.write() as s:
        from sqlmodel import select

        case_id = pk(s.exec(select(Case).where(Case.slug == SLUG)).one())
        tg = Account(platform="telegram", handle="@example_channel", kind="channel",
                     display_name="Legion channel (example)", url="https://t.me/example_channel",
                     created_at=t(10), created_by="desk-analyst")  # fmt: skip
        x = Account(platform="x", handle="@Gerashchenko_en", kind="person",
                    display_name="Anton Gerashchenko", url="https://x.com/Gerashchenko_en",
                    created_at=t(10), created_by="desk-analyst")  # fmt: skip
        s.add_all([tg, x])
        s.flush()
        s.add_all(
            [
                Appearance(case_id=case_id, media_id=ids["original"], platform="telegram",
                           url="https://t.me/example_channel/1021", post_id="1021",
                           account_id=pk(tg), posted_at=datetime(2023, 5, 22, 17, 40, tzinfo=UTC),
                           captured_at=t(9, 10), language="ru", caption="Легион «Свобода России»",
                           created_at=t(10), created_by="desk-analyst"),
                Appearance(case_id=case_id, media_id=ids["reupload"], platform="x",
                           url="https://x.com/example/status/1661000000000000000",
                           post_id="1661000000000000000", account_id=pk(x),
                           posted_at=datetime(2023, 5, 23, 8, 15, tzinfo=UTC),
                           captured_at=t(9, 20), language="en",
                           caption="Video from Telegram. Subtitles by me.",
                           archive_url="https://web.archive.org/web/20230524/https://x.com/example",
                           created_at=t(10), created_by="desk-analyst"),
            ]
        )  # fmt: skip
        subtitler = Attribution(
            case_id=case_id, role="subtitler", account_id=pk(x), target_type="media",
            target_id=ids["reupload"], state="claimed", evidence="tweet: 'Subtitles by me.'",
            according_to="@Gerashchenko_en", created_at=t(10, 30), created_by="desk-analyst",
            updated_at=t(10, 30), updated_by="desk-analyst",
        )  # fmt: skip
        poster = Attribution(
            case_id=case_id, role="original_poster", account_id=pk(tg), state="corroborated",
            evidence="earliest post found; the X copy credits Telegram",
            according_to="desk search 2023-05-24", created_at=t(10, 31),
            created_by="desk-analyst", updated_at=t(10, 50), updated_by="desk-analyst",
        )  # fmt: skip
        s.add_all([subtitler, poster])
        s.flush()
        s.add_all(
            [
                AttributionChange(attribution_id=pk(subtitler), to_state="claimed",
                                  evidence="self-claimed in tweet", at=t(10, 30),
                                  by="desk-analyst"),
                AttributionChange(attribution_id=pk(poster), to_state="claimed", at=t(10, 31),
                                  by="desk-analyst"),
                AttributionChange(attribution_id=pk(poster), from_state="claimed",
                                  to_state="corroborated",
                                  evidence="post predates the tweet by 14 h",
                                  according_to="desk-analyst", at=t(10, 50), by="desk-analyst"),
                Derivation(child_id=ids["reupload"], parent_id=ids["original"], kind="reencode_of",
                           evidence={"frames": "pHash match on every sampled frame"},
                           note="logo overlay added", created_at=t(11), created_by="desk-analyst"),
            ]
        )  # fmt: skip
    os.environ["VERIFY_FAKE_NOW"] = "2023-05-25T10:00:00Z"
    cases.assess_claim(
        archive, SLUG, 3, finding="unproven", confidence="low",
        why="only the claimant's own tweet; no project files or earlier subtitled copy found",
    )  # fmt: skip
    cases.add_note(archive, SLUG, "Asked the channel admin for the camera original.")
    os.environ["VERIFY_FAKE_NOW"] = "2023-05-26T08:00:00Z"
    status.set_status(
        archive, SLUG, "misattributed",
        why="the earliest known appearance is the Telegram post of 22 May; the X copy whose "
        "poster claims the subtitles is a re-encode of it with a logo added",
    )  # fmt: skip
    return archive


# ------------------------------------------------------------------ looking at it


def look(html_path: Path, png: Path, chromium: str, height: int) -> list[str]:
    """Screenshot + DOM check; returns the problems found (empty when all is well)."""
    problems: list[str] = []
    with tempfile.TemporaryDirectory(prefix="verify-chromium-") as profile:
        flags = [*CHROMIUM_FLAGS, f"--user-data-dir={profile}"]
        url = html_path.resolve().as_uri()
        shot = subprocess.run(
            [chromium, *flags, "--enable-logging=stderr", "--v=0",
             f"--screenshot={png}", f"--window-size=1280,{height}", url],
            capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip
        if shot.returncode != 0 or not png.is_file():
            problems.append(f"chromium screenshot failed (exit {shot.returncode})")
        for line in shot.stderr.splitlines():
            if ":CONSOLE" in line or "Content Security Policy" in line or "Uncaught" in line:
                problems.append("console: " + line.strip())
        dom = subprocess.run(
            [chromium, *flags, "--dump-dom", url],
            capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip
        for section in SECTIONS:
            if not re.search(rf'<section[^>]*\bid="{section}"', dom.stdout):
                problems.append(f"section {section!r} missing from the rendered page")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "report-screenshot.png")
    parser.add_argument("--keep", type=Path, help="keep the example archive and report here")
    parser.add_argument("--height", type=int, default=2000)
    args = parser.parse_args(argv)
    corpus = corpus_dir()
    chromium = find_chromium()
    if corpus is None:
        sys.stderr.write("error: the corpus is absent (set VERIFY_CORPUS)\n")
        return 2
    if chromium is None:
        sys.stderr.write("error: chromium not found (apt-get install -y chromium)\n")
        return 2
    work = args.keep or Path(tempfile.mkdtemp(prefix="verify-example-"))
    work.mkdir(parents=True, exist_ok=True)
    from verify.services import report

    # the example is built under a pinned clock (allowed, and marked in its audit entries)
    saved = {k: os.environ.get(k) for k in ("VERIFY_FAKE_NOW", "VERIFY_ALLOW_FAKE_NOW")}
    os.environ["VERIFY_ALLOW_FAKE_NOW"] = "1"
    try:
        archive = build_example(work / "archive", corpus)
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
    written = report.write_report(archive, SLUG, "html", output=work / f"{SLUG}-report.html", at=AT)
    assert written.path is not None
    problems = look(written.path, args.out, chromium, args.height)
    for p in problems:
        sys.stderr.write(f"problem: {p}\n")
    sys.stdout.write(f"{args.out}\n")
    if args.keep is None:
        archive.close()
        shutil.rmtree(work, ignore_errors=True)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
