"""How a `verify` process ends (`verify.early.leave`): the exit status a command chose,
everything it wrote delivered, `atexit` work done, but no interpreter teardown."""

import errno
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import RunCli


def _leave(code: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    """Run `code` (which ends with a call to `leave`) in a fresh interpreter."""
    script = tmp_path / "script.py"
    script.write_text(
        f"import atexit, sys, threading, time\nfrom verify.early import leave\n{code}\n"
    )
    return subprocess.run(
        [sys.executable, str(script)],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
        env=_buffered(),
    )


def _buffered() -> dict[str, str]:
    """The environment with stdout block-buffered, as a user's shell normally has it (some
    CI machines set PYTHONUNBUFFERED), so output does wait in the buffer until exit."""
    return {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}


@pytest.mark.parametrize(
    ("code", "status", "stderr"),
    [
        ("leave(None)", 0, ""),
        ("leave(0)", 0, ""),
        ("leave(2)", 2, ""),
        ("leave(130)", 130, ""),
        ("leave('error: bad')", 1, "error: bad\n"),
        ("leave(True)", 1, ""),
        ("leave(False)", 0, ""),
        ("leave(-1)", 255, ""),
        ("leave(256)", 0, ""),
    ],
)
def test_the_status_is_the_one_systemexit_would_give(
    code: str, status: int, stderr: str, tmp_path: Path
) -> None:
    out = _leave(code, tmp_path)
    assert (out.returncode, out.stderr) == (status, stderr)


def test_buffered_output_and_atexit_work_are_not_lost(tmp_path: Path) -> None:
    done = tmp_path / "done"
    out = _leave(
        f"atexit.register(lambda: open({str(done)!r}, 'w').write('ran'))\n"
        "sys.stdout.write('x' * 300000)\n"  # more than one buffer
        "sys.stdout.write('end')\n"  # this part waits in the buffer: never flushed by hand
        "sys.stderr.write('warned')\n"
        "leave(3)",
        tmp_path,
    )
    assert out.returncode == 3
    assert out.stdout == "x" * 300000 + "end" and out.stderr == "warned"
    assert done.read_text() == "ran"


# an object whose finaliser only the interpreter's teardown runs (a module global)
NOISY = (
    "import os\n"
    "class Noisy:\n"
    "    def __del__(self, write=os.write):\n"
    "        write(2, b'torn down')\n"
    "noisy = Noisy()\n"
)


@pytest.mark.parametrize(
    ("profiled", "stderr"),
    [(False, ""), (True, "torn down")],
    ids=["teardown-skipped", "profiled-normal-exit"],
)
def test_the_teardown_is_skipped_unless_profiled(
    profiled: bool, stderr: str, tmp_path: Path
) -> None:
    """What only the teardown does is not done: that is the time saved. Under a tracer or
    profiler (coverage and cProfile write their data in the teardown) the normal exit is
    taken."""
    profile = "sys.setprofile(lambda *a: None)\n" if profiled else ""
    out = _leave(NOISY + profile + "leave(5)", tmp_path)
    assert (out.returncode, out.stderr) == (5, stderr)


def test_a_running_thread_gets_the_normal_exit(tmp_path: Path) -> None:
    """A non-daemon thread still working is waited for, as by Python's own exit."""
    out = _leave(
        "def late():\n"
        "    time.sleep(0.3)\n"
        "    print('thread finished', flush=True)\n"
        "threading.Thread(target=late).start()\n"
        "leave(4)",
        tmp_path,
    )
    assert (out.returncode, out.stdout) == (4, "thread finished\n")


def test_a_closed_reader_is_not_an_error(tmp_path: Path) -> None:
    """`verify log | head -1`: the reader has gone when the output is flushed at exit; no
    traceback, the status stands."""
    script = tmp_path / "script.py"
    script.write_text(
        "import sys\n"
        "from verify.early import leave\n"
        "sys.stdout.write('line\\n' * 100)\n"  # waits in the buffer
        "sys.stdin.readline()\n"  # until the reader has gone
        "leave(0)\n"
    )
    proc = subprocess.Popen(
        [sys.executable, str(script)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=_buffered(),
    )
    assert proc.stdin is not None and proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()
    proc.stdin.write(b"go\n")
    proc.stdin.close()
    try:
        err = proc.stderr.read()
        assert proc.wait(timeout=60) == 0
    finally:
        proc.kill()
        proc.wait()
    assert err == b""


def test_verify_cli_main_ends_in_systemexit(monkeypatch: pytest.MonkeyPatch) -> None:
    """For a caller in the same process, `verify.cli.main` raises SystemExit (catchable),
    as before; only the console script ends the process."""
    import verify.early
    from verify.cli import main

    def no_leaving(code: object) -> None:  # were it called, pytest itself would end, silently
        raise AssertionError(f"verify.cli.main called leave({code!r})")

    monkeypatch.setattr(verify.early, "leave", no_leaving)
    monkeypatch.setattr(sys, "argv", ["verify", "--version"])
    with pytest.raises(SystemExit) as exc:
        main()
    assert exc.value.code in (None, 0)


def test_commands_leave_a_tidy_archive(cli: RunCli, home: Path, tmp_path: Path) -> None:
    """Through the installed entry point: exit codes as documented, and the database closed
    (no write-ahead log left beside it) after a command that wrote."""
    env = {**os.environ, "VERIFY_HOME": str(home), "VERIFY_USER": "tester"}
    verify = [sys.executable, "-m", "verify"]

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*verify, *args], env=env, capture_output=True, text=True, check=False, timeout=120
        )

    opened = run("case", "open", "Tidy", "--slug", "t")
    assert opened.returncode == 0, opened.stderr
    listed = run("case", "list", "--json")
    assert listed.returncode == 0 and '"t"' in listed.stdout
    assert not (home / "verify.db-wal").exists()
    bad = run("media", "show", "nosuch")
    assert bad.returncode == 2 and bad.stderr.startswith("error: bad media reference")
    usage = run("case", "nosuch")
    assert usage.returncode == 2 and "see 'verify case -h'" in usage.stderr


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="no /dev/full on this system")
@pytest.mark.parametrize("buffered", [True, False])
@pytest.mark.parametrize("args", [["--version"], ["--help"], ["case", "list", "--json"], ["log"]])
def test_output_on_a_full_disk_is_one_line_and_exit_2(
    args: list[str], buffered: bool, home: Path
) -> None:
    env = {**_buffered(), "VERIFY_HOME": str(home), "VERIFY_USER": "tester"}
    if not buffered:
        env["PYTHONUNBUFFERED"] = "1"
    subprocess.run(
        [sys.executable, "-m", "verify", "case", "open", "Full", "--slug", "f"],
        env=env,
        check=True,
        capture_output=True,
        timeout=120,
    )
    with open("/dev/full", "w") as full:
        out = subprocess.run(
            [sys.executable, "-m", "verify", *args],
            env=env,
            stdout=full,
            stderr=subprocess.PIPE,
            text=True,
            check=False,
            timeout=120,
        )
    assert out.returncode == 2
    assert out.stderr == "error: could not write: No space left on device\n"


