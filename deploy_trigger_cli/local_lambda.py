"""A Lambda context for running the real handler outside Lambda: ``redrive --target local`` runs it with one.

It ships with the CLI; the tests and the drill run the handler with it too and import it from here (the
dev-only side may depend on the shipped side, never the other way round).

It has the attributes of ``aws_lambda_powertools.utilities.typing.LambdaContext`` and a clock that counts
down in real time from ``budget_seconds``, as Lambda's does from the function's timeout.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field

FUNCTION_NAME = "deploy-trigger-dispatcher"


@dataclass
class LocalLambdaContext:
    budget_seconds: float = 30.0
    function_name: str = FUNCTION_NAME
    function_version: str = "$LATEST"
    invoked_function_arn: str = f"arn:aws:lambda:us-east-1:123456789012:function:{FUNCTION_NAME}"
    memory_limit_in_mb: int = 256
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    log_group_name: str = f"/aws/lambda/{FUNCTION_NAME}"
    log_stream_name: str = "2026/11/23/[$LATEST]00000000000000000000000000000000"
    _started: float = field(default_factory=time.monotonic, repr=False)

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self.budget_seconds - (time.monotonic() - self._started)) * 1000))
