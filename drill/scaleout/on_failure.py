"""Lambda's on-failure destination on moto's SQS: where an event goes once its retries are spent.

Records are shaped like the ones Lambda writes for an asynchronous invocation (the event *and* the error), so
what an operator reads in the drill's queue is what they would read in production.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from deploy_trigger_cli.local_lambda import LocalLambdaContext

FUNCTION_ARN = LocalLambdaContext().invoked_function_arn + ":$LATEST"


@dataclass(frozen=True)
class DeadLetter:
    """One on-failure record as read back from the queue."""

    request_id: str
    attempts: int
    error_type: str
    error_message: str
    event: dict[str, Any]

    @property
    def event_id(self) -> str | None:
        value = self.event.get("id")
        return value if isinstance(value, str) else None

    @property
    def instance_id(self) -> str | None:
        detail = self.event.get("detail")
        value = detail.get("EC2InstanceId") if isinstance(detail, dict) else None
        return value if isinstance(value, str) else None


def failure_record(
    event: Any, *, request_id: str, attempts: int, error_type: str, error_message: str, now: datetime | None = None
) -> dict[str, Any]:
    """The body Lambda sends to an on-failure destination when retries are exhausted."""
    moment = now or datetime.now(UTC)
    return {
        "version": "1.0",
        "timestamp": moment.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "requestContext": {
            "requestId": request_id,
            "functionArn": FUNCTION_ARN,
            "condition": "RetriesExhausted",
            "approximateInvokeCount": attempts,
        },
        "requestPayload": event,
        "responseContext": {"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"},
        "responsePayload": {"errorMessage": error_message, "errorType": error_type},
    }


class OnFailureQueue:
    def __init__(self, sqs: Any, name: str) -> None:
        self._sqs = sqs
        self.url: str = sqs.create_queue(QueueName=name)["QueueUrl"]

    def send(self, event: Any, request_id: str, attempts: int, error_type: str, error_message: str) -> None:
        body = failure_record(
            event, request_id=request_id, attempts=attempts, error_type=error_type, error_message=error_message
        )
        self._sqs.send_message(QueueUrl=self.url, MessageBody=json.dumps(body))

    def drain(self) -> list[DeadLetter]:
        """Every record in the queue (received and deleted), as an operator's tooling would read them."""
        letters: list[DeadLetter] = []
        while True:
            answer = self._sqs.receive_message(QueueUrl=self.url, MaxNumberOfMessages=10, WaitTimeSeconds=0)
            messages = answer.get("Messages", [])
            if not messages:
                return letters
            for message in messages:
                letters.append(_parse(json.loads(message["Body"])))
                self._sqs.delete_message(QueueUrl=self.url, ReceiptHandle=message["ReceiptHandle"])


def _parse(record: dict[str, Any]) -> DeadLetter:
    context, response = record["requestContext"], record["responsePayload"]
    return DeadLetter(
        request_id=context["requestId"],
        attempts=int(context["approximateInvokeCount"]),
        error_type=response["errorType"],
        error_message=response["errorMessage"],
        event=record["requestPayload"],
    )
