"""Reading a case costs a fixed number of SQL statements, however many records it holds.

Each test builds the same kind of case twice, small and large, in two archives, and counts
the statements (SQLAlchemy `before_cursor_execute`) one read issues: the counts must be equal.
A per-row lookup (one query per attribution, account, media file…) makes the large count grow.
"""

import contextlib
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import event

from tests.provhelp import add_media, ensure_blob, sha_of
from verify.archive import Archive, open_archive
from verify.services import casefile, cases, provenance, provread, report
from verify.vocab import DerivationKind, Role

SMALL, LARGE = 2, 9
SLUG = "counted"


@contextlib.contextmanager
def counting(archive: Archive) -> Iterator[list[str]]:
    statements: list[str] = []

    def before(*args: Any) -> None:
        statements.append(args[2])  # conn, cursor, statement, parameters, context, many

    event.listen(archive.engine, "before_cursor_execute", before)
    try:
        yield statements
    finally:
        event.remove(archive.engine, "before_cursor_execute", before)


def statements(archive: Archive, read: Callable[[Archive], object]) -> int:
    read(archive)  # warm up: first-use queries (e.g. reflection) are not the read's own
    with counting(archive) as seen:
        read(archive)
    return len(seen)


def build_case(archive: Archive, n: int, *, media: int | None = None) -> None:
    """A case with `n` appearances, accounts and attributions (each changed once) and
    `media` files (default `n`), all but the first derived from the first."""
    cases.open_case(archive, "Counted", slug=SLUG, claims=["one", "two"])
    media_ids = [
        add_media(archive, SLUG, f"clip{i}.mp4", f"clip{i}".encode())
        for i in range(media if media is not None else n)
    ]
    roles = list(Role)
    for i in range(n):
        ap = provenance.add_appearance(
            archive,
            SLUG,
            account=f"x:@poster{i}",
            posted=f"2023-05-{1 + i % 28:02d}T{i // 28 % 24:02d}:00Z",
            media=str(media_ids[i % len(media_ids)]),
        )
        attr = provenance.attribute(
            archive,
            SLUG,
            roles[i % len(roles)],
            f"telegram:@actor{i}",
            target=f"appearance:{ap['id']}" if i % 2 else None,
        )
        provenance.set_attribution_state(archive, attr["id"], "corroborated", evidence=f"e{i}")
    for child in media_ids[1:]:
        provenance.derive(archive, str(child), str(media_ids[0]), DerivationKind.REENCODE_OF)


def pair(tmp_path: Path) -> tuple[Archive, Archive]:
    def one(name: str) -> Archive:
        home = tmp_path / name
        return open_archive(home, database_url=f"sqlite:///{home / 'verify.db'}", actor="tester")

    return one("small"), one("large")


READS: dict[str, Callable[[Archive], object]] = {
    "export_case": lambda a: casefile.export_case(a, SLUG),
    # what the commands call: the reads without the ORM (`Archive.reader()`)
    "provread.list_appearances": lambda a: provread.list_appearances(a, SLUG),
    "provread.list_attributions": lambda a: provread.list_attributions(a, SLUG),
    "provread.list_derivations": lambda a: provread.list_derivations(a, SLUG),
    "provread.earliest": lambda a: provread.earliest(a, SLUG),
    "provread.timeline": lambda a: provread.timeline(a, SLUG),
}


def test_provenance_reads_do_not_grow_with_the_case(tmp_path: Path) -> None:
    small, large = pair(tmp_path)
    try:
        build_case(small, SMALL)
        build_case(large, LARGE)
        counts = {
            name: (statements(small, read), statements(large, read)) for name, read in READS.items()
        }
    finally:
        small.close()
        large.close()
    assert {k: v for k, v in counts.items() if v[0] != v[1]} == {}
    assert all(small_count > 0 for small_count, _ in counts.values())  # each one was counted


# Statements one report of `build_case` (two media) issues: 74 when its provenance section
# was read through the ORM, each record kind read twice; 66 since it is read by `provread`
# on the report's session, the timeline's records serving the section too; 68 since its
# "Check at generation" compares the notes and the attribution changes with the trail.
REPORT_STATEMENTS = 68


