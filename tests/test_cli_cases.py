"""CLI tests for cases, claims, notes and status: exact output and exit codes."""

import json
import unicodedata
from pathlib import Path

import pytest

from tests.conftest import RunCli


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def backend(request: pytest.FixtureRequest) -> str:
    """Every test here runs on SQLite and on PostgreSQL (skipped without a server)."""
    return str(request.param)


TITLE = "Alleged FRL video, Belgorod, May 2023"
SLUG = "alleged-frl-video-belgorod-may-2023"


def open_case(cli: RunCli) -> str:
    r = cli("case", "open", TITLE, "--claim", "shows the FRL", "--claim", "filmed in Belgorod")
    assert r.exit_code == 0, r.stderr
    return r.stdout.strip()


def test_open_prints_slug_alone(cli: RunCli) -> None:
    r = cli("case", "open", TITLE, "--claim", "shows the FRL")
    assert r.exit_code == 0
    assert r.stdout == SLUG + "\n"
    assert r.stderr == ""


def test_second_case_with_same_title_gets_suffix(cli: RunCli) -> None:
    open_case(cli)
    r = cli("case", "open", TITLE)
    assert r.stdout == SLUG + "-2\n"
    # opened all the same, but said: it may be the same case opened twice
    assert r.stderr == f"note: case '{SLUG}' already has this title; this one is '{SLUG}-2'\n"


def test_a_title_already_held_is_noted_whatever_its_letter_case(cli: RunCli) -> None:
    cli("case", "open", "Bridge damage photo")
    r = cli("case", "open", "  BRIDGE damage PHOTO ", "--slug", "bridge")
    assert (r.exit_code, r.stdout, r.stderr) == (
        0,
        "bridge\n",
        "note: case 'bridge-damage-photo' already has this title; this one is 'bridge'\n",
    )
    r = cli("case", "open", "bridge damage photo")
    assert (r.stdout, r.stderr) == (
        "bridge-damage-photo-2\n",
        "note: cases 'bridge-damage-photo', 'bridge' already have this title; this one is "
        "'bridge-damage-photo-2'\n",
    )
    r = cli("case", "open", "Мост")  # beyond A-Z too (SQLite's lower() folds only A-Z)
    r = cli("case", "open", "МОСТ")
    assert r.stderr == "note: case 'most' already has this title; this one is 'most-2'\n"
    r = cli("case", "open", "Bridge damage")  # another title: nothing to say
    assert (r.stdout, r.stderr) == ("bridge-damage\n", "")


def test_cyrillic_titles_are_romanised_in_the_slug(cli: RunCli) -> None:
    """Russian and Ukrainian titles give readable slugs (they all gave "case", "case-2")."""
    r = cli("case", "open", "Видео Легиона «Свобода России», Белгород, май 2023")
    assert (r.stdout, r.stderr) == ("video-legiona-svoboda-rossii-belgorod-may-2023\n", "")
    r = cli("case", "open", "Відео з Бєлгорода: їжак, щука")
    assert r.stdout == "video-z-byelgoroda-yizhak-shchuka\n"


def test_latin_letters_without_a_base_and_greek_are_romanised(cli: RunCli) -> None:
    """ "Łódź" gave "odz": Ł has no decomposition, so the ASCII step dropped it."""
    assert cli("case", "open", "Łódź, Øresund, Straße").stdout == "lodz-oresund-strasse\n"
    assert cli("case", "open", "Πυρκαγιά στη Ρόδο").stdout == "pyrkagia-sti-rodo\n"
    assert cli("case", "open", "Ἀθῆναι ῥήτωρ, Ουκρανία").stdout == "athinai-ritor-oukrania\n"
    assert cli("case", "open", "µ ﬁle ＡＢ").stdout == "m-file-ab\n"  # compatibility forms
    decomposed = unicodedata.normalize("NFD", "Бєлгород, май")  # as some systems send it
    assert cli("case", "open", decomposed).stdout == "byelgorod-may\n"


