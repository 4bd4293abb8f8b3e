"""Edge inputs found by trying the CLI as a new user: each is one line on stderr with the
documented exit code, and nothing is written."""

import hashlib
import json
from pathlib import Path

import pytest

from tests.conftest import RunCli
from tests.media import write_jpeg


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def case(cli: RunCli) -> str:
    assert cli("case", "open", "C", "--slug", "c").exit_code == 0
    return "c"


def _one_error(stderr: str) -> str:
    lines = stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), stderr
    return lines[0]


def test_media_ids_beyond_any_row_are_not_found(cli: RunCli, case: str) -> None:
    huge = "9" * 20  # does not fit SQLite's integer: was an internal error (exit 1)
    for args in (("media", "show", huge), ("search", huge), ("media", "reanalyse", huge)):
        r = cli(*args)
        assert r.exit_code == 4, (args, r.stderr)
        assert _one_error(r.stderr) == (
            f"error: no media {huge}; `verify media list CASE` shows media ids"
        )


def test_media_of_another_case_is_named_as_such(cli: RunCli, case: str, tmp_path: Path) -> None:
    """Media that exists but is held by another case was "no media 1", as if it did not
    exist: the line now says where it is."""
    assert cli("case", "open", "Other", "--slug", "other").exit_code == 0
    assert cli("media", "add", case, str(write_jpeg(tmp_path / "a.jpg", seed=1))).exit_code == 0
    for args in (
        ("prov", "appearance", "add", "other", "--platform", "x", "--media", "1"),
        ("prov", "attribute", "other", "subtitler", "x:@someone", "--target", "media:1"),
    ):
        r = cli(*args)
        assert r.exit_code == 4, (args, r.stderr)
        assert _one_error(r.stderr) == (
            "error: media 1 is in case c, not in other; `verify media list CASE` shows a "
            "case's media (the same bytes can be added to this case too)"
        )
    assert json.loads(cli("prov", "appearance", "list", "other", "--json").stdout) == []


def test_non_ascii_digits_are_not_a_media_id(cli: RunCli, case: str) -> None:
    r = cli("media", "show", "\uff10\uff11")  # full-width "01"
    assert r.exit_code == 2
    assert _one_error(r.stderr).startswith("error: bad media reference")


