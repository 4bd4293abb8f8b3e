"""`verify log` and `verify check`: the audit trail and integrity checks."""

import sys
from typing import TYPE_CHECKING, Annotated

import typer

from verify.cli import archive_of, source_of
from verify.cli.output import clean, examples, print_json, table
from verify.errors import ExitCode

if TYPE_CHECKING:
    from verify.services.log import CheckReport

LOG_EPILOG = examples(
    "verify log",
    "verify log belgorod-legion-video --json",
    "verify log --head >> ~/verify-checkpoints.txt",
)
CHECK_EPILOG = examples(
    "verify check",
    'verify check --against "$(tail -n1 ~/verify-checkpoints.txt)"',
    "verify check --json",
)


def log_command(
    ctx: typer.Context,
    case: Annotated[
        str | None, typer.Argument(help="Only this case's entries.", show_default=False)
    ] = None,
    limit: Annotated[
        int | None,
        typer.Option("--limit", "-n", help="Only the last N entries.", show_default=False),
    ] = None,
    head: Annotated[
        bool,
        typer.Option(
            "--head",
            help="Print only the chain head as SEQ:HASH, a checkpoint to keep elsewhere "
            "(exit 3, nothing printed, when the chain does not verify).",
        ),
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Show the tamper-evident audit trail (every change, who made it, when)."""
    from verify.services import logread

    source = source_of(ctx)
    if head:
        h = logread.head(source)
        if as_json:
            print_json(h)
        else:
            sys.stdout.write(f"{h['seq']}:{h['hash']}\n")
        return
    entries = logread.read_log(source, case, limit=limit)
    if as_json:
        print_json(entries)
        return
    table(
        ["SEQ", "AT", "ACTOR", "ACTION", "CASE", "HASH"],
        [
            [e["seq"], e["at"], e["actor"], e["action"], e["case"] or "-", e["hash"][7:19]]
            for e in entries
        ],
    )


def check_command(
    ctx: typer.Context,
    against: Annotated[
        str | None,
        typer.Option(
            help="An earlier checkpoint SEQ:sha256:HEX from `verify log --head`.",
            show_default=False,
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Verify the database, the audit chain and every stored object, and that each case
    (title, summary, status, who opened it and when) and its status history (verdict
    rationales), each claim, note and account, each attribution and its state history, and
    each media record, appearance and derivation are what the audit trail last recorded
    (docs/concepts.md lists what is compared and what is not).

    Exit 0 when clean (orphaned objects, temp files and stray entries the store never
    writes are reported but harmless; so are audit entries whose times are not when they
    were written, `clock` findings, with a warning, and accounts left under another name
    of their platform by the upgrade, `alias` findings), exit 3 on any other finding,
    naming the first bad audit entry.
    """
    from verify.services import log as svc

    archive = archive_of(ctx)
    report = svc.check_archive(archive, against=against)
    if as_json:
        print_json(report.to_dict())
    else:
        for f in report.findings:
            sys.stdout.write(f"{f.category}: {clean(f.subject)}: {clean(f.detail)}\n")
        state = "ok" if report.ok else "FAILED"
        if report.unreadable_database:
            sys.stdout.write(
                "FAILED: the database could not be read; the audit trail and the evidence "
                "store were not checked\n"
            )
        elif report.first_bad_seq is not None:
            # not "3 audit entries": that read as if the others were gone
            verified = (
                f"{report.audit_entries} of {report.audit_stored} audit entries verify "
                f"(broken at seq {report.first_bad_seq})"
                if report.audit_entries < report.audit_stored
                else f"the {report.audit_stored} audit entries do not agree with the head on "
                f"record (at seq {report.first_bad_seq})"
            )
            sys.stdout.write(
                f"FAILED: {verified}, head on record {report.audit_head}; {_objects(report)}\n"
            )
        else:
            confirmed = ""
            if against and not any(f.category == "checkpoint" for f in report.findings):
                confirmed = f"; checkpoint {against.split(':', 1)[0]} matches"
            sys.stdout.write(
                f"{state}: {report.audit_entries} audit entries, head {report.audit_head}"
                f"{confirmed}; {_objects(report)}\n"
            )
    spans = report.clock_entries
    if report.ok and spans:
        said = (
            f"audit entry {spans[0][0]}: its time is not when it was written"
            if spans == [(spans[0][0], spans[0][0])]
            else "audit entries "
            + ", ".join(str(a) if a == b else f"{a}-{b}" for a, b in spans)
            + ": their times are not when they were written"
        )
        sys.stderr.write(
            f"warning: {said} (the clock findings); the trail is intact, and its order is by seq\n"
        )
    if not report.ok:
        checkpoint = [f for f in report.findings if f.category == "checkpoint"]
        altered = [f for f in report.findings if f.category == "state"]
        if report.first_bad_seq is not None:
            sys.stderr.write(f"error: audit trail broken at seq {report.first_bad_seq}\n")
        elif checkpoint:
            seq = checkpoint[0].subject.removeprefix("seq ")
            sys.stderr.write(
                f"error: the audit trail does not match checkpoint {seq} (rewritten?)\n"
            )
        elif altered:
            sys.stderr.write(
                f"error: {clean(altered[0].subject)} differs from the audit trail "
                "(edited behind the tool's back?)\n"
            )
        elif report.only_missing:
            n = report.objects_checked
            which = (
                "the archive's one stored file is not"
                if n == 1
                else f"none of the archive's {n} stored files is"
            )
            sys.stderr.write(
                f"error: {which} in its evidence store {clean(archive.store.root)}: is --home "
                "(or VERIFY_HOME) the folder they were added under?\n"
            )
        else:
            sys.stderr.write("error: integrity check failed\n")
        raise typer.Exit(int(ExitCode.INTEGRITY))


def _objects(report: "CheckReport") -> str:
    """`N objects checked`, and how many of them are not in the evidence store (not
    re-hashed: on a team archive, most likely added under another home)."""
    said = f"{report.objects_checked} objects checked"
    missing = report.objects_missing
    return f"{said}, {missing} not in the evidence store" if missing else said
