"""`verify demo`: the whole tool once, in a throwaway archive."""

import sys
from pathlib import Path
from typing import Annotated

import typer

from verify.cli.output import examples, notice, print_json

DEMO_EPILOG = examples("verify demo", "verify demo --home /tmp/verify-demo --json")


def demo_command(
    ctx: typer.Context,
    home: Annotated[
        Path | None,
        typer.Option(
            "--home",
            help="Where to build the demo archive: a new or empty folder (default: a new "
            "temp directory). Always SQLite.",
            show_default=False,
        ),
    ] = None,
    case_file: Annotated[
        Path | None,
        typer.Option(
            help="A case file to import instead of the worked example shipped with verify "
            "(cases/belgorod-legion-video.toml).",
            show_default=False,
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the outcome as JSON.")] = False,
) -> None:
    """Run every capability once on synthetic media and print the HTML report's path.

    Imports the worked example case, generates a clip and a subtitled re-encoded copy
    (labelled synthetic), preserves both, finds the copy's original with duplicate search,
    records the derivation, sets a status with a rationale and writes the HTML report.
    Your own archive is not touched. The two clips stay in the demo archive's `demo-media`
    folder, for trying the other commands on. The global `verify --home DIR demo` is taken
    as `--home DIR` (which must be a new or empty folder too).
    """
    from verify.cli import given_home
    from verify.services.demo import run_demo

    if home is None:
        home = given_home(ctx)  # `verify --home DIR demo` means the demo's folder too
    result = run_demo(home=home, case_file=case_file, say=notice)
    if as_json:
        print_json(result.to_dict())
    else:
        sys.stdout.write(f"{result.report}\n")
