"""`verify media reanalyse`: files hashed with another recipe are left out of search, said so,
and brought back by re-analysis; fast-triaged video gets its full sampling; a damaged stored
copy is refused."""

import json
import os
from pathlib import Path

import pytest
from bench.clips import render as write_clip
from PIL import Image

from tests.conftest import RunCli
from tests.media import write_jpeg
from tests.provhelp import set_pipeline
from verify.analysis import PIPELINE
from verify.archive import open_archive

SLUG = "rvc-signs"


@pytest.fixture
def case(cli: RunCli) -> str:
    assert cli("case", "open", "RVC signs", "--slug", SLUG).exit_code == 0
    return SLUG


def _add(cli: RunCli, case: str, path: Path, *extra: str) -> int:
    r = cli("media", "add", case, str(path), *extra)
    assert r.exit_code == 0, r.stderr
    return int(r.stdout.split()[0])


def _hits(cli: RunCli, path: Path) -> tuple[list[int], str]:
    r = cli("search", str(path), "--json")
    assert r.exit_code == 0, r.stderr
    return [h["media"] for h in json.loads(r.stdout)["hits"]], r.stderr


def test_outdated_recipe_is_not_searched_until_reanalysed(
    cli: RunCli, case: str, tmp_path: Path, home: Path
) -> None:
    original = write_jpeg(tmp_path / "original.jpg", seed=4, size=(960, 640))
    Image.open(original).resize((480, 320)).save(tmp_path / "copy.jpg", quality=70)
    first = _add(cli, case, original)
    assert _hits(cli, tmp_path / "copy.jpg") == ([first], "")

    set_pipeline(home, first, "v0-test")
    hits, err = _hits(cli, tmp_path / "copy.jpg")
    assert hits == []
    assert "1 stored file was hashed with an older recipe" in err
    assert "verify media reanalyse --outdated" in err

    r = cli("media", "reanalyse", "--outdated", "--json")
    assert r.exit_code == 0, r.stderr
    (done,) = json.loads(r.stdout)
    assert done["media"] == [first]
    assert (done["pipeline_before"], done["pipeline"]) == ("v0-test", PIPELINE)
    assert done["analysis"] == "ok" and done["frames"] == 1
    assert _hits(cli, tmp_path / "copy.jpg") == ([first], "")

    log = json.loads(cli("log", "--json").stdout)
    assert log[-1]["action"] == "media.reanalyse"
    assert log[-1]["payload"]["pipeline_before"] == "v0-test"
    assert cli("check").exit_code == 0
    again = cli("media", "reanalyse", "--outdated")
    assert again.exit_code == 0 and "nothing to re-analyse" in again.stderr


def test_fast_triage_then_full_sampling(cli: RunCli, case: str, tmp_path: Path) -> None:
    clip = write_clip(tmp_path / "clip.mp4", seconds=6.0, gop=90)
    media = _add(cli, case, clip, "--fast")
    fast = json.loads(cli("media", "show", str(media), "--json").stdout)["frames"]
    r = cli("media", "reanalyse", str(media))
    assert r.exit_code == 0, r.stderr
    assert f"media {media}: {PIPELINE} -> {PIPELINE}: video" in r.stderr
    full = json.loads(cli("media", "show", str(media), "--json").stdout)["frames"]
    assert len(fast) == 2 and len(full) >= 6
    assert "keyframes only" not in r.stderr
    # back to keyframes only: said, with how to undo it
    down = cli("media", "reanalyse", str(media), "--fast")
    assert down.exit_code == 0, down.stderr
    assert down.stderr.splitlines()[1] == (
        "  a full analysis replaced by keyframes only (weaker in search); "
        f"`verify media reanalyse {media}` without --fast redoes it in full"
    )


