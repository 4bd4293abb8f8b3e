"""Migration 0005: records stored under another spelling of a platform (`ig`, `yt`, `fb`
before they were aliases; a case file's media platform in any letter case) are moved to the
platform's name, so that the refs the tool reads now reach them; an account that would then
be one with another is left as it was, and `verify check` says so without failing. The audit
trail is left as it was, and `verify check` passes on the upgraded archive.

The archive at 0004 is written by this version with `ig`, `yt` and `fb` unknown, as they
were before they became aliases (0005 changes no column, so the schema is 0004's), then
stamped 0004. SQLite and PostgreSQL alike."""

import importlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from sqlmodel import select

from tests.conftest import RunCli
from tests.media import write_jpeg
from verify import db, vocab
from verify.archive import open_archive, sqlite_url
from verify.dbread import SCHEMA_HEAD
from verify.models import Blob
from verify.services.cases import get_case
from verify.services.intake import Acquisition
from verify.services.media import record_media

OLD_ALIASES = {"twitter": "x", "tg": "telegram", "vkontakte": "vk", "bsky": "bluesky"}


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def ok(r: Any) -> str:
    assert r.exit_code == 0, (r.stdout, r.stderr)
    return str(r.stdout)


def _sql(home: Path, database_url: str | None, statement: str, **params: Any) -> list[Any]:
    engine = db.make_engine(database_url or sqlite_url(home / "verify.db"))
    try:
        with engine.execution_options(verify_write=True).begin() as conn:
            result = conn.execute(text(statement), params)
            return list(result.all()) if result.returns_rows else []
    finally:
        engine.dispose()


def _accounts(cli: RunCli, home: Path, database_url: str | None) -> dict[int, str]:
    """Each account's ref by its id (`prov account list` lists the refs, without ids)."""
    listed = [a["ref"] for a in json.loads(ok(cli("prov", "account", "list", "--json")))]
    rows = _sql(home, database_url, "SELECT id, platform, handle FROM accounts ORDER BY id")
    refs = {ident: f"{platform}:{handle}" for ident, platform, handle in rows}
    assert sorted(listed) == sorted(refs.values())
    return refs


def _check(cli: RunCli) -> tuple[int, list[tuple[str, str]]]:
    r = cli("check", "--json")
    found = json.loads(r.stdout)["findings"]
    return r.exit_code, [(f["category"], f["subject"]) for f in found]


