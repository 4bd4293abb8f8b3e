"""`verify prov …` (accounts, appearances, attributions, derivations) and `verify timeline`."""

import sys
from typing import Annotated, Any

import typer

from verify.cli import archive_of, source_of
from verify.cli.output import clean, examples, notice, print_json, table
from verify.errors import BadInputError

CASE = "belgorod-legion-video"

prov_app = typer.Typer(
    help="Provenance: where the media appeared, who did what to it (by role), who says so, "
    "and how copies derive from each other.",
    no_args_is_help=True,
)
account_app = typer.Typer(
    help="Actors: platform accounts (x:@handle, telegram:@channel) and named people or "
    "organisations (person:NAME, org:NAME).",
    no_args_is_help=True,
)
appearance_app = typer.Typer(
    help="Appearances: one post of the media on one platform.", no_args_is_help=True
)
attribution_app = typer.Typer(
    help="Change an attribution's state (the history is kept).", no_args_is_help=True
)
prov_app.add_typer(account_app, name="account")
prov_app.add_typer(appearance_app, name="appearance")
derivation_app = typer.Typer(
    help="Take back a derivation recorded by mistake (it stays on record).", no_args_is_help=True
)
prov_app.add_typer(attribution_app, name="attribution")
prov_app.add_typer(derivation_app, name="derivation")

JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON.")]
CaseArg = Annotated[str, typer.Argument(help="Case reference (its slug).", show_default=False)]
AccountArg = Annotated[
    str,
    typer.Argument(
        help="Account as platform:handle, e.g. x:@Gerashchenko_en or person:Andriy Yusov.",
        show_default=False,
    ),
]


def _opt(help_text: str, *names: str) -> Any:
    return typer.Option(*names, help=help_text, show_default=False)


def _print_made(data: dict[str, Any], as_json: bool) -> None:
    """What an add command made: its id alone, or with --json the object as its listing
    gives it; then on stderr the service's `notes` and date `warnings`, which are not part
    of the object."""
    notes, warnings = data.pop("notes"), data.pop("warnings", [])
    if as_json:
        print_json(data)
    else:
        sys.stdout.write(f"{data['id']}\n")
    for said in notes:
        notice(said)
    for problem in warnings:
        notice(f"warning: {problem}")


# --------------------------------------------------------------------------- accounts


@account_app.command(
    "add",
    epilog=examples(
        'verify prov account add x:@Gerashchenko_en --name "Anton Gerashchenko" --kind person '
        '--credibility "adviser to Ukraine\'s interior minister"',
        'verify prov account add "person:Andriy Yusov" --kind person',
    ),
)
def account_add(
    ctx: typer.Context,
    ref: AccountArg,
    name: Annotated[str | None, _opt("Display name.")] = None,
    url: Annotated[str | None, _opt("Profile URL.")] = None,
    kind: Annotated[str | None, _opt("person, organisation, channel, outlet or unknown.")] = None,
    credibility: Annotated[str | None, _opt("A note on the actor's credibility.")] = None,
) -> None:
    """Add an account; prints its reference (platform:handle)."""
    from verify.services import provenance

    data = provenance.add_account(
        archive_of(ctx), ref, display_name=name, url=url, kind=kind, credibility=credibility
    )
    sys.stdout.write(data["ref"] + "\n")
    for said in data["notes"]:
        notice(said)


