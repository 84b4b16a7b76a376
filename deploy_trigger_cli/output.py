"""How results reach the operator: aligned text for people, one JSON document for scripts (``--json``).

Every command builds its result once as plain data and renders it either way, so the two never disagree.
Streams are looked up at write time (not bound at import), so redirection and test capture both work.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping, Sequence
from typing import Any

#: Check marks, with an ASCII fallback for terminals whose encoding cannot show them.
_MARKS = {"pass": "✓", "fail": "✗", "warn": "!", "skip": "-"}
_ASCII_MARKS = {"pass": "ok", "fail": "FAIL", "warn": "warn", "skip": "skip"}


class Output:
    def __init__(self, *, json_mode: bool) -> None:
        self.json_mode = json_mode

    def result(self, payload: Mapping[str, Any], text: str) -> None:
        """The command's result: ``payload`` as JSON with ``--json``, else ``text``."""
        if self.json_mode:
            print(json.dumps(payload, indent=2, sort_keys=False, default=str), file=sys.stdout)
        else:
            print(text, file=sys.stdout)

    def error(self, message: str, exit_code: int) -> None:
        """An error: always one line on stderr; with ``--json`` also a JSON document on stdout for scripts."""
        print(f"deploy-trigger: error: {message}", file=sys.stderr)
        if self.json_mode:
            print(json.dumps({"error": message, "exit_code": exit_code}, indent=2), file=sys.stdout)

    def note(self, message: str) -> None:
        """Progress or context for a person; stderr, so it never mixes with a result on stdout."""
        print(message, file=sys.stderr)


def mark(outcome: str) -> str:
    symbol = _MARKS[outcome]
    encoding = getattr(sys.stdout, "encoding", None) or "utf-8"
    try:
        symbol.encode(encoding)
    except (UnicodeEncodeError, LookupError):
        return _ASCII_MARKS[outcome]
    return symbol


def table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Columns padded to their widest cell; the last column is left ragged."""
    widths = [max(len(str(row[i])) for row in [headers, *rows]) for i in range(len(headers))]
    lines = []
    for row in [headers, *rows]:
        cells = [str(cell).ljust(width) for cell, width in zip(row, widths, strict=True)]
        lines.append("  ".join(cells).rstrip())
    return "\n".join(lines)


def shorten(text: str | None, limit: int) -> str:
    if not text:
        return ""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"
