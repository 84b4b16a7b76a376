"""The real handler against moto server (a real HTTP AWS endpoint on loopback) and the GitHub double: the shared
deployment of ``tests.stand_in_fixtures``, with its function always pointed at the double."""

import pytest

from deploy_trigger.github_auth import SecretCredentials
from deploy_trigger.github_client import GitHubClient
from deploy_trigger.tracking import TrackerConfig
from stand_ins.github_double import GitHubDouble
from tests.stand_in_fixtures import Deployment

#: What the integration tests call the shared deployment.
Stack = Deployment

#: The tracker's limits at their defaults, and no wait before an unfinished entry is looked at again.
TRACKER_CONFIG = TrackerConfig(run_appear_timeout=600, heartbeat_interval=300, max_deploy=3600, check_interval=0)


def github_client(stack: Stack, github: GitHubDouble) -> GitHubClient:
    """The functions' GitHub client, aimed at the double with the stack's credentials secret."""
    return GitHubClient(
        api_url=github.url,
        repository=github.repository,
        workflow=github.workflow,
        api_version="2026-03-10",
        credentials=SecretCredentials(stack.secret),
    )


@pytest.fixture
def stack(deployment: Deployment, github: GitHubDouble) -> Stack:
    return deployment
