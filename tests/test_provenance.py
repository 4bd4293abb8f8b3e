"""Provenance service: accounts, dates, appearances, attributions, derivations, earliest."""

from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import orjson
import pytest
from sqlmodel import select

from tests.provhelp import add_media, analysed
from verify.archive import Archive, open_archive
from verify.errors import BadInputError, NotFoundError
from verify.models import AuditEntry
from verify.services import casefile, cases, logread, provenance, provread
from verify.services.log import check_archive
from verify.timeutil import as_utc, capture_time, iso, parse_utc

SLUG = "legion"


@pytest.fixture
def case(archive: Archive) -> str:
    cases.open_case(archive, "Legion video", slug=SLUG, claims=["shows the FRL"])
    return SLUG


@pytest.mark.parametrize(
    ("text", "when", "precision", "back"),
    [
        ("2023-05-23", datetime(2023, 5, 23, tzinfo=UTC), "day", "2023-05-23"),
        (
            "2023-05-23T14:05Z",
            datetime(2023, 5, 23, 14, 5, tzinfo=UTC),
            "exact",
            "2023-05-23T14:05:00Z",
        ),
        (
            "2023-05-23T14:05+03:00",
            datetime(2023, 5, 23, 11, 5, tzinfo=UTC),
            "exact",
            "2023-05-23T11:05:00Z",
        ),
        (
            "2023-05-23T14:05",
            datetime(2023, 5, 23, 14, 5, tzinfo=UTC),
            "exact",
            "2023-05-23T14:05:00Z",
        ),
        ("~2023-05", datetime(2023, 5, 1, tzinfo=UTC), "approximate", "~2023-05"),
        ("~2023-05-20", datetime(2023, 5, 20, tzinfo=UTC), "approximate", "~2023-05-20"),
        ("2023-05", datetime(2023, 5, 1, tzinfo=UTC), "approximate", "~2023-05"),
        (
            "~2023-05-23T14:05Z",
            datetime(2023, 5, 23, 14, 5, tzinfo=UTC),
            "approximate",
            "~2023-05-23T14:05:00Z",
        ),
    ],
)
def test_posted_forms_parse_and_print_back(
    text: str, when: datetime, precision: str, back: str
) -> None:
    dt, prec = provenance.parse_posted(text)
    assert (dt, prec.value) == (when, precision)
    assert provenance.format_posted(dt, prec) == back
    assert provenance.parse_posted(back) == (dt, prec)


def test_naive_times_are_utc_and_others_are_converted() -> None:
    naive, kyiv = datetime(2023, 5, 23, 14, 5), timezone(timedelta(hours=3))
    assert as_utc(naive) == datetime(2023, 5, 23, 14, 5, tzinfo=UTC)
    assert as_utc(naive.replace(tzinfo=kyiv)).tzinfo is UTC
    assert as_utc(naive.replace(tzinfo=kyiv)) == datetime(2023, 5, 23, 11, 5, tzinfo=UTC)
    assert iso(naive) == "2023-05-23T14:05:00Z"
    assert parse_utc("2023-05-23T14:05") == as_utc(naive)
    assert provenance.format_posted(naive.replace(tzinfo=kyiv), "exact") == "2023-05-23T11:05:00Z"
    assert provenance.format_posted(datetime(2023, 5, 23), "day") == "2023-05-23"


@pytest.mark.parametrize("bad", ["2023-13-01", "23 May 2023", "2023-05-32", "~", "yesterday"])
def test_bad_posted_dates_name_the_forms(bad: str) -> None:
    with pytest.raises(BadInputError) as exc:
        provenance.parse_posted(bad)
    assert exc.value.message == (
        f"bad date {bad!r}: use 2023-05-23, 2023-05-23T14:05Z, 2023-05-23T14:05+03:00 or ~2023-05"
    )


@pytest.mark.parametrize(
    ("ref", "parsed"),
    [
        ("x:@Gerashchenko_en", ("x", "@Gerashchenko_en")),
        ("twitter:@Gerashchenko_en", ("x", "@Gerashchenko_en")),
        ("Telegram:@channel", ("telegram", "@channel")),
        ("person:Andriy Yusov", ("person", "Andriy Yusov")),
        ("org: Kremlin ", ("org", "Kremlin")),
        # one spelling of an @handle: bare, or a profile URL
        ("x:Gerashchenko_en", ("x", "@Gerashchenko_en")),
        ("x:https://x.com/Gerashchenko_en", ("x", "@Gerashchenko_en")),
        ("twitter:twitter.com/Gerashchenko_en/", ("x", "@Gerashchenko_en")),
        ("telegram:https://t.me/example_channel", ("telegram", "@example_channel")),
        ("tg:t.me/s/example_channel", ("telegram", "@example_channel")),
        ("tiktok:https://www.tiktok.com/@floodclips", ("tiktok", "@floodclips")),
        ("youtube:https://www.youtube.com/@channel", ("youtube", "@channel")),
        ("instagram:someone.here", ("instagram", "@someone.here")),
        # kept as given: not clearly a handle, or a platform without handles verify reads
        ("x:https://x.com/i/status/1", ("x", "https://x.com/i/status/1")),
        ("telegram:https://t.me/c/123/45", ("telegram", "https://t.me/c/123/45")),
        ("telegram:(unknown)", ("telegram", "(unknown)")),
        (
            "youtube:https://youtube.com/channel/UCabc",
            ("youtube", "https://youtube.com/channel/UCabc"),
        ),
        ("x:https://example.com/someone", ("x", "https://example.com/someone")),
        ("facebook:Some.Page", ("facebook", "@Some.Page")),
        ("whatsapp:+44 7700 900123", ("whatsapp", "+44 7700 900123")),  # no handles there
        ("gab:someone", ("gab", "someone")),  # a platform verify does not know
        ("x:some.one", ("x", "some.one")),  # not an X handle (no dots there)
        ("youtube:UC_x5XG1OV2P6uZZ5FSM9Ttw", ("youtube", "UC_x5XG1OV2P6uZZ5FSM9Ttw")),  # an id
        ("youtube:@my-channel", ("youtube", "@my-channel")),
        ("youtube:https://www.youtube.com/@my-channel", ("youtube", "@my-channel")),
        ("vk:someone", ("vk", "@someone")),
        ("fb:https://www.facebook.com/Some.Page", ("facebook", "@Some.Page")),
        ("bsky:https://bsky.app/profile/name.bsky.social", ("bluesky", "@name.bsky.social")),
        ("reddit:https://www.reddit.com/r/OSINT/", ("reddit", "r/OSINT")),
        ("x:[", ("x", "[")),  # not a URL either (urlsplit raises): as given
    ],
)
def test_account_refs(ref: str, parsed: tuple[str, str]) -> None:
    assert provenance.parse_account_ref(ref) == parsed


