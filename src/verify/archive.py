"""An archive = a database URL + an evidence store directory.

Resolution order:
- home: ``--home`` > ``VERIFY_HOME`` > the platform user-data dir (platformdirs);
- database: ``VERIFY_DATABASE_URL`` > ``sqlite:///<home>/verify.db``;
- evidence store: ``<home>/objects``;
- actor: ``--as`` > ``VERIFY_USER`` > git's ``user.name`` > the OS login; resolved when a
  change is first recorded (`Archive.actor`), so read-only commands never run git.

An existing SQLite archive whose home cannot be written (write-protected media, a read-only
mount of an evidence drive) is opened read-only (`Archive.read_only`): every command that
only reads works; one that would change it is refused before it does anything.

No module-level state: every service takes an `Archive` explicitly, so tests (and a
future server) can hold several at once.
"""

import contextlib
import getpass
import os
import shutil
import subprocess
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from verify.errors import BadInputError, BusyError, IntegrityFailure, VerifyError

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine
    from sqlalchemy.exc import DatabaseError
    from sqlmodel import Session

    from verify.db import ForeignDatabase
    from verify.dbread import Reader
    from verify.dbwrite import Writer
    from verify.store import ObjectStore


def default_home() -> Path:
    env = os.environ.get("VERIFY_HOME")
    if env:
        return Path(env).expanduser()
    import platformdirs

    return Path(platformdirs.user_data_dir("verify", appauthor=False))


def resolve_actor(explicit: str | None = None) -> str:
    """Who is making the change: --as, VERIFY_USER, git user.name, OS login."""
    return given_actor(explicit) or _default_actor()


# VERIFY_USER set to nothing (`VERIFY_USER=$REPORTER` with REPORTER unset): refused, as
# `--as ""` is, rather than recording git's user.name or the login, someone else's name
EMPTY_VERIFY_USER = (
    "VERIFY_USER is empty: set it to who is acting (a name or handle), or unset it to "
    "record git's user.name or the login"
)


def given_actor(explicit: str | None = None) -> str | None:
    """The actor named by --as or VERIFY_USER (checked), or None: cheap, spawns nothing.
    VERIFY_USER set but blank is refused (`EMPTY_VERIFY_USER`) when it would be used."""
    env = os.environ.get("VERIFY_USER")
    for candidate in (explicit, env):
        if candidate and "\x00" in candidate:
            raise BadInputError("the actor name contains a NUL character; remove it")
        if candidate and candidate.strip():
            return candidate.strip()
    if env is not None:
        raise BadInputError(EMPTY_VERIFY_USER)
    return None


def _default_actor() -> str:
    """git's user.name, else the OS login (runs `git config`: only when writing)."""
    git = shutil.which("git")
    if git:
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            out = subprocess.run(
                [git, "config", "user.name"],
                capture_output=True,
                text=True,
                timeout=2,
                check=False,
            )
            if out.returncode == 0 and out.stdout.strip():
                return out.stdout.strip()
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


