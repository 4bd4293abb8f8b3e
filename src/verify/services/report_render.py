"""Rendering the report dict (verify.services.report) as Markdown, HTML, JSON or PDF.

Everything in the dict is untrusted text (EXIF, XMP, video titles, filenames, handles and
URLs are attacker-controlled), so every format escapes it by construction:

- HTML: Jinja2 `autoescape=True`; the only `Markup` is our own (thumbnail data URIs we
  encode, and Graphviz SVG drawn from allowlist-filtered labels then sanitised); links only
  for http/https URLs (`safe_url`), everything else shown as text; a CSP meta tag
  (`default-src 'none'; img-src data:; style-src 'unsafe-inline'`); no scripts at all.
- Markdown: a Jinja2 `finalize` hook escapes every `{{ … }}` value (like autoescape for
  HTML), so a template cannot forget: Markdown metacharacters are backslash-escaped,
  `< > &` become entities (no raw HTML from data), newlines and tabs become spaces so
  tables keep their columns, terminal control characters are removed, and links are
  emitted only for http/https with a percent-encoded destination.
- JSON: orjson, sorted keys, exact original strings.
"""

import functools
import re
import shutil
import subprocess
import urllib.parse
from collections.abc import Callable
from importlib import resources
from typing import Any

import orjson
from jinja2 import Environment, StrictUndefined, Template
from markupsafe import Markup

from verify.analysis import device_name
from verify.archive import Archive
from verify.errors import BadInputError
from verify.vocab import (
    ATTRIBUTION_STATE_MEANING,
    FINDING_MEANING,
    OPEN_STATUSES,
    STATUS_MEANING,
    VERDICTS,
    CaseStatus,
)

# Shown where a control character was: visible, so a reader knows the text was altered for
# display (the JSON report keeps the exact original).
REPLACEMENT = "\ufffd"
CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"
ALLOWED_SCHEMES = frozenset({"http", "https"})
DOT_TIMEOUT_S = 20
GRAPH_LABEL_MAX = 48

# C0 (tab/newline handled first), DEL, C1, bidi overrides/isolates, line/para separators.
_CONTROL = re.compile(
    "[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069\ufeff]"
)
_NEWLINES = re.compile("\r\n|[\r\n\t\u2028\u2029\x0b\x0c]")
_MD_SPECIAL = re.compile(r"([\\`*_\[\]#|~])")
_MD_LEADING_MARK = re.compile(r"^[-+=>]")
_MD_LEADING_NUMBER = re.compile(r"^(\d{1,9})([.)])(?=\s|$)")
# Characters kept as-is in a Markdown link destination; everything else is %-encoded.
_URL_SAFE = "-._~:/?#@!$&*+,;=%"
_GRAPH_LABEL_BAD = re.compile(r"[^\w .,:+\-]", re.UNICODE)


class MdSafe(str):
    """Markdown we produced ourselves (links, Mermaid); the finalize hook passes it through."""

    __slots__ = ()


def strip_controls(text: str) -> str:
    """One line of text: newlines/tabs become spaces, terminal control characters and bidi
    overrides become U+FFFD."""
    return _CONTROL.sub(REPLACEMENT, _NEWLINES.sub(" ", text))


def safe_url(value: object) -> str | None:
    """The URL if its scheme is allowlisted (http/https) and it is well formed, else None.

    Autoescaping does not stop `javascript:` or `data:` hrefs; this does.
    """
    if not isinstance(value, str):
        return None
    url = value.strip()
    if not url or _CONTROL.search(url) or any(c.isspace() for c in url):
        return None
    try:
        parts = urllib.parse.urlsplit(url)
    except ValueError:
        return None
    if parts.scheme.lower() not in ALLOWED_SCHEMES or not parts.netloc:
        return None
    return url


