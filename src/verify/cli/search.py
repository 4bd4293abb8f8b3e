"""`verify search` and `verify dupes`: near-duplicates across every case."""

import os
import sys
from typing import Annotated, Any

import typer

from verify.cli import source_of
from verify.cli.output import clean, columns, examples, notice, print_json, table
from verify.early import EARLY_ANALYSIS
from verify.errors import BadInputError

JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON (shape: docs/json.md).")]
CaseOpt = Annotated[
    str | None,
    typer.Option("--case", help="Only report media of this case (slug).", show_default=False),
]

SEARCH_EPILOG = examples(
    "verify search legion-subtitled.mp4",
    "verify search 12 --case belgorod-legion-video",
    "verify search sha256:9f2c1e --threshold 12 --json | jq '.hits[0]'",
)
# after the table, on stderr: what the terse columns and the two tiers mean
SEARCH_LEGEND = (
    "FRAMES Q C: frames matched of those sampled, in the query (Q) and the candidate (C); "
    "BEST/MED: best and median dHash distance of the matched frames in bits (0 is the same "
    "picture, unrelated ones are about 32 apart); OFFSET: candidate time minus query time",
    "match: matched frames cover at least half of either file, a copy or an excerpt; "
    "suggestion: some frames are close, too few or not close enough to say so: compare the "
    "two yourself (docs/matching.md)",
)
DUPES_EPILOG = examples("verify dupes", "verify dupes --case belgorod-legion-video --json")


def _hit_row(h: dict[str, Any]) -> list[object]:
    fm = h["frames_matched"]
    offset = "-" if h["offset"] is None else f"{h['offset']:+g} s"
    return [
        h["rank"],
        h["tier"] + (" (same bytes)" if h.get("exact") else ""),
        h["case"],
        h["media"],
        h["original_name"],
        f"{h['score']:.2f}",
        f"{fm['query']}/{h['query_frames']} {fm['candidate']}/{h['candidate_frames']}",
        f"{h['best_distance']}/{h['median_distance']:g}",
        offset,
        h["variant"],
        h["aligned"] or "-",
    ]


