"""`verify case …`, `verify claim …`, `verify note …`."""

import sys
from typing import Annotated, Any

import typer

from verify.cli import archive_of, source_of
from verify.cli.output import clean, clean_block, columns, examples, notice, print_json, table

case_app = typer.Typer(
    help="Open, list, show and edit cases (one per piece of attributed media).",
    no_args_is_help=True,
)
claim_app = typer.Typer(
    help="Add claims under test and record findings on them.", no_args_is_help=True
)
note_app = typer.Typer(help="Free-text notes on a case.", no_args_is_help=True)

JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON (shape: docs/json.md).")]
CaseArg = Annotated[str, typer.Argument(help="Case reference (its slug).", show_default=False)]


@case_app.command(
    "open",
    epilog=examples(
        'verify case open "Alleged FRL video, Belgorod, May 2023" '
        '--claim "shows the Freedom of Russia Legion" --claim "filmed in Belgorod region"',
        'verify case open "RVC village-sign video" --slug rvc-signs',
        'verify case open "Bridge damage photo" --json | jq -r .slug',
    ),
)
def case_open(
    ctx: typer.Context,
    title: Annotated[str, typer.Argument(help="What the case is about.", show_default=False)],
    slug: Annotated[
        str | None,
        typer.Option(help="Reference to use (default: from the title).", show_default=False),
    ] = None,
    claim: Annotated[
        list[str] | None,
        typer.Option("--claim", help="A claim under test (repeatable).", show_default=False),
    ] = None,
    summary: Annotated[str, typer.Option(help="Longer description.")] = "",
    as_json: JsonOpt = False,
) -> None:
    """Open a case and print its reference (slug) alone on stdout (with --json, the case as
    `verify case show --json` gives it)."""
    from verify.services import cases

    created = cases.open_case(
        archive_of(ctx), title, slug=slug, claims=claim or [], summary=summary
    )
    same_title = created.pop("same_title")
    if as_json:
        print_json(created)
    else:
        sys.stdout.write(created["slug"] + "\n")
    if same_title:
        held = ", ".join(repr(s) for s in same_title)
        has = "case {} already has" if len(same_title) == 1 else "cases {} already have"
        sys.stderr.write(
            clean(f"note: {has.format(held)} this title; this one is {created['slug']!r}") + "\n"
        )
    made = cases.slug_of(title)
    if slug is None and made.empty:
        sys.stderr.write(
            f"note: the title has no letters a reference can be made from, so the case is "
            f"{created['slug']!r}; `verify case open ... --slug NAME` chooses one\n"
        )
    elif slug is None and made.by_letter:
        sys.stderr.write(
            f"note: the reference {created['slug']!r} spells the title letter by letter; "
            "`verify case open ... --slug NAME` chooses a readable one\n"
        )


