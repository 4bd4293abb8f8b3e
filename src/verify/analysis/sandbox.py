"""Run media parsers in a throwaway child process, so no file can take the tool down.

Why: parsers of untrusted media fail in ways `try/except` cannot catch. PyAV 18.0 segfaulted
on 14 of 564 mutated videos; an ExifRead MakerNote count of 3,000,000 in a 120-byte file
took 2 s and 43 MB and grows linearly with the count; a 194 KB PNG can declare 1.6
gigapixels. So every file is parsed by `python -m verify.analysis.worker`:

- limits set in the child before anything is parsed: RLIMIT_AS (`VERIFY_ANALYSIS_MEMORY`,
  default 2 GiB) and RLIMIT_CPU (3x the wall-clock timeout, a backstop), no core files;
- a wall-clock timeout enforced by the parent (`VERIFY_ANALYSIS_TIMEOUT`, default 60 s):
  the child's whole process group is killed;
- a fresh interpreter (exec, close_fds): no database handle, no inherited state;
- one JSON request on stdin, one JSON reply on stdout (stdout is reserved for it); the
  parent accepts only a reply of the expected shape.

Every failure (exception in the child, non-zero exit, signal, timeout, out of memory,
garbage output) becomes `verify.errors.AnalysisError` with a one-line reason such as
"timed out after 60 s" or "crashed (signal SIGSEGV)". Callers prefix the file name.
"""

import contextlib
import json
import logging
import math
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Generator, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from verify.analysis import PIPELINE, AnalysisResult, FrameHash
from verify.analysis.worker import MAX_CHILD_REPLY
from verify.errors import AnalysisError, BadInputError, VerifyError

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT = 60.0  # seconds of wall-clock time per file
DEFAULT_MEMORY = 2 << 30  # bytes of address space (RLIMIT_AS)
TIMEOUT_ENV = "VERIFY_ANALYSIS_TIMEOUT"
MEMORY_ENV = "VERIFY_ANALYSIS_MEMORY"
ANALYSE_TARGET = "verify.analysis:analyse_file"
MAX_REPLY_BYTES = MAX_CHILD_REPLY  # what the worker itself refuses to send
KINDS = ("image", "video", "other")
_UNITS = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30}


@dataclass(frozen=True)
class Limits:
    timeout: float  # wall-clock seconds
    memory: int  # RLIMIT_AS bytes

    @property
    def cpu_seconds(self) -> int:
        # Video analysis runs up to 3 busy threads (two decoders and a hashing thread), so
        # CPU time can pass the wall clock 3 times as fast: the timeout normally fires first,
        # RLIMIT_CPU only catches a child that somehow outlives its parent's watch.
        return max(1, math.ceil(3 * self.timeout) + 1)


def limits(timeout: float | None = None, memory: int | None = None) -> Limits:
    """Limits from the arguments, else the environment, else the defaults."""
    if timeout is None:
        timeout = _env_number(TIMEOUT_ENV, DEFAULT_TIMEOUT, "a number of seconds, e.g. 60")
    if memory is None:
        memory = parse_size(os.environ.get(MEMORY_ENV, "")) or DEFAULT_MEMORY
    if not (timeout > 0 and math.isfinite(timeout)):
        raise BadInputError(f"analysis timeout must be a positive number of seconds, got {timeout}")
    if memory < (256 << 20):
        raise BadInputError(
            f"analysis memory limit {memory} bytes is too small to start Python; use at least 256M"
        )
    return Limits(timeout=float(timeout), memory=int(memory))


def _env_number(name: str, default: float, what: str) -> float:
    text = os.environ.get(name, "").strip()
    if not text:
        return default
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (value > 0 and math.isfinite(value)):
        raise BadInputError(f"{name} must be {what}; got {text!r}")
    return value


def parse_size(text: str) -> int | None:
    """Bytes from "2147483648", "2G", "512M", "512MiB" (binary units); None when empty."""
    t = text.strip().upper().removesuffix("IB").removesuffix("B")
    if not t:
        return None
    unit = t[-1] if t[-1] in "KMG" else ""
    number = t[:-1] if unit else t
    try:
        value = float(number)
    except ValueError:
        raise BadInputError(
            f"{MEMORY_ENV} must be a size such as 2G or 512M; got {text.strip()!r}"
        ) from None
    return int(value * _UNITS[unit])


# ---------------------------------------------------------------------------- generic runner