def test_other_scripts_are_spelt_letter_by_letter_with_a_note(cli: RunCli) -> None:
    """Arabic, Japanese, Hebrew, Thai, Devanagari titles all gave "case", "case-2", ...; they
    are now transliterated letter by letter (anyascii), and stderr says how to choose a
    readable reference."""
    r = cli("case", "open", "فيديو من غزة")
    assert (r.exit_code, r.stdout) == (0, "fydyw-mn-ghzh\n")
    assert r.stderr == (
        "note: the reference 'fydyw-mn-ghzh' spells the title letter by letter; "
        "`verify case open ... --slug NAME` chooses a readable one\n"
    )
    assert cli("case", "open", "ベルゴロド 2023").stdout == "berugorodo-2023\n"
    assert cli("case", "open", "서울 시위").stdout == "seoul-siwi\n"
    assert cli("case", "open", "กรุงเทพ").stdout == "krungethph\n"  # vowel signs kept
    assert cli("case", "open", "दिल्ली में विरोध").stdout == "dilli-mem-virodh\n"
    assert cli("case", "open", "ירושלים").stdout == "yrvslym\n"
    assert cli("case", "open", "ベルゴロド", "--slug", "belgorod-jp").stderr == ""
    # romanised scripts need no note
    assert cli("case", "open", "Белгород").stderr == ""


def test_symbols_and_emoji_are_dropped_and_a_title_of_none_suggests_a_slug(cli: RunCli) -> None:
    """anyascii would spell "🔥" as ":fire:"; symbols are separators. A title with nothing
    left gives "case" and a note; a title that is the word "Case" gives "case" and none."""
    assert cli("case", "open", "Fire 🔥 in Kyiv").stdout == "fire-in-kyiv\n"
    r = cli("case", "open", "🔥 🔥")
    assert (r.exit_code, r.stdout) == (0, "case\n")
    assert r.stderr == (
        "note: the title has no letters a reference can be made from, so the case is 'case'; "
        "`verify case open ... --slug NAME` chooses one\n"
    )
    r = cli("case", "open", "Case")
    assert (r.stdout, r.stderr) == ("case-2\n", "")


def test_explicit_slug_and_duplicate(cli: RunCli) -> None:
    assert cli("case", "open", "x", "--slug", "rvc-signs").stdout == "rvc-signs\n"
    r = cli("case", "open", "y", "--slug", "rvc-signs")
    assert r.exit_code == 2
    assert r.stderr == "error: a case 'rvc-signs' already exists; choose another --slug\n"


def test_list_json_shape(cli: RunCli) -> None:
    open_case(cli)
    r = cli("case", "list", "--json")
    assert r.exit_code == 0
    rows = json.loads(r.stdout)
    assert [c["slug"] for c in rows] == [SLUG]
    case = rows[0]
    assert set(case) == {
        "slug",
        "title",
        "summary",
        "status",
        "claims",
        "created_at",
        "created_by",
        "updated_at",
        "updated_by",
    }
    assert case["status"] == "unverified"
    assert case["created_by"] == "tester"
    assert [c["text"] for c in case["claims"]] == ["shows the FRL", "filmed in Belgorod"]
    assert case["claims"][0] == {
        "n": 1,
        "text": "shows the FRL",
        "finding": "unassessed",
        "confidence": None,
        "rationale": "",
        "updated_at": case["created_at"],
        "updated_by": "tester",
    }


def test_list_human_and_filter(cli: RunCli) -> None:
    open_case(cli)
    out = cli("case", "list").stdout.splitlines()
    assert out[0].split() == ["CASE", "STATUS", "CLAIMS", "UPDATED", "TITLE"]
    assert out[1].startswith(SLUG + "  unverified  2 ")
    assert out[1].endswith(TITLE)
    assert cli("case", "list", "--status", "verified", "--json").stdout == "[]\n"
    r = cli("case", "list", "--status", "nope")
    assert r.exit_code == 2
    assert r.stderr.startswith("error: unknown status 'nope'; use one of: unverified, ")


