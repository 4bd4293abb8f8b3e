"""The example case's HTML report, looked at in headless Chromium (corpus media).

Skips with a reason when Chromium or the corpus is absent. `make screenshot` runs the same
script and refreshes docs/report-screenshot.png.
"""

from pathlib import Path

import pytest
from scripts import screenshot_report as shot

from tests import report_fixture
from verify.archive import Archive
from verify.services import report

pytestmark = [pytest.mark.slow]


@pytest.fixture
def chromium() -> str:
    found = shot.find_chromium()
    if found is None:
        pytest.skip("chromium not installed (Debian: apt-get install -y chromium)")
    return found


@pytest.mark.corpus
def test_example_report_renders_every_section_without_console_errors(
    chromium: str, corpus: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from PIL import Image

    monkeypatch.setenv("VERIFY_CORPUS", str(corpus))
    monkeypatch.delenv("VERIFY_FAKE_NOW", raising=False)  # the script pins it; restored after
    monkeypatch.delenv("VERIFY_ALLOW_FAKE_NOW")  # and allows it itself, as `make screenshot`
    png = tmp_path / "shot.png"
    assert shot.main(["--out", str(png), "--keep", str(tmp_path / "work")]) == 0
    with Image.open(png) as img:
        assert img.size == (1280, 2000)
        # not a blank page: the header and tables put plenty of dark pixels on it
        dark = sum(img.convert("L").histogram()[:100])
        assert dark > 5000
    html = next((tmp_path / "work").glob("*-report.html")).read_text()
    assert html.count('src="data:image/jpeg;base64,') >= 20  # contact sheets embedded


def test_console_check_catches_csp_violations(chromium: str, tmp_path: Path) -> None:
    """Negative control: a page that breaks its own CSP is reported."""
    page = tmp_path / "bad.html"
    page.write_text(
        '<!DOCTYPE html><html><head><meta http-equiv="Content-Security-Policy" '
        "content=\"default-src 'none'; img-src data:\"></head><body>"
        '<section id="x"><img src="https://example.invalid/t.png"></section></body></html>'
    )
    problems = shot.look(page, tmp_path / "bad.png", chromium, 400)
    assert any("Content Security Policy" in p for p in problems), problems
    assert "section 'claims' missing from the rendered page" in problems


def test_hostile_report_in_a_real_browser_logs_nothing(
    chromium: str, archive: Archive, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """T30's browser check: injected markup would trip the CSP and log to the console."""
    payload = '"><img src=x onerror=alert(1)><script>alert(2)</script><svg onload=alert(3)>'
    slug = report_fixture.build(archive, tmp_path, monkeypatch, payload=payload)
    written = report.write_report(archive, slug, "html", output=tmp_path / "r.html")
    assert written.path is not None
    assert shot.look(written.path, tmp_path / "r.png", chromium, 1200) == []