def md_escape(value: object) -> str:
    """Text safe inside Markdown prose, list items, headings and table cells."""
    text = strip_controls(str(value))
    # `<` and `&` could open raw HTML or an entity; `>` alone cannot (it only quotes at the
    # start of a line, escaped below), so `a -> b` stays readable in the Markdown source
    text = text.replace("&", "&amp;").replace("<", "&lt;")
    text = _MD_SPECIAL.sub(r"\\\1", text).strip()
    # Block markers only matter at the start of a line (list items, setext underlines).
    text = _MD_LEADING_MARK.sub(lambda m: "\\" + m.group(0), text)
    return _MD_LEADING_NUMBER.sub(r"\1\\\2", text)


def md_code_spans(value: object) -> MdSafe:
    """Our own messages quote commands in backticks: those spans become Markdown code spans
    (control characters removed, fenced by more backticks than they contain), the rest is
    escaped as by `md_escape`."""
    parts = strip_controls(str(value)).split("`")
    if len(parts) % 2 == 0:  # an unpaired backtick: no code spans
        return MdSafe(md_escape(value))
    out: list[str] = []
    for i, part in enumerate(parts):
        if i % 2 == 0:
            out.append(_md_escape_inline(part))
        elif part:
            out.append(f"`{part}`")
    return MdSafe("".join(out).strip())


def _md_escape_inline(text: str) -> str:
    """`md_escape` for a piece inside a line (no trimming of its spaces)."""
    if not text.strip():
        return text
    lead = text[: len(text) - len(text.lstrip())]
    trail = text[len(text.rstrip()) :]
    return lead + md_escape(text) + trail


def md_finalize(value: object) -> str:
    if value is None:
        return "—"
    if isinstance(value, MdSafe):
        return str(value)
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int | float):
        return str(value)
    return md_escape(value)


def md_link(url: object, text: object = None) -> MdSafe:
    """`[text](url)` for allowlisted URLs; otherwise the escaped text alone (no link)."""
    label = md_escape(url if text is None else text) if (url or text) else "—"
    good = safe_url(url)
    if good is None:
        return MdSafe(label)
    dest = urllib.parse.quote(good, safe=_URL_SAFE)
    return MdSafe(f"[{label}](<{dest}>)")


def html_finalize(value: object) -> object:
    if value is None:
        return "—"
    if isinstance(value, Markup):
        return value
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, str):
        return _CONTROL.sub(REPLACEMENT, value)
    return value


def graph_label(text: str) -> str:
    """Allowlisted characters only: safe inside DOT and Mermaid quoted labels."""
    cleaned = _GRAPH_LABEL_BAD.sub("_", strip_controls(text)).strip()
    if len(cleaned) > GRAPH_LABEL_MAX:
        cleaned = cleaned[: GRAPH_LABEL_MAX - 1] + "…"
    return cleaned


def media_name(ref: dict[str, Any] | None) -> str | None:
    """A media file as the report names it: `media 3: strike.mp4`; one held by another case
    with that case, `media 5 (case strike-tiktok): name.mp4`, and by its SHA-256 prefix
    when that case is unnamed (`--redact-other-cases`: `media 5 (case OTHER-1):
    sha256:1a2b3c4d5e6f`). None for no media."""
    if ref is None:
        return None
    held = f" (case {ref['case']})" if ref.get("case") else ""
    name = _shown_name(ref)
    return f"media {ref['id']}{held}" + (f": {name}" if name is not None else "")


def _shown_name(ref: dict[str, Any]) -> str | None:
    """A media file's name, or `sha256:PREFIX` when it is withheld (another case's, with
    `--redact-other-cases`)."""
    name = ref.get("name")
    if name is None:
        sha = ref.get("sha256")
        return f"sha256:{sha[:12]}" if isinstance(sha, str) else None
    return str(name)


def _node_label(ref: dict[str, Any] | None) -> str:
    """`media_name` for the graph: `media 5, case strike-tiktok: name.mp4`."""
    if ref is None:
        return "unknown"
    held = f", case {ref['case']}" if ref.get("case") else ""
    name = _shown_name(ref)
    return graph_label(f"media {ref['id']}{held}" + (f": {name}" if name is not None else ""))


