"""Provenance both archives added since an exchange, merged (docs/case-files.md, "How an
import matches records"): media, appearances, attributions and derivations are matched by
what identifies them, not by place, and listed in one order in every archive."""

import re
import tomllib
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
)
from verify.archive import Archive
from verify.errors import BadInputError
from verify.models import Media
from verify.services import casefile, cases, log, provenance, provread


def _acquisitions(side: Archive) -> dict[int, tuple[str, str]]:
    with side.read() as session:
        return {m.id or 0: (m.original_name, m.acquired_by) for m in session.exec(select(Media))}


def test_media_acquired_alike_on_both_sides_are_listed_alike(
    archive: Archive, tmp_path: Path
) -> None:
    """Each desk adds a different file from one stringer, stated as acquired at one time:
    both archives list them in one order (by name and content after the acquisition)."""
    cases.open_case(archive, "Round", slug=SLUG)
    desk_file = export(archive)
    partner = fresh_archive(tmp_path / "partner", "pat")
    try:
        casefile.import_case_text(partner, desk_file, "round.toml")
        _hold(partner, b"partner's", tmp_path)
        add_media(partner, SLUG, "p.mp4", b"partner's", acquired_by="stringer")
        theirs = export(partner)
        _hold(archive, b"desk's", tmp_path)
        add_media(archive, SLUG, "d.mp4", b"desk's", acquired_by="stringer")
        _hold(archive, b"partner's", tmp_path)
        casefile.import_case_text(archive, theirs, "round.toml")
        ours = export(archive)
        assert [m["name"] for m in tomllib.loads(ours)["media"]] == ["d.mp4", "p.mp4"]
        _hold(partner, b"desk's", tmp_path)
        casefile.import_case_text(partner, ours, "round.toml")
        assert export(partner) == ours
    finally:
        partner.close()


@pytest.mark.parametrize(("desk", "second_by"), [("tester", "pat"), ("stringer", "stringer")])
@pytest.mark.parametrize("desk_moved_on", [True, False])
def test_a_corrected_acquisition_stays_with_its_record(
    archive: Archive, tmp_path: Path, desk: str, second_by: str, desk_moved_on: bool
) -> None:
    """The partner corrects when the desk's file was acquired, then logs a second
    acquisition of the same bytes (dated before the corrected time, by someone else or by
    the same stringer) with the post it came from. The desk's import pairs its record with
    the corrected one (same bytes, acquirer and name), not with the first of the file's
    records of those bytes: its own record keeps its acquisition, and each post still shows
    its own acquisition; as a fast-forward or, the desk having moved on, as a merge."""
    cases.open_case(archive, "Round", slug=SLUG)
    _hold(archive, b"original", tmp_path)
    mid = add_media(archive, SLUG, "desk.mp4", b"original", acquired_by=desk)
    provenance.add_appearance(archive, SLUG, account="telegram:@desk", media=str(mid))
    desk_file = export(archive)
    partner = fresh_archive(tmp_path / "partner", "pat")
    try:
        _hold(partner, b"original", tmp_path)
        casefile.import_case_text(partner, desk_file, "round.toml")
        fixed = export(partner).replace(
            'acquired_at = "2023-05-24T09:00:00Z"', 'acquired_at = "2023-05-24T19:00:00Z"', 1
        )
        assert casefile.import_case_text(partner, fixed, "fix.toml").changes == 1
        second = add_media(
            partner,
            SLUG,
            "second.mp4",
            b"original",
            acquired_by=second_by,
            acquired_at=ACQUIRED + timedelta(hours=1),
        )
        provenance.add_appearance(partner, SLUG, account="telegram:@second", media=str(second))
        theirs = export(partner)
    finally:
        partner.close()
    if desk_moved_on:
        cases.edit_case(archive, SLUG, summary="desk's")
    casefile.import_case_text(archive, theirs, "round.toml")
    assert _acquisitions(archive)[mid] == ("desk.mp4", desk)
    doc = tomllib.loads(export(archive))
    names = {f"media:{m['n']}": (m["name"], m["acquired_at"]) for m in doc["media"]}
    assert {a["account"]: names[a["media"]] for a in doc["appearances"]} == {
        "telegram:@desk": ("desk.mp4", "2023-05-24T19:00:00Z"),
        "telegram:@second": ("second.mp4", "2023-05-24T10:00:00Z"),
    }


def test_a_media_reference_both_sides_changed_names_the_files(
    archive: Archive, tmp_path: Path
) -> None:
    """A conflict on which file an appearance shows names the files, not their numbers on
    either side (which differ after a merge) nor anything internal."""
    cases.open_case(archive, "Round", slug=SLUG)
    for name in ("a", "b", "c"):
        _hold(archive, name.encode(), tmp_path)
        add_media(archive, SLUG, f"{name}.mp4", name.encode())
    provenance.add_appearance(archive, SLUG, account="telegram:@chan")
    desk_file = export(archive)

    def point(side: Archive, content: bytes) -> None:
        [ap] = provread.list_appearances(side, SLUG)
        ref = f"sha256:{sha_of(content)[:16]}"
        provenance.edit_appearance(side, ap["id"], {"media": ref}, why="found it")

    partner = fresh_archive(tmp_path / "partner", "pat")
    try:
        for name in ("a", "b", "c"):
            _hold(partner, name.encode(), tmp_path)
        casefile.import_case_text(partner, desk_file, "round.toml")
        point(partner, b"b")
        theirs = export(partner)
    finally:
        partner.close()
    point(archive, b"c")
    with pytest.raises(BadInputError) as exc:
        casefile.import_case_text(archive, theirs, "round.toml")
    assert (
        f"appearances[1].media: here c.mp4 (sha256:{sha_of(b'c')[:12]}…), in the file b.mp4 "
        f"(sha256:{sha_of(b'b')[:12]}…), both changed from none"
    ) in exc.value.message


