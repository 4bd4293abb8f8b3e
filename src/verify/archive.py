"""An archive = a database URL + an evidence store directory.

Resolution order:
- home: ``--home`` > ``VERIFY_HOME`` > the platform user-data dir (platformdirs);
- database: ``VERIFY_DATABASE_URL`` > ``sqlite:///<home>/verify.db``;
- evidence store: ``<home>/objects``;
- actor: ``--as`` > ``VERIFY_USER`` > git's ``user.name`` > the OS login.

No module-level state: every service takes an `Archive` explicitly, so tests (and a
future server) can hold several at once.
"""

import contextlib
import getpass
import os
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy.engine import Engine
from sqlmodel import Session

from verify.errors import BadInputError

if TYPE_CHECKING:
    from verify.store import ObjectStore


def default_home() -> Path:
    env = os.environ.get("VERIFY_HOME")
    if env:
        return Path(env).expanduser()
    import platformdirs

    return Path(platformdirs.user_data_dir("verify", appauthor=False))


def resolve_actor(explicit: str | None = None) -> str:
    """Who is making the change: --as, VERIFY_USER, git user.name, OS login."""
    for candidate in (explicit, os.environ.get("VERIFY_USER")):
        if candidate and candidate.strip():
            return candidate.strip()
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
    actor: str
    _engine: Engine | None = field(default=None, repr=False)

    @property
    def objects_dir(self) -> Path:
        return self.home / "objects"

    @cached_property
    def store(self) -> "ObjectStore":
        from verify.store import ObjectStore

        return ObjectStore(self.objects_dir)

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            from verify.db import make_engine

            self._engine = make_engine(self.database_url)
        return self._engine

    @contextlib.contextmanager
    def write(self) -> Iterator[Session]:
        """A short BEGIN IMMEDIATE transaction. No hashing or decoding inside."""
        from verify.db import write_session

        with write_session(self.engine) as session:
            yield session

    @contextlib.contextmanager
    def read(self) -> Iterator[Session]:
        from verify.db import read_session

        with read_session(self.engine) as session:
            yield session

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

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
    if create:
        try:
            home_path.mkdir(parents=True, exist_ok=True)
            (home_path / "objects").mkdir(exist_ok=True)
        except OSError as exc:
            raise BadInputError(
                f"cannot create the archive at {home_path}: {exc.strerror or exc}; "
                "choose another with --home or VERIFY_HOME"
            ) from exc
        if not os.access(home_path, os.W_OK | os.X_OK):
            raise BadInputError(
                f"the archive home {home_path} is not writable; "
                "choose another with --home or VERIFY_HOME"
            )
    if not url:
        url = f"sqlite:///{home_path / 'verify.db'}"
    archive = Archive(home=home_path, database_url=url, actor=resolve_actor(actor))
    from verify.db import migrate

    try:
        migrate(archive.engine)
    except Exception as exc:
        from sqlalchemy.exc import OperationalError

        if isinstance(exc, OperationalError) and "unable to open database" in str(exc):
            raise BadInputError(f"cannot open the database {url}: {exc.orig}") from exc
        if isinstance(exc, OperationalError) and "locked" in str(exc):
            from verify.errors import BusyError

            raise BusyError(
                "the archive is busy (another verify process holds it); try again"
            ) from exc
        raise
    return archive
