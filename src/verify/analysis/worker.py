"""Child side of the analysis sandbox: `python -m verify.analysis.worker MEMORY CPU`
(one file), or `... --serve TARGET MEMORY CPU TIMEOUT` (fork server for AnalysisPool).

Protocol (see `verify.analysis.sandbox`): the parent writes one JSON request
`{"target": "module:function", "path": "/abs/file", "kwargs": {...}}` on stdin and reads one
JSON reply `{"ok": true, "result": ...}` or `{"ok": false, "error": "one-line reason"}` from
stdout. Nothing else may reach stdout, so file descriptor 1 is pointed at stderr before any
library is imported (FFmpeg or a plugin printing to stdout cannot corrupt the reply).

The address-space, CPU-time and core-size limits are set first, before the request is read
and before any parser is imported. The parent enforces the wall-clock timeout and turns
signals (SIGSEGV, SIGXCPU, SIGKILL) into errors; this process only has to fail cleanly.
Kept import-light: no CLI, no database, no SQLModel.
"""

import contextlib
import dataclasses
import gc
import importlib
import json
import os
import resource
import sys
import traceback
from collections.abc import Callable
from typing import Any

from verify.errors import VerifyError

MAX_REASON = 300


def set_limits(memory: int, cpu_seconds: int) -> None:
    """RLIMIT_AS (bytes), RLIMIT_CPU (seconds; SIGXCPU at the soft limit) and no core files."""
    if memory > 0:
        resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    if cpu_seconds > 0:
        resource.setrlimit(resource.RLIMIT_CPU, (cpu_seconds, cpu_seconds + 5))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def die_with_parent() -> None:
    """Be killed (SIGKILL) when the process that started this one dies, however it dies
    (Linux `PR_SET_PDEATHSIG`; elsewhere nothing): a `verify` command ended by Ctrl-C,
    SIGTERM or a crash leaves no analysis running. Set by the analysis server and by each
    child it forks, before any file is parsed."""
    if not sys.platform.startswith("linux"):
        return
    import ctypes
    import signal

    parent = os.getppid()
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, int(signal.SIGKILL), 0, 0, 0)  # PR_SET_PDEATHSIG
    if os.getppid() != parent:  # the parent died before the request took effect
        os._exit(70)


