"""CLI tests for `verify prov …`, `verify timeline` and the new-user flow of issue #4."""

import json
from pathlib import Path

import pytest

from tests.conftest import REPO, RunCli
from tests.provhelp import add_media
from verify.archive import Archive

EXAMPLE = REPO / "cases" / "belgorod-legion-video.toml"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def backend(request: pytest.FixtureRequest) -> str:
    """Every test here runs on SQLite and on PostgreSQL (skipped without a server)."""
    return str(request.param)


SLUG = "belgorod-legion-video"


@pytest.fixture
def fake_now(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    monkeypatch.setenv("VERIFY_FAKE_NOW", "2023-06-01T10:00:00Z")
    return monkeypatch


def ok(r: object) -> str:
    assert r.exit_code == 0, r.stderr  # type: ignore[attr-defined]
    return r.stdout  # type: ignore[attr-defined,no-any-return]


def test_new_user_flow(cli: RunCli, archive: Archive, fake_now: pytest.MonkeyPatch) -> None:
    # 1. import the worked example
    r = cli("case", "import", str(EXAMPLE))
    assert (r.exit_code, r.stdout) == (0, SLUG + "\n")
    assert r.stderr == f"created case {SLUG} (16 records)\n"
    # the files we hold (media intake is `verify media add`; rows put in directly here)
    clean = add_media(archive, SLUG, "legion-clean.mp4", b"clean")
    subtitled = add_media(archive, SLUG, "legion-subtitled.mp4", b"subtitled")
    # 2. an appearance and an attribution from the shell
    assert (
        ok(
            cli(
                "prov",
                "appearance",
                "add",
                SLUG,
                "--account",
                "telegram:@example_channel",
                "--posted",
                "2023-05-22T18:40+03:00",
                "--captured",
                "2023-05-24T09:00Z",
                "--url",
                "https://t.me/example_channel/1",
                "--media",
                str(clean),
            )
        )
        == "2\n"
    )
    assert (
        ok(
            cli(
                "prov",
                "attribute",
                SLUG,
                "reuploader",
                "x:@Gerashchenko_en",
                "--target",
                "appearance:1",
            )
        )
        == "5\n"
    )
    # 3. corroborate it (a day later)
    fake_now.setenv("VERIFY_FAKE_NOW", "2023-06-02T10:00:00Z")
    assert (
        ok(
            cli(
                "prov",
                "attribution",
                "set",
                "5",
                "--state",
                "corroborated",
                "--evidence",
                "same video with English subtitles",
                "--according-to",
                "our comparison",
            )
        )
        == "corroborated\n"
    )
    # 4. link the subtitled copy to its original
    assert (
        ok(
            cli(
                "prov",
                "derive",
                str(subtitled),
                str(clean),
                "--kind",
                "subtitled_from",
                "--evidence",
                '{"frames_matched": 41, "offset": 0.0, "variant": "masked"}',
            )
        )
        == "1\n"
    )
    # 5. the timeline
    out = ok(cli("timeline", SLUG)).splitlines()
    assert out[0].split() == ["WHEN", "WHAT", "SOURCE", "DETAIL"]
    assert out[1] == (
        "*  2023-05-22T15:40:00Z  appearance.posted     https://t.me/example_channel/1   "
        "posted on telegram by telegram:@example_channel"
    )
    assert out[2] == (
        "   2023-05-23            appearance.posted     x:@Gerashchenko_en               "
        "posted on x by x:@Gerashchenko_en"
    )
    assert out[-2] == (
        "   2023-06-02T10:00:00Z  attribution.changed   according to our comparison      "
        "reuploader: x:@Gerashchenko_en claimed -> corroborated; evidence: same video with "
        "English subtitles"
    )
    assert out[-1] == (
        "   2023-06-02T10:00:00Z  derivation.recorded   tester                           "
        "media 2 subtitled_from media 1"
    )
    events = json.loads(ok(cli("timeline", SLUG, "--json")))
    assert [e["type"] for e in events].count("media.acquired") == 2
    assert [e["ref"] for e in events if e["earliest"]] == ["appearance:2"]
    assert set(events[0]) == {
        "at",
        "when",
        "precision",
        "type",
        "text",
        "source",
        "ref",
        "case",
        "earliest",
        "warnings",
    }
    # the earliest copy is now on the claimed platform
    assert ok(cli("prov", "earliest", SLUG)).splitlines()[-1] == (
        "earliest known is appearance 2 on telegram, posted 2023-05-22T15:40:00Z"
    )
    # all of it is in the audit trail
    actions = [e["action"] for e in json.loads(ok(cli("log", SLUG, "--json")))]
    assert actions[-5:] == [
        "account.add",
        "appearance.add",
        "attribution.add",
        "attribution.set",
        "derivation.add",
    ]


def test_earliest_on_the_example_flags_the_missing_telegram_original(
    cli: RunCli, fake_now: pytest.MonkeyPatch
) -> None:
    ok(cli("case", "import", str(EXAMPLE)))
    assert ok(cli("prov", "earliest", SLUG)) == (
        "earliest:  appearance 1 (belgorod-legion-video)\n"
        "platform:  x\n"
        "account:   x:@Gerashchenko_en\n"
        "posted:    2023-05-23\n"
        "url:       -\n"
        "claimed original platform: telegram\n"
        "CONTRADICTION: earliest known is appearance 1 on x, posted 2023-05-23; this contradicts "
        "the claimed original platform telegram (none of the known appearances is on it)\n"
    )
    data = json.loads(ok(cli("prov", "earliest", SLUG, "--json")))
    assert data["contradiction"] is True
    assert data["claimed_by"] == [
        {
            "attribution": 2,
            "actor": "telegram:(unknown)",
            "state": "claimed",
            "platform": "telegram",
        }
    ]


def test_account_commands(cli: RunCli, fake_now: pytest.MonkeyPatch) -> None:
    r = cli(
        "prov",
        "account",
        "add",
        "x:@Gerashchenko_en",
        "--name",
        "Anton Gerashchenko",
        "--kind",
        "person",
    )
    assert (r.exit_code, r.stdout, r.stderr) == (0, "x:@Gerashchenko_en\n", "")
    for given in ("x:@gerashchenko_en", "x:https://x.com/Gerashchenko_en"):
        r = cli("prov", "account", "add", given)  # the account it is, named as stored
        assert (r.exit_code, r.stderr) == (
            2,
            f"error: account {given!r} already exists as 'x:@Gerashchenko_en'; change it "
            "with `verify prov account edit`\n",
        )
    r = cli("prov", "account", "add", "x:@Gerashchenko_en")
    assert r.stderr == (
        "error: account 'x:@Gerashchenko_en' already exists; change it with "
        "`verify prov account edit`\n"
    )
    assert (
        ok(
            cli(
                "prov",
                "account",
                "edit",
                "x:@gerashchenko_en",
                "--credibility",
                "adviser to Ukraine's interior minister",
            )
        )
        == "x:@Gerashchenko_en\n"
    )
    assert ok(cli("prov", "account", "list")) == (
        "ACCOUNT             KIND    NAME                CREDIBILITY\n"
        "x:@Gerashchenko_en  person  Anton Gerashchenko  adviser to Ukraine's interior minister\n"
    )
    rows = json.loads(ok(cli("prov", "account", "list", "--json")))
    assert rows == [
        {
            "ref": "x:@Gerashchenko_en",
            "platform": "x",
            "handle": "@Gerashchenko_en",
            "display_name": "Anton Gerashchenko",
            "url": None,
            "kind": "person",
            "credibility": "adviser to Ukraine's interior minister",
            "created_at": "2023-06-01T10:00:00Z",
            "created_by": "tester",
        }
    ]
    r = cli("prov", "account", "edit", "x:@nobody", "--kind", "person")
    assert (r.exit_code, r.stderr) == (
        4,
        "error: no account 'x:@nobody'; `verify prov account list` shows the accounts\n",
    )


KNOWN = (
    "x, telegram, tiktok, instagram, youtube, threads, facebook, vk, bluesky, odysee, mastodon, "
    "reddit, rumble, linkedin, weibo, whatsapp, person, org, outlet"
)


def test_a_new_account_on_an_unknown_platform_is_noted(cli: RunCli, tmp_path: Path) -> None:
    """A typo'd platform (`tiktokk`) made an account silently: each command that creates an
    account on a platform verify does not know says so once, with the closest known name,
    and records it all the same."""
    ok(cli("case", "open", "Legion", "--slug", "legion"))
    r = cli("prov", "attribute", "legion", "reuploader", "tiktokk:@warclips99")
    assert (r.exit_code, r.stdout, r.stderr) == (
        0,
        "1\n",
        "note: new account tiktokk:@warclips99 on platform 'tiktokk', which verify does not "
        "know (did you mean tiktok?)\n",
    )
    r = cli("prov", "attribute", "legion", "claimant", "tiktokk:@warclips99")
    assert (r.exit_code, r.stderr) == (0, "")  # not new: nothing to say
    r = cli("prov", "appearance", "add", "legion", "--account", "twiter:@clips")
    assert (r.exit_code, r.stderr) == (
        0,
        "note: new account twiter:@clips on platform 'twiter', which verify does not know "
        "(did you mean twitter?)\n",
    )
    r = cli("prov", "account", "add", "gab:warclips")
    assert (r.exit_code, r.stdout, r.stderr) == (
        0,
        "gab:warclips\n",
        f"note: new account gab:warclips on platform 'gab', which verify does not know "
        f"(known: {KNOWN})\n",
    )
    # known platforms (aliases and pseudo-platforms too) are not noted
    for ref in ("TikTok:@a", "tg:@b", "Twitter:@c", "person:Someone", "org:Desk", "outlet:CNN",
                "fb:@d", "vk:e", "bsky:f.bsky.social", "reddit:u/g", "whatsapp:+44 7700 900123"):  # fmt: skip
        r = cli("prov", "attribute", "legion", "claimant", ref)
        assert (r.exit_code, r.stderr) == (0, ""), ref
    accounts = [a["ref"] for a in json.loads(ok(cli("prov", "account", "list", "--json")))]
    assert "tiktokk:@warclips99" in accounts and "gab:warclips" in accounts
    assert {"facebook:@d", "vk:@e", "bluesky:@f.bsky.social", "reddit:u/g",
            "whatsapp:+44 7700 900123"} <= set(accounts)  # fmt: skip
    # a case file that names a new account on an unknown platform
    path = tmp_path / "other.toml"
    path.write_text(
        '[case]\nslug = "other"\ntitle = "Other"\n\n'
        '[[attributions]]\nrole = "reuploader"\nactor = "telegarm:@chan"\n'
    )
    r = cli("case", "import", str(path))
    assert (r.exit_code, r.stderr) == (
        0,
        "created case other (3 records)\n"
        "note: new account telegarm:@chan on platform 'telegarm', which verify does not know "
        "(did you mean telegram?)\n",
    )


def test_a_platform_given_that_verify_does_not_know_is_noted(
    cli: RunCli, archive: Archive, tmp_path: Path
) -> None:
    """`--platform tiktokk` on an appearance was silent, and the earliest appearance then
    called the claimed `tiktok` contradicted; `media add --platform` too. Both are recorded
    as given, with one note; known names and their aliases are not noted."""
    from tests.media import write_jpeg

    ok(cli("case", "open", "Legion", "--slug", "legion"))
    note = (
        "note: platform 'tiktokk' is not one verify knows (did you mean tiktok?); "
        "recorded as given\n"
    )
    r = cli("prov", "appearance", "add", "legion", "--platform", "tiktokk")
    assert (r.exit_code, r.stdout, r.stderr) == (0, "1\n", note)
    # with a new account on the same platform: one typo, one note (the account's)
    r = cli("prov", "appearance", "add", "legion", "--platform", "tiktokk", "--account",
            "tiktokk:@foo")  # fmt: skip
    assert r.stderr == (
        "note: new account tiktokk:@foo on platform 'tiktokk', which verify does not know "
        "(did you mean tiktok?)\n"
    )
    for known in ("TikTok", "Twitter", "tg", "facebook", "FB", "vk", "VKontakte", "whatsapp",
                  "reddit", "bluesky", "bsky", "ig", "yt"):  # fmt: skip
        r = cli("prov", "appearance", "add", "legion", "--platform", known)
        assert (r.exit_code, r.stderr) == (0, ""), known
    # a known account on the unknown platform: the platform's note still
    r = cli("prov", "appearance", "add", "legion", "--platform", "tiktokk", "--account",
            "tiktokk:@foo")  # fmt: skip
    assert r.stderr == note
    photo = write_jpeg(tmp_path / "a.jpg")
    r = cli("media", "add", "legion", str(photo), "--platform", "tiktokk")
    assert r.exit_code == 0 and r.stderr.endswith(note), r.stderr
    r = cli("media", "add", "legion", str(photo), "--platform", "X")
    assert r.exit_code == 0 and "note: platform" not in r.stderr
    r = cli("media", "add", "nope", str(photo), "--platform", "tiktokk")
    assert r.exit_code == 4 and "note: platform" not in r.stderr  # nothing recorded
    # the platforms this version added are known
    for known in ("Rumble", "weibo", "LinkedIn", "mastodon", "threads", "Odysee"):
        r = cli("prov", "appearance", "add", "legion", "--platform", known)
        assert (r.exit_code, r.stderr) == (0, ""), known
        r = cli("media", "add", "legion", str(photo), "--platform", known)
        assert r.exit_code == 0 and "note: platform" not in r.stderr, known
    # a case file's appearance on it: the same note, once for the platform, and not again
    # where a new account on it has said it
    path = tmp_path / "other.toml"
    path.write_text(
        '[case]\nslug = "other"\ntitle = "Other"\n\n'
        '[[appearances]]\nplatform = "tiktokk"\n\n[[appearances]]\nplatform = "TikTokk"\n\n'
        '[[appearances]]\nplatform = "twiter"\naccount = "twiter:@clips"\n\n'
        '[[appearances]]\nplatform = "tg"\n'
    )
    r = cli("case", "import", str(path))
    assert (r.exit_code, r.stderr) == (
        0,
        "created case other (6 records)\n"
        + note
        + "note: new account twiter:@clips on platform 'twiter', which verify does not know "
        "(did you mean twitter?)\n",
    )
    r = cli("case", "import", str(path))  # nothing recorded: nothing to say
    assert (r.exit_code, r.stderr) == (0, "case other is up to date: nothing changed\n")


def test_media_add_refuses_what_is_not_a_platform_name(
    cli: RunCli, archive: Archive, tmp_path: Path
) -> None:
    """`media add --platform` is read as an appearance's platform is (`vocab.parse_platform`):
    `person` or `two words` were stored as given; refused before anything is stored."""
    from tests.media import write_jpeg

    ok(cli("case", "open", "Legion", "--slug", "legion"))
    photo = write_jpeg(tmp_path / "a.jpg")
    for bad in ("Person", "two words", "@x"):
        r = cli("media", "add", "legion", str(photo), "--platform", bad)
        name = bad.strip().lower()
        assert (r.exit_code, r.stdout, r.stderr) == (
            2,
            "",
            f"error: bad platform {name!r}: a lowercase name such as x, telegram, youtube\n",
        ), bad
    assert json.loads(ok(cli("media", "list", "legion", "--json"))) == []
    assert [p for p in (archive.home / "objects").rglob("*") if p.is_file()] == []


def test_attribute_and_appearance_add_print_what_they_made_with_json(
    cli: RunCli, fake_now: pytest.MonkeyPatch
) -> None:
    """As `prov attributions --json` and `prov appearance list --json` give them; notes
    and warnings stay on stderr."""
    ok(cli("case", "open", "Legion", "--slug", "legion"))
    r = cli("prov", "appearance", "add", "legion", "--account", "tg:@chan", "--posted",
            "2023-05-23", "--captured", "2023-05-01", "--json")  # fmt: skip
    assert r.exit_code == 0, r.stderr
    appearance = json.loads(r.stdout)
    assert [appearance] == json.loads(ok(cli("prov", "appearance", "list", "legion", "--json")))
    assert (appearance["id"], appearance["platform"]) == (1, "telegram")
    assert r.stderr == (
        "warning: appearance 1: captured 2023-05-01T00:00:00Z is before posted 2023-05-23\n"
    )
    r = cli("prov", "attribute", "legion", "reuploader", "tiktokk:@a", "--evidence", "his post",
            "--json")  # fmt: skip
    assert r.exit_code == 0, r.stderr
    attribution = json.loads(r.stdout)
    assert [attribution] == json.loads(ok(cli("prov", "attributions", "legion", "--json")))
    assert (attribution["id"], attribution["actor"], len(attribution["history"])) == (
        1,
        "tiktokk:@a",
        1,
    )
    assert r.stderr.startswith("note: new account tiktokk:@a on platform 'tiktokk'")
    # the plain output is the id alone, as before
    assert ok(cli("prov", "attribute", "legion", "claimant", "x:@b")) == "2\n"
    assert ok(cli("prov", "appearance", "add", "legion", "--platform", "x")) == "2\n"


def test_appearance_list_and_json(cli: RunCli, fake_now: pytest.MonkeyPatch) -> None:
    ok(cli("case", "open", "Legion", "--slug", "legion"))
    r = cli("prov", "appearance", "list", "legion")
    assert (r.stdout, r.stderr) == (
        "",
        "no appearances yet; add one with `verify prov appearance add legion`\n",
    )
    ok(
        cli(
            "prov",
            "appearance",
            "add",
            "legion",
            "--account",
            "x:@Gerashchenko_en",
            "--posted",
            "2023-05-23",
            "--caption",
            "Legion \x1b[31mred\x1b[0m",
            "--language",
            "en",
        )
    )
    assert ok(cli("prov", "appearance", "list", "legion")) == (
        "ID  PLATFORM  ACCOUNT             POSTED      CAPTURED  MEDIA  URL\n"
        "1   x         x:@Gerashchenko_en  2023-05-23  -         -      -\n"
    )
    [row] = json.loads(ok(cli("prov", "appearance", "list", "legion", "--json")))
    assert row["caption"] == "Legion \x1b[31mred\x1b[0m"  # JSON keeps the exact string
    assert (row["posted"], row["posted_at"], row["posted_precision"]) == (
        "2023-05-23",
        "2023-05-23T00:00:00Z",
        "day",
    )


def test_attributions_listing(cli: RunCli, fake_now: pytest.MonkeyPatch) -> None:
    ok(cli("case", "open", "Legion", "--slug", "legion"))
    assert (
        ok(
            cli(
                "prov",
                "attribute",
                "legion",
                "subtitler",
                "x:@Gerashchenko_en",
                "--evidence",
                "his tweet",
                "--according-to",
                "x:@Gerashchenko_en",
            )
        )
        == "1\n"
    )
    assert ok(cli("prov", "attributions", "legion")) == (
        "ID  ROLE       ACTOR               TARGET  STATE    ACCORDING TO        EVIDENCE\n"
        "1   subtitler  x:@Gerashchenko_en  case    claimed  x:@Gerashchenko_en  his tweet\n"
    )
    ok(cli("prov", "attribution", "set", "1", "--state", "refuted", "--evidence", "a 2022 copy"))
    [row] = json.loads(ok(cli("prov", "attributions", "legion", "--json")))
    assert [(h["from"], h["to"]) for h in row["history"]] == [
        (None, "claimed"),
        ("claimed", "refuted"),
    ]


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (
            ("prov", "attribute", "legion", "poster", "x:@a"),
            2,
            "error: unknown role 'poster'; use one of: original_poster, reuploader, subtitler, "
            "translator, filmer, editor, narrator, claimant\n",
        ),
        (
            ("prov", "attribute", "legion", "subtitler", "x:@a", "--state", "likely"),
            2,
            "error: unknown attribution state 'likely'; use one of: claimed, corroborated, "
            "refuted, unknown, withdrawn\n",
        ),
        (
            ("prov", "attribute", "legion", "subtitler", "x:@a", "--state", "corroborated"),
            2,
            "error: corroborated needs --evidence: what supports it (and --according-to: whose "
            "finding it is)\n",
        ),
        (
            ("prov", "attribute", "legion", "subtitler", "Gerashchenko"),
            2,
            "error: bad account 'Gerashchenko': write platform:handle, e.g. x:@Gerashchenko_en, "
            "telegram:@channel or person:Andriy Yusov\n",
        ),
        (
            ("prov", "appearance", "add", "legion", "--platform", "x", "--posted", "23/05/2023"),
            2,
            "error: bad date '23/05/2023': use 2023-05-23, 2023-05-23T14:05Z, "
            "2023-05-23T14:05+03:00 or ~2023-05\n",
        ),
        (
            ("prov", "appearance", "add", "legion"),
            2,
            "error: an appearance needs a platform: give --platform or a platform --account\n",
        ),
        (
            ("prov", "attribution", "set", "7", "--state", "refuted"),
            4,
            "error: no attribution 7; `verify prov attributions CASE` lists them\n",
        ),
        (
            ("prov", "derive", "1", "2", "--kind", "copy_of"),
            2,
            "error: unknown derivation kind 'copy_of'; use one of: subtitled_from, reencode_of, "
            "cropped_from, excerpt_of, mirrored_from, screen_recording_of, translated_from\n",
        ),
        (
            ("prov", "derive", "8", "9", "--kind", "reencode_of"),
            4,
            "error: no media 8; `verify media list CASE` shows media ids\n",
        ),
        (("timeline", "nope"), 4, "error: no case 'nope'; `verify case list` shows the cases\n"),
    ],
)
def test_errors_are_one_line_and_change_nothing(
    cli: RunCli, args: tuple[str, ...], code: int, message: str
) -> None:
    ok(cli("case", "open", "Legion", "--slug", "legion"))
    before = ok(cli("log", "--json"))
    r = cli(*args)
    assert (r.exit_code, r.stdout, r.stderr) == (code, "", message)
    assert ok(cli("log", "--json")) == before