@pytest.mark.parametrize(
    ("ref", "parsed"),
    [
        # Threads (known before): @handles, read from a profile URL; a post is kept
        ("threads:https://www.threads.net/@someone.here", ("threads", "@someone.here")),
        ("threads:threads.com/@someone", ("threads", "@someone")),
        ("threads:https://www.threads.net/@someone/post/C1a2b3", ("threads",
         "https://www.threads.net/@someone/post/C1a2b3")),
        # Mastodon: the account's name and its server's, `@name@server`
        ("mastodon:@someone@mastodon.social", ("mastodon", "@someone@mastodon.social")),
        ("mastodon:someone@mastodon.social", ("mastodon", "@someone@mastodon.social")),
        ("mastodon:https://mastodon.social/@someone", ("mastodon", "@someone@mastodon.social")),
        ("mastodon:https://Mastodon.Social/@someone/", ("mastodon", "@someone@mastodon.social")),
        ("mastodon:infosec.exchange/@someone", ("mastodon", "@someone@infosec.exchange")),
        ("mastodon:https://mastodon.social/users/someone",
         ("mastodon", "@someone@mastodon.social")),
        # a remote account seen from another server: its own server's
        ("mastodon:https://mastodon.social/@someone@chaos.social",
         ("mastodon", "@someone@chaos.social")),
        # kept as given: no server, a post, a page of the server, not a URL of one
        ("mastodon:@someone", ("mastodon", "@someone")),
        ("mastodon:someone", ("mastodon", "someone")),
        ("mastodon:https://mastodon.social/@someone/111234567890",
         ("mastodon", "https://mastodon.social/@someone/111234567890")),
        ("mastodon:https://mastodon.social/about", ("mastodon", "https://mastodon.social/about")),
        ("mastodon:https://me@mastodon.social/@someone",
         ("mastodon", "https://me@mastodon.social/@someone")),
        ("mastodon:https://localhost/@someone", ("mastodon", "https://localhost/@someone")),
        # Odysee: @channels, with the claim id when given
        ("odysee:https://odysee.com/@veritasium:f", ("odysee", "@veritasium:f")),
        ("odysee:odysee.com/@Some_Channel", ("odysee", "@Some_Channel")),
        ("odysee:@name#7a", ("odysee", "@name:7a")),
        ("odysee:name", ("odysee", "@name")),
        ("odysee:https://odysee.com/@name:7/some-video:3",
         ("odysee", "https://odysee.com/@name:7/some-video:3")),
        ("odysee:https://odysee.com/some-video:3", ("odysee", "https://odysee.com/some-video:3")),
        ("odysee:https://odysee.com/$/discover", ("odysee", "https://odysee.com/$/discover")),
        # Rumble: a channel is c/NAME, a user user/NAME
        ("rumble:https://rumble.com/c/SomeChannel", ("rumble", "c/SomeChannel")),
        ("rumble:rumble.com/user/someone/", ("rumble", "user/someone")),
        ("rumble:/c/SomeChannel", ("rumble", "c/SomeChannel")),
        ("rumble:C/SomeChannel", ("rumble", "c/SomeChannel")),
        ("rumble:someone", ("rumble", "someone")),  # a channel or a user: as given
        ("rumble:https://rumble.com/v4abcde-some-video.html",
         ("rumble", "https://rumble.com/v4abcde-some-video.html")),
        # LinkedIn: a member is in/NAME, an organisation company/NAME
        ("linkedin:https://www.linkedin.com/in/jane-doe-1a2b3c/", ("linkedin", "in/jane-doe-1a2b3c")),
        ("linkedin:https://uk.linkedin.com/in/jane-doe", ("linkedin", "in/jane-doe")),
        ("linkedin:linkedin.com/company/acme-corp", ("linkedin", "company/acme-corp")),
        ("linkedin:https://www.linkedin.com/in/jos%C3%A9-garc%C3%ADa", ("linkedin",
         "in/josé-garcía")),
        ("linkedin:in/jane-doe", ("linkedin", "in/jane-doe")),
        ("linkedin:jane-doe", ("linkedin", "jane-doe")),
        ("linkedin:https://www.linkedin.com/posts/jane-doe_activity-7123",
         ("linkedin", "https://www.linkedin.com/posts/jane-doe_activity-7123")),
        ("linkedin:https://evil.example/in/jane-doe",
         ("linkedin", "https://evil.example/in/jane-doe")),
        # Weibo: a user by number is u/ID, by screen name n/NAME
        ("weibo:https://weibo.com/u/2803301701", ("weibo", "u/2803301701")),
        ("weibo:https://weibo.com/2803301701", ("weibo", "u/2803301701")),
        ("weibo:https://m.weibo.cn/profile/2803301701", ("weibo", "u/2803301701")),
        ("weibo:m.weibo.cn/u/2803301701", ("weibo", "u/2803301701")),
        ("weibo:https://weibo.com/n/人民日报", ("weibo", "n/人民日报")),
        ("weibo:@人民日报", ("weibo", "n/人民日报")),
        ("weibo:2803301701", ("weibo", "2803301701")),  # a bare name: as given
        ("weibo:https://weibo.com/2803301701/MuxAbcDef",
         ("weibo", "https://weibo.com/2803301701/MuxAbcDef")),
        ("weibo:https://weibo.com/rmrb", ("weibo", "https://weibo.com/rmrb")),  # its own name
    ],
)  # fmt: skip
def test_account_refs_on_the_platforms_added(ref: str, parsed: tuple[str, str]) -> None:
    assert provenance.parse_account_ref(ref) == parsed


