"""`verify media …`: preserve and analyse evidence files."""

import sys
from typing import TYPE_CHECKING, Annotated, Any, NamedTuple

import typer

from verify.analysis import device_name, incomplete_note, is_placeholder_gps
from verify.cli import archive_of, intake_of, source_of, verify_command
from verify.cli.output import clean, examples, notice, print_json, table
from verify.errors import ExitCode

if TYPE_CHECKING:
    from verify.analysis.sandbox import AnalysisPool

media_app = typer.Typer(
    help="Preserve media files as evidence, read their metadata and perceptual hashes.",
    no_args_is_help=True,
)

MediaArg = Annotated[
    str,
    typer.Argument(
        help="Media reference: an id (12) or a unique sha256: prefix (sha256:ab12cd).",
        show_default=False,
    ),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON (shape: docs/json.md).")]


def _describe_hit(hit: dict[str, Any]) -> str:
    parts = [f"{hit.get('tier', 'match')}: case {hit.get('case')} media {hit.get('media')}"]
    if hit.get("original_name"):
        parts.append(f"({hit['original_name']})")
    if hit.get("aligned"):
        parts.append(str(hit["aligned"]))
    return " ".join(parts)


@media_app.command(
    "add",
    epilog=examples(
        "verify media add belgorod-legion-video legion-subtitled.mp4 "
        "--source-url https://x.com/Gerashchenko_en/status/... --platform x "
        "--acquired-via 'yt-dlp 2023.03.04'",
        "verify media add belgorod-legion-video witness.mp4 --acquired-by 'field team B' "
        "--acquired-at 2023-05-24T09:00+03:00 --acquired-via 'handed over on a USB stick'",
        "verify media add rvc-signs ~/Downloads/*.jpg --json",
    ),
)
def media_add(
    ctx: typer.Context,
    case: Annotated[str, typer.Argument(help="Case reference (slug).", show_default=False)],
    files: Annotated[list[str], typer.Argument(help="Files to preserve.", show_default=False)],
    source_url: Annotated[
        str | None, typer.Option(help="Where the file was obtained (URL).", show_default=False)
    ] = None,
    platform: Annotated[
        str | None,
        typer.Option(help="Platform it came from (telegram, x, youtube, ...).", show_default=False),
    ] = None,
    acquired_via: Annotated[
        str | None,
        typer.Option(
            help="How it was acquired (tool and version, 'sent by email', ...).", show_default=False
        ),
    ] = None,
    acquired_by: Annotated[
        str | None,
        typer.Option(
            help="Who obtained the file, when not you (default: who records it, --as).",
            show_default=False,
        ),
    ] = None,
    acquired_at: Annotated[
        str | None,
        typer.Option(
            help="When it was obtained, when not now: ISO 8601 (2023-05-24T09:00Z; "
            "no offset is UTC).",
            show_default=False,
        ),
    ] = None,
    label: Annotated[
        str | None, typer.Option(help="A short label for this copy.", show_default=False)
    ] = None,
    fast: Annotated[
        bool,
        typer.Option(
            "--fast",
            help="Triage: hash keyframes only (much faster on long videos; weaker search). "
            "Recorded as the analysis mode; `media reanalyse --outdated` redoes it in full.",
        ),
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Preserve files in the evidence store, analyse them, and print one media id per file
    preserved (a refused file, e.g. missing or a directory, gets none: see stderr).

    The bytes are copied read-only under their SHA-256; who acquired them, when, from where
    and how is recorded (by default you, now; --acquired-by/--acquired-at when someone else
    obtained the file earlier: the audit trail still names you as who recorded it). Metadata
    is read and frames are sampled and hashed in a child process. You are told at once
    (stderr) if the same bytes or a near-duplicate are already in any case. Each add is an
    acquisition of its own: the same bytes added again, even to the same case (say, the same
    file found at a second source), get a new media id with their own custody facts, and are
    stored once. A file that cannot be parsed is still preserved (exit 2). On a terminal, a
    file analysed for more than 2 s (a long video) shows how long so far and the limit
    (VERIFY_ANALYSIS_TIMEOUT, 60 s by default).
    """
    from verify.analysis.sandbox import analysis_workers, warm_pools
    from verify.early import EARLY_POOLS

    # the analysis servers start first: their imports (PyAV, Pillow, numpy) overlap ours
    # (`verify.early.main` starts them before the command line is parsed)
    pools = list(EARLY_POOLS) or warm_pools(min(analysis_workers(), len(files)))
    EARLY_POOLS.clear()
    try:
        acquisition = _Acquisition(source_url, platform, acquired_via, acquired_by, acquired_at)
        results = _add(ctx, case, files, acquisition, label, fast, as_json, pools)
    finally:
        for pool in pools:
            pool.close()
    if platform is not None and any(r.media_id is not None for r in results):
        from verify.vocab import parse_platform

        if (said := parse_platform(platform)[1]) is not None:  # checked by the add
            notice(said)
    failed = [r for r in results if r.failed]
    for r in failed:
        message = r.error or "failed"
        prefix = "" if message.startswith(r.path) else f"{r.path}: "
        sys.stderr.write(f"error: {clean(prefix + message)}\n")
    if failed:
        raise typer.Exit(int(ExitCode.BAD_INPUT))


class _Ticker:
    """On a terminal, one line saying that a slow file is still being analysed (and against
    what limit), rewritten in place about once a second from its AFTER-th second on, and
    cleared before anything else is printed. Never used for a pipe or a file: logs keep one
    line per file."""

    AFTER = 2.0

    def __init__(self, stream: Any, limit: float) -> None:
        self.stream, self.limit = stream, limit
        self.shown = False

    @classmethod
    def on_terminal(cls, pools: "list[AnalysisPool]", as_json: bool) -> "_Ticker | None":
        if as_json or not sys.stderr.isatty():
            return None
        from verify.analysis.sandbox import limits

        return cls(sys.stderr, pools[0].limits.timeout if pools else limits().timeout)

    def show(self, i: int, n: int, label: str, seconds: float) -> None:
        if seconds < self.AFTER:
            return
        import shutil

        tail = f": analysing, {seconds:.0f} s of at most {self.limit:g} s (VERIFY_ANALYSIS_TIMEOUT)"
        head = f"[{i}/{n}] "
        name = clean(label)
        # one screen line, or the next rewrite leaves the rest behind: the name is shortened
        # in the middle (its end, the file name, and the counter stay)
        width = max(40, shutil.get_terminal_size().columns - 1)
        room = width - len(head) - len(tail)
        if len(name) > room:
            keep = max(4, room - 1)
            name = name[: keep // 3] + "…" + name[len(name) - (keep - keep // 3) :]
        text = (head + name + tail)[:width]
        self.stream.write("\r\x1b[K" + text)
        self.stream.flush()
        self.shown = True

    def clear(self) -> None:
        if self.shown:
            self.stream.write("\r\x1b[K")
            self.stream.flush()
            self.shown = False


def _frames(n: int | None) -> str:
    return "1 frame" if n == 1 else f"{n or 0} frames"


class _Acquisition(NamedTuple):
    source_url: str | None
    platform: str | None
    acquired_via: str | None
    acquired_by: str | None
    acquired_at: str | None


def _add(
    ctx: typer.Context,
    case: str,
    files: list[str],
    acquisition: _Acquisition,
    label: str | None,
    fast: bool,
    as_json: bool,
    pools: "list[AnalysisPool]",
) -> list[Any]:
    from verify.services import intake as svc

    done: list[Any] = []  # files handled so far, in order
    ticker = _Ticker.on_terminal(pools, as_json)

    def progress(i: int, n: int, r: Any) -> None:
        if ticker is not None:
            ticker.clear()
        done.append(r)
        if as_json:
            return
        if r.media_id is not None:
            # each id as soon as its file is recorded: a batch stopped later (busy archive,
            # Ctrl-C) has still said which files it recorded, so a retry can leave them out
            sys.stdout.write(f"{r.media_id}\n")
            sys.stdout.flush()
        status = f"{r.kind}, {_frames(r.frames)}"
        if r.failed:  # the kind when the analysis got that far (metadata read, then failed)
            status = f"{r.kind}, failed" if r.kind in ("image", "video") else "failed"
        if r.media_id is None:
            status = "refused"
        notice(f"[{i}/{n}] {r.path or repr(r.path)}: {status}")
        if r.incomplete:
            notice(f"  warning: {r.incomplete}")
        if r.restored is not None:
            was = "altered or damaged" if r.restored == "hash-mismatch" else "unreadable"
            notice(
                f"  the archive's copy of these bytes was {was}: restored from this file "
                f"(same SHA-256); the damaged copy is kept at {r.damaged_copy}"
            )
        for copy in r.exact_copies:
            # in this very case: a second acquisition record of the same bytes (a re-run
            # batch makes one per file: `verify media list CASE` shows them)
            where = "this case" if copy["case"] == case else f"case {copy['case']}"
            notice(
                f"  same bytes already in {where} as media {copy['media']} "
                f"({copy['original_name']})"
            )
        for hit in r.near_duplicates:
            notice(f"  near-duplicate {_describe_hit(hit)}")
        if r.already_stored and r.analysis_mode == "keyframes" and not fast:
            notice(
                "  these bytes were analysed from keyframes only (`media add --fast`); "
                f"`{verify_command(ctx)} media reanalyse {r.media_id}` analyses them in full"
            )

    try:
        results = svc.add_media(
            intake_of(ctx),
            case,
            files,
            **acquisition._asdict(),
            label=label,
            fast=fast,
            progress=progress,
            pools=pools,
            waiting=None if ticker is None else lambda i, n, r, s: ticker.show(i, n, r.path, s),
        )
    except BaseException:
        if ticker is not None:
            ticker.clear()
        if as_json and done:  # what was recorded before the batch stopped
            print_json([r.to_dict() for r in done])
        raise
    if as_json:
        print_json([r.to_dict() for r in results])
    return results


@media_app.command(
    "reanalyse",
    epilog=examples(
        "verify media reanalyse --outdated",
        "verify media reanalyse --failed",
        "verify media reanalyse 12 sha256:9f2c1e --json",
    ),
)
def media_reanalyse(
    ctx: typer.Context,
    media: Annotated[
        list[str] | None,
        typer.Argument(help="Media references (12, sha256:ab12cd).", show_default=False),
    ] = None,
    outdated: Annotated[
        bool,
        typer.Option(
            "--outdated",
            help="Every file analysed with an older hashing recipe (not searched) or with "
            "keyframes only (`media add --fast`).",
        ),
    ] = False,
    failed: Annotated[
        bool,
        typer.Option(
            "--failed",
            help="Every file whose analysis failed (e.g. timed out: raise "
            "VERIFY_ANALYSIS_TIMEOUT first).",
        ),
    ] = False,
    fast: Annotated[bool, typer.Option("--fast", help="Triage: hash keyframes only.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Analyse stored files again and replace their metadata and frame hashes.

    For files analysed by an older version with another hashing recipe (they are left out
    of search and dupes, which say how many there are), first triaged with
    `media add --fast`, or whose analysis failed for want of time or memory (after raising
    VERIFY_ANALYSIS_TIMEOUT or VERIFY_ANALYSIS_MEMORY). The preserved bytes are checked
    against their SHA-256 first; each file is one audited change (`media.reanalyse`, in
    the log of every case holding it). A file that now fails to parse is kept with
    `analysis_failed` (exit 2). On a terminal, a file analysed for more than 2 s shows how
    long so far and the limit.
    """
    from verify.analysis.sandbox import analysis_workers, warm_pools
    from verify.services import media as svc

    def label(r: Any) -> str:
        return "media " + (", ".join(str(m) for m in r.media) or "-")

    def progress(i: int, n: int, r: Any) -> None:
        if ticker is not None:
            ticker.clear()
        if r.failed:
            notice(f"[{i}/{n}] {label(r)}: failed")
        else:
            notice(
                f"[{i}/{n}] {label(r)}: {r.before or '-'} -> {r.after or '-'}: "
                f"{r.kind}, {_frames(r.frames)}"
            )
            if r.incomplete:
                notice(f"  warning: {r.incomplete}")
            if r.mode_before == "full" and r.mode == "keyframes":
                first = r.media[0] if r.media else "ID"
                notice(
                    "  a full analysis replaced by keyframes only (weaker in search); "
                    f"`{verify_command(ctx)} media reanalyse {first}` without --fast redoes it "
                    "in full"
                )

    pools = warm_pools(1 if not media or len(media) < 2 else analysis_workers())
    ticker = _Ticker.on_terminal(pools, as_json)
    try:
        results = svc.reanalyse(
            archive_of(ctx),
            list(media or []),
            outdated=outdated,
            failed=failed,
            fast=fast,
            pools=pools,
            progress=None if as_json else progress,
            waiting=None if ticker is None else lambda i, n, r, s: ticker.show(i, n, label(r), s),
        )
    finally:
        if ticker is not None:
            ticker.clear()
        for pool in pools:
            pool.close()
    if as_json:
        print_json([r.to_dict() for r in results])
    elif not results:  # only --outdated and/or --failed get here (references give results)
        said = []
        if outdated:
            said.append("every file analysed was hashed in full with the current recipe")
        if failed:
            said.append("no file's analysis has failed")
        elif left := svc.failed_count(archive_of(ctx)):
            said.append(
                f"{left} whose analysis failed left as they are "
                f"(`{verify_command(ctx)} media reanalyse --failed`)"
            )
        notice("nothing to re-analyse: " + "; ".join(said))
    for r in results:
        if r.error:
            sys.stderr.write(f"error: {clean(r.error)}\n")
    if any(r.damaged for r in results):
        raise typer.Exit(int(ExitCode.INTEGRITY))
    if any(r.failed for r in results):
        raise typer.Exit(int(ExitCode.BAD_INPUT))


@media_app.command("list", epilog=examples("verify media list belgorod-legion-video --json"))
def media_list(
    ctx: typer.Context,
    case: Annotated[str, typer.Argument(help="Case reference (slug).", show_default=False)],
    as_json: JsonOpt = False,
) -> None:
    """List the media files of a case."""
    from verify.services import mediaread

    rows = mediaread.list_media(source_of(ctx), case)
    if as_json:
        print_json(rows)
        return
    if not rows:  # as the other listings: a hint on stderr, nothing on stdout
        notice(f"no media in case {case} yet; add files with `verify media add {case} FILE...`")
        return
    incomplete = {r["id"]: incomplete_note(r.get("metadata")) for r in rows}
    table(
        ["ID", "KIND", "SIZE", "FRAMES", "ANALYSIS", "SHA256", "NAME"],
        [
            [
                r["id"],
                r["kind"],
                r["size"],
                r["frame_count"],
                _analysis_cell(r, incomplete[r["id"]]),
                r["sha256"][7:19],
                r["original_name"],
            ]
            for r in rows
        ],
    )
    for r in rows:  # a truncated video's frames cover only its start: said, not only marked
        if incomplete[r["id"]] is not None:
            notice(f"warning: media {r['id']}: {incomplete[r['id']]}")


def _analysis_cell(row: dict[str, Any], incomplete: str | None) -> str:
    """The ANALYSIS column of `media list`: the state, and what weakens a search on the
    file's frames: keyframes only (`--fast`), or a video whose frames stop early
    (`incomplete`: its `incomplete_note`)."""
    marks = []
    if row.get("analysis_mode") == "keyframes":
        marks.append("keyframes")
    if incomplete is not None:
        marks.append("incomplete")
    return str(row["analysis"]) + (f" ({', '.join(marks)})" if marks else "")


@media_app.command(
    "show", epilog=examples("verify media show 3", "verify media show sha256:9f2c1e --json")
)
def media_show(ctx: typer.Context, media: MediaArg, as_json: JsonOpt = False) -> None:
    """Show a media file: custody facts, metadata and sampled frames."""
    from verify.services import mediaread

    data = mediaread.show_media(source_of(ctx), media)
    if as_json:
        print_json(data)
        return
    meta = data["metadata"]
    lines = [
        f"media:     {data['id']} in case {clean(data['case'])}",
        f"sha256:    {data['sha256'][7:]}",
        f"name:      {clean(data['original_name'])}",
        f"kind:      {data['kind']} ({data['mime'] or 'unknown type'})",
        f"size:      {data['size']} bytes",
        f"stored:    {clean(data['stored'])} "
        + (
            f"(read-only; `{verify_command(ctx)} media export {data['id']}` copies it out)"
            if data["in_store"]
            else "(not in this evidence store: deleted, or added under another home; "
            "`verify check` tells more)"
        ),
        f"acquired:  {data['acquired_at']} by {clean(data['acquired_by'])}"
        + (f" via {clean(data['acquired_via'])}" if data["acquired_via"] else ""),
        "source:    " + _source(data),
        f"analysis:  {data['analysis']}"
        + (f": {clean(data['analysis_error'])}" if data["analysis_error"] else "")
        + _mode(data, verify_command(ctx)),
        "device:    " + (clean(device_name(meta)) or "-"),
        f"software:  {clean(meta.get('software'))}",
        "captured:  " + _captured(meta),
        "gps:       " + _gps(meta),
        "picture:   " + _picture(meta),
    ]
    if (incomplete := incomplete_note(meta)) is not None:
        lines.append(f"warning:   {incomplete}")
    lines.append(f"frames:    {data['frame_count']}")
    sys.stdout.write("\n".join(lines) + "\n")
    if data["frames"]:
        table(
            ["INDEX", "PTS", "PHASH", "DHASH", "INFORMATIVE"],
            [
                [
                    f["index"],
                    f"{f['pts']:.3f}",
                    f["phash"],
                    f["dhash"],
                    "yes" if f["informative"] else "no",
                ]
                for f in data["frames"]
            ],
        )


def _mode(data: dict[str, Any], verify: str) -> str:
    """How much of the file was hashed, when that is known."""
    if data["analysis_mode"] == "keyframes":
        return (
            f", keyframes only (--fast; `{verify} media reanalyse {data['id']}` hashes every "
            "sampled frame)"
        )
    if data["analysis_mode"] == "full":
        return ", full"
    return ""


def _source(data: dict[str, Any]) -> str:
    """Where the file came from: `URL (platform)`, either alone, or `-`."""
    url, platform = data.get("source_url"), data.get("platform")
    if url and platform:
        return f"{clean(url)} ({clean(platform)})"
    if url:
        return clean(url)
    return f"platform {clean(platform)}, no URL recorded" if platform else "-"


def _captured(meta: dict[str, Any]) -> str:
    """The capture time as the timeline and the reports give it (UTC, or the camera's local
    time said to be one), then what the file says when that is written otherwise:
    `2023-05-22T11:03:11Z (as written: 2023:05:22 14:03:11 +03:00)`."""
    from verify.timeutil import capture_time

    found = capture_time(meta)
    raw = meta.get("captured_at_raw")
    if found is None:
        return f"{clean(raw)} (as written, not read as a time)" if raw else "-"
    written = found.as_written()
    return clean(found.text) + (f" (as written: {clean(written)})" if written else "")


def _picture(meta: dict[str, Any]) -> str:
    """'1920x1080, 12.50 s, rotation 90', the parts that are known; '-' if none is (e.g.
    the analysis failed)."""
    parts = []
    if meta.get("width") and meta.get("height"):
        parts.append(f"{meta['width']}x{meta['height']}")
    if meta.get("duration"):
        parts.append(f"{meta['duration']:.2f} s")
    if meta.get("rotation"):
        parts.append(f"rotation {meta['rotation']}")
    return ", ".join(parts) or "-"


def _gps(meta: dict[str, Any]) -> str:
    gps = meta.get("gps")
    if gps and not is_placeholder_gps(gps):
        return f"{gps['lat']:.6f}, {gps['lon']:.6f}"
    if gps or meta.get("gps_placeholder"):
        return "- (0, 0 in the file: what a device writes without a fix, not a position)"
    return "-"


@media_app.command(
    "export",
    epilog=examples(
        "verify media export 3",
        "verify media export 3 4 sha256:9f2c1e -o ~/to-legal",
        "verify media export 3 -o /media/usb --json",
    ),
)
def media_export(
    ctx: typer.Context,
    media: Annotated[
        list[str],
        typer.Argument(
            help="Media references: ids (12) or unique sha256: prefixes.", show_default=False
        ),
    ],
    output: Annotated[
        str,
        typer.Option(
            "--output", "-o", help="Directory to copy into (created if missing).", show_default=True
        ),
    ] = ".",
    as_json: JsonOpt = False,
) -> None:
    """Copy media files' preserved bytes out of the archive, as ID-ORIGINALNAME.

    Each copy is checked against the file's SHA-256 while it is written, and recorded in
    the audit trail (media.export). All or nothing: nothing is written unless every file
    can be, and an existing file is never replaced (exit 2). A stored object whose bytes no
    longer match is an integrity failure (exit 3; `verify check` tells more). Prints one
    path per file.
    """
    from verify.services import media as svc

    archive = archive_of(ctx)
    outputs = svc.export_media(archive, media, output)
    if archive.read_only:
        notice("note: the archive is read-only: this export is not recorded in its audit trail")
    if as_json:
        print_json(outputs)
        return
    for o in outputs:
        sys.stdout.write(clean(o["path"]) + "\n")


@media_app.command(
    "frames",
    epilog=examples("verify media frames 3", "verify media frames 3 --export ./frames-3"),
)
def media_frames(
    ctx: typer.Context,
    media: MediaArg,
    export: Annotated[
        str | None,
        typer.Option(
            help="Write the sampled frames as JPEG working copies into this directory "
            "(recorded in the audit trail). All or nothing: an existing file is never "
            "replaced (exit 2, nothing written).",
            show_default=False,
        ),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """List a media file's sampled frames and hashes, or export them as JPEGs."""
    if export:
        from verify.services import media as svc

        archive = archive_of(ctx)
        outputs = svc.export_frames(archive, media, export)
        if archive.read_only:
            notice("note: the archive is read-only: this export is not recorded in its audit trail")
        if as_json:
            print_json(outputs)
        else:
            for o in outputs:
                sys.stdout.write(o["path"] + "\n")
        return
    from verify.services import mediaread

    data = mediaread.show_media(source_of(ctx), media)
    if data["analysis"] == "analysis_failed":
        raise mediaread.analysis_failed(data["id"], data["analysis_error"], verify_command(ctx))
    frames = data["frames"]
    if as_json:
        print_json(frames)
        return
    table(
        ["INDEX", "PTS", "PHASH", "DHASH", "PDQ-Q", "INFORMATIVE", "SCENE"],
        [
            [
                f["index"],
                f"{f['pts']:.3f}",
                f["phash"],
                f["dhash"],
                f["pdq_quality"],
                "yes" if f["informative"] else "no",
                "yes" if f["scene_change"] else "",
            ]
            for f in frames
        ],
    )
