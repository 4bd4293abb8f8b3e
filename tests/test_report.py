"""Reports: content, JSON schema, determinism, golden files, thumbnails, graph, CLI.

Golden files live in tests/golden/. They change only on purpose: rerun with
`VERIFY_UPDATE_GOLDEN=1 .venv/bin/pytest tests/test_report.py -k golden` and review the diff.
"""

import base64
import hashlib
import io
import json
import os
import shutil
import sys
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from markupsafe import escape

from tests import report_fixture
from tests.conftest import REPO, RunCli
from verify import outputs
from verify.archive import Archive
from verify.errors import BadInputError
from verify.services import log as logsvc
from verify.services import logread, provenance, provread, report, report_render
from verify.timeutil import parse_utc

AT = parse_utc("2023-06-01T00:00:00Z")
BEFORE_AT = "2023-05-31T12:00:00Z"  # VERIFY_FAKE_NOW for what a report dated AT shows
# the clock finding of the fixture's entries, written under VERIFY_FAKE_NOW
PINNED_1_6 = {
    "category": "clock",
    "subject": "seq 1-6",
    "detail": "6 entries written under a pinned clock (VERIFY_FAKE_NOW): their times are "
    "what the clock was set to, not when written",
}
GOLDEN = REPO / "tests" / "golden"
SCHEMA = json.loads((REPO / "docs" / "report-schema.json").read_text())
PINNED_GENERATOR = {
    "tool": "verify",
    "version": "0.0.0-golden",
    "python": "3.x",
    "dependencies": {"pinned": "for golden files"},
}