def test_empty_list_says_so_on_stderr(cli: RunCli) -> None:
    r = cli("case", "list")
    assert r.exit_code == 0
    assert r.stdout == ""
    assert "no cases yet" in r.stderr
    open_case(cli)
    r = cli("case", "list", "--status", "in_progress")
    assert (r.exit_code, r.stdout) == (0, "")
    assert r.stderr == "no case has status in_progress; `verify case list` lists them all\n"


def test_status_workflow_and_history(cli: RunCli) -> None:
    open_case(cli)
    assert cli("status", "set", SLUG, "in_progress").stdout == "in_progress\n"
    r = cli("status", "set", SLUG, "misattributed")
    assert r.exit_code == 2
    assert r.stderr == "error: the verdict misattributed needs a rationale: add --why TEXT\n"
    r = cli("status", "set", SLUG, "misattributed", "--why", "earliest copy is older")
    assert r.stdout == "misattributed\n"
    r = cli("status", "set", SLUG, "in_progress")
    assert r.exit_code == 2
    assert "reopening case" in r.stderr and "--why" in r.stderr
    r = cli("status", "set", SLUG, "verified", "--why", "x")
    assert r.exit_code == 2
    assert r.stderr == (
        f"error: case '{SLUG}' cannot go from misattributed to verified; "
        "allowed: in_progress, needs_review\n"
    )
    assert cli("status", "set", SLUG, "needs_review", "--why", "new copy").exit_code == 0
    # the same status again (two people racing to it, say): who set it and when
    r = cli("status", "set", SLUG, "needs_review", "--why", "new copy")
    assert r.exit_code == 2
    assert r.stderr.startswith(f"error: case '{SLUG}' is already needs_review (set by ")
    assert r.stderr.endswith("Z)\n")
    hist = json.loads(cli("status", "history", SLUG, "--json").stdout)
    assert [(h["from"], h["to"]) for h in hist] == [
        (None, "unverified"),
        ("unverified", "in_progress"),
        ("in_progress", "misattributed"),
        ("misattributed", "needs_review"),
    ]
    assert hist[2]["why"] == "earliest copy is older"
    assert all(h["by"] == "tester" for h in hist)


def test_unknown_status_names_allowed(cli: RunCli) -> None:
    open_case(cli)
    r = cli("status", "set", SLUG, "done")
    assert r.exit_code == 2
    assert r.stderr == (
        "error: unknown status 'done'; use one of: unverified, in_progress, "
        "needs_review, verified, misattributed, misleading, false, "
        "inconclusive\n"
    )


def test_claims_and_notes(cli: RunCli) -> None:
    open_case(cli)
    assert cli("claim", "add", SLUG, "subtitles by @Gerashchenko_en").stdout == "3\n"
    r = cli("claim", "assess", SLUG, "2", "--finding", "supported")
    assert r.exit_code == 2 and "needs a rationale" in r.stderr
    # a claim that does not exist is said first, with or without a rationale
    for why in ([], ["--why", "x"]):
        r = cli("claim", "assess", SLUG, "9", "--finding", "supported", *why)
        assert (r.exit_code, r.stderr) == (
            4,
            f"error: case '{SLUG}' has no claim 9; `verify case show {SLUG}` lists its claims\n",
        )
    r = cli(
        "claim",
        "assess",
        SLUG,
        "2",
        "--finding",
        "supported",
        "--confidence",
        "medium",
        "--why",
        "sign geolocated",
    )
    assert r.exit_code == 0 and r.stdout == "2\n"
    r = cli("claim", "assess", SLUG, "9", "--confidence", "low")
    assert r.exit_code == 4
    assert cli("note", "add", SLUG, "asked the desk").stdout == "1\n"
    shown = json.loads(cli("case", "show", SLUG, "--json").stdout)
    assert shown["claims"][1]["finding"] == "supported"
    assert shown["claims"][1]["confidence"] == "medium"
    assert shown["notes"][0]["text"] == "asked the desk"
    human = cli("case", "show", SLUG).stdout
    assert "  2. filmed in Belgorod  [supported, medium confidence]" in human


def assess(cli: RunCli, n: int, *args: str, actor: str = "tester") -> tuple[int, str]:
    r = cli("--as", actor, "claim", "assess", SLUG, str(n), *args)
    return r.exit_code, r.stderr


