"""The `verify` command line: a thin client over `verify.services`.

Only this package imports typer. `main()` / `VerifyGroup.invoke` is the one place where
errors become a stderr line and an exit code. Heavy modules are imported inside commands
so that `verify --help` starts fast.
"""

import contextlib
import errno
import os
import sys
from pathlib import Path
from typing import Annotated, Any, NoReturn

# Plain help by default: rich-formatted help costs ~0.1 s of start-up on every call and
# wraps examples. TYPER_USE_RICH=1 brings it back. Must be set before typer is imported.
os.environ.setdefault("TYPER_USE_RICH", "0")

import typer
from typer.core import TyperGroup

from verify import __version__
from verify.cli.output import clean, examples
from verify.errors import BadInputError, ExitCode, VerifyError


class VerifyGroup(TyperGroup):
    """Root group: turns typed errors from any subcommand into one line and an exit code."""

    def make_context(self, *args: Any, **kwargs: Any) -> Any:
        # the root's own options are parsed here, before invoke
        # the command line as given, for `_command_path` (click consumes ctx.args)
        argv = list(args[1] if len(args) > 1 else kwargs.get("args", []))
        try:
            ctx = super().make_context(*args, **kwargs)
        except typer.TyperException as exc:
            _usage_error(exc)
        except OSError as exc:  # `--help` / `--version` print while options are parsed
            if exc.errno in WRITE_ERRNOS:
                _write_failed(exc)
            raise
        ctx.meta["verify.argv"] = argv
        return ctx

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except VerifyError as exc:
            sys.stderr.write(f"error: {clean(exc.message)}\n")
            raise typer.Exit(int(exc.exit_code)) from None
        except BrokenPipeError:
            raise typer.Exit(0) from None
        except KeyboardInterrupt:
            sys.stderr.write(f"{INTERRUPTED}\n")
            raise typer.Exit(int(ExitCode.INTERRUPTED)) from None
        except (typer.Exit, typer.Abort):
            raise
        except typer.TyperException as exc:
            _usage_error(exc, ctx)
        except Exception as exc:
            if isinstance(exc, OSError) and exc.errno in WRITE_ERRNOS:
                _write_failed(exc)
            if os.environ.get("VERIFY_DEBUG"):
                raise
            from verify.dbread import database_failure

            failure = database_failure(exc)
            if failure is not None:
                sys.stderr.write(f"error: {clean(failure.message)}\n")
                raise typer.Exit(int(failure.exit_code)) from None
            name = type(exc).__name__
            first_line = (str(exc).strip().splitlines() or [""])[0]
            sys.stderr.write(
                f"error: internal error ({name}: {clean(first_line)}); "
                "rerun with VERIFY_DEBUG=1 for a traceback and report it\n"
            )
            raise typer.Exit(int(ExitCode.INTERNAL)) from None


# the argument parser's validation wording (pydantic's), in the tool's words
_PARSER_WORDING = (
    ("Input should be a valid integer, unable to parse string as an integer", "not a whole number"),
    ("Input should be a valid integer", "not a whole number"),
)


def _usage_error(exc: Exception, root: Any = None) -> NoReturn:
    """click's usage errors (unknown command or option, missing or malformed argument) as one
    line like every other error, naming the help to read; exit 2. A bare group (`verify`,
    `verify case`) still prints its help, as click does."""
    if type(exc).__name__ == "NoArgsIsHelpError":
        raise exc
    sub = getattr(exc, "ctx", None)
    where = sub.command_path if sub is not None else _command_path(root)
    misplaced = _misplaced_global_option(exc, sub or root, where)
    if misplaced is not None:
        sys.stderr.write(f"error: {clean(misplaced)}\n")
        raise typer.Exit(int(ExitCode.BAD_INPUT)) from None
    format_message = getattr(exc, "format_message", None)
    message = format_message() if callable(format_message) else str(exc)
    for said, meant in _PARSER_WORDING:
        message = message.replace(said, meant)
    sys.stderr.write(f"error: {clean(message)} (see '{where} -h')\n")
    raise typer.Exit(int(ExitCode.BAD_INPUT)) from None


