"""Reads what Powertools printed: EMF metric documents and JSON log lines."""

import json
from collections import Counter
from typing import Any


def json_lines(output: str) -> list[dict[str, Any]]:
    lines = []
    for line in output.splitlines():
        if line.startswith("{"):
            try:
                lines.append(json.loads(line))
            except json.JSONDecodeError:
                continue
    return lines


def metrics(output: str) -> Counter[str]:
    """Sum of every metric emitted, by name."""
    totals: Counter[str] = Counter()
    for document in json_lines(output):
        for directive in document.get("_aws", {}).get("CloudWatchMetrics", []):
            for metric in directive["Metrics"]:
                value = document[metric["Name"]]
                totals[metric["Name"]] += int(sum(value) if isinstance(value, list) else value)
    return totals
