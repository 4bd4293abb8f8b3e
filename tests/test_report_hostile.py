"""Hostile data in reports (reliability T30-T32).

Each of 25 payloads is written into every free-text field the fixture has: case title,
summary, claim, rationales, note, a filename and label, the source URL and acquisition
method, EXIF Artist/ImageDescription/XPComment and XMP (Blob.meta raw), the video title
tag, encoder and XMP creator tool, an account handle, display name and URL, an appearance
URL and caption, attribution evidence, and a derivation note. The HTML output is parsed
with html.parser; the Markdown output is checked table by table.
"""

import json
import re
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from tests import report_fixture
from verify.archive import Archive
from verify.services import report, report_render
from verify.timeutil import parse_utc

AT = parse_utc("2023-06-01T00:00:00Z")

PAYLOADS = [
    "<script>alert(1)</script>",
    '"><img src=x onerror=alert(1)>',
    "'onmouseover='alert(1)' x='",
    "javascript:alert(document.domain)",
    "JaVaScRiPt:alert(1)",
    " javascript:alert(1)",
    "data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==",
    "data:image/svg+xml,<svg onload=alert(1)>",
    "<svg onload=alert(1)><circle r=9></svg>",
    "</style><script>alert(1)</script><style>",
    '</script><script>alert("json")</script>',
    '<iframe src="javascript:alert(1)"></iframe>',
    '<object data="x.swf"></object><embed src="x.swf">',
    "[click me](javascript:alert(1))",
    "![pixel](https://evil.example/track.png)",
    "| a | b |\n|---|---|\n| c | d |",
    "line one\nline two\r\n# heading\n- item\n> quote\n1. first\n    code",
    "`code` **bold** _it_ ~~strike~~ \\ backslash \\| pipe",
    "\x1b[2J\x1b]52;c;ZXZpbA==\x07 cleared the screen",
    "photo\u202egpj.exe \u009d\u0085 C1 and bidi",
    '<a href="https://evil.example">trusted link</a>',
    'http://evil.example/"onmouseover="alert(1)',
    "https://ok.example/a b<c>|d",
    "{{ 7*7 }} {% raw %} ${7*7}",
    "<!-- comment --> &lt;script&gt; &amp; <base href=//evil.example>",
]
assert len(PAYLOADS) == 25

CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
EXECUTABLE = {
    "script",
    "iframe",
    "object",
    "embed",
    "base",
    "frame",
    "frameset",
    "applet",
    "form",
    "link",
    "meta",
}


class Collector(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, list[tuple[str, str | None]]]] = []
        self.stack: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, attrs))

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, attrs))


def check_html(html: str) -> None:
    p = Collector()
    p.feed(html)
    p.close()
    names = [t for t, _ in p.tags]
    metas = [dict(a) for t, a in p.tags if t == "meta"]
    csp = [m for m in metas if (m.get("http-equiv") or "").lower() == "content-security-policy"]
    assert [m["content"] for m in csp] == [report_render.CSP]
    assert html.index("Content-Security-Policy") < html.index("<style>")
    # our own head: charset, CSP, referrer, viewport, generator, created; nothing else
    assert len(metas) == 6
    assert names.count("style") == 1
    assert not (set(names) - {"meta"}) & EXECUTABLE
    for tag, attrs in p.tags:
        for name, value in attrs:
            assert not name.lower().startswith("on"), (tag, name, value)
            if name.lower() in ("href", "xlink:href", "action", "formaction"):
                assert tag == "a", (tag, name)
                # http(s) links, or our own in-page anchors
                assert value is not None
                assert re.match(r"https?://", value) or re.fullmatch(r"#[a-z]+", value), value
            if name.lower() == "src":
                assert tag == "img", (tag, value)
                assert value is not None
                assert re.fullmatch(r"data:image/jpeg;base64,[A-Za-z0-9+/=]+", value), value
            if name.lower() == "style":
                raise AssertionError(f"style attribute on {tag}")
    assert not CONTROL.search(html)


def md_cells(line: str) -> int:
    return len(re.split(r"(?<!\\)\|", line.strip())) - 2


