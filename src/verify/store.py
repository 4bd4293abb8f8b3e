"""Content-addressed evidence store: never loses, never alters.

Layout follows git's loose objects: ``objects/sha256/ab/cdef…`` where the path derives
from the SHA-256 of the bytes only; the original filename is metadata, never a path.

Write protocol: open the source with O_NOFOLLOW|O_NONBLOCK and accept regular files only
(FIFOs, devices, sockets and links are refused at once, without blocking); stream it once
into a temp file in the store while hashing; fsync; make it read-only; rename into place;
fsync the directories. Only then may the caller commit the database row. A crash leaves
at worst an orphan or a temp file, which `verify check` reports as leftovers (not damage);
never a row pointing at missing bytes. Nothing removes them: an orphan may be evidence whose
row a restored older database lacks (adding the file again records it), and a temp file is
safe to delete by hand. An object found missing when the same bytes are added again is
stored again; one found damaged is replaced by them once the caller has recorded that
(`put_file`, then `restore`, which keeps the damaged copy under `objects/damaged/`).
"""

import contextlib
import errno
import hashlib
import os
import stat
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from verify.errors import BadInputError, IntegrityFailure

CHUNK = 1 << 20
SHA256_HEX_LEN = 64


class ObjectProblem(IntegrityFailure):
    """A stored object that is not what the archive recorded: `problem` is 'missing',
    'hash-mismatch' or 'unreadable'; the message says it in one line."""

    def __init__(self, problem: str, message: str) -> None:
        super().__init__(message)
        self.problem = problem


@dataclass(frozen=True)
class StoredObject:
    sha256: str
    size: int
    path: Path
    existed: bool  # the same bytes were already in the store, intact
    # the store's copy of these bytes is damaged ('hash-mismatch' or 'unreadable', as
    # `verify_object` says): these verified bytes wait in `pending` (a temp file in the
    # store) until the caller has recorded the restore, then `restore` puts them in place
    damaged: str | None = None
    pending: Path | None = None


