"""`verify case list` and `case show` without the ORM (`verify.services.caselist`): the same
data as the ORM's `verify.services.cases.list_cases` and `show_case`, on SQLite (stdlib
sqlite3) and PostgreSQL (SQLAlchemy Core), and no SQLModel import on a SQLite archive."""

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import RunCli, Snapshots, stdlib_reader
from tests.media import write_jpeg
from verify.archive import Archive
from verify.services import caselist, cases, status


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def _fill(archive: Archive, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VERIFY_FAKE_NOW", "2023-05-23T09:00:00Z")  # whole seconds
    cases.open_case(
        archive,
        "Видео «Легиона», Belgorod",
        slug="legion",
        summary="tweeted 23 May\nsaid to be from Telegram",
        claims=["shows the FRL", "filmed in Graivoron"],
    )
    monkeypatch.setenv("VERIFY_FAKE_NOW", "2023-05-23T09:30:00.250001+03:00")  # µs, a zone
    cases.assess_claim(archive, "legion", 2, finding="supported", confidence="medium", why="sign")
    status.set_status(archive, "legion", "in_progress")
    cases.add_note(archive, "legion", "Geolocated: «Графовка» sign, 50.43N 35.55E")
    monkeypatch.delenv("VERIFY_FAKE_NOW")  # the real clock
    cases.add_note(archive, "legion", "second note\nover two lines")
    cases.open_case(archive, "No claims", slug="bare")
    cases.open_case(archive, "Third", slug="third", claims=["c"])


def test_the_same_rows_as_the_orm(archive: Archive, monkeypatch: pytest.MonkeyPatch) -> None:
    assert caselist.list_cases(archive) == []
    _fill(archive, monkeypatch)
    assert caselist.list_cases(archive) == cases.list_cases(archive)
    for state in ("in_progress", "unverified", "verified"):
        got = caselist.list_cases(archive, status=state)
        assert got == cases.list_cases(archive, status=state)
    assert [c["slug"] for c in caselist.list_cases(archive, status="unverified")] == [
        "bare",
        "third",
    ]
    legion = caselist.list_cases(archive)[0]
    assert legion["claims"][1]["updated_at"] == "2023-05-23T06:30:00.250001Z"
    assert legion["created_at"] == "2023-05-23T09:00:00Z"


def test_show_is_the_orms(archive: Archive, monkeypatch: pytest.MonkeyPatch) -> None:
    _fill(archive, monkeypatch)
    for slug in ("legion", "bare", "third"):
        assert caselist.show_case(archive, slug) == cases.show_case(archive, slug)
    legion = caselist.show_case(archive, "legion")
    assert [n["text"] for n in legion["notes"]] == [
        "Geolocated: «Графовка» sign, 50.43N 35.55E",
        "second note\nover two lines",
    ]
    assert legion["notes"][0]["at"] == "2023-05-23T06:30:00.250001Z"
    assert caselist.show_case(archive, "bare")["notes"] == []


def test_status_history_is_the_orms(archive: Archive, monkeypatch: pytest.MonkeyPatch) -> None:
    _fill(archive, monkeypatch)
    status.set_status(archive, "legion", "needs_review", why="geolocation «done»\nby the desk")
    for slug in ("legion", "bare"):
        assert caselist.status_history(archive, slug) == status.status_history(archive, slug)
    assert [(h["from"], h["to"]) for h in caselist.status_history(archive, "legion")] == [
        (None, "unverified"),
        ("unverified", "in_progress"),
        ("in_progress", "needs_review"),
    ]


def test_stdlib_reader_gives_the_same_rows(
    archive: Archive, home: Path, backend: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    _fill(archive, monkeypatch)
    with stdlib_reader(home, backend) as readonly:
        assert caselist.list_cases(readonly) == cases.list_cases(archive)
        assert caselist.show_case(readonly, "legion") == cases.show_case(archive, "legion")
        want = status.status_history(archive, "legion")
        assert caselist.status_history(readonly, "legion") == want


def test_unknown_status_is_one_line(cli: RunCli) -> None:
    r = cli("case", "list", "--status", "done")
    assert (r.exit_code, r.stderr) == (
        2,
        "error: unknown status 'done'; use one of: unverified, in_progress, needs_review, "
        "verified, misattributed, misleading, false, inconclusive\n",
    )


def test_unknown_case_is_one_line(cli: RunCli) -> None:
    assert cli("case", "open", "Legion", "--slug", "legion").exit_code == 0
    r = cli("case", "show", "legoin")  # a close spelling is suggested (the SQL path)
    assert (r.exit_code, r.stdout, r.stderr) == (
        4,
        "",
        "error: no case 'legoin'; did you mean legion?\n",
    )
    r = cli("case", "show", "kherson")
    assert (r.exit_code, r.stdout, r.stderr) == (
        4,
        "",
        "error: no case 'kherson'; `verify case list` shows the cases\n",
    )
    r = cli("case", "show", "Legion!")
    assert r.exit_code == 2
    assert r.stderr.startswith("error: ") and r.stderr.count("\n") == 1


@pytest.mark.parametrize(
    ("command", "field", "expected"),
    [
        (("case", "list", "--json"), "slug", ["imp"]),
        (("case", "show", "imp", "--json"), "slug", ["imp"]),
        (("status", "history", "imp", "--json"), "to", ["unverified"]),
        (("log", "--json"), "action", ["case.open"]),
        (("log", "--head"), None, None),
        (("media", "list", "imp", "--json"), "original_name", ["note.txt", "photo.jpg"]),
        (("media", "show", "1", "--json"), "original_name", ["note.txt"]),
        (("media", "frames", "2", "--json"), "index", [0]),
        (("prov", "derivations", "imp", "--json"), "kind", ["reencode_of"]),
        (("prov", "derivations", "imp"), None, ["ID", "CHILD", "KIND", "PARENT", "EVIDENCE"]),
        (("prov", "attributions", "imp", "--json"), "role", ["original_poster"]),
        (
            ("prov", "attributions", "imp"),
            None,
            ["ID", "ROLE", "ACTOR", "TARGET", "STATE", "ACCORDING", "TO", "EVIDENCE"],
        ),
        (("prov", "appearance", "list", "imp", "--json"), "platform", ["telegram"]),
        (
            ("prov", "appearance", "list", "imp"),
            None,
            ["ID", "PLATFORM", "ACCOUNT", "POSTED", "CAPTURED", "MEDIA", "URL"],
        ),
        (("prov", "earliest", "imp", "--json"), "claimed_original_platforms", [["telegram"]]),
        (("prov", "earliest", "imp"), None, ["earliest:", "appearance", "1", "(imp)"]),
        (
            ("timeline", "imp", "--json"),
            "type",
            [
                "appearance.posted",
                "case.opened",
                "media.acquired",
                "media.acquired",
                "derivation.recorded",
                "attribution.recorded",
            ],
        ),
        (("timeline", "imp"), None, ["WHEN", "WHAT", "SOURCE", "DETAIL"]),
    ],
)
def test_reads_import_no_orm(
    request: pytest.FixtureRequest,
    snapshots: Snapshots,
    backend: str,
    command: tuple[str, ...],
    field: str | None,
    expected: Any,
) -> None:
    """The reads that skip the ORM on a SQLite archive (case list and show, status history,
    log, media list, show and frames, prov derivations, attributions, appearance list and
    earliest, timeline) never import it. `expected`: the JSON rows' `field`, else the first
    line's words (None: a checkpoint)."""
    if backend != "sqlite":
        pytest.skip("the ORM-free read path is for SQLite archives")
    if command[0] == "timeline" or (command[0] == "prov" and command[1] != "derivations"):
        level = 3  # ... and an appearance and an attribution
    elif command[0] == "prov":
        level = 2  # ... and a derivation
    else:
        level = 1 if command[0] == "media" else 0  # ... and media; the case alone
    home = snapshots.restore(request, f"imports-{level}", lambda workdir: _imports(workdir, level))
    env = {**os.environ, "VERIFY_HOME": str(home), "VERIFY_USER": "tester"}
    out = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "verify", *command],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    if field is not None:
        data = json.loads(out.stdout)
        assert [row[field] for row in (data if isinstance(data, list) else [data])] == expected
    elif expected is not None:  # a table, or earliest's lines
        assert out.stdout.splitlines()[0].split() == expected
    else:  # the checkpoint
        assert out.stdout.startswith("1:sha256:")
    imported = {line.rsplit("|", 1)[-1].strip() for line in out.stderr.splitlines()}
    assert not {"sqlmodel", "sqlalchemy", "verify.models", "alembic"} & imported


def _imports(workdir: Path, level: int) -> None:
    """The archive test_reads_import_no_orm reads, made by the CLI in child processes: a case
    (level 0); media, one failing analysis (1), a photo (2) (level 1); a derivation (level 2);
    an appearance and an attribution (level 3)."""
    env = {**os.environ, "VERIFY_USER": "tester"}
    verify = [sys.executable, "-m", "verify"]
    subprocess.run([*verify, "case", "open", "Imports", "--slug", "imp"], env=env, check=True)
    if level >= 1:
        text = workdir / "note.txt"
        text.write_text("not media")
        photo = write_jpeg(workdir / "photo.jpg", size=(64, 48))
        add = [*verify, "media", "add", "imp", str(text), str(photo)]
        subprocess.run(add, env=env, capture_output=True)
    if level >= 2:
        derive = [*verify, "prov", "derive", "2", "1", "--kind", "reencode_of"]
        derive += ["--evidence", '{"frames": {"query": 1}}']  # shown through evidence_value
        subprocess.run(derive, env=env, capture_output=True, check=True)
    if level >= 3:
        prov = [*verify, "prov"]
        appear = [*prov, "appearance", "add", "imp", "--account", "telegram:@chan"]
        appear += ["--posted", "2023-05-22", "--media", "2"]
        subprocess.run(appear, env=env, capture_output=True, check=True)
        attribute = [*prov, "attribute", "imp", "original_poster", "telegram:@chan"]
        subprocess.run(attribute, env=env, capture_output=True, check=True)
