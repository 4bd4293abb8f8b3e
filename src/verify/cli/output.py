"""Rendering: JSON on stdout, human tables on stdout, notices on stderr.

Untrusted strings (EXIF, titles, filenames) are stripped of terminal control characters
before they reach a terminal; `--json` keeps the exact original strings.
"""

import re
import sys
from collections.abc import Sequence
from typing import Any

# C0 and C1 controls, DEL, and the Unicode bidi overrides/isolates.
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def clean(value: object) -> str:
    """Text safe to print to a terminal: control characters become U+FFFD-free '?'."""
    if value is None:
        return "-"
    return _CONTROL.sub("?", str(value))


def clean_line(value: object) -> str:
    """`clean`, and on one line: an error message is one line even when it quotes a file
    name with a newline or tab in it."""
    return clean(value).replace("\n", "?").replace("\t", " ")


def print_json(data: Any) -> None:
    import orjson

    sys.stdout.write(orjson.dumps(data, option=orjson.OPT_INDENT_2).decode() + "\n")


def notice(message: str) -> None:
    sys.stderr.write(clean(message).replace("\n", " ") + "\n")


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
    """A plain left-aligned table; the last column is never padded."""
    cells = [[clean(c).replace("\n", " ") for c in row] for row in rows]
    widths = [len(h) for h in headers]
    for row in cells:
        for i, c in enumerate(row):
            widths[i] = max(widths[i], len(c))
    lines = ["  ".join(h.ljust(widths[i]) for i, h in enumerate(headers)).rstrip()]
    for row in cells:
        lines.append("  ".join(c.ljust(widths[i]) for i, c in enumerate(row)).rstrip())
    sys.stdout.write("\n".join(lines) + "\n")


def examples(*lines: str) -> str:
    """An epilog block that click prints verbatim."""
    return "\b\nExamples:\n" + "\n".join(f"  $ {line}" for line in lines)
