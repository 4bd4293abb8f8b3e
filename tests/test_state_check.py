"""`verify check` compares the current cases, claims, attributions, media custody facts,
appearances and derivations with what the audit trail last recorded: an edit made directly in the database (the chain itself intact) exits 3
naming what changed; every legitimate way of writing those facts, including the payload
shapes of earlier versions, checks clean."""

import json
from pathlib import Path

import pytest
from sqlalchemy import text

from tests.conftest import RunCli, Snapshots
from tests.media import write_jpeg
from verify import audit
from verify.archive import Archive, open_archive
from verify.models import Case, Claim
from verify.services import log
from verify.timeutil import now

CASE_FILE = Path(__file__).resolve().parents[1] / "cases" / "belgorod-legion-video.toml"
LEGION = "belgorod-legion-video"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def backend(request: pytest.FixtureRequest) -> str:
    """Every test here runs on SQLite and on PostgreSQL (skipped without a server)."""
    return str(request.param)


@pytest.fixture
def built(request: pytest.FixtureRequest, snapshots: Snapshots, cli: RunCli) -> Path:
    """An archive with every legitimate way of setting the checked facts (built once per
    backend, copied for each test); returns its home."""
    return snapshots.restore(request, "built", lambda workdir: _build(cli, workdir))


def _build(cli: RunCli, tmp_path: Path) -> None:
    steps = [
        ("case", "open", "Test case", "--claim", "one", "--claim", "two"),
        ("claim", "add", "test-case", "three"),
        ("claim", "assess", "test-case", "1", "--finding", "supported", "--why", "because"),
        ("claim", "assess", "test-case", "1", "--confidence", "high"),
        ("claim", "assess", "test-case", "3", "--finding", "contradicted", "--confidence",
         "high", "--why", "bob's reason"),
        ("case", "edit", "test-case", "--title", "Renamed", "--summary", "now summarised"),
        ("status", "set", "test-case", "in_progress"),
        ("status", "set", "test-case", "false", "--why", "claim 1 is supported"),
        ("note", "add", "test-case", "asked the desk in Kyiv"),
        ("case", "import", str(CASE_FILE)),
        ("prov", "attribution", "set", "1", "--state", "corroborated", "--evidence", "seen"),
    ]  # fmt: skip
    for args in steps:
        r = cli(*args)
        assert r.exit_code == 0, (args, r.stderr)
    # a re-import of an edited export: `claim.edit` entries
    exported = cli("case", "export", LEGION).stdout
    edited = exported.replace(
        'finding = "unassessed"',
        'finding = "contradicted"\nconfidence = "low"\nrationale = "wrong town"',
        1,
    ).replace('credibility = "Not identified yet."', 'credibility = "Still not identified."')
    assert edited.count("wrong town") == edited.count("Still not identified.") == 1
    (tmp_path / "edited.toml").write_text(edited)
    r = cli("case", "import", str(tmp_path / "edited.toml"))
    assert r.exit_code == 0, r.stderr
    # provenance: media with custody facts, an approximate appearance, a derivation ...
    first, second = write_jpeg(tmp_path / "a.jpg", seed=31), write_jpeg(tmp_path / "b.jpg", seed=32)
    steps = [
        ("media", "add", "test-case", str(first), "--source-url", "https://t.me/x/1",
         "--platform", "telegram", "--acquired-via", "Telegram Desktop 4.8"),
        ("media", "add", "test-case", str(second), "--label", "subtitled"),
        ("prov", "appearance", "add", "test-case", "--account", "telegram:@x", "--posted",
         "~2023-05", "--captured", "2023-05-24T09:00Z", "--media", "1", "--url",
         "https://t.me/x/1"),
        ("prov", "attribute", "test-case", "original_poster", "telegram:@x", "--target",
         "media:1", "--according-to", "our analysis"),
        ("prov", "attribution", "set", "5", "--state", "refuted", "--evidence", "an older copy"),
        ("prov", "attribution", "set", "5", "--state", "corroborated", "--evidence",
         "the channel's own archive"),
        ("prov", "derive", "2", "1", "--kind", "subtitled_from", "--evidence", "frames match"),
        ("prov", "account", "add", "x:@unused", "--name", "Unused", "--url", "https://x.com/unused"),
        ("prov", "account", "edit", "x:@unused", "--kind", "outlet", "--name", "Renamed"),
    ]  # fmt: skip
    for args in steps:
        r = cli(*args)
        assert r.exit_code == 0, (args, r.stderr)
    # ... then edited by re-importing an edited export (`media.edit`, `appearance.edit`,
    # `derivation.edit` entries, in the columns' terms)
    exported = cli("case", "export", "test-case").stdout
    edited = (
        exported.replace('posted = "~2023-05"', 'posted = "2023-05-22T18:40:00Z"', 1)
        .replace('name = "a.jpg"', 'name = "a.jpg"\nlabel = "telegram copy"', 1)
        .replace('evidence = { text = "frames match" }', "evidence = { frames = 41 }", 1)
    )
    assert edited.count("telegram copy") == 1 and "frames = 41" in edited
    (tmp_path / "prov.toml").write_text(edited)
    r = cli("case", "import", str(tmp_path / "prov.toml"))
    assert r.exit_code == 0, r.stderr
    actions = {e["action"] for e in json.loads(cli("log", "--json").stdout)}
    assert {"media.edit", "appearance.edit", "derivation.edit", "account.edit"} <= actions
    # assessments: a new finding (confidence and rationale replaced, or cleared), amendments
    steps = [
        ("claim", "assess", "test-case", "3", "--finding", "supported", "--why", "carol's"),
        ("claim", "assess", "test-case", "3", "--finding", "unassessed"),
        ("claim", "assess", "test-case", "2", "--finding", "unproven", "--confidence", "low",
         "--why", "first"),
        ("claim", "assess", "test-case", "2", "--why", "second"),
        ("claim", "assess", "test-case", "2", "--confidence", "none"),
    ]  # fmt: skip
    for args in steps:
        r = cli(*args)
        assert r.exit_code == 0, (args, r.stderr)


