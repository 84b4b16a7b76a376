"""The real handler against moto server (a real HTTP AWS endpoint on loopback) and the GitHub double: the shared
deployment of ``tests.stand_in_fixtures``, with its function always pointed at the double."""

import pytest

from stand_ins.github_double import GitHubDouble
from tests.stand_in_fixtures import Deployment

#: What the integration tests call the shared deployment.
Stack = Deployment


@pytest.fixture
def stack(deployment: Deployment, github: GitHubDouble) -> Stack:
    return deployment
