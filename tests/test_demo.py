"""`verify demo`: the README's main job, end to end, in a throwaway archive."""

import json
from pathlib import Path

import pytest

from tests.conftest import REPO, RunCli


@pytest.mark.slow
def test_demo_end_to_end(cli: RunCli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(REPO)  # the demo imports cases/belgorod-legion-video.toml
    home = tmp_path / "demo"
    r = cli("demo", "--home", str(home), "--json")
    assert r.exit_code == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["case"] == "belgorod-legion-video"
    assert out["match"]["tier"] == "match"
    assert out["match"]["offset"] == 0
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


def test_demo_without_case_file_is_one_line(
    cli: RunCli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    r = cli("demo", "--home", str(tmp_path / "d"))
    assert r.exit_code == 2
    assert r.stderr.startswith(
        "error: cases/belgorod-legion-video.toml: example case file not found"
    )
    assert r.stderr.count("\n") == 1
