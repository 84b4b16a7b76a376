"""The two ways a command ends early, each with its exit code, so ``main`` can turn them into one clear line.

Anything expected (missing configuration, a table that does not exist, AWS refusing a call) becomes one of these
with a message in plain words; only a bug shows a traceback.
"""

from __future__ import annotations

#: Exit codes: everything worked; a check or an operation failed; the command line or configuration is wrong.
EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2


class CliError(Exception):
    """An expected failure: the message says what is wrong and what to do; never a credential."""

    exit_code = EXIT_FAILED


class ConfigError(CliError):
    """The configuration is missing or wrong (names the flag and the environment variable)."""

    exit_code = EXIT_USAGE


class OperationFailed(CliError):
    """AWS or GitHub refused or failed a call the command needed."""

    exit_code = EXIT_FAILED