def tamper(home: Path, sql: str) -> None:
    """Change one row behind the tool's back, with plain SQL on the archive's database."""
    archive = open_archive(home, actor="intruder")
    try:
        with archive.engine.execution_options(verify_write=True).begin() as conn:
            assert conn.execute(text(sql)).rowcount == 1
    finally:
        archive.close()


def test_every_legitimate_flow_checks_clean(cli: RunCli, built: Path) -> None:
    r = cli("check")
    assert r.exit_code == 0, r.stdout
    assert r.stdout.startswith("ok: ")
    report = json.loads(cli("report", LEGION, "--format", "json", "-o", "-").stdout)
    assert report["integrity"]["check"]["ok"] is True


@pytest.mark.parametrize(
    ("sql", "subject", "detail"),
    [
        (
            f"update claims set finding='refuted', confidence='high' where position=2 and "
            f"case_id=(select id from cases where slug='{LEGION}')",
            f"case {LEGION} claim 2",
            "finding is 'refuted' but the audit trail last recorded 'unassessed'",
        ),
        (
            "update claims set finding='unassessed' where position=1 and "
            "case_id=(select id from cases where slug='test-case')",
            "case test-case claim 1",
            "finding is 'unassessed' but the audit trail last recorded 'supported'",
        ),
        (
            f"update claims set rationale='nothing' where position=1 and "
            f"case_id=(select id from cases where slug='{LEGION}')",
            f"case {LEGION} claim 1",
            "rationale is 'nothing' but the audit trail last recorded 'wrong town'",
        ),
        (
            "update claims set text='four' where position=3 and "
            "case_id=(select id from cases where slug='test-case')",
            "case test-case claim 3",
            "text is 'four' but the audit trail last recorded 'three'",
        ),
        # who added a claim and when: a claim credited to someone else passed `check`
        (
            "update claims set created_by='Editor-in-chief' where position=3 and "
            "case_id=(select id from cases where slug='test-case')",
            "case test-case claim 3",
            "created-by is 'Editor-in-chief' but the audit trail last recorded 'tester'",
        ),
        (
            "update claims set created_at='2020-01-01 00:00:00.000000' where position=1 and "
            "case_id=(select id from cases where slug='test-case')",
            "case test-case claim 1",
            "created-at is '2020-01-01T00:00:00Z' but the audit trail last recorded '20",
        ),
        (
            f"update claims set created_by=null, created_at=null where position=4 and "
            f"case_id=(select id from cases where slug='{LEGION}')",
            f"case {LEGION} claim 4",
            "created-by is none but the audit trail last recorded 'tester'",
        ),
        (
            "update cases set status='verified' where slug='test-case'",
            "case test-case",
            "status is 'verified' but the audit trail last recorded 'false'",
        ),
        (
            "update cases set title='Other' where slug='test-case'",
            "case test-case",
            "title is 'Other' but the audit trail last recorded 'Renamed'",
        ),
        # who opened a case and when (the first line of its status history), and who last
        # changed a claim
        (
            "update cases set created_by='Editor-in-chief' where slug='test-case'",
            "case test-case",
            "created-by is 'Editor-in-chief' but the audit trail last recorded 'tester'",
        ),
        (
            f"update cases set created_at='2023-05-01 00:00:00.000000' where slug='{LEGION}'",
            f"case {LEGION}",
            "created-at is '2023-05-01T00:00:00Z' but the audit trail last recorded ",
        ),
        (
            "update claims set updated_by='Editor-in-chief' where position=2 and "
            "case_id=(select id from cases where slug='test-case')",
            "case test-case claim 2",
            "updated-by is 'Editor-in-chief' but the audit trail last recorded 'tester'",
        ),
        (
            "update attributions set state='refuted' where id=1",
            f"attribution 1 (case {LEGION})",
            "state is 'refuted' but the audit trail last recorded 'corroborated'",
        ),
        (
            "update media set source_url='https://x.com/other/status/1' where id=1",
            "media 1 (case test-case)",
            "source-url is 'https://x.com/other/status/1' but the audit trail last recorded "
            "'https://t.me/x/1'",
        ),
        (
            "update media set label=null where id=1",
            "media 1 (case test-case)",
            "label is none but the audit trail last recorded 'telegram copy'",
        ),
        (
            "update media set blob_id=(select blob_id from media where id=2) where id=1",
            "media 1 (case test-case)",
            "sha256 is 'sha256:",
        ),
        (
            "update appearances set posted_at='2023-05-11 10:00:00.000000', "
            "posted_precision='exact' where url='https://t.me/x/1'",
            "appearance 2 (case test-case)",
            "posted is '2023-05-11T10:00:00Z' but the audit trail last recorded "
            "'2023-05-22T18:40:00Z'",
        ),
        (
            "update appearances set captured_at=null where url='https://t.me/x/1'",
            "appearance 2 (case test-case)",
            "captured-at is none but the audit trail last recorded '2023-05-24T09:00:00Z'",
        ),
        (
            "update appearances set media_id=2 where url='https://t.me/x/1'",
            "appearance 2 (case test-case)",
            "media is '2' but the audit trail last recorded '1'",
        ),
        (
            "update appearances set account_id=null where url='https://t.me/x/1'",
            "appearance 2 (case test-case)",
            "account is none but the audit trail last recorded 'telegram:@x'",
        ),
        (
            "update derivations set kind='reencode_of' where id=1",
            "derivation 1",
            "kind is 'reencode_of' but the audit trail last recorded 'subtitled_from'",
        ),
        (
            "update derivations set evidence=null where id=1",
            "derivation 1",
            "evidence is none but the audit trail last recorded '{\"frames\":41}'",
        ),
        (
            "update derivations set retraction='forged', retracted_by='x', "
            "retracted_at=created_at where id=1",
            "derivation 1",
            "retraction is 'forged' but the audit trail last recorded none",
        ),
        (
            "delete from derivations where id=1",
            "derivation 1",
            "recorded but gone from the archive",
        ),
        (
            "delete from claims where position=3 and "
            "case_id=(select id from cases where slug='test-case')",
            "case test-case claim 3",
            "gone from the archive",
        ),
        (
            "insert into claims (case_id, position, text, finding, rationale, updated_at, "
            "updated_by) select id, 9, 'forged', 'supported', 'x', updated_at, 'x' "
            "from cases where slug='test-case'",
            "case test-case claim 9",
            "not in the audit trail",
        ),
        # the verdict's rationale, what an editor or a court reads, passed `check` edited
        (
            "update status_changes set rationale='tampered' where to_status='false'",
            "case test-case status change 2",
            "rationale is 'tampered' but the audit trail last recorded 'claim 1 is supported'",
        ),
        # who set the verdict, and when: the report's "Set by" showed a forged name
        (
            "update status_changes set by='Editor-in-chief' where to_status='false'",
            "case test-case status change 2",
            "by is 'Editor-in-chief' but the audit trail last recorded 'tester'",
        ),
        (
            "update status_changes set at='2026-01-01 09:00:00.000000' where to_status='false'",
            "case test-case status change 2",
            "at is '2026-01-01T09:00:00Z' but the audit trail last recorded ",
        ),
        (
            "update status_changes set from_status='unverified' where to_status='false'",
            "case test-case status change 2",
            "from is 'unverified' but the audit trail last recorded 'in_progress'",
        ),
        (
            "delete from status_changes where to_status='false'",
            "case test-case status change 2",
            "gone from the archive",
        ),
        # the first of two deleted: that one is gone, the second is not called edited
        (
            "delete from status_changes where to_status='in_progress' and "
            "case_id=(select id from cases where slug='test-case')",
            "case test-case status change 1",
            "gone from the archive",
        ),
        (
            "insert into status_changes (case_id, from_status, to_status, rationale, at, by) "
            "select id, 'false', 'verified', 'forged', updated_at, 'x' "
            "from cases where slug='test-case'",
            "case test-case status change 3",
            "not in the audit trail (no status.set)",
        ),
        # notes: note 1 added on the command line, note 2 by the example's import
        (
            "update notes set text='the desk confirmed it' where id=1",
            "note 1 (case test-case)",
            "text is 'the desk confirmed it' but the audit trail last recorded 'asked the desk "
            "in Kyiv'",
        ),
        (
            "update notes set by='Editor-in-chief' where id=2",
            f"note 2 (case {LEGION})",
            "by is 'Editor-in-chief' but the audit trail last recorded 'tester'",
        ),
        (
            "update notes set at='2023-05-20 09:00:00.000000' where id=1",
            "note 1 (case test-case)",
            "at is '2023-05-20T09:00:00Z' but the audit trail last recorded ",
        ),
        (
            "update notes set case_id=(select id from cases where slug='test-case') where id=2",
            "note 2 (case test-case)",
            f"case is 'test-case' but the audit trail last recorded '{LEGION}'",
        ),
        (
            "delete from notes where id=1",
            "note 1 (case test-case)",
            "added at seq 9 but gone from the archive",
        ),
        (
            "insert into notes (case_id, text, at, by) select id, 'forged', updated_at, 'x' "
            "from cases where slug='test-case'",
            "note 3 (case test-case)",
            "not in the audit trail (no note.add)",
        ),
        # accounts: 1-4 created by the example's import, 6 on the command line
        (
            "update accounts set display_name='Someone else' where handle='@Gerashchenko_en'",
            "account 1 (x:@Gerashchenko_en)",
            "display-name is 'Someone else' but the audit trail last recorded 'Anton Gerashchenko'",
        ),
        (
            "update accounts set credibility='Reliable.' where handle='(unknown)'",
            "account 2 (telegram:(unknown))",
            "credibility is 'Reliable.' but the audit trail last recorded 'Still not identified.'",
        ),
        (
            "update accounts set kind='person', display_name=null where handle='@unused'",
            "account 6 (x:@unused)",
            "display-name is none but the audit trail last recorded 'Renamed'",
        ),
        (
            "update accounts set url='https://x.com/other' where handle='@unused'",
            "account 6 (x:@unused)",
            "url is 'https://x.com/other' but the audit trail last recorded 'https://x.com/unused'",
        ),
        (
            "update accounts set handle='@forged' where handle='@unused'",
            "account 6 (x:@forged)",
            "handle is '@forged' but the audit trail last recorded '@unused'",
        ),
        (
            "update accounts set platform='telegram' where handle='@unused'",
            "account 6 (telegram:@unused)",
            "platform is 'telegram' but the audit trail last recorded 'x'",
        ),
        (
            "delete from accounts where handle='@unused'",
            "account x:@unused",
            "added at seq 40 but gone from the archive",
        ),
        # attributions: 1-4 by the example's import (1 then set on the command line), 5 on
        # the command line, set twice
        (
            "update attributions set role='filmer' where id=5",
            "attribution 5 (case test-case)",
            "role is 'filmer' but the audit trail last recorded 'original_poster'",
        ),
        (
            "update attributions set account_id=(select id from accounts where "
            "handle='@unused') where id=1",
            f"attribution 1 (case {LEGION})",
            "actor is 'x:@unused' but the audit trail last recorded 'x:@Gerashchenko_en'",
        ),
        (
            "update attributions set target_id=2 where id=5",
            "attribution 5 (case test-case)",
            "target is 'media:2' but the audit trail last recorded 'media:1'",
        ),
        (
            "update attribution_changes set according_to='CNN' where attribution_id=1 and "
            "from_state is null",
            f"attribution 1 (case {LEGION}) change 1",
            "according-to is 'CNN' but the audit trail last recorded 'x:@Gerashchenko_en'",
        ),
        (
            "update attribution_changes set by='Editor-in-chief' where attribution_id=5 and "
            "to_state='corroborated'",
            "attribution 5 (case test-case) change 3",
            "by is 'Editor-in-chief' but the audit trail last recorded 'tester'",
        ),
        (
            "update attribution_changes set at='2023-05-20 09:00:00.000000' where "
            "attribution_id=5 and to_state='refuted'",
            "attribution 5 (case test-case) change 2",
            "at is '2023-05-20T09:00:00Z' but the audit trail last recorded ",
        ),
        (
            "update attribution_changes set to_state='refuted' where attribution_id=1 and "
            "to_state='corroborated'",
            f"attribution 1 (case {LEGION}) change 2",
            "to is 'refuted' but the audit trail last recorded 'corroborated'",
        ),
        # a change deleted from the middle is gone; the one after it is not called edited
        (
            "delete from attribution_changes where attribution_id=5 and to_state='refuted'",
            "attribution 5 (case test-case) change 2",
            "recorded at seq 37 but gone from the archive",
        ),
        (
            "insert into attribution_changes (attribution_id, from_state, to_state, evidence, "
            "according_to, at, by) select 5, 'corroborated', 'refuted', 'forged', null, at, "
            "'x' from attribution_changes where attribution_id=5 and to_state='corroborated'",
            "attribution 5 (case test-case) change 4",
            "not in the audit trail (no attribution.set)",
        ),
    ],
)
def test_direct_edit_is_caught(
    cli: RunCli, built: Path, sql: str, subject: str, detail: str
) -> None:
    tamper(built, sql)
    r = cli("check")
    assert r.exit_code == 3
    lines = [x for x in r.stdout.splitlines() if x.startswith("state: ")]
    assert lines and all(x.startswith(f"state: {subject}: ") for x in lines), r.stdout
    assert detail in lines[0]
    assert r.stdout.splitlines()[-1].startswith("FAILED: ")
    assert (
        r.stderr
        == f"error: {subject} differs from the audit trail (edited behind the tool's back?)\n"
    )
    data = json.loads(cli("check", "--json").stdout)
    assert data["ok"] is False and data["audit"]["first_bad_seq"] is None
    assert {(f["category"], f["subject"]) for f in data["findings"]} == {("state", subject)}


