"""Generate docs/cli.md from the command tree: `python -m verify.cli.docs > docs/cli.md`.

A test regenerates it and fails when the committed file differs, so the reference cannot
drift from the code, and fails when any command lacks help or an example.
"""

import sys
from typing import Any

import typer

from verify.cli import app

HEADER = """# CLI reference

Generated from the code by `make docs` (`python -m verify.cli.docs`); a test fails when
this file is out of date. Global options (`--home`, `--as`) go before the command:
`verify --home /tmp/demo case list` (after it, they are refused with a line saying so).
Exit codes: [exit-codes.md](exit-codes.md); JSON
shapes: [json.md](json.md).
"""


def _params(cmd: Any, ctx: Any) -> list[str]:
    rows = []
    for p in cmd.get_params(ctx):
        record = p.get_help_record(ctx)
        if record is None:
            continue
        name, help_text = record
        rows.append(f"| `{name}` | {help_text.replace('|', '/')} |")
    return rows


def _walk(cmd: Any, path: list[str], parent: Any, out: list[str]) -> None:
    ctx = typer.Context(cmd, info_name=path[-1], parent=parent)
    subcommands = getattr(cmd, "commands", None)
    title = " ".join(path)
    out.append(f"\n## `{title}`\n")
    if cmd.help:
        out.append(cmd.help.strip() + "\n")
    if not subcommands:
        pieces = " ".join(cmd.collect_usage_pieces(ctx))
        out.append(f"```\n{title} {pieces}\n```\n")
    params = _params(cmd, ctx)
    if params:
        out.append("| argument / option | description |\n|---|---|")
        out.extend(params)
        out.append("")
    if cmd.epilog:
        out.append("```\n" + cmd.epilog.replace("\b\n", "").strip() + "\n```\n")
    subs: dict[str, Any] = dict(subcommands or {})
    for name in sorted(subs):
        _walk(subs[name], [*path, name], ctx, out)


def render() -> str:
    root = typer.main.get_command(app)
    out = [HEADER]
    _walk(root, ["verify"], None, out)
    return "\n".join(out).rstrip() + "\n"


def iter_leaf_commands() -> list[tuple[str, Any]]:
    """(full name, command) for every runnable command, for the docs tests."""
    found: list[tuple[str, Any]] = []

    def walk(cmd: Any, path: list[str]) -> None:
        subs = getattr(cmd, "commands", None)
        if subs:
            for name, sub in subs.items():
                walk(sub, [*path, name])
        else:
            found.append((" ".join(path), cmd))

    walk(typer.main.get_command(app), ["verify"])
    return found


if __name__ == "__main__":
    sys.stdout.write(render())