@pytest.mark.parametrize(
    ("refs", "stored"),
    [
        (("mastodon:https://mastodon.social/@Someone", "mastodon:someone@mastodon.social",
          "mastodon:@SOMEONE@mastodon.social"), "mastodon:@Someone@mastodon.social"),
        (("rumble:https://rumble.com/c/Clips", "rumble:c/clips"), "rumble:c/Clips"),
        (("linkedin:https://www.linkedin.com/in/jane-doe", "linkedin:in/Jane-Doe"),
         "linkedin:in/jane-doe"),
        (("weibo:https://weibo.com/u/2803301701", "weibo:m.weibo.cn/profile/2803301701"),
         "weibo:u/2803301701"),
        (("odysee:https://odysee.com/@Clips:7", "odysee:@clips#7"), "odysee:@Clips:7"),
    ],
)  # fmt: skip
def test_one_account_on_the_platforms_added(
    archive: Archive, case: str, refs: tuple[str, ...], stored: str
) -> None:
    for ref in refs:
        provenance.attribute(archive, case, "reuploader", ref)
    assert [a["ref"] for a in provread.list_accounts(archive)] == [stored]


def test_accounts_stored_before_their_platform_was_known_are_found(
    archive: Archive, case: str
) -> None:
    """An earlier version kept `mastodon:https://mastodon.social/@someone` and
    `rumble:https://rumble.com/c/Clips` as written: they are the accounts their one
    spelling names, not new ones."""
    from verify.models import Account
    from verify.timeutil import now

    with archive.write() as session:
        for platform, handle in (
            ("mastodon", "https://mastodon.social/@someone"),
            ("rumble", "https://rumble.com/c/Clips"),
            ("linkedin", "https://www.linkedin.com/in/jane-doe/"),
            ("odysee", "https://odysee.com/@Clips:7"),
            ("weibo", "weibo.com/u/2803301701"),
        ):
            session.add(
                Account(
                    platform=platform, handle=handle, kind="unknown", created_at=now(),
                    created_by="t",
                )
            )  # fmt: skip
    for ref in ("mastodon:@someone@mastodon.social", "rumble:c/Clips", "rumble:/c/clips",
                "linkedin:in/jane-doe", "odysee:@clips:7", "weibo:u/2803301701"):  # fmt: skip
        provenance.attribute(archive, case, "reuploader", ref)
    assert sorted(a["ref"] for a in provread.list_accounts(archive)) == [
        "linkedin:https://www.linkedin.com/in/jane-doe/",
        "mastodon:https://mastodon.social/@someone",
        "odysee:https://odysee.com/@Clips:7",
        "rumble:https://rumble.com/c/Clips",
        "weibo:weibo.com/u/2803301701",
    ]


@pytest.mark.parametrize("bad", ["Gerashchenko_en", "x:", ":@a", "x y:@a", "x:@a\nb"])
def test_bad_account_refs(bad: str) -> None:
    with pytest.raises(BadInputError, match="write platform:handle"):
        provenance.parse_account_ref(bad)


def test_accounts_created_on_first_mention_and_case_insensitive(
    archive: Archive, case: str
) -> None:
    provenance.attribute(archive, case, "subtitler", "x:@Gerashchenko_en")
    provenance.attribute(archive, case, "reuploader", "x:@gerashchenko_EN")
    provenance.attribute(archive, case, "claimant", "person:Andriy Yusov")
    accounts = provread.list_accounts(archive)
    assert [(a["ref"], a["kind"]) for a in accounts] == [
        ("person:Andriy Yusov", "person"),
        ("x:@Gerashchenko_en", "unknown"),
    ]
    edited = provenance.edit_account(
        archive, "x:@gerashchenko_en", display_name="Anton Gerashchenko", kind="person"
    )
    assert (edited["display_name"], edited["kind"]) == ("Anton Gerashchenko", "person")
    last = logread.read_log(archive)[-1]
    assert last["action"] == "account.edit"
    assert last["payload"] == {
        "account": "x:@Gerashchenko_en",
        "display_name": {"old": None, "new": "Anton Gerashchenko"},
        "kind": {"old": "unknown", "new": "person"},
    }
    with pytest.raises(BadInputError, match="already exists"):
        provenance.add_account(archive, "x:@GERASHCHENKO_EN")
    with pytest.raises(BadInputError, match="unknown account kind 'bot'"):
        provenance.edit_account(archive, "x:@Gerashchenko_en", kind="bot")


def test_one_account_however_its_handle_is_written(archive: Archive, case: str) -> None:
    for ref in ("x:someone", "x:@someone", "x:https://x.com/someone", "twitter:@SOMEONE"):
        provenance.attribute(archive, case, "reuploader", ref)
    assert [a["ref"] for a in provread.list_accounts(archive)] == ["x:@someone"]
    assert {a["actor"] for a in provread.list_attributions(archive, case)} == {"x:@someone"}


def test_an_account_stored_without_its_at_is_still_found(archive: Archive, case: str) -> None:
    """Earlier versions stored `x:someone` as written: it is the same account, not a new one."""
    from verify.models import Account
    from verify.timeutil import now

    with archive.write() as session:
        session.add(
            Account(
                platform="x", handle="someone", kind="unknown", created_at=now(), created_by="t"
            )
        )
    for ref in ("x:someone", "x:@someone", "x:https://x.com/someone"):
        provenance.attribute(archive, case, "reuploader", ref)
    assert [a["ref"] for a in provread.list_accounts(archive)] == ["x:someone"]


def test_youtube_names_without_their_at_are_other_accounts(archive: Archive, case: str) -> None:
    """A bare YouTube name may be a channel id: it never joins an @handle, whichever was
    written first."""
    for ref in ("youtube:@somebody", "youtube:somebody", "youtube:UCabc", "youtube:@UCabc"):
        provenance.attribute(archive, case, "reuploader", ref)
    refs = sorted(a["ref"] for a in provread.list_accounts(archive))
    assert refs == ["youtube:@UCabc", "youtube:@somebody", "youtube:UCabc", "youtube:somebody"]


def test_an_account_stored_as_a_profile_url_keeps_its_attributions(
    archive: Archive, case: str
) -> None:
    """Earlier versions stored `x:https://x.com/Someone` as written: every spelling finds
    it, and the case's export imports back without a change."""
    from verify.models import Account
    from verify.services import casefile
    from verify.timeutil import now

    with archive.write() as session:
        session.add(
            Account(platform="x", handle="https://x.com/Someone", kind="unknown",
                    created_at=now(), created_by="t")
        )  # fmt: skip
    for ref in ("x:https://x.com/Someone", "x:@someone", "x:Someone"):
        provenance.attribute(archive, case, "reuploader", ref)
    assert [a["ref"] for a in provread.list_accounts(archive)] == ["x:https://x.com/Someone"]
    exported = casefile.export_case(archive, case)
    again = casefile.import_case_text(archive, exported, "again.toml")
    assert again.changes == 0
    assert casefile.export_case(archive, case) == exported


