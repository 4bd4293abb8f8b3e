"""`verify status …`: the verification workflow."""

import sys
from typing import Annotated

import typer

from verify.cli import archive_of, source_of
from verify.cli.output import examples, print_json, table

status_app = typer.Typer(
    help="Set a case's verification status and read its history.", no_args_is_help=True
)


@status_app.command(
    "set",
    epilog=examples(
        "verify status set belgorod-legion-video in_progress",
        'verify status set belgorod-legion-video misattributed --why "earliest copy predates '
        'the claimed event"',
    ),
)
def status_set(
    ctx: typer.Context,
    case: Annotated[str, typer.Argument(help="Case reference (slug).", show_default=False)],
    status: Annotated[
        str,
        typer.Argument(
            help="unverified, in_progress, needs_review, or a verdict: verified, misattributed, "
            "misleading, false, inconclusive.",
            show_default=False,
        ),
    ],
    why: Annotated[
        str | None,
        typer.Option(
            help="Rationale; required for a verdict and for reopening.", show_default=False
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the change as JSON.")] = False,
) -> None:
    """Change a case's status; prints the new status."""
    from verify.services import status as svc

    change = svc.set_status(archive_of(ctx), case, status, why)
    if as_json:
        print_json(change)
    else:
        sys.stdout.write(change["to"] + "\n")


@status_app.command(
    "history", epilog=examples("verify status history belgorod-legion-video --json")
)
def status_history(
    ctx: typer.Context,
    case: Annotated[str, typer.Argument(help="Case reference (slug).", show_default=False)],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Every status the case has had, with who, when and why."""
    from verify.services import caselist

    rows = caselist.status_history(source_of(ctx), case)
    if as_json:
        print_json(rows)
        return
    table(
        ["AT", "BY", "FROM", "TO", "WHY"],
        [[r["at"], r["by"], r["from"] or "-", r["to"], r["why"]] for r in rows],
    )