@pytest.mark.parametrize(
    "sql",
    [
        # GPS and capture time are in the metadata: an edit passed `check`, and the report
        # printed the forged values
        'update blobs set meta=\'{"make": "Forged", "gps": {"lat": 50.6, '
        '"lon": 36.6}}\' where id=1',
        "update frames set phash=phash+1 where id=(select min(id) from frames where blob_id=1)",
        "delete from frames where blob_id=1",
    ],
)
def test_an_edited_analysis_is_caught_and_reanalysis_restores_it(
    cli: RunCli, built: Path, sql: str
) -> None:
    """What an analysis stored (metadata, frame hashes) is compared with the digest its
    `media.add` recorded; `media reanalyse` reads them again and records the new digest."""
    [sha] = [m["sha256"][7:] for m in json.loads(cli("media", "list", "test-case", "--json").stdout)
             if m["id"] == 1]  # fmt: skip
    [seq] = [e["seq"] for e in json.loads(cli("log", "--json").stdout)
             if e["action"] == "media.add" and e["payload"]["media"] == 1]  # fmt: skip
    tamper(built, sql)
    r = cli("check")
    assert r.exit_code == 3
    assert [x for x in r.stdout.splitlines() if x.startswith("state: ")] == [
        f"state: file sha256:{sha[:12]}: its metadata or frame hashes differ from what its "
        f"analysis stored (recorded at seq {seq}): changed behind the tool's back (`verify media "
        "reanalyse` reads them again from the file)"
    ]
    assert cli("media", "reanalyse", "1").exit_code == 0
    r = cli("check")
    assert r.exit_code == 0, r.stdout
    shown = json.loads(cli("media", "show", "1", "--json").stdout)
    assert shown["metadata"]["make"] != "Forged" and shown["frame_count"] == 1