@pytest.mark.parametrize(
    ("platform", "spellings", "kept"),
    [
        (
            "facebook",
            ["BBCNews", "@BBCNews", "https://www.facebook.com/BBCNews/", "fb.com/BBCNews",
             "https://m.facebook.com/bbcnews", "fb:@bbcnews"],
            ["https://www.facebook.com/profile.php?id=100064", "100064",
             "https://www.facebook.com/BBCNews/posts/123", "facebook.com/groups/1234"],
        ),
        (
            "vk",
            ["durov", "@durov", "https://vk.com/durov", "m.vk.com/durov", "vkontakte:Durov"],
            ["https://vk.com/wall-1_45616", "https://vk.com/feed", "1"],
        ),
        (
            "bluesky",
            ["alice.bsky.social", "@alice.bsky.social",
             "https://bsky.app/profile/alice.bsky.social", "bsky:@Alice.bsky.social"],
            ["did:plc:z72i7hdynmk6r22z27h6tvur",
             "https://bsky.app/profile/alice.bsky.social/post/3kxyz", "alice"],
        ),
        (
            "reddit",
            ["u/spez", "/u/spez", "@spez", "https://www.reddit.com/user/spez/",
             "old.reddit.com/u/spez"],
            ["spez", "https://www.reddit.com/r/worldnews/comments/abc/title/", "r/spez"],
        ),
    ],
)  # fmt: skip
def test_one_account_on_the_platforms_a_newsroom_meets(
    archive: Archive, case: str, platform: str, spellings: list[str], kept: list[str]
) -> None:
    """Facebook, VK and Bluesky handles take the one @ spelling, Reddit's `u/NAME` (or
    `r/NAME`); what is not clearly a profile (a numeric id, a post, a DID) is kept as
    written, each its own account."""
    for spelling in spellings:
        ref = spelling if ":" in spelling and "://" not in spelling else f"{platform}:{spelling}"
        provenance.attribute(archive, case, "reuploader", ref)
    [one] = [a["ref"] for a in provread.list_accounts(archive)]
    for spelling in kept:
        provenance.attribute(archive, case, "claimant", f"{platform}:{spelling}")
    refs = sorted(a["ref"] for a in provread.list_accounts(archive))
    assert refs == sorted([one, *(f"{platform}:{k}" for k in kept)])
    assert (
        one
        == {
            "facebook": "facebook:@BBCNews",
            "vk": "vk:@durov",
            "bluesky": "bluesky:@alice.bsky.social",
            "reddit": "reddit:u/spez",
        }[platform]
    )


def test_a_reddit_account_stored_as_a_url_is_found_by_its_name(archive: Archive, case: str) -> None:
    """Reddit was not a known platform: an account stored as a profile URL, as written,
    is the one `reddit:u/someone` names (as on the platforms with @handles)."""
    from verify.models import Account
    from verify.timeutil import now

    with archive.write() as session:
        session.add(
            Account(platform="reddit", handle="https://www.reddit.com/user/Someone",
                    kind="unknown", created_at=now(), created_by="t")
        )  # fmt: skip
    for ref in ("reddit:u/someone", "reddit:@Someone", "reddit:reddit.com/u/Someone"):
        provenance.attribute(archive, case, "reuploader", ref)
    assert [a["ref"] for a in provread.list_accounts(archive)] == [
        "reddit:https://www.reddit.com/user/Someone"
    ]


def test_unicode_handles_never_collide(archive: Archive, case: str) -> None:
    provenance.attribute(archive, case, "claimant", "person:Ärzte Ohne Grenzen")
    provenance.attribute(archive, case, "claimant", "person:Ärzte Ohne Grenzen")
    provenance.attribute(archive, case, "claimant", "person:ärzte ohne grenzen")
    refs = [a["ref"] for a in provread.list_accounts(archive)]
    # letter case beyond A-Z is kept apart on every database (PostgreSQL's lower() folds it)
    assert "person:Ärzte Ohne Grenzen" in refs and "person:ärzte ohne grenzen" in refs


def test_appearance_platform_from_account_and_media_link(archive: Archive, case: str) -> None:
    mid = add_media(archive, case, "legion.mp4", b"clean")
    ap = provenance.add_appearance(
        archive,
        case,
        account="telegram:@example_channel",
        posted="2023-05-22T18:40+03:00",
        captured="2023-05-24T09:00Z",
        caption='Line one\n"quoted"',
        media=str(mid),
    )
    assert ap["platform"] == "telegram"
    assert ap["posted"] == "2023-05-22T15:40:00Z"
    assert ap["posted_precision"] == "exact"
    assert ap["media"] == mid
    assert ap["caption"] == 'Line one\n"quoted"'
    with pytest.raises(BadInputError, match="needs a platform"):
        provenance.add_appearance(archive, case, account="person:Someone")
    with pytest.raises(NotFoundError):
        provenance.add_appearance(archive, case, platform="x", media="99")


def test_attribution_state_history_is_kept(archive: Archive, case: str) -> None:
    a = provenance.attribute(
        archive,
        case,
        "subtitler",
        "x:@Gerashchenko_en",
        evidence="his tweet",
        according_to="x:@Gerashchenko_en",
    )
    assert a["state"] == "claimed"
    b = provenance.set_attribution_state(
        archive, a["id"], "corroborated", evidence="font matches", according_to="our analysis"
    )
    assert b["state"] == "corroborated"
    assert [(h["from"], h["to"], h["evidence"], h["according_to"]) for h in b["history"]] == [
        (None, "claimed", "his tweet", "x:@Gerashchenko_en"),
        ("claimed", "corroborated", "font matches", "our analysis"),
    ]
    with pytest.raises(BadInputError, match="already corroborated; nothing to change"):
        provenance.set_attribution_state(archive, a["id"], "corroborated")
    with pytest.raises(BadInputError, match="already corroborated with that evidence"):
        provenance.set_attribution_state(archive, a["id"], "corroborated", evidence="font matches")
    # the same state: what is given updates, what is not is kept
    c = provenance.set_attribution_state(archive, a["id"], "corroborated", according_to="the desk")
    assert (c["evidence"], c["according_to"]) == ("font matches", "the desk")
    # ... but the evidence of a corroboration cannot be emptied
    with pytest.raises(BadInputError, match="corroborated needs --evidence: what supports it"):
        provenance.set_attribution_state(archive, a["id"], "corroborated", evidence=" ")
    with pytest.raises(BadInputError, match="unknown attribution state 'maybe'"):
        provenance.set_attribution_state(archive, a["id"], "maybe")
    with pytest.raises(NotFoundError, match="no attribution 99"):
        provenance.set_attribution_state(archive, 99, "refuted")
    actions = [e["action"] for e in logread.read_log(archive)]
    assert actions[-3:] == ["attribution.add", "attribution.set", "attribution.set"]


