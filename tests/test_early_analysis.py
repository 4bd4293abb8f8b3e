"""`verify search FILE` starts the query's sandboxed analysis before the command line is
parsed: which command lines do, and that the result is the same as started late."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from tests.conftest import RunCli
from tests.media import write_jpeg
from verify.early import _add_files, _search_target


@pytest.fixture
def photo(tmp_path: Path) -> Path:
    return write_jpeg(tmp_path / "q.jpg", seed=3)


def test_which_command_lines_start_early(photo: Path, tmp_path: Path) -> None:
    p = str(photo)
    assert _search_target(["search", p]) == p
    assert _search_target(["--home", "/x", "--as", "me", "search", "--json", p]) == p
    assert _search_target(["--home=/x", "search", "--case", "c", p, "--threshold", "9"]) == p
    assert _search_target(["search", "--threshold=9", p]) == p
    assert _search_target(["search", "12"]) is None  # a media reference, not a file
    assert _search_target(["search", str(tmp_path)]) is None  # a directory
    assert _search_target(["search", p, "--help"]) is None
    assert _search_target(["search", p, p]) is None  # typer will refuse this
    assert _search_target(["--version", "search", p]) is None
    assert _search_target(["media", "add", "c", p]) is None
    assert _search_target([]) is None


def test_which_media_add_command_lines_start_servers_early() -> None:
    """`verify media add CASE FILE...` starts one analysis server per file (up to the
    workers) before typer parses it; help, odd options and other commands start nothing."""
    assert _add_files(["media", "add", "c", "a.jpg"]) == 1
    assert _add_files(["--home", "/x", "media", "add", "--fast", "c", "a.jpg", "b.mp4"]) == 2
    assert _add_files(["media", "add", "c", "a.jpg", "--platform", "x", "--label=l"]) == 1
    assert _add_files(["--as=me", "media", "add", "--json", "c", "a", "b", "d"]) == 3
    assert _add_files(["media", "add", "c"]) == 0  # typer will ask for files
    assert _add_files(["media", "add", "c", "a.jpg", "--help"]) == 0
    assert _add_files(["media", "add", "c", "a.jpg", "--bogus"]) == 0
    assert _add_files(["media", "list", "c"]) == 0
    assert _add_files(["search", "a.jpg"]) == 0
    assert _add_files(["--version", "media", "add", "c", "a.jpg"]) == 0
    assert _add_files([]) == 0


def test_media_add_takes_over_the_early_servers(
    cli: RunCli, home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What `start_early_analysis` starts for `media add` is what the command uses: no
    second server, and the file is analysed by the early one."""
    from verify.analysis import sandbox
    from verify.early import EARLY_POOLS, start_early_analysis

    assert cli("case", "open", "Early", "--slug", "e").exit_code == 0
    photo = write_jpeg(tmp_path / "early.jpg", seed=9)
    start_early_analysis(["media", "add", "e", str(photo), "--json"])
    assert len(EARLY_POOLS) == 1
    early = EARLY_POOLS[0]
    ran: list[str] = []
    real_run = early.run

    def spy(path: str, **kwargs: object) -> object:
        ran.append(path)
        return real_run(path, **kwargs)

    def no_second_server(*args: object, **kwargs: object) -> None:
        raise AssertionError("media add started its own servers")

    monkeypatch.setattr(early, "run", spy)
    monkeypatch.setattr(sandbox, "warm_pools", no_second_server)
    r = cli("media", "add", "e", str(photo), "--json")
    assert r.exit_code == 0, r.stderr
    assert not EARLY_POOLS and len(ran) == 1
    (row,) = json.loads(r.stdout)
    assert (row["media"], row["kind"], row["frames"], row["analysis"]) == (1, "image", 1, "ok")


def test_media_add_as_a_user_runs_it(tmp_path: Path, home: Path) -> None:
    """A fresh process through the installed entry point (`verify.early.main`)."""
    env = {**os.environ, "VERIFY_HOME": str(home), "VERIFY_USER": "tester"}
    verify = [sys.executable, "-m", "verify"]
    subprocess.run([*verify, "case", "open", "Early", "--slug", "e"], env=env, check=True)
    photo = write_jpeg(tmp_path / "early.jpg", seed=9)
    out = subprocess.run(
        [*verify, "media", "add", "e", str(photo), "--json"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    (row,) = json.loads(out.stdout)
    assert (row["media"], row["kind"], row["frames"], row["analysis"]) == (1, "image", 1, "ok")


def test_early_and_late_analysis_give_the_same_answer(
    cli: RunCli, home: Path, photo: Path, tmp_path: Path
) -> None:
    assert cli("case", "open", "C", "--slug", "c").exit_code == 0
    other = tmp_path / "stored.jpg"
    Image.open(photo).resize((480, 360)).save(other, quality=80)
    assert cli("media", "add", "c", str(other)).exit_code == 0
    late = cli("search", str(photo), "--json")  # in-process: typer only, no early start
    env = {**os.environ, "VERIFY_HOME": str(home)}
    early = subprocess.run(
        [sys.executable, "-m", "verify", "search", str(photo), "--json"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert early.returncode == late.exit_code == 0, early.stderr
    assert json.loads(early.stdout) == json.loads(late.stdout)
    assert json.loads(early.stdout)["hits"], "the stored copy is found"


def test_search_takes_over_the_early_child(
    cli: RunCli, home: Path, photo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What `main` starts is what `search` collects: no second child for the same file."""
    from verify.analysis import sandbox
    from verify.early import EARLY_ANALYSIS, start_early_analysis

    assert cli("case", "open", "C", "--slug", "c").exit_code == 0
    start_early_analysis(["search", str(photo), "--json"])
    early = EARLY_ANALYSIS[str(photo)]

    def no_second_child(*args: object, **kwargs: object) -> None:
        raise AssertionError("search started its own child")

    monkeypatch.setattr(sandbox, "start_analysis", no_second_child)
    r = cli("search", str(photo), "--json")
    assert r.exit_code == 0, r.stderr
    assert str(photo) not in EARLY_ANALYSIS
    assert json.loads(r.stdout)["query"]["kind"] == "image"
    early.close()
