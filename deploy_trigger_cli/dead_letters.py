"""Dead-letter messages: reading them from SQS, telling their two shapes apart, deleting or releasing them.

Two queues hold events the service could not handle, in different shapes:

- the EventBridge rule target's DLQ (delivery failed: missing permission, throttling past the retry policy):
  the body is the event itself; EventBridge adds ``ERROR_CODE`` / ``ERROR_MESSAGE`` message attributes (an older
  Lambda function DLQ has ``ErrorCode`` / ``ErrorMessage``);
- the Lambda on-failure destination (the function failed on every attempt): the body is an invocation record,
  with the event in ``requestPayload``, the error in ``responsePayload`` (``errorType``, ``errorMessage``) and why
  Lambda gave up in ``requestContext.condition`` (``RetriesExhausted``, ``EventAgeExceeded``).

Messages are received with a visibility timeout, so that while one run handles them no other reader does, and
each is either deleted (its replay succeeded) or released at the end (visible again at once, for the next run
or the alarm): a dry run leaves every queue as it found it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from deploy_trigger_cli.aws import error_code, failed
from deploy_trigger_cli.config import DeadLetterQueue
from deploy_trigger_cli.errors import ConfigError

EVENT = "event"
FAILURE_RECORD = "on-failure record"
UNRECOGNIZED = "unrecognized"

#: Long enough to replay every message received in one run before another reader could see them again.
VISIBILITY_SECONDS = 900
#: Long polling for the receive that finds the queue empty: SQS then asks all its servers, so an empty answer
#: means empty (short polling samples a subset and may answer empty while messages remain).
RECEIVE_WAIT_SECONDS = 1
_NO_QUEUE = ("AWS.SimpleQueueService.NonExistentQueue", "QueueDoesNotExist")


@dataclass(frozen=True)
class DeadLetter:
    queue: DeadLetterQueue
    message_id: str
    receipt_handle: str
    shape: str
    #: The launch event to replay; None for an unrecognized message.
    event: dict[str, Any] | None
    #: Why the event ended here, as recorded with it, or why the message cannot be read.
    error: str | None
    sent_at: str | None = None
    receive_count: int | None = None

    @property
    def detail(self) -> dict[str, Any]:
        detail = (self.event or {}).get("detail")
        return detail if isinstance(detail, dict) else {}

    @property
    def instance_id(self) -> str | None:
        value = self.detail.get("EC2InstanceId")
        return value if isinstance(value, str) else None

    def as_json(self) -> dict[str, Any]:
        event = self.event or {}
        return {
            "queue": self.queue.label,
            "queue_url": self.queue.url,
            "message_id": self.message_id,
            "shape": self.shape,
            "instance_id": self.instance_id,
            "asg_name": self.detail.get("AutoScalingGroupName"),
            "detail_type": event.get("detail-type"),
            "event_id": event.get("id"),
            "event_time": event.get("time"),
            "error": self.error,
            "sent_at": self.sent_at,
            "receive_count": self.receive_count,
        }


def parse_message(queue: DeadLetterQueue, message: dict[str, Any]) -> DeadLetter:
    attributes = message.get("Attributes") or {}
    sent = attributes.get("SentTimestamp")
    sent_at = (
        datetime.fromtimestamp(int(str(sent)) / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        if str(sent).isdigit()
        else None
    )
    count = attributes.get("ApproximateReceiveCount")
    base: dict[str, Any] = {
        "queue": queue,
        "message_id": str(message.get("MessageId", "")),
        "receipt_handle": str(message.get("ReceiptHandle", "")),
        "sent_at": sent_at,
        "receive_count": int(str(count)) if str(count).isdigit() else None,
    }
    try:
        body = json.loads(message.get("Body") or "")
    except ValueError:
        return DeadLetter(**base, shape=UNRECOGNIZED, event=None, error="the body is not JSON")
    if isinstance(body, dict) and "requestPayload" in body:
        payload = body.get("requestPayload")
        if isinstance(payload, str):
            try:
                payload = json.loads(payload)
            except ValueError:
                payload = None
        if not isinstance(payload, dict):
            return DeadLetter(
                **base, shape=UNRECOGNIZED, event=None, error="an on-failure record whose requestPayload is no event"
            )
        return DeadLetter(**base, shape=FAILURE_RECORD, event=payload, error=_record_error(body))
    if isinstance(body, dict) and "detail-type" in body and "source" in body:
        return DeadLetter(**base, shape=EVENT, event=body, error=_attribute_error(message))
    return DeadLetter(
        **base, shape=UNRECOGNIZED, event=None, error="neither an EventBridge event nor a Lambda on-failure record"
    )


def _record_error(record: dict[str, Any]) -> str:
    response = record.get("responsePayload")
    raw_context = record.get("requestContext")
    context: dict[str, Any] = raw_context if isinstance(raw_context, dict) else {}
    if isinstance(response, dict) and (response.get("errorType") or response.get("errorMessage")):
        error = f"{response.get('errorType') or 'Error'}: {response.get('errorMessage') or ''}".rstrip(": ")
    else:
        error = "no error recorded"
    circumstances = [str(context["condition"])] if context.get("condition") else []
    if context.get("approximateInvokeCount"):
        circumstances.append(f"{context['approximateInvokeCount']} attempt(s)")
    return f"{error} ({', '.join(circumstances)})" if circumstances else error


def _attribute_error(message: dict[str, Any]) -> str:
    attributes = message.get("MessageAttributes") or {}

    def value(*names: str) -> str | None:
        for name in names:
            found = attributes.get(name, {}).get("StringValue")
            if found:
                return str(found)
        return None

    code, text = value("ERROR_CODE", "ErrorCode"), value("ERROR_MESSAGE", "ErrorMessage")
    if not code and not text:
        return "no error recorded with the message"
    return ": ".join(part for part in (code, text) if part)


class QueueReader:
    def __init__(self, sqs: Any) -> None:
        self._sqs = sqs

    def receive(self, queue: DeadLetterQueue, limit: int) -> tuple[list[DeadLetter], bool]:
        """Up to ``limit`` distinct messages, now invisible to other readers; True when more may remain."""
        letters: dict[str, DeadLetter] = {}
        while len(letters) < limit:
            try:
                answer = self._sqs.receive_message(
                    QueueUrl=queue.url,
                    MaxNumberOfMessages=min(10, limit - len(letters)),
                    VisibilityTimeout=VISIBILITY_SECONDS,
                    WaitTimeSeconds=RECEIVE_WAIT_SECONDS,
                    MessageAttributeNames=["All"],
                    MessageSystemAttributeNames=["SentTimestamp", "ApproximateReceiveCount"],
                )
            except ClientError as error:
                raise _queue_error(queue, error) from None
            except BotoCoreError as error:
                raise failed(f"reading {queue.label}", error) from None
            messages = answer.get("Messages") or []
            if not messages:
                return list(letters.values()), False
            for message in messages:
                letter = parse_message(queue, message)
                letters.setdefault(letter.message_id, letter)
        return list(letters.values()), True

    def delete(self, letter: DeadLetter) -> None:
        self._sqs.delete_message(QueueUrl=letter.queue.url, ReceiptHandle=letter.receipt_handle)

    def release(self, letter: DeadLetter) -> None:
        """Make the message visible again now, rather than when its visibility timeout ends."""
        self._sqs.change_message_visibility(
            QueueUrl=letter.queue.url, ReceiptHandle=letter.receipt_handle, VisibilityTimeout=0
        )


def _queue_error(queue: DeadLetterQueue, error: ClientError) -> Exception:
    if error_code(error) in _NO_QUEUE:
        return ConfigError(f"queue {queue.url} does not exist: check --dlq-url / the stack's outputs and --region")
    return failed(f"reading {queue.label}", error)