def test_retracting_a_derivation_from_the_shell(cli: RunCli, archive: Archive) -> None:
    """`prov derivation retract ID --why`: the id on stdout (or JSON), marked in the
    listing and the report's table, gone from the report's graph; one-line refusals."""
    ok(cli("case", "open", "Legion", "--slug", "legion"))
    a = add_media(archive, "legion", "a.mp4", b"a")
    b = add_media(archive, "legion", "b.mp4", b"b")
    ok(cli("prov", "derive", str(b), str(a), "--kind", "subtitled_from"))
    r = cli("prov", "derivation", "retract", "1", "--why", "media 2 is the other clip")
    assert (r.exit_code, r.stdout, r.stderr) == (
        0,
        "1\n",
        "retracted derivation 1: media 2 subtitled_from media 1\n",  # a typo'd id shows
    )
    row = ok(cli("prov", "derivations", "legion")).splitlines()[1]
    assert " subtitled_from (retracted) " in row
    listed = json.loads(ok(cli("prov", "derivations", "legion", "--json")))
    assert listed[0]["retracted"]["why"] == "media 2 is the other clip"
    md = ok(cli("report", "legion", "-o", "-"))
    assert "; **retracted** by tester, " in md and ": media 2 is the other clip |" in md
    assert "```mermaid" not in md  # no standing derivation: no graph
    for args, code, message in (
        (("1", "--why", "x"), 2, "error: derivation 1 was already retracted by tester at "),
        (("7", "--why", "x"), 4, "error: no derivation 7 (see `verify prov derivations CASE`)"),
        (("1", "--why", ""), 2, "error: a retraction needs --why: what was wrong with the "),
    ):
        before = ok(cli("log", "--json"))
        r = cli("prov", "derivation", "retract", *args)
        assert (r.exit_code, r.stdout) == (code, "")
        assert r.stderr.startswith(message) and r.stderr.count("\n") == 1
        assert ok(cli("log", "--json")) == before
    assert "state: " not in cli("check").stdout  # the retraction agrees with its entry