def _misplaced_global_option(exc: Exception, ctx: Any, where: str) -> str | None:
    """For an option a command does not have (click's NoSuchOption) that is one of the
    root's own (`--home`, `--as`, ...: the root callback's parameters): where it goes
    instead, as the root's help spells it (`verify --home <path> case list`). None for any
    other usage error. A command with an option of that name of its own never gets here."""
    name = getattr(exc, "option_name", None)
    if type(exc).__name__ != "NoSuchOption" or ctx is None or not name:
        return None
    root = ctx.find_root()
    if root is ctx:  # unknown at the root itself: not a global option
        return None
    for param in root.command.params:
        if name in param.opts:
            record = param.get_help_record(root)
            spelled = record[0] if record else name
            first, _, command = where.partition(" ")
            # `--version` and the like answer at once: the command would not run
            then = "" if param.is_eager else f" {command}"
            return f"{name} is a global option: put it before the command ({first} {spelled}{then})"
    return None


INTERRUPTED = "error: interrupted; what was recorded before stays recorded (`verify log` shows it)"


def _command_path(root: Any) -> str:
    """`verify media add` for a usage error that carries no context (the parser's, such as
    an option missing its value): the command words of the root context's arguments."""
    from verify.early import after_root_options

    path = ["verify"]
    if root is None:
        return "verify"
    command = root.command
    for word in after_root_options(root.meta.get("verify.argv", [])):
        sub = command.get_command(root, word) if hasattr(command, "get_command") else None
        if sub is None:
            break
        path.append(word)
        command = sub
    return " ".join(path)


# Writing failed for want of room: one line, exit 2 (not a bug). Only errors that writing
# alone gives (EIO, which reading a failing disk gives too, stays an internal error).
WRITE_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG})


def _write_failed(exc: OSError) -> NoReturn:
    """stdout (or a file written outside the store) on a full disk: one line, exit 2, not an
    internal error. What stdout still holds is written now; if stdout itself is what
    failed, it is set aside (kept, not closed) so the exit does not fail on it again."""
    with contextlib.suppress(OSError):
        sys.stderr.write(f"error: could not write: {exc.strerror or exc}\n")
    try:
        sys.stdout.flush()
    except (OSError, ValueError):
        _SET_ASIDE.append(sys.stdout)
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - the process ends with this command
    raise typer.Exit(int(ExitCode.BAD_INPUT)) from None


_SET_ASIDE: list[Any] = []  # streams that failed (closing one would close what it wraps)


app = typer.Typer(
    cls=VerifyGroup,
    name="verify",
    help="Shell-first media verification: cases, chain of custody, provenance, duplicate "
    "search and reports.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=True,
    context_settings={"help_option_names": ["-h", "--help"]},
    epilog=examples(
        'verify case open "Alleged FRL video, Belgorod, May 2023" --claim "shows the FRL"',
        "verify status set alleged-frl-video-belgorod-may-2023 in_progress",
        "verify log --json | jq .",
    ),
)


class State:
    """Global options, resolved into an Archive on first use."""

    def __init__(self, home: Path | None, actor: str | None) -> None:
        self.home = home
        self.actor = actor
        self._archive: Any = None
        self._readonly: Any = None
        self._intake: Any = None

    def archive(self) -> Any:
        if self._archive is None:
            from verify.archive import open_archive

            self._archive = open_archive(self.home, actor=self.actor)
            if self._archive.created and sys.stderr.isatty():
                # as `git init` does: a new archive where one was expected to exist (another
                # shell without VERIFY_HOME) is seen at once; said to a person at a
                # terminal, not to scripts, whose stderr stays their errors
                from verify.cli.output import notice

                notice(f"note: created a new archive in {self._archive.location()}")
        return self._archive

    def source(self) -> Any:
        """For the read-only search commands: a SQLite archive at the current schema opened
        read-only without the ORM (`verify.dbread`; ~0.6 s less start-up), else `archive()`.
        Whatever the normal path would refuse or change (a NUL in the actor name, a missing
        or older archive, a database URL) takes the normal path, so errors are the same."""
        if self._archive is None and self._readonly is None:
            actors = (self.actor, os.environ.get("VERIFY_USER"))
            if not any(a and "\x00" in a for a in actors):
                from verify.dbread import open_readonly

                self._readonly = open_readonly(self.home)
        return self._readonly if self._readonly is not None else self.archive()

    def intake(self) -> Any:
        """For `media add`: a SQLite archive at the current schema opened for writing without
        the ORM (`verify.dbwrite.IntakeArchive`; ~0.5 s less CPU, which on 2 cores the
        analysis child gets), else `archive()`. Anything unusual (no archive yet, an older
        schema, a database URL) takes the normal path, so errors are the same."""
        if self._archive is None and self._intake is None:
            from verify.dbwrite import open_intake

            self._intake = open_intake(self.home, self.actor)
        return self._intake if self._intake is not None else self.archive()

    def close(self) -> None:
        """Release the database connections at the end of the command."""
        if self._intake is not None:
            self._intake.close()
            self._intake = None
        if self._archive is not None:
            self._archive.close()
            self._archive = None
        if self._readonly is not None:
            self._readonly.close()
            self._readonly = None