def jsonable(value: Any) -> Any:
    """Dataclasses -> dicts, tuples -> lists, bytes -> hex strings; everything else as is."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, (bytes, bytearray)):
        return bytes(value).hex()
    return value


def describe(exc: BaseException, memory: int) -> str:
    """One-line reason for an exception the target did not turn into an AnalysisError."""
    if isinstance(exc, VerifyError):  # AnalysisError, or another typed error with a message
        return one_line(exc.message)
    if isinstance(exc, MemoryError):
        return f"out of memory (limit {human_bytes(memory)})"
    if isinstance(exc, RuntimeError) and "can't start new thread" in str(exc):
        # the threads' stacks count against the address-space limit
        return f"out of memory (limit {human_bytes(memory)}): could not start a thread"
    name = type(exc).__name__
    module = type(exc).__module__
    if name in ("DecompressionBombError", "DecompressionBombWarning"):
        from verify.analysis.metadata import _bomb_reason

        return _bomb_reason(str(exc))
    if name == "UnidentifiedImageError":
        return "not a media file we can read: image header not recognised by Pillow"
    av = sys.modules.get("av")
    if av is not None and isinstance(exc, av.FFmpegError):
        if name == "MemoryError":  # av.error.MemoryError is not a builtin MemoryError
            return f"out of memory (limit {human_bytes(memory)})"
        from verify.analysis.metadata import ffmpeg_reason

        return one_line(f"truncated or corrupt video: {ffmpeg_reason(exc)}")
    if module.startswith("PIL") or isinstance(exc, (OSError, SyntaxError, EOFError)):
        return one_line(f"truncated or corrupt file: {exc}")
    return one_line(f"analysis failed: {name}: {exc}")


def one_line(text: str) -> str:
    text = " ".join(text.replace("\x00", "").split())
    return text if len(text) <= MAX_REASON else text[: MAX_REASON - 1] + "…"


def human_bytes(n: int) -> str:
    for unit, size in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= size and n % size == 0:
            return f"{n // size} {unit}"
    return f"{n} bytes"


def _run(request: dict[str, Any], memory: int) -> dict[str, Any]:
    try:
        module_name, _, func_name = str(request["target"]).partition(":")
        func = getattr(importlib.import_module(module_name), func_name)
    except (ImportError, AttributeError, ValueError) as exc:
        return {"ok": False, "error": one_line(f"analysis failed: no target {exc}")}
    return _call(func, request, memory)


def _encode(reply: dict[str, Any]) -> bytes:
    try:
        return json.dumps(reply, ensure_ascii=True, allow_nan=False).encode("ascii")
    except (TypeError, ValueError, RecursionError) as exc:
        reply = {"ok": False, "error": one_line(f"analysis result not serialisable: {exc}")}
        return json.dumps(reply).encode("ascii")


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def main(argv: list[str]) -> int:
    die_with_parent()
    reply_fd = os.dup(1)
    os.dup2(2, 1)  # stdout is reserved for the reply
    if argv and argv[0] == "--serve":
        return serve(reply_fd, argv[1], int(argv[2]), int(argv[3]), float(argv[4]))
    memory, cpu_seconds = int(argv[0]), int(argv[1])
    set_limits(memory, cpu_seconds)
    request = json.loads(sys.stdin.buffer.read())
    _write_all(reply_fd, _encode(_run(request, memory)))
    os.close(reply_fd)
    return 0


# ---------------------------------------------------------------------------- fork server

MAX_CHILD_REPLY = 256 << 20


def serve(reply_fd: int, target: str, memory: int, cpu_seconds: int, timeout: float) -> int:
    """Fork-server mode (`--serve TARGET MEMORY CPU TIMEOUT`), used by sandbox.AnalysisPool.

    This process imports the target and the parsers once, then reads one JSON request per
    line on stdin and, for each, forks a child that sets the limits, parses the file and
    writes its reply to a pipe. This process never parses a file itself: whatever a file does
    to its child (segfault, hang, memory) stays in that child, and the next file starts from
    this clean, already-imported state. One JSON line per request goes back on stdout:
    the child's reply, or {"signal": N} / {"exit": N} / {"timeout": true}. A target that
    takes `on_partial` (`analyse_file`) may report what it has found so far (one
    {"partial": ...} line before the reply, at most MAX_PARTIAL bytes): a failed child's last
    report is added to the failure as "partial", for the parent to validate.
    """
    module_name, _, func_name = target.partition(":")
    func = getattr(importlib.import_module(module_name), func_name)
    partial = _takes(func, "on_partial")
    _import_all(_FIRST_IMPORTS)
    # The rest of the warm-up (image plugins, exifread, one analysis of a tiny JPEG: ~60 ms
    # of CPU) only makes later files cheaper (by ~10 ms each). When a request is already
    # waiting (`media add`, whose parent stored the file while this process imported), its
    # child is forked at once without it; the warm-up then runs while the second file's
    # child parses, if there is a second file. A single file never pays for it: on 2 cores
    # its analysis keeps both busy, so any extra work here would be added to its time.
    warm_with_second = _request_waiting()
    if not warm_with_second:
        _warm_rest()
    served = 0
    for line in sys.stdin.buffer:
        if not line.strip():
            continue
        request = json.loads(line)
        # Pre-fork server idiom: move everything imported so far out of the collector's
        # reach, so children do not copy-on-write half the heap by walking it.
        gc.freeze()
        meanwhile = _warm_rest if warm_with_second and served == 1 else None
        reply = _fork_one(
            func, request, reply_fd, memory, cpu_seconds, timeout, meanwhile, partial=partial
        )
        served += 1
        _write_all(reply_fd, _encode(reply) + b"\n")
    return 0


# What every analysis needs (a video's: PyAV, numpy, Pillow, the hashing recipe), imported
# before the first request is served; `_LATER_IMPORTS` are imported during the warm-up.
_FIRST_IMPORTS = (
    "numpy",
    "PIL.Image",
    "av",
    "verify.analysis.metadata",
    "verify.analysis.frames",
    "verify.analysis.hashing",
)
_LATER_IMPORTS = (
    "PIL.JpegImagePlugin",
    "PIL.PngImagePlugin",
    "PIL.WebPImagePlugin",
    "PIL.TiffImagePlugin",
    "PIL.IptcImagePlugin",
    "PIL.ExifTags",
    "PIL.ImageOps",
    "defusedxml.ElementTree",
    "PIL.AvifImagePlugin",
    "pillow_heif",
    "exifread",
    "imagehash",
)


def _import_all(names: tuple[str, ...]) -> None:
    for name in names:
        try:
            importlib.import_module(name)
        except ImportError:
            continue


def _request_waiting() -> bool:
    """Whether a request is already readable on stdin (nothing is read from it)."""
    import select

    try:
        ready, _, _ = select.select([sys.stdin.fileno()], [], [], 0)
    except (OSError, ValueError):
        return False
    return bool(ready)


def _warm_rest() -> None:
    """The warm-up after `_FIRST_IMPORTS`: the other parsers, then `_warm_up_call`, so
    forked children start with them loaded. It only saves time: if it fails (e.g. no
    writable temporary directory), children do that set-up themselves."""
    with contextlib.suppress(Exception):
        _import_all(_LATER_IMPORTS)
        _warm_up_call()


def _warm_up_call() -> None:
    """Analyse one tiny JPEG we make ourselves, so lazy imports and one-off set-up happen
    here once instead of in every forked child (metadata only: 24 -> 17 ms per file; the
    whole analysis too: 1080p JPEGs 49 -> 36 ms per file on one worker). This is the only
    file the server ever parses, and it is not evidence. PDQ's resampling operators for the
    sides a working image most often has (512, and the short side of 16:9, 4:3, 3:2 and
    wider frames) are built here as well: 1-3 ms each, otherwise paid per child."""
    import tempfile

    from PIL import Image

    from verify.analysis import analyse_file
    from verify.analysis.pdq import _resampler

    exif = Image.Exif()
    exif[0x010F] = "warm-up"
    # The file never has a name (O_TMPFILE where the file system has it, else unlinked at
    # once) and is read through /proc: the warm-up can run while a command is stopped with
    # SIGKILL, and must leave nothing behind.
    with tempfile.TemporaryFile(prefix="verify-warm-") as fh:
        Image.new("RGB", (8, 8)).save(fh, "JPEG", exif=exif)
        fh.flush()
        if os.path.exists(f"/proc/self/fd/{fh.fileno()}"):
            analyse_file(f"/proc/self/fd/{fh.fileno()}")  # metadata, then frames
    for side in (512, 384, 341, 342, 288, 236, 216, 213):
        _resampler(side)


def _fork_one(
    func: Any,
    request: dict[str, Any],
    reply_fd: int,
    memory: int,
    cpu_seconds: int,
    timeout: float,
    meanwhile: Callable[[], object] | None = None,
    *,
    partial: bool = False,
) -> dict[str, Any]:
    """Fork a child that parses `request`'s file; its reply (see `serve`). `meanwhile` runs
    here once the child is forked (its time counts against the child's timeout); `partial`:
    the target takes `on_partial`."""
    import select
    import signal
    import time

    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: limits first, then parse, reply on the pipe, never return
        status = 0
        try:
            os.close(read_end)
            os.close(reply_fd)
            os.setpgid(0, 0)
            die_with_parent()
            set_limits(memory, cpu_seconds)
            call = {"target": "", "path": request["path"], "kwargs": request.get("kwargs")}

            def report(found: dict[str, Any]) -> None:
                _write_all(write_end, _encode({"partial": jsonable(found)}) + b"\n")

            sink = report if partial else None
            _write_all(write_end, _encode(_call(func, call, memory, on_partial=sink)))
        except BaseException:  # noqa: BLE001 - a forked child must never unwind into the server
            status = 70
        finally:
            os._exit(status)
    os.close(write_end)
    with contextlib.suppress(OSError):  # both sides set the group: no race with killpg below
        os.setpgid(pid, pid)
    exited = _exit_watch(pid)
    deadline = time.monotonic() + timeout
    chunks: list[bytes] = []
    size = 0
    timed_out = False
    try:
        if meanwhile is not None:
            meanwhile()
        while True:
            left = deadline - time.monotonic()
            # a reply already waiting is read even at the deadline (`meanwhile` may have
            # taken the child's whole time while the child finished)
            ready, _, _ = select.select([read_end], [], [], max(0.0, left))
            if not ready:
                if left <= 0:
                    timed_out = True
                    break
                continue
            chunk = os.read(read_end, 1 << 20)
            if not chunk:
                break
            size += len(chunk)
            if size <= MAX_CHILD_REPLY:
                chunks.append(chunk)
        while not timed_out:  # reply complete (or pipe closed): wait for the exit
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                break
            left = deadline - time.monotonic()
            if left <= 0:
                timed_out = True
                break
            if exited is not None:  # readable once the child has exited
                select.select([exited], [], [], left)
            else:
                time.sleep(0.005)
    finally:
        os.close(read_end)
        if exited is not None:
            os.close(exited)
    if timed_out:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGKILL)  # the child and anything it started (exiftool)
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
    # The child's output is untrusted: only its last line (the reply) and the line before it
    # (its last report, if any) are looked at, and the report only when the child failed.
    data = b"".join(chunks)
    end = data.rfind(b"\n")

    def found() -> dict[str, Any]:
        if end < 0:
            return {}
        start = data.rfind(b"\n", 0, end) + 1
        return _last_report(data[start:end]) if end - start <= MAX_PARTIAL else {}

    if timed_out:
        return {"timeout": True, **found()}
    if os.WIFSIGNALED(status):
        return {"signal": os.WTERMSIG(status), **found()}
    if os.WEXITSTATUS(status) != 0:
        return {"exit": os.WEXITSTATUS(status), **found()}
    if size > MAX_CHILD_REPLY:
        return {"ok": False, "error": f"analysis result larger than {MAX_CHILD_REPLY >> 20} MiB"}
    try:
        reply = json.loads(data[end + 1 :] if end >= 0 else data)
    except (ValueError, RecursionError):
        reply = None
    if not isinstance(reply, dict):
        return {"exit": 0, **found()}
    if reply.get("ok") is False:
        reply.update(found())
    return reply


MAX_PARTIAL = 4 << 20  # bytes of a child's report kept (metadata with its raw tags: ~1-50 KB)


def _last_report(line: bytes) -> dict[str, Any]:
    """{"partial": report} from a child's report line, or {} (none or malformed)."""
    if not line:
        return {}
    try:
        report = json.loads(line)
    except (ValueError, RecursionError):
        return {}
    if isinstance(report, dict) and isinstance(report.get("partial"), dict):
        return {"partial": report["partial"]}
    return {}


def _exit_watch(pid: int) -> int | None:
    """A descriptor that becomes readable when child `pid` exits (Linux pidfd), so the server
    waits for the exit without polling; None where there is none (then it polls every 5 ms,
    which cost up to 5 ms a file)."""
    pidfd_open = getattr(os, "pidfd_open", None)
    if pidfd_open is None:
        return None
    try:
        return int(pidfd_open(pid))
    except OSError:
        return None


def _call(
    func: Any,
    request: dict[str, Any],
    memory: int,
    on_partial: Callable[[dict[str, Any]], None] | None = None,
) -> dict[str, Any]:
    """Call the target; `on_partial`, for a target that takes it (`analyse_file`), receives
    what survives the child failing afterwards (see `_fork_one`)."""
    kwargs = dict(request.get("kwargs") or {})
    if on_partial is not None:
        kwargs["on_partial"] = on_partial
    try:
        result = func(str(request["path"]), **kwargs)
        return {"ok": True, "result": jsonable(result)}
    except Exception as exc:  # noqa: BLE001 - the sandbox boundary: report, never crash
        if not isinstance(exc, VerifyError):
            traceback.print_exc(file=sys.stderr)
        return {"ok": False, "error": describe(exc, memory)}


def _takes(func: Any, name: str) -> bool:
    import inspect

    try:
        return name in inspect.signature(func).parameters
    except (TypeError, ValueError):
        return False


if __name__ == "__main__":
    status = main(sys.argv[1:])
    # The reply is written (unbuffered, on its own descriptor): leave without the
    # interpreter's teardown of numpy, PyAV and Pillow (~50 ms the parent would wait for).
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(status)