def run_in_child(
    target: str,
    path: str,
    *,
    timeout: float | None = None,
    memory: int | None = None,
    **kwargs: Any,
) -> Any:
    """Call `module:function(path, **kwargs)` in a sandboxed child; return its JSON-shaped result.

    Dataclasses come back as dicts, tuples as lists, bytes as hex strings. `timeout` and
    `memory` override the environment/defaults and are not passed to the target. Raises
    AnalysisError (one-line reason) on any failure of the child.
    """
    with ChildRun(target, path, timeout=timeout, memory=memory, **kwargs) as child:
        return child.result()


class ChildRun:
    """`run_in_child` in two halves: the child starts at construction and `result()` collects
    it, so the caller can work meanwhile (`verify search FILE` loads the index while its query
    is analysed). Errors met while starting (bad limits in the environment, no process) are
    raised by `result()`, where `run_in_child` would raise them. Use as a context manager:
    leaving it kills a child still running. The timeout counts from the start."""

    def __init__(
        self,
        target: str,
        path: str,
        *,
        timeout: float | None = None,
        memory: int | None = None,
        **kwargs: Any,
    ) -> None:
        self._target, self._path = target, path
        self._proc: subprocess.Popen[bytes] | None = None
        self._error: Exception | None = None
        self._out = tempfile.TemporaryFile()  # noqa: SIM115 - closed by close()
        self._err = tempfile.TemporaryFile()  # noqa: SIM115
        try:
            self._lim = limits(timeout, memory)
            request = json.dumps(
                {"target": target, "path": os.path.abspath(path), "kwargs": kwargs}
            ).encode()
            cmd = [
                sys.executable,
                "-m",
                "verify.analysis.worker",
                str(self._lim.memory),
                str(self._lim.cpu_seconds),
            ]
            self._deadline = time.monotonic() + self._lim.timeout
            self._proc = subprocess.Popen(
                cmd,
                stdin=subprocess.PIPE,
                stdout=self._out,
                stderr=self._err,
                env=_child_env(),
                close_fds=True,
                start_new_session=True,  # its own process group: a timeout kills grandchildren
            )
        except (VerifyError, OSError) as exc:
            self._error = exc
            return
        assert self._proc.stdin is not None
        # the request is small (one JSON line): it fits the pipe buffer, no deadlock
        with contextlib.suppress(BrokenPipeError):
            self._proc.stdin.write(request)
        with contextlib.suppress(BrokenPipeError):
            self._proc.stdin.close()

    def __enter__(self) -> "ChildRun":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._proc is not None and self._proc.returncode is None:
            _kill(self._proc)
        self._out.close()
        self._err.close()

    def result(self) -> Any:
        """Wait for the child; its JSON-shaped result or AnalysisError (see `run_in_child`)."""
        if self._error is not None:
            raise self._error
        proc = self._proc
        assert proc is not None
        try:
            if not _wait_exit(proc, max(0.0, self._deadline - time.monotonic())):
                _kill(proc)
                raise AnalysisError(f"timed out after {self._lim.timeout:g} s")
        finally:
            if proc.returncode is None:  # interrupted (Ctrl-C) or the timeout path above
                _kill(proc)
        reply_bytes = _read_capped(self._out, MAX_REPLY_BYTES)
        if proc.returncode != 0 or not reply_bytes:
            _log_stderr(self._err, self._target, self._path)
        return _reply(proc.returncode, reply_bytes, self._lim)

    def analysis(self) -> AnalysisResult:
        """`result()` of an `analyse_file` child, validated and rebuilt (see `start_analysis`);
        a file whose metadata was read but whose frames were not is an AnalysisError here."""
        result = result_from_json(self.result())
        if result.error is not None:
            raise AnalysisError(result.error)
        return result


def _child_env() -> dict[str, str]:
    env = dict(os.environ)
    # The child must import the same `verify` as this process, wherever that lives.
    package_root = str(Path(__file__).resolve().parents[2])
    env["PYTHONPATH"] = os.pathsep.join(p for p in (package_root, env.get("PYTHONPATH")) if p)
    # No BLAS/OpenMP thread pools: they reserve address space against RLIMIT_AS, and the
    # pool's fork server must have no threads when it forks.
    env["OPENBLAS_NUM_THREADS"] = "1"
    env["OMP_NUM_THREADS"] = "1"
    return env


def _kill(proc: "subprocess.Popen[bytes]") -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