def test_report_check_at_generation_fails(cli: RunCli, built: Path, tmp_path: Path) -> None:
    tamper(
        built,
        f"update claims set finding='refuted' where position=2 and "
        f"case_id=(select id from cases where slug='{LEGION}')",
    )
    out = tmp_path / "r.md"
    assert cli("report", LEGION, "-o", str(out)).exit_code == 0
    text = out.read_text()
    assert "| Check at generation | **FAILED**" in text
    # said at the top too, before the status and rationale a reader looks at first
    assert text.index("**The integrity check failed when this report was written") < text.index(
        "| Status |"
    )
    html = tmp_path / "r.html"
    assert cli("report", LEGION, "-f", "html", "-o", str(html)).exit_code == 0
    page = html.read_text()
    assert page.index('<p class="integrity-failed">') < page.index('<div class="status">')
    assert f"case {LEGION} claim 2" in text


def test_old_payload_shapes_check_clean(archive: Archive) -> None:
    """Earlier imports recorded a new claim's assessment in `claim.add` itself."""
    with archive.write() as session:
        at = now()
        case = Case(
            slug="old",
            title="Old",
            status="unverified",
            created_at=at,
            created_by="t",
            updated_at=at,
            updated_by="t",
        )
        session.add(case)
        session.flush()
        assert case.id is not None
        session.add(
            Claim(
                case_id=case.id,
                position=1,
                text="assessed on import",
                finding="supported",
                confidence="medium",
                rationale="r",
                updated_at=at,
                updated_by="t",
            )
        )
        payload = {"title": "Old", "summary": "", "claims": [], "import": "old.toml"}
        audit.append(session, actor="t", action="case.open", case="old", payload=payload)
        old_add = {
            "n": 1,
            "text": "assessed on import",
            "finding": "supported",
            "confidence": "medium",
            "rationale": "r",
            "import": "old.toml",
        }
        audit.append(session, actor="t", action="claim.add", case="old", payload=old_add)
    assert log.check_archive(archive).ok
    with archive.write() as session:
        claim = session.get(Claim, 1)
        assert claim is not None
        claim.confidence = "high"
        session.add(claim)
    findings = log.check_archive(archive).findings
    assert [(f.category, f.subject) for f in findings] == [("state", "case old claim 1")]