def test_derive_cycle_is_one_line(cli: RunCli, archive: Archive) -> None:
    ok(cli("case", "open", "Legion", "--slug", "legion"))
    a = add_media(archive, "legion", "a.mp4", b"a")
    b = add_media(archive, "legion", "b.mp4", b"b")
    ok(cli("prov", "derive", str(b), str(a), "--kind", "subtitled_from"))
    r = cli("prov", "derive", str(a), str(b), "--kind", "reencode_of")
    assert (r.exit_code, r.stderr) == (
        2,
        f"error: refusing a derivation cycle: media {a} -> media {b} -> media {a}\n",
    )
    assert ok(cli("prov", "derivations", "legion")).splitlines()[0].split() == [
        "ID",
        "CHILD",
        "KIND",
        "PARENT",
        "EVIDENCE",
    ]
    # a search result pasted as evidence: nested values read as JSON, not Python's repr
    c = add_media(archive, "legion", "c.mp4", b"c")
    evidence = '{"frames_matched": {"query": 10, "candidate": 10}, "variant": "masked"}'
    ok(cli("prov", "derive", str(c), str(a), "--kind", "reencode_of", "--evidence", evidence))
    last = ok(cli("prov", "derivations", "legion")).splitlines()[-1]
    assert last.endswith('frames_matched={"candidate": 10, "query": 10}, variant=masked')
    md = ok(cli("report", "legion", "-o", "-"))
    assert 'frames\\_matched: {"candidate": 10, "query": 10}; variant: masked' in md
    # true/false as JSON too; no value as each output's mark for none
    d = add_media(archive, "legion", "d.mp4", b"d")
    evidence = '{"aligned": true, "offset": null}'
    ok(cli("prov", "derive", str(d), str(a), "--kind", "excerpt_of", "--evidence", evidence))
    assert (
        ok(cli("prov", "derivations", "legion")).splitlines()[-1].endswith("aligned=true, offset=-")
    )
    assert "aligned: true; offset: —" in ok(cli("report", "legion", "-o", "-"))