def _wait_exit(proc: "subprocess.Popen[bytes]", timeout: float) -> bool:
    """Wait up to `timeout` s for `proc` to exit and reap it; False if it is still running.
    On a Linux pidfd, so the wait ends when the process does (`Popen.wait(timeout)` polls
    with growing sleeps: 10-20 ms more per command)."""
    import select

    if proc.returncode is not None:
        return True
    try:
        fd = os.pidfd_open(proc.pid)
    except (AttributeError, OSError):  # no pidfd here: poll
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return False
        return True
    try:
        if proc.poll() is not None:  # reaped meanwhile (the pid may now be another's)
            return True
        waiter = select.poll()
        waiter.register(fd, select.POLLIN)
        exited = waiter.poll(max(0, math.ceil(timeout * 1000)))
    finally:
        os.close(fd)
    if not exited:
        return False
    proc.wait()  # it has exited: reaps at once
    return True


def _read_capped(fh: IO[bytes], cap: int) -> bytes:
    fh.seek(0)
    data = fh.read(cap + 1)
    if len(data) > cap:
        raise AnalysisError(f"analysis result larger than {cap >> 20} MiB; refused")
    return data


def _log_stderr(err: IO[bytes], target: str, path: str) -> None:
    err.seek(0, os.SEEK_END)
    size = err.tell()
    err.seek(max(0, size - 4096))
    tail = err.read().decode("utf-8", "replace")
    if tail.strip():
        log.debug("analysis child %s on %s, stderr tail:\n%s", target, path, tail)


def _reply(returncode: int, data: bytes, lim: Limits) -> Any:
    if returncode < 0:
        raise AnalysisError(_signal_reason(-returncode, lim))
    try:
        reply = json.loads(data) if data else None
    except (ValueError, RecursionError):  # untrusted: deeply nested JSON is not a reply
        reply = None
    if not isinstance(reply, dict) or not isinstance(reply.get("ok"), bool):
        if returncode != 0:
            raise AnalysisError(f"analysis process failed (exit status {returncode})")
        raise AnalysisError("analysis process returned no valid result")
    if not reply["ok"]:
        reason = reply.get("error")
        if not isinstance(reason, str) or not reason.strip():
            raise AnalysisError("analysis failed without a reason")
        raise AnalysisError(" ".join(reason.split())[:300])
    if returncode != 0:
        raise AnalysisError(f"analysis process failed (exit status {returncode})")
    return reply.get("result")


def _signal_reason(signum: int, lim: Limits) -> str:
    try:
        name = signal.Signals(signum).name
    except ValueError:
        name = f"signal {signum}"
    if signum == signal.SIGXCPU:
        return f"used more than {lim.cpu_seconds} s of CPU time (signal SIGXCPU)"
    if signum == signal.SIGKILL:
        return "killed (signal SIGKILL; out of memory?)"
    return f"crashed (signal {name})"


# ---------------------------------------------------------------------------- analysis


def analyse_in_child(
    path: str, *, fast: bool = False, timeout: float | None = None
) -> AnalysisResult:
    """`verify.analysis.analyse_file(path, fast=fast)` in the sandbox, validated and rebuilt."""
    with start_analysis(path, fast=fast, timeout=timeout) as child:
        return child.analysis()


def start_analysis(path: str, *, fast: bool = False, timeout: float | None = None) -> ChildRun:
    """`analyse_in_child` started now; collect with `.analysis()` (a context manager)."""
    return ChildRun(ANALYSE_TARGET, path, timeout=timeout, fast=fast)


def result_from_json(payload: Any) -> AnalysisResult:
    """Rebuild an AnalysisResult from the child's JSON, refusing anything off-contract."""
    if not isinstance(payload, dict):
        raise AnalysisError("analysis returned an invalid result: not an object")
    kind, mime, meta = validate_metadata(
        payload.get("kind"), payload.get("mime"), payload.get("meta")
    )
    frames_json = payload.get("frames")
    if not isinstance(frames_json, list):
        raise AnalysisError("analysis returned an invalid result: frames is not a list")
    pipeline = payload.get("pipeline", PIPELINE)
    if not isinstance(pipeline, str):
        raise AnalysisError("analysis returned an invalid result: pipeline is not a string")
    error = payload.get("error")
    if error is not None and (not isinstance(error, str) or not error.strip()):
        raise AnalysisError("analysis returned an invalid result: error is not a reason")
    frames = [_frame_from_json(i, f) for i, f in enumerate(frames_json)]
    if error is not None:
        error, frames = " ".join(error.split())[:300], []
    return AnalysisResult(
        kind=kind, mime=mime, meta=meta, frames=frames, pipeline=pipeline, error=error
    )


