"""Case-file imports and merges of records that share a stamp (docs/case-files.md, "How an
import matches records"): one import of a hand-written file gives its appearances one
`created_at`/`created_by`, and each side may correct some of them; records of one
acquisition time and acquirer; entries that leave stamps out."""

import re
from datetime import timedelta
from pathlib import Path

import pytest
from sqlmodel import select

from tests.provhelp import ACQUIRED, add_media, sha_of
from tests.test_casefile_exchange import (
    SLUG,
    _hold,
    dated_earlier,
    export,
    fresh_archive,
    partner_file,
    partner_with,
)
from verify.archive import Archive
from verify.errors import BadInputError
from verify.models import Media
from verify.services import casefile, cases, provenance, provread

HAND = (
    'format = 2\n[case]\nslug = "round"\ntitle = "Round"\n'
    '[[appearances]]\nplatform = "telegram"\naccount = "telegram:@chan"\ncaption = "first"\n'
    '[[appearances]]\nplatform = "telegram"\naccount = "telegram:@chan"\ncaption = "second"\n'
)


def _first_url(text: str, url: str) -> str:
    head, rest = text.split("[[appearances]]", 1)
    return (
        head
        + "[[appearances]]"
        + rest.replace('caption = "first"', f'url = "{url}"\ncaption = "first"', 1)
    )


def test_correcting_one_of_two_same_instant_appearances_in_an_export(archive: Archive) -> None:
    casefile.import_case_text(archive, HAND, "hand.toml")
    before = [(a["id"], a["caption"]) for a in provread.list_appearances(archive, SLUG)]
    assert before == [(before[0][0], "first"), (before[1][0], "second")]
    edited = _first_url(export(archive), "https://t.me/chan/1")
    casefile.import_case_text(archive, edited, "fix.toml")
    after = {a["id"]: (a["caption"], a["url"]) for a in provread.list_appearances(archive, SLUG)}
    # the appearance whose URL was corrected is the one captioned "first"
    assert after == {
        before[0][0]: ("first", "https://t.me/chan/1"),
        before[1][0]: ("second", None),
    }


def test_correcting_both_of_two_same_instant_appearances_in_an_export(archive: Archive) -> None:
    casefile.import_case_text(archive, HAND, "hand.toml")
    text = export(archive)
    text = text.replace('caption = "first"', 'url = "https://t.me/chan/1"\ncaption = "first"')
    text = text.replace('caption = "second"', 'url = "https://t.me/chan/2"\ncaption = "second"')
    casefile.import_case_text(archive, text, "fix.toml")
    assert sorted((a["caption"], a["url"]) for a in provread.list_appearances(archive, SLUG)) == [
        ("first", "https://t.me/chan/1"),
        ("second", "https://t.me/chan/2"),
    ]


def test_a_partners_correction_of_a_same_instant_appearance_converges(
    archive: Archive, tmp_path: Path
) -> None:
    casefile.import_case_text(archive, HAND, "hand.toml")
    desk_file = export(archive)

    def fix(p: Archive) -> None:
        first = next(a for a in provread.list_appearances(p, SLUG) if a["caption"] == "first")
        provenance.edit_appearance(p, first["id"], {"url": "https://t.me/chan/1"}, why="found it")

    partner = fresh_archive(tmp_path / "partner", "pat")
    try:
        casefile.import_case_text(partner, desk_file, "round.toml")
        fix(partner)
        theirs = export(partner)
        casefile.import_case_text(archive, theirs, "round.toml")
        ours = export(archive)
        casefile.import_case_text(partner, ours, "round.toml")
        assert export(partner) == export(archive)
    finally:
        partner.close()