@dataclass
class Archive:
    """Handle on one archive. Create with `open_archive`."""

    home: Path
    database_url: str
    # --as / VERIFY_USER, already checked; None falls back to git user.name / the login
    given_actor: str | None = None
    # opened read-only: the home cannot be written (see the module docstring)
    read_only: bool = False
    # this open created the archive (an empty database, now at the current schema)
    created: bool = False
    _engine: "Engine | None" = field(default=None, repr=False)

    @cached_property
    def actor(self) -> str:
        """Who records changes. Resolved on first use: only writing commands run git."""
        return self.given_actor or _default_actor()

    def location(self) -> str:
        """Where the archive is, as a person would look for it: its home, and on a server
        also the database (password hidden)."""
        if self.database_url.startswith("sqlite"):
            return str(self.home)
        from sqlalchemy.engine import make_url

        db = make_url(self.database_url).render_as_string(hide_password=True)
        return f"{self.home} (database {db})"

    @property
    def objects_dir(self) -> Path:
        return self.home / "objects"

    @cached_property
    def store(self) -> "ObjectStore":
        from verify.store import ObjectStore

        return ObjectStore(self.objects_dir)

    @property
    def engine(self) -> "Engine":
        if self._engine is None:
            from verify.db import make_engine

            self._engine = make_engine(self.database_url)
        return self._engine

    def require_writable(self) -> None:
        """Refuse a change to a read-only archive (before anything is done)."""
        if self.read_only:
            raise BadInputError(
                f"the archive {self.home} is read-only (its folder cannot be written), so this "
                "command, which changes it, cannot run; copy the archive to a writable place "
                "(cp -a) and use the copy with --home"
            )

    @contextlib.contextmanager
    def write(self) -> "Iterator[Session]":
        """A short BEGIN IMMEDIATE transaction. No hashing or decoding inside."""
        from verify.db import write_session

        self.require_writable()

        with write_session(self.engine) as session:
            yield session

    @contextlib.contextmanager
    def read(self) -> "Iterator[Session]":
        from verify.db import read_session

        with read_session(self.engine) as session:
            yield session

    @contextlib.contextmanager
    def reader(self) -> "Iterator[Reader]":
        """One read transaction as plain SQL rows (`verify.dbread`; the search path)."""
        from verify.db import read_connection
        from verify.dbread import SqlAlchemyReader

        with read_connection(self.engine) as conn:
            yield SqlAlchemyReader(conn)

    @contextlib.contextmanager
    def writer(self) -> "Iterator[Writer]":
        """A short write transaction as plain rows (`verify.dbwrite`; the intake path)."""
        from verify.db import write_connection
        from verify.dbwrite import SqlAlchemyWriter

        self.require_writable()

        with write_connection(self.engine) as conn:
            yield SqlAlchemyWriter(conn)

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    def refuse_own_path(self, target: Path, what: str) -> None:
        """Refuse (BadInputError, before anything is written) an output `target` — a file
        a command writes or replaces, or a folder it writes into — inside the evidence store
        or the frame index, or over the database (`verify.outputs`)."""
        from verify.outputs import refuse_own_path

        folders = {"evidence store": self.objects_dir, "frame index": self.home / "index"}
        refuse_own_path(target, what, folders=folders, database=self.database_file())

    def database_file(self) -> Path | None:
        """The SQLite database file, or None for PostgreSQL (or an in-memory database)."""
        if not self.is_sqlite:
            return None
        from urllib.parse import unquote

        from sqlalchemy.engine import make_url

        name = make_url(self.database_url).database or ""
        if name.startswith("file:"):  # the read-only URI form (`sqlite_url(read_only=True)`)
            name = unquote(name.removeprefix("file:").split("?", 1)[0])
        return Path(name) if name and name != ":memory:" else None

    def record_output(
        self,
        action: str,
        entries: "Sequence[tuple[str | None, dict[str, Any]]]",
        *,
        also: "Callable[[Session], object] | None" = None,
    ) -> int | None:
        """Record files written *from* the archive (a report, a case file, copies of preserved
        files or frames: `audit.OUTPUT_ACTIONS`): one `action` entry per (case slug,
        payload), in one transaction, with `also(session)` if given (what else the output
        keeps). Returns the last entry's seq, or None on a read-only archive, where nothing
        can be recorded (the CLI says so)."""
        if self.read_only:
            return None
        from verify import audit

        seq = None
        with self.write() as session:
            for case, payload in entries:
                entry = audit.append(
                    session, actor=self.actor, action=action, case=case, payload=payload
                )
                seq = entry.seq
            if also is not None:
                also(session)
        return seq

    def close(self) -> None:
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None