def _edges(data: dict[str, Any]) -> list[tuple[str, str, str, str, str]]:
    """(child node, child label, parent node, parent label, kind label) per derivation not
    retracted (the table lists those too, marked)."""
    out = []
    for d in data["provenance"]["derivations"]:
        if d.get("retracted"):
            continue
        child, parent = d["child"], d["parent"]
        out.append(
            (
                f"m{child['id'] if child else 'x'}",
                _node_label(child),
                f"m{parent['id'] if parent else 'x'}",
                _node_label(parent),
                graph_label(d["kind"].replace("_", " ")),
            )
        )
    return out


def mermaid(data: dict[str, Any]) -> MdSafe:
    """The derivation graph as a Mermaid flowchart (child --kind--> parent)."""
    edges = _edges(data)
    if not edges:
        return MdSafe("")
    lines = ["```mermaid", "flowchart BT"]
    seen: dict[str, str] = {}
    for c, cl, p, pl, _ in edges:
        seen.setdefault(c, cl)
        seen.setdefault(p, pl)
    lines.extend(f'  {node}["{label}"]' for node, label in sorted(seen.items()))
    lines.extend(f'  {c} -->|"{k}"| {p}' for c, _, p, _, k in edges)
    lines.append("```")
    return MdSafe("\n".join(lines))


def dot_source(data: dict[str, Any]) -> str:
    edges = _edges(data)
    nodes: dict[str, str] = {}
    for c, cl, p, pl, _ in edges:
        nodes.setdefault(c, cl)
        nodes.setdefault(p, pl)
    lines = [
        "digraph derivations {",
        '  rankdir=BT; bgcolor="transparent";',
        '  node [shape=box, style="rounded", fontname="DejaVu Sans", fontsize=10];',
        '  edge [fontname="DejaVu Sans", fontsize=9];',
    ]
    lines.extend(f'  {n} [label="{label}"];' for n, label in sorted(nodes.items()))
    lines.extend(f'  {c} -> {p} [label="{k}"];' for c, _, p, _, k in edges)
    lines.append("}")
    return "\n".join(lines) + "\n"


_SVG_DROP_BLOCKS = re.compile(
    r"<(script|foreignObject|style|iframe|object|embed)\b.*?</\1\s*>", re.IGNORECASE | re.DOTALL
)
_SVG_DROP_TAGS = re.compile(
    r"<\?xml.*?\?>|<!DOCTYPE.*?>|<!--.*?-->|</?a\b[^>]*>|<(script|foreignObject|iframe|object|embed)\b[^>]*/?>",
    re.IGNORECASE | re.DOTALL,
)
_SVG_BAD_ATTR = re.compile(
    r"""\s(?:on[a-z]+|(?:xlink:)?href|style)\s*=\s*(?:"[^"]*"|'[^']*'|[^\s>]+)""", re.IGNORECASE
)


def sanitize_svg(svg: str) -> str:
    """Strip scripts, links, event handlers, comments and the XML prolog from Graphviz SVG."""
    svg = _SVG_DROP_BLOCKS.sub("", svg)
    svg = _SVG_DROP_TAGS.sub("", svg)
    svg = _SVG_BAD_ATTR.sub("", svg)
    start = svg.find("<svg")
    return svg[start:].strip() if start >= 0 else ""