def test_every_prov_command_has_help_with_an_example(cli: RunCli) -> None:
    from verify.cli.docs import iter_leaf_commands

    mine = [
        (n, c)
        for n, c in iter_leaf_commands()
        if n.startswith(
            ("verify prov", "verify timeline", "verify case export", "verify case import")
        )
    ]
    assert len(mine) == 16
    for name, cmd in mine:
        assert cmd.help, name
        assert "Examples:" in (cmd.epilog or ""), name


def test_cli_reference_is_current() -> None:
    from verify.cli.docs import render

    assert (Path(REPO) / "docs" / "cli.md").read_text() == render()


def test_nul_characters_are_refused(cli: RunCli) -> None:
    ok(cli("case", "open", "Legion", "--slug", "legion"))
    before = ok(cli("log", "--json"))
    r = cli("prov", "appearance", "add", "legion", "--platform", "x", "--caption", "a\x00b")
    assert (r.exit_code, r.stderr) == (
        2,
        "error: text 'a\\x00b' contains a NUL character, which cannot be stored; remove it\n",
    )
    r = cli("prov", "derive", "1", "2", "--kind", "reencode_of", "--evidence", '{"k": "\\u0000"}')
    assert r.exit_code == 2
    assert ok(cli("log", "--json")) == before


def test_impossible_appearance_dates_are_recorded_with_a_warning(
    cli: RunCli, fake_now: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    ok(cli("case", "open", "Legion", "--slug", "legion"))

    def add(*args: str) -> tuple[str, str]:
        r = cli("prov", "appearance", "add", "legion", "--account", "x:@a", *args)
        return ok(r), r.stderr

    # plausible: captured after posting; a day posting captured during that day; an
    # approximate one captured within its window
    assert add("--posted", "2023-05-20", "--captured", "2023-05-25") == ("1\n", "")
    assert add("--posted", "2023-05-25", "--captured", "2023-05-25T08:00Z") == ("2\n", "")
    assert add("--posted", "~2023-05", "--captured", "2023-04-20T00:00Z") == ("3\n", "")
    # impossible, but recorded as given: one warning line each
    assert add("--posted", "2023-05-25", "--captured", "2023-05-20") == (
        "4\n",
        "warning: appearance 4: captured 2023-05-20T00:00:00Z is before posted 2023-05-25\n",
    )
    assert add("--posted", "2030-01-01") == (
        "5\n",
        "warning: appearance 5: posted 2030-01-01 is in the future\n",
    )
    assert add("--posted", "2030-01-01T12:00Z", "--captured", "2023-06-01T10:00:01Z") == (
        "6\n",
        "warning: appearance 6: captured 2023-06-01T10:00:01Z is before posted "
        "2030-01-01T12:00:00Z\n"
        "warning: appearance 6: posted 2030-01-01T12:00:00Z is in the future\n"
        "warning: appearance 6: captured 2023-06-01T10:00:01Z is in the future\n",
    )
    rows = json.loads(ok(cli("prov", "appearance", "list", "legion", "--json")))
    assert [(r["posted"], r["captured_at"]) for r in rows][3:5] == [
        ("2023-05-25", "2023-05-20T00:00:00Z"),
        ("2030-01-01", None),
    ]
    # the timeline flags them: `!` in the first column, the warning in the detail
    events = json.loads(ok(cli("timeline", "legion", "--json")))
    flagged = {e["ref"] for e in events if e["warnings"]}
    assert flagged == {"appearance:4", "appearance:5", "appearance:6"}
    [captured4] = [
        e for e in events if e["ref"] == "appearance:4" and e["type"] == "appearance.captured"
    ]
    assert captured4["warnings"] == ["captured 2023-05-20T00:00:00Z is before posted 2023-05-25"]
    lines = ok(cli("timeline", "legion")).splitlines()
    [line] = [ln for ln in lines if "2023-05-20T00:00:00Z  appearance.captured" in ln]
    assert line.startswith("!  ")
    assert line.endswith("(warning: captured 2023-05-20T00:00:00Z is before posted 2023-05-25)")
    assert [ln[:3] for ln in lines if "case.opened" in ln] == ["   "]

    # the same appearances from a case file: imported, one warning line each
    exported = ok(cli("case", "export", "legion"))
    text = exported.replace('slug = "legion"', 'slug = "legion-2"', 1)
    path = tmp_path / "legion-2.toml"
    path.write_text(text)
    r = cli("case", "import", str(path))
    assert (r.exit_code, r.stdout) == (0, "legion-2\n")
    assert r.stderr.splitlines()[1:] == [
        "warning: appearance 10: captured 2023-05-20T00:00:00Z is before posted 2023-05-25 "
        "(appearances[4])",
        "warning: appearance 11: posted 2030-01-01 is in the future (appearances[5])",
        "warning: appearance 12: captured 2023-06-01T10:00:01Z is before posted "
        "2030-01-01T12:00:00Z (appearances[6])",
        "warning: appearance 12: posted 2030-01-01T12:00:00Z is in the future (appearances[6])",
        "warning: appearance 12: captured 2023-06-01T10:00:01Z is in the future (appearances[6])",
    ]
    assert r.stderr.startswith("created case legion-2 ")
    # importing it again changes nothing and still says what is wrong with the file
    r = cli("case", "import", str(path))
    assert r.exit_code == 0
    assert r.stderr.splitlines()[0] == "case legion-2 is up to date: nothing changed"
    assert len(r.stderr.splitlines()) == 6


def test_a_derivation_across_cases_is_in_both_cases_logs(cli: RunCli, archive: Archive) -> None:
    """It is recorded under the child's case; the parent's case log shows it too."""
    ok(cli("case", "open", "Derna", "--slug", "derna"))
    ok(cli("case", "open", "Morocco", "--slug", "morocco"))
    original = add_media(archive, "derna", "flood.mp4", b"flood")
    copy = add_media(archive, "morocco", "quake.mp4", b"quake")
    ok(cli("prov", "derive", str(copy), str(original), "--kind", "subtitled_from"))

    def derivations(case: str) -> list[tuple[str, str]]:
        entries = json.loads(ok(cli("log", case, "--json")))
        return [(e["action"], e["case"]) for e in entries if e["action"].startswith("derivation")]

    assert derivations("morocco") == [("derivation.add", "morocco")]
    assert derivations("derna") == [("derivation.add", "morocco")]
    unrelated = json.loads(ok(cli("log", "--json")))
    assert [e["action"] for e in unrelated].count("derivation.add") == 1  # listed once


def test_earliest_says_corroborated_once_the_original_poster_is(
    cli: RunCli, fake_now: pytest.MonkeyPatch
) -> None:
    """`claimed original platform: flickr` was printed for a corroborated attribution."""
    ok(cli("case", "open", "Photo", "--slug", "photo"))
    ok(cli("prov", "appearance", "add", "photo", "--account", "x:@reposter", "--posted",
           "2023-05-23"))  # fmt: skip
    ok(cli("prov", "attribute", "photo", "original_poster", "flickr:@photog"))
    lines = ok(cli("prov", "earliest", "photo")).splitlines()
    assert lines[-2:] == [
        "claimed original platform: flickr",
        "CONTRADICTION: earliest known is appearance 1 on x, posted 2023-05-23; this "
        "contradicts the claimed original platform flickr (none of the known appearances is "
        "on it)",
    ]
    ok(cli("prov", "attribution", "set", "1", "--state", "corroborated", "--evidence",
           "the RAW file from the photographer"))  # fmt: skip
    out = ok(cli("prov", "earliest", "photo"))
    assert out.splitlines()[-2:] == [
        "corroborated original platform: flickr",
        "CONTRADICTION: earliest known is appearance 1 on x, posted 2023-05-23; this "
        "contradicts the corroborated original platform flickr (none of the known "
        "appearances is on it)",
    ]
    assert "claimed" not in out
    data = json.loads(ok(cli("prov", "earliest", "photo", "--json")))
    assert data["original_platform_state"] == "corroborated"
    # refuted: flickr is no original platform any more, and nothing is contradicted
    ok(cli("prov", "attribution", "set", "1", "--state", "refuted", "--evidence",
           "posted on x a year before"))  # fmt: skip
    out = ok(cli("prov", "earliest", "photo"))
    assert "flickr" not in out
    assert out.splitlines()[-2:] == [
        "claimed original platform: -",
        "earliest known is appearance 1 on x, posted 2023-05-23",
    ]


def test_timeline_says_who_acquired_a_file_then_how(cli: RunCli, archive: Archive) -> None:
    """The how is free text: before the actor it read `via downloaded by bob by bob`."""
    ok(cli("case", "open", "Photo", "--slug", "photo"))
    add_media(archive, "photo", "a.jpg", b"a", acquired_by="bob", via="downloaded by bob")
    add_media(archive, "photo", "b.jpg", b"b", acquired_by="bob")
    texts = [e["text"] for e in json.loads(ok(cli("timeline", "photo", "--json")))
             if e["type"] == "media.acquired"]  # fmt: skip
    assert texts == ["acquired a.jpg by bob, via downloaded by bob", "acquired b.jpg by bob"]
    lines = ok(cli("timeline", "photo")).splitlines()
    assert any(x.endswith("  acquired a.jpg by bob, via downloaded by bob") for x in lines)


def test_timeline_shows_the_files_capture_time_and_says_when_it_is_local(
    cli: RunCli, archive: Archive, fake_now: pytest.MonkeyPatch
) -> None:
    from verify.models import Blob, Media

    ok(cli("case", "open", "Photo", "--slug", "photo"))
    media = add_media(archive, "photo", "IMG_0001.jpg", b"photo")
    with archive.write() as session:
        m = session.get(Media, media)
        assert m is not None
        blob = session.get(Blob, m.blob_id)
        assert blob is not None
        blob.kind, blob.analysis_state = "image", "ok"
        blob.meta = {"make": "Canon", "model": "Canon EOS 40D", "captured_at": None,
                     "captured_at_raw": "2008:10:22 16:28:39", "captured_offset": None}  # fmt: skip
        session.add(blob)
    rows = ok(cli("timeline", "photo")).splitlines()
    assert rows[1].split("  ")[0] == "!"  # the first row: flagged
    assert rows[1].startswith("!  2008-10-22 16:28:39 (camera local time, offset unknown)  ")
    assert "media.captured" in rows[1] and "file metadata (EXIF/XMP/IPTC)" in rows[1]
    assert rows[1].endswith(
        "capture time in the file's metadata: IMG_0001.jpg (Canon EOS 40D) (warning: "
        "capture time 2008-10-22 16:28:39 is the camera's local time, with no UTC offset in "
        "the file: placed as if it were UTC; the actual instant may be up to 14 hours "
        "earlier or 12 hours later)"
    )
    (event,) = [e for e in json.loads(ok(cli("timeline", "photo", "--json")))
                if e["type"] == "media.captured"]  # fmt: skip
    assert (event["at"], event["precision"], event["ref"]) == (
        "2008-10-22T16:28:39Z", "local", f"media:{media}",
    )  # fmt: skip


def test_the_platform_table_is_consistent() -> None:
    """One table (`vocab.PLATFORMS`) says which platforms verify knows, their aliases, hosts
    and handle styles: a name is a platform name and no alias, a host or an alias belongs
    to one platform, and every platform whose handles are read says what a name may be."""
    import re

    from verify.vocab import (
        AS_GIVEN,
        AT,
        FEDIVERSE,
        KNOWN_PLATFORMS,
        OFFLINE_KINDS,
        PATH,
        PLATFORM_ALIASES,
        PLATFORM_PATTERN,
        PLATFORMS,
    )

    names = [p.name for p in PLATFORMS]
    assert tuple(names) == KNOWN_PLATFORMS and len(set(names)) == len(names)
    aliases = [a for p in PLATFORMS for a in p.aliases]
    assert len(set(aliases)) == len(aliases) == len(PLATFORM_ALIASES)
    hosts = [h for p in PLATFORMS for h in p.hosts]
    assert len(set(hosts)) == len(hosts)
    for p in PLATFORMS:
        for name in (p.name, *p.aliases):
            assert re.fullmatch(PLATFORM_PATTERN, name), name
            assert name not in OFFLINE_KINDS
        assert not set(p.aliases) & set(names), p.name
        assert p.handles in (AT, FEDIVERSE, PATH, AS_GIVEN), p.name
        assert bool(p.name_pattern) == (p.handles != AS_GIVEN), p.name
        re.compile(p.name_pattern)
        assert bool(p.hosts) == (p.handles in (AT, PATH)), p.name  # Mastodon: any server
        assert bool(p.kinds) == (p.handles == PATH), p.name
        assert not p.at_kind or p.at_kind in dict(p.kinds).values(), p.name
    assert "threads" in KNOWN_PLATFORMS