def search_command(
    ctx: typer.Context,
    target: Annotated[
        str,
        typer.Argument(
            help="A file (analysed, not stored) or a media reference (12, sha256:ab12cd).",
            show_default=False,
        ),
    ],
    case: CaseOpt = None,
    threshold: Annotated[
        int | None,
        typer.Option(
            "--threshold",
            help="Frame match threshold in dHash bits (pHash gets +2); default from "
            "docs/matching.md.",
            show_default=False,
        ),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Find near-duplicates of a file or of stored media in every case, ranked.

    Each hit says whether it is a *match* or a weaker *suggestion* (TIER), its SCORE (the
    share of frames covered, less for distant ones; 0-1), the frames matched (FRAMES Q C:
    query q/n, candidate c/m, matched of sampled), the best and median dHash distance of
    the matched frame pairs in bits (BEST/MED: 0 is the same picture, unrelated pictures
    are about 32 apart), the time offset (candidate minus query), the variant that matched
    (full, masked subtitle band, mirrored) and the aligned time ranges. A *match* is a
    copy: matched frames cover at least half of the query or of the candidate (an excerpt
    matches its source). A *suggestion* has close frames, but too few or not close enough
    to say so: compare the two yourself. A legend on stderr repeats this after the table;
    docs/matching.md gives the thresholds.

    With no hits, one line on stderr says so (exit 0, nothing on stdout; with --json, an
    empty `hits` list): how many files it compared with, where, at which threshold, and at
    the defaults that a looser --threshold may find a heavily edited copy; or that the
    archive (or case) holds no other analysed media, so nothing was compared.
    """
    child = EARLY_ANALYSIS.pop(target, None)
    if child is None and os.path.isfile(target):
        # analyse the query file in its sandboxed child first: it runs while this process
        # imports the search code and loads the archive's index
        from verify.analysis.sandbox import start_analysis

        child = start_analysis(target)
    try:
        from verify.services import search as svc

        data = svc.search(source_of(ctx), target, case=case, threshold=threshold, analysis=child)
    finally:
        if child is not None:
            child.close()
    _outdated_notice(ctx)
    if as_json:
        print_json(data)
    else:
        if data["query"].get("incomplete"):
            notice(f"warning: {clean(target)}: {data['query']['incomplete']}")
        for copy in data["exact_copies"]:
            notice(
                f"same bytes in case {copy['case']} as media {copy['media']} "
                f"({copy['original_name']})"
            )
    if data["error"] is not None:
        # the exact copies above are still an answer; the near-duplicate search is not
        raise BadInputError(
            data["error"] if data["query"]["media"] else f"{clean(target)}: {data['error']}"
        )
    if as_json:
        return
    q = data["query"]
    if not data["hits"]:
        notice(_no_hits(ctx, target, q, case, threshold))
        return
    table(
        [
            "RANK",
            "TIER",
            "CASE",
            "MEDIA",
            "NAME",
            "SCORE",
            "FRAMES Q C",
            "BEST/MED",
            "OFFSET",
            "VARIANT",
            "ALIGNED",
        ],
        [_hit_row(h) for h in data["hits"]],
    )
    sys.stdout.flush()  # the legend after the table where both reach one terminal
    for line in SEARCH_LEGEND:
        notice(line)


def _no_hits(
    ctx: typer.Context, target: str, q: dict[str, Any], case: str | None, threshold: int | None
) -> str:
    """The line for a search with no hits: what it looked through, at which threshold, and
    (at the defaults) that a looser one may find a heavily edited copy. An empty archive or
    case says so: "no near-duplicates" there means nothing was compared."""
    from verify.services import search as svc

    sha = str(q.get("sha256") or "").removeprefix("sha256:") or None
    n = svc.searched_files(source_of(ctx), case, excluding=sha)
    where = f"case {clean(case)}" if case else "the archive"
    if n == 0:
        return (
            f"no near-duplicates of {clean(target)} ({q['kind']}): {where} holds no other "
            "analysed media to compare with"
            + ("" if case else f" (archive: {clean(str(source_of(ctx).home))})")
        )
    among = f"among {n} file{'s' if n != 1 else ''} in {where}"
    at = "default thresholds" if threshold is None else f"--threshold {threshold}"
    looser = (
        ""
        if threshold is not None and threshold >= 16
        else "; a heavily edited copy may still be found with a looser --threshold "
        "(16-20; docs/matching.md)"
    )
    return f"no near-duplicates of {clean(target)} ({q['kind']}) {among} at {at}{looser}"


def _outdated_notice(ctx: typer.Context) -> None:
    from verify.services import search as svc

    n = svc.outdated_files(source_of(ctx))
    if n:
        notice(
            f"note: {n} stored file{'s were' if n > 1 else ' was'} hashed with an older recipe "
            "and not searched; run 'verify media reanalyse --outdated'"
        )
    e = svc.earlier_recipe_files(source_of(ctx))
    if e:
        notice(
            f"note: {e} stored file{'s were' if e > 1 else ' was'} hashed with an earlier "
            "recipe: searched, but a picture inside bars on all four sides (a vertical "
            "repost's windowbox) is only found in them after 'verify media reanalyse --outdated'"
        )
    k = svc.keyframes_only_files(source_of(ctx))
    if k:
        notice(
            f"note: {k} stored file{'s were' if k > 1 else ' was'} hashed from keyframes only "
            "(media add --fast), so matches against them are weaker; run "
            "'verify media reanalyse --outdated'"
        )


DupesCaseOpt = Annotated[
    str | None,
    typer.Option(
        "--case",
        help="Only clusters among this case's own media (`verify search MEDIA` finds a "
        "file's copies in other cases).",
        show_default=False,
    ),
]


def dupes_command(ctx: typer.Context, case: DupesCaseOpt = None, as_json: JsonOpt = False) -> None:
    """List clusters of near-duplicate media (match tier, transitively) and exact copies.

    Each cluster lists its media, then why they are together: `A = B: same bytes`, or
    `A ~ B: match SCORE`, with the derivations already recorded between the two files under
    it (`recorded: B subtitled_from A`); stderr counts the links whose files no recorded
    derivation relates, directly or through other files. The all-pairs
    join counts frame pairs up to 7 dHash bits apart, so a pair's score here can be lower
    than `verify search A` gives it (search compares up to the full match tier): read
    search's for one pair.
    """
    from verify.services import search as svc

    clusters = svc.find_clusters(source_of(ctx), case=case)
    _outdated_notice(ctx)
    if as_json:
        print_json(clusters)
        return
    if not clusters:
        notice(
            "no near-duplicate media"
            + (
                f" among the media of case {clean(case)} (--case looks within the case; "
                "`verify search MEDIA` finds a file's copies in other cases)"
                if case
                else ""
            )
        )
        return
    lines: list[str] = []
    unrecorded = 0
    # the media rows of every cluster in one set of columns, as the other tables
    rows = iter(
        columns(
            [
                (f"media {m['media']}", f"case {m['case']}", m["kind"], m["sha256"][7:19],
                 m["original_name"])
                for cl in clusters
                for m in cl["media"]
            ]
        )
    )  # fmt: skip
    for cl in clusters:
        lines.append(f"cluster {cl['cluster']}: {len(cl['media'])} media")
        lines += [f"  {next(rows)}" for _ in cl["media"]]
        first: dict[str, int] = {}  # media holding the same bytes join without a frame link
        for m in cl["media"]:
            if m["sha256"] in first:
                lines.append(f"  {first[m['sha256']]} = {m['media']}: same bytes")
            else:
                first[m["sha256"]] = m["media"]
        for link in cl["links"]:
            extra = f", {link['aligned']}" if link["aligned"] else ""
            lines.append(
                f"  {link['a']} ~ {link['b']}: {link['tier']} {link['score']:.2f} "
                f"({link['variant']}{extra})"
            )
            for d in link["derivations"]:
                lines.append(
                    f"    recorded: {d['child']} {d['kind']} {d['parent']} (derivation {d['id']})"
                )
            if link["related"] and not link["derivations"]:
                lines.append("    related through other recorded derivations")
            unrecorded += not link["related"]
    sys.stdout.write("\n".join(lines) + "\n")
    if unrecorded:
        notice(
            f"{unrecorded} link{'s join' if unrecorded > 1 else ' joins'} files that no "
            "recorded derivation relates: "
            "`verify prov derive CHILD PARENT --kind KIND --evidence-from-search` records one"
        )