@account_app.command(
    "edit",
    epilog=examples(
        'verify prov account edit telegram:@example_channel --kind channel --credibility "unknown"'
    ),
)
def account_edit(
    ctx: typer.Context,
    ref: AccountArg,
    name: Annotated[str | None, _opt("Display name ('' clears it).")] = None,
    url: Annotated[str | None, _opt("Profile URL ('' clears it).")] = None,
    kind: Annotated[str | None, _opt("person, organisation, channel, outlet or unknown.")] = None,
    credibility: Annotated[str | None, _opt("Credibility note ('' clears it).")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Change an account's name, URL, kind or credibility note (audited old -> new)."""
    from verify.services import provenance

    data = provenance.edit_account(
        archive_of(ctx), ref, display_name=name, url=url, kind=kind, credibility=credibility
    )
    if as_json:
        print_json(data)
    else:
        sys.stdout.write(data["ref"] + "\n")


@account_app.command(
    "list", epilog=examples("verify prov account list", "verify prov account list --json")
)
def account_list(ctx: typer.Context, as_json: JsonOpt = False) -> None:
    """List every account, by platform and handle."""
    from verify.services import provread

    rows = provread.list_accounts(source_of(ctx))
    if as_json:
        print_json(rows)
        return
    if not rows:
        sys.stderr.write("no accounts yet; they are created on first mention\n")
        return
    table(
        ["ACCOUNT", "KIND", "NAME", "CREDIBILITY"],
        [[r["ref"], r["kind"], r["display_name"], r["credibility"]] for r in rows],
    )


# --------------------------------------------------------------------------- appearances


# an appearance's fields, as `appearance add` and `appearance edit` take them
_Url = Annotated[str | None, _opt("URL of the post.")]
_PostId = Annotated[str | None, _opt("The platform's id of the post.", "--post-id")]
_Account = Annotated[str | None, _opt("Who posted it (platform:handle).")]
_Posted = Annotated[
    str | None,
    _opt("When posted: 2023-05-23 (day), 2023-05-23T14:05Z or +03:00 (exact), ~2023-05."),
]
_Captured = Annotated[str | None, _opt("When we saw or archived it (ISO 8601).")]
_Caption = Annotated[str | None, _opt("Caption or post text.")]
_Language = Annotated[str | None, _opt("Language of the caption (e.g. en, uk, ru).")]
_ForwardedFrom = Annotated[str | None, _opt("Forwarded from (account or URL).", "--forwarded-from")]
_QuotedFrom = Annotated[str | None, _opt("Quoted from (account or URL).", "--quoted-from")]
_ArchiveUrl = Annotated[
    str | None, _opt("An archived copy (Wayback, archive.today).", "--archive-url")
]
_Media = Annotated[str | None, _opt("The media file of the case it shows (id or sha256:PREFIX).")]
_Note = Annotated[str | None, _opt("Free-text note.")]


@appearance_app.command(
    "add",
    epilog=examples(
        f"verify prov appearance add {CASE} --account x:@Gerashchenko_en --posted 2023-05-23 "
        '--note "says it was first published on Telegram"',
        f"verify prov appearance add {CASE} --platform telegram --posted 2023-05-22T18:40+03:00 "
        "--captured 2023-05-24T09:00Z --media sha256:3f2a9c",
    ),
)
def appearance_add(
    ctx: typer.Context,
    case: CaseArg,
    platform: Annotated[str | None, _opt("Platform (default: the account's).")] = None,
    url: _Url = None,
    post_id: _PostId = None,
    account: _Account = None,
    posted: _Posted = None,
    captured: _Captured = None,
    caption: _Caption = None,
    language: _Language = None,
    forwarded_from: _ForwardedFrom = None,
    quoted_from: _QuotedFrom = None,
    archive_url: _ArchiveUrl = None,
    media: _Media = None,
    note: _Note = None,
    as_json: JsonOpt = False,
) -> None:
    """Record where the media appeared; prints the appearance id (with --json, the
    appearance as `verify prov appearance list --json` gives it).

    Impossible dates (captured before posted, either in the future) are recorded as given,
    with one warning line each on stderr.
    """
    from verify.services import provenance

    data = provenance.add_appearance(
        archive_of(ctx),
        case,
        platform=platform,
        url=url,
        post_id=post_id,
        account=account,
        posted=posted,
        captured=captured,
        caption=caption,
        language=language,
        forwarded_from=forwarded_from,
        quoted_from=quoted_from,
        archive_url=archive_url,
        media=media,
        note=note,
    )
    _print_made(data, as_json)


@appearance_app.command(
    "list",
    epilog=examples(
        f"verify prov appearance list {CASE}", f"verify prov appearance list {CASE} --json"
    ),
)
def appearance_list(ctx: typer.Context, case: CaseArg, as_json: JsonOpt = False) -> None:
    """List a case's appearances in the order they were recorded."""
    from verify.services import provread

    rows = provread.list_appearances(source_of(ctx), case)
    if as_json:
        print_json(rows)
        return
    if not rows:
        sys.stderr.write(f"no appearances yet; add one with `verify prov appearance add {case}`\n")
        return
    table(
        ["ID", "PLATFORM", "ACCOUNT", "POSTED", "CAPTURED", "MEDIA", "URL"],
        [
            [
                r["id"],
                r["platform"],
                r["account"],
                r["posted"],
                r["captured_at"],
                r["media"],
                r["url"],
            ]
            for r in rows
        ],
    )


@appearance_app.command(
    "edit",
    epilog=examples(
        'verify prov appearance edit 3 --posted 2023-05-22T18:40+03:00 --why "the post page '
        'shows 18:40 Kyiv time; I had recorded the day of the screenshot"',
        "verify prov appearance edit 3 --account telegram:@example --clear caption --why "
        '"reposted by @example, not posted by it; the caption was the repost\'s"',
    ),
)
def appearance_edit(
    ctx: typer.Context,
    appearance_id: Annotated[
        int,
        typer.Argument(
            help="Appearance id (see `verify prov appearance list`).", show_default=False
        ),
    ],
    why: Annotated[
        str,
        typer.Option("--why", help="Why it is corrected (required).", show_default=False),
    ],
    platform: Annotated[str | None, _opt("Platform.")] = None,
    url: _Url = None,
    post_id: _PostId = None,
    account: _Account = None,
    posted: _Posted = None,
    captured: _Captured = None,
    caption: _Caption = None,
    language: _Language = None,
    forwarded_from: _ForwardedFrom = None,
    quoted_from: _QuotedFrom = None,
    archive_url: _ArchiveUrl = None,
    media: _Media = None,
    note: _Note = None,
    clear: Annotated[
        list[str] | None,
        _opt(
            "Empty a field (repeatable): url, post_id, account, posted, captured, caption, "
            "language, forwarded_from, quoted_from, archive_url, media, note.",
            "--clear",
        ),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Correct a recorded appearance; prints its id (with --json, the appearance as
    `verify prov appearance list --json` gives it, with `changed`).

    Only the fields given change. The audit trail keeps each old value beside the new one,
    with who, when and --why (`verify log`); `verify check` holds the appearance to it.
    Impossible dates are recorded as given, with one warning line each on stderr.
    """
    from verify.services import provenance

    given = {
        "platform": platform,
        "url": url,
        "post_id": post_id,
        "account": account,
        "posted": posted,
        "captured": captured,
        "caption": caption,
        "language": language,
        "forwarded_from": forwarded_from,
        "quoted_from": quoted_from,
        "archive_url": archive_url,
        "media": media,
        "note": note,
    }
    data = provenance.edit_appearance(
        archive_of(ctx),
        appearance_id,
        {k: v for k, v in given.items() if v is not None},
        clear=[c.strip().replace("-", "_") for c in clear or []],
        why=why,
    )
    changed = ", ".join(data["changed"])
    _print_made(data, as_json)
    notice(f"appearance {data['id']}: changed {changed}")


# --------------------------------------------------------------------------- attributions


@prov_app.command(
    "attribute",
    epilog=examples(
        f"verify prov attribute {CASE} subtitler x:@Gerashchenko_en "
        '--evidence "his tweet: he provided the subtitles" --according-to x:@Gerashchenko_en',
        f'verify prov attribute {CASE} claimant "person:Andriy Yusov" '
        '--evidence "Russian citizens" --according-to CNN',
        f"verify prov attribute {CASE} original_poster telegram:@example --target appearance:3",
    ),
)
def attribute(
    ctx: typer.Context,
    case: CaseArg,
    role: Annotated[
        str,
        typer.Argument(
            help="original_poster, reuploader, subtitler, translator, filmer, editor, "
            "narrator or claimant.",
            show_default=False,
        ),
    ],
    actor: AccountArg,
    target: Annotated[
        str | None,
        _opt("What the role is about: case (default), media:ID or appearance:ID."),
    ] = None,
    state: Annotated[
        str, typer.Option(help="claimed, corroborated, refuted or unknown.")
    ] = "claimed",
    evidence: Annotated[
        str | None,
        _opt("Evidence: a URL or a quote; required with --state corroborated or refuted."),
    ] = None,
    according_to: Annotated[
        str | None, _opt("Who says so (account or source).", "--according-to")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Attribute a role to an actor; prints the attribution id (with --json, the attribution
    as `verify prov attributions --json` gives it)."""
    from verify.services import provenance

    data = provenance.attribute(
        archive_of(ctx),
        case,
        role,
        actor,
        target=target,
        state=state,
        evidence=evidence,
        according_to=according_to,
    )
    _print_made(data, as_json)


@attribution_app.command(
    "set",
    epilog=examples(
        "verify prov attribution set 1 --state corroborated "
        '--evidence "subtitle font matches his other uploads" --according-to "our analysis"',
        'verify prov attribution set 4 --state withdrawn --evidence "typo: tiktokk:@foo; '
        'meant tiktok:@foo (attribution 5)"',
    ),
)
def attribution_set(
    ctx: typer.Context,
    attribution_id: Annotated[
        int,
        typer.Argument(help="Attribution id (see `verify prov attributions`).", show_default=False),
    ],
    state: Annotated[
        str,
        typer.Option(
            help="claimed, corroborated, refuted, unknown, or withdrawn (recorded in error).",
            show_default=False,
        ),
    ],
    evidence: Annotated[
        str | None,
        _opt(
            "Evidence for the change; required for corroborated and refuted, and for "
            "withdrawn: why it was recorded in error."
        ),
    ] = None,
    according_to: Annotated[
        str | None, _opt("Whose finding it is (e.g. 'our analysis').", "--according-to")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Change an attribution's state; the old state stays in its history. Prints the state.

    A new state carries only the evidence and source given with it: refuting a claim never
    repeats the claim's evidence or credits its author. With the state it already has,
    --evidence or --according-to updates that one and keeps the other.

    `refuted` is a finding (evidence contradicts it); `withdrawn` is not: it says the
    attribution was recorded in error (a mistyped account, the wrong role), and it then
    names no original platform, as a refuted one does not.
    """
    from verify.services import provenance

    data = provenance.set_attribution_state(
        archive_of(ctx), attribution_id, state, evidence=evidence, according_to=according_to
    )
    if as_json:
        print_json(data)
    else:
        sys.stdout.write(data["state"] + "\n")


@prov_app.command(
    "attributions",
    epilog=examples(f"verify prov attributions {CASE}", f"verify prov attributions {CASE} --json"),
)
def attributions(ctx: typer.Context, case: CaseArg, as_json: JsonOpt = False) -> None:
    """List a case's attributions (JSON includes each one's state history)."""
    from verify.services import provread

    rows = provread.list_attributions(source_of(ctx), case)
    if as_json:
        print_json(rows)
        return
    if not rows:
        sys.stderr.write(
            f"no attributions yet; add one with `verify prov attribute {case} ROLE ACTOR`\n"
        )
        return
    table(
        ["ID", "ROLE", "ACTOR", "TARGET", "STATE", "ACCORDING TO", "EVIDENCE"],
        [
            [
                r["id"],
                r["role"],
                r["actor"],
                r["target"],
                r["state"],
                r["according_to"],
                r["evidence"],
            ]
            for r in rows
        ],
    )


# --------------------------------------------------------------------------- derivations


@prov_app.command(
    "derive",
    epilog=examples(
        "verify prov derive 2 1 --kind subtitled_from --evidence-from-search",
        "verify prov derive sha256:9b1d07 sha256:3f2a9c --kind subtitled_from --evidence "
        '\'{"frames_matched": 41, "offset": -9.0, "variant": "masked"}\'',
    ),
)
def derive(
    ctx: typer.Context,
    child: Annotated[
        str,
        typer.Argument(help="The derived copy (media id or sha256:PREFIX).", show_default=False),
    ],
    parent: Annotated[
        str,
        typer.Argument(
            help="What it derives from (media id or sha256:PREFIX).", show_default=False
        ),
    ],
    kind: Annotated[
        str,
        typer.Option(
            help="subtitled_from, reencode_of, cropped_from, excerpt_of, mirrored_from, "
            "screen_recording_of or translated_from.",
            show_default=False,
        ),
    ],
    evidence: Annotated[
        str | None, _opt("A JSON object (e.g. from a search result) or plain text.")
    ] = None,
    note: Annotated[str | None, _opt("Free-text note.")] = None,
    from_search: Annotated[
        bool,
        typer.Option(
            "--evidence-from-search",
            help="Record as the evidence what near-duplicate search finds between the two "
            "(tier, frames matched, offset, variant, distances, hashing recipe); refused "
            "when it has none to give (no frame near, the same bytes, no frame hashes).",
        ),
    ] = False,
) -> None:
    """Record that CHILD is KIND of PARENT; prints the derivation id. Cycles are refused.

    Then says on stderr what near-duplicate search finds between the two (matches, only
    resembles, no frame near, or cannot compare); that line never changes what is recorded.
    """
    from verify.services import provenance

    archive = archive_of(ctx)
    said = None
    found: dict[str, Any] | None = None
    if from_search:
        from verify.services.search import compare_media, search_evidence
        from verify.vocab import DerivationKind, parse_enum

        if evidence is not None:
            raise BadInputError("give --evidence or --evidence-from-search, not both")
        parse_enum(DerivationKind, kind, "derivation kind")  # before any frame is read
        said = compare_media(archive, child, parent)
        if said["query"] != said["candidate"]:  # else: refused below as a self-link
            refused = _nothing_found(said)
            if refused:
                raise BadInputError(refused)
            found = search_evidence(said["verdict"], said.get("recipes"))
    data = provenance.derive(
        archive, child, parent, kind, evidence=found if from_search else evidence, note=note
    )
    sys.stdout.write(f"{data['id']}\n")
    sys.stdout.flush()
    said = _search_says(archive, int(data["child"]), int(data["parent"]), said)
    if said and said["kinds"] == ["video", "image"] and data["kind"] != "screen_recording_of":
        notice(
            f"note: media {data['child']} is a video and media {data['parent']} a still image: "
            f"a video can be a screen recording of a picture, not {data['kind']}; check --kind, "
            "and the order (CHILD first, then PARENT)"
        )


def _nothing_found(said: dict[str, Any]) -> str | None:
    """Why search's comparison of two media gives no evidence to record, or None."""
    child, parent = said["query"], said["candidate"]
    if said["same_bytes"]:
        return (
            f"media {child} and media {parent} are the same bytes: search has nothing to "
            "compare; give --evidence instead"
        )
    if said["problem"]:
        return f"search cannot compare them: {said['problem']}; give --evidence instead"
    if said["verdict"] is None:
        return (
            f"search finds no frame of media {child} near media {parent}: no evidence to "
            "record (check the media ids, or give --evidence)"
        )
    return None


def _search_says(
    archive: Any, child: int, parent: int, said: dict[str, Any] | None = None
) -> dict[str, Any] | None:
    """One line on stderr: whether near-duplicate search finds the two copies related. It
    never changes what was recorded: a crop or a screen recording may well not match.
    `said`: the comparison already made (`--evidence-from-search`). Returns the comparison
    (None when it could not be made)."""
    if said is None:
        try:
            from verify.services.search import compare_media

            said = compare_media(archive, str(child), str(parent))
        except KeyboardInterrupt:  # the derivation is recorded: exit 0, as it succeeded
            notice("note: search's comparison was interrupted; the derivation is recorded")
            return None
        except Exception as exc:  # noqa: BLE001 - the derivation is recorded; say why only
            notice(f"note: search could not compare media {child} with media {parent}: {exc}")
            return None
    v = said["verdict"]
    if said["same_bytes"]:
        notice(f"note: media {child} and media {parent} are the same bytes (same SHA-256)")
    elif said["problem"]:
        notice(f"note: search cannot check this derivation: {said['problem']}")
    elif v is None:
        notice(
            f"note: search finds no frame of media {child} near media {parent}; "
            "recorded as stated (check the media ids, or say why in --note)"
        )
    else:
        from verify.services.provread import match_phrase

        how = match_phrase(v, f"media {child}", f"media {parent}")
        verb = "matches" if v["tier"] == "match" else "only resembles (suggestion tier)"
        notice(f"search: media {child} {verb} media {parent}: {how}")
    return said


@prov_app.command(
    "derivations",
    epilog=examples(f"verify prov derivations {CASE}", f"verify prov derivations {CASE} --json"),
)
def derivations(ctx: typer.Context, case: CaseArg, as_json: JsonOpt = False) -> None:
    """List derivations with either end in the case."""
    from verify.services import provread

    rows = provread.list_derivations(source_of(ctx), case)
    if as_json:
        print_json(rows)
        return
    if not rows:
        sys.stderr.write("no derivations yet; link copies with `verify prov derive`\n")
        return
    table(
        ["ID", "CHILD", "KIND", "PARENT", "EVIDENCE"],
        [
            [
                r["id"],
                f"{r['child']} {(r['child_sha256'] or '')[:19]}",
                r["kind"] + (" (retracted)" if r["retracted"] else ""),
                f"{r['parent']} {(r['parent_sha256'] or '')[:19]}",
                _evidence_text(r["evidence"]),
            ]
            for r in rows
        ],
    )


@derivation_app.command(
    "retract",
    epilog=examples(
        'verify prov derivation retract 3 --why "wrong media id: meant media 12, not 17"'
    ),
)
def derivation_retract(
    ctx: typer.Context,
    derivation_id: Annotated[
        int,
        typer.Argument(help="Derivation id (see `verify prov derivations`).", show_default=False),
    ],
    why: Annotated[
        str, typer.Option("--why", help="What was wrong with it (required).", show_default=False)
    ],
    as_json: JsonOpt = False,
) -> None:
    """Retract a derivation recorded by mistake (a wrong media id, a mistaken kind).

    It stays on record, marked retracted with who, when and why (`prov derivations`,
    reports, the audit trail), and no longer counts: the earliest appearance, related
    media, cycle checks, `dupes` and the report's graph leave it out. A retraction cannot
    be undone; a derivation that was right after all is recorded again with another kind,
    or noted (`verify note add`).
    """
    from verify.services import provenance

    data = provenance.retract_derivation(archive_of(ctx), derivation_id, why)
    if as_json:
        print_json(data)
    else:
        sys.stdout.write(f"{data['id']}\n")
    # what was taken back, so that a mistyped id shows at once (a retraction is final)
    notice(
        f"retracted derivation {data['id']}: media {data['child']} {data['kind']} media "
        f"{data['parent']}"
    )


def _evidence_text(evidence: dict[str, Any] | None) -> str:
    if not evidence:
        return "-"
    if set(evidence) == {"text"}:
        return str(evidence["text"])
    from verify.services.provread import evidence_value

    return ", ".join(f"{k}={evidence_value(v) or '-'}" for k, v in sorted(evidence.items()))


@prov_app.command(
    "earliest",
    epilog=examples(f"verify prov earliest {CASE}", f"verify prov earliest {CASE} --json"),
)
def earliest(ctx: typer.Context, case: CaseArg, as_json: JsonOpt = False) -> None:
    """The earliest known appearance across all copies, and whether it contradicts the claim.

    Copies in other cases count when they hold the same bytes or are linked by derivations.
    The last line starts with CONTRADICTION when the earliest is not on the claimed original
    platform (from original_poster attributions; see docs/provenance.md).
    """
    from verify.services import provread

    data = provread.earliest(source_of(ctx), case)
    if as_json:
        print_json(data)
        return
    first = data["earliest"]
    if first is None:
        sys.stderr.write(clean(data["message"]) + "\n")
        return
    lines = [
        f"earliest:  appearance {first['id']} ({first['case']})",
        f"platform:  {clean(first['platform'])}",
        f"account:   {clean(first['account'])}",
        f"{first['basis']}:{' ' * (10 - len(first['basis']))}"
        f"{first['posted'] if first['basis'] == 'posted' else first['captured_at']}",
        f"url:       {clean(first['url'])}",
        # worded as the attributions stand: "corroborated original platform" once one is
        f"{data['original_platform_state'] or 'claimed'} original platform: "
        f"{', '.join(data['claimed_original_platforms']) or '-'}",
    ]
    if data["uncertain_with"]:
        where = {o["appearance"]: o["case"] for o in data["uncertain_elsewhere"]}
        ids = ", ".join(
            f"{i} (case {clean(where[i])})" if i in where else str(i)
            for i in data["uncertain_with"]
        )
        lines.append(f"uncertain: dates overlap with appearance {ids}")
    lines.append(("CONTRADICTION: " if data["contradiction"] else "") + clean(data["message"]))
    sys.stdout.write("\n".join(lines) + "\n")


TIMELINE_EPILOG = examples(
    f"verify timeline {CASE}", f"verify timeline {CASE} --json | jq '.[] | select(.earliest)'"
)


def timeline_command(ctx: typer.Context, case: CaseArg, as_json: JsonOpt = False) -> None:
    """Every dated fact of a case in order, each with its source, including each media
    file's own capture time as its metadata gives it; `*` marks the earliest known
    appearance, `!` an event with a warning: an appearance with impossible dates (captured
    before posted, or in the future), or a capture time in the camera's local time, its UTC
    offset unknown."""
    from verify.services import provread

    rows = provread.timeline(source_of(ctx), case)
    if as_json:
        print_json(rows)
        return
    table(
        ["", "WHEN", "WHAT", "SOURCE", "DETAIL"],
        [
            [
                ("*" if r["earliest"] else "") + ("!" if r["warnings"] else ""),
                r["when"],
                r["type"] + (f" [{r['case']}]" if r["case"] else ""),
                r["source"],
                r["text"] + "".join(f" (warning: {w})" for w in r["warnings"]),
            ]
            for r in rows
        ],
    )
