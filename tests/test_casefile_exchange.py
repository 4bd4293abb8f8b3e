"""Case files exchanged back and forth: an export lists, as `earlier`, the states of the case
its archive held at earlier exchanges, so that an archive still in one of them takes the
file's changes as a fast-forward, without --update (docs/case-files.md, "Exchanging a case")."""

import contextlib
import json
import re
import tomllib
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import RunCli
from tests.provhelp import ACQUIRED, add_media, ensure_blob, sha_of
from verify.archive import Archive, open_archive
from verify.errors import BadInputError
from verify.services import casefile, cases, log, logread, provenance, provread, status

SLUG = "round"


def fresh_archive(path: Path, actor: str) -> Archive:
    """Another archive (always SQLite, whatever backend the test's own archive uses)."""
    return open_archive(path, database_url=f"sqlite:///{path / 'verify.db'}", actor=actor)


def export(archive: Archive) -> str:
    """What `verify case export` writes, and records."""
    return casefile.export_case(archive, SLUG, record=True)


def base(text: str) -> str:
    value = tomllib.loads(text)["base"]
    assert isinstance(value, str)
    return value


def earlier(text: str) -> list[str]:
    value = tomllib.loads(text).get("earlier", [])
    assert isinstance(value, list)
    return value


@contextlib.contextmanager
def partner_with(tmp_path: Path, desk_file: str) -> Iterator[Archive]:
    """The partner's archive (a fresh one, user pat) after it imported `desk_file`; closed
    afterwards."""
    partner = fresh_archive(tmp_path / "partner", "pat")
    try:
        casefile.import_case_text(partner, desk_file, "round.toml")
        yield partner
    finally:
        partner.close()


def partner_file(tmp_path: Path, desk_file: str, change: Callable[[Archive], object]) -> str:
    """The partner's export after it imported `desk_file` into a fresh archive and made
    `change` on the command line."""
    with partner_with(tmp_path, desk_file) as partner:
        change(partner)
        return export(partner)


def case_of(archive: Archive) -> dict[str, Any]:
    return cases.show_case(archive, SLUG)


def dated_earlier(archive: Archive, *, urls: bool = False) -> None:
    """The case `SLUG`, opened with an appearance (telegram:@here) and then given, by an
    import, one dated 2020 (x:@earlier, by pat): listed in time order, the later-recorded
    one comes first. `urls`: each with a URL."""
    cases.open_case(archive, "Round", slug=SLUG)
    url = "https://t.me/h/1" if urls else None
    provenance.add_appearance(archive, SLUG, account="telegram:@here", url=url)
    link = 'url = "https://x.com/e/1"\n' if urls else ""
    dated = export(archive) + (
        f'\n[[appearances]]\nplatform = "x"\naccount = "x:@earlier"\n{link}'
        'created_at = "2020-01-01T00:00:00Z"\ncreated_by = "pat"\n'
    )
    casefile.import_case_text(archive, dated, "a.toml")


def test_a_round_trip_applies_each_sides_edits_without_update(
    archive: Archive, tmp_path: Path
) -> None:
    """The desk exports; the partner imports it and retitles the case on the command line,
    then exports: its file lists the desk's exported state as `earlier`, and the desk,
    unchanged since its export, takes the new title without --update. The desk then edits
    the summary; the partner, unchanged since, takes it without --update. Both archives end
    with the same export, byte for byte, `base` and `earlier` included."""
    cases.open_case(archive, "Round", slug=SLUG, claims=["filmed at night"])
    desk_file = export(archive)
    assert earlier(desk_file) == []  # nothing exchanged before
    with partner_with(tmp_path, desk_file) as partner:
        cases.edit_case(partner, SLUG, title="Round trip")
        theirs = export(partner)
        assert earlier(theirs) == [base(desk_file)]
        assert casefile.import_case_text(archive, theirs, "round.toml").changes == 1
        assert case_of(archive)["title"] == "Round trip"
        cases.edit_case(archive, SLUG, summary="the desk's summary")
        ours = export(archive)
        assert earlier(ours) == sorted([base(desk_file), base(theirs)])
        assert casefile.import_case_text(partner, ours, "round.toml").changes == 1
        assert case_of(partner)["summary"] == "the desk's summary"
        assert export(partner) == export(archive) == ours
        for side, older in ((archive, theirs), (partner, desk_file)):
            assert log.check_archive(side).ok
            # the last file again: nothing to do, nothing recorded; an older one is refused
            entries = len(logread.read_log(side))
            assert casefile.import_case_text(side, ours, "round.toml").changes == 0
            with pytest.raises(BadInputError, match="the file is an earlier state of this case"):
                casefile.import_case_text(side, older, "round.toml")
            assert len(logread.read_log(side)) == entries


def test_edits_on_both_sides_merge_against_the_state_both_came_from(
    archive: Archive, tmp_path: Path
) -> None:
    """Each side changed the case after they exchanged it: the desk its summary and a
    claim's assessment, the partner the title, and a note. The desk's import merges the two
    against the state both came from (kept at the desk's export): the partner's title and
    note are taken, the desk's summary and assessment stay, without --update; the partner
    then takes the desk's merged export as a fast-forward, and both export the same file."""
    cases.open_case(archive, "Round", slug=SLUG, summary="first", claims=["filmed at night"])
    desk_file = export(archive)
    with partner_with(tmp_path, desk_file) as partner:
        cases.edit_case(partner, SLUG, title="Round trip")
        cases.add_note(partner, SLUG, "asked the uploader for the original")
        theirs = export(partner)
        cases.edit_case(archive, SLUG, summary="the desk's")
        cases.assess_claim(archive, SLUG, 1, finding="contradicted", why="the sun is up")
        done = casefile.import_case_text(archive, theirs, "round.toml")
        assert done.changes == 2  # the title, the note
        assert done.entries[-1]["payload"]["merged"] == base(desk_file)
        shown = case_of(archive)
        assert (shown["title"], shown["summary"]) == ("Round trip", "the desk's")
        assert shown["claims"][0]["finding"] == "contradicted"
        assert [n["text"] for n in shown["notes"]] == ["asked the uploader for the original"]
        ours = export(archive)
        assert casefile.import_case_text(partner, ours, "round.toml").changes == 2
        assert export(partner) == export(archive)
        for side in (archive, partner):
            assert log.check_archive(side).ok