def test_claim_assess_shapes_are_read_alike() -> None:
    """`claim.assess` records the rationale as `{"old", "new"}` (a cleared one too, as
    ""); entries before that gave the new one alone as `why`: both replay."""
    from verify.services.statecheck import claim_changes

    current = {
        "n": 3,
        "finding": {"old": "supported", "new": "unassessed"},
        "confidence": {"old": "high", "new": None},
        "rationale": {"old": "bob's reason", "new": ""},
    }
    assert claim_changes("claim.assess", current) == {
        "finding": ("supported", "unassessed"),
        "confidence": ("high", None),
        "rationale": ("bob's reason", ""),
    }
    earlier = {"n": 3, "finding": {"old": "unassessed", "new": "supported"}, "why": "sign"}
    assert claim_changes("claim.assess", earlier) == {
        "finding": ("unassessed", "supported"),
        "rationale": (None, "sign"),
    }


def test_an_old_import_media_add_checks_clean(archive: Archive) -> None:
    """Imports before the shared payload shape recorded `media.add` as
    {"media", "sha256": HEX (no prefix), "name"} (docs/json.md): not a difference."""
    from verify.models import Blob, Media

    sha = "ab" * 32
    with archive.write() as session:
        at = now()
        case = Case(slug="old", title="Old", status="unverified", created_at=at,
                    created_by="t", updated_at=at, updated_by="t")  # fmt: skip
        blob = Blob(sha256=sha, size=1, kind="image", analysis_state="ok", stored_at=at)
        session.add_all([case, blob])
        session.flush()
        assert case.id is not None and blob.id is not None
        media = Media(case_id=case.id, blob_id=blob.id, original_name="clip.mp4",
                      acquired_by="t", acquired_at=at)  # fmt: skip
        session.add(media)
        session.flush()
        payload = {"title": "Old", "summary": "", "claims": [], "import": "old.toml"}
        audit.append(session, actor="t", action="case.open", case="old", payload=payload)
        old_add = {"media": media.id, "sha256": sha, "name": "clip.mp4", "import": "old.toml"}
        audit.append(session, actor="t", action="media.add", case="old", payload=old_add)

    def state() -> list[tuple[str, str]]:
        findings = log.check_archive(archive).findings
        return [(f.subject, f.detail) for f in findings if f.category == "state"]

    assert state() == []
    with archive.write() as session:
        row = session.get(Media, 1)
        assert row is not None
        row.original_name = "renamed.mp4"
        session.add(row)
    assert [s for s, _ in state()] == ["media 1 (case old)"]


