"""Reports name another case's media as that case's, and `--redact-other-cases` names no
other case at all (for a report handed to a third party)."""

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from sqlmodel import select

from tests import report_fixture
from tests.conftest import REPO, RunCli
from tests.provhelp import add_media
from verify.archive import Archive
from verify.models import Blob, Case
from verify.services import provenance, redact, report, report_render
from verify.timeutil import parse_utc

AT = parse_utc("2023-06-01T00:00:00Z")
SCHEMA = json.loads((REPO / "docs" / "report-schema.json").read_text())
OTHER = report_fixture.OTHER  # rvc-signs-video, holding media 3: rvc-sign.mp4
# what the report of the fixture's main case must not show of the other case when redacted
SECRETS = (OTHER, "rvc-sign.mp4", "RVC village-sign video", "какаду_перекодировано.mp4")


@pytest.fixture
def slug(archive: Archive, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """The report fixture, and in the other case: a derivation from this case's original
    (recorded there), a copy of this case's subtitled file (the same bytes) under a
    telling name, and the earliest appearance of the footage."""
    slug = report_fixture.build(archive, tmp_path, monkeypatch)
    monkeypatch.setenv("VERIFY_FAKE_NOW", "2023-05-31T12:00:00Z")
    provenance.derive(archive, "3", "1", "excerpt_of", note="cut from the Legion video")
    with archive.read() as session:
        subtitled = session.exec(select(Blob.sha256).where(Blob.id == 2)).one()
    add_media(archive, OTHER, "какаду_перекодировано.mp4", sha256=subtitled)
    provenance.add_appearance(
        archive, OTHER, platform="vk", url="https://vk.com/wall-1_2", posted="2023-05-20",
        media="3",
    )  # fmt: skip
    report_fixture.report_time(monkeypatch)
    return slug


def _all_formats(archive: Archive, data: dict[str, Any]) -> dict[str, str]:
    return {fmt: report_render.render(archive, data, fmt).decode() for fmt in ("md", "html")} | {
        "json": json.dumps(data, ensure_ascii=False)
    }


def test_another_cases_media_is_named_with_its_case(archive: Archive, slug: str) -> None:
    data = report.build_report(archive, slug, at=AT)
    assert data["other_cases_redacted"] is False
    ends = {(d["child"]["id"], d["parent"]["id"]): d for d in data["provenance"]["derivations"]}
    excerpt = ends[(3, 1)]
    assert excerpt["child"]["case"] == OTHER and excerpt["parent"]["case"] is None
    assert excerpt["child"]["sha256"] and excerpt["child"]["name"] == "rvc-sign.mp4"
    md = report_render.render_markdown(data)
    assert (
        f"| media 3 (case {OTHER}): rvc-sign.mp4 | excerpt of | media 1: "
        "legion-telegram.mp4 |" in md
    )
    assert f'm3["media 3, case {OTHER}: rvc-sign.mp4"]' in md  # the Mermaid node
    # the own case's media are named as before
    assert "| media 2: legion-subtitled.mp4 | subtitled from | media 1: legion-telegram.mp4 |" in md
    html = report_render.render_html(archive, data)
    assert f"<td>media 3 (case {OTHER}): rvc-sign.mp4</td>" in html


def test_redact_other_cases_names_no_other_case(archive: Archive, slug: str) -> None:
    plain = report.build_report(archive, slug, at=AT)
    shown = _all_formats(archive, plain)
    # the control: without the option they are named (the other case's title never is)
    assert [s for s in SECRETS if not any(s in text for text in shown.values())] == [
        "RVC village-sign video"
    ]

    data = report.build_report(archive, slug, at=AT, redact_other_cases=True)
    assert list(jsonschema.Draft202012Validator(SCHEMA).iter_errors(data)) == []
    assert data["other_cases_redacted"] is True
    for fmt, text in _all_formats(archive, data).items():
        assert [s for s in SECRETS if s in text] == [], fmt
        assert "OTHER-1" in text, fmt
    # the earliest appearance is the other case's: its case is labelled, its facts kept
    first = data["provenance"]["earliest"]
    assert first["case"] == "OTHER-1" and "(case OTHER-1)" in first["message"]
    assert [e["case"] for e in data["provenance"]["timeline"] if e["earliest"]] == ["OTHER-1"]
    (excerpt,) = [d for d in data["provenance"]["derivations"] if d["child"]["id"] == 3]
    sha = excerpt["child"]["sha256"]
    assert excerpt["child"] == {
        "id": 3, "name": None, "label": None, "case": "OTHER-1", "sha256": sha,
    }  # fmt: skip
    original, subtitled = data["media"]
    assert {(h["case"], h["name"]) for h in original["near_duplicates"]} == {("OTHER-1", None)}
    assert subtitled["exact_copies"] == [{"case": "OTHER-1", "media": 4, "name": None}]
    md = report_render.render_markdown(data)
    assert (
        f"| media 3 (case OTHER-1): sha256:{sha[:12]} | excerpt of | media 1: "
        "legion-telegram.mp4 |" in md
    )
    assert "Same bytes (SHA-256) in other cases: case OTHER-1 as media 4\n" in md
    assert "| Other cases | not named (--redact-other-cases)" in md
    # the report's own case is named as ever
    assert data["case"]["slug"] == slug and "media 2: legion-subtitled.mp4" in md


def test_redacted_check_findings_withhold_other_cases_records(archive: Archive, slug: str) -> None:
    """A finding about another case's record would quote it: it is kept (the check failed,
    and how many findings there were, stay true) with its subject and detail withheld."""
    with archive.write() as session:
        other = session.exec(select(Case).where(Case.slug == OTHER)).one()
        own = session.exec(select(Case).where(Case.slug == slug)).one()
        other.title, own.summary = "RVC village-sign video (tampered)", "tampered"
        session.add(other)
        session.add(own)
    plain = report.build_report(archive, slug, at=AT)["integrity"]["check"]
    assert not plain["ok"]
    # (the fixture's pinned clock adds a `clock` finding about entries, not cases)
    subjects = sorted(f["subject"] for f in plain["findings"] if f["category"] != "clock")
    assert subjects == [f"case {slug}", f"case {OTHER}"]
    data = report.build_report(archive, slug, at=AT, redact_other_cases=True)
    check = data["integrity"]["check"]
    assert check["ok"] is False
    kept = [f for f in check["findings"] if f["category"] != "clock"]
    assert sorted((f["subject"], f["detail"]) for f in kept) == sorted(
        [
            next((f["subject"], f["detail"]) for f in plain["findings"] if slug in f["subject"]),
            ("withheld", redact.WITHHELD_DETAIL),
        ]
    )
    assert "tampered)" not in json.dumps(data)


def test_cli_redact_other_cases_is_recorded(cli: RunCli, slug: str, tmp_path: Path) -> None:
    out = tmp_path / "for-counsel.html"
    r = cli("report", slug, "-o", str(out), "--redact-other-cases")
    assert r.exit_code == 0, r.stderr
    assert OTHER not in out.read_text() and "OTHER-1" in out.read_text()
    entry = json.loads(cli("log", slug, "--json").stdout)[-1]
    assert entry["payload"]["redact_other_cases"] is True
    assert cli("report", slug, "-o", "-").exit_code == 0
    assert "redact_other_cases" not in json.loads(cli("log", slug, "--json").stdout)[-1]["payload"]