def test_report_does_not_grow_with_attributions(tmp_path: Path) -> None:
    # Media stay fixed: each file's frames and near-duplicates are looked up per file.
    small, large = pair(tmp_path)
    try:
        build_case(small, SMALL, media=2)
        build_case(large, LARGE, media=2)
        counts = [
            statements(a, lambda a: report.build_report(a, SLUG, at=datetime.now(UTC)))
            for a in (small, large)
        ]
    finally:
        small.close()
        large.close()
    assert counts[0] == counts[1]
    assert counts[0] <= REPORT_STATEMENTS, counts  # fewer is fine: lower the bound


def build_imported(archive: Archive, n: int) -> None:
    """A case imported from a case file with `n` notes, status changes, appearances and
    attributions, and three media files (two derived from the first), each with the file's
    by/at: the report reads who recorded each from the import's audit entries."""
    statuses = ["in_progress", "needs_review"]
    lines = [
        "format = 1",
        "[case]",
        f'slug = "{SLUG}"',
        'title = "Imported"',
        f'status = "{statuses[(n - 1) % 2]}"',
        'created_at = "2023-05-01T00:00:00Z"',
        'created_by = "partner"',
    ]
    for i in range(n):
        lines += ["[[status_changes]]", f'to = "{statuses[i % 2]}"', f'why = "step {i}"']
        lines += [f'at = "2023-05-02T00:{i:02d}:00Z"', 'by = "partner"']
    for i in range(n):
        lines += ["[[notes]]", f'text = "note {i}"', f'at = "2023-05-03T00:{i:02d}:00Z"']
        lines += ['by = "partner"']
    for i in range(3):  # fixed: each file's frames and near-duplicates are read per file
        sha = sha_of(f"imported{i}".encode())
        ensure_blob(archive, sha)
        lines += ["[[media]]", f'sha256 = "{sha}"', f'name = "clip{i}.mp4"']
        lines += ['acquired_by = "partner unit"', f'acquired_at = "2023-05-04T00:{i:02d}:00Z"']
    for i in range(n):
        lines += ["[[appearances]]", 'platform = "x"', f'account = "x:@poster{i}"']
        lines += [f'posted = "2023-04-{1 + i:02d}"', 'created_by = "partner"']
        lines += ["[[attributions]]", 'role = "reuploader"', f'actor = "x:@poster{i}"']
        lines += ['created_by = "partner"']
    for child in (2, 3):
        lines += ["[[derivations]]", f'child = "media:{child}"', 'parent = "media:1"']
        lines += ['kind = "reencode_of"', 'created_by = "partner"']
    casefile.import_case_text(archive, "\n".join(lines) + "\n", "partner.toml")


def test_report_of_an_imported_case_does_not_grow_with_it(tmp_path: Path) -> None:
    """Who recorded each record (a case file's: as stated, imported by whom, when) is read
    from the audit trail in one statement, not one per record."""
    small, large = pair(tmp_path)
    try:
        build_imported(small, 3)
        build_imported(large, LARGE)
        counts = [
            statements(a, lambda a: report.build_report(a, SLUG, at=datetime.now(UTC)))
            for a in (small, large)
        ]
        data = report.build_report(large, SLUG, at=datetime.now(UTC))
    finally:
        small.close()
        large.close()
    assert counts[0] == counts[1]
    assert data["media"][2]["acquired"]["recorded"]["import"] == "partner.toml"
    assert data["notes"][LARGE - 1]["recorded"]["import"] == "partner.toml"


def test_case_list_does_not_grow_with_cases(tmp_path: Path) -> None:
    small, large = pair(tmp_path)
    try:
        for archive, n in ((small, SMALL), (large, LARGE)):
            for i in range(n):
                cases.open_case(archive, f"Case {i}", claims=["a", "b"])
        counts = [statements(a, cases.list_cases) for a in (small, large)]
    finally:
        small.close()
        large.close()
    assert counts[0] == counts[1]
