"""Hermetic test set-up: a temp archive home per test, no network, no user config.

TYPER_USE_RICH must be set before the app is imported (typer reads it at import time);
rich error panels wrap at 80 columns and break exact-output assertions.

Database backends: every test using `home` (and so `archive` and `cli`) runs on SQLite by
default. `pytest --backend=postgres` runs them all on PostgreSQL instead; a module can run
its tests on both by overriding the `backend` fixture (see tests/test_cli_cases.py). The
PostgreSQL server is `VERIFY_TEST_POSTGRES_URL` (e.g.
`postgresql+psycopg://postgres@127.0.0.1:5432/test`, exported by .ci/run when a server is
up); each test gets its own throwaway schema, dropped afterwards. Without the variable,
PostgreSQL variants skip with a reason.

Property tests (Hypothesis) are deterministic by default: the same examples on every run,
so the suite cannot go red on code that did not change. `pytest --hypothesis-profile=explore`
draws new examples each run (a failure prints the steps to turn into a test of its own).
"""

import os

os.environ["TYPER_USE_RICH"] = "0"
os.environ["TERMINAL_WIDTH"] = "200"

import contextlib
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import settings
from typer.testing import CliRunner, Result

from verify.archive import Archive, open_archive

REPO = Path(__file__).resolve().parent.parent

# no deadline in either: a loaded machine (two test workers on two cores) must not fail a test
# on timing; the same settings whether or not $CI is set
settings.register_profile("deterministic", derandomize=True, deadline=None, print_blob=True)
settings.register_profile("explore", derandomize=False, deadline=None, print_blob=True)
settings.load_profile("deterministic")


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


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--backend",
        choices=("sqlite", "postgres"),
        default="sqlite",
        help="database for tests using the `home` fixture (default sqlite; postgres needs "
        "VERIFY_TEST_POSTGRES_URL)",
    )


def postgres_url() -> str | None:
    return os.environ.get("VERIFY_TEST_POSTGRES_URL") or None


def require_postgres() -> str:
    url = postgres_url()
    if url is None:
        pytest.skip("PostgreSQL not configured: set VERIFY_TEST_POSTGRES_URL (.ci/run does)")
    return url


@contextlib.contextmanager
def postgres_schema(server_url: str) -> Iterator[str]:
    """A fresh, uniquely named schema; yields a database URL whose search_path is it."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    schema = f"verify_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(server_url, isolation_level="AUTOCOMMIT", poolclass=_null_pool())
    with admin.connect() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    url = make_url(server_url).update_query_dict({"options": f"-csearch_path={schema}"})
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def _null_pool() -> type:
    from sqlalchemy.pool import NullPool

    return NullPool


@pytest.fixture(autouse=True)
def _pinned_clock_allowed(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests pin the clock (VERIFY_FAKE_NOW) where they need fixed times: allowed in every
    test (`timeutil.check_clock`); the tests of the refusal unset the switch."""
    monkeypatch.setenv("VERIFY_ALLOW_FAKE_NOW", "1")


@pytest.fixture
def backend(request: pytest.FixtureRequest) -> str:
    """The database behind `home`; override in a module with params to run on both."""
    return str(request.config.getoption("--backend"))


@pytest.fixture
def database_url(backend: str) -> Iterator[str | None]:
    """None for SQLite under the home; a throwaway-schema URL for PostgreSQL."""
    if backend == "sqlite":
        yield None
        return
    with postgres_schema(require_postgres()) as url:
        yield url


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, database_url: str | None) -> Path:
    h = tmp_path / "archive"
    monkeypatch.setenv("VERIFY_HOME", str(h))
    monkeypatch.setenv("VERIFY_USER", "tester")
    if database_url is None:
        monkeypatch.delenv("VERIFY_DATABASE_URL", raising=False)
    else:
        monkeypatch.setenv("VERIFY_DATABASE_URL", database_url)
    monkeypatch.delenv("VERIFY_FAKE_NOW", raising=False)
    monkeypatch.delenv("VERIFY_BUSY_TIMEOUT_MS", raising=False)
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


@contextlib.contextmanager
def stdlib_reader(home: Path, backend: str) -> Iterator[Any]:
    """The archive at `home` opened read-only through stdlib sqlite3
    (`dbread.open_readonly`: the ORM-free read path), closed afterwards; skips the test on
    another backend."""
    if backend != "sqlite":
        pytest.skip("the stdlib reader is for SQLite archives")
    from verify.dbread import open_readonly

    readonly = open_readonly(home)
    assert readonly is not None
    try:
        yield readonly
    finally:
        readonly.close()