def graphviz_svg(data: dict[str, Any]) -> str | None:
    """Inline SVG of the derivation graph when Graphviz `dot` is on PATH, else None."""
    if not _edges(data):
        return None
    dot = shutil.which("dot")
    if dot is None:
        return None
    try:
        proc = subprocess.run(
            [dot, "-Tsvg"],
            input=dot_source(data).encode(),
            capture_output=True,
            timeout=DOT_TIMEOUT_S,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    if proc.returncode != 0:
        return None
    svg = sanitize_svg(proc.stdout.decode("utf-8", "replace"))
    return svg or None


def _thumbnails(archive: Archive, data: dict[str, Any]) -> tuple[dict[str, Any], str | None]:
    """{"<media id>:<idx>": data URI} for each contact-sheet frame, decoded in a child."""
    from verify.services.thumbnails import thumbnails_in_child

    jobs: list[dict[str, Any]] = []
    keys: list[list[str]] = []
    for m in data["media"]:
        if m["kind"] not in ("image", "video") or not m["contact_sheet"]:
            continue
        path = archive.store.path_for(m["sha256"])
        if not path.is_file():
            continue
        frames = {f["idx"]: f for f in m["frames"]}
        pts = [frames[i]["pts"] for i in m["contact_sheet"]]
        jobs.append({"path": str(path), "kind": m["kind"], "pts": pts, "name": f"media {m['id']}"})
        keys.append([f"{m['id']}:{i}" for i in m["contact_sheet"]])
    results, problem = thumbnails_in_child(jobs)
    thumbs: dict[str, Any] = {}
    for job_keys, job_results in zip(keys, results, strict=True):
        for key, b64 in zip(job_keys, job_results, strict=True):
            if isinstance(b64, str) and re.fullmatch(r"[A-Za-z0-9+/=]+", b64):
                # our own JPEG bytes, base64 alphabet checked above
                thumbs[key] = Markup("data:image/jpeg;base64,") + Markup(b64)  # noqa: S704
    return thumbs, problem


def _environment(*, html: bool) -> Environment:
    # Markdown is not HTML: its escaping is the md_finalize hook, applied to every value.
    env = Environment(
        autoescape=html,  # noqa: S701
        finalize=html_finalize if html else md_finalize,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    from verify.services.provread import evidence_value

    filters: dict[str, Callable[..., Any]] = {
        "safe_url": safe_url,
        "md_link": md_link,
        "md": md_escape,
        "md_code": md_code_spans,
        "hms": hms,
        "human_size": human_size,
        "words": lambda s: str(s).replace("_", " ").replace(".", " "),
        "sheet_frames": sheet_frames,
        "claim_history": claim_history,
        "counted": counted,
        "when": readable_time,
        "whole_seconds": whole_seconds,
        "pct": percent,
        "num": lambda v: f"{v:g}" if isinstance(v, float) else v,
        "sentence": lambda s: str(s)[:1].upper() + str(s)[1:],
        "plain": evidence_value,
        "capture_time": capture_time_parts,
        "device": device_name,
        "status_meaning": status_meaning,
        "c2pa_line": c2pa_line,
        "as_stated": as_stated,
        "changed_by": changed_by,
        "restoration": restoration,
        "media_name": media_name,
        "search_summary": search_summary,
    }
    env.filters.update(filters)
    return env


@functools.lru_cache(maxsize=4)
def _template(name: str, *, html: bool) -> Template:
    text = resources.files("verify.templates").joinpath(name).read_text(encoding="utf-8")
    return _environment(html=html).from_string(text)


def search_summary(evidence: Any, child: Any = None, parent: Any = None) -> str | None:
    """A derivation's evidence written by search (`prov derive --evidence-from-search`, the
    demo) as one sentence; None for any other evidence, which is shown field by field."""
    if not isinstance(evidence, dict) or evidence.get("source") != "verify search":
        return None
    from verify.services.provread import match_phrase

    copy = f"media {child}" if child is not None else "the copy"
    source = f"media {parent}" if parent is not None else "the source"
    try:
        return (
            f"near-duplicate search (hashing recipe {evidence.get('recipe', '?')}): "
            f"{evidence['tier']}, score {float(evidence['score']):g}; "
            + match_phrase(evidence, copy, source)
        )
    except (KeyError, TypeError, ValueError):
        return None  # edited by hand: shown field by field


def _words(value: str) -> str:
    return value.replace("_", " ")


def reading_guide() -> list[tuple[str, str]]:
    """The section "How to read this report", (term, explanation) a line, for the HTML and
    the Markdown report alike: the statuses, findings and attribution states in the words of
    `verify.vocab` (which docs/concepts.md and docs/provenance.md repeat), then the terms
    of the near-duplicate (docs/matching.md) and integrity sections."""
    verdicts = "; ".join(f"{_words(s)}: {STATUS_MEANING[s]}" for s in CaseStatus if s in VERDICTS)
    open_ = ", ".join(
        f"{_words(s)} ({STATUS_MEANING[s]})" for s in CaseStatus if s in OPEN_STATUSES
    )
    findings = "; ".join(f"{f}: {m}" for f, m in FINDING_MEANING.items())
    states = "; ".join(f"{s}: {m}" for s, m in ATTRIBUTION_STATE_MEANING.items())
    return [
        (
            "Verdict",
            "the case's overall conclusion about its media and what is claimed about "
            f"it (the claims' findings are the detail behind it). {verdicts}.",
        ),
        ("Open status", f"no verdict yet: {open_}."),
        ("Claim finding", f"{findings}. Confidence (low, medium, high) says how sure."),
        (
            "Attribution state",
            "who is said to have posted, filmed, subtitled… the media. "
            f"{states}. Claimed records what someone asserts: it is not a finding.",
        ),
        (
            "Match, suggestion",
            "the tiers of a near-duplicate. Match: enough frames agree on two perceptual "
            "hashes to treat the two files as the same picture or footage. Suggestion: they "
            "only resemble each other, for a person to confirm.",
        ),
        (
            "Score",
            "from 0 to 1, higher is closer: the share of frames matched times (1 − "
            "median distance / 64).",
        ),
        (
            "Distance",
            "Hamming distance in bits between two perceptual hashes (dHash and pHash "
            "have 64 bits, PDQ 256): how many bits differ. 0 means identical hashes; "
            "unrelated pictures differ in about half their bits. The near-duplicate table "
            "gives dHash bits, best and median over the frames matched.",
        ),
        (
            "Variant",
            "how the matching frames were compared: full (the whole picture), masked "
            "(the bottom subtitle band left out, for copies with burned-in subtitles), mirrored "
            "(one picture flipped left to right), mirrored+masked (both).",
        ),
        (
            "Offset",
            "between two videos: the other file's time minus this one's, where their frames agree.",
        ),
        (
            "Audit checkpoint",
            "the last entry of the audit trail this report was made from; "
            "verify check --against with it confirms that the trail up to it is unaltered.",
        ),
        (
            "Check at generation",
            "verify check when the report was made: the database, the "
            "tamper-evident audit chain, the case's facts against what the trail last "
            "recorded, and this case's stored files re-hashed against their SHA-256. ok: "
            "nothing found altered; FAILED: what was found is listed.",
        ),
        ("—", "not recorded or not known. Times are UTC, to the whole second."),
    ]


def c2pa_line(metadata: dict[str, Any], media_id: object = None) -> str | None:
    """The C2PA row when there is no manifest summary: none found (and by which reader), or
    why it is not known, from `c2pa_read` (`verify.services.report._c2pa_read`). None when
    there is a summary (the template lists its fields)."""
    from verify.analysis.metadata import C2PA_DISTRIBUTION, C2PA_EXTRA

    if metadata.get("c2pa"):
        return None
    again = "verify media reanalyse" + (f" {media_id}" if media_id is not None else "")
    read = metadata.get("c2pa_read")
    if read == "read":
        return f"none found (read with {metadata.get('c2pa_reader')})"
    if read == "not_installed":
        return (
            f"not read: {C2PA_DISTRIBUTION} was not installed when the file was analysed "
            f"({C2PA_EXTRA}, then {again})"
        )
    return (
        "not known whether it was read: the file was analysed before verify recorded it "
        f"({again} reads it again)"
    )


def as_stated(entry: object) -> str | None:
    """For a record a case-file import put into this archive (its `recorded` entry names
    the file): "as stated in case file FILE, imported by ACTOR at TIME". Its by/at are the
    file's, not anything this archive witnessed. None for a record made here."""
    if not isinstance(entry, dict) or not entry.get("import"):
        return None
    return (
        f"as stated in case file {entry['import']}, imported by {entry.get('by')} at "
        f"{whole_seconds(entry.get('at'))}"
    )


def changed_by(change: dict[str, Any]) -> str:
    """One later change of a record's facts (`changed`): "acquired by, acquired at changed
    by case file FILE, imported by ACTOR at TIME (audit entry SEQ)"."""
    fields = ", ".join(str(f).replace("_", " ") for f in change.get("fields") or []) or "facts"
    when = whole_seconds(change.get("at"))
    who = (
        f"by case file {change['import']}, imported by {change.get('by')} at {when}"
        if change.get("import")
        else f"by {change.get('by')} at {when}"
    )
    return f"{fields} changed {who} (audit entry {change.get('seq')})"


# what `verify check` found wrong with a stored copy that a new acquisition replaced
RESTORED_FOUND = {
    "hash-mismatch": "altered or damaged (its bytes no longer had its SHA-256)",
    "unreadable": "unreadable",
}


def restoration(item: dict[str, Any], media_id: object = None) -> str:
    """One `restorations` item of a media file: "stored copy found altered or damaged (…)
    and restored from a new acquisition of the same bytes (media 7, case incoming) by bob
    at TIME (audit entry 12); the damaged copy is kept at objects/damaged/…"."""
    found = RESTORED_FOUND.get(str(item.get("found")), str(item.get("found")))
    if item.get("media") == media_id and item.get("case") is None:
        source = "this acquisition"
    else:
        where = f", case {item['case']}" if item.get("case") else ""
        source = f"a new acquisition of the same bytes (media {item.get('media')}{where})"
    kept = item.get("damaged_copy")
    return (
        f"stored copy found {found} and restored from {source} by {item.get('by')} at "
        f"{whole_seconds(item.get('at'))} (audit entry {item.get('seq')})"
        + (f"; the damaged copy is kept at {kept}" if kept else "")
    )


def status_meaning(status: object) -> str | None:
    """What a case status means (`vocab.STATUS_MEANING`), None for a value not in the
    vocabulary."""
    try:
        return STATUS_MEANING[CaseStatus(str(status))]
    except ValueError:
        return None


def counted(n: int, noun: str) -> str:
    """`1 finding`, `2 findings`, `0 findings` (nouns here take a plain -s)."""
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def claim_history(claims: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every claim's `history` as one list, oldest first across claims (by when each change
    was made, as stated for an assessment a case file dated, then by audit entry), each
    change with its claim's number as `n`: the table "How the findings changed"."""
    from verify.services.recorded import instant

    rows = [{**h, "n": c["n"]} for c in claims for h in c["history"]]
    return sorted(rows, key=lambda h: (instant(h["at"]), h["seq"]))


def sheet_frames(media: dict[str, Any]) -> list[dict[str, Any]]:
    """The contact-sheet frames of one media entry, in order."""
    wanted = set(media["contact_sheet"])
    return [f for f in media["frames"] if f["idx"] in wanted]


_ISO_UTC = re.compile(r"^(\d{4}-\d{2}-\d{2})T(\d{2}:\d{2}:\d{2})(\.\d+)?Z$")
# the fraction of a second of an ISO 8601 date-time (before its zone), wherever it stands
_FRACTION = re.compile(r"(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})\.\d+(?=Z|[+-]\d{2}:?\d{2})")


def readable_time(value: object) -> str:
    """`2023-05-24T09:00:00.050159Z` -> `2023-05-24 09:00:00 UTC`: whole seconds, cut,
    not rounded (other text unchanged)."""
    text = str(value)
    m = _ISO_UTC.match(text)
    return f"{m.group(1)} {m.group(2)} UTC" if m else text


def whole_seconds(value: object) -> object:
    """Times to the whole second (cut, not rounded), in a time or in a sentence of ours
    that quotes one: `2023-05-24T09:00:00.050159Z` -> `2023-05-24T09:00:00Z`. The JSON
    report keeps the stored value. Anything but text (None) is returned unchanged."""
    return _FRACTION.sub(r"\1", value) if isinstance(value, str) else value


def capture_time_parts(metadata: dict[str, Any]) -> dict[str, str | None] | None:
    """A media file's capture time for display: `text` is UTC when the offset is known,
    else the camera's local time with `(camera local time, offset unknown)`; `written` is
    the value as written in the file (`CaptureTime.as_written`), when that says more. None: no
    capture time. (`verify.timeutil.capture_time`.)"""
    from verify.timeutil import capture_time

    found = capture_time(metadata)
    raw = metadata.get("captured_at_raw")
    if found is None:
        return None if not raw else {"text": str(raw), "written": "as written, not read as a time"}
    written = found.as_written()
    return {"text": found.text, "written": f"as written: {written}" if written else None}


def percent(fraction: object) -> str:
    """0.565 -> 56.5%; None -> —."""
    if not isinstance(fraction, int | float) or isinstance(fraction, bool):
        return "—"
    return f"{fraction * 100:.1f}%"


def hms(seconds: object) -> str:
    """12.5 -> 00:12.500; 3725 -> 1:02:05.000."""
    if not isinstance(seconds, int | float):
        return "—"
    total_ms = round(float(seconds) * 1000)
    sign = "-" if total_ms < 0 else ""
    total_ms = abs(total_ms)
    h, rem = divmod(total_ms, 3_600_000)
    m, rem = divmod(rem, 60_000)
    s, ms = divmod(rem, 1000)
    return f"{sign}{h}:{m:02d}:{s:02d}.{ms:03d}" if h else f"{sign}{m:02d}:{s:02d}.{ms:03d}"


def human_size(n: object) -> str:
    if not isinstance(n, int):
        return "—"
    size = float(n)
    for unit in ("bytes", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{n} bytes" if unit == "bytes" else f"{size:.1f} {unit} ({n} bytes)"
        size /= 1024
    return f"{n} bytes"


def render_markdown(data: dict[str, Any]) -> str:
    return _template("report.md.j2", html=False).render(
        r=data, mermaid=mermaid(data), guide=reading_guide()
    )


def render_html(archive: Archive, data: dict[str, Any]) -> str:
    thumbs, thumb_problem = _thumbnails(archive, data)
    svg = graphviz_svg(data)
    return _template("report.html.j2", html=True).render(
        r=data,
        csp=CSP,
        guide=reading_guide(),
        thumbs=thumbs,
        thumb_problem=thumb_problem,
        # drawn from allowlist-filtered labels, then sanitised (sanitize_svg)
        graph_svg=Markup(svg) if svg else None,  # noqa: S704
    )


def render_json(data: dict[str, Any]) -> bytes:
    return orjson.dumps(data, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS) + b"\n"


def render_pdf(html: str) -> bytes:
    """HTML -> PDF through WeasyPrint (optional extra `verify[pdf]`)."""
    try:
        import weasyprint
    except ImportError:
        raise BadInputError(
            "PDF output needs the optional extra: pip install 'verify[pdf]'"
        ) from None
    except OSError as exc:  # WeasyPrint installed but Pango/cairo missing
        raise BadInputError(f"PDF output needs the system Pango library (>= 1.44): {exc}") from None
    pdf = weasyprint.HTML(string=html).write_pdf()
    if not isinstance(pdf, bytes):
        raise RuntimeError("WeasyPrint returned no PDF bytes")
    return pdf


def render(archive: Archive, data: dict[str, Any], fmt: str) -> bytes:
    if fmt == "md":
        return render_markdown(data).encode()
    if fmt == "html":
        return render_html(archive, data).encode()
    if fmt == "json":
        return render_json(data)
    if fmt == "pdf":
        return render_pdf(render_html(archive, data))
    raise BadInputError(f"unknown report format {fmt!r}; use one of: md, html, json, pdf")
