"""Hermetic test set-up: a temp archive home per test, no network, no user config.

TYPER_USE_RICH must be set before the app is imported (typer reads it at import time);
rich error panels wrap at 80 columns and break exact-output assertions.
"""

import os

os.environ["TYPER_USE_RICH"] = "0"
os.environ["TERMINAL_WIDTH"] = "200"

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from verify.archive import Archive, open_archive

REPO = Path(__file__).resolve().parent.parent


def corpus_dir() -> Path | None:
    """The shared real-media corpus: $VERIFY_CORPUS, else ../shared/corpus beside the repo."""
    env = os.environ.get("VERIFY_CORPUS")
    path = Path(env) if env else REPO.parent / "shared" / "corpus"
    return path if (path / "inventory.csv").is_file() else None


@pytest.fixture
def corpus() -> Path:
    path = corpus_dir()
    if path is None:
        pytest.skip(
            "real-media corpus absent: set VERIFY_CORPUS or put shared/corpus beside the repository"
        )
    return path


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    h = tmp_path / "archive"
    monkeypatch.setenv("VERIFY_HOME", str(h))
    monkeypatch.setenv("VERIFY_USER", "tester")
    monkeypatch.delenv("VERIFY_DATABASE_URL", raising=False)
    monkeypatch.delenv("VERIFY_FAKE_NOW", raising=False)
    return h


@pytest.fixture
def archive(home: Path) -> Iterator[Archive]:
    a = open_archive(home, actor="tester")
    yield a
    a.close()


RunCli = Callable[..., Result]


@pytest.fixture
def cli(home: Path) -> RunCli:
    """Run the CLI in-process: cli("case", "list", "--json") -> Result (stdout, stderr, code)."""
    from verify.cli import app

    runner = CliRunner()

    def run(*args: str, input: str | None = None) -> Result:
        return runner.invoke(app, list(args), input=input, catch_exceptions=False)

    return run
