"""Rendering: JSON on stdout, human tables on stdout, notices on stderr.

Untrusted strings (EXIF, titles, filenames) are stripped of terminal control characters
before they reach a terminal; `--json` keeps the exact original strings.
"""

import re
import sys
from collections.abc import Sequence
from typing import Any

# C0 and C1 controls (newline and tab too), DEL, the Unicode bidi marks, overrides and
# isolates, and the line and paragraph separators.
_CONTROL = re.compile(
    "[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\u2028\u2029]"
)


def clean(value: object) -> str:
    """Text safe to print to a terminal, on one line: control characters (newlines and
    tabs included) become '?'. Evidence (EXIF text, file names, URLs) must not start lines
    of its own in the output, which could pass for the tool's (`sha256: …`)."""
    if value is None:
        return "-"
    return _CONTROL.sub("?", str(value))


def clean_block(value: object, indent: int) -> str:
    """Free text a user wrote over several lines (a summary, a note), `clean` line by line,
    each line after the first indented by `indent` spaces: under its field, never at the
    start of a line."""
    lines = str(value).replace("\r\n", "\n").split("\n")
    return ("\n" + " " * indent).join(clean(line) for line in lines)


def print_json(data: Any) -> None:
    import orjson

    sys.stdout.write(orjson.dumps(data, option=orjson.OPT_INDENT_2).decode() + "\n")


def notice(message: str) -> None:
    sys.stderr.write(clean(message) + "\n")


def columns(rows: Sequence[Sequence[object]]) -> list[str]:
    """Rows of cells (`clean`ed) as lines in left-aligned columns two spaces apart; the last
    column is never padded."""
    cells = [[clean(c) for c in row] for row in rows]
    widths: list[int] = []
    for row in cells:
        for i, c in enumerate(row):
            if i == len(widths):
                widths.append(0)
            widths[i] = max(widths[i], len(c))
    return ["  ".join(c.ljust(widths[i]) for i, c in enumerate(row)).rstrip() for row in cells]


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
    """A plain left-aligned table; the last column is never padded."""
    sys.stdout.write("\n".join(columns([headers, *rows])) + "\n")


def examples(*lines: str) -> str:
    """An epilog block that click prints verbatim."""
    return "\b\nExamples:\n" + "\n".join(f"  $ {line}" for line in lines)
