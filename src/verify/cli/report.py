"""`verify report CASE`: the provenance report a desk publishes or hands to a lawyer."""

import sys
from pathlib import Path
from typing import Annotated

import typer

from verify.cli import archive_of
from verify.cli.output import clean, examples, notice

REPORT_EPILOG = examples(
    "verify report belgorod-legion-video",
    "verify report belgorod-legion-video -o legion.html",
    "verify report belgorod-legion-video --format json -o - | jq .provenance.timeline",
    "verify report belgorod-legion-video --format md --at 2026-12-01T09:30:00Z",
    "verify report belgorod-legion-video -o for-counsel.html --redact-other-cases",
)


def report_command(
    ctx: typer.Context,
    case: Annotated[str, typer.Argument(help="Case reference (its slug).", show_default=False)],
    fmt: Annotated[
        str | None,
        typer.Option(
            "--format",
            "-f",
            help="md, html, json, or pdf (needs the extra: pip install 'verify[pdf]'). "
            "Default: what the extension of -o says (.md/.markdown, .html/.htm, .json, "
            ".pdf), else md. A format the extension contradicts is refused.",
            show_default=False,
        ),
    ] = None,
    output: Annotated[
        str | None,
        typer.Option(
            "--output",
            "-o",
            help="File to write ('-' for stdout). Default: CASE-report.EXT in the current "
            "directory.",
            show_default=False,
        ),
    ] = None,
    at: Annotated[
        str | None,
        typer.Option(
            "--at",
            help="Generation time written into the report (ISO 8601; default now), not "
            "in the future nor before a change recorded since in the archive (in any case: "
            "a report draws on every case; reports and copies written are not changes). The "
            "same archive and --at give a byte-identical report: pass the time written in a "
            "report (or its generated_at in `verify log CASE --json`) to write it again "
            "while the archive has not changed since.",
            show_default=False,
        ),
    ] = None,
    redact_other_cases: Annotated[
        bool,
        typer.Option(
            "--redact-other-cases",
            help="Name no other case: their slugs become OTHER-1, OTHER-2…, their files "
            "media ids and SHA-256 prefixes, findings about their records are withheld; for "
            "a report handed to a third party. Free text (notes, rationales, captions, "
            "evidence) is shown as written: read it first.",
        ),
    ] = False,
) -> None:
    """Write a case's provenance report and print its path.

    Sections: status and claims, provenance (timeline with the earliest known appearance,
    attributions, derivation graph), media (hashes, metadata, keyframes, near-duplicates in
    other cases) and integrity (audit checkpoint, check result, versions). The report's
    SHA-256 is recorded in the audit trail (`report.write`).
    """
    from verify.services import report as svc
    from verify.timeutil import parse_utc

    fmt = svc.output_format(fmt, output)
    when = None
    if at is not None:
        try:
            when = parse_utc(at)
        except ValueError:
            from verify.errors import BadInputError

            raise BadInputError(
                f"bad --at {at!r}: use ISO 8601, e.g. 2023-06-01T00:00:00Z"
            ) from None
    to_stdout = output == "-"
    target = None if to_stdout else Path(output or svc.default_filename(case, fmt))
    written = svc.write_report(
        archive_of(ctx),
        case,
        fmt,
        output=target,
        at=when,
        redact_other_cases=redact_other_cases,
    )
    if written.audit_seq is None:
        notice("note: the archive is read-only: this report is not recorded in its audit trail")
    if not written.check_ok:
        notice(
            "warning: `verify check` found problems in the archive; the report's Integrity "
            "section lists them"
            + (
                " (files not in this home's evidence store: is --home, or VERIFY_HOME, the "
                "folder they were added under?)"
                if written.only_missing
                else ""
            )
        )
    if to_stdout:
        sys.stdout.buffer.write(written.content)
        sys.stdout.flush()
    else:
        sys.stdout.write(f"{clean(written.path)}\n")
