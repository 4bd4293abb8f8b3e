"""`verify prov appearance edit`: correcting a recorded appearance, with its reason on record,
held to the audit trail by `verify check`, carried by case files."""

import json
from pathlib import Path

import pytest
from sqlalchemy import text

from tests.conftest import REPO, RunCli
from tests.provhelp import add_media
from verify.archive import Archive, open_archive
from verify.errors import BadInputError, NotFoundError
from verify.services import casefile, provenance, provread
from verify.services.log import check_archive

EXAMPLE = REPO / "cases" / "belgorod-legion-video.toml"
SLUG = "belgorod-legion-video"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def backend(request: pytest.FixtureRequest) -> str:
    """Every test here runs on SQLite and on PostgreSQL (skipped without a server)."""
    return str(request.param)


def ok(r: object) -> str:
    assert r.exit_code == 0, r.stderr  # type: ignore[attr-defined]
    return r.stdout  # type: ignore[attr-defined,no-any-return]


def entries(cli: RunCli) -> list[dict[str, object]]:
    return list(json.loads(ok(cli("log", "--json"))))


@pytest.fixture
def first(cli: RunCli, archive: Archive) -> dict[str, object]:
    """The example case imported; its first appearance as listed."""
    ok(cli("case", "import", str(EXAMPLE)))
    return provread.list_appearances(archive, SLUG)[0]


def test_an_edit_changes_only_what_is_given_and_records_old_new_and_why(
    cli: RunCli, archive: Archive, first: dict[str, object]
) -> None:
    ap = first["id"]
    r = cli("prov", "appearance", "edit", str(ap), "--posted", "2023-05-22T18:40+03:00",
            "--caption", "Новый текст", "--why", "the post page shows 18:40 Kyiv time")  # fmt: skip
    assert (r.exit_code, r.stdout) == (0, f"{ap}\n"), r.stderr
    assert r.stderr == f"appearance {ap}: changed caption, posted\n"
    [after] = [a for a in provread.list_appearances(archive, SLUG) if a["id"] == ap]
    assert after["posted"] == "2023-05-22T15:40:00Z" and after["posted_precision"] == "exact"
    assert after["caption"] == "Новый текст"
    unchanged = {k for k in first if k not in ("posted", "posted_at", "posted_precision",
                                                "caption")}  # fmt: skip
    assert {k: after[k] for k in unchanged} == {k: first[k] for k in unchanged}
    last = entries(cli)[-1]
    assert last["action"] == "appearance.edit" and last["case"] == SLUG
    payload = last["payload"]
    assert isinstance(payload, dict)
    assert payload["id"] == ap and payload["n"] == 1
    assert payload["why"] == "the post page shows 18:40 Kyiv time"
    assert payload["caption"] == {"old": first["caption"], "new": "Новый текст"}
    assert payload["posted_at"] == {"old": first["posted_at"], "new": "2023-05-22T15:40:00Z"}
    assert set(payload) <= {"id", "n", "why", "caption", "posted_at", "posted_precision"}
    assert not check_archive(archive, objects=[]).findings


def test_clear_account_media_and_json(
    cli: RunCli, archive: Archive, first: dict[str, object]
) -> None:
    ap = str(first["id"])
    media = add_media(archive, SLUG, "clip.mp4", b"clip bytes")
    ok(cli("prov", "appearance", "edit", ap, "--url", "https://x.com/a/status/1", "--post-id",
           "1", "--why", "found the post"))  # fmt: skip
    r = cli("prov", "appearance", "edit", ap, "--account", "telegram:@reposter", "--media",
            str(media), "--clear", "url", "--clear", "post-id", "--why", "a repost", "--json")  # fmt: skip
    data = json.loads(ok(r))
    assert data["account"] == "telegram:@reposter" and data["media"] == media
    assert data["url"] is None and data["post_id"] is None
    assert data["changed"] == ["account", "media", "post_id", "url"]
    assert "notes" not in data and "warnings" not in data
    # the JSON is the listing's, with `changed`
    [listed] = [a for a in provread.list_appearances(archive, SLUG) if a["id"] == first["id"]]
    assert {k: v for k, v in data.items() if k != "changed"} == listed
    ok(cli("prov", "appearance", "edit", ap, "--clear", "posted", "--why", "date unknown"))
    [listed] = [a for a in provread.list_appearances(archive, SLUG) if a["id"] == first["id"]]
    assert listed["posted"] is None and listed["posted_at"] is None
    assert not check_archive(archive, objects=[]).findings


