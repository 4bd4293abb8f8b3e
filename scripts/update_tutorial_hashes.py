"""Regenerate the audit hashes docs/tutorial.md's sections 1-4 show, after a change to what
audit entries record moved them (tests/test_tutorial.py fails until then):

    .venv/bin/python scripts/update_tutorial_hashes.py

It runs the tutorial's commands as the test does, then replaces each old hash (the `verify
log` column, the head, its shortened form) with the new one. Read the diff before
committing: only hashes should move.
"""

import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.test_tutorial import TUTORIAL, _steps, run_steps


def main() -> int:
    setup, steps = _steps()
    with tempfile.TemporaryDirectory() as tmp:
        outputs = run_steps(setup, steps, Path(tmp))
    shown = {command: expected for command, expected in steps}
    got = {
        command: out.rstrip("\n").splitlines()
        for (command, _), out in zip(steps, outputs, strict=True)
    }
    pairs: dict[str, str] = {}
    for old, new in zip(shown["verify log"], got["verify log"], strict=True):
        if old.split()[-1] != new.split()[-1]:
            pairs[old.split()[-1]] = new.split()[-1]
    old_head = shown["verify log --head"][0].split(":", 2)[2]
    new_head = got["verify log --head"][0].split(":", 2)[2]
    pairs[old_head] = new_head
    pairs[old_head[:8] + "…"] = new_head[:8] + "…"
    text = TUTORIAL.read_text()
    for old, new in sorted(pairs.items(), key=lambda p: -len(p[0])):
        text = text.replace(old, new)
    TUTORIAL.write_text(text)
    for old, new in pairs.items():
        print(f"{old} -> {new}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
