"""One configuration check's verdict, as ``doctor`` prints it: pass, fail, warn (cannot tell) or skip."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from enum import StrEnum
from typing import Any


class Outcome(StrEnum):
    PASS = "pass"  # noqa: S105  (a verdict, not a password)
    FAIL = "fail"
    #: Nothing is known to be wrong, but the check could not prove it right (e.g. a fine-grained token's scopes).
    WARN = "warn"
    #: Not checked because something it depends on failed first.
    SKIP = "skip"


@dataclass(frozen=True)
class CheckResult:
    name: str
    outcome: Outcome
    #: What was found, in plain words.
    reason: str
    #: What to do about it (failures and warnings).
    fix: str | None = None

    def as_json(self) -> dict[str, Any]:
        return {**asdict(self), "outcome": self.outcome.value}


def passed(name: str, reason: str) -> CheckResult:
    return CheckResult(name, Outcome.PASS, reason)


def failed(name: str, reason: str, fix: str | None = None) -> CheckResult:
    return CheckResult(name, Outcome.FAIL, reason, fix)


def warned(name: str, reason: str, fix: str | None = None) -> CheckResult:
    return CheckResult(name, Outcome.WARN, reason, fix)


def skipped(name: str, reason: str) -> CheckResult:
    return CheckResult(name, Outcome.SKIP, reason)
