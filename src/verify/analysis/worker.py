"""Child side of the analysis sandbox: `python -m verify.analysis.worker MEMORY CPU`.

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

import dataclasses
import importlib
import json
import os
import resource
import sys
import traceback
from typing import Any

from verify.errors import AnalysisError

MAX_REASON = 300


def set_limits(memory: int, cpu_seconds: int) -> None:
    """RLIMIT_AS (bytes), RLIMIT_CPU (seconds; SIGXCPU at the soft limit) and no core files."""
    if memory > 0:
        resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    if cpu_seconds > 0:
        resource.setrlimit(resource.RLIMIT_CPU, (cpu_seconds, cpu_seconds + 5))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


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
    if isinstance(exc, AnalysisError):
        return one_line(exc.message)
    if isinstance(exc, MemoryError):
        return f"out of memory (limit {human_bytes(memory)})"
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
        return one_line(f"truncated or corrupt video: {exc}")
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
        result = func(str(request["path"]), **dict(request.get("kwargs") or {}))
        return {"ok": True, "result": jsonable(result)}
    except Exception as exc:  # noqa: BLE001 - the sandbox boundary: report, never crash
        if not isinstance(exc, AnalysisError):
            traceback.print_exc(file=sys.stderr)  # for the parent's debug log, never the user
        return {"ok": False, "error": describe(exc, memory)}


def main(argv: list[str]) -> int:
    reply_fd = os.dup(1)
    os.dup2(2, 1)  # stdout is reserved for the reply
    memory, cpu_seconds = int(argv[0]), int(argv[1])
    set_limits(memory, cpu_seconds)
    request = json.loads(sys.stdin.buffer.read())
    reply = _run(request, memory)
    try:
        data = json.dumps(reply, ensure_ascii=True, allow_nan=False).encode("ascii")
    except (TypeError, ValueError) as exc:
        reply = {"ok": False, "error": one_line(f"analysis result not serialisable: {exc}")}
        data = json.dumps(reply).encode("ascii")
    view = memoryview(data)
    while view:
        written = os.write(reply_fd, view)
        view = view[written:]
    os.close(reply_fd)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