def claim(cli: RunCli, n: int) -> tuple[str, str | None, str, str]:
    shown = json.loads(cli("case", "show", SLUG, "--json").stdout)["claims"][n - 1]
    return shown["finding"], shown["confidence"], shown["rationale"], shown["updated_by"]


def test_a_new_finding_is_a_whole_assessment(cli: RunCli) -> None:
    """A new finding does not inherit the last assessor's confidence and rationale;
    `unassessed` clears both; without --finding, --confidence/--why amend the current one."""
    open_case(cli)
    assert assess(cli, 2, "--finding", "supported", "--confidence", "high", "--why", "bob's",
                  actor="bob") == (0, "")  # fmt: skip
    assert assess(cli, 2, "--finding", "contradicted", "--why", "carol's", actor="carol") == (0, "")
    assert claim(cli, 2) == ("contradicted", None, "carol's", "carol")
    assert "  2. filmed in Belgorod  [contradicted]" in cli("case", "show", SLUG).stdout
    # amendments keep the finding and what is not given
    assert assess(cli, 2, "--confidence", "medium") == (0, "")
    assert claim(cli, 2) == ("contradicted", "medium", "carol's", "tester")
    assert assess(cli, 2, "--why", "carol's, and the church") == (0, "")
    assert claim(cli, 2) == ("contradicted", "medium", "carol's, and the church", "tester")
    assert assess(cli, 2, "--confidence", "none") == (0, "")  # a confidence can be removed
    assert claim(cli, 2) == ("contradicted", None, "carol's, and the church", "tester")
    # the same finding given again is a new assessment too: the confidence not given is none
    assert assess(cli, 2, "--finding", "contradicted", "--confidence", "low", "--why", "w") == (
        0,
        "",
    )
    assert assess(cli, 2, "--finding", "contradicted", "--why", "w") == (0, "")
    assert claim(cli, 2)[:3] == ("contradicted", None, "w")
    # unassessed clears the confidence and the rationale, and takes neither
    assert assess(cli, 2, "--finding", "unassessed", "--why", "wrong clip") == (
        2,
        "error: --finding unassessed clears the confidence and the rationale: leave out "
        "--confidence and --why (`verify note add` can say why)\n",
    )
    assert assess(cli, 2, "--confidence", "high") == (0, "")
    assert assess(cli, 2, "--finding", "unassessed") == (0, "")
    assert claim(cli, 2)[:3] == ("unassessed", None, "")
    code, err = assess(cli, 2, "--confidence", "high")
    assert (code, err) == (
        2,
        f"error: claim 2 of case '{SLUG}' is unassessed, so there is no assessment to amend: "
        "give --finding and --why\n",
    )
    assert assess(cli, 1, "--confidence", "") == (
        2,
        "error: unknown confidence ''; use one of: low, medium, high, none\n",
    )
    log = json.loads(cli("log", SLUG, "--json").stdout)
    assert [e["payload"] for e in log if e["action"] == "claim.assess"][:2] == [
        {
            "n": 2,
            "finding": {"old": "unassessed", "new": "supported"},
            "confidence": {"old": None, "new": "high"},
            "rationale": {"old": "", "new": "bob's"},
        },
        {
            "n": 2,
            "finding": {"old": "supported", "new": "contradicted"},
            "confidence": {"old": "high", "new": None},
            "rationale": {"old": "bob's", "new": "carol's"},
        },
    ]
    assert log[-1]["payload"] == {
        "n": 2,
        "finding": {"old": "contradicted", "new": "unassessed"},
        "confidence": {"old": "high", "new": None},
        "rationale": {"old": "w", "new": ""},
    }
    assert cli("check").exit_code == 0