def test_a_fact_both_sides_changed_differently_is_refused(archive: Archive, tmp_path: Path) -> None:
    """Both retitled the case since the state both came from: the import is refused, naming
    the fact, both values and the one it had; --update takes the file's title, and still
    keeps what only this archive changed (the summary)."""
    cases.open_case(archive, "Round", slug=SLUG, summary="first")
    desk_file = export(archive)
    [exported] = [e for e in logread.read_log(archive) if e["action"] == "case.export"]
    theirs = partner_file(
        tmp_path, desk_file, lambda p: cases.edit_case(p, SLUG, title="Partner's title")
    )
    cases.edit_case(archive, SLUG, title="Desk's title", summary="the desk's")
    entries = len(logread.read_log(archive))
    with pytest.raises(BadInputError) as exc:
        casefile.import_case_text(archive, theirs, "round.toml")
    assert exc.value.message == (
        "round.toml: this archive and the file's each changed the case since the state both "
        f"come from (held here at {exported['at']}, audit seq {exported['seq']}), and both "
        'changed 1 fact differently (case.title: here "Desk\'s title", in the file '
        "\"Partner's title\", both changed from 'Round'): agree which stands (`verify log "
        "round` shows who changed what here); --update takes the file's"
    )
    assert len(logread.read_log(archive)) == entries
    assert casefile.import_case_text(archive, theirs, "round.toml", update=True).changes == 1
    shown = case_of(archive)
    assert (shown["title"], shown["summary"]) == ("Partner's title", "the desk's")


def test_without_a_kept_shared_state_edits_on_both_sides_need_update(
    archive: Archive, tmp_path: Path
) -> None:
    """An export that was not recorded (nor kept) leaves nothing to merge against: an import
    that would change a fact this archive holds is refused, listing the changes, as before
    merging; --update applies them."""
    cases.open_case(archive, "Round", slug=SLUG, summary="first")
    desk_file = casefile.export_case(archive, SLUG)  # not recorded, as on a read-only archive
    theirs = partner_file(
        tmp_path, desk_file, lambda p: cases.edit_case(p, SLUG, title="Round trip")
    )
    cases.edit_case(archive, SLUG, summary="the desk's")
    entries = len(logread.read_log(archive))
    with pytest.raises(BadInputError) as exc:
        casefile.import_case_text(archive, theirs, "round.toml")
    assert exc.value.message.startswith(
        "round.toml: it would change 2 facts this archive holds (case.title 'Round' -> "
        "'Round trip'; case.summary \"the desk's\" -> 'first'), and this archive's case is "
        "no longer the one the file was exported from, nor one it held at an earlier "
        "exchange (it changed after the export, or both archives changed it since they last "
        "exchanged it): "
    )
    assert len(logread.read_log(archive)) == entries
    # one change: the case's title and summary (one `case.edit`)
    assert casefile.import_case_text(archive, theirs, "round.toml", update=True).changes == 1


def test_an_older_file_of_this_case_is_named_as_such(archive: Archive) -> None:
    """A file of a state this archive's case has moved on from (its own earlier export) is
    refused, saying when this archive exported it."""
    cases.open_case(archive, "Round", slug=SLUG)
    old = export(archive)
    [exported] = [e for e in logread.read_log(archive) if e["action"] == "case.export"]
    cases.edit_case(archive, SLUG, title="Renamed")
    with pytest.raises(BadInputError) as exc:
        casefile.import_case_text(archive, old, "old.toml")
    assert (
        "(case.title 'Renamed' -> 'Round'), and the file is an earlier state of this case "
        f"(this archive held it at {exported['at']}: audit seq {exported['seq']}, case.export), "
        "and the case has changed since: " in exc.value.message
    )


def test_a_third_archive_catches_up_through_a_chain_of_exchanges(
    archive: Archive, tmp_path: Path
) -> None:
    """The desk sends its case to two partners; one retitles it and sends it back; the desk
    edits the summary and sends the result to the other, who has not changed anything since
    the first file: a fast-forward, since the file lists the first state among `earlier`
    (the desk learnt the partner's states from its file)."""
    cases.open_case(archive, "Round", slug=SLUG)
    first = export(archive)
    one = fresh_archive(tmp_path / "one", "olga")
    two = fresh_archive(tmp_path / "two", "tom")
    try:
        for partner in (one, two):
            casefile.import_case_text(partner, first, "round.toml")
        cases.edit_case(one, SLUG, title="Retitled")
        casefile.import_case_text(archive, export(one), "round.toml")
        cases.edit_case(archive, SLUG, summary="edited at the desk")
        latest = export(archive)
        assert casefile.import_case_text(two, latest, "round.toml").changes == 1
        assert (case_of(two)["title"], case_of(two)["summary"]) == (
            "Retitled",
            "edited at the desk",
        )
        # and the first partner, whose state the desk's file also lists
        assert casefile.import_case_text(one, latest, "round.toml").changes == 1
        assert export(one) == export(two) == export(archive)
    finally:
        one.close()
        two.close()


def test_a_changing_import_records_the_state_it_left(archive: Archive, tmp_path: Path) -> None:
    """`case.import` {sha256 of the file, base, state, earlier: the file's earlier states this
    archive did not know}: written with the import's changes, never for an import that
    changes nothing; `verify check` passes."""
    cases.open_case(archive, "Round", slug=SLUG)
    first = export(archive)
    cases.edit_case(archive, SLUG, title="Renamed")
    second = export(archive)
    other = fresh_archive(tmp_path / "other", "pat")
    try:
        casefile.import_case_text(other, second, "round.toml")
        [entry] = [e for e in logread.read_log(other) if e["action"] == "case.import"]
        assert entry["case"] == SLUG
        assert entry["payload"] == {
            "sha256": casefile.state_digest(second),
            "base": base(second),
            "state": base(second),  # an import into a fresh archive is the file's state
            "earlier": [base(first)],
            "update": False,
            "merged": None,
            "import": "round.toml",
        }
        entries = len(logread.read_log(other))
        assert casefile.import_case_text(other, second, "round.toml").changes == 0
        assert len(logread.read_log(other)) == entries
        assert log.check_archive(other).ok
        # what the fresh archive knows, its export says
        assert export(other) == second
    finally:
        other.close()


def test_earlier_is_checked_and_means_nothing_without_base(archive: Archive) -> None:
    cases.open_case(archive, "Round", slug=SLUG)
    text = export(archive)
    bad = text.replace(f'base = "{base(text)}"\n', f'base = "{base(text)}"\nearlier = ["x"]\n')
    with pytest.raises(BadInputError) as exc:
        casefile.import_case_text(archive, bad, "bad.toml")
    assert exc.value.message == (
        "bad.toml: earlier: must be a list of sha256:HEX, as `verify case export` writes it"
    )
    # a file whose `base` was removed (made by hand) does not fast-forward, `earlier` or not
    cases.edit_case(archive, SLUG, title="Moved on")
    current = export(archive)
    hand = re.sub(r'(?m)^base = .*\n|^earlier = \[\n(?:  "[^"\n]*",\n)*\]\n', "", current)
    hand = hand.replace('"Moved on"', '"By hand"')
    hand = hand.replace("format = 2\n", f'format = 2\nearlier = ["{base(current)}"]\n')
    with pytest.raises(BadInputError, match="the file has no `base`"):
        casefile.import_case_text(archive, hand, "hand.toml")