def test_one_file_from_one_stringer_on_both_sides(archive: Archive, tmp_path: Path) -> None:
    cases.open_case(archive, "Round", slug=SLUG)
    desk_file = export(archive)
    partner = fresh_archive(tmp_path / "partner", "pat")
    try:
        casefile.import_case_text(partner, desk_file, "round.toml")
        _hold(partner, b"clip", tmp_path)
        pid = add_media(
            partner,
            SLUG,
            "clip.mp4",
            b"clip",
            acquired_by="stringer",
            source_url="https://partner.example/clip",
        )
        provenance.add_appearance(partner, SLUG, account="telegram:@p", media=str(pid))
        theirs = export(partner)
        _hold(archive, b"clip", tmp_path)
        add_media(
            archive,
            SLUG,
            "clip.mp4",
            b"clip",
            acquired_by="stringer",
            source_url="https://desk.example/clip",
        )
        casefile.import_case_text(archive, theirs, "round.toml")
        ours = export(archive)
        casefile.import_case_text(partner, ours, "round.toml")

        with partner.read() as s:
            mine = s.get(Media, pid)
            assert mine.source_url == "https://partner.example/clip"
        assert casefile.as_exported(export(partner)) == casefile.as_exported(export(archive))
    finally:
        partner.close()


def test_this_archive_corrected_two_same_instant_appearances_then_merges(
    archive: Archive, tmp_path: Path
) -> None:
    casefile.import_case_text(archive, HAND, "hand.toml")
    desk_file = export(archive)
    theirs = partner_file(tmp_path, desk_file, lambda p: cases.edit_case(p, SLUG, title="New"))
    for a in provread.list_appearances(archive, SLUG):
        url = f"https://t.me/chan/{a['caption']}"
        provenance.edit_appearance(archive, a["id"], {"url": url}, why="found them")
    casefile.import_case_text(archive, theirs, "round.toml")
    assert [(a["caption"], a["url"]) for a in provread.list_appearances(archive, SLUG)] == [
        ("first", "https://t.me/chan/first"),
        ("second", "https://t.me/chan/second"),
    ]


def test_each_side_corrects_one_same_instant_appearance(archive: Archive, tmp_path: Path) -> None:
    casefile.import_case_text(archive, HAND, "hand.toml")
    desk_file = export(archive)

    def recaption(p: Archive) -> None:
        first = next(a for a in provread.list_appearances(p, SLUG) if a["caption"] == "first")
        provenance.edit_appearance(p, first["id"], {"caption": "first, corrected"}, why="typo")

    theirs = partner_file(tmp_path, desk_file, recaption)
    first = next(a for a in provread.list_appearances(archive, SLUG) if a["caption"] == "first")
    provenance.edit_appearance(archive, first["id"], {"url": "https://t.me/chan/1"}, why="found")
    casefile.import_case_text(archive, theirs, "round.toml")
    assert [(a["caption"], a["url"]) for a in provread.list_appearances(archive, SLUG)] == [
        ("first, corrected", "https://t.me/chan/1"),
        ("second", None),
    ]


def _unstamp_first(text: str) -> str:

    m = re.search(
        r'(\[\[appearances\]\]\nn = 1\n(?:.*\n)*?)(created_at = "[^"]*"\ncreated_by = "[^"]*"\n)',
        text,
    )
    assert m is not None
    return text[: m.start(2)] + text[m.end(2) :]


@pytest.mark.parametrize("desk_moved_on", [False, True])
def test_a_partners_file_leaving_out_a_stamp_fast_forward(
    archive: Archive, tmp_path: Path, desk_moved_on: bool
) -> None:
    dated_earlier(archive, urls=True)
    desk_file = export(archive)
    theirs = partner_file(tmp_path, desk_file, lambda p: cases.edit_case(p, SLUG, title="New"))
    theirs = _unstamp_first(theirs).replace("/e/1", "/e/1?fixed")
    if desk_moved_on:
        cases.edit_case(archive, SLUG, summary="desk's")
    casefile.import_case_text(archive, theirs, "round.toml")
    assert sorted(a["url"] for a in provread.list_appearances(archive, SLUG)) == [
        "https://t.me/h/1",
        "https://x.com/e/1?fixed",
    ]


def test_an_export_with_all_stamps_left_out_fast_forward(archive: Archive) -> None:
    dated_earlier(archive, urls=True)

    head, *aps = export(archive).split("[[appearances]]")
    text = head + "".join(
        "[[appearances]]" + re.sub(r'created_(at|by) = "[^"]*"\n', "", a) for a in aps
    )
    casefile.import_case_text(archive, text, "same.toml")
    stamps = {a["account"]: a["created_by"] for a in provread.list_appearances(archive, SLUG)}
    assert stamps == {"telegram:@here": "tester", "x:@earlier": "pat"}