def validate_metadata(kind: Any, mime: Any, meta: Any) -> tuple[str, str | None, dict[str, Any]]:
    """(kind, mime, meta) when they follow the contract in verify.analysis, else AnalysisError."""
    if kind not in KINDS:
        raise AnalysisError(f"analysis returned an invalid result: kind {kind!r}")
    if mime is not None and not isinstance(mime, str):
        raise AnalysisError("analysis returned an invalid result: mime is not a string")
    if not isinstance(meta, dict):
        raise AnalysisError("analysis returned an invalid result: meta is not an object")
    # here, not at the top: `verify search FILE` imports this module before starting its child
    from verify.analysis.metadata import NORMALISED_KEYS

    missing = [k for k in (*NORMALISED_KEYS, "raw", "disagreements") if k not in meta]
    if missing:
        raise AnalysisError(f"analysis returned an invalid result: meta lacks {', '.join(missing)}")
    gps = meta["gps"]
    if gps is not None and not (
        isinstance(gps, dict) and all(isinstance(gps.get(k), (int, float)) for k in ("lat", "lon"))
    ):
        raise AnalysisError("analysis returned an invalid result: gps")
    if meta["rotation"] not in (None, 0, 90, 180, 270):
        raise AnalysisError(f"analysis returned an invalid result: rotation {meta['rotation']!r}")
    if not isinstance(meta["raw"], dict) or not isinstance(meta["disagreements"], list):
        raise AnalysisError("analysis returned an invalid result: raw/disagreements")
    if _nesting(meta) > MAX_META_DEPTH:
        # real metadata is a few levels deep; a parser driven to build deeper structures
        # would make the database's JSON encoding fail part-way through a batch
        raise AnalysisError("analysis returned an invalid result: metadata nested too deeply")
    return str(kind), mime, meta


MAX_META_DEPTH = 32  # levels of objects/arrays in a file's metadata (real files: 2-6)


