"""Reports say who recorded what: a case file's custody, status changes, notes… are shown
as stated in the file, imported by whom and when (from the audit trail), not as facts
witnessed here; records made in this archive are shown as before."""

import hashlib
import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from tests import report_fixture
from tests.conftest import REPO, RunCli
from tests.media import write_jpeg
from tests.provhelp import add_media, sha_of
from verify.archive import Archive
from verify.services import casefile, cases, report, report_render, status
from verify.timeutil import parse_utc

AT = parse_utc("2023-06-01T00:00:00Z")
SCHEMA = json.loads((REPO / "docs" / "report-schema.json").read_text())
SHA1, SHA2 = sha_of(b"strike original"), sha_of(b"strike copy")
IMPORTED_AT = "2023-05-30T10:00:00Z"
EDITED_AT = "2023-05-30T11:00:00Z"
STATED = f"as stated in case file ohchr.toml, imported by tester at {IMPORTED_AT}"

CASE_FILE = f"""format = 1

[case]
slug = "strike"
title = "Strike on the market"
status = "in_progress"
created_at = "2023-05-22T15:00:00Z"
created_by = "OHCHR analyst"

[[claims]]
n = 1
text = "shows a strike on the market"
finding = "supported"
confidence = "medium"
rationale = "geolocated"

[[status_changes]]
to = "in_progress"
why = "started"
at = "2023-05-22T16:30:00Z"
by = "OHCHR analyst"

[[notes]]
text = "received by mail"
at = "2023-05-22T16:10:00Z"
by = "OHCHR analyst"

[[media]]
n = 1
sha256 = "{SHA1}"
name = "strike.mp4"
acquired_via = "USB stick"
acquired_by = "OHCHR evidence unit"
acquired_at = "2023-05-22T16:00:00Z"

[[media]]
n = 2
sha256 = "{SHA2}"
name = "strike-copy.mp4"
acquired_by = "OHCHR evidence unit"
acquired_at = "2023-05-22T16:05:00Z"

[[appearances]]
n = 1
platform = "telegram"
account = "telegram:@market_news"
url = "https://t.me/market_news/7"
posted = "2023-05-22T14:05:00Z"
media = "media:1"
created_at = "2023-05-22T16:20:00Z"
created_by = "OHCHR analyst"

[[attributions]]
n = 1
role = "original_poster"
actor = "telegram:@market_news"
state = "claimed"
according_to = "OHCHR analyst"
created_at = "2023-05-22T16:25:00Z"
created_by = "OHCHR analyst"

[[attributions.history]]
state = "claimed"
according_to = "OHCHR analyst"
at = "2023-05-22T16:25:00Z"
by = "OHCHR analyst"

[[derivations]]
child = "media:2"
parent = "media:1"
kind = "reencode_of"
created_at = "2023-05-22T16:40:00Z"
created_by = "OHCHR analyst"
"""