def test_fast_triage_is_recorded_and_outdated(cli: RunCli, case: str, tmp_path: Path) -> None:
    """Keyframes-only hashes search weaker: the mode is kept, shown, audited, and
    `reanalyse --outdated` redoes such files in full."""
    clip = write_clip(tmp_path / "clip.mp4", seconds=6.0, gop=90)
    still = write_jpeg(tmp_path / "still.jpg", seed=5)
    media = _add(cli, case, clip, "--fast")
    image = _add(cli, case, still, "--fast")  # a picture has no keyframes-only form
    shown = json.loads(cli("media", "show", str(media), "--json").stdout)
    assert shown["analysis_mode"] == "keyframes"
    assert json.loads(cli("media", "show", str(image), "--json").stdout)["analysis_mode"] == "full"
    text_lines = cli("media", "show", str(media)).stdout.splitlines()
    assert any(line.startswith("analysis:  ok, keyframes only (--fast;") for line in text_lines)
    listed = {
        ln.split()[0]: ln.split()[4:6] for ln in cli("media", "list", case).stdout.splitlines()[1:]
    }
    assert listed[str(media)] == ["ok", "(keyframes)"] and listed[str(image)][0] == "ok"
    # the same bytes added again in full mode keep the triage analysis: said on stderr
    again = cli("media", "add", case, str(clip))
    assert again.exit_code == 0
    assert (
        "  these bytes were analysed from keyframes only (`media add --fast`); "
        f"`verify media reanalyse {again.stdout.strip()}` analyses them in full"
    ) in again.stderr.splitlines()
    third = cli("media", "add", case, str(clip), "--fast")
    assert "keyframes only" not in third.stderr
    copies = [int(again.stdout), int(third.stdout)]
    added = [e for e in json.loads(cli("log", "--json").stdout) if e["action"] == "media.add"]
    modes = ["keyframes", "full", "keyframes", "keyframes"]  # the re-adds record the blob's
    assert [e["payload"]["analysis_mode"] for e in added] == modes

    notice = (
        "note: 1 stored file was hashed from keyframes only (media add --fast), so matches "
        "against them are weaker; run 'verify media reanalyse --outdated'\n"
    )
    assert notice in cli("search", str(still)).stderr
    assert notice in cli("dupes").stderr

    r = cli("media", "reanalyse", "--outdated", "--json")
    assert r.exit_code == 0, r.stderr
    (done,) = json.loads(r.stdout)
    assert done["media"] == [media, *copies]
    assert (done["analysis_mode_before"], done["analysis_mode"]) == ("keyframes", "full")
    assert "keyframes only" not in cli("dupes").stderr
    assert done["frames"] >= 6
    assert json.loads(cli("log", "--json").stdout)[-1]["payload"]["analysis_mode"] == "full"
    again = cli("media", "reanalyse", "--outdated")
    assert again.exit_code == 0 and "nothing to re-analyse" in again.stderr


def test_reanalyse_needs_a_target(cli: RunCli, case: str) -> None:
    r = cli("media", "reanalyse")
    assert r.exit_code == 2
    assert r.stderr.strip().splitlines() == [
        "error: give media references, --outdated for every outdated file, or --failed for "
        "every file whose analysis failed"
    ]


def test_damaged_stored_copy_is_not_reanalysed(
    cli: RunCli, case: str, tmp_path: Path, home: Path
) -> None:
    media = _add(cli, case, write_jpeg(tmp_path / "a.jpg", seed=2))
    shown = json.loads(cli("media", "show", str(media), "--json").stdout)
    sha = shown["sha256"].removeprefix("sha256:")
    (obj,) = (p for p in (home / "objects").rglob("*") if p.is_file() and sha[4:] in p.name)
    os.chmod(obj, 0o644)
    obj.write_bytes(obj.read_bytes() + b"x")
    before = json.loads(cli("log", "--json").stdout)
    r = cli("media", "reanalyse", str(media))
    assert r.exit_code == 3  # integrity: the evidence object was altered
    assert r.stderr.splitlines()[0] == f"[1/1] media {media}: failed"
    errors = [ln for ln in r.stderr.splitlines() if ln.startswith("error: ")]
    assert len(errors) == 1
    assert errors[0].startswith(
        f"error: media {media}: the stored file sha256:{sha} no longer has that SHA-256 (it "
        "reads as sha256:"
    )
    assert errors[0].endswith("): it was altered or damaged; not re-analysed")
    assert json.loads(cli("log", "--json").stdout) == before
    assert (
        json.loads(cli("media", "show", str(media), "--json").stdout)["frames"] == shown["frames"]
    )