def _nesting(value: Any) -> int:
    """How many levels of dicts/lists `value` has (iterative: no recursion on hostile input);
    stops counting past MAX_META_DEPTH + 1."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if not isinstance(item, (dict, list)):
            continue
        deepest = max(deepest, depth)
        if deepest > MAX_META_DEPTH:
            break
        children = item.values() if isinstance(item, dict) else item
        stack.extend((child, depth + 1) for child in children)
    return deepest


_U64 = (1 << 64) - 1


def _frame_from_json(i: int, f: Any) -> FrameHash:
    def bad(what: str) -> AnalysisError:
        return AnalysisError(f"analysis returned an invalid result: frame {i} {what}")

    if not isinstance(f, dict):
        raise bad("is not an object")
    idx, pts = f.get("idx"), f.get("pts")
    if not isinstance(idx, int) or isinstance(idx, bool) or not isinstance(pts, (int, float)):
        raise bad("idx/pts")
    hashes: dict[str, int | None] = {}
    for key in ("phash", "dhash", "phash_masked", "dhash_masked"):
        value = f.get(key)
        required = key in ("phash", "dhash")
        if value is None and not required:
            hashes[key] = None
        elif isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= _U64:
            hashes[key] = value
        else:
            raise bad(f"{key} is not an unsigned 64-bit integer")
    pdq_hex, quality = f.get("pdq"), f.get("pdq_quality")
    pdq: bytes | None = None
    if pdq_hex is not None:
        try:
            pdq = bytes.fromhex(pdq_hex) if isinstance(pdq_hex, str) else None
        except ValueError:
            pdq = None
        if pdq is None or len(pdq) != 32:
            raise bad("pdq is not 32 bytes of hex")
    if quality is not None and (not isinstance(quality, int) or isinstance(quality, bool)):
        raise bad("pdq_quality")
    informative, scene = f.get("informative", True), f.get("scene_change", False)
    if not isinstance(informative, bool) or not isinstance(scene, bool):
        raise bad("flags")
    phash, dhash = hashes["phash"], hashes["dhash"]
    if phash is None or dhash is None:  # unreachable: required above; keeps the types exact
        raise bad("hashes")
    return FrameHash(
        idx=idx,
        pts=float(pts),
        phash=phash,
        dhash=dhash,
        phash_masked=hashes["phash_masked"],
        dhash_masked=hashes["dhash_masked"],
        pdq=pdq,
        pdq_quality=quality,
        informative=informative,
        scene_change=scene,
    )


# ---------------------------------------------------------------------------- pool


class AnalysisPool:
    """Run one target on many files, each in its own forked, limited child, without paying
    interpreter start-up and imports per file.

    One fork server (`python -m verify.analysis.worker --serve`) imports the target and the
    parsers once; for each file it forks a child that sets RLIMIT_AS/RLIMIT_CPU and parses
    that file only. The guarantees are those of `run_in_child` (limits, timeout, one-line
    AnalysisError for every failure, nothing inherited from this process), at a few
    milliseconds per file instead of an interpreter start. Not thread-safe: use one pool per
    thread (`Analyses` does); only `stop` may be called from another thread.
    """

    def __init__(
        self,
        target: str = ANALYSE_TARGET,
        *,
        timeout: float | None = None,
        memory: int | None = None,
    ) -> None:
        self.target = target
        self.limits = limits(timeout, memory)
        self._proc: subprocess.Popen[bytes] | None = None
        self._err: IO[bytes] | None = None
        self._buffer = bytearray()  # what the server sent past the last line taken
        self._stopped = False  # set by `stop`: no server is started again
        self._start_lock = threading.Lock()  # `stop` against a server being started

    def __enter__(self) -> "AnalysisPool":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def kill(self) -> None:
        """Stop the server and the child analysing now (it dies with the server: see the
        worker's `die_with_parent`); a thread waiting in `run` gets an AnalysisError."""
        proc = self._proc
        if proc is not None and proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)

    def stop(self) -> None:
        """`kill`, and refuse to start a server again: a `run` from here on (or one that
        finds its server dead) is an AnalysisError at once. Safe from another thread, so a
        batch being stopped cannot have a server restarted behind its back."""
        with self._start_lock:
            self._stopped = True
            self.kill()

    def close(self) -> None:
        """Stop the server and release its pipes. It holds nothing worth finishing, so it is
        killed rather than asked to exit: a server still importing its parsers (a command
        that failed before analysing anything) does not hold up the command's end."""
        self.kill()
        proc, self._proc = self._proc, None
        if proc is not None:
            if proc.stdin is not None:
                with contextlib.suppress(OSError):
                    proc.stdin.close()
            if not _wait_exit(proc, 5.0):
                _kill(proc)
            if proc.stdout is not None:
                proc.stdout.close()
        if self._err is not None:
            self._err.close()
            self._err = None
        self._buffer = bytearray()  # what the server sent past the last line taken

    def start(self) -> "AnalysisPool":
        """Start the fork server now (it imports the parsers while the caller goes on with
        its own start-up); `run` otherwise starts it on first use."""
        self._start()
        return self

    def _start(self) -> "subprocess.Popen[bytes]":
        if self._proc is not None and self._proc.poll() is None:
            return self._proc
        with self._start_lock:
            if self._stopped:
                raise AnalysisError("stopped")
            return self._spawn()

    def _spawn(self) -> "subprocess.Popen[bytes]":
        self.close()
        self._err = tempfile.TemporaryFile()  # noqa: SIM115 - the pool owns it; close() closes
        lim = self.limits
        cmd = [
            sys.executable,
            "-m",
            "verify.analysis.worker",
            "--serve",
            self.target,
            str(lim.memory),
            str(lim.cpu_seconds),
            repr(lim.timeout),
        ]
        self._proc = subprocess.Popen(
            cmd,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._err,
            env=_child_env(),
            close_fds=True,
            start_new_session=True,
        )
        return self._proc

    def run(self, path: str, **kwargs: Any) -> Any:
        """The target's JSON-shaped result for `path`, or AnalysisError with one line."""
        proc = self._start()
        request = json.dumps({"path": os.path.abspath(path), "kwargs": kwargs}).encode() + b"\n"
        # The server's own start-up (imports) counts against the first file's budget, plus
        # slack for the server's bookkeeping; a server that misses it is killed and restarted.
        deadline = time.monotonic() + self.limits.timeout + SERVER_SLACK
        try:
            if proc.stdin is None:
                raise BrokenPipeError
            proc.stdin.write(request)
            proc.stdin.flush()
            line = self._read_line(proc, deadline)
        except BrokenPipeError:
            self.close()
            raise AnalysisError("analysis server exited unexpectedly") from None
        except TimeoutError:
            _kill(proc)
            self.close()
            raise AnalysisError(f"timed out after {self.limits.timeout:g} s") from None
        if line is None:
            self.close()
            raise AnalysisError("analysis server exited unexpectedly")
        return self._reply(line)

    def _read_line(self, proc: "subprocess.Popen[bytes]", deadline: float) -> bytes | None:
        import select

        if proc.stdout is None:
            return None
        fd = proc.stdout.fileno()
        # appended in place and searched only where new bytes arrived: a reply of many
        # pipe-sized reads costs linear time, not quadratic
        end = self._buffer.find(b"\n")
        while end < 0:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError
            ready, _, _ = select.select([fd], [], [], left)
            if not ready:
                continue
            chunk = os.read(fd, 1 << 20)
            if not chunk:
                return None
            at = chunk.find(b"\n")
            if at >= 0:
                end = len(self._buffer) + at
            self._buffer += chunk
            if end < 0 and len(self._buffer) > MAX_REPLY_BYTES:
                self.close()
                raise AnalysisError(f"analysis result larger than {MAX_REPLY_BYTES >> 20} MiB")
        line = bytes(self._buffer[:end])
        del self._buffer[: end + 1]
        return line

    def _reply(self, line: bytes) -> Any:
        try:
            reply = json.loads(line)
        except (ValueError, RecursionError):
            reply = None
        if not isinstance(reply, dict):
            return _reply(0, line, self.limits)
        found = reply.get("partial")

        def failed(reason: str) -> AnalysisError:
            if isinstance(found, dict):
                return PartialAnalysisError(reason, found)
            return AnalysisError(reason)

        if reply.get("timeout") is True:
            raise failed(f"timed out after {self.limits.timeout:g} s")
        if isinstance(reply.get("signal"), int):
            raise failed(_signal_reason(reply["signal"], self.limits))
        if isinstance(reply.get("exit"), int):
            status = reply["exit"]
            if status == 0:
                raise failed("analysis process returned no valid result")
            raise failed(f"analysis process failed (exit status {status})")
        try:
            return _reply(0, line, self.limits)
        except AnalysisError as exc:
            raise failed(exc.message) from None