def test_a_new_state_carries_only_what_was_said_with_it(archive: Archive, case: str) -> None:
    """Refuting a claim without naming a source must not credit the refutation to whoever
    made the claim, nor repeat the claim's evidence as the refutation's."""
    a = provenance.attribute(
        archive,
        case,
        "subtitler",
        "x:@Gerashchenko_en",
        evidence="he said he provided the subtitles",
        according_to="x:@Gerashchenko_en",
    )
    with pytest.raises(BadInputError, match="refuted needs --evidence: what contradicts it"):
        provenance.set_attribution_state(archive, a["id"], "refuted")
    # the same rule when an attribution is recorded already refuted or corroborated
    with pytest.raises(BadInputError, match="refuted needs --evidence: what contradicts it"):
        provenance.attribute(archive, case, "reuploader", "vk:someone", state="refuted")
    with pytest.raises(BadInputError, match="corroborated needs --evidence: what supports it"):
        provenance.set_attribution_state(archive, a["id"], "corroborated", evidence="  ")
    r = provenance.set_attribution_state(
        archive, a["id"], "refuted", evidence="the subtitled copy predates his post"
    )
    assert (r["state"], r["evidence"], r["according_to"]) == (
        "refuted",
        "the subtitled copy predates his post",
        None,
    )
    u = provenance.set_attribution_state(archive, a["id"], "unknown")
    assert (u["evidence"], u["according_to"]) == (None, None)
    assert [(h["to"], h["evidence"], h["according_to"]) for h in u["history"]] == [
        ("claimed", "he said he provided the subtitles", "x:@Gerashchenko_en"),
        ("refuted", "the subtitled copy predates his post", None),
        ("unknown", None, None),
    ]


def test_attribution_targets(archive: Archive, case: str) -> None:
    mid = add_media(archive, case, "a.mp4", b"a")
    ap = provenance.add_appearance(archive, case, platform="x")
    t1 = provenance.attribute(archive, case, "filmer", "person:Unknown", target=f"media:{mid}")
    t2 = provenance.attribute(archive, case, "reuploader", "x:@a", target=f"appearance:{ap['id']}")
    assert (t1["target"], t2["target"]) == (f"media:{mid}", f"appearance:{ap['id']}")
    cases.open_case(archive, "other", slug="other")
    with pytest.raises(NotFoundError, match="has no appearance"):
        provenance.attribute(
            archive, "other", "reuploader", "x:@a", target=f"appearance:{ap['id']}"
        )
    with pytest.raises(BadInputError, match="bad target"):
        provenance.attribute(archive, case, "reuploader", "x:@a", target="post:1")


def test_derivations_refuse_self_links_and_cycles(archive: Archive, case: str) -> None:
    m1 = add_media(archive, case, "clean.mp4", b"1")
    m2 = add_media(archive, case, "subtitled.mp4", b"2")
    m3 = add_media(archive, case, "reencode.mp4", b"3")
    d = provenance.derive(
        archive,
        str(m2),
        str(m1),
        "subtitled_from",
        evidence='{"frames_matched": 41, "offset": -9.0, "variant": "masked"}',
    )
    assert d["evidence"] == {"frames_matched": 41, "offset": -9.0, "variant": "masked"}
    provenance.derive(archive, str(m3), str(m2), "reencode_of", evidence="same frames")
    with pytest.raises(BadInputError) as exc:
        provenance.derive(archive, str(m1), str(m3), "excerpt_of")
    assert exc.value.message == (
        f"refusing a derivation cycle: media {m1} -> media {m3} -> media {m2} -> media {m1}"
    )
    with pytest.raises(BadInputError, match="cannot derive from itself"):
        provenance.derive(archive, str(m1), str(m1), "reencode_of")
    with pytest.raises(BadInputError, match="already recorded"):
        provenance.derive(archive, str(m2), str(m1), "subtitled_from")
    rows = provread.list_derivations(archive, case)
    assert [(r["child"], r["kind"], r["parent"]) for r in rows] == [
        (m2, "subtitled_from", m1),
        (m3, "reencode_of", m2),
    ]
    assert rows[1]["evidence"] == {"text": "same frames"}


def test_earliest_flags_the_claimed_platform(archive: Archive, case: str) -> None:
    provenance.attribute(archive, case, "original_poster", "telegram:(unknown)")
    assert provread.earliest(archive, case)["earliest"] is None
    provenance.add_appearance(archive, case, account="x:@Gerashchenko_en", posted="2023-05-23")
    result = provread.earliest(archive, case)
    assert result["claimed_original_platforms"] == ["telegram"]
    assert result["contradiction"] is True
    assert result["message"] == (
        "earliest known is appearance 1 on x, posted 2023-05-23; this contradicts the claimed "
        "original platform telegram (none of the known appearances is on it)"
    )
    provenance.add_appearance(
        archive, case, account="telegram:@example_channel", posted="2023-05-22T18:40+03:00"
    )
    result = provread.earliest(archive, case)
    assert result["earliest"]["id"] == 2
    assert result["contradiction"] is False
    assert (
        result["message"]
        == "earliest known is appearance 2 on telegram, posted 2023-05-22T15:40:00Z"
    )