def test_old_case_and_note_entries_are_compared_on_what_they_record(
    archive: Archive, home: Path
) -> None:
    """`case.open` and `note.add` recorded no `by`/`at` before this version: a case opened
    or a note added on the command line was by the entry's actor; when is not compared, nor
    an imported note's author and time (the file's). A note's text and case are, in both."""
    from datetime import UTC, datetime

    from verify.models import Note

    with archive.write() as session:
        at = now()
        case = Case(slug="old", title="Old", status="unverified", created_at=at,
                    created_by="t", updated_at=at, updated_by="t")  # fmt: skip
        session.add(case)
        session.flush()
        assert case.id is not None
        typed = Note(case_id=case.id, text="typed", at=at, by="t")
        filed = Note(case_id=case.id, text="from a file", by="someone else",
                     at=datetime(2020, 1, 2, tzinfo=UTC))  # fmt: skip
        session.add_all([typed, filed])
        session.flush()
        payload = {"title": "Old", "summary": "", "claims": []}
        audit.append(session, actor="t", action="case.open", case="old", payload=payload)
        for note, extra in ((typed, {}), (filed, {"import": "old.toml"})):
            payload = {"note": note.id, "text": note.text, **extra}
            audit.append(session, actor="t", action="note.add", case="old", payload=payload)

    def state() -> list[str]:
        findings = log.check_archive(archive).findings
        return [f"{f.subject}: {f.detail}" for f in findings if f.category == "state"]

    assert state() == []
    tamper(home, "update notes set by='x', at='2021-01-01 00:00:00.000000' where id=2")
    tamper(home, "update cases set created_at='2021-01-01 00:00:00.000000' where slug='old'")
    assert state() == []  # the import's author and time, and when: not recorded
    tamper(home, "update notes set text='edited' where id=2")
    tamper(home, "update notes set by='x' where id=1")
    tamper(home, "update cases set created_by='x' where slug='old'")
    assert [line.split(" but ")[0] for line in state()] == [
        "case old: created-by is 'x'",
        "note 1 (case old): by is 'x'",
        "note 2 (case old): text is 'edited'",
    ]


