"""Files written from the archive (`verify.outputs.write_atomically`: reports, case files):
a regular file is replaced atomically; a device or a named pipe at the path is written to,
never renamed over. As root, `case export -o /dev/null` replaced /dev/null itself with a
regular file."""

import os
import stat
import threading
from pathlib import Path

from tests.conftest import RunCli
from verify.outputs import write_atomically


def _read_fifo(path: Path, into: list[bytes]) -> threading.Thread:
    def read() -> None:
        with open(path, "rb") as fh:
            into.append(fh.read())

    t = threading.Thread(target=read, daemon=True)
    t.start()
    return t


def test_a_named_pipe_is_written_to_not_replaced(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    got: list[bytes] = []
    reader = _read_fifo(fifo, got)
    write_atomically(fifo, b"report bytes", prefix=".verify-test-")
    reader.join(10)
    assert got == [b"report bytes"]
    assert stat.S_ISFIFO(fifo.stat().st_mode)
    assert [p.name for p in tmp_path.iterdir()] == ["pipe"]  # no temp file left


def test_a_regular_file_is_replaced_whole(tmp_path: Path) -> None:
    out = tmp_path / "r.md"
    out.write_bytes(b"old and longer")
    assert write_atomically(out, b"new", prefix=".verify-test-") == out.resolve()
    assert out.read_bytes() == b"new"
    assert [p.name for p in tmp_path.iterdir()] == ["r.md"]


def test_case_export_into_a_pipe(cli: RunCli, tmp_path: Path) -> None:
    assert cli("case", "open", "Piped", "--slug", "piped").exit_code == 0
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    got: list[bytes] = []
    reader = _read_fifo(fifo, got)
    r = cli("case", "export", "piped", "-o", str(fifo))
    reader.join(10)
    assert r.exit_code == 0, r.stderr
    assert got and got[0].decode().rstrip().endswith("# end of case file")
    assert stat.S_ISFIFO(fifo.stat().st_mode)
