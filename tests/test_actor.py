"""The actor name is resolved only by commands that record a change.

Falling back to git's user.name spawns `git config`, which costs a process start on every
command; read-only commands must not pay it.
"""

import json
import os
from pathlib import Path

import pytest

from tests.conftest import RunCli
from tests.media import write_jpeg

SLUG = "actor-case"


def install_fake_git(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A `git` first on PATH that records each call and answers user.name with 'git-user'."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    calls = tmp_path / "git-calls"
    git = bindir / "git"
    git.write_text(f'#!/bin/sh\necho "$@" >> {calls}\necho git-user\n')
    git.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bindir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.delenv("VERIFY_USER", raising=False)
    return calls


def test_read_only_commands_do_not_run_git(
    cli: RunCli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    photo = write_jpeg(tmp_path / "photo.jpg", seed=3)
    assert cli("--as", "setup", "case", "open", "Actor case", "--slug", SLUG).exit_code == 0
    assert cli("--as", "setup", "media", "add", SLUG, str(photo)).exit_code == 0
    calls = install_fake_git(tmp_path, monkeypatch)
    for args in (
        ("media", "list", SLUG),
        ("media", "show", "1"),
        ("search", str(photo)),
        ("dupes",),
        ("case", "list"),
        ("log",),
    ):
        r = cli(*args)
        assert r.exit_code == 0, (args, r.stderr)
        assert not calls.exists(), args
    # a change does resolve it, from git
    assert cli("note", "add", SLUG, "checked the source").exit_code == 0
    assert calls.read_text().split("\n")[:-1] == ["config user.name"]
    assert json.loads(cli("log", "--json").stdout)[-1]["actor"] == "git-user"
