"""`bench/check/run.py` builds its archive through the intake's own write path; this keeps
it runnable (it calls `services.intake._record`) and shows that an archive of many analysed
files, each with its recorded analysis digest, and of provenance records, checks clean on
either backend, and that one frame hash or one account edited among them is found."""

from pathlib import Path

import pytest
from bench.check import run as bench_check

from verify.archive import open_archive
from verify.services.log import check_archive


def test_the_bench_archive_checks_clean_and_an_edit_in_it_is_found(
    home: Path, database_url: str | None
) -> None:
    bench_check.build(home, database_url, files=6, frames=4, object_kib=1, every=3)
    parts = bench_check.in_process(home, database_url)  # exits if anything is found
    assert set(parts) == {"database", "objects"}
    archive = open_archive(home, database_url=database_url, actor="tester")
    try:
        from sqlalchemy import text

        with archive.engine.execution_options(verify_write=True).begin() as con:
            con.execute(text("UPDATE frames SET phash = phash + 1 WHERE id = 7"))
            con.execute(text("UPDATE accounts SET credibility = 'trusted' WHERE id = 2"))
        report = check_archive(archive, objects=[])
    finally:
        archive.close()
    assert [f.category for f in report.findings] == ["state", "state"]
    details = " | ".join(f.detail for f in report.findings)
    assert "frame hashes differ from what its analysis stored" in details
    assert "credibility" in details, details


def test_the_bench_baseline_reads_every_object(home: Path, database_url: str | None) -> None:
    bench_check.build(home, database_url, files=3, frames=2, object_kib=1, every=2)
    base = bench_check.baseline(home, database_url)
    assert base["total"] == pytest.approx(base["hash_objects"] + base["read_rows"])
    # 3 objects; rows: the entries, 3 blobs, 6 frames, 3 media, the case, its 2 claims and
    # 2 status changes at least, and for files 0 and 2 an appearance, two accounts, an
    # attribution, its change and a note
    assert base["objects"] == 3 and base["rows"] >= 3 + 6 + 3 + 1 + 2 + 2 + 3 + 2 * 6