def open_archive(
    home: str | os.PathLike[str] | None = None,
    *,
    database_url: str | None = None,
    actor: str | None = None,
    create: bool = True,
) -> Archive:
    """Open (creating and migrating as needed) the archive at `home`."""
    home_path = Path(home).expanduser() if home is not None else default_home()
    url = database_url or os.environ.get("VERIFY_DATABASE_URL") or ""
    if url.startswith("postgres://"):  # libpq's short form, which SQLAlchemy does not take
        url = "postgresql://" + url[len("postgres://") :]
    if url:
        check_database_url(url)  # before creating anything
    if home_path.exists() and not home_path.is_dir():
        raise BadInputError(
            f"the archive home {home_path} is not a directory; "
            "choose another with --home or VERIFY_HOME"
        )
    from verify.dbread import holds_archive, writable

    read_only = False
    if create and not url and holds_archive(home_path) and not writable(home_path):
        read_only = True  # an archive on read-only media: read it, change nothing
    # a server's database is opened first, so that a URL that fails creates nothing; a
    # SQLite database (usually in the home) needs its folder first
    server = url.startswith("postgresql")
    # what this open creates, removed again if the database is refused as another's
    made = [p for p in (home_path, home_path / "objects") if not p.exists()]
    if create and not read_only and not server:
        _make_home(home_path)
    if not url:
        url = sqlite_url(home_path / "verify.db", read_only=read_only)
    archive = Archive(
        home=home_path, database_url=url, given_actor=given_actor(actor), read_only=read_only
    )
    from sqlalchemy.exc import DatabaseError

    from verify.db import ForeignDatabase, NewerSchema, migrate

    try:
        if read_only:
            _check_head(archive)
        else:
            archive.created = migrate(archive.engine)
    except (ForeignDatabase, NewerSchema) as exc:
        archive.close()
        for folder in reversed(made):
            with contextlib.suppress(OSError):
                folder.rmdir()  # only if still empty
        if isinstance(exc, NewerSchema):
            raise
        raise _foreign(
            url, exc, configured=bool(database_url or os.environ.get("VERIFY_DATABASE_URL"))
        ) from None
    except DatabaseError as exc:
        archive.close()
        error = _open_error(url, exc)
        if error is None:
            raise
        if read_only and isinstance(error, BadInputError):
            # typically a WAL file of changes without the shared-memory file SQLite needs
            # to read it, which it cannot create here
            reason = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
            raise BadInputError(
                f"cannot read the read-only archive {home_path} ({reason}); copy it, "
                "with any verify.db-wal and verify.db-shm files beside verify.db, to a "
                "writable place (cp -a) and open the copy with --home"
            ) from exc
        raise error from exc
    if create and server:
        try:
            _make_home(home_path)  # only once the database is known to open
        except BadInputError:
            archive.close()
            raise
    return archive


def _make_home(home_path: Path) -> None:
    """Create the home and its evidence store folder, or refuse it as bad input."""
    from verify.dbread import writable

    try:
        home_path.mkdir(parents=True, exist_ok=True)
        (home_path / "objects").mkdir(exist_ok=True)
    except OSError as exc:
        raise BadInputError(
            f"cannot create the archive at {home_path}: {exc.strerror or exc}; "
            "choose another with --home or VERIFY_HOME"
        ) from exc
    if not writable(home_path):
        raise BadInputError(
            f"the archive home {home_path} is not writable; "
            "choose another with --home or VERIFY_HOME"
        )


def sqlite_url(db: Path, *, read_only: bool = False) -> str:
    """The SQLAlchemy URL of the SQLite database file `db`, escaped so that any path works
    (`?`, `#` and `%` in a folder name were read as URL syntax: a home named `w?x` put its
    database at `w`). Read-only: the `readonly_uri` form, passed to SQLite as a URI."""
    from sqlalchemy.engine import URL

    if read_only:
        from verify.dbread import readonly_uri

        built = URL.create("sqlite", database=readonly_uri(db), query={"uri": "true"})
    else:
        built = URL.create("sqlite", database=str(db))
    return built.render_as_string(hide_password=False)


