"""What a case file leaves out: derivations that link the case's media to media of other
cases stay in the archive; the file and the command say how many, without naming them."""

import json
from pathlib import Path

from tests.conftest import RunCli
from tests.provhelp import add_media
from verify.archive import Archive
from verify.services import casefile


def test_derivations_to_other_cases_are_counted_not_named(
    cli: RunCli, archive: Archive, tmp_path: Path
) -> None:
    for slug in ("ours", "theirs"):
        assert cli("case", "open", slug.title(), "--slug", slug).exit_code == 0
    mine = add_media(archive, "ours", "subtitled.mp4", b"ours subtitled")
    original = add_media(archive, "ours", "original.mp4", b"ours original")
    other = add_media(archive, "theirs", "secret-name.mp4", b"theirs")
    for child, parent, kind in ((mine, original, "subtitled_from"), (other, original,
                                "reencode_of"), (mine, other, "excerpt_of")):  # fmt: skip
        r = cli("prov", "derive", str(child), str(parent), "--kind", kind)
        assert r.exit_code == 0, r.stderr
    r = cli("case", "export", "ours")
    assert r.exit_code == 0, r.stderr
    text = r.stdout
    assert text.count("[[derivations]]") == 1  # only the link inside the case
    assert "# not in this file: 2 derivations linking this case's media to media of other " in text
    assert "secret-name" not in text and "theirs" not in text
    assert text.rstrip().endswith("# end of case file")
    assert casefile.left_out(text) == 2
    assert r.stderr == (
        "note: the file leaves out 2 derivations linking this case's media to media of other "
        "cases, and says so (`verify prov derivations ours` lists them)\n"
    )
    # the file imports back here, changing nothing
    out = tmp_path / "ours.toml"
    out.write_text(text)
    back = cli("case", "import", str(out))
    assert back.exit_code == 0, back.stderr
    assert "nothing changed" in back.stderr
    entries = json.loads(cli("log", "--json").stdout)
    assert entries[-1]["action"] == "case.export"


def test_a_case_without_such_links_says_nothing(cli: RunCli, archive: Archive) -> None:
    assert cli("case", "open", "Alone", "--slug", "alone").exit_code == 0
    r = cli("case", "export", "alone")
    assert r.exit_code == 0 and r.stderr == ""
    assert "not in this file" not in r.stdout and casefile.left_out(r.stdout) == 0