def given_home(ctx: typer.Context) -> Path | None:
    """The archive directory given with the global `--home`, if one was (not from
    VERIFY_HOME or the default)."""
    return _state(ctx).home


def _state(ctx: typer.Context) -> State:
    root = ctx.find_root()
    state = root.obj
    if not isinstance(state, State):
        state = State(None, None)
        root.obj = state
    return state


def archive_of(ctx: typer.Context) -> Any:
    """The Archive for this invocation (typed Any to keep typer's import light)."""
    return _state(ctx).archive()


def intake_of(ctx: typer.Context) -> Any:
    """What `media add` writes to (`State.intake`)."""
    return _state(ctx).intake()


def verify_command(ctx: typer.Context) -> str:
    """`verify` as a hint should spell it to reach this invocation's archive: with
    `--home DIR` when one was given (pasted without it, a command would act on the archive
    of VERIFY_HOME or the default one)."""
    from verify.services.intake import verify_command as command

    home = _state(ctx).home
    return command(None if home is None else Path(home).expanduser())


def source_of(ctx: typer.Context) -> Any:
    """What the read-only search commands read from (`State.source`)."""
    return _state(ctx).source()


def _version(value: bool) -> None:
    if value:
        sys.stdout.write(f"verify {__version__}\n")
        raise typer.Exit(0)


@app.callback()
def root(
    ctx: typer.Context,
    home: Annotated[
        str | None,
        typer.Option(
            "--home",
            metavar="<path>",
            help="Archive directory (default: $VERIFY_HOME, else the "
            "user data dir). The database is $VERIFY_DATABASE_URL if set.",
            show_default=False,
        ),
    ] = None,
    actor: Annotated[
        str | None,
        typer.Option(
            "--as",
            metavar="<name>",
            help="Who is acting (default: $VERIFY_USER, git user.name, login).",
            show_default=False,
        ),
    ] = None,
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    if home is not None and not home.strip():
        # Path("") is the working directory: an archive would appear wherever one stands
        raise BadInputError("--home is empty: give the archive directory")
    if actor is not None and not actor.strip():
        # else it would fall back to $VERIFY_USER or the login: someone else's name on record
        raise BadInputError("--as is empty: give who is acting (a name or handle)")
    if actor is None and os.environ.get("VERIFY_USER", "x").strip() == "":
        from verify.archive import EMPTY_VERIFY_USER

        raise BadInputError(EMPTY_VERIFY_USER)  # as --as "" (also on the ORM-free paths)
    from verify.timeutil import check_clock

    check_clock()  # a pinned clock without its switch: refused before anything is done
    state = State(Path(home) if home is not None else None, actor)
    ctx.obj = state
    ctx.call_on_close(state.close)


def _register() -> None:
    from verify.cli import cases, demo, log, media, prov, report, search, status

    app.add_typer(cases.case_app, name="case")
    app.add_typer(cases.claim_app, name="claim")
    app.add_typer(cases.note_app, name="note")
    app.add_typer(status.status_app, name="status")
    app.add_typer(media.media_app, name="media")
    app.command("log", epilog=log.LOG_EPILOG)(log.log_command)
    app.command("check", epilog=log.CHECK_EPILOG)(log.check_command)
    app.add_typer(prov.prov_app, name="prov")
    app.command("timeline", epilog=prov.TIMELINE_EPILOG)(prov.timeline_command)
    app.command("search", epilog=search.SEARCH_EPILOG)(search.search_command)
    app.command("dupes", epilog=search.DUPES_EPILOG)(search.dupes_command)
    app.command("report", epilog=report.REPORT_EPILOG)(report.report_command)
    app.command("demo", epilog=demo.DEMO_EPILOG)(demo.demo_command)


_register()


def main() -> None:
    """The command line, for callers in the same process: ends in SystemExit. (The
    installed `verify` is `verify.early.main`, which also ends the process without the
    interpreter's teardown.)"""
    from verify.early import run

    run()
