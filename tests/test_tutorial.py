"""The tutorial (docs/tutorial.md) runs as written: every command in the console blocks of
sections 1-4, in order, in one shell with the tutorial's environment (a scratch archive,
`VERIFY_USER=dasha`, the pinned clock), and each command's output is the one printed below
it; so does section 6 (provenance, from the worked example and the demo's clips), but for
its two illustrations that need files of your own. The tutorial promises its output reproduces exactly, times and
hashes included; when an audit payload changes, the hashes it shows must change with it.

Outputs shortened with `…` (an illustration, such as a tampered chain) are not compared,
and neither are the outputs of the section that continues elsewhere."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO

TUTORIAL = REPO / "docs" / "tutorial.md"
MARK = "@@verify-tutorial-step@@"


def _steps(first: int = 1, last: int = 4) -> tuple[list[str], list[tuple[str, list[str]]]]:
    """The setup lines (`export …` of the sh block) and each console command of sections
    `first` to `last` with the output printed below it."""
    text = TUTORIAL.read_text()
    start = text.index(f"\n## {first}.")
    end = text.index(f"\n## {last + 1}.")
    setup_block = re.search(r"```sh\n(.*?)```", text[:start], re.S)
    assert setup_block is not None
    setup = [line.split("#")[0].strip() for line in setup_block.group(1).splitlines()]
    steps: list[tuple[str, list[str]]] = []
    for block in re.findall(r"```console\n(.*?)```", text[start:end], re.S):
        for line in block.splitlines():
            if line.startswith("$ "):
                steps.append((line[2:], []))
            elif line.startswith("    ") and steps and not steps[-1][1]:
                command, out = steps[-1]
                steps[-1] = (command + "\n" + line, out)
            elif steps:
                steps[-1][1].append(line)
    return [s for s in setup if s], steps


def run_steps(setup: list[str], steps: list[tuple[str, list[str]]], tmp: Path) -> list[str]:
    """Each step's output (stdout and stderr), run in one bash in `tmp` with a home of its
    own and no VERIFY_* variable but the tutorial's."""
    script = ["set +e", *setup]
    for command, _ in steps:
        # the marker keeps `$?`, which the tutorial's `echo $?` shows
        script += [f"rc=$?; echo '{MARK}'; (exit $rc)", command + " 2>&1"]
    home = tmp / "user"
    home.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("VERIFY_") and k != "HOME"}
    env |= {
        "HOME": str(home),
        "TMPDIR": str(tmp),
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}",
    }
    done = subprocess.run(
        ["bash", "-c", "\n".join(script)],
        env=env,
        cwd=tmp,
        capture_output=True,
        text=True,
        timeout=300,
    )
    outputs = done.stdout.split(MARK + "\n")[1:]
    assert len(outputs) == len(steps), done.stderr
    return outputs


def test_the_tutorial_runs_as_written(tmp_path: Path) -> None:
    setup, steps = _steps()
    assert len(steps) >= 15
    outputs = run_steps(setup, steps, tmp_path)
    for (command, expected), got in zip(steps, outputs, strict=True):
        if any("…" in line for line in expected):
            continue
        assert got.rstrip("\n").splitlines() == expected, (
            f"$ {command} (after a change to audit payloads: scripts/update_tutorial_hashes.py)"
        )


def test_the_provenance_section_runs_as_written(tmp_path: Path) -> None:
    """Section 6 starts from the repository's root (`repo=$PWD`). Left out: adding a
    witness's file and copying media out to `~/to-legal`, which need files and a home of the
    reader's own."""
    setup, steps = _steps(6, 6)
    illustrations = ("witness.mp4", "~/to-legal")
    steps = [s for s in steps if not any(i in s[0] for i in illustrations)]
    assert len(steps) >= 10
    outputs = run_steps([*setup, f"cd {REPO}"], steps, tmp_path)
    for (command, expected), got in zip(steps, outputs, strict=True):
        assert got.rstrip("\n").splitlines() == expected, f"$ {command}"


@pytest.mark.parametrize("needle", ["VERIFY_FAKE_NOW", "VERIFY_USER=dasha"])
def test_the_tutorial_sets_the_environment_it_relies_on(needle: str) -> None:
    setup, _ = _steps()
    assert any(needle in line for line in setup)
