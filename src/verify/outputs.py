"""Files that commands write out of the archive (`report -o`, `case export -o`, `media
export -o`, `media frames --export`): never inside the archive's own files, and written
atomically.

`refuse_own_path` compares file identities (device and inode), not path strings: a second
path to the same folder (a bind mount, a link, another spelling on a case-insensitive file
system) is the same folder. Pointed at a preserved object or at the database, `-o` would
otherwise replace it (a rename ignores the object's read-only mode).
"""

import contextlib
import os
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path

from verify.errors import BadInputError

DATABASE_SIDE_FILES = ("-wal", "-shm", "-journal")


def _stat(path: Path) -> os.stat_result | None:
    try:
        return os.stat(path)
    except (OSError, ValueError):  # missing, a loop, unreadable, a NUL in the name
        return None


def _existing_ancestors(target: Path) -> Iterator[os.stat_result]:
    """The identity of `target` (if it exists) and of each folder above it that exists,
    along the path as written and along the path with its links resolved."""
    for spelt in {os.path.abspath(target), os.path.realpath(target)}:
        path = Path(spelt)
        for candidate in (path, *path.parents):
            found = _stat(candidate)
            if found is not None:
                yield found


def refuse_own_path(
    target: Path,
    what: str,
    *,
    folders: dict[str, Path],
    database: Path | None,
) -> None:
    """BadInputError (before anything is written) when `target` — a file a command writes
    or replaces, or a folder it writes into — is inside one of `folders` (name: folder, e.g.
    the evidence store) or is the SQLite `database` or one of its side files."""
    given = target.expanduser()
    own = {name: _stat(folder) for name, folder in folders.items()}
    for found in _existing_ancestors(given):
        for name, folder_stat in own.items():
            if folder_stat is not None and os.path.samestat(found, folder_stat):
                raise BadInputError(
                    f"{target} is inside the archive's {name} ({folders[name]}); {what} elsewhere"
                )
    if database is None:
        return
    # the database or a side file by identity (a hard link included), or by name in its
    # folder (a side file SQLite has not created yet; any case: case-insensitive systems)
    own_files = [_stat(Path(f"{database}{side}")) for side in ("", *DATABASE_SIDE_FILES)]
    target_stat = _stat(given)
    same_file = target_stat is not None and any(
        f is not None and os.path.samestat(target_stat, f) for f in own_files
    )
    parent_stat = _stat(Path(os.path.abspath(given)).parent)
    database_dir = _stat(database.parent)
    names = {(database.name + side).casefold() for side in ("", *DATABASE_SIDE_FILES)}
    same_name = (
        parent_stat is not None
        and database_dir is not None
        and os.path.samestat(parent_stat, database_dir)
        and given.name.casefold() in names
    )
    if same_file or same_name:
        raise BadInputError(f"{target} is the archive's database ({database}); {what} elsewhere")


def _write_through(target: Path, content: bytes) -> Path:
    """Write `content` into what is at `target` (a device or a named pipe), as a shell's
    `>` would: there is no file to replace."""
    try:
        with open(target, "wb") as fh:
            fh.write(content)
            fh.flush()
    except OSError as exc:
        raise BadInputError(f"cannot write {target}: {exc.strerror or exc}") from exc
    return Path(os.path.abspath(target))


def write_atomically(output: Path, content: bytes, *, prefix: str) -> Path:
    """Write `content` to `output` through a new temp file in the same folder (created
    exclusively: a link planted at a predictable name is never followed), flushed, then
    renamed over `output`. BadInputError, one line, when it cannot be written; nothing is
    left behind. Returns the resolved path."""
    target = output.expanduser()
    parent = target.parent if str(target.parent) else Path(".")
    if target.is_dir():
        raise BadInputError(f"{target} is a directory; give a file name with -o")
    if not parent.is_dir():
        raise BadInputError(f"cannot write {target}: the directory {parent} does not exist")
    try:
        kind = target.stat().st_mode
    except OSError:
        kind = None  # no such file (or a dangling link): a new file
    if kind is not None and not stat.S_ISREG(kind):
        # /dev/null, /dev/stdout, a named pipe: written to, never renamed over (as root,
        # a rename replaced /dev/null itself with a regular file)
        return _write_through(target, content)
    try:
        fd, tmp_name = tempfile.mkstemp(prefix=prefix, dir=parent)
    except OSError as exc:
        raise BadInputError(f"cannot write {target}: {exc.strerror or exc}") from exc
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(content)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp_name, 0o644)
        os.replace(tmp_name, target)
    except OSError as exc:
        Path(tmp_name).unlink(missing_ok=True)
        raise BadInputError(f"cannot write {target}: {exc.strerror or exc}") from exc
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
    with contextlib.suppress(OSError, RuntimeError):
        return target.resolve()
    return Path(os.path.abspath(target))
