"""The docs cannot drift from the code: CLI reference, help, JSON shapes, exit codes, and
`verify --help` stays free of heavy imports (the start-up *time* is measured by
bench/startup/run.py, not here)."""

import os
import re
import subprocess
import sys

import pytest

from tests.conftest import REPO
from verify.cli import docs
from verify.errors import ExitCode

DOCS = REPO / "docs"
LEAVES = docs.iter_leaf_commands()


def test_cli_reference_is_current() -> None:
    committed = (DOCS / "cli.md").read_text()
    assert committed == docs.render(), (
        "docs/cli.md is out of date: run `python -m verify.cli.docs > docs/cli.md`"
    )


@pytest.mark.parametrize(("name", "cmd"), LEAVES, ids=[n for n, _ in LEAVES])
def test_every_command_has_help_and_examples(name: str, cmd: object) -> None:
    help_text = getattr(cmd, "help", None) or ""
    assert help_text.strip(), f"{name} has no docstring"
    epilog = getattr(cmd, "epilog", None) or ""
    assert "Examples:" in epilog, f"{name} has no epilog=examples(...)"
    examples = [line.strip() for line in epilog.splitlines() if line.strip().startswith("$ ")]
    assert examples, f"{name}: no example lines"
    assert all(e.startswith("$ verify ") for e in examples), examples


def json_commands() -> list[str]:
    return [
        name
        for name, cmd in LEAVES
        if any("--json" in getattr(p, "opts", []) for p in getattr(cmd, "params", []))
    ]


def test_every_json_command_is_documented() -> None:
    text = (DOCS / "json.md").read_text()
    names = json_commands()
    assert "verify case list" in names  # the detection works
    missing = [n for n in names if f"### `{n}`" not in text]
    assert missing == [], f"add a '### `NAME`' section to docs/json.md for: {missing}"


def test_every_exit_code_is_documented() -> None:
    text = (DOCS / "exit-codes.md").read_text()
    for code in ExitCode:
        assert re.search(rf"^\| {code.value} \| `{code.name}` \|", text, re.M), code


def test_concepts_give_each_status_the_meaning_reports_give() -> None:
    """Reports word a status as `verify.vocab.STATUS_MEANING` does; docs/concepts.md too."""
    from verify.vocab import OPEN_STATUSES, STATUS_MEANING, CaseStatus

    text = (DOCS / "concepts.md").read_text()
    assert set(STATUS_MEANING) == set(CaseStatus)
    for status, meaning in STATUS_MEANING.items():
        kind = "open" if status in OPEN_STATUSES else "verdict"
        assert f"| `{status}` | {kind} | {meaning} |" in text, status


def test_docs_give_findings_and_attribution_states_the_meaning_reports_give() -> None:
    """The reports' "How to read this report" words them as `verify.vocab` does."""
    from verify.vocab import (
        ATTRIBUTION_STATE_MEANING,
        FINDING_MEANING,
        AttributionState,
        Finding,
    )

    assert set(FINDING_MEANING) == set(Finding)
    assert set(ATTRIBUTION_STATE_MEANING) == set(AttributionState)
    concepts = (DOCS / "concepts.md").read_text()
    for finding, meaning in FINDING_MEANING.items():
        assert f"| `{finding}` | {meaning} |" in concepts, finding
    provenance = " ".join((DOCS / "provenance.md").read_text().split())
    for state, meaning in ATTRIBUTION_STATE_MEANING.items():
        assert f"`{state}` ({meaning})" in provenance, state


def test_provenance_docs_list_the_platforms_verify_knows() -> None:
    """docs/provenance.md names every platform of `vocab.PLATFORMS` and every alias, in the
    table's order."""
    import re

    from verify.vocab import KNOWN_PLATFORMS, PLATFORM_ALIASES

    text = " ".join((DOCS / "provenance.md").read_text().split())
    found = re.search(r"The platforms verify knows are (.*?), with the aliases (.*?) \(", text)
    assert found is not None
    names = re.findall(r"`([a-z]+)`", found.group(1))
    assert tuple(names) == KNOWN_PLATFORMS
    assert re.findall(r"`([a-z]+)`", found.group(2)) == list(PLATFORM_ALIASES)


def test_docs_index_links_every_page() -> None:
    index = (DOCS / "index.md").read_text()
    pages = sorted(p.name for p in DOCS.glob("*.md") if p.name != "index.md")
    missing = [p for p in pages if f"({p})" not in index]
    assert missing == [], f"docs/index.md does not link: {missing}"


# pydantic is not listed: typer itself (typer._adapters) imports it to coerce parameters.
HEAVY = {
    "sqlmodel",
    "sqlalchemy",
    "alembic",
    "numpy",
    "av",
    "PIL",
    "imagehash",
    "jinja2",
    "exifread",
    "scipy",
    "pillow_heif",
    "psycopg",
}


@pytest.mark.parametrize("args", [["--help"], ["case", "--help"], ["--version"]])
def test_help_does_not_import_heavy_modules(args: list[str]) -> None:
    """Heavy imports belong inside command functions so `verify --help` starts fast."""
    r = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "verify", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "TYPER_USE_RICH": "0"},
        check=False,
    )
    assert r.returncode == 0, r.stderr[-2000:]
    imported = {
        line.split("|")[-1].strip().split(".")[0]
        for line in r.stderr.splitlines()
        if line.startswith("import time:") and "|" in line
    }
    assert "verify" in imported  # parsing works
    assert imported & HEAVY == set()


_LINK = re.compile(r"\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")


def test_relative_markdown_links_resolve() -> None:
    """Every relative link in README.md and docs/*.md points at a file (and, with a
    #fragment, at a heading of a Markdown file) that exists in the repository."""
    broken: list[str] = []
    for page in [REPO / "README.md", *sorted(DOCS.glob("*.md"))]:
        text = re.sub(r"```.*?```", "", page.read_text(), flags=re.S)  # not code blocks
        for target in _LINK.findall(text):
            if re.match(r"^[a-z][a-z0-9+.-]*:", target) or target.startswith("<"):
                continue  # http:, mailto:, … and autolinks
            path, _, fragment = target.partition("#")
            dest = (page.parent / path).resolve() if path else page
            if not dest.exists():
                broken.append(f"{page.name}: {target}")
            elif fragment and dest.suffix == ".md":
                anchors = {
                    re.sub(r"[^\w\- ]", "", h.strip().lower()).replace(" ", "-")
                    for h in re.findall(r"^#+\s+(.*)$", dest.read_text(), re.M)
                }
                if fragment not in anchors:
                    broken.append(f"{page.name}: {target} (no such heading)")
    assert broken == []