def test_repeating_an_assessment_is_refused(cli: RunCli, monkeypatch: pytest.MonkeyPatch) -> None:
    """Like `status set` to the current status: one line, exit 2, nothing recorded."""
    monkeypatch.setenv("VERIFY_FAKE_NOW", "2023-05-23T09:00:00Z")
    open_case(cli)
    args = ("--finding", "contradicted", "--confidence", "high", "--why", "carol's reason")
    assert assess(cli, 2, *args, actor="carol") == (0, "")
    before = cli("log", "--json").stdout
    for again in (args, ("--confidence", "high"), ("--why", " carol's reason ")):
        assert assess(cli, 2, *again) == (
            2,
            f"error: claim 2 of case '{SLUG}' is already contradicted (high confidence) with "
            'the rationale "carol\'s reason" (last changed by carol at '
            "2023-05-23T09:00:00Z); nothing to change\n",
        ), again
    assert assess(cli, 1, "--finding", "unassessed")[1] == (
        f"error: claim 1 of case '{SLUG}' is already unassessed (last changed by tester at "
        "2023-05-23T09:00:00Z); nothing to change\n"
    )
    assert cli("log", "--json").stdout == before


def test_edit_records_old_and_new(cli: RunCli) -> None:
    open_case(cli)
    assert cli("case", "edit", SLUG, "--summary", "tweeted 23 May").exit_code == 0
    log = json.loads(cli("log", SLUG, "--json").stdout)
    assert log[-1]["action"] == "case.edit"
    assert log[-1]["payload"] == {"summary": {"old": "", "new": "tweeted 23 May"}}


def test_bad_input_one_line_right_code(cli: RunCli, home: object) -> None:
    cases = [
        (
            ("case", "show", "nope"),
            4,
            "error: no case 'nope'; `verify case list` shows the cases\n",
        ),
        (("case", "show", "Bad Slug"), 2, None),
        (("case", "open", "   "), 2, "error: a case needs a non-empty title\n"),
        (("status", "set", "nope", "in_progress"), 4, None),
    ]
    for args, code, message in cases:
        r = cli(*args)
        assert r.exit_code == code, args
        assert r.stdout == ""
        assert r.stderr.count("\n") == 1 and r.stderr.startswith("error: ")
        if message:
            assert r.stderr == message
    # nothing was written by the failures
    assert json.loads(cli("log", "--json").stdout) == []


def test_open_and_note_add_print_what_they_made_with_json(cli: RunCli) -> None:
    """As `case show --json` gives the case and lists the note; the plain output is the slug
    and the note id alone, as before."""
    r = cli("case", "open", TITLE, "--claim", "shows the FRL", "--summary", "s", "--json")
    assert (r.exit_code, r.stderr) == (0, "")
    opened = json.loads(r.stdout)
    assert opened == json.loads(cli("case", "show", SLUG, "--json").stdout)
    assert (opened["slug"], opened["notes"], opened["claims"][0]["text"]) == (
        SLUG,
        [],
        "shows the FRL",
    )
    r = cli("case", "open", TITLE, "--json")  # the note on stderr, never in the JSON
    assert json.loads(r.stdout)["slug"] == SLUG + "-2"
    assert r.stderr == f"note: case '{SLUG}' already has this title; this one is '{SLUG}-2'\n"
    r = cli("note", "add", SLUG, "asked the desk", "--json")
    assert (r.exit_code, r.stderr) == (0, "")
    note = json.loads(r.stdout)
    assert [note] == json.loads(cli("case", "show", SLUG, "--json").stdout)["notes"]
    assert (note["id"], note["text"], note["by"]) == (1, "asked the desk", "tester")
    assert cli("note", "add", SLUG, "second").stdout == "2\n"


DRONE = "drone-strike-kherson-2024"


