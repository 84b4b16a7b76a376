"""The credentials secret's cache (github_auth.SecretReader), which replaced Powertools Parameters' own: read with
the container's client on first use, kept SECRET_MAX_AGE_SECONDS, per secret."""

from typing import Any

import pytest

from deploy_trigger.errors import CredentialsInvalid
from deploy_trigger.github_auth import SECRET_MAX_AGE_SECONDS, SecretCredentials, SecretReader
from tests.unit.doubles import Clock


class SecretsManager:
    def __init__(self, values: dict[str, dict[str, Any]]) -> None:
        self.values = values
        self.reads: list[str] = []

    def get_secret_value(self, SecretId: str) -> dict[str, Any]:  # botocore's keyword
        self.reads.append(SecretId)
        return self.values[SecretId]


def test_the_client_is_built_on_the_first_read_and_each_secret_is_kept_max_age_seconds(clock: Clock) -> None:
    client = SecretsManager({"a": {"SecretString": "token-a"}, "b": {"SecretString": "token-b"}})
    built: list[SecretsManager] = []

    def build() -> SecretsManager:
        built.append(client)
        return client

    read = SecretReader(build, clock=clock)
    assert built == []  # nothing until a launch needs the secret (a duplicate never does)

    assert [read("a", 300), read("a", 300), read("b", 300)] == ["token-a", "token-a", "token-b"]
    assert client.reads == ["a", "b"]
    clock.advance(299)
    assert read("a", 300) == "token-a"
    client.values["a"] = {"SecretString": "rotated"}
    clock.advance(1)
    assert read("a", 300) == "rotated"
    assert client.reads == ["a", "b", "a"]


def test_a_binary_secret_is_a_credentials_error_naming_the_secret(clock: Clock) -> None:
    read = SecretReader(lambda: SecretsManager({"bin": {"SecretBinary": b"\x00"}}), clock=clock)

    with pytest.raises(CredentialsInvalid, match="'bin' must be a SecretString"):
        read("bin", SECRET_MAX_AGE_SECONDS)


def test_credentials_read_through_the_reader_they_are_given() -> None:
    client = SecretsManager({"deploy-trigger/github": {"SecretString": '{"token": "ghp_x"}'}})
    credentials = SecretCredentials("deploy-trigger/github", SecretReader(lambda: client))

    assert repr(credentials.get()) == "PersonalAccessToken(<redacted>)"
    assert credentials.get() == credentials.get()
    assert client.reads == ["deploy-trigger/github"]