def test_two_appearances_of_one_instant_and_one_name_stay_two(
    archive: Archive, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Under a pinned clock, both archives' users named alike each add a different
    appearance: the same stamp, but not the same record; both are kept."""
    monkeypatch.setenv("VERIFY_FAKE_NOW", "2024-05-01T12:00:00Z")
    monkeypatch.setenv("VERIFY_ALLOW_FAKE_NOW", "1")
    cases.open_case(archive, "Round", slug=SLUG)
    desk_file = export(archive)
    partner = fresh_archive(tmp_path / "partner", "tester")
    try:
        casefile.import_case_text(partner, desk_file, "round.toml")
        provenance.add_appearance(partner, SLUG, account="telegram:@p", url="https://t.me/p/1")
        theirs = export(partner)
    finally:
        partner.close()
    provenance.add_appearance(archive, SLUG, account="telegram:@d", url="https://t.me/d/1")
    done = casefile.import_case_text(archive, theirs, "round.toml")
    assert [e["action"] for e in done.entries] == ["account.add", "appearance.add", "case.import"]
    assert sorted(a["url"] for a in provread.list_appearances(archive, SLUG)) == [
        "https://t.me/d/1",
        "https://t.me/p/1",
    ]


def _stamp_changed(text: str, new: str) -> str:
    """`text` with the first appearance's created_at/created_by replaced by `new`."""
    m = re.search(
        r'(\[\[appearances\]\]\nn = 1\n(?:.*\n)*?)(created_at = "[^"]*"\ncreated_by = "[^"]*"\n)',
        text,
    )
    assert m is not None
    return text[: m.start(2)] + new + text[m.end(2) :]


def test_a_file_that_redates_a_record_both_held_is_refused(
    archive: Archive, tmp_path: Path
) -> None:
    """What identifies an appearance (when and by whom it was first recorded) never
    changes: a partner's file that changed it is refused, --update included, rather than
    taken for a new appearance beside the old one."""
    cases.open_case(archive, "Round", slug=SLUG)
    provenance.add_appearance(archive, SLUG, account="telegram:@chan", url="https://t.me/c/1")
    desk_file = export(archive)
    theirs = partner_file(tmp_path, desk_file, lambda p: cases.edit_case(p, SLUG, title="New"))
    theirs = _stamp_changed(theirs, 'created_at = "2020-01-01T00:00:00Z"\ncreated_by = "x"\n')
    cases.edit_case(archive, SLUG, summary="desk's")
    with pytest.raises(BadInputError, match="cannot be merged") as exc:
        casefile.import_case_text(archive, theirs, "round.toml", update=True)
    assert "appearances: the file lacks one both archives held (recorded by tester at " in (
        exc.value.message
    )
    assert len(provread.list_appearances(archive, SLUG)) == 1


def test_a_file_that_leaves_a_records_stamp_out_still_merges(
    archive: Archive, tmp_path: Path
) -> None:
    """Stamps are meta and may be left out: a partner's file whose appearance lost them
    (and whose URL it corrected) is that appearance, by its place; the merge keeps the
    stamp and takes the correction."""
    cases.open_case(archive, "Round", slug=SLUG)
    provenance.add_appearance(archive, SLUG, account="telegram:@chan", url="https://t.me/c/1")
    provenance.add_appearance(archive, SLUG, account="telegram:@chan", url="https://t.me/c/2")
    desk_file = export(archive)
    theirs = partner_file(tmp_path, desk_file, lambda p: cases.edit_case(p, SLUG, title="New"))
    theirs = _stamp_changed(theirs, "").replace("/c/1", "/c/1?fixed")
    cases.edit_case(archive, SLUG, summary="desk's")
    assert casefile.import_case_text(archive, theirs, "round.toml").changes == 2
    urls = [a["url"] for a in provread.list_appearances(archive, SLUG)]
    assert urls == ["https://t.me/c/1?fixed", "https://t.me/c/2"]
    assert log.check_archive(archive).ok


def test_a_hand_written_file_is_matched_as_the_command_line_lists_records(
    archive: Archive,
) -> None:
    """Entries without stamps are the archive's records at their places as recorded (the
    order `verify prov appearance list` shows), whatever order exports list them in."""
    dated_earlier(archive)
    hand = (
        'format = 2\n[case]\nslug = "round"\ntitle = "Round"\n'
        '[[appearances]]\nplatform = "telegram"\naccount = "telegram:@here"\ncaption = "new"\n'
        '[[appearances]]\nplatform = "x"\naccount = "x:@earlier"\n'
    )
    with pytest.raises(BadInputError, match=r"it would change 1 fact .*appearances\[1\]\.caption"):
        casefile.import_case_text(archive, hand, "hand.toml")
    assert casefile.import_case_text(archive, hand, "hand.toml", update=True).changes == 1
    assert [(a["account"], a["caption"]) for a in provread.list_appearances(archive, SLUG)] == [
        ("telegram:@here", "new"),
        ("x:@earlier", None),
    ]


def test_a_previous_versions_file_continuing_from_this_archives_state_applies(
    archive: Archive, tmp_path: Path
) -> None:
    """A partner still on the previous version names, in `earlier`, this archive's state
    as that version rendered it (records as recorded): its file is a fast-forward here."""
    dated_earlier(archive)
    with archive.read() as session:
        case = cases.get_case(session, SLUG)
        then = casefile.render_case(session, case, records_by_time=False)
    partners = then.replace('title = "Round"', 'title = "Round, the partner\'s"', 1)
    digest = casefile.state_digest(partners)
    theirs = casefile.with_base(partners, digest, [casefile.state_digest(then)])
    assert casefile.import_case_text(archive, theirs, "p.toml").changes == 1
    assert cases.show_case(archive, SLUG)["title"] == "Round, the partner's"


def test_a_changed_media_hash_is_refused_naming_both(archive: Archive, tmp_path: Path) -> None:
    """A file whose media entry names other bytes than the archive's record at its place
    (edited, or each archive added its own) is refused, --update included: neither the
    hash nor the acquisition of a record is ever replaced."""
    cases.open_case(archive, "Round", slug=SLUG)
    for content in (b"one", b"two"):
        _hold(archive, content, tmp_path)
    add_media(archive, SLUG, "one.mp4", b"one")
    edited = export(archive).replace(sha_of(b"one"), sha_of(b"two"))
    with pytest.raises(BadInputError) as exc:
        casefile.import_case_text(archive, edited, "m.toml", update=True)
    assert exc.value.message.startswith(
        f"m.toml: media[1].sha256: the archive's media 1 of this case is sha256:{sha_of(b'one')}, "
        f"the file's sha256:{sha_of(b'two')}: a file's hash cannot change"
    )
    assert list(_acquisitions(archive).values()) == [("one.mp4", "tester")]


def test_after_a_conflict_settled_with_update_both_sides_still_merge(
    archive: Archive, tmp_path: Path
) -> None:
    """Both change one caption; the desk takes the partner's with --update and sends its
    export, which the partner already holds (it only learns the desk's state from before).
    Both then work again: the partner's import of the desk's next file merges against the
    state both were in last, not against the desk's discarded state, whose text the
    partner never had."""
    cases.open_case(archive, "Round", slug=SLUG)
    provenance.add_appearance(archive, SLUG, account="telegram:@chan", caption="first")
    provenance.attribute(archive, SLUG, "original_poster", "telegram:@chan")

    def caption(side: Archive, text: str) -> None:
        [ap] = provread.list_appearances(side, SLUG)
        provenance.edit_appearance(side, ap["id"], {"caption": text}, why="misread")

    partner = fresh_archive(tmp_path / "partner", "pat")
    try:
        casefile.import_case_text(partner, export(archive), "r0.toml")
        caption(partner, "partner's")
        theirs = export(partner)
        caption(archive, "desk's")
        export(archive)  # sent too, crossing the partner's: the desk held that state
        casefile.import_case_text(archive, theirs, "r1.toml", update=True)
        assert casefile.import_case_text(partner, export(archive), "r2.toml").changes == 0
        [attr] = provread.list_attributions(partner, SLUG)
        provenance.set_attribution_state(partner, attr["id"], "refuted", evidence="pat says")
        cases.add_note(archive, SLUG, "the desk's note")
        done = casefile.import_case_text(partner, export(archive), "r3.toml")
        assert done.entries[-1]["payload"]["merged"] is not None
        casefile.import_case_text(archive, export(partner), "r4.toml")
        assert export(partner) == export(archive)
    finally:
        partner.close()


def test_a_file_lacking_an_appearance_names_it(archive: Archive) -> None:
    """A file that drops one of the case's appearances is refused naming that appearance
    by what it says and who recorded it (not by a count)."""
    cases.open_case(archive, "Round", slug=SLUG)
    provenance.add_appearance(archive, SLUG, account="telegram:@one", url="https://t.me/one/1")
    provenance.add_appearance(archive, SLUG, account="x:@two")
    head, _, second = export(archive).split("[[appearances]]")
    with pytest.raises(BadInputError) as exc:
        dropped = f"{head}[[appearances]]{second.replace('n = 2', 'n = 1', 1)}"
        casefile.import_case_text(archive, dropped, "x.toml")
    assert exc.value.message.startswith(
        "x.toml: appearances[1]: the file lacks the archive's appearance 1 (telegram, "
        "https://t.me/one/1, telegram:@one, recorded by tester at "
    )