def test_reanalyse_is_logged_in_each_case_holding_the_file(
    cli: RunCli, case: str, tmp_path: Path
) -> None:
    """Like media.add, the audit entry names the case: `verify log CASE` shows it."""
    photo = write_jpeg(tmp_path / "p.jpg", seed=6)
    assert cli("case", "open", "Other desk", "--slug", "other-desk").exit_code == 0
    first = _add(cli, case, photo)
    second = _add(cli, "other-desk", photo)
    third = _add(cli, case, photo, "--label", "again")
    r = cli("media", "reanalyse", str(second), "--json")
    assert r.exit_code == 0, r.stderr
    assert json.loads(r.stdout)[0]["media"] == [first, second, third]
    mine, theirs = (
        [e for e in json.loads(cli("log", c, "--json").stdout) if e["action"] == "media.reanalyse"]
        for c in (case, "other-desk")
    )
    assert [e["payload"]["media"] for e in mine] == [[first, third]]
    assert [e["payload"]["media"] for e in theirs] == [[second]]
    assert mine[0]["payload"]["pipeline"] == PIPELINE == theirs[0]["payload"]["pipeline"]
    assert cli("check").exit_code == 0


def test_a_timed_out_file_says_how_to_analyse_it_again(
    cli: RunCli, case: str, home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A file whose analysis ran out of time (a long video) is preserved with the reason,
    and the one error line says what to do: give the sandbox more time (or triage with
    --fast), then `verify media reanalyse ID`, which then analyses it (shown as `- -> v2`:
    there was no analysis before)."""
    from verify.analysis.sandbox import AnalysisPool
    from verify.services import intake

    monkeypatch.setenv("VERIFY_WORKERS", "1")
    photo = write_jpeg(tmp_path / "long.jpg", seed=3)
    archive = open_archive(home, actor="tester")
    try:
        slow = AnalysisPool("tests.sandbox_targets:slow_analysis", timeout=0.5)
        [result] = intake.add_media(archive, case, [str(photo)], pools=[slow])
        # the same bytes added again keep that analysis, and the line says it is an old one
        [again] = intake.add_media(archive, case, [str(photo)])
    finally:
        archive.close()
    assert result.analysis == "analysis_failed"
    hint = (
        "if it is a long or large file, allow it more time (or triage it with `--fast`): "
        "`VERIFY_ANALYSIS_TIMEOUT=1 verify media reanalyse {}`"
    )
    assert result.error == (
        f"{photo}: preserved, but timed out after 0.5 s; " + hint.format(result.media_id)
    )
    assert again.error == (
        f"{photo}: preserved earlier, and its analysis then failed: timed out after 0.5 s; "
        + hint.format(again.media_id)
    )
    # `--json` carries the reason alone too, for scripts
    for r in (result, again):
        shown = r.to_dict()
        assert (shown["analysis"], shown["analysis_error"]) == (
            "analysis_failed",
            "timed out after 0.5 s",
        )
    r = cli("media", "reanalyse", str(result.media_id))
    assert r.exit_code == 0, r.stderr
    held = f"{result.media_id}, {again.media_id}"
    assert r.stderr.splitlines() == [f"[1/1] media {held}: - -> {PIPELINE}: image, 1 frame"]


def test_retry_hints_only_for_what_more_room_can_cure() -> None:
    from verify.services.intake import retry_hint

    assert retry_hint("out of memory (limit 2 GiB)", "7") == (
        "if it is a large file, allow it more memory: "
        "`VERIFY_ANALYSIS_MEMORY=4G verify media reanalyse 7`"
    )
    assert "VERIFY_ANALYSIS_MEMORY=4G verify" in retry_hint(
        "killed (signal SIGKILL; out of memory?)", "7"
    )
    assert "VERIFY_ANALYSIS_MEMORY=1G verify" in retry_hint("out of memory (limit 512 MiB)", "7")
    assert "VERIFY_ANALYSIS_MEMORY=3G verify" in retry_hint(
        "out of memory (limit 1536 MiB): could not start a thread", "7"
    )
    assert retry_hint("truncated or corrupt video: end of file", "7") == ""
    assert retry_hint(None, "7") == ""


@pytest.mark.parametrize(
    ("reason", "meta", "seconds"),
    [
        ("timed out after 60 s", None, 120),  # twice the limit, whole minutes
        ("timed out after 60 s", {"duration": 60.0}, 120),
        ("timed out after 60 s", {"duration": 5400.0}, 2700),  # 90 min: half of it
        ("timed out after 60 s", {"duration": 5000.0}, 2520),  # rounded up to whole minutes
        ("timed out after 300 s", {"duration": 600.0}, 600),
        ("timed out after 0.5 s", None, 1),  # under a minute: whole seconds
        ("timed out after 60 s", {"duration": None}, 120),
        ("timed out after 60 s", {"duration": "n/a"}, 120),  # an odd value is not used
    ],
)
def test_a_timeout_hint_suggests_a_limit_sized_by_the_video(
    reason: str, meta: dict[str, object] | None, seconds: int
) -> None:
    from verify.services.intake import retry_hint

    assert retry_hint(reason, "7", meta).endswith(
        f"`VERIFY_ANALYSIS_TIMEOUT={seconds} verify media reanalyse 7`"
    )


def test_the_hint_names_an_archive_opened_with_home(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Pasted without it, the command would re-analyse media of another archive."""
    from verify.services.intake import retry_hint

    default = tmp_path / "default"
    monkeypatch.setenv("VERIFY_HOME", str(default))
    assert retry_hint("timed out after 60 s", "7", None, default).endswith(
        "`VERIFY_ANALYSIS_TIMEOUT=120 verify media reanalyse 7`"
    )
    other = tmp_path / "evidence drive"
    assert retry_hint("timed out after 60 s", "7", None, other).endswith(
        f"`VERIFY_ANALYSIS_TIMEOUT=120 verify --home '{other}' media reanalyse 7`"
    )


def test_a_video_that_times_out_keeps_its_metadata(
    cli: RunCli, case: str, home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A video whose frames outlast the timeout is recorded with the metadata its analysis
    had read (kind, type, camera, size) and `analysis_failed`; `media reanalyse` then
    samples its frames (`--failed`: every file whose analysis failed)."""
    from tests.test_metadata import APPLE_TAGS, make_video
    from verify.analysis.sandbox import AnalysisPool
    from verify.services import intake

    monkeypatch.setenv("VERIFY_WORKERS", "1")
    clip = make_video(tmp_path / "long.mov", "mov", tags=APPLE_TAGS)
    archive = open_archive(home, actor="tester")
    try:
        slow = AnalysisPool("tests.sandbox_targets:metadata_then_hang", timeout=3)
        [result] = intake.add_media(archive, case, [str(clip)], pools=[slow])
    finally:
        archive.close()
    assert result.kind == "video" and result.analysis == "analysis_failed"
    shown = json.loads(cli("media", "show", str(result.media_id), "--json").stdout)
    assert shown["kind"] == "video" and shown["analysis_error"] == "timed out after 3 s"
    assert shown["metadata"]["make"] == "Apple" and shown["metadata"]["duration"]
    assert shown["frames"] == []
    # `--outdated` leaves failed files alone, and says so and what takes them
    outdated = cli("media", "reanalyse", "--outdated")
    assert outdated.exit_code == 0
    assert outdated.stderr == (
        "nothing to re-analyse: every file analysed was hashed in full with the current "
        "recipe; 1 whose analysis failed left as they are (`verify media reanalyse --failed`)\n"
    )
    r = cli("media", "reanalyse", "--failed")
    assert r.exit_code == 0, r.stderr
    assert r.stderr.startswith(f"[1/1] media {result.media_id}: - -> ")
    again = json.loads(cli("media", "show", str(result.media_id), "--json").stdout)
    assert again["analysis"] == "ok" and again["frames"]
    none = cli("media", "reanalyse", "--failed")
    assert none.stderr == "nothing to re-analyse: no file's analysis has failed\n"


def test_a_reanalysis_that_fails_names_the_media(
    cli: RunCli, case: str, home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from verify.analysis.sandbox import AnalysisPool
    from verify.services import media as media_svc

    monkeypatch.setenv("VERIFY_WORKERS", "1")
    media = _add(cli, case, write_jpeg(tmp_path / "a.jpg", seed=9))
    archive = open_archive(home, actor="tester")
    try:
        slow = AnalysisPool("tests.sandbox_targets:slow_analysis", timeout=0.5)
        [result] = media_svc.reanalyse(archive, [str(media)], pools=[slow])
    finally:
        archive.close()
    assert result.error == (
        f"media {media}: timed out after 0.5 s; if it is a long or large file, allow it more "
        f"time (or triage it with `--fast`): `VERIFY_ANALYSIS_TIMEOUT=1 verify media reanalyse "
        f"{media}`"
    )