@case_app.command(
    "list", epilog=examples("verify case list", "verify case list --status in_progress --json")
)
def case_list(
    ctx: typer.Context,
    status: Annotated[
        str | None, typer.Option(help="Only cases with this status.", show_default=False)
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """List cases, oldest first."""
    from verify.services import caselist

    rows = caselist.list_cases(source_of(ctx), status=status)
    if as_json:
        print_json(rows)
        return
    if not rows and status is not None:
        sys.stderr.write(f"no case has status {status}; `verify case list` lists them all\n")
        return
    if not rows:
        sys.stderr.write("no cases yet; open one with `verify case open TITLE`\n")
        return
    table(
        ["CASE", "STATUS", "CLAIMS", "UPDATED", "TITLE"],
        [[r["slug"], r["status"], len(r["claims"]), r["updated_at"], r["title"]] for r in rows],
    )


def render_case(data: dict[str, Any]) -> None:
    out = [
        f"case:     {clean(data['slug'])}",
        f"title:    {clean(data['title'])}",
        f"status:   {data['status']}",
        f"created:  {data['created_at']} by {clean(data['created_by'])}",
        f"updated:  {data['updated_at']} by {clean(data['updated_by'])}",
    ]
    if data["summary"]:
        out.append(f"summary:  {clean_block(data['summary'], 10)}")
    out.append("claims:" if data["claims"] else "claims:   (none)")
    for c in data["claims"]:
        conf = f", {c['confidence']} confidence" if c["confidence"] else ""
        # continuation lines deeper than `why:` below, which they must not pass for
        out.append(f"  {c['n']}. {clean_block(c['text'], 8)}  [{c['finding']}{conf}]")
        if c["rationale"]:
            out.append(f"     why: {clean_block(c['rationale'], 10)}")
    notes = data.get("notes") or []
    if notes:
        out.append("notes:")
        out.extend(f"  - {n['at']} {clean(n['by'])}: {clean_block(n['text'], 4)}" for n in notes)
    sys.stdout.write("\n".join(out) + "\n")


@case_app.command(
    "show",
    epilog=examples(
        "verify case show belgorod-legion-video",
        "verify case show belgorod-legion-video --json | jq .claims",
    ),
)
def case_show(ctx: typer.Context, case: CaseArg, as_json: JsonOpt = False) -> None:
    """Show a case: title, status, claims with findings, notes."""
    from verify.services import caselist

    data = caselist.show_case(source_of(ctx), case)
    if as_json:
        print_json(data)
    else:
        render_case(data)


@case_app.command(
    "edit",
    epilog=examples('verify case edit belgorod-legion-video --summary "Tweeted 23 May 2023"'),
)
def case_edit(
    ctx: typer.Context,
    case: CaseArg,
    title: Annotated[str | None, typer.Option(help="New title.", show_default=False)] = None,
    summary: Annotated[str | None, typer.Option(help="New summary.", show_default=False)] = None,
    as_json: JsonOpt = False,
) -> None:
    """Change a case's title or summary (old and new values go to the audit trail)."""
    from verify.services import cases

    data = cases.edit_case(archive_of(ctx), case, title=title, summary=summary)
    if as_json:
        print_json(data)
    else:
        sys.stdout.write(data["slug"] + "\n")


@claim_app.command(
    "add", epilog=examples('verify claim add belgorod-legion-video "filmed in May 2023"')
)
def claim_add(
    ctx: typer.Context,
    case: CaseArg,
    text: Annotated[str, typer.Argument(help="The claim under test.", show_default=False)],
) -> None:
    """Add a claim to a case; prints its number."""
    from verify.services import cases

    sys.stdout.write(f"{cases.add_claim(archive_of(ctx), case, text)}\n")


@claim_app.command(
    "assess",
    epilog=examples(
        "verify claim assess belgorod-legion-video 2 --finding supported --confidence medium "
        '--why "village sign geolocated to Graivoron"',
        'verify claim assess belgorod-legion-video 2 --why "sign and church at 0:31 geolocated"',
        "verify claim assess belgorod-legion-video 2 --confidence none",
        "verify claim assess belgorod-legion-video 2 --finding unassessed",
    ),
)
def claim_assess(
    ctx: typer.Context,
    case: CaseArg,
    claim: Annotated[
        int,
        typer.Argument(help="Claim number (see `verify case show`).", show_default=False),
    ],
    finding: Annotated[
        str | None,
        typer.Option(
            help="unassessed, supported, contradicted or unproven: a new assessment.",
            show_default=False,
        ),
    ] = None,
    confidence: Annotated[
        str | None,
        typer.Option(help="low, medium, high, or none (no confidence).", show_default=False),
    ] = None,
    why: Annotated[
        str | None,
        typer.Option(
            help="Rationale (required with any --finding but unassessed).", show_default=False
        ),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Assess one claim: its finding, with a confidence and a rationale.

    An assessment is a whole. --finding starts a new one: the finding, the confidence
    given (none if not given) and the rationale (--why, required); `--finding unassessed`
    clears the confidence and the rationale. Without --finding, --confidence and/or --why
    amend the current assessment, keeping its finding (and the rationale or confidence not
    given). Repeating the current assessment is refused (exit 2). Prints the claim's number.
    """
    from verify.services import cases

    data = cases.assess_claim(
        archive_of(ctx), case, claim, finding=finding, confidence=confidence, why=why
    )
    if as_json:
        print_json(data)
    else:
        sys.stdout.write(f"{data['n']}\n")


@note_app.command(
    "add",
    epilog=examples(
        'verify note add belgorod-legion-video "asked the desk in Kyiv"',
        'verify note add belgorod-legion-video "called the agency" --json',
    ),
)
def note_add(
    ctx: typer.Context,
    case: CaseArg,
    text: Annotated[str, typer.Argument(help="The note.", show_default=False)],
    as_json: JsonOpt = False,
) -> None:
    """Add a note to a case; prints the note's id (with --json, the note as
    `verify case show --json` lists it)."""
    from verify.services import cases

    note = cases.add_note(archive_of(ctx), case, text)
    if as_json:
        print_json(note)
    else:
        sys.stdout.write(f"{note['id']}\n")


@case_app.command(
    "export",
    epilog=examples(
        "verify case export belgorod-legion-video -o cases/belgorod-legion-video.toml",
        "verify case export belgorod-legion-video | less",
    ),
)
def case_export(
    ctx: typer.Context,
    case: CaseArg,
    output: Annotated[
        str | None,
        typer.Option(
            "--output",
            "-o",
            help="Write to FILE (default, or '-': stdout).",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Write a case as a readable TOML case file (no media bytes; see docs/case-files.md).

    The export is recorded in the audit trail (`case.export`, with the file's SHA-256), so
    that what was sent can be shown later."""
    from verify.services import casefile

    if output == "-":
        output = None  # standard output, as `verify report -o -`
    archive = archive_of(ctx)
    text = casefile.export_case(archive, case, output, record=True)
    if n := casefile.left_out(text):
        notice(
            f"note: the file leaves out {n} derivation{'' if n == 1 else 's'} linking this "
            "case's media to media of other cases, and says so (`verify prov derivations "
            f"{case}` lists them)"
        )
    if archive.read_only:
        notice("note: the archive is read-only: this export is not recorded in its audit trail")
    if output is None:
        sys.stdout.write(text)
    else:
        sys.stderr.write(f"wrote {clean(output)}\n")


@case_app.command(
    "import",
    epilog=examples(
        "verify case import cases/belgorod-legion-video.toml",
        "verify case export belgorod-legion-video -o x.toml && $EDITOR x.toml && "
        "verify case import x.toml",
        "verify case import partner.toml --dry-run",
    ),
)
def case_import(
    ctx: typer.Context,
    file: Annotated[str, typer.Argument(help="A TOML case file.", show_default=False)],
    update: Annotated[
        bool,
        typer.Option(
            "--update",
            help="Apply the file's changes to facts this archive holds (claim texts, titles, "
            "appearance or account details, a hand-made assessment…) where the import would "
            "refuse them: facts both archives changed differently since the state both come "
            "from, every change of an older or hand-written file, or of one that cannot be "
            "merged.",
        ),
    ] = False,
    dry_run: Annotated[
        bool,
        typer.Option(
            "--dry-run",
            help="Check the file against the archive and list the audit entries the import "
            "would write, one per line (or --json), then change nothing.",
        ),
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Create or update a case from a case file; prints the case's slug.

    Idempotent: importing the same file twice changes nothing. An edited export applies only
    its differences, each as its own audit entry. New records (claims, status changes,
    notes, media, appearances, attributions, derivations) are added; a change to a fact the
    archive holds is applied when the file continues from the case as it is now (it was
    exported from it, or from a later state of an archive that held the case as it is here:
    `base`, `earlier`). When both archives changed the case since the state both come
    from, the two are merged: each fact takes the value of the side that changed it, and a
    fact both changed differently is refused, naming both (--update takes the file's). An
    older export, or a file with nothing to merge against, that would put back what someone
    changed since is refused with the list of changes (--update applies them). Claim
    assessments always merge (format 2 files list each with who made it and when): the
    other side's are recorded as stated, the latest is current, and none of yours is
    undone. An invalid file changes nothing. Impossible appearance dates (captured before
    posted, in the future) are imported as given, with one warning line each on stderr.

    --dry-run runs the same checks (a file the import would refuse is refused, exit 2) and
    prints what the import would record, one audit entry per line, then rolls it back.
    """
    from verify.services import casefile

    result = casefile.import_case(archive_of(ctx), file, update=update, dry_run=dry_run)
    plural = "" if result.changes == 1 else "s"
    if result.created:
        done = f"case {result.slug} ({result.changes} records)"
        note = f"would create {done}" if dry_run else f"created {done}"
    elif result.changes:
        done = f"case {result.slug}: {result.changes} change{plural}"
        note = f"would update {done}" if dry_run else f"updated {done}"
    else:
        note = f"case {result.slug} is up to date: nothing {'to change' if dry_run else 'changed'}"
    last = result.entries[-1] if result.entries else None
    if last is not None and last["action"] == "case.import" and last["payload"].get("merged"):
        note += ", merged with this archive's changes since the state both come from"
    if dry_run:
        note += "; dry run: nothing written"
    sys.stderr.write(clean(note) + "\n")
    for said in result.notes:
        sys.stderr.write(clean(said) + "\n")
    for problem in result.warnings:
        sys.stderr.write(clean(f"warning: {problem}") + "\n")
    if as_json:
        print_json(
            {
                "slug": result.slug,
                "created": result.created,
                "changes": result.changes,
                "dry_run": dry_run,
                "entries": result.entries,
                "warnings": result.warnings,
                "notes": result.notes,
            }
        )
    elif dry_run:
        lines = columns([(e["action"], _entry_summary(e["payload"])) for e in result.entries])
        sys.stdout.write("".join(line + "\n" for line in lines))
    else:
        sys.stdout.write(result.slug + "\n")


# identifying fields of an audit payload, in the order a summary line gives them
_SUMMARY_KEYS = (
    "n",
    "id",
    "ref",
    "account",
    "media",
    "role",
    "actor",
    "target",
    "title",
    "text",
    "platform",
    "url",
    "posted",
    "from",
    "to",
    "why",
    "state",
    "kind",
    "child",
    "parent",
    "original_name",
    "sha256",
)


def _entry_summary(payload: dict[str, Any]) -> str:
    """One audit payload on one line: its identifying fields, then each change old -> new,
    then who the file says made it and when."""
    from verify.services.casefile import shown_value as _shown
    from verify.services.statecheck import NOTED_KEY

    changed = {k: v for k, v in payload.items() if isinstance(v, dict) and set(v) == {"old", "new"}}
    parts = [
        f"{k}={_shown(payload[k])}"
        for k in _SUMMARY_KEYS
        if k not in changed and payload.get(k) not in (None, "", [])
    ]
    parts += [f"{k} {_shown(v['old'])} -> {_shown(v['new'])}" for k, v in changed.items()]
    noted = payload.get(NOTED_KEY)  # an assessment recorded beside the current one
    if isinstance(noted, dict):
        said = " ".join(f"{k}={_shown(v)}" for k, v in noted.items() if v not in (None, ""))
        parts.append(f"noted, not current: {said}")
    stated = payload.get("stated")
    if isinstance(stated, dict):
        parts.append(f"(stated: by {stated.get('by')} at {stated.get('at')})")
    return " ".join(parts)