def test_old_attribution_entries_are_compared_on_what_they_record(
    archive: Archive, home: Path
) -> None:
    """Before `by`/`at` were recorded: an attribution added on the command line has each
    state change in the trail, by the entry's actor (compared); the earliest imports
    recorded a new attribution as one `attribution.add` in its last state, naming the actor
    as the file spelt it (its history and actor are not compared)."""
    from datetime import UTC, datetime

    from verify.models import Account, Attribution, AttributionChange

    def when(day: int) -> datetime:
        return datetime(2023, 5, day, tzinfo=UTC)

    with archive.write() as session:
        at = now()
        case = Case(slug="old", title="Old", status="unverified", created_at=at,
                    created_by="t", updated_at=at, updated_by="t")  # fmt: skip
        account = Account(platform="x", handle="@a", kind="unknown", created_at=at, created_by="t")
        session.add_all([case, account])
        session.flush()
        assert case.id is not None and account.id is not None
        payload: dict[str, object] = {"title": "Old", "summary": "", "claims": []}
        audit.append(session, actor="t", action="case.open", case="old", payload=payload)
        payload = {"ref": "x:@a", "platform": "x", "handle": "@a", "display_name": None,
                   "url": None, "kind": "unknown", "credibility": None}  # fmt: skip
        audit.append(session, actor="t", action="account.add", case="old", payload=payload)
        for state, history in (
            ("refuted", [(None, "claimed", "al", 1), ("claimed", "refuted", "cy", 3)]),
            ("corroborated", [(None, "claimed", "t", 4), ("claimed", "corroborated", "t", 5)]),
        ):
            attr = Attribution(case_id=case.id, role="subtitler", account_id=account.id,
                               state=state, evidence="seen", created_at=when(1),
                               created_by="al", updated_at=when(3), updated_by="cy")  # fmt: skip
            session.add(attr)
            session.flush()
            assert attr.id is not None
            for old, new, by, day in history:
                session.add(AttributionChange(attribution_id=attr.id, from_state=old,
                                              to_state=new, evidence="seen", at=when(day),
                                              by=by))  # fmt: skip
            session.flush()
            fields = {"id": attr.id, "role": "subtitler", "target": "case", "evidence": "seen",
                      "according_to": None}  # fmt: skip
            if attr.id == 1:  # an early import: one entry, its last state, the file's spelling
                payload = {**fields, "actor": "x:a", "state": "refuted", "import": "old.toml"}
                audit.append(session, actor="t", action="attribution.add", case="old",
                             payload=payload)  # fmt: skip
                continue
            payload = {**fields, "actor": "x:@a", "state": "claimed"}
            audit.append(session, actor="t", action="attribution.add", case="old",
                         payload=payload)  # fmt: skip
            payload = {"id": attr.id, "from": "claimed", "to": "corroborated",
                       "evidence": "seen", "according_to": None}  # fmt: skip
            audit.append(session, actor="t", action="attribution.set", case="old",
                         payload=payload)  # fmt: skip

    def state() -> list[str]:
        findings = log.check_archive(archive).findings
        return [f"{f.subject}: {f.detail}" for f in findings if f.category == "state"]

    assert state() == []
    tamper(home, "update attribution_changes set by='x' where id=1")  # the import's
    tamper(home, "update attribution_changes set at='2020-01-01 00:00:00.000000' where id=4")
    assert state() == []  # not recorded
    tamper(home, "update attribution_changes set by='x' where id=4")
    assert [line.split(" but ")[0] for line in state()] == [
        "attribution 2 (case old) change 2: by is 'x'"
    ]