def fsync_dir(path: Path) -> None:
    """Flush a directory's entries (a new name in it) to disk."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def open_regular_file(path: str | os.PathLike[str]) -> tuple[int, os.stat_result]:
    """Open `path` for reading if, and only if, it is a regular file (no links, FIFOs, devices).

    Returns the descriptor and its fstat. Raises BadInputError with one clear line otherwise.
    """
    p = os.fspath(path)
    if not p:
        raise BadInputError("an empty file name was given (an unset shell variable?)")
    try:
        fd = os.open(p, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        if os.path.islink(p):
            raise BadInputError(f"{p}: is a dangling symbolic link") from None
        raise BadInputError(f"{p}: no such file") from None
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            if not os.path.exists(p):
                raise BadInputError(f"{p}: is a dangling symbolic link") from None
            raise BadInputError(f"{p}: is a symbolic link; pass the file it points to") from None
        if exc.errno == errno.ENXIO:  # a socket or a FIFO without a writer
            raise BadInputError(f"{p}: not a regular file") from None
        raise BadInputError(f"{p}: cannot open: {exc.strerror}") from None
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode):
        os.close(fd)
        what = "a directory" if stat.S_ISDIR(st.st_mode) else "not a regular file"
        raise BadInputError(f"{p}: {what}; only regular files can be preserved")
    os.set_blocking(fd, True)
    return fd, st


def hash_file(path: str | os.PathLike[str]) -> tuple[str, int]:
    """SHA-256 hex and size of a regular file, streamed."""
    fd, _ = open_regular_file(path)
    digest = hashlib.sha256()
    size = 0
    with os.fdopen(fd, "rb") as fh:
        while chunk := fh.read(CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


# errors of the store's own disk, reported as one line (bad input: choose another --home or
# free space), not as an internal error
_STORE_ERRNOS = {errno.EROFS, errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EACCES, errno.EPERM}


class ObjectStore:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.base = root / "sha256"

    def path_for(self, sha256: str) -> Path:
        if len(sha256) != SHA256_HEX_LEN or any(c not in "0123456789abcdef" for c in sha256):
            raise BadInputError(f"not a SHA-256 hex digest: {sha256!r}")
        return self.base / sha256[:2] / sha256[2:]

    def put_file(self, source: str | os.PathLike[str]) -> StoredObject:
        """Copy `source` into the store, hashing while copying (one read)."""
        fd, before = open_regular_file(source)
        try:
            self.base.mkdir(parents=True, exist_ok=True)
            tmp_fd, tmp_name = tempfile.mkstemp(prefix="tmp-", dir=self.base)
        except OSError as exc:
            os.close(fd)
            raise self._cannot_write(source, exc) from exc
        tmp = Path(tmp_name)
        try:
            digest = hashlib.sha256()
            size = 0
            with os.fdopen(fd, "rb") as src, os.fdopen(tmp_fd, "wb") as dst:
                while chunk := src.read(CHUNK):
                    digest.update(chunk)
                    dst.write(chunk)
                    size += len(chunk)
                dst.flush()
                os.fsync(dst.fileno())
                after = os.fstat(src.fileno())
            if (after.st_size, after.st_mtime_ns) != (before.st_size, before.st_mtime_ns) or (
                size != before.st_size
            ):
                raise BadInputError(
                    f"{os.fspath(source)}: the file changed while it was being copied "
                    "(still downloading?); nothing was stored"
                )
            sha = digest.hexdigest()
            final = self.path_for(sha)
            problem = self.verify_object(sha)  # a copy already here is read through
            if problem is None:
                tmp.unlink()
                return StoredObject(sha, size, final, existed=True)
            os.chmod(tmp, 0o444)
            if problem != "missing":  # replaced only once the restore is recorded
                return StoredObject(sha, size, final, False, damaged=problem, pending=tmp)
            final.parent.mkdir(parents=True, exist_ok=True)
            os.replace(tmp, final)
            fsync_dir(final.parent)
            fsync_dir(self.base)
            return StoredObject(sha, size, final, existed=False)
        except BaseException as exc:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
            if isinstance(exc, OSError) and exc.errno in _STORE_ERRNOS:
                raise self._cannot_write(source, exc) from exc
            raise

    def set_aside_path(self, sha256: str, at: str) -> Path:
        """Where `restore` keeps a damaged copy it replaces (`objects/damaged/`, outside
        the objects `verify check` walks): the trace of what happened to it."""
        return self.root / "damaged" / f"{sha256}.{at}"

    def restore(self, stored: StoredObject, aside: Path) -> None:
        """Put the verified bytes of `stored.pending` in place of the damaged copy, which is
        moved to `aside` (kept, not deleted). Called once the restore is recorded. If the
        copy is intact by now (another command restored it), the pending bytes are dropped."""
        assert stored.pending is not None
        if self.verify_object(stored.sha256) is None:
            stored.pending.unlink(missing_ok=True)
            return
        aside.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.rename(stored.path, aside)
        except FileNotFoundError:
            pass
        except NotADirectoryError:  # a file where its folder (`sha256/ab/`) should be
            os.rename(stored.path.parent, aside)
        stored.path.parent.mkdir(parents=True, exist_ok=True)
        os.replace(stored.pending, stored.path)
        fsync_dir(stored.path.parent)
        fsync_dir(aside.parent)

    def _cannot_write(self, source: str | os.PathLike[str], exc: OSError) -> BadInputError:
        """The store itself cannot take the file (read-only, full, no permission)."""
        return BadInputError(
            f"{os.fspath(source)}: cannot be stored in {self.root}: {exc.strerror or exc}; "
            "nothing was stored"
        )

    def copy_out(self, sha256: str, directory: Path) -> Path:
        """Copy an object into a new temporary file in `directory` (name `.verify-copy-*`,
        flushed to disk), checking its SHA-256 as it streams. The caller renames the file
        into place or removes it. An object that is missing, not a regular file, unreadable
        or altered raises IntegrityFailure (`check_intact`); an error writing `directory` is
        an OSError. Either way nothing is left behind."""
        tmp_fd, tmp_name = tempfile.mkstemp(prefix=".verify-copy-", dir=directory)
        tmp = Path(tmp_name)
        try:
            with os.fdopen(tmp_fd, "wb") as dst:
                self.check_intact(sha256, dst.write)
                dst.flush()
                os.fsync(dst.fileno())
            return tmp
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
            raise

    def check_intact(self, sha256: str, sink: Callable[[bytes], object] | None = None) -> None:
        """Read an object through, checking that it still has its SHA-256 (and giving its
        bytes to `sink`, if any, as they are read). IntegrityFailure, one line, when it is
        missing, not a regular file, unreadable or altered."""
        source = self.path_for(sha256)
        where = f"the stored file sha256:{sha256}"
        try:
            # no symlinks; O_NONBLOCK: a FIFO put in its place must not hang the command
            fd = os.open(source, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
        except FileNotFoundError:
            raise ObjectProblem(
                "missing",
                f"{where} is not in the evidence store {self.root} (deleted, or this "
                "archive's files are kept in another folder: see --home and VERIFY_HOME)",
            ) from None
        except OSError as exc:
            raise ObjectProblem(
                "unreadable", f"{where} cannot be read: {exc.strerror or exc}"
            ) from exc
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            os.close(fd)
            raise ObjectProblem("unreadable", f"{where} is not a regular file")
        with os.fdopen(fd, "rb") as src:
            digest = hashlib.sha256()
            while True:
                try:
                    chunk = src.read(CHUNK)
                except OSError as exc:
                    raise ObjectProblem(
                        "unreadable", f"{where} cannot be read: {exc.strerror or exc}"
                    ) from exc
                if not chunk:
                    break
                digest.update(chunk)
                if sink is not None:
                    sink(chunk)
        if digest.hexdigest() != sha256:
            raise ObjectProblem(
                "hash-mismatch",
                f"{where} no longer has that SHA-256 (it reads as sha256:{digest.hexdigest()}): "
                "it was altered or damaged",
            )

    def verify_object(self, sha256: str) -> str | None:
        """None when the object is present and intact, else what is wrong with it:
        'missing', 'hash-mismatch' or 'unreadable' (not a regular file, a symbolic link, or
        an error reading it). The same verdict as `check_intact`, which says it in words."""
        try:
            self.check_intact(sha256)
        except ObjectProblem as exc:
            return exc.problem
        return None

    def iter_objects(self) -> Iterator[str]:
        """Every object id in the store: each `sha256/ab/cdef…` named as the store names
        them (not temp files, nor the `iter_stray` entries)."""
        for sub in self._fanout():
            for obj in sorted(sub.iterdir()):
                if _is_hex(obj.name, SHA256_HEX_LEN - 2):
                    yield sub.name + obj.name

    def iter_temp(self) -> Iterator[Path]:
        if self.base.is_dir():
            yield from sorted(p for p in self.base.glob("tmp-*") if _is_plain_file(p))

    def iter_stray(self) -> Iterator[Path]:
        """What is in the store but was not put there by it: a name that is no object's (a
        file in `sha256/`, a folder other than two hex digits, a name in `sha256/ab/` that
        is not the other 62 digits), or an entry of `objects/` other than `sha256/` and
        `damaged/`. Not walked into: the entry itself is listed."""
        if self.root.is_dir():
            yield from sorted(p for p in self.root.iterdir() if p.name not in _ROOT_NAMES)
        if not self.base.is_dir():
            return
        fanout = set(self._fanout())
        for entry in sorted(self.base.iterdir()):
            if entry in fanout:
                yield from sorted(
                    o for o in entry.iterdir() if not _is_hex(o.name, SHA256_HEX_LEN - 2)
                )
            elif not (entry.name.startswith("tmp-") and _is_plain_file(entry)):
                yield entry

    def _fanout(self) -> list[Path]:
        """The store's `sha256/ab/` folders (two hex digits, a real folder)."""
        if not self.base.is_dir():
            return []
        return sorted(
            sub
            for sub in self.base.iterdir()
            if _is_hex(sub.name, 2) and sub.is_dir() and not sub.is_symlink()
        )


_ROOT_NAMES = frozenset({"sha256", "damaged"})


def _is_plain_file(path: Path) -> bool:
    """A regular file itself, not a link to one (what the store's temp files are)."""
    return path.is_file() and not path.is_symlink()


def _is_hex(name: str, length: int) -> bool:
    return len(name) == length and all(c in "0123456789abcdef" for c in name)
