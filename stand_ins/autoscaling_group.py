"""Auto Scaling's lifecycle actions as the real service keeps them, for the tests and the drill.

moto does not implement ``CompleteLifecycleAction`` or the heartbeat, and a stand-in that keeps one action per
instance is kinder than the service. This one follows the EC2 Auto Scaling guide ("Amazon EC2 Auto Scaling
lifecycle hooks", "Warm pool instance lifecycle"):
- every launch hook of a group pauses a launching instance with its own action and token, and sends its own
  event; the instance goes on only when every hook's action is completed;
- a launch into the warm pool is paused too (``Warmed:Pending:Wait``), by the same hooks;
- completing by token ends exactly that action; by instance ID, the hook's action active for the instance now;
  an action that already ended answers "No active Lifecycle Action found" (terminal);
- an action whose heartbeat timeout passes ends with the hook's default result; ABANDON on launch terminates
  the instance (it leaves the group). With ``heartbeat_timeout`` set, that happens on the stand-in's clock: an
  action ends once the timeout has passed since its start or its last heartbeat, and at its global timeout,
  min(100 x heartbeat timeout, 48 h) after its start, whatever its heartbeats; checked on every call and by
  ``expire_due()``. Without it, only ``time_out()`` ends an action that way;
- ``describe_auto_scaling_groups`` and ``describe_lifecycle_hooks`` answer in boto3's shape (the sweep's reads):
  a group's ``Instances`` with their ``LifecycleState``, never its warm pool, paginated by ``NextToken``.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from deploy_trigger.lifecycle import LifecycleAnswer, LifecycleResult
from stand_ins.autoscaling_events import lifecycle_action

#: Auto Scaling ends an action at min(100 x its heartbeat timeout, 48 hours) after its start, heartbeats or not.
GLOBAL_TIMEOUT_FACTOR = 100
MAX_GLOBAL_TIMEOUT = 48 * 3600.0
PENDING_WAIT = "Pending:Wait"
WARMED_PENDING_WAIT = "Warmed:Pending:Wait"
IN_SERVICE = "InService"
WARMED_STOPPED = "Warmed:Stopped"


@dataclass
class LifecycleAction:
    token: str
    instance_id: str
    asg_name: str
    hook_name: str
    into_warm_pool: bool
    result: str | None = None  # CONTINUE or ABANDON once ended
    ended_by: str | None = None  # "complete", "timeout" or "terminated"
    #: On the stand-in's clock: when the action started, and when it was last known alive (start or heartbeat).
    started_at: float = 0.0
    alive_at: float = 0.0
    #: For an action that timed out on the clock: "heartbeat" or "global".
    timeout: str | None = None


@dataclass
class AutoScalingStandIn:
    """Groups with their launch hooks; the lifecycle port of the dispatcher and the tracker."""

    #: Group -> its launch hooks, in order; the first is deploy-trigger's unless a test says otherwise.
    hooks: dict[str, tuple[str, ...]] = field(default_factory=dict)
    default_result: LifecycleResult = LifecycleResult.ABANDON
    #: The hooks' heartbeat timeout in seconds of ``clock``; None: actions wait until completed or ``time_out()``.
    heartbeat_timeout: float | None = None
    clock: Callable[[], float] = time.monotonic
    actions: dict[str, LifecycleAction] = field(default_factory=dict)
    states: dict[str, str] = field(default_factory=dict)
    #: Every call that ended an action: (instance, hook, result), in order.
    completions: list[tuple[str, str, str]] = field(default_factory=list)
    no_active_answers: Counter[str] = field(default_factory=Counter)
    heartbeats: Counter[str] = field(default_factory=Counter)
    #: Instance -> its group, while it is in one (a terminated instance leaves it).
    members: dict[str, str] = field(default_factory=dict)
    #: Every describe call made, by operation name.
    describe_calls: Counter[str] = field(default_factory=Counter)
    _lock: threading.RLock = field(default_factory=threading.RLock, repr=False)

    def add_group(self, asg_name: str, *hook_names: str) -> None:
        self.hooks[asg_name] = hook_names

    def launch(
        self, asg_name: str, instance_id: str, *, into_warm_pool: bool = False, time: str | None = None
    ) -> list[dict[str, Any]]:
        """The instance launches (into the group, or into its warm pool): one pending action and one event per
        hook of the group, each with its own token. Returns the events Auto Scaling sends."""
        events = []
        with self._lock:
            self.members[instance_id] = asg_name
            self.states[instance_id] = WARMED_PENDING_WAIT if into_warm_pool else PENDING_WAIT
            self.members[instance_id] = asg_name
            for hook in self.hooks.get(asg_name, ()):
                token = str(uuid.uuid4())
                self.actions[token] = self._new_action(
                    token, instance_id, asg_name, hook, into_warm_pool=into_warm_pool, started_at=None
                )
                events.append(
                    lifecycle_action(
                        instance_id,
                        asg_name,
                        token=token,
                        hook_name=hook,
                        origin="WarmPool" if self._was_pooled(instance_id) and not into_warm_pool else "EC2",
                        destination="WarmPool" if into_warm_pool else "AutoScalingGroup",
                        time=time,
                    )
                )
            if not events:
                self.states[instance_id] = WARMED_STOPPED if into_warm_pool else IN_SERVICE
        return events

    def open_action(
        self,
        asg_name: str,
        hook_name: str,
        instance_id: str,
        token: str,
        *,
        into_warm_pool: bool = False,
        started_at: float | None = None,
    ) -> None:
        """One hook's pending action with a known token (for an event that was built elsewhere); ``started_at`` on
        the stand-in's clock (default: now)."""
        with self._lock:
            self.members[instance_id] = asg_name
            self.states[instance_id] = WARMED_PENDING_WAIT if into_warm_pool else PENDING_WAIT
            self.members[instance_id] = asg_name
            self.actions[token] = self._new_action(
                token, instance_id, asg_name, hook_name, into_warm_pool=into_warm_pool, started_at=started_at
            )

    def complete(
        self, asg_name: str, hook_name: str, instance_id: str, result: LifecycleResult, *, token: str | None = None
    ) -> LifecycleAnswer:
        with self._lock:
            self._expire()
            action = self._active(asg_name, hook_name, instance_id, token)
            if action is None:
                known = self.actions.get(token or "")
                self.no_active_answers[known.instance_id if known else instance_id] += 1
                return LifecycleAnswer.NO_ACTIVE_ACTION
            self._end(action, result.value, "complete")
            self.completions.append((action.instance_id, hook_name, result.value))  # by token, no ID is sent
            return LifecycleAnswer.DONE

    def heartbeat(
        self, asg_name: str, hook_name: str, instance_id: str, *, token: str | None = None
    ) -> LifecycleAnswer:
        with self._lock:
            self._expire()
            action = self._active(asg_name, hook_name, instance_id, token)
            if action is None:
                return LifecycleAnswer.NO_ACTIVE_ACTION
            self.heartbeats[action.instance_id] += 1
            action.alive_at = self.clock()
            return LifecycleAnswer.DONE

    def expire_due(self) -> list[LifecycleAction]:
        """End every action whose heartbeat or global timeout has passed, with the default result; return them."""
        with self._lock:
            return self._expire()

    def instance_state(self, instance_id: str) -> str | None:
        with self._lock:
            self._expire()
            return self.states.get(instance_id)

    def group_of(self, instance_id: str) -> str | None:
        with self._lock:
            self._expire()
            return self.members.get(instance_id) if instance_id in self.states else None

    def instances_of(self, asg_name: str) -> list[tuple[str, str]]:
        """(instance, lifecycle state) of the group's instances, as DescribeAutoScalingGroups lists them."""
        with self._lock:
            self._expire()
            return sorted((i, state) for i, state in self.states.items() if self.members.get(i) == asg_name)

    def describe_auto_scaling_groups(
        self, *, AutoScalingGroupNames: Sequence[str] | None = None, NextToken: str | None = None, MaxRecords: int = 50
    ) -> dict[str, Any]:
        """Like the API: the named groups (or all), ``MaxRecords`` a page, each with its instances in the group
        (not its warm pool); a name with no group is left out, not an error."""
        with self._lock:
            self._expire()
            self.describe_calls["describe_auto_scaling_groups"] += 1
            names = sorted(self.hooks) if AutoScalingGroupNames is None else sorted(set(AutoScalingGroupNames))
            names = [name for name in names if name in self.hooks]
            start = int(NextToken or 0)
            page = names[start : start + MaxRecords]
            groups = [
                {
                    "AutoScalingGroupName": name,
                    "Instances": [
                        {"InstanceId": instance, "LifecycleState": self.states[instance]}
                        for instance, group in sorted(self.members.items())
                        if group == name and instance in self.states and not self.states[instance].startswith("Warmed")
                    ],
                }
                for name in page
            ]
            answer: dict[str, Any] = {"AutoScalingGroups": groups}
            if start + MaxRecords < len(names):
                answer["NextToken"] = str(start + MaxRecords)
            return answer

    def describe_lifecycle_hooks(
        self, *, AutoScalingGroupName: str, LifecycleHookNames: Sequence[str] | None = None
    ) -> dict[str, Any]:
        with self._lock:
            self.describe_calls["describe_lifecycle_hooks"] += 1
            hooks = [
                h for h in self.hooks.get(AutoScalingGroupName, ()) if not LifecycleHookNames or h in LifecycleHookNames
            ]
            return {
                "LifecycleHooks": [
                    {
                        "LifecycleHookName": hook,
                        "AutoScalingGroupName": AutoScalingGroupName,
                        "LifecycleTransition": "autoscaling:EC2_INSTANCE_LAUNCHING",
                        "DefaultResult": self.default_result.value,
                    }
                    for hook in hooks
                ]
            }

    def time_out(self, instance_id: str, hook_name: str | None = None) -> None:
        """The heartbeat timeout of the instance's pending actions (of one hook, or all) passes."""
        with self._lock:
            for action in self._pending(instance_id):
                if hook_name is None or action.hook_name == hook_name:
                    self._end(action, self.default_result.value, "timeout")

    def pending(self, instance_id: str) -> list[LifecycleAction]:
        with self._lock:
            return self._pending(instance_id)

    def endings(self, instance_id: str, hook_name: str) -> list[tuple[str, str]]:
        """How each of the instance's actions of this hook ended: (result, "complete" or "timeout")."""
        with self._lock:
            return [
                (action.result, action.ended_by or "")
                for action in self.actions.values()
                if action.instance_id == instance_id and action.hook_name == hook_name and action.result
            ]

    def fates(self, hook_name: str, *, into_warm_pool: bool | None = None) -> dict[str, list[str]]:
        """Instance -> how each of its actions of this hook ended (a timeout counts as the default result);
        ``into_warm_pool`` keeps only the warm-pool entries' actions (True) or only the launches' (False)."""
        with self._lock:
            fates: dict[str, list[str]] = {}
            for action in self._of(hook_name, into_warm_pool):
                if action.result is not None:
                    fates.setdefault(action.instance_id, []).append(action.result)
            return fates

    def completed(self, hook_name: str, *, into_warm_pool: bool | None = None) -> dict[str, int]:
        """Instance -> how many of its actions of this hook a completion call ended (not a timeout)."""
        with self._lock:
            counts: Counter[str] = Counter(
                a.instance_id for a in self._of(hook_name, into_warm_pool) if a.ended_by == "complete"
            )
            return dict(counts)

    def _of(self, hook_name: str, into_warm_pool: bool | None) -> list[LifecycleAction]:
        return [
            a
            for a in self.actions.values()
            if a.hook_name == hook_name and (into_warm_pool is None or a.into_warm_pool == into_warm_pool)
        ]

    def timed_out(self, hook_name: str) -> list[str]:
        with self._lock:
            return sorted(
                {a.instance_id for a in self.actions.values() if a.hook_name == hook_name and a.ended_by == "timeout"}
            )

    def pending_instances(self) -> list[str]:
        with self._lock:
            return sorted({a.instance_id for a in self.actions.values() if a.result is None})

    def tokens(self, instance_id: str, hook_name: str) -> Sequence[str]:
        with self._lock:
            return [a.token for a in self.actions.values() if a.instance_id == instance_id and a.hook_name == hook_name]

    def _active(self, asg_name: str, hook_name: str, instance_id: str, token: str | None) -> LifecycleAction | None:
        if token is not None:
            action = self.actions.get(token)
            ok = (
                action is not None
                and action.result is None
                and (action.asg_name, action.hook_name) == (asg_name, hook_name)
            )
            return action if ok else None
        for action in self._pending(instance_id):
            if (action.asg_name, action.hook_name) == (asg_name, hook_name):
                return action
        return None

    def _new_action(
        self,
        token: str,
        instance_id: str,
        asg_name: str,
        hook_name: str,
        *,
        into_warm_pool: bool,
        started_at: float | None,
    ) -> LifecycleAction:
        start = self.clock() if started_at is None else started_at
        return LifecycleAction(
            token, instance_id, asg_name, hook_name, into_warm_pool, started_at=start, alive_at=start
        )  # fmt: skip

    def _expire(self) -> list[LifecycleAction]:
        if self.heartbeat_timeout is None:
            return []
        now = self.clock()
        global_timeout = min(GLOBAL_TIMEOUT_FACTOR * self.heartbeat_timeout, MAX_GLOBAL_TIMEOUT)
        ended = []
        for action in list(self.actions.values()):
            if action.result is not None:
                continue
            if now - action.started_at >= global_timeout:
                action.timeout = "global"
            elif now - action.alive_at >= self.heartbeat_timeout:
                action.timeout = "heartbeat"
            else:
                continue
            self._end(action, self.default_result.value, "timeout")
            ended.append(action)
        return ended

    def _pending(self, instance_id: str) -> list[LifecycleAction]:
        return [a for a in self.actions.values() if a.instance_id == instance_id and a.result is None]

    def _end(self, action: LifecycleAction, result: str, how: str) -> None:
        action.result, action.ended_by = result, how
        if result == LifecycleResult.ABANDON.value:
            self.states.pop(action.instance_id, None)  # terminated; it leaves the group
            self.members.pop(action.instance_id, None)
            for other in self._pending(action.instance_id):
                other.result, other.ended_by = result, "terminated"
        elif not self._pending(action.instance_id):
            self.states[action.instance_id] = WARMED_STOPPED if action.into_warm_pool else IN_SERVICE

    def _was_pooled(self, instance_id: str) -> bool:
        return any(a.instance_id == instance_id and a.into_warm_pool for a in self.actions.values())