def test_a_case_file_dating_its_own_records_checks_clean(cli: RunCli, tmp_path: Path) -> None:
    """Who and when as a case file gives them (in another zone, or as a local date-time,
    read as UTC) are what the entries record and what `check` compares the rows with."""
    text = CASE_FILE.read_text()
    dated = (
        text.replace(
            'status = "in_progress"\n',
            'status = "in_progress"\ncreated_at = 2023-05-22T10:00:00+03:00\ncreated_by = "desk"\n',
            1,
        )
        .replace("[[notes]]\n", '[[notes]]\nat = 2023-05-23T08:00:00\nby = "reporter"\n', 1)
        .replace(
            'according_to = "CNN"\n',
            'according_to = "CNN"\n\n[[attributions.history]]\nstate = "claimed"\n'
            'evidence = "The fighters are \\"Russian citizens\\"."\naccording_to = "CNN"\n'
            'at = 2023-05-24T09:15:30.250000-04:00\nby = "al"\n',
            1,
        )
    )
    assert all(f'by = "{who}"' in dated for who in ("desk", "reporter", "al"))
    (tmp_path / "dated.toml").write_text(dated)
    r = cli("case", "import", str(tmp_path / "dated.toml"))
    assert r.exit_code == 0, r.stderr
    shown = json.loads(cli("case", "show", LEGION, "--json").stdout)
    assert (shown["created_at"], shown["created_by"]) == ("2023-05-22T07:00:00Z", "desk")
    assert [(n["at"], n["by"]) for n in shown["notes"]] == [("2023-05-23T08:00:00Z", "reporter")]
    [claimant] = [a for a in json.loads(cli("prov", "attributions", LEGION, "--json").stdout)
                  if a["according_to"] == "CNN"]  # fmt: skip
    assert [(h["at"], h["by"]) for h in claimant["history"]] == [
        ("2023-05-24T13:15:30.250000Z", "al")
    ]
    r = cli("check")
    assert r.exit_code == 0, r.stdout