class PartialAnalysisError(AnalysisError):
    """The analysis failed after reporting what it had found (`analyse_file`'s metadata,
    through the worker's `on_partial`): unvalidated JSON, see `salvage`."""

    def __init__(self, message: str, partial: dict[str, Any]) -> None:
        super().__init__(message)
        self.partial = partial


def salvage(exc: AnalysisError) -> AnalysisResult | AnalysisError:
    """A failed analysis as what it had found: the file's kind, type and metadata with the
    failure as its error and no frames (`analysis_failed`, as a truncated JPEG keeps its
    EXIF), when the child reported metadata that follows the contract before failing (a
    crash, the timeout or running out of memory while sampling a video's frames); else the
    error itself."""
    if not isinstance(exc, PartialAnalysisError):
        return exc
    found = exc.partial
    try:
        kind, mime, meta = validate_metadata(
            found.get("kind"), found.get("mime"), found.get("meta")
        )
    except AnalysisError:
        return AnalysisError(exc.message)
    return AnalysisResult(kind=kind, mime=mime, meta=meta, frames=[], error=exc.message)


SERVER_SLACK = 10.0  # seconds the fork server may take beyond the per-file timeout


def analysis_workers() -> int:
    """Parallel analysis children: $VERIFY_WORKERS, else one per core (at most 4)."""
    env = os.environ.get("VERIFY_WORKERS", "")
    if env.isdigit() and int(env) > 0:
        return int(env)
    return max(1, min(4, os.cpu_count() or 1))


def warm_pools(n: int, *, timeout: float | None = None) -> list[AnalysisPool]:
    """`n` started pools for `analyse_many(..., pools=...)`: a command that will analyse
    files starts them first, so the servers' imports overlap its own (database, ORM)."""
    pools: list[AnalysisPool] = []
    try:
        for _ in range(max(0, n)):
            pools.append(AnalysisPool(ANALYSE_TARGET, timeout=timeout).start())
    except BaseException:
        for pool in pools:
            pool.close()
        raise
    return pools


