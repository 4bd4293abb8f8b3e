"""Audit entry times: neither SQLite nor the client gives a trustworthy clock, so `verify
check` reports entries dated before an entry written earlier (beyond `audit.CLOCK_SKEW`)
and entries written under a pinned clock (`VERIFY_FAKE_NOW`, refused without
`VERIFY_ALLOW_FAKE_NOW=1`, and marked in the entry's payload), as `clock` findings that do
not fail the check (docs/concepts.md#entry-times)."""

import json
from datetime import UTC, datetime, timedelta

import pytest

from tests.conftest import RunCli
from verify import audit, timeutil
from verify.archive import Archive
from verify.errors import BadInputError
from verify.services import cases, log, report
from verify.services.logread import Entry


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def _entries(*times: str, pinned: tuple[int, ...] = ()) -> list[Entry]:
    """Entries 1..n dated `times` (just the fields `clock_findings` reads)."""
    out = []
    for seq, at in enumerate(times, start=1):
        payload = {"n": seq} | ({"clock": "VERIFY_FAKE_NOW"} if seq in pinned else {})
        out.append(Entry(seq, at, "a", "note.add", "c", audit.canonical_json(payload), "", ""))
    return out


def _found(*times: str, pinned: tuple[int, ...] = ()) -> list[tuple[str, str]]:
    return [(f.subject, f.detail) for f in audit.clock_findings(_entries(*times, pinned=pinned))]


# ------------------------------------------------------------------ clock_findings


def test_times_in_order_or_within_the_skew_are_no_finding() -> None:
    assert _found() == []
    assert _found("2026-12-07T10:00:00Z", "2026-12-07T10:00:00Z", "2026-12-08T00:00:00Z") == []
    # a colleague's clock 4 min 59 s behind, on a team archive
    assert _found("2026-12-07T10:05:00Z", "2026-12-07T10:00:01Z", "2026-12-07T10:06:00Z") == []
    # microseconds or not, as `iso` writes them
    assert _found("2026-12-07T10:00:00.5Z", "2026-12-07T10:00:00Z") == []


def test_an_entry_dated_before_an_earlier_one_is_a_finding() -> None:
    found = _found(
        "2026-12-07T09:00:00Z",
        "2026-12-07T10:00:00Z",
        "2023-05-25T09:00:00Z",
        "2026-12-07T10:01:00Z",
    )
    assert found == [
        (
            "seq 3",
            "dated 2023-05-25T09:00:00Z, 1292 days before seq 2 (2026-12-07T10:00:00Z), though "
            "written after it: the clock that dated it was behind or set back "
            "(VERIFY_FAKE_NOW, a wrong system clock), or the one that dated seq 2 was ahead; "
            "the order of the trail is its seq, not its times",
        )
    ]
    assert _found("2026-12-07T10:00:00Z", "2026-12-07T09:54:59Z")[0][1].startswith(
        "dated 2026-12-07T09:54:59Z, 5 min 1 s before seq 1 "
    )
    assert _found("2026-12-07T10:00:00Z", "2026-12-06T06:30:00Z")[0][1].startswith(
        "dated 2026-12-06T06:30:00Z, 27 h 30 min before seq 1 "
    )


def test_each_run_behind_an_entry_is_one_finding() -> None:
    """Drifting back a little at a time is still measured against the latest time so far;
    a clock ahead makes every later entry 'behind' it until time catches up: one finding,
    which names that entry (the trail cannot tell which clock was wrong)."""
    drift = _found(
        "2026-12-07T10:00:00Z",
        "2026-12-07T09:56:00Z",  # within the skew
        "2026-12-07T09:52:00Z",  # 8 min before seq 1
        "2026-12-07T09:48:00Z",
    )
    assert [s for s, _ in drift] == ["seq 3-4"]
    assert drift[0][1].startswith(
        "2 entries dated 2026-12-07T09:48:00Z to 2026-12-07T09:52:00Z, up to 12 min before "
        "seq 1 (2026-12-07T10:00:00Z)"
    )
    ahead = ["2026-12-07T10:00:00Z", "2030-01-01T00:00:00Z"]
    ahead += [f"2026-12-07T1{h}:00:00Z" for h in range(1, 6)]
    assert [s for s, _ in _found(*ahead)] == ["seq 3-7"]
    # two separate backdatings, each named
    apart = _found(
        "2026-12-07T10:00:00Z",
        "2023-01-01T00:00:00Z",
        "2026-12-07T11:00:00Z",
        "2023-01-02T00:00:00Z",
    )
    assert [s for s, _ in apart] == ["seq 2", "seq 4"]
    assert "before seq 3 (2026-12-07T11:00:00Z)" in apart[1][1]


def test_runs_written_under_a_pinned_clock_are_findings() -> None:
    times = [f"2023-05-23T09:0{i}:00Z" for i in range(6)]
    assert _found(*times, pinned=(1, 2, 3, 5)) == [
        (
            "seq 1-3",
            "3 entries written under a pinned clock (VERIFY_FAKE_NOW): their times are what "
            "the clock was set to, not when written",
        ),
        (
            "seq 5",
            "written under a pinned clock (VERIFY_FAKE_NOW): its time is what the clock was "
            "set to, not when written",
        ),
    ]
    # only the payload's own key marks it, not the same words inside a value
    nested = audit.canonical_json({"evidence": {"clock": "VERIFY_FAKE_NOW"}})
    assert not audit.written_under_pinned_clock(nested)
    assert audit.written_under_pinned_clock('{"clock":"VERIFY_FAKE_NOW","n":1}')