def test_an_approximate_date_overlapping_the_claimed_platform_is_no_contradiction(
    archive: Archive, case: str
) -> None:
    """ "~2023-09" sorts first (it is stored as 2023-09-01) but may lie a month either side:
    an exact post on the claimed platform within that window may be earlier, so the order
    cannot be told and nothing is contradicted."""
    provenance.attribute(archive, case, "original_poster", "x:@someone")
    provenance.add_appearance(archive, case, account="x:@someone", posted="2023-09-11T19:14Z")
    provenance.add_appearance(archive, case, account="tiktok:@floodclips", posted="~2023-09")
    result = provread.earliest(archive, case)
    assert result["earliest"]["id"] == 2 and result["uncertain_with"] == [1]
    assert result["contradiction"] is False
    assert result["message"] == (
        "earliest known is appearance 2 on tiktok, posted ~2023-09, but its date overlaps "
        "appearance 1 on x (the claimed original platform): which came first cannot be told "
        "from these dates"
    )
    # a precise date on another platform, well before: that does contradict the claim
    provenance.add_appearance(archive, case, account="tiktok:@floodclips", posted="2023-06-01")
    result = provread.earliest(archive, case)
    assert result["earliest"]["id"] == 3 and result["contradiction"] is True


def test_earliest_uses_capture_time_and_reports_overlap(archive: Archive, case: str) -> None:
    provenance.add_appearance(archive, case, platform="x", captured="2023-05-24T09:00Z")
    first = provread.earliest(archive, case)
    assert (first["earliest"]["id"], first["earliest"]["basis"]) == (1, "captured")
    provenance.add_appearance(archive, case, platform="telegram", posted="2023-05-23")
    provenance.add_appearance(archive, case, platform="vk", posted="2023-05-23T20:00Z")
    result = provread.earliest(archive, case)
    assert result["earliest"]["id"] == 2
    assert result["uncertain_with"] == [3]  # same day: order unknown


def test_earliest_crosses_cases_through_bytes_and_derivations(archive: Archive, case: str) -> None:
    mine = add_media(archive, case, "subtitled.mp4", b"subtitled")
    provenance.add_appearance(archive, case, platform="x", posted="2023-05-23", media=str(mine))
    cases.open_case(archive, "Press reuse", slug="press")
    same = add_media(archive, "press", "copy.mp4", b"subtitled")  # same bytes, other case
    provenance.add_appearance(
        archive, "press", platform="youtube", posted="2023-05-21", media=str(same)
    )
    cases.open_case(archive, "Telegram original", slug="tg")
    orig = add_media(archive, "tg", "orig.mp4", b"clean original")
    provenance.add_appearance(
        archive, "tg", platform="telegram", posted="2023-05-20", media=str(orig)
    )
    cases.open_case(archive, "Unrelated", slug="unrelated")
    other = add_media(archive, "unrelated", "x.mp4", b"unrelated")
    provenance.add_appearance(
        archive, "unrelated", platform="x", posted="2020-01-01", media=str(other)
    )
    result = provread.earliest(archive, case)
    assert result["earliest"]["case"] == "press"
    # named with its case: its number is in none of this case's listings
    first = result["earliest"]["id"]
    assert result["message"] == (
        f"earliest known is appearance {first} (case press) on youtube, posted 2023-05-21"
    )
    provenance.derive(archive, str(mine), str(orig), "subtitled_from")
    result = provread.earliest(archive, case)
    assert (result["earliest"]["case"], result["earliest"]["platform"]) == ("tg", "telegram")
    assert result["considered"] == 3
    events = provread.timeline(archive, case)
    marked = [e for e in events if e["earliest"]]
    assert len(marked) == 1
    assert (marked[0]["case"], marked[0]["when"]) == ("tg", "2023-05-20")
    # a copy posted the same day in another case: the order is unknown, and its case named
    provenance.add_appearance(
        archive, "press", platform="vk", posted="2023-05-20T12:00Z", media=str(same)
    )
    result = provread.earliest(archive, case)
    assert (
        result["uncertain_elsewhere"]
        == [{"appearance": ap, "case": "press"} for ap in result["uncertain_with"]]
        and result["uncertain_with"]
    )


def test_a_retracted_derivation_stays_on_record_and_relates_nothing(
    archive: Archive, case: str
) -> None:
    """A typo'd media id linked an unrelated case into this one's earliest appearance, and
    nothing could take it back. Retracted, it is kept (who, when, why; one audit entry),
    and the earliest appearance, the cycle check and related copies ignore it."""
    mine = add_media(archive, case, "subtitled.mp4", b"subtitled")
    provenance.add_appearance(archive, case, platform="x", posted="2023-05-23", media=str(mine))
    cases.open_case(archive, "Unrelated", slug="unrelated")
    other = add_media(archive, "unrelated", "x.mp4", b"unrelated")
    provenance.add_appearance(
        archive, "unrelated", platform="x", posted="2020-01-01", media=str(other)
    )
    wrong = provenance.derive(archive, str(mine), str(other), "excerpt_of")
    assert provread.earliest(archive, case)["earliest"]["case"] == "unrelated"
    with pytest.raises(BadInputError):  # the reverse would close a cycle
        provenance.derive(archive, str(other), str(mine), "reencode_of")

    done = provenance.retract_derivation(archive, wrong["id"], "  typo: meant media 7  ")
    assert done["retracted"] is not None
    assert (done["retracted"]["by"], done["retracted"]["why"]) == ("tester", "typo: meant media 7")
    assert provread.list_derivations(archive, case) == [done]
    assert provread.earliest(archive, case)["earliest"]["case"] == case
    assert provread.earliest(archive, case)["considered"] == 1
    [event] = [e for e in provread.timeline(archive, case) if e["type"] == "derivation.retracted"]
    assert event["text"] == f"media {mine} excerpt_of media {other} retracted: typo: meant media 7"
    assert (event["source"], event["ref"]) == ("tester", f"derivation:{wrong['id']}")
    with pytest.raises(BadInputError) as exc:  # the same link cannot come back
        provenance.derive(archive, str(mine), str(other), "excerpt_of")
    assert exc.value.message.startswith("already recorded and retracted: derivation ")
    provenance.derive(archive, str(other), str(mine), "reencode_of")  # no cycle any more

    with pytest.raises(BadInputError) as exc:
        provenance.retract_derivation(archive, wrong["id"], "again")
    assert exc.value.message.startswith(f"derivation {wrong['id']} was already retracted by ")
    with pytest.raises(BadInputError):
        provenance.retract_derivation(archive, 2, " ")
    with pytest.raises(NotFoundError):
        provenance.retract_derivation(archive, 99, "x")
    with archive.read() as session:
        entries = session.exec(
            select(AuditEntry).where(AuditEntry.action == "derivation.retract")
        ).all()
    assert [orjson.loads(e.payload) for e in entries] == [
        {
            "id": wrong["id"],
            "child": mine,
            "parent": other,
            "kind": "excerpt_of",
            "why": "typo: meant media 7",
        }
    ]