@pytest.fixture
def slug(archive: Archive, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    return report_fixture.build(archive, tmp_path, monkeypatch)


@pytest.fixture
def data(archive: Archive, slug: str) -> dict[str, Any]:
    return report.build_report(archive, slug, at=AT)


def test_json_validates_against_documented_schema(data: dict[str, Any]) -> None:
    jsonschema.Draft202012Validator.check_schema(SCHEMA)
    payload = json.loads(report_render.render_json(data))
    errors = list(jsonschema.Draft202012Validator(SCHEMA).iter_errors(payload))
    assert errors == []


def test_header_verdict_and_claims(data: dict[str, Any]) -> None:
    assert data["generated_at"] == "2023-06-01T00:00:00Z"
    assert data["verdict"] == {
        "status": "misattributed",
        "is_verdict": True,
        "rationale": "earliest copy is the Telegram post; the subtitled X copy is a re-upload",
        "set_by": "tester",
        "set_at": "2023-05-26T08:00:00Z",
        # recorded here, on the command line (`status.set` entry 6), not from a case file
        "recorded": {"by": "tester", "at": "2023-05-26T08:00:00Z", "seq": 6, "import": None},
    }
    assert [(c["n"], c["finding"], c["confidence"]) for c in data["claims"]] == [
        (1, "supported", "medium"),
        (2, "unassessed", None),
    ]
    assert [h["to"] for h in data["status_history"]] == [
        "unverified",
        "in_progress",
        "misattributed",
    ]


def test_a_verdict_is_shown_with_its_meaning(archive: Archive, slug: str) -> None:
    """The trial's "Status: false verdict" read badly: the status keeps its name (stored,
    in the CLI and JSON); HTML and Markdown say what it means beside it (STATUS_MEANING)."""
    from verify.services import status

    status.set_status(archive, slug, "needs_review", why="second look")
    status.set_status(archive, slug, "false", why="staged: the sign is a prop")
    data = report.build_report(archive, slug, at=AT)
    assert data["verdict"]["status"] == "false"
    meaning = "the media, or the main claim about what it shows, is false: fabricated, staged "
    md = report_render.render_markdown(data)
    assert f"| Status | **false** (verdict: {meaning}or manipulated) |" in md
    html = report_render.render_html(archive, data)
    assert (
        '<div class="status">Status: <span class="badge s-false">false</span> <span '
        f'class="muted">verdict: {meaning}or manipulated</span></div>'
    ) in html


def test_how_to_read_the_report_explains_its_terms(archive: Archive, data: dict[str, Any]) -> None:
    """An editor met "corroborated", "suggestion", "variant masked", "distance 2" and an
    audit checkpoint unexplained. One list (report_render.reading_guide) explains them in
    both formats: the statuses, findings and attribution states in vocab's words."""
    from verify.services.search import VARIANTS
    from verify.vocab import ATTRIBUTION_STATE_MEANING, FINDING_MEANING, STATUS_MEANING

    guide = report_render.reading_guide()
    assert 10 <= len(guide) <= 20
    text = " ".join(f"{term} {line}" for term, line in guide)
    for meaning in [*STATUS_MEANING.values(), *FINDING_MEANING.values(),
                    *ATTRIBUTION_STATE_MEANING.values()]:  # fmt: skip
        assert meaning in text
    for word in ("Match", "Suggestion", "Score", "Hamming distance", "dHash", "pHash", "PDQ",
                 "Audit checkpoint", "Check at generation", *VARIANTS):  # fmt: skip
        assert word in text, word
    md = report_render.render_markdown(data)
    lines = md.split("## How to read this report\n\n", 1)[1].split("\n\n", 1)[0].splitlines()
    assert lines[:2] == ["| Term | Meaning |", "|---|---|"]
    assert lines[2:] == [f"| {term} | {report_render.md_escape(line)} |" for term, line in guide]
    html = report_render.render_html(archive, data)
    block = html.split('<details class="guide" id="guide">', 1)[1].split("</details>")[0]
    assert block.startswith("\n<summary>How to read this report</summary>\n<dl>\n")
    assert block.count("<dt>") == len(guide)
    for term, line in guide:
        assert f"<dt>{term}</dt><dd>{escape(line)}</dd>" in block
    assert '<a href="#guide">' in html


def test_timeline_orders_events_and_marks_earliest(data: dict[str, Any]) -> None:
    prov = data["provenance"]
    assert prov["earliest"] == {
        "appearance": 2,  # the Telegram post, a day before the tweet
        "case": report_fixture.SLUG,
        "platform": "telegram",
        "basis": "posted",
        "at": "2023-05-22T17:40:00Z",
        "message": "earliest known is appearance 2 on telegram, posted 2023-05-22T17:40:00Z",
        "contradiction": False,
        "claimed_original_platforms": ["telegram"],
        "original_platform_state": "claimed",
        "uncertain_with": [],
        "uncertain_elsewhere": [],
    }
    events = [(e["type"], e["ref"], e["earliest"]) for e in prov["timeline"]]
    assert events == [
        ("media.captured", "media:1", False),  # what the clean original's metadata says
        ("appearance.posted", "appearance:2", True),
        ("appearance.posted", "appearance:1", False),
        ("appearance.posted", "appearance:3", False),
        ("case.opened", None, False),
        ("appearance.captured", "appearance:2", False),
        ("media.acquired", "media:1", False),
        ("appearance.captured", "appearance:1", False),
        ("media.acquired", "media:2", False),
        ("attribution.recorded", "attribution:1", False),
        ("attribution.recorded", "attribution:2", False),
        ("attribution.changed", "attribution:1", False),
        ("derivation.recorded", "derivation:1", False),
        ("status.changed", None, False),
        ("note", "note:1", False),
        ("status.changed", None, False),
    ]
    press = prov["timeline"][3]
    assert (press["precision"], press["when"], press["source"]) == (
        "day", "2023-05-24", "javascript:alert(1)",
    )  # fmt: skip


def test_earliest_on_another_platform_than_claimed_is_a_contradiction(
    archive: Archive, slug: str
) -> None:
    from sqlmodel import select

    from verify.models import Account, Attribution

    with archive.write() as s:
        x = s.exec(select(Account).where(Account.platform == "x")).one()
        poster = s.exec(select(Attribution).where(Attribution.role == "original_poster")).one()
        poster.account_id = x.id  # now the tweet's author is said to be the original poster
        s.add(poster)
    earliest = report.build_report(archive, slug, at=AT)["provenance"]["earliest"]
    assert earliest["contradiction"] is True
    assert earliest["claimed_original_platforms"] == ["x"]
    assert "; this contradicts the claimed original platform x" in earliest["message"]


def test_a_corroborated_original_poster_is_not_called_claimed(archive: Archive, slug: str) -> None:
    from sqlmodel import select

    from verify.models import Account, Attribution

    with archive.write() as s:
        x = s.exec(select(Account).where(Account.platform == "x")).one()
        poster = s.exec(select(Attribution).where(Attribution.role == "original_poster")).one()
        poster.account_id, poster.state = x.id, "corroborated"
        s.add(poster)
    data = report.build_report(archive, slug, at=AT)
    earliest = data["provenance"]["earliest"]
    assert earliest["contradiction"] is True
    assert earliest["original_platform_state"] == "corroborated"  # the report's JSON too
    assert "; this contradicts the corroborated original platform x" in earliest["message"]
    md = report_render.render_markdown(data)
    assert "; this contradicts the corroborated original platform x" in md
    assert "claimed original platform" not in md
    html = report_render.render_html(archive, data)
    assert "; this contradicts the corroborated original platform x" in html
    assert "claimed original platform" not in html


def test_an_earliest_appearance_of_another_case_is_named_with_its_case(
    archive: Archive, slug: str
) -> None:
    """The trial: "Earliest known is appearance 5 on telegram…" where appearance 5 belongs
    to another case holding the same bytes (it is in no listing of this one); and the
    sentence "…contradicts the claimed original platform…" was followed by a badge saying
    it again. The case is named, and the contradiction is stated once."""
    from tests.provhelp import add_media

    copy = add_media(
        archive, report_fixture.OTHER, "copy.mp4", b"fixture: clean Telegram original\n"
    )
    ap = provenance.add_appearance(
        archive, report_fixture.OTHER, platform="vk", posted="2023-05-20", media=str(copy)
    )
    data = report.build_report(archive, slug, at=AT)
    earliest = data["provenance"]["earliest"]
    assert (earliest["appearance"], earliest["case"], earliest["contradiction"]) == (
        ap["id"], report_fixture.OTHER, True,
    )  # fmt: skip
    sentence = (
        f"arliest known is appearance {ap['id']} (case {report_fixture.OTHER}) on vk, posted "
        "2023-05-20; this contradicts the claimed original platform telegram (its appearances "
        "there are later or undated)"
    )
    assert earliest["message"] == "e" + sentence
    md = report_render.render_markdown(data)
    (line,) = [ln for ln in md.splitlines() if "arliest known is" in ln]
    assert line == f"**E{sentence}**"
    html = report_render.render_html(archive, data)
    (para,) = [ln for ln in html.splitlines() if 'class="earliest-summary' in ln]
    assert para == f'<p class="earliest-summary contradicted"><strong>E{sentence}</strong></p>'
    for text in (line, para):
        assert text.count("contradicts") == 1


def test_attributions_grouped_by_role_with_history(data: dict[str, Any]) -> None:
    groups = data["provenance"]["attributions"]
    assert [g["role"] for g in groups] == ["original_poster", "subtitler"]
    sub = groups[1]["items"][0]
    assert sub["account"]["handle"] == "@Gerashchenko_en"
    assert sub["state"] == "corroborated"
    assert sub["target"] == {"type": "media", "id": 2, "name": "legion-subtitled.mp4"}
    assert [(h["from"], h["to"]) for h in sub["history"]] == [
        (None, "claimed"),
        ("claimed", "corroborated"),
    ]


def test_derivations_and_metadata_differences(data: dict[str, Any]) -> None:
    (d,) = data["provenance"]["derivations"]
    assert (d["child"]["id"], d["kind"], d["parent"]["id"]) == (2, "subtitled_from", 1)
    rows = {r["field"]: r for r in data["metadata_differences"]["rows"]}
    assert rows["gps"]["values"] == [
        {"media": 1, "value": "50.485300, 35.669200"},
        {"media": 2, "value": None},
    ]
    assert rows["device_tags"]["differs"] is True
    # not "—" (absent) for both: one was looked at for C2PA, the other not
    assert rows["c2pa"]["values"] == [
        {"media": 1, "value": "none found"},
        {"media": 2, "value": "not read"},
    ]
    gps = data["media"][0]["metadata"]["gps"]
    assert gps["map_url"] == (
        "https://www.openstreetmap.org/?mlat=50.485300&mlon=35.669200#map=16/50.485300/35.669200"
    )


def test_c2pa_says_whether_it_was_read(archive: Archive, data: dict[str, Any]) -> None:
    """The trial's signed image showed `C2PA | not present or not read` without the optional
    reader: the report says which, from what the analysis recorded (`c2pa_reader`)."""
    read, unread = (m["metadata"] for m in data["media"])
    assert (read["c2pa"], read["c2pa_read"], read["c2pa_reader"]) == (
        None,
        "read",
        "c2pa-python 0.38.1",
    )
    assert (unread["c2pa_read"], unread["c2pa_reader"]) == ("not_installed", None)
    md = report_render.render_markdown(data)
    html = report_render.render_html(archive, data)
    for text in (md, html):
        assert "not present or not read" not in text
    assert "| C2PA | none found (read with c2pa-python 0.38.1) |" in md
    assert (
        "| C2PA | not read: c2pa-python was not installed when the file was analysed (pip "
        "install 'verify\\[c2pa\\]', then verify media reanalyse 2) |" in md
    )
    assert (
        "<th>C2PA</th><td>not read: c2pa-python was not installed when the file was analysed "
        "(pip install &#39;verify[c2pa]&#39;, then verify media reanalyse 2)</td>" in html
    )
    # analysed before the reader was recorded: not known; a manifest: its fields
    old = {**unread, "c2pa_read": "not_recorded"}
    assert report_render.c2pa_line(old, 7) == (
        "not known whether it was read: the file was analysed before verify recorded it "
        "(verify media reanalyse 7 reads it again)"
    )
    assert report_render.c2pa_line({**read, "c2pa": {"state": "valid"}}, 1) is None
    # the analysis's record, as stored
    assert report._c2pa_read({}) == {"c2pa_read": "not_recorded", "c2pa_reader": None}
    assert report._c2pa_read({"c2pa_reader": None})["c2pa_read"] == "not_installed"


def test_near_duplicates_in_other_cases_with_aligned_ranges(data: dict[str, Any]) -> None:
    original, subtitled = data["media"]
    (hit,) = original["near_duplicates"]
    assert hit["case"] == report_fixture.OTHER
    assert hit["media"] == 3
    assert hit["tier"] == "match"
    assert hit["offset"] == -8.0  # the excerpt starts 8 s into the original
    assert hit["aligned"] == [{"query": [8.0, 22.0], "candidate": [0.0, 14.0]}]
    assert hit["query_frames_matched"] == round(8 / 22, 3)
    assert hit["candidate_frames_matched"] == 1.0
    assert hit["best_distance"] == 2
    assert subtitled["near_duplicates"][0]["best_distance"] == 1


def test_contact_sheet_spreads_at_most_twelve_frames(data: dict[str, Any]) -> None:
    m = data["media"][0]
    assert m["frame_count"] == 22
    assert len(m["frames"]) == 22
    assert m["contact_sheet"] == [0, 2, 4, 6, 8, 10, 11, 13, 15, 17, 19, 21]
    assert m["frames"][0]["phash"] == f"{int(m['frames'][0]['phash'], 16):016x}"


def test_claim_history_lists_every_change_of_a_finding(archive: Archive, slug: str) -> None:
    """The claims table gives the latest finding only; how it got there (the trial: two
    passes by one analyst, the first gone from the report) is each claim's `history`."""
    from verify.services import cases

    cases.assess_claim(archive, slug, 2, finding="contradicted", why="wrong <b>town</b>")
    cases.assess_claim(archive, slug, 2, finding="supported", confidence="high", why="sign")
    data = report.build_report(archive, slug, at=AT)
    first, second = data["claims"]
    assert [h["finding"] for h in first["history"]] == [{"from": "unassessed", "to": "supported"}]
    assert [(h["finding"], h["confidence"], h["rationale"]) for h in second["history"]] == [
        ({"from": "unassessed", "to": "contradicted"}, None, "wrong <b>town</b>"),
        ({"from": "contradicted", "to": "supported"}, {"from": None, "to": "high"}, "sign"),
    ]
    assert second["history"][0]["seq"] < second["history"][1]["seq"]
    jsonschema.validate(data, SCHEMA)
    md = report_render.render_markdown(data)
    rows = [ln for ln in md.splitlines() if "→ **" in ln]
    assert len(rows) == 3 and "<b>town</b>" not in md  # escaped, as every field is
    assert rows[1].startswith(
        f"| {second['history'][0]['at']} [{second['history'][0]['seq']}] | 2 |"
    )
    html = report_render.render_html(archive, data)
    assert "How the findings changed" in html and "wrong &lt;b&gt;town&lt;/b&gt;" in html


def test_claim_history_is_oldest_first_across_claims(archive: Archive, slug: str) -> None:
    """The table "How the findings changed" is in the order of the changes (audit seq), not
    grouped by claim: the trial's entry 31 (claim 1) came before entry 30 (claim 2)."""
    import re

    from verify.services import cases

    cases.assess_claim(archive, slug, 2, finding="unproven", why="no sign visible")
    cases.assess_claim(archive, slug, 1, finding="contradicted", why="wrong insignia")
    cases.assess_claim(archive, slug, 2, finding="supported", why="village sign at 00:20")
    data = report.build_report(archive, slug, at=AT)
    # JSON: per claim, as before
    assert [len(c["history"]) for c in data["claims"]] == [2, 2]
    expected = sorted((h["seq"], c["n"]) for c in data["claims"] for h in c["history"])
    assert [n for _, n in expected] == [1, 2, 1, 2]
    md = report_render.render_markdown(data)
    got = [(int(s), int(n)) for s, n in re.findall(r"^\| \S+ \[(\d+)\] \| (\d+) \|", md, re.M)]
    assert got == expected
    html = report_render.render_html(archive, data)
    found = re.findall(r'<span class="muted">\[(\d+)\]</span></td><td>(\d+)</td>', html)
    assert [(int(s), int(n)) for s, n in found] == expected


def test_times_show_whole_seconds_in_html_and_markdown(
    archive: Archive, slug: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`05:31:58.050159 UTC` in the trial's report: HTML and Markdown cut times to the second
    (not rounded: .999999 stays in its second); the JSON keeps the stored value."""
    from verify.services import cases

    monkeypatch.setenv("VERIFY_FAKE_NOW", "2023-05-31T05:31:58.050159Z")
    cases.add_note(archive, slug, "called the channel admin")
    cases.assess_claim(archive, slug, 2, finding="unproven", why="no sign visible")
    provenance.add_appearance(
        archive, slug, platform="vk", posted="2023-05-30T10:00:00.75Z",
        captured="2023-05-30T09:00:59.999999Z",
    )  # fmt: skip
    report_fixture.report_time(monkeypatch)
    data = report.build_report(archive, slug, at=parse_utc("2023-05-31T23:59:59.5Z"))
    assert data["generated_at"] == "2023-05-31T23:59:59.500000Z"
    assert data["notes"][-1]["at"] == "2023-05-31T05:31:58.050159Z"
    assert data["provenance"]["appearances"][-1]["captured_at"] == "2023-05-30T09:00:59.999999Z"
    warning = "captured 2023-05-30T09:00:59Z is before posted 2023-05-30T10:00:00Z"
    md = report_render.render_markdown(data)
    html = report_render.render_html(archive, data)
    for text in (md, html):
        assert ".050159" not in text and ".999999" not in text and ".75" not in text
    assert md.count(f" — **warning:** {warning} |") == 2  # on the posted and captured events
    assert html.count(f"warning: {warning}</span>") == 2
    assert "| Report generated | 2023-05-31T23:59:59Z |" in md
    assert "- 2023-05-31T05:31:58Z, tester: called the channel admin" in md
    assert "| 2023-05-30T10:00:00Z | 2023-05-30T09:00:59Z |" in md  # posted, captured
    assert "<time>2023-05-31 05:31:58 UTC</time>, tester:</span> called the channel" in html
    assert "<time>2023-05-30 09:00:59 UTC</time>" in html


def test_integrity_checkpoint_ignores_report_writes(archive: Archive, slug: str) -> None:
    head_before = logread.head(archive)
    first = report.write_report(archive, slug, "json", output=None, at=AT)
    data = json.loads(first.content)
    assert data["integrity"]["audit"]["checkpoint"] == f"{head_before['seq']}:{head_before['hash']}"
    # the database and whole chain are checked; only this case's 2 objects (of 3) re-hashed;
    # the fixture's entries were written under a pinned clock, up to the checkpoint
    assert data["integrity"]["check"] == {
        "ok": True,
        "objects_checked": 2,
        "objects_missing": 0,
        "findings": [PINNED_1_6],
    }
    second = report.write_report(archive, slug, "json", output=None, at=AT)
    assert second.content == first.content
    entries = logread.read_log(archive, slug)[-2:]
    assert [e["action"] for e in entries] == ["report.write", "report.write"]
    assert entries[0]["payload"] == {
        "format": "json",
        "sha256": "sha256:" + hashlib.sha256(first.content).hexdigest(),
        "size": len(first.content),
        "path": None,
        "generated_at": "2023-06-01T00:00:00Z",
        "clock": "VERIFY_FAKE_NOW",  # written under the pinned clock, and marked so
    }
    assert logsvc.check_archive(archive).ok


@pytest.mark.parametrize("fmt", ["md", "html", "json"])
def test_same_archive_renders_byte_identical_files(
    archive: Archive, slug: str, tmp_path: Path, fmt: str
) -> None:
    a = report.write_report(archive, slug, fmt, output=tmp_path / f"a.{fmt}", at=AT)
    b = report.write_report(archive, slug, fmt, output=tmp_path / f"b.{fmt}", at=AT)
    assert a.path is not None and b.path is not None
    assert a.path.read_bytes() == b.path.read_bytes()
    assert a.sha256 == b.sha256 == "sha256:" + hashlib.sha256(a.path.read_bytes()).hexdigest()
    payload = logread.read_log(archive, slug)[-1]["payload"]
    assert payload["path"] == str(b.path)
    assert payload["format"] == fmt


@pytest.mark.slow
def test_pdf_is_deterministic_when_weasyprint_is_installed(archive: Archive, slug: str) -> None:
    pytest.importorskip("weasyprint", reason="the optional [pdf] extra is not installed")
    a = report.write_report(archive, slug, "pdf", output=None, at=AT)
    b = report.write_report(archive, slug, "pdf", output=None, at=AT)
    assert a.content.startswith(b"%PDF-")
    assert a.content == b.content


def _golden(name: str, text: str) -> None:
    path = GOLDEN / name
    if os.environ.get("VERIFY_UPDATE_GOLDEN") == "1":
        path.write_text(text, encoding="utf-8")
    assert path.is_file(), f"{path} missing: run with VERIFY_UPDATE_GOLDEN=1 to create it"
    assert text == path.read_text(encoding="utf-8"), (
        f"{name} differs from the golden file; if the change is intended, rerun with "
        "VERIFY_UPDATE_GOLDEN=1 and review the diff"
    )


def test_golden_markdown(data: dict[str, Any]) -> None:
    data["integrity"]["generator"] = PINNED_GENERATOR
    _golden("report.md", report_render.render_markdown(data))


def test_golden_json(data: dict[str, Any]) -> None:
    data["integrity"]["generator"] = PINNED_GENERATOR
    _golden("report.json", report_render.render_json(data).decode())


def test_generator_lists_versions() -> None:
    info = report.generator_info()
    assert info["tool"] == "verify"
    assert info["dependencies"]["jinja2"] == __import__("jinja2").__version__
    assert set(info["dependencies"]) == set(report.DEPENDENCIES)


# ------------------------------------------------------------------ HTML: graph, thumbnails


def test_html_draws_graphviz_svg_when_dot_is_present(
    archive: Archive, data: dict[str, Any]
) -> None:
    if shutil.which("dot") is None:
        pytest.skip("Graphviz `dot` not on PATH (apt-get install graphviz)")
    html = report_render.render_html(archive, data)
    assert html.count("<svg") == 1
    svg = html[html.index("<svg") : html.index("</svg>")]
    assert "media 2: legion&#45;subtitled.mp4" in svg
    assert "subtitled from" in svg
    for bad in ("<script", "<a ", "href", "<!--", "<?xml"):
        assert bad not in svg


def test_html_falls_back_to_table_without_dot(
    archive: Archive, data: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(report_render.shutil, "which", lambda name: None)
    html = report_render.render_html(archive, data)
    assert "<svg" not in html
    assert "<td><strong>subtitled from</strong></td>" in html


def test_sanitize_svg_strips_active_content() -> None:
    dirty = (
        '<?xml version="1.0"?><!DOCTYPE svg><!-- c --><svg onload="x()" width="1">'
        '<script>alert(1)</script><a xlink:href="javascript:x"><text style="a" onclick=\'y\'>'
        "t</text></a><foreignObject><div>z</div></foreignObject></svg>"
    )
    assert report_render.sanitize_svg(dirty) == '<svg width="1"><text>t</text></svg>'


def _make_video(path: Path, colours: list[tuple[int, int, int]], fps: int = 5) -> None:
    """One second of each solid colour, libx264, keyframe every 2 s."""
    import av
    import numpy as np

    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        stream.options = {"g": str(2 * fps), "bframes": "0"}
        for colour in colours:
            for _ in range(fps):
                arr = np.zeros((48, 64, 3), dtype=np.uint8)
                arr[:, :] = colour
                frame = av.VideoFrame.from_ndarray(arr, format="rgb24")
                for packet in stream.encode(frame):
                    out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)


def _add_file(archive: Archive, case_slug: str, path: Path, kind: str, pts: list[float]) -> None:
    from sqlmodel import select

    from verify.models import Blob, Case, Frame, Media, pk

    stored = archive.store.put_file(path)
    with archive.write() as s:
        case = s.exec(select(Case).where(Case.slug == case_slug)).one()
        b = Blob(
            sha256=stored.sha256,
            size=stored.size,
            kind=kind,
            analysis_state="ok",
            meta={},
            stored_at=AT,
        )
        s.add(b)
        s.flush()
        for i, t in enumerate(pts):
            s.add(Frame(blob_id=pk(b), idx=i, pts=t, phash=i, dhash=i))
        s.add(
            Media(
                case_id=pk(case),
                blob_id=pk(b),
                original_name=path.name,
                acquired_by="tester",
                acquired_at=AT,
            )
        )


def _thumb_colours(html: str) -> list[tuple[int, int, int]]:
    from PIL import Image

    out = []
    marker = 'src="data:image/jpeg;base64,'
    pos = html.find(marker)
    while pos >= 0:
        end = html.index('"', pos + len(marker))
        img = Image.open(io.BytesIO(base64.b64decode(html[pos + len(marker) : end])))
        assert max(img.size) <= 160
        out.append(img.convert("RGB").getpixel((img.width // 2, img.height // 2)))
        pos = html.find(marker, end)
    return out


def test_html_contact_sheet_embeds_thumbnails_decoded_at_pts(
    archive: Archive, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from PIL import Image

    monkeypatch.setenv("VERIFY_FAKE_NOW", BEFORE_AT)  # recorded before the report's --at

    from verify.services import cases

    cases.open_case(archive, "thumbs", slug="thumbs")
    colours = [(250, 0, 0), (0, 250, 0), (0, 0, 250), (250, 250, 0)]
    video = tmp_path / "colours.mp4"
    _make_video(video, colours)
    _add_file(archive, "thumbs", video, "video", [0.0, 1.0, 2.4, 3.0])
    image = tmp_path / "photo.png"
    Image.new("RGB", (400, 300), (10, 200, 220)).save(image)
    _add_file(archive, "thumbs", image, "image", [0.0])
    report_fixture.report_time(monkeypatch)
    data = report.build_report(archive, "thumbs", at=AT)
    html = report_render.render_html(archive, data)
    got = _thumb_colours(html)
    assert len(got) == 5
    for have, want in zip(got, [*colours, (10, 200, 220)], strict=True):
        assert all(abs(h - w) <= 24 for h, w in zip(have, want, strict=True)), (have, want)
    assert report_render.render_html(archive, data) == html  # deterministic thumbnails


def test_undecodable_file_gets_no_thumbnail_but_report_renders(
    archive: Archive, data: dict[str, Any]
) -> None:
    html = report_render.render_html(archive, data)  # fixture "videos" are plain text
    assert 'src="data:' not in html
    assert html.count('<div class="nothumb">no thumbnail</div>') == 24
    assert "Thumbnails unavailable: media 1: " in html  # the decoder's one-line reason


# ------------------------------------------------------------------ CLI


def test_cli_writes_default_file_in_cwd_and_prints_path(
    cli: RunCli, slug: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    r = cli("report", slug, "--at", "2023-06-01T00:00:00Z")
    assert r.exit_code == 0, r.stderr
    expected = tmp_path / f"{slug}-report.md"
    assert r.stdout == f"{expected}\n"
    assert expected.read_text().startswith("# Provenance report: Alleged Freedom")
    r = cli("report", slug, "--format", "json", "-o", "out/r.json")
    assert r.exit_code == 2
    assert r.stderr.startswith("error: cannot write out/r.json: the directory out does not")


def test_cli_stdout_output_matches_file(cli: RunCli, slug: str, tmp_path: Path) -> None:
    out = tmp_path / "r.json"
    r1 = cli("report", slug, "-f", "json", "-o", str(out), "--at", "2023-06-01T00:00:00Z")
    r2 = cli("report", slug, "-f", "json", "-o", "-", "--at", "2023-06-01T00:00:00Z")
    assert r1.stdout == f"{out}\n"
    assert r2.stdout == out.read_text()
    log = json.loads(cli("log", slug, "--json").stdout)
    assert [e["payload"]["path"] for e in log[-2:]] == [str(out), None]


@pytest.mark.parametrize(
    ("name", "fmt"),
    [("s.html", "html"), ("s.HTM", "html"), ("s.json", "json"), ("s.md", "md"),
     ("s.markdown", "md"), ("s.txt", "md"), ("s", "md")],
)  # fmt: skip
def test_cli_format_follows_the_output_name(
    cli: RunCli, slug: str, tmp_path: Path, name: str, fmt: str
) -> None:
    """The trial's `report CASE -o strike.html` wrote Markdown into the .html file (exit 0,
    recorded as md): without --format the extension of -o says the format."""
    out = tmp_path / name
    r = cli("report", slug, "-o", str(out), "--at", "2023-06-01T00:00:00Z")
    assert r.exit_code == 0, r.stderr
    starts = {"html": "<!DOCTYPE html>", "json": "{", "md": "# Provenance report"}[fmt]
    assert out.read_text().startswith(starts)
    log = json.loads(cli("log", slug, "--json").stdout)
    assert log[-1]["payload"]["format"] == fmt


def test_cli_format_contradicting_the_output_name_is_refused(
    cli: RunCli, slug: str, tmp_path: Path
) -> None:
    seq = len(json.loads(cli("log", "--json").stdout))
    (tmp_path / "out").mkdir()
    out = tmp_path / "out" / "strike.html"
    r = cli("report", slug, "-f", "md", "-o", str(out))
    assert (r.exit_code, r.stdout) == (2, "")
    assert r.stderr == (
        f"error: --format md, but the name -o {out} says html (.html): drop --format (or give "
        "-f html), or name the file .md; nothing written\n"
    )
    assert list(out.parent.iterdir()) == []  # nor a temporary file
    assert len(json.loads(cli("log", "--json").stdout)) == seq  # no report.write
    # an extension that names no format, or stdout, goes with any --format
    assert cli("report", slug, "-f", "html", "-o", str(tmp_path / "r.txt")).exit_code == 0
    assert cli("report", slug, "-f", "json", "-o", "-").stdout.startswith("{")
    assert cli("report", slug, "-f", "html", "-o", str(tmp_path / "r.htm")).exit_code == 0


def test_output_format() -> None:
    assert report.output_format(None, None) == "md"
    assert report.output_format(None, "-") == "md"
    assert report.output_format("pdf", None) == "pdf"
    assert report.output_format(None, "out/Report.PDF") == "pdf"
    assert report.output_format("html", "x.htm") == "html"
    with pytest.raises(BadInputError, match=r"--format json, but the name -o x\.md says md"):
        report.output_format("json", "x.md")
    with pytest.raises(BadInputError, match="unknown report format 'docx'"):
        report.output_format("docx", "x.docx")


def test_cli_errors(cli: RunCli, slug: str, monkeypatch: pytest.MonkeyPatch) -> None:
    r = cli("report", slug, "-f", "docx")
    assert (r.exit_code, r.stderr) == (
        2,
        "error: unknown report format 'docx'; use one of: md, html, json, pdf\n",
    )
    r = cli("report", "no-such-case")
    assert (r.exit_code, r.stderr) == (
        4,
        "error: no case 'no-such-case'; `verify case list` shows the cases\n",
    )
    r = cli("report", slug, "--at", "last tuesday")
    assert r.exit_code == 2
    assert r.stderr == "error: bad --at 'last tuesday': use ISO 8601, e.g. 2023-06-01T00:00:00Z\n"
    monkeypatch.setitem(sys.modules, "weasyprint", None)  # import raises ImportError
    r = cli("report", slug, "-f", "pdf", "-o", "-")
    assert (r.exit_code, r.stdout) == (2, "")
    assert r.stderr == "error: PDF output needs the optional extra: pip install 'verify[pdf]'\n"


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0, "00:00.000"), (12.5, "00:12.500"), (3725, "1:02:05.000"), (-9, "-00:09.000"),
     (None, "—")],
)  # fmt: skip
def test_hms(seconds: float | None, text: str) -> None:
    assert report_render.hms(seconds) == text


def test_readable_time_and_sizes() -> None:
    assert report_render.readable_time("2023-05-24T09:00:00Z") == "2023-05-24 09:00:00 UTC"
    assert report_render.readable_time("2023-05-24T09:00:00.75Z") == "2023-05-24 09:00:00 UTC"
    assert report_render.readable_time("2019:07:24 08:25:57") == "2019:07:24 08:25:57"
    assert report_render.human_size(33) == "33 bytes"
    assert report_render.human_size(2591827) == "2.5 MiB (2591827 bytes)"


def test_contact_sheet_selection() -> None:
    frames = [{"idx": i} for i in range(5)]
    assert report.contact_sheet(frames) == [0, 1, 2, 3, 4]
    many = [{"idx": i * 10} for i in range(100)]
    picked = report.contact_sheet(many)
    assert len(picked) == 12
    assert picked[0] == 0 and picked[-1] == 990
    assert picked == sorted(set(picked))


def test_empty_case_renders_every_format(archive: Archive, monkeypatch: pytest.MonkeyPatch) -> None:
    from verify.services import cases

    monkeypatch.setenv("VERIFY_FAKE_NOW", BEFORE_AT)

    cases.open_case(archive, "Nothing yet", slug="empty")
    report_fixture.report_time(monkeypatch)
    data = report.build_report(archive, "empty", at=AT)
    assert list(jsonschema.Draft202012Validator(SCHEMA).iter_errors(data)) == []
    assert data["verdict"]["is_verdict"] is False
    assert data["metadata_differences"]["rows"] == []
    md = report_render.render_markdown(data)
    for line in ("No claims recorded.", "No appearances recorded.", "No attributions recorded.",
                 "No derivations recorded.", "No media files in this case yet."):  # fmt: skip
        assert line in md
    html = report_render.render_html(archive, data)
    assert "<p>No media files in this case yet.</p>" in html
    assert "<svg" not in html


def _resolve(schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = SCHEMA["$defs"][schema["$ref"].rsplit("/", 1)[-1]]
    return schema


def _nullable(schema: dict[str, Any]) -> bool:
    schema = _resolve(schema)
    types = schema.get("type")
    if types == "null" or (isinstance(types, list) and "null" in types):
        return True
    return any(_nullable(s) for s in schema.get("anyOf", []) + schema.get("oneOf", []))


def _object_schema(schema: dict[str, Any], value: dict[str, Any]) -> dict[str, Any]:
    """The object branch of `schema` (an anyOf/oneOf of an object and null)."""
    schema = _resolve(schema)
    for branch in schema.get("anyOf", []) + schema.get("oneOf", []):
        branch = _resolve(branch)
        if branch.get("type") == "object" or "properties" in branch:
            return branch
    return schema


def _empty_nullable_fields(value: Any, schema: dict[str, Any]) -> int:
    """Set every field the report schema allows to be null to None, in place; how many."""
    count = 0
    if isinstance(value, dict):
        schema = _object_schema(schema, value)
        for key, sub in schema.get("properties", {}).items():
            if key not in value:
                continue
            if _nullable(sub) and value[key] is not None:
                value[key] = None
                count += 1
            else:
                count += _empty_nullable_fields(value[key], sub)
    elif isinstance(value, list):
        items = _resolve(schema).get("items", {})
        count += sum(_empty_nullable_fields(v, items) for v in value)
    return count


def test_no_field_left_empty_prints_none(archive: Archive, data: dict[str, Any]) -> None:
    """An empty value shows as the "no value" mark (—), never as Python's `None`: the HTML
    report printed `<td>None</td>` as the offset of every image near-duplicate."""
    assert _empty_nullable_fields(data, SCHEMA) > 40
    assert data["media"][0]["near_duplicates"][0]["offset"] is None
    # and None inside the free-form values: evidence, C2PA, readers' disagreements
    data["provenance"]["derivations"][0]["evidence"] = {"frames_matched": None}
    data["media"][0]["metadata"]["c2pa"] = {"state": None}
    data["media"][0]["metadata"]["disagreements"] = [
        {"field": "make", "pillow": None, "exifread": None}
    ]
    assert list(jsonschema.Draft202012Validator(SCHEMA).iter_errors(data)) == []
    md = report_render.render_markdown(data)
    html = report_render.render_html(archive, data)
    assert "None" not in md
    assert "None" not in html
    assert "<td>— / —</td><td>—</td>" in html  # distances, then the offset


def test_cli_warns_when_the_archive_does_not_check(
    cli: RunCli, archive: Archive, slug: str
) -> None:
    sha = report.build_report(archive, slug, at=AT)["media"][0]["sha256"]
    obj = archive.store.path_for(sha)
    obj.chmod(0o644)
    obj.write_bytes(b"tampered")
    r = cli("report", slug, "-f", "json", "-o", "-")
    assert r.exit_code == 0
    assert r.stderr == (
        "warning: `verify check` found problems in the archive; the report's Integrity "
        "section lists them\n"
    )
    check = json.loads(r.stdout)["integrity"]["check"]
    assert check["ok"] is False
    media = report.build_report(archive, slug, at=AT)["media"][0]["id"]
    assert check["findings"] == [
        PINNED_1_6,
        {
            "category": "hash-mismatch",
            "subject": f"sha256:{sha}",
            "detail": f"object altered or damaged (media {media} in case {slug})",
        },
    ]


def test_unwritable_directory_is_one_line_error(
    cli: RunCli, slug: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(**_: object) -> None:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(outputs.tempfile, "mkstemp", refuse)  # as root, chmod cannot refuse
    r = cli("report", slug, "-o", str(tmp_path / "r.md"))
    assert r.exit_code == 2
    assert r.stderr == f"error: cannot write {tmp_path / 'r.md'}: Permission denied\n"
    assert not (tmp_path / "r.md").exists()


def test_timeline_sorts_fractional_seconds_by_time(
    archive: Archive, monkeypatch: pytest.MonkeyPatch
) -> None:
    from datetime import UTC, datetime

    monkeypatch.setenv("VERIFY_FAKE_NOW", BEFORE_AT)

    from sqlmodel import select

    from verify.models import Appearance, Case, pk
    from verify.services import cases

    cases.open_case(archive, "order", slug="order")
    with archive.write() as s:
        case_id = pk(s.exec(select(Case).where(Case.slug == "order")).one())
        for second, micro in ((0, 500_000), (0, 0), (1, 0)):
            s.add(Appearance(case_id=case_id, platform=f"p{second}.{micro}",
                             posted_at=datetime(2023, 5, 22, 12, 0, second, micro, tzinfo=UTC),
                             created_at=AT, created_by="tester"))  # fmt: skip
    report_fixture.report_time(monkeypatch)
    data = report.build_report(archive, "order", at=AT)
    appearances = [
        e["at"] for e in data["provenance"]["timeline"] if e["type"] == "appearance.posted"
    ]
    assert appearances == [
        "2023-05-22T12:00:00Z", "2023-05-22T12:00:00.500000Z", "2023-05-22T12:00:01Z",
    ]  # fmt: skip
    assert data["provenance"]["earliest"]["appearance"] == 2


def test_decoder_crash_leaves_a_note_not_a_failure(
    archive: Archive, data: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    from verify.analysis import sandbox

    monkeypatch.setattr(sandbox.sys, "executable", "/bin/false")
    html = report_render.render_html(archive, data)
    assert (
        "Thumbnails unavailable: media 1: analysis server exited unexpectedly; "
        "media 2: analysis server exited unexpectedly." in html
    )
    assert 'src="data:' not in html


def test_near_duplicates_come_from_the_search_service(
    archive: Archive, slug: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """search.near_duplicates_of_blob's hits (other cases only) fill the section, converted
    to the report's shape."""
    calls: list[int] = []
    seen: list[int] = []  # which index object each call was given

    def near_duplicates_of_blob(
        arch: Archive, blob_id: int, *, indexes: list[Any]
    ) -> list[dict[str, Any]]:
        calls.append(blob_id)
        seen.append(id(indexes))
        common = {"media": 3, "original_name": "rvc-sign.mp4", "sha256": "sha256:" + "ab" * 32,
                  "tier": "match", "score": 0.9, "query_fraction": 0.364,
                  "candidate_fraction": 1.0, "best_distance": 2, "median_distance": 2.5,
                  "offset": -8.0, "query_range": [8.0, 22.0], "candidate_range": [0.0, 14.0],
                  "aligned": "query 00:08-00:22 ~ candidate 00:00-00:14, offset -8 s",
                  "variant": "masked", "rank": 1}  # fmt: skip
        return [
            {**common, "case": report_fixture.OTHER},
            {**common, "case": report_fixture.SLUG, "media": 2, "rank": 2},  # same case: dropped
        ]

    monkeypatch.setattr(report.search, "near_duplicates_of_blob", near_duplicates_of_blob)
    data = report.build_report(archive, slug, at=AT)
    assert len(calls) == 2  # once per file of the case
    assert len(set(seen)) == 1  # ... against one index, loaded once for the report
    (hit,) = data["media"][0]["near_duplicates"]
    assert hit == {
        "case": report_fixture.OTHER, "media": 3, "name": "rvc-sign.mp4", "sha256": "ab" * 32,
        "tier": "match", "score": 0.9, "query_frames_matched": 0.364,
        "candidate_frames_matched": 1.0, "best_distance": 2, "median_distance": 2.5,
        "offset": -8.0, "aligned": [{"query": [8.0, 22.0], "candidate": [0.0, 14.0]}],
        "variant": "masked",
    }  # fmt: skip
    assert list(jsonschema.Draft202012Validator(SCHEMA).iter_errors(data)) == []
    md = report_render.render_markdown(data)
    assert "| 36.4% / 100.0% | 2 / 2.5 | -8.0 s | 00:08.000–00:22.000 ≈ 00:00.000–00:14.000 |" in md


def test_timeline_and_earliest_come_from_provread_and_provlogic(
    archive: Archive, slug: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """provread.earliest_of and provlogic.timeline_events fill the section, converted to the
    report's shape."""
    event = {"at": "2023-05-21T10:00:00Z", "when": "2023-05-21T10:00:00Z", "precision": "exact",
             "type": "appearance.posted", "text": "posted on telegram by telegram:@older",
             "source": "https://t.me/older/1", "ref": "appearance:9", "case": "other-case",
             "earliest": True, "warnings": ["posted 2030-01-01 is in the future"],
             "extra": "dropped"}  # fmt: skip
    monkeypatch.setattr(report, "timeline_events", lambda records, first, **kw: [event])
    monkeypatch.setattr(report.provread, "earliest_of", lambda db, case, own=None: {
        "earliest": {"id": 9, "case": "other-case", "platform": "telegram", "basis": "posted",
                     "posted_at": "2023-05-21T10:00:00Z", "captured_at": None},
        "message": "earliest known is appearance 9 on telegram, posted 2023-05-21T10:00:00Z",
        "contradiction": False, "claimed_original_platforms": ["telegram"],
        "original_platform_state": "corroborated", "uncertain_with": [4, 5], "considered": 5,
        "uncertain_elsewhere": [{"appearance": 5, "case": "third-case"}],
    })  # fmt: skip
    data = report.build_report(archive, slug, at=AT)
    event.pop("extra")
    assert data["provenance"]["timeline"] == [{**event, "recorded": None}]  # no origin
    assert data["provenance"]["earliest"] == {
        "appearance": 9, "case": "other-case", "platform": "telegram", "basis": "posted",
        "at": "2023-05-21T10:00:00Z",
        "message": "earliest known is appearance 9 on telegram, posted 2023-05-21T10:00:00Z",
        "contradiction": False, "claimed_original_platforms": ["telegram"],
        "original_platform_state": "corroborated", "uncertain_with": [4, 5],
        "uncertain_elsewhere": [{"appearance": 5, "case": "third-case"}],
    }  # fmt: skip
    assert list(jsonschema.Draft202012Validator(SCHEMA).iter_errors(data)) == []
    # an overlapping appearance held by another case is named with its case
    assert "appearance 4, 5 (case third-case))" in report_render.render_markdown(data)
    assert (
        "| posted on telegram by telegram:@older (case other-case)"
        " — **warning:** posted 2030-01-01 is in the future |"
    ) in (report_render.render_markdown(data))


def test_the_earliest_appearance_is_worked_out_once(
    archive: Archive, slug: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The report and its timeline share one `earliest_of` answer (it was computed twice),
    and the timeline is `verify timeline`'s."""
    calls: list[dict[str, Any]] = []
    given: list[dict[str, Any]] = []
    earliest_of, timeline_events = report.provread.earliest_of, report.timeline_events

    def counted(db: Any, case: Any, own: Any = None) -> dict[str, Any]:
        calls.append(earliest_of(db, case, own))
        return calls[-1]

    def spy(records: Any, first: dict[str, Any], **kw: Any) -> list[dict[str, Any]]:
        given.append(first)
        return timeline_events(records, first, **kw)

    monkeypatch.setattr(report.provread, "earliest_of", counted)
    monkeypatch.setattr(report, "timeline_events", spy)
    data = report.build_report(archive, slug, at=AT)
    assert len(calls) == 1 and given == calls
    assert data["provenance"]["earliest"]["appearance"] == calls[0]["earliest"]["id"]
    # `verify timeline`'s events, each with the entry that recorded it (none for a file's
    # capture time)
    shown = data["provenance"]["timeline"]
    assert [{k: v for k, v in e.items() if k != "recorded"} for e in shown] == [
        {k: e.get(k) for k in report.TIMELINE_KEYS} for e in provread.timeline(archive, slug)
    ]
    # the fixture writes its media and provenance rows without entries; these have theirs
    assert {e["type"] for e in shown if e["recorded"]} == {"case.opened", "status.changed", "note"}


def test_markdown_shows_our_command_hints_as_code(
    archive: Archive, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The earliest-copy hint quotes a command: a code span in Markdown, not `\\``."""
    from verify.services import cases

    monkeypatch.setenv("VERIFY_FAKE_NOW", BEFORE_AT)

    cases.open_case(archive, "No appearances yet", slug="bare")
    report_fixture.report_time(monkeypatch)
    md = report_render.render_markdown(report.build_report(archive, "bare", at=AT))
    assert "`verify prov appearance add bare --posted DATE`" in md
    assert "\\`" not in md


def test_impossible_appearance_dates_are_flagged_in_the_report(archive: Archive, slug: str) -> None:
    ap = provenance.add_appearance(
        archive, slug, platform="x", posted="2023-05-25", captured="2023-05-20T08:00Z"
    )
    warning = "captured 2023-05-20T08:00:00Z is before posted 2023-05-25"
    data = report.build_report(archive, slug, at=AT)
    jsonschema.validate(data, SCHEMA)
    flagged = [(e["type"], e["warnings"]) for e in data["provenance"]["timeline"] if e["warnings"]]
    assert flagged == [("appearance.captured", [warning]), ("appearance.posted", [warning])]
    assert all(e["ref"] == f"appearance:{ap['id']}" for e in data["provenance"]["timeline"]
               if e["warnings"])  # fmt: skip
    md = report_render.render_markdown(data)
    assert md.count(f" — **warning:** {warning} |") == 2
    html = report_render.render_html(archive, data)
    assert html.count(f"warning: {warning}</span>") == 2


def test_same_bytes_in_other_cases_are_listed_per_file(cli: RunCli, tmp_path: Path) -> None:
    """The strongest link to another case, the same file held there, is in the report: it
    was left out (search shows such copies as exact copies, never as near-duplicates)."""
    from tests.media import write_jpeg

    photo = write_jpeg(tmp_path / "screenshot.jpg", seed=21)
    for title, slug in (("Derna floods", "derna"), ("Morocco quake", "morocco")):
        assert cli("case", "open", title, "--slug", slug).exit_code == 0
    assert cli("media", "add", "derna", str(photo)).stdout == "1\n"
    assert cli("media", "add", "morocco", str(photo)).stdout == "2\n"
    out = tmp_path / "derna.json"
    assert cli("report", "derna", "--format", "json", "-o", str(out)).exit_code == 0
    data = json.loads(out.read_text())
    assert data["media"][0]["exact_copies"] == [
        {"case": "morocco", "media": 2, "name": "screenshot.jpg"}
    ]
    assert list(jsonschema.Draft202012Validator(SCHEMA).iter_errors(data)) == []
    md = report_render.render_markdown(data)
    assert "Same bytes (SHA-256) in other cases: case morocco as media 2: screenshot.jpg" in md
    html = tmp_path / "derna.html"
    assert cli("report", "derna", "--format", "html", "-o", str(html)).exit_code == 0
    assert "case morocco as media 2: screenshot.jpg" in html.read_text()


def test_a_report_cannot_be_dated_before_what_it_shows(cli: RunCli, tmp_path: Path) -> None:
    """--at before a recorded change would stamp a report as generated before events it
    lists; reports written since do not count as changes (the same --at gives the same
    report again)."""
    assert cli("case", "open", "Derna", "--slug", "derna").exit_code == 0
    r = cli("report", "derna", "--at", "2020-01-01T00:00:00Z", "-o", str(tmp_path / "r.md"))
    assert (r.exit_code, r.stdout) == (2, "")
    assert r.stderr.startswith(
        "error: --at 2020-01-01T00:00:00Z is before a change recorded in the archive "
        "(seq 1, case.open in case derna, at "
    )
    assert r.stderr.endswith(
        "): a report cannot be dated before what it shows, and it draws on every case "
        "(earliest appearances, copies, the audit checkpoint); one written then is listed "
        "by `verify log derna` (report.write, with its SHA-256)\n"
    )
    assert not (tmp_path / "r.md").exists()
    written = cli("report", "derna", "-o", "-")
    assert written.exit_code == 0, written.stderr
    later = json.loads(cli("log", "derna", "--json").stdout)[-1]["payload"]["generated_at"]
    again = cli("report", "derna", "--at", later, "-o", "-")
    assert again.exit_code == 0 and again.stdout == written.stdout


def test_a_report_cannot_be_dated_in_the_future(
    cli: RunCli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VERIFY_FAKE_NOW", "2023-05-01T12:00:00Z")
    assert cli("case", "open", "Derna", "--slug", "derna").exit_code == 0
    r = cli("report", "derna", "--at", "2023-05-01T12:00:01Z", "-o", str(tmp_path / "r.md"))
    assert (r.exit_code, r.stdout, r.stderr) == (
        2,
        "",
        "error: --at 2023-05-01T12:00:01Z is in the future (now 2023-05-01T12:00:00Z): a "
        "report cannot be dated after it is written\n",
    )
    assert not (tmp_path / "r.md").exists()
    assert cli("report", "derna", "--at", "2023-05-01T12:00:00Z", "-o", "-").exit_code == 0
    assert cli("report", "nope", "--at", "2023-05-01T12:00:01Z").exit_code == 4  # no case first


def test_at_is_refused_before_any_change_in_the_archive_not_only_the_case(
    cli: RunCli, archive: Archive, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A report draws on every case (the earliest appearance weighs copies held elsewhere,
    duplicate search, the audit checkpoint): --at before any change recorded since, in any
    case or none, is refused, one line, exit 2, nothing written. Reports and copies written
    are not changes: the same --at gives the same report again."""
    from tests.provhelp import add_media

    monkeypatch.setenv("VERIFY_FAKE_NOW", "2023-05-01T00:00:00Z")
    for title, slug in (("Derna", "derna"), ("Morocco", "morocco"), ("Other", "other")):
        assert cli("case", "open", title, "--slug", slug).exit_code == 0
    original = add_media(archive, "derna", "flood.mp4", b"flood")
    copy = add_media(archive, "morocco", "quake.mp4", b"quake")
    monkeypatch.setenv("VERIFY_FAKE_NOW", "2023-05-03T00:00:00Z")
    # a derivation recorded under the other case (its child's) links this case's media
    r = cli("prov", "derive", str(copy), str(original), "--kind", "subtitled_from")
    assert r.exit_code == 0, r.stderr
    out = tmp_path / "r.md"
    r = cli("report", "derna", "--at", "2023-05-02T00:00:00Z", "-o", str(out))
    assert (r.exit_code, r.stdout, out.exists()) == (2, "", False)
    assert r.stderr.startswith(
        "error: --at 2023-05-02T00:00:00Z is before a change recorded in the archive (seq 6, "
        "derivation.add in case morocco, at 2023-05-03T00:00:00Z): "
    )
    monkeypatch.setenv("VERIFY_FAKE_NOW", "2023-05-10T00:00:00Z")
    first = cli("report", "derna", "--at", "2023-05-04T00:00:00Z", "-o", "-")
    assert first.exit_code == 0
    # reports and copies written later are not changes: the same --at gives the same report
    assert cli("report", "derna", "-o", str(tmp_path / "now.md")).exit_code == 0
    assert cli("case", "export", "derna", "-o", str(tmp_path / "derna.toml")).exit_code == 0
    again = cli("report", "derna", "--at", "2023-05-04T00:00:00Z", "-o", "-")
    assert (again.exit_code, again.stdout) == (0, first.stdout)
    # a note in a case this one has nothing to do with moves the audit checkpoint the
    # report shows: refused too
    monkeypatch.setenv("VERIFY_FAKE_NOW", "2023-05-11T00:00:00Z")
    assert cli("note", "add", "other", "unrelated").exit_code == 0
    r = cli("report", "derna", "--at", "2023-05-04T00:00:00Z", "-o", "-")
    assert (r.exit_code, r.stdout) == (2, "")
    assert r.stderr.startswith(
        "error: --at 2023-05-04T00:00:00Z is before a change recorded in the archive (seq "
    )
    assert "note.add in case other, at 2023-05-11T00:00:00Z)" in r.stderr
    # an account the case names, edited later (an entry of no case), and more
    assert cli("prov", "attribute", "derna", "subtitler", "x:@someone").exit_code == 0
    monkeypatch.setenv("VERIFY_FAKE_NOW", "2023-06-01T00:00:00Z")
    assert cli("prov", "account", "edit", "x:@someone", "--name", "Renamed").exit_code == 0
    r = cli("report", "derna", "--at", "2023-05-20T00:00:00Z", "-o", "-")
    assert r.exit_code == 2
    assert r.stderr.startswith(
        "error: --at 2023-05-20T00:00:00Z is before a change recorded in the archive (seq "
    )
    assert "account.edit, at 2023-06-01T00:00:00Z)" in r.stderr
    r = cli("report", "derna", "--at", "2023-05-10T12:00:00Z", "-o", "-")
    assert r.stderr.startswith(
        "error: --at 2023-05-10T12:00:00Z is before 4 changes recorded in the archive (the "
        "first: seq "
    )


def test_at_is_refused_after_a_change_recorded_after_its_report_though_dated_before(
    cli: RunCli, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A clock behind (a colleague's machine, VERIFY_FAKE_NOW) can date a change before a
    report written earlier: the report dated then is no longer what the archive gives, so
    its time is refused too, by the order of the trail."""
    monkeypatch.setenv("VERIFY_FAKE_NOW", "2023-05-10T00:00:00Z")
    for title, slug in (("Derna", "derna"), ("Other", "other")):
        assert cli("case", "open", title, "--slug", slug).exit_code == 0
    first = cli("report", "derna", "-f", "json", "-o", "-")
    assert first.exit_code == 0
    assert (
        cli("report", "derna", "--at", "2023-05-10T00:00:00Z", "-f", "json", "-o", "-").stdout
        == first.stdout
    )
    monkeypatch.setenv("VERIFY_FAKE_NOW", "2023-05-09T00:00:00Z")  # set back a day
    assert cli("note", "add", "other", "dated before the report").exit_code == 0
    monkeypatch.setenv("VERIFY_FAKE_NOW", "2023-05-12T00:00:00Z")
    r = cli("report", "derna", "--at", "2023-05-10T00:00:00Z", "-o", "-")
    assert (r.exit_code, r.stdout) == (2, "")
    assert r.stderr.startswith(
        "error: --at 2023-05-10T00:00:00Z is before a change recorded in the archive (seq 5, "
        "note.add in case other, dated 2023-05-09T00:00:00Z but recorded after the report "
        "dated 2023-05-10T00:00:00Z (seq 3)): "
    )
    # a time no report was written at is held to the dates alone
    assert cli("report", "derna", "--at", "2023-05-10T00:00:01Z", "-o", "-").exit_code == 0


def test_same_bytes_twice_in_the_case_lists_each_copy_once(
    cli: RunCli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.media import write_jpeg
    from verify import dbread

    monkeypatch.setattr(dbread, "IN_CHUNK", 1)  # one statement per stored file
    photo = write_jpeg(tmp_path / "screenshot.jpg", seed=22)
    for title, slug in (("Derna floods", "derna"), ("Morocco quake", "morocco")):
        assert cli("case", "open", title, "--slug", slug).exit_code == 0
    for case in ("derna", "derna", "morocco"):  # the same file acquired twice in derna
        assert cli("media", "add", case, str(photo)).exit_code == 0
    data = json.loads(cli("report", "derna", "--format", "json", "-o", "-").stdout)
    assert [m["exact_copies"] for m in data["media"]] == [
        [{"case": "morocco", "media": 3, "name": "screenshot.jpg"}]
    ] * 2


def _case_with_capture_times(archive: Archive, monkeypatch: pytest.MonkeyPatch) -> str:
    """A case holding a photo whose EXIF gives the offset and one whose does not."""
    from tests.provhelp import add_media
    from verify.models import Blob, Media
    from verify.services import cases

    monkeypatch.setenv("VERIFY_FAKE_NOW", BEFORE_AT)
    cases.open_case(archive, "Photos", slug="photos")
    metas = {
        add_media(archive, "photos", "phone.jpg", b"phone"): {
            "make": "Apple", "model": "iPhone 12", "captured_at": "2023-05-22T14:03:11+03:00",
            "captured_at_raw": "2023:05:22 14:03:11", "captured_offset": "+03:00",
        },
        add_media(archive, "photos", "canon.jpg", b"canon"): {
            "make": "Canon", "model": "Canon EOS 40D", "captured_at": None,
            "captured_at_raw": "2008:10:22 16:28:39", "captured_offset": None,
        },
    }  # fmt: skip
    with archive.write() as s:
        for media, meta in metas.items():
            m = s.get(Media, media)
            assert m is not None
            blob = s.get(Blob, m.blob_id)
            assert blob is not None
            blob.kind, blob.analysis_state, blob.meta = "image", "ok", meta
            s.add(blob)
    report_fixture.report_time(monkeypatch)
    return "photos"


def test_capture_time_is_utc_or_said_to_be_camera_local_time(
    archive: Archive, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`Capture time | 2008:10:22 16:28:39` (raw EXIF, no caveat) read as if it were UTC."""
    data = report.build_report(archive, _case_with_capture_times(archive, monkeypatch), at=AT)
    assert list(jsonschema.Draft202012Validator(SCHEMA).iter_errors(data)) == []
    phone, canon = (m["metadata"] for m in data["media"])
    # the JSON keeps what the file says, as stored
    assert (canon["captured_at"], canon["captured_at_raw"], canon["captured_offset"]) == (
        None, "2008:10:22 16:28:39", None,
    )  # fmt: skip
    assert phone["captured_at"] == "2023-05-22T14:03:11+03:00"
    md = report_render.render_markdown(data)
    assert "| Capture time | 2023-05-22T11:03:11Z — as written: 2023:05:22 14:03:11 +03:00 |" in md
    assert "| Capture time | 2008-10-22 16:28:39 (camera local time, offset unknown) — as " \
        "written: 2008:10:22 16:28:39 |" in md  # fmt: skip
    assert "| Capture time | 2008:10:22 16:28:39" not in md
    html = report_render.render_html(archive, data)
    assert (
        "<tr><th>Capture time</th><td><time>2023-05-22 11:03:11 UTC</time> <span "
        'class="muted">— as written: 2023:05:22 14:03:11 +03:00</span></td></tr>'
    ) in html
    assert (
        "<tr><th>Capture time</th><td><time>2008-10-22 16:28:39 (camera local time, offset "
        'unknown)</time> <span class="muted">— as written: 2008:10:22 16:28:39</span></td></tr>'
    ) in html
    # the copies compared, and the timeline: the same forms
    (row,) = [r for r in data["metadata_differences"]["rows"] if r["field"] == "captured_at"]
    assert [v["value"] for v in row["values"]] == [
        "2023-05-22T11:03:11Z",
        "2008-10-22 16:28:39 (camera local time, offset unknown)",
    ]
    first = data["provenance"]["timeline"][0]
    assert (first["type"], first["when"], first["precision"], len(first["warnings"])) == (
        "media.captured", "2008-10-22 16:28:39 (camera local time, offset unknown)", "local", 1,
    )  # fmt: skip
    assert (
        "| 2008-10-22 16:28:39 (camera local time, offset unknown) | media captured | capture "
        "time in the file's metadata: canon.jpg (Canon EOS 40D) — **warning:** capture time "
    ) in md
    assert "(camera local time, offset unknown) (local)" not in md
    assert "(camera local time, offset unknown) <span" not in html


@pytest.mark.parametrize(
    ("make", "model", "shown"),
    [("Canon", "Canon PowerShot S80", "Canon PowerShot S80"),
     ("NIKON", "Nikon D70", "Nikon D70"),  # case-insensitive
     ("Apple", "iPhone 12", "Apple iPhone 12"),
     (" Apple ", None, "Apple"), (None, "iPhone 12", "iPhone 12"), ("", None, "")],
)  # fmt: skip
def test_device_name_does_not_repeat_the_make(
    make: str | None, model: str | None, shown: str
) -> None:
    from verify.analysis import device_name

    assert device_name({"make": make, "model": model}) == shown


def test_the_device_line_names_the_make_once(
    archive: Archive, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The trial's "Device: Canon Canon PowerShot S80": an EXIF model that starts with the
    make is shown alone, as the timeline and `verify media show` give it."""
    data = report.build_report(archive, _case_with_capture_times(archive, monkeypatch), at=AT)
    md = report_render.render_markdown(data)
    assert "| Device | Apple iPhone 12 |" in md
    assert "| Device | Canon EOS 40D |" in md
    html = report_render.render_html(archive, data)
    assert "<tr><th>Device</th><td>Apple iPhone 12</td></tr>" in html
    assert "<tr><th>Device</th><td>Canon EOS 40D</td></tr>" in html
    assert "Canon Canon" not in md + html


ASCII_PAD = "0x4153434949000000" + "20" * 117  # "ASCII\0\0\0" and 117 spaces


@pytest.mark.parametrize(
    ("stored", "text"),
    [
        (ASCII_PAD, ""),  # Nikon's empty comment
        ("ASCII", ""),  # the code alone (trailing NULs cut when stored)
        ("UNICODE", ""),
        ("0x" + "00" * 13, ""),  # undefined code, nothing after it
        ("0x0000000000000000" + "20" * 117, ""),
        ("0x415343494900000048656c6c6f20776f726c64", "Hello world"),
        ("0x" + (b"ASCII\0\0\0Hello   \0\0").hex(), "Hello"),
        ("0x" + (b"\0" * 8 + "café".encode()).hex(), "café"),
        ("0x" + (b"\0" * 8 + "café".encode("latin-1")).hex(), "café"),
        ("0x" + (b"UNICODE\0" + "Привет".encode("utf-16-le")).hex(), "Привет"),
        ("0x" + (b"UNICODE\0" + "Hi there".encode("utf-16-be")).hex(), "Hi there"),
        ("0x" + (b"UNICODE\0" + "Hi there\0".encode("utf-16-le")).hex(), "Hi there"),
        ("0x" + (b"UNICODE\0\xff\xfe" + "日本".encode("utf-16-le")).hex(), "日本"),
        ("0x" + (b"UNICODE\0" + "Привет".encode("utf-16-be")).hex(), "Привет"),
        # no byte-order mark, and CJK reads as other CJK in either order: the hex stays
        # rather than text that may be wrong ("漢字" read the other way is "≯坛")
        (
            "0x" + (b"UNICODE\0" + "漢字".encode("utf-16-be")).hex(),
            "0x" + (b"UNICODE\0" + "漢字".encode("utf-16-be")).hex(),
        ),
        (
            "0x" + (b"UNICODE\0" + "漢字".encode("utf-16-le")).hex(),
            "0x" + (b"UNICODE\0" + "漢字".encode("utf-16-le")).hex(),
        ),
        ("0x" + (b"JIS\0\0\0\0\0" + "日本".encode("iso2022_jp")[3:-3]).hex(), "日本"),
        ("<5000 bytes>", "<5000 bytes>"),  # more than the analysis keeps: as stored
        ("<264 bytes>", "<264 bytes>"),  # as files analysed before 4096 were kept
        ("0x" + (b"EBCDIC\0\0abc").hex(), "0x" + (b"EBCDIC\0\0abc").hex()),  # unknown code
        ("a comment", "a comment"),  # no code at all
    ],
)
def test_user_comment_is_decoded(stored: str, text: str) -> None:
    assert report.user_comment_text(stored) == text


def test_an_empty_user_comment_is_left_out_of_the_notable_tags() -> None:
    """It was `ExifIFD:UserComment | 0x41534349490000002020…` (about 250 characters)."""
    meta = {
        "raw": {
            "pillow": {
                "ExifIFD:UserComment": ASCII_PAD,
                "IFD0:ImageDescription": "OLYMPUS DIGITAL CAMERA",
            },
            "xmp": {"exif:UserComment": "ASCII"},  # XMP text has no code: as written
        }
    }
    assert report._notable_tags(meta) == [
        {"reader": "pillow", "tag": "IFD0:ImageDescription", "value": "OLYMPUS DIGITAL CAMERA"},
        {"reader": "xmp", "tag": "exif:UserComment", "value": "ASCII"},
    ]
    meta["raw"]["pillow"]["ExifIFD:UserComment"] = "0x415343494900000048656c6c6f"
    assert report._notable_tags(meta)[0] == {
        "reader": "pillow",
        "tag": "ExifIFD:UserComment",
        "value": "Hello",
    }


def test_a_real_camera_photo_in_the_report(cli: RunCli, corpus: Path, tmp_path: Path) -> None:
    """The new-user trial: a Nikon photo (EXIF 2008, no offset, an empty UserComment)."""
    photo = corpus / "exif-samples" / "jpg" / "Nikon_COOLPIX_P1.jpg"
    assert cli("case", "open", "Nikon photo", "--slug", "nikon").exit_code == 0
    assert cli("media", "add", "nikon", str(photo)).stdout == "1\n"
    r = cli("report", "nikon", "-o", "-")
    assert r.exit_code == 0, r.stderr
    assert "UserComment" not in r.stdout and "0x4153" not in r.stdout
    assert (
        "| Capture time | 2008-03-07 09:55:46 (camera local time, offset unknown) — as written: "
        "2008:03:07 09:55:46 |"
    ) in r.stdout
    data = json.loads(cli("report", "nikon", "-f", "json", "-o", "-").stdout)
    assert list(jsonschema.Draft202012Validator(SCHEMA).iter_errors(data)) == []
    assert data["media"][0]["metadata"]["captured_at_raw"] == "2008:03:07 09:55:46"
    assert not [
        t for t in data["media"][0]["metadata"]["notable_tags"] if "UserComment" in t["tag"]
    ]
    (captured,) = [e for e in data["provenance"]["timeline"] if e["type"] == "media.captured"]
    assert (captured["at"], captured["text"]) == (
        "2008-03-07T09:55:46Z", "capture time in the file's metadata: Nikon_COOLPIX_P1.jpg "
        "(NIKON COOLPIX P1)",
    )  # fmt: skip


def test_future_dates_are_judged_as_of_the_report_time(
    archive: Archive, slug: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A report re-rendered `--at T` says what it said at T: a post dated after T is "in
    the future" in it, whenever it is rendered (it was judged against the real clock)."""
    provenance.add_appearance(archive, slug, platform="vk", posted="2023-06-02T10:00:00Z")
    warning = "posted 2023-06-02T10:00:00Z is in the future"
    for clock in ("2023-06-01T00:00:00Z", "2026-01-01T00:00:00Z"):  # at T, and years later
        monkeypatch.setenv("VERIFY_FAKE_NOW", clock)
        data = report.build_report(archive, slug, at=AT)
        [event] = [e for e in data["provenance"]["timeline"] if e["at"] == "2023-06-02T10:00:00Z"]
        assert event["warnings"] == [warning], clock