def test_an_unreadable_time_is_a_finding() -> None:
    assert _found("2026-12-07T10:00:00Z", "yesterday", "2026-12-07T10:00:01Z") == [
        ("seq 2", "its time 'yesterday' cannot be read")
    ]


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


def test_entries_written_under_the_pinned_clock_are_marked_and_reported(
    cli: RunCli, home: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The user trial: a note backdated with VERIFY_FAKE_NOW after entries dated by the real
    clock. It is marked, reported as written under a pinned clock and as dated before the
    entry before it, and `verify check` still passes (exit 0) with a warning."""
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
    r = cli("check")
    assert r.exit_code == 0, r.stdout
    lines = r.stdout.splitlines()
    assert lines[0] == (
        "clock: seq 3: written under a pinned clock (VERIFY_FAKE_NOW): its time is what the "
        "clock was set to, not when written"
    )
    assert lines[1].startswith("clock: seq 3: dated 2023-05-25T09:00:00Z, ")
    assert f"before seq 2 ({entries[1]['at']}), though written after it: " in lines[1]
    assert lines[2].startswith("ok: 4 audit entries, head sha256:")
    assert r.stderr == (
        "warning: audit entry 3: its time is not when it was written (the clock findings); "
        "the trail is intact, and its order is by seq\n"
    )
    data = json.loads(cli("check", "--json").stdout)
    assert data["ok"] is True
    assert [(f["category"], f["subject"]) for f in data["findings"]] == [
        ("clock", "seq 3"),
        ("clock", "seq 3"),
    ]


def test_a_clock_set_back_is_reported_without_the_pinned_clock(
    archive: Archive, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A machine whose clock is wrong (no VERIFY_FAKE_NOW: nothing marks it) is caught by
    the dates alone; a few minutes of skew between a team's machines is not, on either
    database. The report's check lists it and still passes."""
    clock = [datetime(2026, 12, 7, 10, 0, tzinfo=UTC)]
    monkeypatch.setattr(audit, "now", lambda: clock[0])
    cases.open_case(archive, "Derna", slug="derna")
    clock[0] -= timedelta(minutes=4)  # a colleague's clock, a little behind
    cases.add_note(archive, "derna", "skewed")
    clock[0] -= timedelta(days=2)  # a machine set back two days
    cases.add_note(archive, "derna", "set back")
    result = log.check_archive(archive)
    assert result.ok
    assert [(f.category, f.subject) for f in result.findings] == [("clock", "seq 3")]
    assert result.findings[0].detail.startswith(
        "dated 2026-12-05T09:56:00Z, 2 days before seq 1 (2026-12-07T10:00:00Z), though "
    )
    monkeypatch.setenv("VERIFY_FAKE_NOW", "2026-12-08T00:00:00Z")
    data = report.build_report(archive, "derna")
    assert data["integrity"]["check"]["ok"] is True
    assert [f["subject"] for f in data["integrity"]["check"]["findings"]] == ["seq 3"]


def test_the_timeline_warns_of_what_is_dated_before_the_case_was_opened(
    cli: RunCli, archive: Archive, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A note or status change is recorded in a case once it is open: one dated before the
    opening (beyond the skew) was dated by a wrong or pinned clock, and says so wherever the
    timeline is shown (`verify timeline`, the reports)."""
    monkeypatch.setenv("VERIFY_FAKE_NOW", "2026-12-07T10:00:00Z")
    assert cli("case", "open", "UN report", "--slug", "case").exit_code == 0
    monkeypatch.setenv("VERIFY_FAKE_NOW", "2026-12-07T09:57:00Z")  # within the skew
    assert cli("status", "set", "case", "in_progress").exit_code == 0
    monkeypatch.setenv("VERIFY_FAKE_NOW", "2023-05-25T09:00:00Z")
    assert cli("note", "add", "case", "Original obtained from witness").exit_code == 0
    monkeypatch.setenv("VERIFY_FAKE_NOW", "2026-12-07T10:05:00Z")
    events = json.loads(cli("timeline", "case", "--json").stdout)
    assert [(e["type"], e["warnings"]) for e in events] == [
        (
            "note",
            [
                "dated before the case was opened (2026-12-07T10:00:00Z), though recorded in it "
                "since: the clock that dated it was wrong or pinned (VERIFY_FAKE_NOW); "
                "`verify check` lists such audit entries as clock findings"
            ],
        ),
        ("status.changed", []),
        ("case.opened", []),
    ]
    r = cli("check")
    assert r.exit_code == 0
    assert r.stderr == (
        "warning: audit entries 1-3: their times are not when they were written (the clock "
        "findings); the trail is intact, and its order is by seq\n"
    )
    md = report.generate_report(archive, "case", "md")[1].decode()
    assert "dated before the case was opened (2026-12-07T10:00:00Z)" in md