@pytest.mark.parametrize("desk_moved_on", [False, True])
def test_a_partner_corrects_two_same_instant_appearances(
    archive: Archive, tmp_path: Path, desk_moved_on: bool
) -> None:
    casefile.import_case_text(archive, HAND, "hand.toml")
    desk_file = export(archive)

    def fix(p: Archive) -> None:
        for a in provread.list_appearances(p, SLUG):
            provenance.edit_appearance(
                p, a["id"], {"url": f"https://t.me/c/{a['caption']}"}, why="found"
            )

    theirs = partner_file(tmp_path, desk_file, fix)
    if desk_moved_on:
        cases.edit_case(archive, SLUG, summary="desk's")
    casefile.import_case_text(archive, theirs, "round.toml")
    assert [a["url"] for a in provread.list_appearances(archive, SLUG)] == [
        "https://t.me/c/first",
        "https://t.me/c/second",
    ]


def test_a_hand_written_file_listing_two_acquisitions_of_one_content(
    archive: Archive, tmp_path: Path
) -> None:
    cases.open_case(archive, "Round", slug=SLUG)
    _hold(archive, b"clip", tmp_path)
    add_media(archive, SLUG, "a.mp4", b"clip")
    add_media(archive, SLUG, "b.mp4", b"clip", acquired_at=ACQUIRED + timedelta(hours=1))
    sha = sha_of(b"clip")
    hand = (
        'format = 2\n[case]\nslug = "round"\ntitle = "Round"\n'
        f'[[media]]\nsha256 = "{sha}"\nname = "a.mp4"\n'
        f'[[media]]\nsha256 = "{sha}"\nname = "b.mp4"\nlabel = "new"\n'
    )
    casefile.import_case_text(archive, hand, "hand.toml", update=True)
    with archive.read() as session:
        held = {m.original_name: m.label for m in session.exec(select(Media))}
    assert held == {"a.mp4": None, "b.mp4": "new"}


HAND2 = (  # one import: both appearances get one stamp
    'format = 2\n[case]\nslug = "round"\ntitle = "Round"\n'
    '[[appearances]]\nplatform = "telegram"\naccount = "telegram:@chan"\n'
    'url = "https://t.me/chan/1"\ncaption = "first"\n'
    '[[appearances]]\nplatform = "telegram"\naccount = "telegram:@chan"\ncaption = "second"\n'
)


def _move_url(side: Archive) -> None:
    """The URL was typed on the wrong post: it is the second's."""
    ids = {a["caption"]: a["id"] for a in provread.list_appearances(side, SLUG)}
    provenance.edit_appearance(side, ids["first"], {}, clear=["url"], why="wrong post")
    provenance.edit_appearance(side, ids["second"], {"url": "https://t.me/chan/1"}, why="its url")


@pytest.mark.parametrize("attributed", [False, True])
def test_a_url_moved_between_same_instant_appearances_stays_put(
    archive: Archive, tmp_path: Path, attributed: bool
) -> None:
    casefile.import_case_text(archive, HAND2, "hand.toml")
    before = {a["id"]: a["caption"] for a in provread.list_appearances(archive, SLUG)}
    if attributed:
        first = next(i for i, c in before.items() if c == "first")
        provenance.attribute(
            archive, SLUG, "original_poster", "telegram:@chan", target=f"appearance:{first}"
        )
    theirs = partner_file(tmp_path, export(archive), _move_url)
    casefile.import_case_text(archive, theirs, "round.toml")
    after = {a["id"]: a["caption"] for a in provread.list_appearances(archive, SLUG)}
    assert after == before


def test_a_url_moved_between_same_instant_appearances_converges(
    archive: Archive, tmp_path: Path
) -> None:
    casefile.import_case_text(archive, HAND2, "hand.toml")
    with partner_with(tmp_path, export(archive)) as partner:
        _move_url(partner)
        casefile.import_case_text(archive, export(partner), "round.toml")
        casefile.import_case_text(partner, export(archive), "round.toml")
        assert casefile.as_exported(export(partner)) == casefile.as_exported(export(archive))