def _shell_exchange(
    cli: RunCli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> tuple[tuple[str, str], Path]:
    """From the shell, with two archive homes (SQLite) and `-o` files: the desk opens the
    case and exports it, the partner imports it, retitles it and exports it. Returns the
    desk's `--home` option and the partner's file."""
    monkeypatch.delenv("VERIFY_DATABASE_URL", raising=False)
    desk_file, partner_file = tmp_path / "desk.toml", tmp_path / "partner.toml"
    desk, partner = (("--home", str(tmp_path / side)) for side in ("desk", "partner"))
    assert cli(*desk, "case", "open", "Round", "--slug", SLUG).exit_code == 0
    assert cli(*desk, "case", "export", SLUG, "-o", str(desk_file)).exit_code == 0
    assert cli(*partner, "case", "import", str(desk_file)).exit_code == 0
    assert cli(*partner, "case", "edit", SLUG, "--title", "Round trip").exit_code == 0
    assert cli(*partner, "case", "export", SLUG, "-o", str(partner_file)).exit_code == 0
    return desk, partner_file


def test_the_command_line_round_trip(
    cli: RunCli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    desk, partner_file = _shell_exchange(cli, tmp_path, monkeypatch)
    r = cli(*desk, "case", "import", str(partner_file))
    assert (r.exit_code, r.stderr) == (0, f"updated case {SLUG}: 1 change\n")


def test_a_dry_run_lists_what_the_import_would_record_and_writes_nothing(
    archive: Archive, tmp_path: Path
) -> None:
    """`dry_run`: the same checks, and the audit entries the import would write, exactly
    those a real import then writes; the archive is left as it was."""
    cases.open_case(archive, "Round", slug=SLUG, claims=["filmed at night"])
    desk_file = export(archive)
    with partner_with(tmp_path, desk_file) as partner:
        cases.edit_case(partner, SLUG, title="Round trip")
        cases.assess_claim(partner, SLUG, 1, finding="unproven", why="no shadows to measure")
        theirs = export(partner)
    before, seq = export(archive), len(logread.read_log(archive))
    tried = casefile.import_case_text(archive, theirs, "round.toml", dry_run=True)
    assert [e["action"] for e in tried.entries] == ["case.edit", "claim.edit", "case.import"]
    assert tried.changes == 2
    assert len(logread.read_log(archive)) == seq
    assert casefile.export_case(archive, SLUG) == before
    done = casefile.import_case_text(archive, theirs, "round.toml")
    written = [
        {"action": e["action"], "payload": e["payload"]} for e in logread.read_log(archive)[seq:]
    ]
    assert done.entries == tried.entries == written
    # a file the import refuses is refused by the dry run too, with the same line
    cases.edit_case(archive, SLUG, summary="moved on")
    with pytest.raises(BadInputError, match="the file is an earlier state of this case"):
        casefile.import_case_text(archive, desk_file, "round.toml", dry_run=True)


def test_dry_run_from_the_shell(
    cli: RunCli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("VERIFY_DATABASE_URL", raising=False)
    desk_file, partner_file = tmp_path / "desk.toml", tmp_path / "partner.toml"
    desk, partner = (("--home", str(tmp_path / side)) for side in ("desk", "partner"))
    assert cli(*desk, "case", "open", "Round", "--slug", SLUG).exit_code == 0
    assert cli(*desk, "case", "export", SLUG, "-o", str(desk_file)).exit_code == 0
    r = cli(*partner, "case", "import", str(desk_file), "--dry-run")
    assert r.exit_code == 0
    assert r.stderr == f"would create case {SLUG} (1 records); dry run: nothing written\n"
    assert r.stdout.splitlines()[0] == "case.open    title='Round'"
    assert r.stdout.splitlines()[-1].startswith("case.import  state='sha256:")
    assert cli(*partner, "case", "list", "--json").stdout.strip() == "[]"
    assert cli(*partner, "case", "import", str(desk_file)).exit_code == 0
    assert cli(*partner, "case", "edit", SLUG, "--title", "Round trip").exit_code == 0
    assert cli(*partner, "case", "export", SLUG, "-o", str(partner_file)).exit_code == 0
    r = cli(*desk, "case", "import", str(partner_file), "--dry-run", "--json")
    assert r.exit_code == 0
    assert r.stderr == f"would update case {SLUG}: 1 change; dry run: nothing written\n"
    out = json.loads(r.stdout)
    assert (out["slug"], out["created"], out["changes"], out["dry_run"]) == (SLUG, False, 1, True)
    assert out["entries"][0] == {
        "action": "case.edit",
        "payload": {"title": {"old": "Round", "new": "Round trip"}, "import": "partner.toml"},
    }
    r = cli(*desk, "case", "import", str(partner_file), "--dry-run")
    assert r.stdout.splitlines()[0] == "case.edit    title 'Round' -> 'Round trip'"
    r = cli(*desk, "case", "import", str(partner_file), "--json")
    assert json.loads(r.stdout)["dry_run"] is False
    r = cli(*desk, "case", "import", str(partner_file), "--dry-run")
    assert r.stderr == (f"case {SLUG} is up to date: nothing to change; dry run: nothing written\n")
    assert r.stdout == ""


def test_a_file_this_archive_has_moved_on_from_is_older_even_when_a_change_was_undone(
    archive: Archive, tmp_path: Path
) -> None:
    """The partner retitles the case; the desk takes it, then puts the title back: its case
    is again as it was before the partner's file, a state that file lists as `earlier`. The
    same file imported again is older than the desk's case (the desk held its state before),
    so it is refused, not applied over the desk's undoing."""
    cases.open_case(archive, "Round", slug=SLUG)
    desk_file = export(archive)
    theirs = partner_file(tmp_path, desk_file, lambda p: cases.edit_case(p, SLUG, title="Wrong"))
    assert casefile.import_case_text(archive, theirs, "round.toml").changes == 1
    cases.edit_case(archive, SLUG, title="Round")
    assert base(export(archive)) == base(desk_file)  # the same state as before
    with pytest.raises(BadInputError) as exc:
        casefile.import_case_text(archive, theirs, "round.toml")
    assert exc.value.message.endswith(
        "and the case has changed since: the values listed are older than this archive's; "
        "--update would put them back"
    )
    assert case_of(archive)["title"] == "Round"


def test_details_of_an_account_the_case_did_not_mention_need_update(
    archive: Archive, tmp_path: Path
) -> None:
    """Accounts are shared by an archive's cases, and a case's state holds only those it
    mentions: the partner's file mentioning an account the desk edited for another case
    does not fast-forward over the desk's details; --update applies them."""
    cases.open_case(archive, "Round", slug=SLUG)
    provenance.add_account(archive, "telegram:@grayzone_ch", credibility="reliable so far")
    desk_file = export(archive)
    partner = fresh_archive(tmp_path / "partner", "pat")
    try:
        provenance.add_account(partner, "telegram:@grayzone_ch", credibility="reliable so far")
        casefile.import_case_text(partner, desk_file, "round.toml")
        provenance.add_appearance(partner, SLUG, account="telegram:@grayzone_ch")
        theirs = export(partner)
    finally:
        partner.close()
    provenance.edit_account(
        archive, "telegram:@grayzone_ch", credibility="posted staged footage before"
    )
    with pytest.raises(BadInputError) as exc:
        casefile.import_case_text(archive, theirs, "round.toml")
    assert exc.value.message == (
        "round.toml: it would change 1 detail of accounts this case did not mention "
        "(accounts[telegram:@grayzone_ch].credibility 'posted staged footage before' -> "
        "'reliable so far'); accounts are shared by this archive's cases, and nothing in the "
        "file shows which details are newer: check them (`verify prov account list`), then "
        "import again with --update to apply them"
    )
    done = casefile.import_case_text(archive, theirs, "round.toml", update=True)
    assert done.entries[-1]["payload"]["update"] is True
    with archive.read() as session:
        account = provenance.get_account(session, "telegram:@grayzone_ch")
        assert account.credibility == "reliable so far"


def test_an_import_that_changes_nothing_still_learns_where_the_file_came_from(
    archive: Archive, tmp_path: Path
) -> None:
    """The partner changed the title and changed it back: its export is the desk's state,
    with the state in between among `earlier`. Importing it changes nothing, but the desk
    records the state it did not know (a `case.import` entry), so both export the same file;
    the same file again writes nothing."""
    cases.open_case(archive, "Round", slug=SLUG)
    desk_file = export(archive)
    with partner_with(tmp_path, desk_file) as partner:
        cases.edit_case(partner, SLUG, title="Wrong")
        between = export(partner)
        cases.edit_case(partner, SLUG, title="Round")
        theirs = export(partner)
        assert earlier(theirs) == [base(between)]
        done = casefile.import_case_text(archive, theirs, "round.toml")
        assert done.changes == 0
        assert [e["action"] for e in done.entries] == ["case.import"]
        assert done.entries[0]["payload"]["earlier"] == [base(between)]
        assert export(archive) == export(partner)
        assert casefile.import_case_text(archive, theirs, "round.toml").entries == []


def test_an_older_file_lacking_records_says_it_is_older(archive: Archive) -> None:
    cases.open_case(archive, "Round", slug=SLUG)
    old = export(archive)
    cases.add_note(archive, SLUG, "asked the agency for the original")
    with pytest.raises(BadInputError) as exc:
        casefile.import_case_text(archive, old, "old.toml")
    assert exc.value.message.startswith(
        "old.toml: notes[1]: the file lacks the archive's note 1 (by tester at "
    )
    assert (
        "'asked the agency for the original'); provenance is append-only: the file is an "
        "earlier state of this case (this archive held it at " in exc.value.message
    )
    assert exc.value.message.endswith(
        "and the case has changed since; export the case again and re-apply your edits"
    )


def test_a_merge_keeps_an_undoing_made_since_an_earlier_merge(
    archive: Archive, tmp_path: Path
) -> None:
    """After one merge, the partner undoes the desk's title while the desk edits the
    summary: the next merge is against the state the first one left (the newest both come
    from), so the partner's undoing is taken, not lost against an older state."""
    cases.open_case(archive, "Round", slug=SLUG, summary="first")
    desk_file = export(archive)
    with partner_with(tmp_path, desk_file) as partner:
        cases.add_note(partner, SLUG, "asked the uploader")
        first = export(partner)
        cases.edit_case(archive, SLUG, title="Title by the desk")
        assert casefile.import_case_text(archive, first, "round.toml").entries[-1]["payload"][
            "merged"
        ]
        assert casefile.import_case_text(partner, export(archive), "round.toml").changes == 1
        cases.edit_case(partner, SLUG, title="Round")  # undone
        second = export(partner)
        cases.edit_case(archive, SLUG, summary="the desk's")
        assert casefile.import_case_text(archive, second, "round.toml").changes == 1
        shown = case_of(archive)
        assert (shown["title"], shown["summary"]) == ("Round", "the desk's")
        assert casefile.import_case_text(partner, export(archive), "round.toml").changes == 1
        assert export(partner) == export(archive)


def test_no_merge_against_a_state_whose_text_is_not_kept(archive: Archive, tmp_path: Path) -> None:
    """The newest state both come from is one this archive only learnt of from a file (no
    text kept): merging against an older one could undo what happened between, so the
    import that would change held facts is refused, as without merging."""
    cases.open_case(archive, "Round", slug=SLUG, summary="first")
    start = export(archive)
    p, q = fresh_archive(tmp_path / "p", "pia"), fresh_archive(tmp_path / "q", "quin")
    try:
        for side in (p, q):
            casefile.import_case_text(side, start, "round.toml")
        cases.edit_case(p, SLUG, title="T1 by P")
        p1 = export(p)
        casefile.import_case_text(q, p1, "round.toml")
        cases.edit_case(q, SLUG, title="T by Q")  # Q changes P's title
        assert casefile.import_case_text(archive, export(q), "round.toml").changes == 1
        cases.edit_case(p, SLUG, summary="P's summary")
        p2 = export(p)
        with pytest.raises(BadInputError, match="nor one it held at an earlier exchange"):
            casefile.import_case_text(archive, p2, "round.toml")
        assert case_of(archive)["title"] == "T by Q"
    finally:
        p.close()
        q.close()


def test_an_account_both_sides_added_merges_field_by_field(
    archive: Archive, tmp_path: Path
) -> None:
    """Both archives added the same account since the exchange (each with an appearance
    of it), the desk with details, the partner without: the desk keeps its details (the
    partner changed none), and both appearances."""
    cases.open_case(archive, "Round", slug=SLUG)
    desk_file = export(archive)
    with partner_with(tmp_path, desk_file) as partner:
        provenance.add_appearance(partner, SLUG, account="telegram:@foo")
        theirs = export(partner)
        provenance.add_account(archive, "telegram:@foo", credibility="state-run")
        provenance.add_appearance(archive, SLUG, account="telegram:@foo", url="https://t.me/foo/1")
        assert casefile.import_case_text(archive, theirs, "round.toml").changes == 1
    with archive.read() as session:
        assert provenance.get_account(session, "telegram:@foo").credibility == "state-run"
    assert {(a["url"], a["created_by"]) for a in provread.list_appearances(archive, SLUG)} == {
        (None, "pat"),
        ("https://t.me/foo/1", "tester"),
    }


def test_a_claim_reworded_on_one_side_and_assessed_on_the_other_is_refused(
    archive: Archive, tmp_path: Path
) -> None:
    cases.open_case(archive, "Round", slug=SLUG, claims=["filmed at night"])
    desk_file = export(archive)
    theirs = partner_file(
        tmp_path,
        desk_file,
        lambda p: cases.assess_claim(p, SLUG, 1, finding="supported", why="stars visible"),
    )
    reworded = export(archive).replace('"filmed at night"', '"filmed at dusk"')
    assert casefile.import_case_text(archive, reworded, "mine.toml").changes == 1
    with pytest.raises(BadInputError) as exc:
        casefile.import_case_text(archive, theirs, "round.toml", update=True)
    assert (
        "in 1 way that cannot be merged, with --update either (claims[1]: reworded here "
        "('filmed at dusk') and assessed on the other side, on the old wording): "
        in exc.value.message
    )


def test_a_merge_from_the_shell_says_so(
    cli: RunCli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    desk, partner_file = _shell_exchange(cli, tmp_path, monkeypatch)
    assert cli(*desk, "case", "edit", SLUG, "--summary", "the desk's").exit_code == 0
    r = cli(*desk, "case", "import", str(partner_file), "--dry-run")
    assert r.stderr == (
        f"would update case {SLUG}: 1 change, merged with this archive's changes since the "
        "state both come from; dry run: nothing written\n"
    )
    r = cli(*desk, "case", "import", str(partner_file))
    assert (r.exit_code, r.stderr) == (
        0,
        f"updated case {SLUG}: 1 change, merged with this archive's changes since the state "
        "both come from\n",
    )


def test_notes_both_sides_added_merge_in_time_order(archive: Archive, tmp_path: Path) -> None:
    """After an exchange, the partner adds a note, then the desk does (so the desk's note is
    the later one, though the desk will hold it first): the desk's import keeps both, listed
    by when they were written, and the partner takes the desk's export as a fast-forward;
    both archives then list the same notes and export the same file."""
    cases.open_case(archive, "Round", slug=SLUG)
    cases.add_note(archive, SLUG, "opened from the tip line")
    desk_file = export(archive)
    with partner_with(tmp_path, desk_file) as partner:
        cases.add_note(partner, SLUG, "the partner's: found an older upload")
        theirs = export(partner)
        cases.add_note(archive, SLUG, "the desk's: asked the uploader")
        done = casefile.import_case_text(archive, theirs, "round.toml")
        assert [e["action"] for e in done.entries] == ["note.add", "case.import"]
        assert done.entries[-1]["payload"]["merged"] == base(desk_file)
        journal = [
            "opened from the tip line",
            "the partner's: found an older upload",
            "the desk's: asked the uploader",
        ]
        assert [n["text"] for n in case_of(archive)["notes"]] == journal
        ours = export(archive)
        assert ours.index("found an older upload") < ours.index("asked the uploader")
        assert casefile.import_case_text(partner, ours, "round.toml").changes == 1
        assert [n["text"] for n in case_of(partner)["notes"]] == journal
        assert export(partner) == export(archive)
        for side in (archive, partner):
            assert log.check_archive(side).ok
            assert casefile.import_case_text(side, export(side), "round.toml").changes == 0


def test_a_note_the_file_changed_is_still_refused(archive: Archive) -> None:
    """Notes match by what they are, but a note of the archive's that the file lacks or
    rewords is refused, as before (append-only)."""
    cases.open_case(archive, "Round", slug=SLUG)
    cases.add_note(archive, SLUG, "asked the desk in Kyiv")
    edited = export(archive).replace("asked the desk in Kyiv", "asked the desk in Lviv")
    with pytest.raises(BadInputError, match=r"notes\[1\]: differs from the archive's note"):
        casefile.import_case_text(archive, edited, "round.toml", update=True)


def test_status_set_on_both_sides_is_refused_saying_what_works(
    archive: Archive, tmp_path: Path
) -> None:
    """Both sides set the status after an exchange: the status histories part at one place,
    which no import can merge (--update included); the refusal says so and how to keep the
    file's version: as another case, under another slug, which imports."""
    cases.open_case(archive, "Round", slug=SLUG)
    desk_file = export(archive)
    theirs = partner_file(
        tmp_path, desk_file, lambda p: status.set_status(p, SLUG, "verified", why="geolocated")
    )
    status.set_status(archive, SLUG, "false", why="older upload found")
    for update in (False, True):
        with pytest.raises(BadInputError) as exc:
            casefile.import_case_text(archive, theirs, "round.toml", update=update)
        assert exc.value.message.endswith(
            "in 1 way that cannot be merged, with --update either (status_changes[1]: each "
            "archive added a different one since (this archive's by tester, the file's by "
            "pat)): provenance is append-only, so the two archives' histories of this case "
            "part here; to keep the file's beside this archive's, import it as another case "
            "(change its `slug`)"
        )
    other = theirs.replace(f'slug = "{SLUG}"', 'slug = "round-partner"', 1)
    assert casefile.import_case_text(archive, other, "partner.toml").changes > 0
    assert cases.show_case(archive, "round-partner")["status"] == "verified"
    assert case_of(archive)["status"] == "false"


def test_a_posted_date_both_sides_changed_is_shown_as_the_file_writes_it(
    archive: Archive, tmp_path: Path
) -> None:
    """A conflict on an appearance's `posted` names the values as a case file writes them
    (`~2023-05`), not as instants."""
    cases.open_case(archive, "Round", slug=SLUG)
    provenance.add_appearance(
        archive, SLUG, platform="telegram", account="telegram:@chan", posted="~2023-05"
    )
    desk_file = export(archive)

    def repost(side: Archive) -> None:
        provenance.edit_appearance(side, 1, {"posted": "2023-05-22"}, why="the post's page")

    theirs = partner_file(tmp_path, desk_file, repost)
    provenance.edit_appearance(archive, 1, {"posted": "~2023-05-21"}, why="the archive's copy")
    with pytest.raises(BadInputError) as exc:
        casefile.import_case_text(archive, theirs, "round.toml")
    assert (
        "appearances[1].posted: here '~2023-05-21', in the file '2023-05-22', "
        "both changed from '~2023-05'"
    ) in exc.value.message


def test_an_export_is_recorded_with_its_kept_state_or_not_at_all(
    archive: Archive, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The `case.export` entry and the state kept for a later merge are one transaction: an
    export whose state cannot be kept is not recorded either (it could not be merged with)."""
    cases.open_case(archive, "Round", slug=SLUG)
    entries = len(logread.read_log(archive))

    def fails(*args: object) -> str:
        raise OSError("disk full")

    monkeypatch.setattr(casefile, "keep_state", fails)
    with pytest.raises(OSError, match="disk full"):
        export(archive)
    assert len(logread.read_log(archive)) == entries
    monkeypatch.undo()
    text = export(archive)
    with archive.read() as session:
        assert casefile.kept_state(session, base(text)) is not None
    assert len(logread.read_log(archive)) == entries + 1


def test_a_file_lacking_one_note_names_that_note(archive: Archive) -> None:
    """A file without the archive's first note (of three) names that one, not the last place."""
    cases.open_case(archive, "Round", slug=SLUG)
    for text in ("first note", "second note", "third note"):
        cases.add_note(archive, SLUG, text)
    text = export(archive)
    start = text.index("[[notes]]")
    dropped = text[:start] + text[text.index("[[notes]]", start + 1) :]
    with pytest.raises(BadInputError) as exc:
        casefile.import_case_text(archive, dropped, "x.toml", update=True)
    assert exc.value.message.startswith("x.toml: notes[1]: the file lacks the archive's note 1 (")
    assert "'first note'); provenance is append-only: " in exc.value.message


def test_records_dated_ahead_of_this_clock_are_recorded_with_a_warning(archive: Archive) -> None:
    """A note and a status change dated after this machine's clock (another's runs ahead) are
    recorded as stated, each with a warning line; a note would otherwise sort after every
    note written here until then without a word."""
    cases.open_case(archive, "Round", slug=SLUG)
    text = export(archive).replace(
        "\n# end of case file",
        '\n[[notes]]\ntext = "from the future"\nat = "2099-01-01T00:00:00Z"\nby = "pat"\n'
        "\n# end of case file",
    )
    text = text.replace('status = "unverified"', 'status = "in_progress"', 1)
    text = text.replace(
        "\n[[notes]]",
        '\n[[status_changes]]\nto = "in_progress"\nat = "2099-01-01T00:00:00Z"\nby = "pat"\n'
        "\n[[notes]]",
        1,
    )
    done = casefile.import_case_text(archive, text, "ahead.toml", update=True)
    assert [w.split(": dated")[0] for w in done.warnings] == ["status_changes[1]", "notes[1]"]
    assert all("2099-01-01T00:00:00Z, ahead of this machine's clock" in w for w in done.warnings)
    assert case_of(archive)["notes"][0]["text"] == "from the future"


def _hand_note(text: str, note: str) -> str:
    """`text` (an export) with a note appended by hand: no `at`, no `by`."""
    return text.replace(
        "\n# end of case file", f'\n[[notes]]\ntext = "{note}"\n\n# end of case file'
    )


def test_an_undated_note_never_takes_a_dated_notes_place(archive: Archive) -> None:
    """The archive has the same words twice (two dated notes); a file listing them, and
    before them a hand-written note with those words: the hand-written one is added (the
    importer's, now), and neither dated note is copied."""
    cases.open_case(archive, "Round", slug=SLUG)
    cases.add_note(archive, SLUG, "called back")
    cases.add_note(archive, SLUG, "called back")
    text = export(archive)
    first = text.index("[[notes]]")
    hand = text[:first] + '[[notes]]\ntext = "called back"\n\n' + text[first:]
    done = casefile.import_case_text(archive, hand, "hand.toml", update=True)
    assert [e["action"] for e in done.entries] == ["note.add", "case.import"]
    notes = case_of(archive)["notes"]
    assert [n["text"] for n in notes] == ["called back"] * 3
    assert len({n["at"] for n in notes}) == 3  # the new one is dated now, not a copy


def test_a_hand_written_note_in_a_partners_file_still_merges(
    archive: Archive, tmp_path: Path
) -> None:
    """After an exchange, each side adds a note; the partner also adds one by hand to its
    export. The desk's import merges all three (the hand-written one last, as the
    desk's, now), instead of refusing the file."""
    cases.open_case(archive, "Round", slug=SLUG)
    desk_file = export(archive)
    theirs = partner_file(tmp_path, desk_file, lambda p: cases.add_note(p, SLUG, "pat's"))
    cases.add_note(archive, SLUG, "the desk's")
    done = casefile.import_case_text(archive, _hand_note(theirs, "by hand"), "round.toml")
    assert done.changes == 2
    assert [n["text"] for n in case_of(archive)["notes"]] == ["pat's", "the desk's", "by hand"]


def test_notes_written_at_one_instant_converge(
    archive: Archive, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Notes two archives wrote at the same instant (a pinned clock) are listed alike by
    both after an exchange (by who and what), and both export the same file."""
    cases.open_case(archive, "Round", slug=SLUG)
    desk_file = export(archive)
    monkeypatch.setenv("VERIFY_FAKE_NOW", "2030-01-01T00:00:00Z")
    with partner_with(tmp_path, desk_file) as partner:
        cases.add_note(partner, SLUG, "pat's")
        theirs = export(partner)
        cases.add_note(archive, SLUG, "the desk's")
        casefile.import_case_text(archive, theirs, "round.toml")
        casefile.import_case_text(partner, export(archive), "round.toml")
        assert export(partner) == export(archive)
        assert [n["text"] for n in case_of(partner)["notes"]] == ["pat's", "the desk's"]


def test_an_export_listing_notes_as_recorded_still_applies(archive: Archive) -> None:
    """An export of an earlier version listed notes as recorded, not in time order: where a
    note imported later is dated earlier, its `base` is the case as that version rendered
    it, and an edit of it applies as a fast-forward, not refused as an older file."""
    cases.open_case(archive, "Round", slug=SLUG)
    cases.add_note(archive, SLUG, "written here")
    earlier_note = _hand_note(export(archive), "dated earlier").replace(
        'text = "dated earlier"',
        'text = "dated earlier"\nat = "2020-01-01T00:00:00Z"\nby = "pat"',
    )
    casefile.import_case_text(archive, earlier_note, "n.toml")
    with archive.read() as session:
        case = cases.get_case(session, SLUG)
        as_recorded = casefile.render_case(
            session, case, in_time_order=False, records_by_time=False
        )
        earlier_states = casefile.known_states(session, SLUG)
    assert as_recorded != casefile.as_exported(export(archive))
    old = casefile.with_base(as_recorded, casefile.state_digest(as_recorded), earlier_states)
    edited = old.replace('title = "Round"', 'title = "Round, retitled"', 1)
    assert casefile.import_case_text(archive, edited, "old.toml").changes == 1
    assert case_of(archive)["title"] == "Round, retitled"
    assert [n["text"] for n in case_of(archive)["notes"]] == ["dated earlier", "written here"]


def test_a_reworded_note_names_the_files_note_it_became(archive: Archive) -> None:
    """Counts equal, one note reworded: the refusal shows the archive's note and the file's
    note that is not the archive's (not whichever sits at the same place)."""
    cases.open_case(archive, "Round", slug=SLUG)
    for text in ("alpha", "beta"):
        cases.add_note(archive, SLUG, text)
    edited = export(archive).replace('text = "alpha"', 'text = "alpha, reworded"')
    with pytest.raises(BadInputError) as exc:
        casefile.import_case_text(archive, edited, "x.toml", update=True)
    assert "the archive's by tester at " in exc.value.message
    assert ": 'alpha'; the file's by tester at " in exc.value.message
    assert exc.value.message.endswith(": 'alpha, reworded'")


def test_the_same_note_twice_at_one_instant_is_two_notes_in_a_merge(
    archive: Archive, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Under a pinned clock the partner writes the same note twice (the desk took the first
    already); the desk, which added a note of its own, merges and keeps both copies."""
    monkeypatch.setenv("VERIFY_FAKE_NOW", "2030-01-01T00:00:00Z")
    cases.open_case(archive, "Round", slug=SLUG)
    desk_file = export(archive)
    with partner_with(tmp_path, desk_file) as partner:
        cases.add_note(partner, SLUG, "called back")
        casefile.import_case_text(archive, export(partner), "round.toml")
        cases.add_note(partner, SLUG, "called back")
        theirs = export(partner)
        cases.add_note(archive, SLUG, "the desk's")
        assert casefile.import_case_text(archive, theirs, "round.toml").changes == 1
        texts = [n["text"] for n in case_of(archive)["notes"]]
        assert sorted(texts) == ["called back", "called back", "the desk's"]
        casefile.import_case_text(partner, export(archive), "round.toml")
        assert export(partner) == export(archive)


def test_notes_of_one_instant_are_listed_alike_everywhere(
    cli: RunCli, archive: Archive, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Notes written at one instant go by who and what in `case show` (both read paths),
    reports and case files alike, not by the order they were recorded."""
    monkeypatch.setenv("VERIFY_FAKE_NOW", "2030-01-01T00:00:00Z")
    cases.open_case(archive, "Round", slug=SLUG)
    for text in ("zulu", "Alpha", "alpha"):
        cases.add_note(archive, SLUG, text)
    want = ["Alpha", "alpha", "zulu"]  # code point order
    assert [n["text"] for n in case_of(archive)["notes"]] == want
    shown = json.loads(cli("case", "show", SLUG, "--json").stdout)
    assert [n["text"] for n in shown["notes"]] == want
    report = json.loads(cli("report", SLUG, "--format", "json", "-o", "-").stdout)
    assert [n["text"] for n in report["notes"]] == want
    text = export(archive)
    assert text.index('"Alpha"') < text.index('"alpha"') < text.index('"zulu"')


def _hold(side: Archive, content: bytes, tmp_path: Path) -> None:
    """`side` holds these bytes (in its store, as `media add` leaves them)."""
    path = tmp_path / sha_of(content)
    path.write_bytes(content)
    side.store.put_file(path)
    ensure_blob(side, sha_of(content), size=len(content))


def _log_copy(side: Archive, who: str, hours: int, tmp_path: Path) -> None:
    """`who` logs a copy of the case's original they found: the file (acquired `hours`
    after the original), the post it came from, who posted it, and what it derives from."""
    content = f"{who}'s copy".encode()
    _hold(side, content, tmp_path)
    add_media(
        side,
        SLUG,
        f"{who}.mp4",
        content,
        acquired_by=who,
        acquired_at=ACQUIRED + timedelta(hours=hours),
    )
    copy = f"sha256:{sha_of(content)[:16]}"
    ap = provenance.add_appearance(
        side, SLUG, account=f"telegram:@{who}_found", url=f"https://t.me/{who}/1", media=copy
    )
    provenance.attribute(
        side, SLUG, "reuploader", f"telegram:@{who}_found", target=f"appearance:{ap['id']}"
    )
    provenance.derive(side, copy, f"sha256:{sha_of(b'original')[:16]}", "reencode_of")


def test_provenance_both_sides_added_is_merged_and_numbered_alike(
    archive: Archive, tmp_path: Path
) -> None:
    """After an exchange each desk logs a copy it found (a media file, the post it came
    from, who posted it, what it derives from), the partner first. The desk's import keeps
    both sides' records, numbered by when they were recorded (the partner's first, though
    the desk holds its own first), each reference pointing at its own side's records; the
    partner takes the desk's export as a fast-forward; both export the same file, byte for
    byte, and check clean."""
    cases.open_case(archive, "Round", slug=SLUG)
    _hold(archive, b"original", tmp_path)
    add_media(archive, SLUG, "original.mp4", b"original")
    desk_file = export(archive)
    partner = fresh_archive(tmp_path / "partner", "pat")
    try:
        _hold(partner, b"original", tmp_path)
        casefile.import_case_text(partner, desk_file, "round.toml")
        _log_copy(partner, "pat", 1, tmp_path)
        theirs = export(partner)
        _log_copy(archive, "tester", 2, tmp_path)
        _hold(archive, b"pat's copy", tmp_path)
        done = casefile.import_case_text(archive, theirs, "round.toml")
        assert done.entries[-1]["payload"]["merged"] == base(desk_file)
        # the partner's media, its account, appearance, attribution and derivation
        assert done.changes == 5
        ours = export(archive)
        doc = tomllib.loads(ours)
        assert [m["name"] for m in doc["media"]] == ["original.mp4", "pat.mp4", "tester.mp4"]
        assert [(a["account"], a["media"]) for a in doc["appearances"]] == [
            ("telegram:@pat_found", "media:2"),
            ("telegram:@tester_found", "media:3"),
        ]
        assert [(a["actor"], a["target"]) for a in doc["attributions"]] == [
            ("telegram:@pat_found", "appearance:1"),
            ("telegram:@tester_found", "appearance:2"),
        ]
        assert [(d["child"], d["parent"]) for d in doc["derivations"]] == [
            ("media:2", "media:1"),
            ("media:3", "media:1"),
        ]
        _hold(partner, b"tester's copy", tmp_path)
        assert casefile.import_case_text(partner, ours, "round.toml").changes == 5
        assert export(partner) == export(archive)
        for side in (archive, partner):
            assert log.check_archive(side).ok
            assert casefile.import_case_text(side, export(side), "round.toml").changes == 0
    finally:
        partner.close()


def test_an_export_listing_records_as_recorded_still_applies(archive: Archive) -> None:
    """An export of an earlier version listed appearances (and media, attributions,
    derivations) as recorded, not in time order: where one imported later is dated earlier,
    its `base` is the case as that version rendered it, and an edit of it applies as a
    fast-forward. The case file now lists the earlier one first."""
    dated_earlier(archive)
    with archive.read() as session:
        case = cases.get_case(session, SLUG)
        as_recorded = casefile.render_case(session, case, records_by_time=False)
        earlier_states = casefile.known_states(session, SLUG)
    now = export(archive)
    assert as_recorded != casefile.as_exported(now)
    assert now.index('account = "x:@earlier"') < now.index('account = "telegram:@here"')
    old = casefile.with_base(as_recorded, casefile.state_digest(as_recorded), earlier_states)
    edited = old.replace('title = "Round"', 'title = "Round, retitled"', 1)
    assert casefile.import_case_text(archive, edited, "old.toml").changes == 1
    assert case_of(archive)["title"] == "Round, retitled"
    assert casefile.import_case_text(archive, export(archive), "again.toml").changes == 0


def test_the_same_bytes_acquired_on_both_sides_are_two_acquisitions(
    archive: Archive, tmp_path: Path
) -> None:
    """Both desks were handed the same file after an exchange: two acquisitions (who, when,
    from where) of one content, both kept, each with its own facts; a media record both
    archives already shared is matched by content and acquisition, wherever it is listed."""
    cases.open_case(archive, "Round", slug=SLUG)
    desk_file = export(archive)
    partner = fresh_archive(tmp_path / "partner", "pat")
    try:
        casefile.import_case_text(partner, desk_file, "round.toml")
        _hold(partner, b"handed over", tmp_path)
        add_media(partner, SLUG, "from-a-source.mp4", b"handed over", acquired_by="pat")
        theirs = export(partner)
        _hold(archive, b"handed over", tmp_path)
        later = ACQUIRED + timedelta(days=1)
        add_media(archive, SLUG, "from-the-tip-line.mp4", b"handed over", acquired_at=later)
        assert casefile.import_case_text(archive, theirs, "round.toml").changes == 1
        ours = export(archive)
        assert [(m["name"], m["acquired_by"]) for m in tomllib.loads(ours)["media"]] == [
            ("from-a-source.mp4", "pat"),
            ("from-the-tip-line.mp4", "tester"),
        ]
        assert casefile.import_case_text(partner, ours, "round.toml").changes == 1
        assert export(partner) == ours
        for side in (archive, partner):
            assert log.check_archive(side).ok
    finally:
        partner.close()


def test_provenance_both_sides_changed_differently_is_still_a_conflict(
    archive: Archive, tmp_path: Path
) -> None:
    """Records are merged, facts are not guessed: an appearance's caption both sides changed
    is refused (--update takes the file's), and an attribution whose state both changed
    cannot be merged at all."""
    cases.open_case(archive, "Round", slug=SLUG)
    provenance.add_appearance(archive, SLUG, account="telegram:@chan", caption="first")
    provenance.attribute(archive, SLUG, "original_poster", "telegram:@chan")
    desk_file = export(archive)

    def caption(side: Archive, text: str) -> None:
        [mine] = provread.list_appearances(side, SLUG)
        provenance.edit_appearance(side, mine["id"], {"caption": text}, why="misread")

    def state(side: Archive, to: str) -> None:
        [attr] = provread.list_attributions(side, SLUG)
        provenance.set_attribution_state(side, attr["id"], to, evidence=f"{side.actor} says")

    theirs = partner_file(tmp_path, desk_file, lambda p: caption(p, "partner's"))
    caption(archive, "desk's")
    with pytest.raises(BadInputError, match=r"appearances\[1\]\.caption: here \"desk's\""):
        casefile.import_case_text(archive, theirs, "round.toml")
    casefile.import_case_text(archive, theirs, "round.toml", update=True)
    assert [a["caption"] for a in provread.list_appearances(archive, SLUG)] == ["partner's"]

    desk_file = export(archive)
    theirs = partner_file(tmp_path / "again", desk_file, lambda p: state(p, "refuted"))
    state(archive, "corroborated")
    with pytest.raises(BadInputError, match="cannot be merged") as exc:
        casefile.import_case_text(archive, theirs, "round.toml", update=True)
    assert "attributions[1].state: here 'corroborated', in the file 'refuted'" in exc.value.message


def test_a_report_credits_an_imported_assessment_to_its_assessor(
    archive: Archive, tmp_path: Path
) -> None:
    """The partner assesses a claim; at the desk, which imported it, the report's claims
    say the partner changed it last, when the partner did, not the desk at its import; a
    claim nobody assessed since says who recorded it."""
    from verify.services import report

    cases.open_case(archive, "Round", slug=SLUG, claims=["filmed at night", "in Belgorod"])
    theirs = partner_file(
        tmp_path,
        export(archive),
        lambda p: cases.assess_claim(p, SLUG, 1, finding="contradicted", why="the sun is up"),
    )
    casefile.import_case_text(archive, theirs, "round.toml")
    claims = report.build_report(archive, SLUG)["claims"]
    [assessed] = [h for h in claims[0]["history"] if not h["noted"]]
    assert (claims[0]["changed_by"], claims[0]["changed_at"]) == ("pat", assessed["at"])
    assert claims[0]["updated_by"] == "tester"  # the row: written here, by the import
    assert claims[1]["changed_by"] == "tester"


def test_a_dry_run_line_shows_an_assessment_noted_beside_the_current_one() -> None:
    """An assessment an import records beside the claim's current one (older than it) is
    listed with what it says, and that it does not become current."""
    from verify.cli.cases import _entry_summary

    payload = {
        "n": 2,
        "assessment": {"finding": "unproven", "confidence": None, "rationale": "no geolocation"},
        "stated": {"by": "dasha", "at": "2026-12-07T10:00:00Z"},
        "import": "partner.toml",
    }
    assert _entry_summary(payload) == (
        "n=2 noted, not current: finding='unproven' rationale='no geolocation' "
        "(stated: by dasha at 2026-12-07T10:00:00Z)"
    )