@pytest.mark.parametrize(
    ("args", "code", "says"),
    [
        (["--url", "https://t.me/x/1"], 2, "Missing option '--why'"),
        (["--why", "  ", "--url", "u"], 2, "--why is empty"),
        (["--why", "w"], 2, "nothing to change: give the fields"),
        (["--why", "w", "--clear", "platform"], 2, "needs a platform"),
        (["--why", "w", "--clear", "colour"], 2, "cannot edit an appearance's 'colour'"),
        (["--why", "w", "--url", "u", "--clear", "url"], 2, "url: give a value or --clear"),
        (["--why", "w", "--posted", "yesterday"], 2, "2023-05-23"),
        (["--why", "w", "--media", "999"], 4, "999"),
    ],
)
def test_refusals_change_nothing(
    cli: RunCli, first: dict[str, object], args: list[str], code: int, says: str
) -> None:
    before = entries(cli)
    r = cli("prov", "appearance", "edit", str(first["id"]), *args)
    assert r.exit_code == code, r.stderr
    assert says in r.stderr and r.stdout == ""
    assert len(r.stderr.strip().splitlines()) == 1 or "Usage" in r.stderr
    assert entries(cli) == before


def test_a_repeated_edit_and_an_unknown_id_are_refused(
    archive: Archive, first: dict[str, object]
) -> None:
    ap = int(str(first["id"]))
    provenance.edit_appearance(archive, ap, {"language": "uk"}, why="it is Ukrainian")
    with pytest.raises(BadInputError, match="already has that; nothing to change"):
        provenance.edit_appearance(archive, ap, {"language": "uk"}, why="again")
    with pytest.raises(NotFoundError, match="no appearance 9999"):
        provenance.edit_appearance(archive, 9999, {"language": "uk"}, why="w")
    # the same instant with another precision is a change (of its precision alone)
    posted = str(first["posted"])
    if first["posted_precision"] == "exact":
        day = posted[:10]
        out = provenance.edit_appearance(archive, ap, {"posted": day}, why="only the day")
        assert out["changed"] == ["posted"]


def test_an_unknown_platform_is_noted_and_impossible_dates_warned(
    cli: RunCli, first: dict[str, object]
) -> None:
    r = cli("prov", "appearance", "edit", str(first["id"]), "--platform", "tiktk",
            "--captured", "2001-01-01T00:00Z", "--why", "w")  # fmt: skip
    assert r.exit_code == 0, r.stderr
    assert "note: platform 'tiktk' is not one verify knows (did you mean tiktok?)" in r.stderr
    assert "warning: appearance 1: captured 2001-01-01T00:00:00Z is before posted" in r.stderr


def test_check_holds_an_edited_appearance_to_its_edit(
    cli: RunCli, archive: Archive, home: Path, first: dict[str, object]
) -> None:
    ap = first["id"]
    ok(cli("prov", "appearance", "edit", str(ap), "--url", "https://t.me/right/7",
           "--posted", "~2023-05", "--why", "w"))  # fmt: skip
    assert ok(cli("check")).startswith("ok:")
    intruder = open_archive(home, actor="intruder")
    try:
        with intruder.engine.execution_options(verify_write=True).begin() as conn:
            conn.execute(
                text(f"UPDATE appearances SET url = 'https://t.me/wrong/7' WHERE id = {ap}")
            )
    finally:
        intruder.close()
    r = cli("check")
    assert r.exit_code == 3
    assert f"appearance {ap} (case {SLUG}): url is 'https://t.me/wrong/7'" in r.stdout


def test_a_case_file_carries_the_corrected_appearance(
    cli: RunCli, archive: Archive, tmp_path: Path, first: dict[str, object]
) -> None:
    ok(cli("prov", "appearance", "edit", str(first["id"]), "--posted", "2023-05-21",
           "--why", "w"))  # fmt: skip
    exported = casefile.export_case(archive, SLUG)
    assert 'posted = "2023-05-21"' in exported
    fresh = open_archive(tmp_path / "fresh", actor="partner")
    try:
        casefile.import_case_text(fresh, exported, "x.toml")
        assert casefile.export_case(fresh, SLUG) == exported
        assert not check_archive(fresh, objects=[]).findings
    finally:
        fresh.close()