class Analyses:
    """Files analysed by `workers` pools as they are handed in: `submit(path)` starts a file's
    analysis at once (while the caller, say, copies the next file into the store); iterating
    gives (path, result or error) in the order submitted, each when it is ready.

    `pools` (e.g. from `warm_pools`) are used first and closed by `close` like the pools made
    here. A failure of one file is that file's AnalysisError; the others are unaffected.
    `close` (also on leaving a `with` block) stops what still runs at once: the servers are
    killed, so threads waiting on their replies return instead of waiting for each analysis
    to end (up to the timeout).
    """

    def __init__(
        self,
        *,
        fast: bool = False,
        workers: int = 2,
        timeout: float | None = None,
        pools: list[AnalysisPool] | None = None,
    ) -> None:
        from collections import deque
        from concurrent.futures import Future, ThreadPoolExecutor

        self.fast = fast
        self.timeout = timeout
        self._local = threading.local()
        self._spare = list(pools or [])
        self._owned: list[AnalysisPool] = []
        self._lock = threading.Lock()
        self._executor = ThreadPoolExecutor(max_workers=max(1, workers))
        # (submission number, its future), oldest first; when each began on a pool
        self._futures: deque[tuple[int, Future[tuple[str, AnalysisResult | AnalysisError]]]] = (
            deque()
        )
        self._submitted = 0
        self._started: dict[int, float] = {}
        self._closing = False

    def __enter__(self) -> "Analyses":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def submit(self, path: str) -> None:
        """Start analysing `path` (on the first free pool)."""
        k = self._submitted
        self._submitted += 1
        self._futures.append((k, self._executor.submit(self._one, path, k)))

    def __iter__(self) -> "Analyses":
        return self

    def __next__(self) -> tuple[str, AnalysisResult | AnalysisError]:
        return self.next_outcome()

    def next_outcome(
        self, *, every: float = 1.0, waiting: Callable[[float], None] | None = None
    ) -> tuple[str, AnalysisResult | AnalysisError]:
        """The next (path, result or error) in submission order (StopIteration when there is
        none left); while it is not ready, `waiting` is called every `every` seconds with how
        long that file has been analysed so far (0 while it waits for a pool)."""
        from concurrent.futures import TimeoutError as Pending

        if not self._futures:
            raise StopIteration
        k, head = self._futures[0]
        while waiting is not None:
            try:
                head.result(timeout=every)
                break
            except Pending:
                started = self._started.get(k)
                waiting(0.0 if started is None else time.monotonic() - started)
        self._futures.popleft()
        self._started.pop(k, None)
        return head.result()

    def _one(self, path: str, k: int) -> tuple[str, AnalysisResult | AnalysisError]:
        self._started[k] = time.monotonic()
        pool = getattr(self._local, "pool", None)
        if pool is None:
            with self._lock:
                if self._closing:  # `close` has begun: start nothing more
                    return path, AnalysisError("stopped")
                pool = (
                    self._spare.pop()
                    if self._spare
                    else AnalysisPool(ANALYSE_TARGET, timeout=self.timeout)
                )
                self._owned.append(pool)
            self._local.pool = pool
        try:
            return path, result_from_json(pool.run(path, fast=self.fast))
        except AnalysisError as exc:
            return path, salvage(exc)

    def close(self) -> None:
        """Stop whatever still runs, wait for the threads, close every pool."""
        with self._lock:
            self._closing = True  # no new pool from here on
            # and no server started again in the pools there are: what still runs (a batch
            # stopped early) ends now, and the threads waiting on it return at once
            for pool in self._owned + self._spare:
                pool.stop()
        self._futures.clear()
        self._executor.shutdown(wait=True, cancel_futures=True)
        for pool in self._owned + self._spare:
            pool.close()


def analyse_many(
    paths: Iterable[str],
    *,
    fast: bool = False,
    workers: int = 2,
    timeout: float | None = None,
    pools: list[AnalysisPool] | None = None,
) -> Generator[tuple[str, AnalysisResult | AnalysisError], None, None]:
    """(path, result or error) for every path, in input order, analysed by `workers` pools
    (see `Analyses`: `pools` are used first and closed at the end). A failure of one file is
    that file's AnalysisError; the others are unaffected."""
    with Analyses(fast=fast, workers=workers, timeout=timeout, pools=pools) as batch:
        for path in paths:
            batch.submit(path)
        yield from batch