def test_timeline_orders_every_dated_fact(
    archive: Archive, case: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VERIFY_FAKE_NOW", "2023-06-01T10:00:00Z")
    from verify.services import status

    mid = add_media(archive, case, "legion.mp4", b"x", via="download")
    provenance.add_appearance(
        archive,
        case,
        account="x:@Gerashchenko_en",
        posted="2023-05-23",
        captured="2023-05-24T09:00Z",
        url="https://x.com/i/status/1",
    )
    a = provenance.attribute(archive, case, "subtitler", "x:@Gerashchenko_en")
    status.set_status(archive, case, "in_progress")
    monkeypatch.setenv("VERIFY_FAKE_NOW", "2023-06-02T10:00:00Z")
    provenance.set_attribution_state(archive, a["id"], "corroborated", evidence="his reply")
    cases.add_note(archive, case, "asked the desk")
    events = provread.timeline(archive, case)
    assert [(e["when"], e["type"], e["earliest"]) for e in events][:4] == [
        ("2023-05-23", "appearance.posted", True),
        ("2023-05-24T09:00:00Z", "appearance.captured", False),
        ("2023-05-24T09:00:00Z", "media.acquired", False),
        ("2023-06-01T10:00:00Z", "attribution.recorded", False),
    ]
    # the case itself was opened "now" (real clock, after the fake 2023 dates)
    assert [e["type"] for e in events][4:] == [
        "status.changed",
        "attribution.changed",
        "note",
        "case.opened",
    ]
    assert events[0]["source"] == "https://x.com/i/status/1"
    assert events[2]["ref"] == f"media:{mid}"
    assert events[5]["text"] == (
        "subtitler: x:@Gerashchenko_en claimed -> corroborated; evidence: his reply"
    )
    # an attribution's source is whom it is according to, else (said so) who recorded it
    assert events[5]["source"] == "recorded by tester"
    assert events[3]["source"] == "recorded by tester"


def test_timeline_shows_each_media_files_own_capture_time(
    archive: Archive, case: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The file's own capture time (EXIF 2008 against a claimed May 2023) is a dated fact
    of the case: UTC when the file gives the offset, else the camera's clock, marked."""
    monkeypatch.setenv("VERIFY_FAKE_NOW", "2023-06-01T10:00:00Z")
    exact = add_media(archive, case, "phone.jpg", b"phone")
    local = add_media(archive, case, "canon.jpg", b"canon")
    again = add_media(archive, case, "canon-again.jpg", b"canon")  # the same bytes
    failed = add_media(archive, case, "broken.jpg", b"broken")
    unreadable = add_media(archive, case, "zeroed.jpg", b"zeroed")
    clip = add_media(archive, case, "clip.mp4", b"clip")
    analysed(
        archive,
        exact,
        {
            "make": "Apple",
            "model": "iPhone 12",
            "captured_at": "2023-05-22T14:03:11+03:00",
            "captured_at_raw": "2023:05:22 14:03:11",
            "captured_offset": "+03:00",
        },
    )
    analysed(
        archive,
        local,
        {"make": "Canon", "model": "Canon EOS 40D", "captured_at": None,
         "captured_at_raw": "2008:10:22 16:28:39", "captured_offset": None},
    )  # fmt: skip
    analysed(archive, failed, None)
    analysed(archive, unreadable, {"captured_at": None, "captured_at_raw": "0000:00:00 00:00:00"})
    analysed(
        archive,
        clip,
        {"captured_at": "2023-05-22T11:03:11Z", "captured_at_raw": "2023-05-22T11:03:11.000000Z"},
        kind="video",
    )
    provenance.add_appearance(archive, case, platform="x", posted="2023-05-22T11:03:11Z")
    events = provread.timeline(archive, case)
    captured = [e for e in events if e["type"] == "media.captured"]
    assert [(e["ref"], e["at"], e["when"], e["precision"]) for e in captured] == [
        (f"media:{local}", "2008-10-22T16:28:39Z",
         "2008-10-22 16:28:39 (camera local time, offset unknown)", "local"),
        (f"media:{again}", "2008-10-22T16:28:39Z",
         "2008-10-22 16:28:39 (camera local time, offset unknown)", "local"),
        (f"media:{exact}", "2023-05-22T11:03:11Z", "2023-05-22T11:03:11Z", "exact"),
        (f"media:{clip}", "2023-05-22T11:03:11Z", "2023-05-22T11:03:11Z", "exact"),
    ]  # fmt: skip
    first = captured[0]
    assert first["text"] == "capture time in the file's metadata: canon.jpg (Canon EOS 40D)"
    assert first["source"] == "file metadata (EXIF/XMP/IPTC)"
    assert first["warnings"] == [
        "capture time 2008-10-22 16:28:39 is the camera's local time, with no UTC offset in "
        "the file: placed as if it were UTC; the actual instant may be up to 14 hours "
        "earlier or 12 hours later"
    ]
    assert captured[2]["text"] == "capture time in the file's metadata: phone.jpg (Apple iPhone 12)"
    assert captured[2]["warnings"] == []
    assert (captured[3]["text"], captured[3]["source"]) == (
        "capture time in the file's metadata: clip.mp4",
        "file metadata (container tags)",
    )
    # the same instant as a post: captured by the device first
    same = [e["type"] for e in events if e["at"] == "2023-05-22T11:03:11Z"]
    assert same == ["media.captured", "media.captured", "appearance.posted"]
    assert not [e for e in events if e["ref"] in (f"media:{failed}", f"media:{unreadable}")
                and e["type"] == "media.captured"]  # fmt: skip
    assert provread.earliest(archive, case)["earliest"]["id"] == 1  # appearances only


@pytest.mark.parametrize(
    ("meta", "expected"),
    [
        (
            {"captured_at": "2008-10-22T16:28:39+03:00", "captured_at_raw": "2008:10:22 16:28:39",
             "captured_offset": "+03:00"},
            ("2008-10-22T13:28:39Z", False, "2008-10-22T13:28:39Z"),
        ),
        (
            {"captured_at": None, "captured_at_raw": "2008:10:22 16:28:39"},
            ("2008-10-22T16:28:39Z", True,
             "2008-10-22 16:28:39 (camera local time, offset unknown)"),
        ),
        (  # XMP without a zone, IPTC, an AVI's naive container time
            {"captured_at_raw": "2008-10-22T16:28:39"},
            ("2008-10-22T16:28:39Z", True,
             "2008-10-22 16:28:39 (camera local time, offset unknown)"),
        ),
        (
            {"captured_at_raw": "20081022 162839"},
            ("2008-10-22T16:28:39Z", True,
             "2008-10-22 16:28:39 (camera local time, offset unknown)"),
        ),
        (
            {"captured_at_raw": "2012-09-10 20:52:00"},
            ("2012-09-10T20:52:00Z", True,
             "2012-09-10 20:52:00 (camera local time, offset unknown)"),
        ),
        ({"captured_at_raw": "0000:00:00 00:00:00"}, None),
        # hostile: with its offset, beyond year 9999 in UTC (no time, rather than a crash)
        ({"captured_at": "9999-12-31T23:00:00-05:00", "captured_at_raw": "9999:12:31 23:00:00",
          "captured_offset": "-05:00"}, None),
        ({"captured_at_raw": "2008-10-22"}, None),  # no time of day
        ({"captured_at": None, "captured_at_raw": None}, None),
        ({}, None),
        (None, None),
    ],
)  # fmt: skip
def test_capture_time_forms(
    meta: dict[str, object] | None, expected: tuple[str, bool, str] | None
) -> None:
    found = capture_time(meta)
    assert (None if found is None else (iso(found.at), found.local, found.text)) == expected


@pytest.mark.parametrize(
    ("meta", "written"),
    [
        # EXIF: the offset is a tag of its own, given after the clock time
        ({"captured_at": "2008-10-22T16:28:39+03:00", "captured_at_raw": "2008:10:22 16:28:39",
          "captured_offset": "+03:00"}, "2008:10:22 16:28:39 +03:00"),
        # a phone's QuickTime time with its zone: kept (it tells the zone the phone was set to)
        ({"captured_at": "2019-07-24T11:25:40+03:00", "captured_at_raw": "2019-07-24T11:25:40+0300",
          "captured_offset": "+03:00"}, "2019-07-24T11:25:40+0300"),
        # a container's UTC time: says nothing the UTC display form does not
        ({"captured_at": "2025-08-23T04:39:57.000000Z",
          "captured_at_raw": "2025-08-23T04:39:57.000000Z"}, None),
        ({"captured_at_raw": "2008:10:22 16:28:39"}, "2008:10:22 16:28:39"),
        ({"captured_at": "2025-08-23T04:39:57Z"}, None),
    ],
)  # fmt: skip
def test_capture_time_as_written(meta: dict[str, object], written: str | None) -> None:
    found = capture_time(meta)
    assert found is not None and found.as_written() == written


def _earliest_elsewhere(archive: Archive, case: str) -> int:
    """The case's earliest post is on x; the original poster's account is on flickr."""
    provenance.add_appearance(archive, case, account="x:@reposter", posted="2023-05-23")
    return int(provenance.attribute(archive, case, "original_poster", "flickr:@photog")["id"])


def test_earliest_words_the_original_platform_as_the_attribution_stands(
    archive: Archive, case: str
) -> None:
    attr = _earliest_elsewhere(archive, case)
    result = provread.earliest(archive, case)
    assert (result["original_platform_state"], result["claimed_original_platforms"]) == (
        "claimed",
        ["flickr"],
    )
    assert "this contradicts the claimed original platform flickr" in result["message"]
    provenance.set_attribution_state(archive, attr, "corroborated", evidence="RAW file")
    result = provread.earliest(archive, case)
    assert (result["original_platform_state"], result["claimed_original_platforms"]) == (
        "corroborated",
        ["flickr"],
    )
    assert result["message"] == (
        "earliest known is appearance 1 on x, posted 2023-05-23; this contradicts the "
        "corroborated original platform flickr (none of the known appearances is on it)"
    )
    assert "claimed" not in result["message"]
    # refuted: not an original platform at all, so nothing is contradicted
    provenance.set_attribution_state(archive, attr, "refuted", evidence="a 2019 upload")
    result = provread.earliest(archive, case)
    assert (result["original_platform_state"], result["claimed_original_platforms"]) == (None, [])
    assert (result["contradiction"], result["message"]) == (
        False,
        "earliest known is appearance 1 on x, posted 2023-05-23",
    )


def test_an_attribution_recorded_in_error_is_withdrawn_not_refuted(
    archive: Archive, case: str, home: Path
) -> None:
    """`withdrawn` needs a reason, is not available at recording time, keeps the history,
    names no original platform (as refuted), imports and exports, and checks clean."""
    attr = _earliest_elsewhere(archive, case)
    with pytest.raises(BadInputError, match="withdrawn needs --evidence: why it was recorded in"):
        provenance.set_attribution_state(archive, attr, "withdrawn")
    with pytest.raises(BadInputError, match="a new attribution cannot be withdrawn"):
        provenance.attribute(archive, case, "reuploader", "x:@a", state="withdrawn", evidence="e")
    w = provenance.set_attribution_state(
        archive, attr, "withdrawn", evidence="typo: meant flickr:@photo_g"
    )
    assert (w["state"], w["evidence"], w["according_to"]) == (
        "withdrawn",
        "typo: meant flickr:@photo_g",
        None,
    )
    assert [h["to"] for h in w["history"]] == ["claimed", "withdrawn"]
    result = provread.earliest(archive, case)
    assert (result["original_platform_state"], result["claimed_original_platforms"]) == (None, [])
    assert result["contradiction"] is False
    text = casefile.export_case(archive, case)
    assert 'state = "withdrawn"' in text
    fresh = open_archive(home.parent / "fresh", actor="partner")
    try:
        casefile.import_case_text(fresh, text, "x.toml")
        assert casefile.export_case(fresh, case) == text
    finally:
        fresh.close()
    assert not check_archive(archive, objects=[]).findings