@pytest.fixture
def imported(archive: Archive, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """`strike` imported from ohchr.toml by `tester`, its copy's acquirer changed by a
    second import, then a status change and a note made here."""
    monkeypatch.setenv("VERIFY_FAKE_NOW", "2023-05-30T09:00:00Z")
    for name, data in (("a", b"strike original"), ("b", b"strike copy")):
        (tmp_path / name).write_bytes(data)
        archive.store.put_file(tmp_path / name)  # so that `verify check` passes
    cases.open_case(archive, "Incoming", slug="incoming")
    add_media(archive, "incoming", "a.mp4", b"strike original")
    add_media(archive, "incoming", "b.mp4", b"strike copy")
    monkeypatch.setenv("VERIFY_FAKE_NOW", IMPORTED_AT)
    casefile.import_case_text(archive, CASE_FILE, "cases/ohchr.toml")
    monkeypatch.setenv("VERIFY_FAKE_NOW", EDITED_AT)
    edited = CASE_FILE.replace(
        'acquired_by = "OHCHR evidence unit"\nacquired_at = "2023-05-22T16:05:00Z"',
        'acquired_by = "OHCHR field team"\nacquired_at = "2023-05-22T16:05:00Z"',
    )
    casefile.import_case_text(archive, edited, "cases/ohchr-v2.toml", update=True)
    monkeypatch.setenv("VERIFY_FAKE_NOW", "2023-05-31T08:00:00Z")
    status.set_status(archive, "strike", "needs_review", why="check the geolocation")
    cases.add_note(archive, "strike", "asked OHCHR for the original")
    report_fixture.report_time(monkeypatch)
    return "strike"


def _recorded(seq_of: dict[str, Any], imported: str | None, at: str) -> dict[str, Any]:
    return {"by": "tester", "at": at, "seq": seq_of, "import": imported}


def test_json_says_who_recorded_each_record(archive: Archive, imported: str) -> None:
    data = report.build_report(archive, imported, at=AT)
    assert data["integrity"]["check"]["ok"], data["integrity"]["check"]
    assert list(jsonschema.Draft202012Validator(SCHEMA).iter_errors(data)) == []
    by_file = {"by": "tester", "at": IMPORTED_AT, "import": "ohchr.toml"}

    def of_file(entry: dict[str, Any] | None) -> bool:
        return entry is not None and {k: entry[k] for k in by_file} == by_file

    def here(entry: dict[str, Any] | None) -> bool:
        return entry is not None and entry["import"] is None and entry["by"] == "tester"

    # the stated facts stay as stated; `recorded` says who put them here, from which file
    assert (data["case"]["created_by"], data["case"]["created_at"]) == (
        "OHCHR analyst",
        "2023-05-22T15:00:00Z",
    )
    assert of_file(data["case"]["recorded"])
    opening, started, review = data["status_history"]
    assert (started["by"], started["at"]) == ("OHCHR analyst", "2023-05-22T16:30:00Z")
    assert of_file(opening["recorded"]) and of_file(started["recorded"])
    assert here(review["recorded"]) and review["recorded"]["at"] == "2023-05-31T08:00:00Z"
    assert data["verdict"]["recorded"] == review["recorded"]
    (history,) = data["claims"][0]["history"]
    assert (history["by"], history["at"], history["import"]) == (
        "tester",
        IMPORTED_AT,
        "ohchr.toml",
    )
    from_file, made_here = data["notes"]
    assert of_file(from_file["recorded"]) and here(made_here["recorded"])
    first, second = data["media"]
    assert first["acquired"]["by"] == "OHCHR evidence unit"
    assert of_file(first["recorded"]) and first["changed"] == []
    # the second import changed the copy's acquirer: a change by another case file
    assert of_file(first["acquired"]["recorded"])
    assert second["acquired"]["by"] == "OHCHR field team"
    assert of_file(second["recorded"])  # the media.add
    assert second["acquired"]["recorded"]["import"] == "ohchr-v2.toml"  # the last statement
    (change,) = second["changed"]
    assert {k: change[k] for k in ("by", "at", "import", "fields")} == {
        "by": "tester",
        "at": EDITED_AT,
        "import": "ohchr-v2.toml",
        "fields": ["acquired_by"],
    }
    prov = data["provenance"]
    assert of_file(prov["appearances"][0]["recorded"])
    (attribution,) = prov["attributions"][0]["items"]
    assert of_file(attribution["recorded"]) and of_file(attribution["history"][0]["recorded"])
    (derivation,) = prov["derivations"]
    assert of_file(derivation["recorded"]) and derivation["changed"] == []
    # the timeline's events carry their record's entry: an acquisition, its last statement
    events = {(e["type"], e["text"]): e["recorded"] for e in prov["timeline"]}
    acquired = {t[1]: r for t, r in events.items() if t[0] == "media.acquired"}
    assert of_file(acquired["acquired strike.mp4 by OHCHR evidence unit, via USB stick"])
    assert acquired["acquired strike-copy.mp4 by OHCHR field team"]["import"] == "ohchr-v2.toml"
    assert of_file(events[("case.opened", "case opened: Strike on the market")])
    assert of_file(events[("note", "received by mail")])
    assert here(events[("note", "asked OHCHR for the original")])
    assert here(
        events[("status.changed", "status in_progress -> needs_review: check the geolocation")]
    )
    assert all(r is None for (t, _), r in events.items() if t == "media.captured")


def test_markdown_and_html_say_as_stated_in_the_case_file(archive: Archive, imported: str) -> None:
    data = report.build_report(archive, imported, at=AT)
    md = report_render.render_markdown(data)
    assert f"| Opened | OHCHR analyst, 2023-05-22T15:00:00Z ({STATED}) |" in md
    assert (
        f"| Acquired | OHCHR evidence unit, 2023-05-22T16:00:00Z, via USB stick — {STATED} |" in md
    )
    assert (
        "| Changed | acquired by changed by case file ohchr-v2.toml, imported by tester at "
        f"{EDITED_AT} (audit entry " in md
    )
    assert (
        "| 2023-05-22T16:30:00Z | unverified | in progress | OHCHR analyst "
        f"({STATED}) | started |" in md
    )
    # made here: as before, no attribution to a file
    assert (
        "| 2023-05-31T08:00:00Z | in progress | needs review | tester | check the "
        "geolocation |" in md
    )
    assert "| Set by | tester, 2023-05-31T08:00:00Z |" in md
    assert f"- 2023-05-22T16:10:00Z, OHCHR analyst ({STATED}): received by mail" in md
    assert "- 2023-05-31T08:00:00Z, tester: asked OHCHR for the original" in md
    assert "| tester (importing case file ohchr.toml) |" in md  # the claim's finding
    assert f"acquired strike.mp4 by OHCHR evidence unit, via USB stick — {STATED} |" in md
    assert (
        "| Acquired | OHCHR field team, 2023-05-22T16:05:00Z — as stated in case file "
        f"ohchr-v2.toml, imported by tester at {EDITED_AT} |" in md
    )
    # the opening (header, status history), a status change, 7 timeline events, and the
    # appearance, the attribution change, the derivation, an acquisition and a note
    assert md.count(STATED) == 15
    html = report_render.render_html(archive, data)
    assert (
        'by OHCHR analyst <span class="imported">(as stated in case file ohchr.toml, '
        f"imported by tester at {IMPORTED_AT})</span>" in html
    )
    assert html.count(f'<span class="imported">({STATED})</span>') == 15
    assert 'class="imported">acquired by changed by case file ohchr-v2.toml' in html


def test_a_case_made_here_shows_no_case_file(
    archive: Archive, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    slug = report_fixture.build(archive, tmp_path, monkeypatch)
    data = report.build_report(archive, slug, at=AT)
    for fmt in ("md", "html"):
        text = report_render.render(archive, data, fmt).decode()
        assert "case file" not in text and "imported by" not in text


# ------------------------------------------------------------------ evidence-store repair


def test_a_damaged_stored_copy_restored_shows_in_the_custody(
    cli: RunCli, home: Path, tmp_path: Path
) -> None:
    """A stored object found damaged and restored by adding the same bytes again: the
    `media.add` that did it records `restored` and `damaged_copy`; every media file holding
    those bytes says so in its custody, naming the acquisition that restored it."""
    photo = write_jpeg(tmp_path / "strike.jpg", seed=3)
    assert cli("case", "open", "Strike", "--slug", "strike").exit_code == 0
    assert cli("case", "open", "Incoming", "--slug", "incoming").exit_code == 0
    assert cli("media", "add", "strike", str(photo)).stdout == "1\n"
    sha = hashlib.sha256(photo.read_bytes()).hexdigest()
    stored = home / "objects" / "sha256" / sha[:2] / sha[2:]
    stored.chmod(0o644)
    stored.write_bytes(b"bit rot")
    assert cli("check").exit_code == 3
    assert cli("--as", "carol", "media", "add", "incoming", str(photo)).stdout == "2\n"
    entry = json.loads(cli("log", "--json").stdout)[-1]
    kept = "objects/" + entry["payload"]["damaged_copy"]
    data = json.loads(cli("report", "strike", "-f", "json", "-o", "-").stdout)
    assert list(jsonschema.Draft202012Validator(SCHEMA).iter_errors(data)) == []
    (media,) = data["media"]
    assert media["restorations"] == [
        {
            "found": "hash-mismatch",
            "damaged_copy": kept,
            "media": 2,
            "case": "incoming",
            "by": "carol",
            "at": entry["at"],
            "seq": entry["seq"],
            "import": None,
        }
    ]
    when = entry["at"][:19] + "Z"
    md = cli("report", "strike", "-o", "-").stdout
    assert (
        "| Stored copy | stored copy found altered or damaged (its bytes no longer had its "
        "SHA-256) and restored from a new acquisition of the same bytes (media 2, case "
        f"incoming) by carol at {when} (audit entry {entry['seq']}); the damaged copy is kept "
        f"at {kept} |".replace("_", "\\_")
    ) in md
    html = cli("report", "incoming", "-f", "html", "-o", "-").stdout
    assert (
        "<th>Stored copy</th><td><div><strong>stored copy found altered or damaged (its bytes "
        "no longer had its SHA-256) and restored from this acquisition by carol at "
        f"{when} (audit entry {entry['seq']}); the damaged copy is kept at {kept}"
    ) in html
    # a file never damaged has no such row
    other = write_jpeg(tmp_path / "other.jpg", seed=4)
    assert cli("media", "add", "strike", str(other)).exit_code == 0
    data = json.loads(cli("report", "strike", "-f", "json", "-o", "-").stdout)
    assert [m["restorations"] != [] for m in data["media"]] == [True, False]