@pytest.mark.parametrize("reason", [errno.ENOSPC, errno.EDQUOT, errno.EFBIG])
def test_a_full_disk_elsewhere_keeps_what_stdout_had(
    reason: int, cli: RunCli, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A write that fails for want of room somewhere other than stdout: one line, exit 2,
    and what the command had printed still reaches stdout (in process, as a library user
    or the test runner calls it)."""
    from verify.services import caselist

    def full(*args: object, **kwargs: object) -> None:
        sys.stdout.write("printed before\n")
        raise OSError(reason, os.strerror(reason))

    monkeypatch.setattr(caselist, "list_cases", full)
    r = cli("case", "list")
    assert r.exit_code == 2
    assert r.stdout == "printed before\n"
    assert r.stderr == f"error: could not write: {os.strerror(reason)}\n"


def test_an_io_error_is_not_called_a_full_disk(
    cli: RunCli, monkeypatch: pytest.MonkeyPatch
) -> None:
    """EIO comes from reading a failing disk too: not reported as a write failure."""
    from verify.services import caselist

    def failing(*args: object, **kwargs: object) -> None:
        raise OSError(errno.EIO, os.strerror(errno.EIO))

    monkeypatch.setattr(caselist, "list_cases", failing)
    r = cli("case", "list")
    assert r.exit_code == 1 and "internal error" in r.stderr
