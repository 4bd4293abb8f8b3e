"""The same evidence renders the same report on SQLite and on PostgreSQL: both backends
must reproduce the golden JSON and Markdown byte for byte (PostgreSQL skips with a reason
unless VERIFY_TEST_POSTGRES_URL is set; .ci/run sets it when a server is up)."""

from pathlib import Path

import pytest

from tests import report_fixture
from tests.test_report import AT, GOLDEN, PINNED_GENERATOR
from verify.archive import Archive
from verify.services import report, report_render


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def test_golden_report_on_every_backend(
    archive: Archive, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    slug = report_fixture.build(archive, tmp_path, monkeypatch)
    data = report.build_report(archive, slug, at=AT)
    data["integrity"]["generator"] = PINNED_GENERATOR
    assert report_render.render_json(data).decode() == (GOLDEN / "report.json").read_text()
    assert report_render.render_markdown(data) == (GOLDEN / "report.md").read_text()
