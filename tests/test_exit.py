"""How a `verify` process ends (`verify.early.leave`): the exit status a command chose,
everything it wrote delivered, `atexit` work done, but no interpreter teardown."""

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
        [sys.executable, str(script)], capture_output=True, text=True, check=False, timeout=60
    )


@pytest.mark.parametrize(
    ("code", "status", "stderr"),
    [
        ("leave(None)", 0, ""),
        ("leave(0)", 0, ""),
        ("leave(2)", 2, ""),
        ("leave(130)", 130, ""),
        ("leave('error: bad')", 1, "error: bad\n"),
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
        "sys.stdout.write('x' * 300000)\n"  # more than one buffer, never flushed by hand
        "sys.stderr.write('warned')\n"
        "leave(3)",
        tmp_path,
    )
    assert out.returncode == 3
    assert out.stdout == "x" * 300000 and out.stderr == "warned"
    assert done.read_text() == "ran"


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
    """`verify log | head -1`: the reader leaves early; no traceback, the status stands."""
    script = tmp_path / "script.py"
    script.write_text(
        "import sys\nfrom verify.early import leave\nsys.stdout.write('line\\n' * 200000)\nleave(0)\n"
    )
    proc = subprocess.Popen(
        [sys.executable, str(script)], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.read(10)
    proc.stdout.close()
    err = proc.stderr.read()
    assert proc.wait(timeout=60) == 0
    assert err == b""


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
