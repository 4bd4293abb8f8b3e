"""Work started before the command line is parsed (importing typer and parsing options
takes 0.1-0.3 s): the sandboxed analysis that `verify search FILE` and `verify media add`
will need. The installed `verify` command enters at `main` here, so the analysis child's
interpreter starts before typer is even imported. This module imports nothing heavy; what
it starts is killed at exit if no command took it over.
"""

import contextlib
import os
import sys
from typing import Any, NoReturn

# `verify search FILE`: the query file's sandboxed analysis, started by `main` before the
# command line is parsed (typer's option handling alone takes ~0.1 s); `search_command` takes
# it over when its target is this file, and anything left is killed at exit.
EARLY_ANALYSIS: dict[str, Any] = {}
# `verify media add CASE FILE...`: the analysis servers (a fresh interpreter each, importing
# PyAV, Pillow and numpy: ~0.3 s) started by `main` before the command line is parsed, so
# their imports overlap typer's; `media_add` takes them (a list of AnalysisPool).
EARLY_POOLS: list[Any] = []


_GLOBAL_VALUED = ("--home", "--as")
_SEARCH_VALUED = ("--case", "--threshold")
_ADD_VALUED = ("--source-url", "--platform", "--acquired-via", "--label")
_ADD_FLAGS = ("--fast", "--json")


def after_root_options(argv: list[str]) -> list[str]:
    """`argv` without the root's own options in front (`--home H`, `--as A`, `--home=H`):
    the command words and what follows them."""
    i = 0
    while i < len(argv):
        if argv[i] in _GLOBAL_VALUED:
            i += 2
        elif argv[i].startswith(tuple(f"{o}=" for o in _GLOBAL_VALUED)):
            i += 1
        else:
            break
    return argv[i:]


def _command_args(argv: list[str], *command: str) -> list[str] | None:
    """What follows `verify [--home H] [--as A] COMMAND...` in `argv`, or None for another
    command line."""
    rest = after_root_options(argv)
    if rest[: len(command)] != list(command):
        return None
    return rest[len(command) :]


def _positionals(rest: list[str], valued: tuple[str, ...], flags: tuple[str, ...]) -> list[str]:
    """The positional arguments among a command's `rest`, or [] when it has anything else
    (help, an unknown option, `--`): then typer handles it and nothing starts early."""
    out: list[str] = []
    j = 0
    while j < len(rest):
        a = rest[j]
        if a in valued:
            j += 2
            continue
        if (
            a.startswith("-")
            and a not in flags
            and not a.startswith(tuple(f"{o}=" for o in valued))
        ):
            return []
        if not a.startswith("-"):
            out.append(a)
        j += 1
    return out


def _add_files(argv: list[str]) -> int:
    """How many files `verify [global options] media add [options] CASE FILE...` names (0 for
    any other command line, or one typer will refuse or answer with help)."""
    rest = _command_args(argv, "media", "add")
    if rest is None:
        return 0
    return max(0, len(_positionals(rest, _ADD_VALUED, _ADD_FLAGS)) - 1)


def _search_target(argv: list[str]) -> str | None:
    """The FILE of `verify [--home H] [--as A] search [options] FILE [options]`, or None
    for any other command line (then nothing is started early)."""
    rest = _command_args(argv, "search")
    if rest is None:
        return None
    targets = _positionals(rest, _SEARCH_VALUED, ("--json",))
    if len(targets) != 1 or not os.path.isfile(targets[0]):
        return None
    return targets[0]


def start_early_analysis(argv: list[str]) -> None:
    """Start what `argv`'s command will need."""
    files = _add_files(argv)
    if files:
        import atexit

        from verify.analysis.sandbox import analysis_workers, warm_pools

        try:
            EARLY_POOLS.extend(warm_pools(min(analysis_workers(), files)))
        except Exception:  # noqa: BLE001 - `media_add` starts them again and reports why
            return
        for pool in EARLY_POOLS:
            atexit.register(pool.close)
        return
    target = _search_target(argv)
    if target is None:
        return
    import atexit

    from verify.analysis.sandbox import start_analysis

    child = start_analysis(target)  # errors are deferred to its result()
    EARLY_ANALYSIS[target] = child
    atexit.register(child.close)


def run() -> None:
    """Start what the command line will need, then run it; ends in SystemExit, as click
    does (`verify.cli.main`, for callers in the same process)."""
    try:
        start_early_analysis(sys.argv[1:])
        from verify.cli import app
    except KeyboardInterrupt:  # Ctrl-C while starting up: nothing was done yet
        sys.stderr.write("error: interrupted\n")
        raise SystemExit(130) from None
    app(prog_name="verify")


def main() -> None:
    """The `verify` console script (and `python -m verify`): `run`, then `leave`."""
    try:
        run()
    except SystemExit as exc:
        leave(exc.code)
    leave(0)


def leave(code: object) -> NoReturn:
    """End the process with `code` (as `SystemExit(code)` would) once the command is done,
    without the interpreter's teardown: freeing every module of a command that loaded
    numpy, PyAV or SQLAlchemy takes 30-200 ms and does nothing the command needs. What
    exit must still do is done here first: the `atexit` handlers (analysis servers, temporary
    directories, logging), then stdout and stderr flushed. The command has already closed
    its database connections (the root context's close). The normal exit is taken instead
    while another thread runs (it waits for it) and under a tracer or profiler (coverage,
    cProfile write their data at exit)."""
    import threading

    if threading.active_count() > 1 or sys.gettrace() is not None or sys.getprofile() is not None:
        raise SystemExit(code)
    try:
        status = _status(code)
        import atexit

        atexit._run_exitfuncs()
        for stream in (sys.stdout, sys.stderr):
            try:
                if stream is not None and not stream.closed:
                    stream.flush()
            except BrokenPipeError:  # the reader went away (`verify log | head`): not ours
                pass
            except (OSError, ValueError) as exc:  # e.g. stdout on a full disk
                if stream is sys.stdout:
                    reason = exc.strerror if isinstance(exc, OSError) else None
                    _say(f"error: could not write: {reason or exc}")
                    status = status or 2  # as the command's own write errors (BAD_INPUT)
    except KeyboardInterrupt:  # Ctrl-C while the output drains into a slow reader
        status = 130
    os._exit(status)


def _status(code: object) -> int:
    """The exit status `SystemExit(code)` gives (a message is printed, status 1)."""
    if code is None:
        return 0
    if isinstance(code, int):
        return code & 0xFF
    _say(str(code))
    return 1


def _say(line: str) -> None:
    with contextlib.suppress(OSError, ValueError, AttributeError):
        sys.stderr.write(f"{line}\n")
