"""Audit entry times: `VERIFY_FAKE_NOW` pins the clock for tests and demos; it is refused
without `VERIFY_ALLOW_FAKE_NOW=1`, and each entry written under it is marked in its
payload (docs/concepts.md#entry-times)."""

import json

import pytest

from tests.conftest import RunCli
from verify import timeutil
from verify.errors import BadInputError


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


# ------------------------------------------------------------------ the pinned clock


def test_the_pinned_clock_is_refused_without_its_switch(
    cli: RunCli, home: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert cli("case", "open", "Derna", "--slug", "derna").exit_code == 0
    monkeypatch.setenv("VERIFY_FAKE_NOW", "2023-05-25T09:00:00Z")
    monkeypatch.delenv("VERIFY_ALLOW_FAKE_NOW")
    expected = (
        "error: VERIFY_FAKE_NOW is set ('2023-05-25T09:00:00Z'): it pins the clock for tests "
        "and demos, so every change would be recorded at that time instead of when it is "
        "made; unset it (to record when something happened, say so in what you record: a "
        "note's text, an appearance's dates), or for a test or demo archive also set "
        "VERIFY_ALLOW_FAKE_NOW=1 (each audit entry is then marked as written under a pinned "
        "clock)\n"
    )
    for switch in (None, "0", "yes"):  # only 1 allows it
        if switch is not None:
            monkeypatch.setenv("VERIFY_ALLOW_FAKE_NOW", switch)
        r = cli("--as", "UN reviewer", "note", "add", "derna", "Original obtained on 25 May")
        assert (r.exit_code, r.stdout, r.stderr) == (2, "", expected)
    r = cli("case", "list")  # every command: refused before anything is done
    assert (r.exit_code, r.stdout, r.stderr) == (2, "", expected)
    with pytest.raises(BadInputError):
        timeutil.now()  # the library too
    monkeypatch.delenv("VERIFY_FAKE_NOW")
    entries = json.loads(cli("log", "--json").stdout)
    assert [e["action"] for e in entries] == ["case.open"]
    monkeypatch.setenv("VERIFY_FAKE_NOW", "")  # empty: not set
    assert cli("case", "list").exit_code == 0


def test_entries_written_under_the_pinned_clock_are_marked(
    cli: RunCli, home: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The user trial: a note backdated with VERIFY_FAKE_NOW after entries dated by the real
    clock. Allowed, it is marked (and hashed with the mark): the chain still verifies."""
    assert cli("case", "open", "UN report", "--slug", "case").exit_code == 0
    assert cli("note", "add", "case", "first").exit_code == 0
    monkeypatch.setenv("VERIFY_FAKE_NOW", "2023-05-25T09:00:00Z")
    r = cli("--as", "UN reviewer", "note", "add", "case", "Original obtained from witness")
    assert r.exit_code == 0, r.stderr
    monkeypatch.delenv("VERIFY_FAKE_NOW")
    assert cli("note", "add", "case", "later, real clock").exit_code == 0
    entries = json.loads(cli("log", "--json").stdout)
    assert [e["payload"].get("clock") for e in entries] == [None, None, "VERIFY_FAKE_NOW", None]
    assert entries[2]["at"] == "2023-05-25T09:00:00Z"
    assert cli("check").exit_code == 0
