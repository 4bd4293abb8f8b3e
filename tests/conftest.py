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

An archive that takes many commands to build is built once per module and copied for each
test (`Snapshots`, the `snapshots` fixture; see tests/test_state_check.py): on PostgreSQL the
copy is a database of its own, made from the built one as a template.

Property tests (Hypothesis) are deterministic by default: the same examples on every run,
so the suite cannot go red on code that did not change. `pytest --hypothesis-profile=explore`
draws new examples each run (a failure prints the steps to turn into a test of its own).
"""

import os

os.environ["TYPER_USE_RICH"] = "0"
os.environ["TERMINAL_WIDTH"] = "200"

import contextlib
import shutil
import time
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


# ------------------------------------------------------------------ archives built once


@contextlib.contextmanager
def _admin(server_url: str) -> Iterator[Any]:
    from sqlalchemy import create_engine

    engine = create_engine(server_url, isolation_level="AUTOCOMMIT", poolclass=_null_pool())
    try:
        with engine.connect() as conn:
            yield conn
    finally:
        engine.dispose()


def _database_url(server_url: str, name: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(server_url).set(database=name).render_as_string(hide_password=False)


_DATABASE_PREFIX = "verify_test_db_"
_STALE_AFTER = 12 * 3600  # s: no test run takes this long


def pytest_sessionstart(session: pytest.Session) -> None:
    """Drop the databases `Snapshots` made in runs that were killed (a timeout, a crashed
    worker) and so never dropped them: those made more than 12 hours ago."""
    from sqlalchemy.exc import OperationalError

    server = postgres_url()
    if server is None:
        return
    try:
        with _admin(server) as conn:
            names = conn.execute(
                _sql(f"SELECT datname FROM pg_database WHERE datname LIKE '{_DATABASE_PREFIX}%'")
            ).scalars()
            for name in list(names):
                made = name.removeprefix(_DATABASE_PREFIX).split("_")[0]
                if made.isdigit() and time.time() - int(made) > _STALE_AFTER:
                    conn.execute(_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    except OperationalError:
        return  # a server that is down: its tests fail on their own, saying so


class Snapshots:
    """Archives a module builds once and copies for each test that asks (building one takes
    dozens of commands; copying it, a fraction of a second). A SQLite archive is its home
    folder, copied; a PostgreSQL one is also a database, copied with CREATE DATABASE ...
    TEMPLATE (so each test gets a database of its own rather than a schema)."""

    def __init__(self, base: Path) -> None:
        self.base = base
        self.made: dict[tuple[str, str], tuple[Path, str | None]] = {}
        self.databases: list[str] = []
        self.failed: set[tuple[str, str]] = set()  # builds that raised: not tried again

    def restore(
        self, request: pytest.FixtureRequest, key: str, build: Callable[[Path], None]
    ) -> Path:
        """Put a copy of archive `key` at the test's `home`, on its `backend`, and return
        the home. The first time, `build(workdir)` makes the archive under a home of its
        own: it runs commands against $VERIFY_HOME and may leave files in `workdir`, which
        lasts as long as the module."""
        backend: str = request.getfixturevalue("backend")
        home: Path = request.getfixturevalue("home")
        monkeypatch: pytest.MonkeyPatch = request.getfixturevalue("monkeypatch")
        if (key, backend) in self.failed:
            pytest.fail(f"building archive {key!r} on {backend} failed in an earlier test")
        if (key, backend) not in self.made:
            self.failed.add((key, backend))  # until it is built
            self.made[key, backend] = self._build(key, backend, build)
            self.failed.discard((key, backend))
        source, template = self.made[key, backend]
        shutil.copytree(source, home, symlinks=True)
        if template is not None:
            server = require_postgres()
            name = self._database()
            with _admin(server) as conn:
                conn.execute(_sql(f'CREATE DATABASE "{name}" TEMPLATE "{template}"'))
            monkeypatch.setenv("VERIFY_DATABASE_URL", _database_url(server, name))
            request.addfinalizer(lambda: self.drop(name))
        return home

    def _database(self) -> str:
        # when it was made, for `pytest_sessionstart` to drop those a killed run left
        name = f"{_DATABASE_PREFIX}{int(time.time())}_{uuid.uuid4().hex[:8]}"
        self.databases.append(name)
        return name

    def _build(
        self, key: str, backend: str, build: Callable[[Path], None]
    ) -> tuple[Path, str | None]:
        folder = self.base / f"{key}-{backend}"
        folder.mkdir()
        home, template = folder / "archive", None
        with pytest.MonkeyPatch.context() as mp:
            mp.setenv("VERIFY_HOME", str(home))
            if backend == "sqlite":
                mp.delenv("VERIFY_DATABASE_URL", raising=False)
            else:
                server = require_postgres()
                template = self._database()
                with _admin(server) as conn:
                    conn.execute(_sql(f'CREATE DATABASE "{template}"'))
                mp.setenv("VERIFY_DATABASE_URL", _database_url(server, template))
            build(folder)
        return home, template

    def drop(self, *names: str) -> None:
        """Drop the databases named, or all this module made (copies before templates)."""
        server = postgres_url()
        doomed = [n for n in reversed(self.databases) if not names or n in names]
        if not doomed or server is None:
            return
        with _admin(server) as conn:
            for name in doomed:
                conn.execute(_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
                self.databases.remove(name)


def _sql(statement: str) -> Any:
    from sqlalchemy import text

    return text(statement)


@pytest.fixture(scope="module")
def snapshots(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Snapshots]:
    """This module's archives built once (see `Snapshots`)."""
    made = Snapshots(tmp_path_factory.mktemp("snapshots"))
    yield made
    made.drop()