def _foreign(url: str, exc: "ForeignDatabase", *, configured: bool) -> BadInputError:
    """The refusal of a database that holds another application's tables (`db.migrate`):
    what was found there, and where to point instead."""
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    shown = exc.tables[:5]
    more = len(exc.tables) - len(shown)
    names = ", ".join(shown) + (f" and {more} more" if more else "")
    count = f"{len(exc.tables)} table{'s' if len(exc.tables) != 1 else ''} ({names})"
    if parsed.get_backend_name() == "sqlite":
        where = parsed.database or url
        found = f"the database {where} is not a verify archive: it holds {count}"
        instead = (
            "point VERIFY_DATABASE_URL at a verify archive or a new file"
            if configured
            else "choose another --home (or VERIFY_HOME) for the archive"
        )
    else:
        where = parsed.render_as_string(hide_password=True)
        found = (
            f"the database {where} is not a verify archive: its schema {exc.schema} holds {count}"
        )
        instead = (
            "point VERIFY_DATABASE_URL at a verify archive or an empty database, or give the "
            "archive a schema of its own (CREATE SCHEMA verify, then add "
            "?options=-csearch_path%3Dverify to the URL)"
        )
    return BadInputError(f"{found} and none of verify's; nothing was created in it: {instead}")


def _check_head(archive: Archive) -> None:
    """A read-only archive cannot be migrated: it must already be at the current schema."""
    from verify.db import check_known, current_revision, foreign_tables
    from verify.dbread import SCHEMA_HEAD

    revision = current_revision(archive.engine)
    if revision != SCHEMA_HEAD and (foreign := foreign_tables(archive.engine, revision)):
        raise foreign  # refused as in `migrate`
    if revision != SCHEMA_HEAD:
        # a newer verify's: refused as in `migrate` (the engine's URL is the read-only form)
        check_known(archive.engine, revision, str(archive.home / "verify.db"))
        archive.close()
        raise BadInputError(
            f"the archive {archive.home} is read-only and was written by another version of "
            f"verify (schema {revision or 'none'}, this version uses {SCHEMA_HEAD}); copy it "
            "to a writable place (cp -a) and open the copy with --home"
        )


def check_database_url(url: str) -> None:
    """Refuse a URL that is not SQLite or PostgreSQL (with its driver) as bad input."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    hint = "use sqlite:///PATH or postgresql+psycopg://USER@HOST:PORT/DB"
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise BadInputError(f"bad database URL {url!r}; {hint}") from None
    if parsed.get_backend_name() not in ("sqlite", "postgresql"):
        shown = parsed.render_as_string(hide_password=True)
        raise BadInputError(f"unsupported database {shown}; {hint}")
    if parsed.get_backend_name() == "postgresql":
        try:
            parsed.get_dialect().import_dbapi()
        except (ImportError, ArgumentError):  # NoSuchModuleError is an ArgumentError
            raise BadInputError(
                f"no driver {parsed.drivername} installed; for PostgreSQL use "
                "postgresql+psycopg://… and pip install 'verify[postgres]'"
            ) from None


def _open_error(url: str, exc: "DatabaseError") -> VerifyError | None:
    """The typed, one-line error for a driver error met while opening the database.

    None for anything not recognised (a bug, e.g. in a migration): that stays an internal
    error with a traceback under VERIFY_DEBUG.
    """
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import OperationalError

    reason = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        where = parsed.database or url
    else:
        where = parsed.render_as_string(hide_password=True)
    if "locked" in reason or "lock timeout" in reason:
        return BusyError("the archive is busy (another verify process holds it); try again")
    if "not a database" in reason or "malformed" in reason:
        return IntegrityFailure(
            f"the database {where} is corrupt or not a verify archive ({reason}); "
            "restore it from a backup or choose another --home"
        )
    if isinstance(exc, OperationalError):  # cannot open the file, connection refused, ...
        return BadInputError(f"cannot open the database {where}: {reason}")
    if "invalid connection option" in reason or "invalid dsn" in reason:
        return BadInputError(
            f"bad database URL {where}: {reason}; a schema is chosen with "
            "?options=-csearch_path%3DSCHEMA"
        )
    # by SQLSTATE (invalid_schema_name), not by the message, which the server may translate
    if getattr(exc.orig, "sqlstate", None) == "3F000":
        return BadInputError(
            f"the database {where} has no schema for the archive: the schema its search_path "
            "names does not exist; create it first (CREATE SCHEMA name) or fix the URL"
        )
    return None
