"""`verify demo`: the README's main job, end to end, in a throwaway archive."""

import json
from pathlib import Path

import pytest

from tests.conftest import REPO, RunCli


@pytest.mark.slow
def test_demo_end_to_end(cli: RunCli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # the example case ships in the package: any directory will do
    # the demo's archive is SQLite whatever VERIFY_DATABASE_URL says (set under
    # --backend=postgres); the commands below look at it through its home
    monkeypatch.delenv("VERIFY_DATABASE_URL", raising=False)
    home = tmp_path / "demo"
    r = cli("demo", "--home", str(home), "--json")
    assert r.exit_code == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["case"] == "belgorod-legion-video"
    assert out["match"]["tier"] == "match"
    assert out["match"]["offset"] == 0
    # it says where the synthetic clips are, so they can be tried with other commands
    clips = home / "demo-media"
    assert f"(both synthetic) in {clips}\n" in r.stderr
    assert sorted(p.name for p in clips.iterdir()) == [
        "legion-original-SYNTHETIC.mp4",
        "legion-subtitled-SYNTHETIC.mp4",
    ]
    report = Path(out["report"])
    assert report.parent == home and report.is_file()
    html = report.read_text()
    # the report names the accounts by handle, with the display name beside it
    assert "x:@Gerashchenko_en" in html
    assert "subtitled from" in html or "subtitled_from" in html
    # the demo used its own SQLite archive; its audit trail verifies
    r = cli("--home", str(home), "check")
    assert r.exit_code == 0, r.stdout + r.stderr
    log = json.loads(cli("--home", str(home), "log", "--json").stdout)
    actions = [e["action"] for e in log]
    for expected in ("case.import", "media.add", "derivation.add", "status.set", "report.write"):
        assert any(a.startswith(expected.split(".")[0]) for a in actions), expected
    media = json.loads(
        cli("--home", str(home), "media", "list", "belgorod-legion-video", "--json").stdout
    )
    assert [m["label"] for m in media] == ["clean original", "subtitled copy"]
    assert all("synthetic" in (m["acquired_via"] or "") for m in media)


def test_packaged_example_is_the_repository_case_file() -> None:
    """cases/ is the one to edit; the package's copy (what `verify demo` imports) follows."""
    from verify.services.demo import read_example_case

    text, label = read_example_case()
    assert label == "belgorod-legion-video.toml"
    assert text == (REPO / "cases" / label).read_text(encoding="utf-8"), (
        "cp cases/belgorod-legion-video.toml src/verify/examples/"
    )


def test_demo_with_missing_case_file_is_one_line(
    cli: RunCli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    home = tmp_path / "d"
    r = cli("demo", "--home", str(home), "--case-file", "cases/none.toml")
    assert r.exit_code == 2
    assert r.stderr == "error: cases/none.toml: cannot read: No such file or directory\n"
    assert not home.exists()  # refused before the archive was made


def test_demo_refuses_a_folder_that_is_not_new_or_empty(cli: RunCli, tmp_path: Path) -> None:
    """The demo adds synthetic media to its folder's evidence store: a real archive's home
    (a team's shared store, say) must never receive them."""
    team = tmp_path / "team"
    (team / "objects" / "sha256").mkdir(parents=True)
    r = cli("demo", "--home", str(team))
    assert (r.exit_code, r.stdout) == (2, "")
    assert r.stderr == (
        f"error: {team} is not empty; the demo adds synthetic media to its folder's evidence "
        "store, so give it a new or empty folder\n"
    )
    assert [p.name for p in team.iterdir()] == ["objects"]
    # the global --home is the demo's folder too (it built a temp archive instead), and is
    # refused alike when it holds an archive
    r = cli("--home", str(team), "demo")
    assert (r.exit_code, r.stdout) == (2, "")
    assert r.stderr.startswith(f"error: {team} is not empty; the demo adds synthetic media")
    afile = tmp_path / "afile"
    afile.write_text("x")
    r = cli("demo", "--home", str(afile))
    assert (r.exit_code, r.stderr) == (
        2,
        f"error: {afile} is not a directory; give the demo a new folder\n",
    )


@pytest.mark.slow
def test_demo_says_which_archive_it_used_and_names_an_earlier_demo(
    cli: RunCli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "demo"
    home.mkdir()  # empty: fine
    monkeypatch.setenv("VERIFY_DATABASE_URL", f"sqlite:///{tmp_path / 'team.db'}")
    first = cli("demo", "--home", str(home))
    assert first.exit_code == 0, first.stderr
    assert (
        "note: the demo's archive is this SQLite one, not VERIFY_DATABASE_URL's; to look at "
        f"it: VERIFY_DATABASE_URL= verify --home {home} case list\n"
    ) in first.stderr
    assert not (tmp_path / "team.db").exists()
    again = cli("demo", "--home", str(home))
    assert (again.exit_code, again.stderr) == (
        2,
        f"error: {home} holds an earlier demo; give the demo a new folder, or remove that one "
        "first\n",
    )