def check_markdown(md: str) -> None:
    lines = md.split("\n")
    i = 0
    tables = 0
    while i < len(lines):
        if lines[i].startswith("|"):
            header = md_cells(lines[i])
            assert re.fullmatch(r"\|(---\|)+", lines[i + 1]), lines[i + 1]
            j = i + 1
            while j < len(lines) and lines[j].startswith("|"):
                assert md_cells(lines[j]) == header, (lines[i], lines[j])
                assert lines[j].endswith("|")
                j += 1
            tables += 1
            i = j
        else:
            i += 1
    assert tables >= 15
    # What a Markdown viewer makes of it (markdown-it-py, CommonMark + tables, raw HTML on):
    # only the elements our templates produce, links only to http(s), every table intact.
    from markdown_it import MarkdownIt

    rendered = MarkdownIt("commonmark").enable(["table", "strikethrough"]).render(md)
    viewer = Collector()
    viewer.feed(rendered)
    allowed = {"h1", "h2", "h3", "h4", "p", "table", "thead", "tbody", "tr", "th", "td",
               "strong", "em", "a", "ul", "li", "pre", "code"}  # fmt: skip
    assert {t for t, _ in viewer.tags} <= allowed, {t for t, _ in viewer.tags} - allowed
    assert sum(1 for t, _ in viewer.tags if t == "table") == tables
    for tag, attrs in viewer.tags:
        for name, value in attrs:
            assert name in ("href", "class"), (tag, name)
            if name == "href":
                assert value is not None and re.match(r"https?://", value), value
    # No raw HTML from data: the only "<" we emit opens a link destination "](<https://...>)".
    for m in re.finditer("<", md):
        assert md[m.start() - 2 : m.start()] == "](", md[m.start() - 40 : m.start() + 40]
    for dest in re.findall(r"\]\(<([^>]*)>\)", md):
        assert re.match(r"https?://", dest), dest
        assert not re.search(r"[\s<>|()\"']", dest), dest
    assert not CONTROL.search(md)
    # data never starts a Markdown block (HTML, quote, code, heading, list, setext line)
    for line in lines:
        assert not line.startswith(("<", ">", "    ", "\t", "=")), line
        if line.startswith("#"):
            assert re.match(r"#{1,4} \S", line), line  # ours; content escaped
        if line.startswith(("-", "+", "*")) or re.match(r"\d+[.)]", line):
            # only our notes list; its content must not open a nested block
            assert re.match(r"- (?![-+*>#=<]|\d+[.)](\s|$)|\s)", line), line


@pytest.mark.parametrize("payload", PAYLOADS, ids=[f"p{i:02d}" for i in range(25)])
def test_hostile_payload_everywhere(
    archive: Archive, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, payload: str
) -> None:
    # thumbnails come from bytes, never from text; skip the decoder child for speed
    monkeypatch.setattr(
        "verify.services.thumbnails.thumbnails_in_child",
        lambda jobs: ([[None] * len(j["pts"]) for j in jobs], None),
    )
    slug = report_fixture.build(archive, tmp_path, monkeypatch, payload=payload)
    data = report.build_report(archive, slug, at=AT)
    assert data["media"][1]["name"] == payload  # the payload really reached the report
    assert data["provenance"]["appearances"][0]["caption"] == payload

    check_html(report_render.render_html(archive, data))
    md = report_render.render_markdown(data)
    check_markdown(md)

    # JSON keeps the exact original strings (it is data, not markup)
    back = json.loads(report_render.render_json(data))
    assert back["media"][1]["name"] == payload
    tags = {
        (t["reader"], t["tag"]): t["value"] for t in back["media"][1]["metadata"]["notable_tags"]
    }
    assert tags[("pillow", "Artist")] == payload
    assert tags[("pillow", "XPComment")] == payload
    assert tags[("xmp", "dc:description")] == payload
    assert tags[("pyav", "title")] == payload


def test_url_allowlist() -> None:
    ok = ["http://a.example/x", "https://a.example/x?q=1#f"]
    bad = [
        "javascript:alert(1)",
        " javascript:x",
        "JAVASCRIPT:x",
        "data:text/html,x",
        "vbscript:x",
        "file:///etc/passwd",
        "//evil.example",
        "https:/nohost",
        "https://a b",
        "mailto:x@y",
        "https://a.example/\x1b[2J",
        None,
        7,
    ]
    assert [report_render.safe_url(u) for u in ok] == ok
    assert [report_render.safe_url(u) for u in bad] == [None] * len(bad)