def test_a_partners_note_stays_on_its_post_when_a_url_moved_here(
    archive: Archive, tmp_path: Path
) -> None:
    casefile.import_case_text(archive, HAND2, "hand.toml")

    def note_first(p: Archive) -> None:
        ids = {a["caption"]: a["id"] for a in provread.list_appearances(p, SLUG)}
        provenance.edit_appearance(p, ids["first"], {"note": "partner: on first"}, why="n")

    theirs = partner_file(tmp_path, export(archive), note_first)
    _move_url(archive)  # the desk moved on: a merge
    casefile.import_case_text(archive, theirs, "round.toml")
    notes = {a["caption"]: a["note"] for a in provread.list_appearances(archive, SLUG)}
    assert notes == {"first": "partner: on first", "second": None}


def _two_media(side: Archive, tmp_path: Path) -> tuple[str, str]:
    for c in (b"orig", b"copy"):
        _hold(side, c, tmp_path)
    return f"sha256:{sha_of(b'copy')[:16]}", f"sha256:{sha_of(b'orig')[:16]}"


def test_a_derivation_both_sides_retracted_is_refused_saying_so(
    archive: Archive, tmp_path: Path
) -> None:
    cases.open_case(archive, "Round", slug=SLUG)
    copy, orig = _two_media(archive, tmp_path)
    add_media(archive, SLUG, "orig.mp4", b"orig")
    add_media(archive, SLUG, "copy.mp4", b"copy")
    d = provenance.derive(archive, copy, orig, "reencode_of")
    desk_file = export(archive)
    partner = fresh_archive(tmp_path / "partner", "pat")
    try:
        _two_media(partner, tmp_path)
        casefile.import_case_text(partner, desk_file, "round.toml")
        provenance.retract_derivation(partner, 1, "partner: not a reencode")
        theirs = export(partner)
    finally:
        partner.close()
    provenance.retract_derivation(archive, d["id"], "desk: wrong parent")
    with pytest.raises(BadInputError, match="cannot be merged, with --update either") as exc:
        casefile.import_case_text(archive, theirs, "round.toml", update=True)
    assert "retraction: here 'desk: wrong parent', in the file 'partner: not a reencode'" in (
        exc.value.message
    )


def test_one_account_spelled_two_ways_on_two_sides_is_one_account(
    archive: Archive, tmp_path: Path
) -> None:
    cases.open_case(archive, "Round", slug=SLUG)
    with partner_with(tmp_path, export(archive)) as partner:
        provenance.add_account(partner, "telegram:@Rybar", credibility="pro-Kremlin blog")
        provenance.add_appearance(partner, SLUG, account="telegram:@Rybar")
        theirs = export(partner)
    provenance.add_account(archive, "telegram:@rybar", credibility="state-aligned")
    provenance.add_appearance(archive, SLUG, account="telegram:@rybar", url="https://t.me/rybar/1")
    # as with one spelling: "accounts[telegram:@rybar].credibility: here ..., in the file ..."
    with pytest.raises(BadInputError, match="credibility"):
        casefile.import_case_text(archive, theirs, "round.toml")


def test_an_unstamped_entry_after_a_record_only_the_file_has(
    archive: Archive, tmp_path: Path
) -> None:
    """The partner's export lists its own older-dated appearance first, then the desk's,
    whose stamp was left out (and URL corrected): the entry is the desk's appearance, the
    first the desk holds after the one before it, not the desk's first by index."""
    cases.open_case(archive, "Round", slug=SLUG)
    provenance.add_appearance(archive, SLUG, account="telegram:@here", url="https://t.me/h/1")

    def older(p: Archive) -> None:
        dated = export(p).replace(
            "# end of case file",
            '[[appearances]]\nplatform = "x"\naccount = "x:@earlier"\n'
            'created_at = "2020-01-01T00:00:00Z"\ncreated_by = "stringer"\n\n# end of case file',
        )
        casefile.import_case_text(p, dated, "a.toml")

    theirs = partner_file(tmp_path, export(archive), older)
    head, a1, a2 = theirs.split("[[appearances]]")
    a2 = re.sub(r'created_(at|by) = "[^"]*"\n', "", a2).replace("/h/1", "/h/1?fixed")
    casefile.import_case_text(archive, f"{head}[[appearances]]{a1}[[appearances]]{a2}", "r.toml")
    assert sorted((a["account"], a["url"]) for a in provread.list_appearances(archive, SLUG)) == [
        ("telegram:@here", "https://t.me/h/1?fixed"),
        ("x:@earlier", None),
    ]