def test_empty_home_is_refused(
    cli: RunCli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    r = cli("--home", "", "case", "list")
    assert r.exit_code == 2
    assert _one_error(r.stderr) == "error: --home is empty: give the archive directory"
    assert list(tmp_path.iterdir()) == []  # no archive appeared in the working directory


@pytest.mark.parametrize(
    "args",
    [
        (
            "claim",
            "assess",
            "CASE",
            "99999999999999999999999",
            "--finding",
            "supported",
            "--why",
            "x",
        ),
        ("prov", "attribution", "set", "99999999999999999999999", "--state", "claimed"),
    ],
)
def test_a_number_beyond_any_id_is_one_line(cli: RunCli, case: str, args: tuple[str, ...]) -> None:
    """Beyond signed 64 bits the database driver refuses the number (SQLite: OverflowError;
    PostgreSQL: out of range): one line, exit 2, not an internal error."""
    r = cli(*(case if a == "CASE" else a for a in args))
    assert r.exit_code == 2
    assert _one_error(r.stderr) == (
        "error: a number given is too large for an id (at most 9223372036854775807); check it"
    )


def test_only_the_drivers_overflow_is_a_number_too_large() -> None:
    """Any other overflow (a date beyond year 9999, say) is not the user's number: it
    stays an internal error rather than blaming the command line."""
    from verify.dbread import number_too_large

    assert number_too_large(OverflowError("Python int too large to convert to SQLite INTEGER"))
    assert not number_too_large(OverflowError("date value out of range"))
    assert not number_too_large(ValueError("point out of range for int"))


def test_a_fake_clock_beyond_the_calendar_is_one_line(
    cli: RunCli, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VERIFY_FAKE_NOW", "0001-01-01T00:00:00+01:00")  # before year 1 in UTC
    r = cli("case", "open", "Clock")
    assert r.exit_code == 2
    assert _one_error(r.stderr).startswith("error: VERIFY_FAKE_NOW must be an ISO 8601 date-time")


@pytest.mark.parametrize("value", ["", "  "])
def test_empty_actor_is_refused(
    cli: RunCli, case: str, monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    """`--as ""` names nobody: refused, not replaced by $VERIFY_USER or the login."""
    monkeypatch.setenv("VERIFY_USER", "someone-else")
    before = cli("log", "--json").stdout
    r = cli("--as", value, "note", "add", case, "seen")
    assert r.exit_code == 2
    assert _one_error(r.stderr) == "error: --as is empty: give who is acting (a name or handle)"
    assert cli("log", "--json").stdout == before  # nothing recorded


@pytest.mark.parametrize("value", ["", "  "])
def test_empty_verify_user_is_refused_as_an_empty_as_is(
    cli: RunCli, case: str, monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    """`VERIFY_USER=""` (a variable meant to hold the name, unset) names nobody: it fell
    back to git's user.name, someone else's name on record."""
    before = cli("log", "--json").stdout
    monkeypatch.setenv("VERIFY_USER", value)
    expected = (
        "error: VERIFY_USER is empty: set it to who is acting (a name or handle), or unset it "
        "to record git's user.name or the login"
    )
    for args in (("note", "add", case, "seen"), ("case", "list"), ("search", "1")):
        r = cli(*args)
        assert (r.exit_code, _one_error(r.stderr)) == (2, expected), args
    # --as names who is acting: VERIFY_USER is not used
    assert cli("--as", "bob", "note", "add", case, "seen").exit_code == 0
    monkeypatch.setenv("VERIFY_USER", "tester")
    log = json.loads(cli("log", "--json").stdout)
    assert len(log) == len(json.loads(before)) + 1 and log[-1]["actor"] == "bob"


def test_empty_verify_user_is_refused_by_the_library(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from verify.archive import given_actor, open_archive, resolve_actor
    from verify.errors import BadInputError

    monkeypatch.setenv("VERIFY_USER", "")
    assert given_actor("alice") == "alice"
    for call in (given_actor, resolve_actor, lambda: open_archive(tmp_path / "h")):
        with pytest.raises(BadInputError, match="VERIFY_USER is empty"):
            call()
    monkeypatch.delenv("VERIFY_USER")
    assert given_actor() is None


@pytest.mark.parametrize("value", ["-5", "0", "inf", "nan", "soon"])
def test_bad_timeout_names_the_variable(
    cli: RunCli, case: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    photo = tmp_path / "a.jpg"
    photo.write_bytes(b"\xff\xd8\xff")
    monkeypatch.setenv("VERIFY_ANALYSIS_TIMEOUT", value)
    r = cli("search", str(photo))
    assert r.exit_code == 2
    assert _one_error(r.stderr) == (
        f"error: VERIFY_ANALYSIS_TIMEOUT must be a number of seconds, e.g. 60; got {value!r}"
    )


def test_searching_media_whose_analysis_failed_says_so(
    cli: RunCli, case: str, tmp_path: Path
) -> None:
    text = tmp_path / "text.jpg"
    text.write_text("hello\n")
    added = cli("media", "add", case, str(text), "--json")
    assert added.exit_code == 2
    media = json.loads(added.stdout)[0]["media"]
    r = cli("search", str(media))
    assert r.exit_code == 2 and r.stdout == ""
    assert _one_error(r.stderr).startswith(
        f"error: media {media} has no frame hashes to search with: its analysis failed: "
    )


def test_a_newline_in_a_file_name_stays_on_one_line(cli: RunCli, case: str, tmp_path: Path) -> None:
    name = str(tmp_path / "bad\nname.jpg")
    r = cli("media", "add", case, name)
    assert r.exit_code == 2
    errors = [ln for ln in r.stderr.splitlines() if ln.startswith("error: ")]
    assert errors == [f"error: {tmp_path}/bad?name.jpg: no such file"]


def test_search_reads_a_query_file_as_media_add_does(
    cli: RunCli, case: str, tmp_path: Path
) -> None:
    """One SHA-256 reader for both: regular files only, a symbolic link refused with the
    same line (search followed it, media add refused it)."""
    photo = write_jpeg(tmp_path / "photo.jpg", seed=8)
    link = tmp_path / "link.jpg"
    link.symlink_to(photo)
    refused = [cli(*args, str(link)) for args in (("media", "add", case), ("search",))]
    for r in refused:
        assert r.exit_code == 2 and r.stdout == ""
        assert r.stderr.splitlines()[-1] == (
            f"error: {link}: is a symbolic link; pass the file it points to"
        )
    r = cli("search", str(photo), "--json")
    assert r.exit_code == 0, r.stderr
    assert json.loads(r.stdout)["query"]["sha256"] == f"sha256:{sha256(photo)}"


def test_arguments_the_other_way_round_are_named_as_such(
    cli: RunCli, case: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`media add FILE CASE` and `status set STATUS CASE` said only "bad case reference" or
    "unknown status"; the line now says which comes first."""
    monkeypatch.chdir(tmp_path)
    write_jpeg(tmp_path / "crop5.jpg")
    r = cli("media", "add", "crop5.jpg", case)
    assert r.exit_code == 2
    assert _one_error(r.stderr) == (
        "error: bad case reference 'crop5.jpg': that is a file; the case comes first "
        "(e.g. `verify media add CASE FILE...`)"
    )
    r = cli("status", "set", "in_progress", case)
    assert r.exit_code == 2
    assert _one_error(r.stderr) == (
        f"error: unknown status {case!r}; the case comes first: "
        f"`verify status set {case} in_progress`"
    )
    # a bad reference that is no file, and a status that is no status, are as before
    assert "a slug is 1-80 lowercase" in cli("media", "add", "no-such.jpg", case).stderr
    assert "use one of: unverified" in cli("status", "set", case, "done").stderr
    assert json.loads(cli("media", "list", case, "--json").stdout) == []