def test_markdown_escaping_examples() -> None:
    e = report_render.md_escape
    assert e("a|b") == "a\\|b"
    assert e("[x](javascript:alert(1))") == "\\[x\\](javascript:alert(1))"
    assert e("<b>&") == "&lt;b>&amp;"
    # `>` opens nothing mid-line, so an arrow reads as one; at a line start it would quote
    assert e("claimed -> corroborated") == "claimed -> corroborated"
    assert e("> quoted") == "\\> quoted"
    assert e("two\nlines\ttab") == "two lines tab"
    assert e("- item") == "\\- item"
    assert e("1. first") == "1\\. first"
    assert e("16.4.1") == "16.4.1"
    assert e("\x1b[2Jx\u202e") == "\ufffd\\[2Jx\ufffd"
    assert report_render.md_link("javascript:x") == "javascript:x"
    assert report_render.md_link("https://a.example/a_b|c(d)") == (
        "[https://a.example/a\\_b\\|c(d)](<https://a.example/a_b%7Cc%28d%29>)"
    )


def test_markdown_code_spans_in_our_messages() -> None:
    c = report_render.md_code_spans
    assert c("add one with `verify prov appearance add my-case --posted DATE`") == (
        "add one with `verify prov appearance add my-case --posted DATE`"
    )
    # the text around the span is still escaped; an unpaired backtick is escaped, not a span
    assert c("a_b `x` <i>") == "a\\_b `x` &lt;i>"
    assert c("one ` only") == "one \\` only"


def _replace_strings(value: object, payload: str) -> object:
    if isinstance(value, str):
        return payload
    if isinstance(value, dict):
        return {k: _replace_strings(v, payload) for k, v in value.items()}
    if isinstance(value, list):
        return [_replace_strings(v, payload) for v in value]
    return value


def test_every_string_in_the_report_hostile_at_once(
    archive: Archive, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Renderer-level: every string leaf of the report dict (ids, hashes, times, states,
    vocabulary words included) replaced by each payload in turn."""
    slug = report_fixture.build(archive, tmp_path, monkeypatch)
    data = report.build_report(archive, slug, at=AT)
    _with_every_record_kind(data)
    shown = report_render.render_markdown(data)
    for part in ("as stated in case file f.toml", "| Changed |", "| Stored copy |", "OTHER-"):
        assert part in shown, part
    for payload in PAYLOADS:
        hostile = _replace_strings(data, payload)
        assert isinstance(hostile, dict)
        check_html(report_render.render_html(archive, hostile))
        check_markdown(report_render.render_markdown(hostile))


def _with_every_record_kind(data: dict[str, Any]) -> None:
    """What the fixture has none of, so that its strings are replaced too: records a case
    file gave (`recorded` with `import`), a later change, a restored stored copy, another
    case's file at a derivation's end (named, and redacted)."""
    entry = {"by": "x", "at": "2023-05-30T10:00:00Z", "seq": 9, "import": "f.toml"}
    prov = data["provenance"]
    data["case"]["recorded"] = data["verdict"]["recorded"] = entry
    rows = [*data["status_history"], *data["notes"], *prov["timeline"], *prov["appearances"]]
    rows += [*prov["derivations"], *data["media"], *(m["acquired"] for m in data["media"])]
    rows += [a for g in prov["attributions"] for a in g["items"]]
    rows += [h for g in prov["attributions"] for a in g["items"] for h in a["history"]]
    for row in rows:
        row["recorded"] = entry
    for c in data["claims"]:
        for h in c["history"]:
            h["import"] = "f.toml"
    change = {**entry, "fields": ["acquired_by"]}
    for row in (*prov["appearances"], *prov["derivations"], *data["media"]):
        row["changed"] = [change]
    data["media"][0]["restorations"] = [
        {"found": "hash-mismatch", "damaged_copy": "objects/damaged/x", "media": 9,
         "case": "other", **entry},
    ]  # fmt: skip
    d = prov["derivations"][0]
    d["child"]["case"] = "other"
    d["parent"] = {**d["parent"], "case": "other", "name": None, "label": None}
    d["retracted"] = {"at": entry["at"], "by": "x", "why": "mistake", "recorded": entry}
    data["other_cases_redacted"] = True