@pytest.fixture
def upgraded(
    cli: RunCli,
    home: Path,
    database_url: str | None,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[dict[str, int]]:
    """An archive written while `ig`, `yt` and `fb` were platforms of their own, at schema
    0004 (the next command upgrades it); the accounts' ids by the ref written."""
    photo = write_jpeg(tmp_path / "photo.jpg")
    with monkeypatch.context() as old:
        old.setattr(vocab, "PLATFORM_ALIASES", OLD_ALIASES)
        ok(cli("case", "open", "Old", "--slug", "old"))
        for ref in ("ig:y", "ig:@x", "instagram:@x", "yt:@chan", "fb:SomePage", "ig:Z",
                    "ig:@z"):  # fmt: skip
            ok(cli("prov", "account", "add", ref))
        ids = {ref: i for i, ref in _accounts(cli, home, database_url).items()}
        ok(cli("prov", "account", "edit", "ig:y", "--name", "Y"))
        ok(cli("media", "add", "old", str(photo), "--platform", "yt"))
        ok(cli("prov", "appearance", "add", "old", "--platform", "ig", "--account", "ig:y"))
        ok(cli("prov", "appearance", "add", "old", "--account", "fb:SomePage"))
        ok(cli("prov", "attribute", "old", "subtitler", "ig:y", "--target", "media:1"))
        ok(cli("prov", "attribute", "old", "original_poster", "ig:@x"))
        ok(cli("prov", "attribute", "old", "claimant", "yt:@chan"))
        # a media record a case file brought in, its platform as the file wrote it
        archive = open_archive(home, database_url=database_url, actor="tester")
        try:
            with archive.write() as session:
                blob = session.exec(select(Blob)).one()
                record_media(
                    session,
                    "tester",
                    get_case(session, "old"),
                    blob,
                    Acquisition(original_name="copy.jpg", platform="Telegram"),
                )
        finally:
            archive.close()
        code, findings = _check(cli)
        assert (code, findings) == (0, [])
    # the schema as it was at 0004: later revisions' tables go
    _sql(home, database_url, "DROP TABLE case_states")
    _sql(home, database_url, "UPDATE alembic_version SET version_num = '0004'")
    yield ids


def test_0005_moves_alias_spellings_to_the_platform_name(
    cli: RunCli, home: Path, database_url: str | None, upgraded: dict[str, int], tmp_path: Path
) -> None:
    ids = upgraded
    accounts = _accounts(cli, home, database_url)  # opens the archive: the upgrade runs
    assert _sql(home, database_url, "SELECT version_num FROM alembic_version") == [(SCHEMA_HEAD,)]
    assert accounts == {
        ids["ig:y"]: "instagram:y",  # the handle as stored: found by any spelling
        ids["ig:@x"]: "ig:@x",  # instagram:@x is another account: not merged
        ids["instagram:@x"]: "instagram:@x",
        ids["yt:@chan"]: "youtube:@chan",
        ids["fb:SomePage"]: "facebook:SomePage",
        ids["ig:Z"]: "ig:Z",  # the two would be one account on instagram: neither moves
        ids["ig:@z"]: "ig:@z",
    }
    appearances = json.loads(ok(cli("prov", "appearance", "list", "old", "--json")))
    assert [(a["platform"], a["account"]) for a in appearances] == [
        ("instagram", "instagram:y"),
        ("facebook", "facebook:SomePage"),
    ]
    media = json.loads(ok(cli("media", "list", "old", "--json")))
    assert [m["platform"] for m in media] == ["youtube", "telegram"]
    attributions = json.loads(ok(cli("prov", "attributions", "old", "--json")))
    assert sorted(a["actor"] for a in attributions) == [
        "ig:@x",
        "instagram:y",
        "youtube:@chan",
    ]

    # the trail is as it was, and agrees with the moved records; the accounts left apart
    # are listed, without failing the check
    code, findings = _check(cli)
    assert (code, findings) == (
        0,
        [
            ("alias", f"account {ids['ig:@x']} (ig:@x)"),
            ("alias", f"account {ids['ig:Z']} (ig:Z)"),
            ("alias", f"account {ids['ig:@z']} (ig:@z)"),
        ],
    )
    r = cli("check")
    assert r.exit_code == 0
    assert (
        f"alias: account {ids['ig:@x']} (ig:@x): stored under 'ig', another name of "
        "instagram: the upgrade to schema 0005 did not move it there, as another account of "
        "the same name is (or would have been) there, and the two are not merged; 'ig:@x' "
        f"names account {ids['instagram:@x']} (instagram:@x) now, and this one keeps its "
        "attributions and appearances\n"
    ) in r.stdout
    assert "'ig:Z' names no account now" in r.stdout

    # the refs read now reach the moved accounts: edited, attributed, not created again
    ok(cli("prov", "account", "edit", "ig:y", "--credibility", "seen before"))
    ok(cli("prov", "account", "edit", "instagram:@y", "--kind", "person"))
    ok(cli("prov", "account", "edit", "yt:@chan", "--kind", "channel"))
    ok(cli("prov", "attribute", "old", "reuploader", "ig:y"))
    ok(cli("prov", "attribute", "old", "reuploader", "fb:@SomePage"))
    assert _accounts(cli, home, database_url) == accounts
    shown = {a["ref"]: a for a in json.loads(ok(cli("prov", "account", "list", "--json")))}
    moved = shown["instagram:y"]
    assert (moved["display_name"], moved["kind"], moved["credibility"]) == (
        "Y",
        "person",
        "seen before",
    )
    assert shown["youtube:@chan"]["kind"] == "channel"
    assert _check(cli) == (0, findings)

    # a report shows the findings; one for a third party withholds those about accounts
    # it does not show
    ok(cli("case", "open", "New", "--slug", "new"))
    for case, redacted in (("old", False), ("new", True)):
        out = tmp_path / f"{case}.json"
        args = ("--redact-other-cases",) if redacted else ()
        ok(cli("report", case, "--format", "json", "-o", str(out), *args))
        check = json.loads(out.read_text())["integrity"]["check"]
        aliases = [f["subject"] for f in check["findings"] if f["category"] == "alias"]
        assert check["ok"]
        assert aliases == (["withheld"] * 3 if redacted else [s for _, s in findings])


def test_0005_moved_records_are_still_held_to_the_trail(
    cli: RunCli, home: Path, database_url: str | None, upgraded: dict[str, int]
) -> None:
    """The recorded spelling or the platform's name now, and nothing else: a record set to
    another spelling behind the tool's back is a difference from the trail."""
    ids = upgraded
    ok(cli("prov", "account", "list"))  # the upgrade
    _sql(home, database_url, "UPDATE accounts SET handle = 'x' WHERE id = :i", i=ids["ig:@x"])
    _sql(home, database_url, "UPDATE accounts SET platform = 'ig' WHERE id = :i",
         i=ids["instagram:@x"])  # fmt: skip
    _sql(home, database_url, "UPDATE media SET platform = 'TELEGRAM' WHERE platform = 'telegram'")
    _sql(
        home,
        database_url,
        "UPDATE appearances SET platform = 'Facebook' WHERE platform = 'facebook'",
    )
    code, findings = _check(cli)
    state = [subject for category, subject in findings if category == "state"]
    assert code == 3
    assert state == [
        "attribution 2 (case old)",  # its actor's handle
        f"account {ids['ig:@x']} (ig:x)",
        f"account {ids['instagram:@x']} (ig:@x)",
        "media 2 (case old)",
        "appearance 2 (case old)",
    ]


def test_0005_knows_the_aliases_of_now() -> None:
    """The migration's copy of the aliases is the vocabulary's: an alias added later needs
    a migration of its own, to move what was stored under it before."""
    migration = importlib.import_module("verify.migrations.versions.0005_platform_names")
    assert migration.ALIASES == vocab.PLATFORM_ALIASES
    assert migration.platform_now(" Instagram ") == "instagram"
    assert migration.platform_now("IG") == "instagram"
    assert migration.platform_now("tiktokk") == "tiktokk"
    assert migration.platform_now("  ") == "  "