def test_a_case_not_found_suggests_close_slugs(cli: RunCli) -> None:
    """Every command taking a case reference, on both reading paths (the ORM and plain SQL):
    the one slug the reference begins, else up to three close spellings."""
    assert cli("case", "open", "Drone strike, Kherson 2024").stdout == DRONE + "\n"
    cli("case", "open", "Bridge damage photo")
    cli("case", "open", "Bridge damage photo")
    meant = f"error: no case 'drone-strike'; did you mean {DRONE}?\n"
    for args in [
        ("case", "show", "drone-strike"),
        ("case", "edit", "drone-strike", "--title", "t"),
        ("status", "set", "drone-strike", "in_progress"),
        ("note", "add", "drone-strike", "text"),
        ("log", "drone-strike"),
        ("media", "list", "drone-strike"),
        ("prov", "attributions", "drone-strike"),
        ("prov", "derivations", "drone-strike"),
        ("dupes", "--case", "drone-strike"),
    ]:
        r = cli(*args)
        assert (r.exit_code, r.stdout, r.stderr) == (4, "", meant), args
    r = cli("case", "show", "drone-strke-kherson-2024")
    assert r.stderr == f"error: no case 'drone-strke-kherson-2024'; did you mean {DRONE}?\n"
    r = cli("case", "show", "bridge-damage-foto")
    assert r.stderr == (
        "error: no case 'bridge-damage-foto'; did you mean bridge-damage-photo or "
        "bridge-damage-photo-2?\n"
    )
    r = cli("case", "show", "unrelated")  # nothing close: where to look
    assert r.stderr == "error: no case 'unrelated'; `verify case list` shows the cases\n"


def test_a_case_reference_in_capitals_names_the_lowercase_slug(cli: RunCli, tmp_path: Path) -> None:
    """Slugs are lowercase: `Drone-Strike-Kherson-2024` was a bad case reference."""
    from tests.media import write_jpeg

    cli("case", "open", "Drone strike, Kherson 2024")
    upper = "Drone-Strike-Kherson-2024"
    assert json.loads(cli("case", "show", upper, "--json").stdout)["slug"] == DRONE
    assert cli("status", "set", upper, "in_progress").exit_code == 0
    assert cli("note", "add", upper.upper(), "seen").exit_code == 0
    photo = write_jpeg(tmp_path / "photo.jpg")
    r = cli("media", "add", upper, str(photo))
    assert r.exit_code == 0, r.stderr
    # recorded under the case's slug, so the case's log has every entry
    log = json.loads(cli("log", upper, "--json").stdout)
    assert [(e["action"], e["case"]) for e in log] == [
        ("case.open", DRONE),
        ("status.set", DRONE),
        ("note.add", DRONE),
        ("media.add", DRONE),
    ]
    assert [m["id"] for m in json.loads(cli("media", "list", upper, "--json").stdout)] == [1]
    assert cli("check").exit_code == 0
    # a new slug is still given as it is stored
    r = cli("case", "open", "t", "--slug", "UPPER")
    assert r.exit_code == 2


def test_unwritable_home(cli: RunCli, tmp_path: object) -> None:
    r = cli("--home", "/proc/verify-cannot-exist", "case", "list")
    assert r.exit_code == 2
    assert r.stderr.startswith("error: cannot create the archive at /proc/verify-cannot-exist")


def test_log_and_check(cli: RunCli) -> None:
    open_case(cli)
    cli("status", "set", SLUG, "in_progress")
    entries = json.loads(cli("log", "--json").stdout)
    assert [e["action"] for e in entries] == ["case.open", "status.set"]
    assert entries[1]["prev_hash"] == entries[0]["hash"]
    head = cli("log", "--head").stdout.strip()
    assert head == f"2:{entries[1]['hash']}"
    r = cli("check")
    assert r.exit_code == 0
    assert r.stdout.startswith("ok: 2 audit entries")
    assert cli("check", "--against", head).exit_code == 0


def test_a_new_archive_is_announced_at_a_terminal_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """At a terminal, the command that creates an archive says where (a shell without
    VERIFY_HOME creates one in the user data folder); once, and never to a script."""
    import io

    import verify.cli as cli_module

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    monkeypatch.delenv("VERIFY_DATABASE_URL", raising=False)
    for tty, home in ((True, tmp_path / "a"), (False, tmp_path / "b")):
        err = Terminal() if tty else io.StringIO()
        monkeypatch.setattr(cli_module.sys, "stderr", err)
        for _ in range(2):
            state = cli_module.State(home, "tester")
            state.archive()
            state.close()
        said = f"note: created a new archive in {home}\n"
        assert err.getvalue() == (said if tty else "")
