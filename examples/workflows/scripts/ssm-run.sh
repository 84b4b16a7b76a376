#!/usr/bin/env bash
# Run one shell command on one instance through SSM Run Command and wait for it to end; exit 0 only when
# the command succeeded on the instance. Used by deploy.yml for the deploy and the verification steps.
#
#   ssm-run.sh INSTANCE_ID COMMAND [TIMEOUT_SECONDS]
#
# `aws ssm wait command-executed` gives up after about 100 s and its exit status mixes "failed" with
# "still running", so this polls until the invocation reaches a terminal status. Exit codes: 0 Success;
# 1 the command failed, was cancelled or timed out on the instance; 2 usage; 3 still running at the timeout;
# 4 the instance never became ready for Run Command.
#
# The instance has just launched: its SSM agent may not be registered yet, and SendCommand then refuses it with
# InvalidInstanceId. That is a healthy instance that is not ready, not a failed deploy, so this waits for the
# agent (DescribeInstanceInformation shows it Online) and retries the refusal, for up to SSM_READY_SECONDS
# (default 600) before it gives up with exit 4. SSM_REQUIRE_PATH makes the command itself wait, on the
# instance, up to SSM_READY_SECONDS for that executable (the release script, installed by the instance's own
# boot) before it runs.
set -euo pipefail
shopt -s inherit_errexit

if [[ $# -lt 2 ]]; then
  echo "usage: ssm-run.sh INSTANCE_ID COMMAND [TIMEOUT_SECONDS]" >&2
  exit 2
fi
instance_id=$1
command=$2
timeout=${3:-900}
poll=${SSM_POLL_SECONDS:-5}
ready_seconds=${SSM_READY_SECONDS:-600}

# Wall-clock seconds; date rather than $SECONDS, so a test can replace the clock with a `date` on PATH.
now() { date +%s; }

if [[ -n ${SSM_REQUIRE_PATH:-} ]]; then
  required=$(printf %q "$SSM_REQUIRE_PATH")
  command="waited=0; until [ -x $required ]; do
if [ \$waited -ge $ready_seconds ]; then echo '$SSM_REQUIRE_PATH is not installed after ${ready_seconds}s' >&2; exit 127; fi
sleep 5; waited=\$((waited + 5)); done
$command"
fi

err_file=$(mktemp)
trap 'rm -f "$err_file"' EXIT
ready_by=$(($(now) + ready_seconds))
command_id=
while [[ -z $command_id ]]; do
  ping=$(aws ssm describe-instance-information --filters "Key=InstanceIds,Values=$instance_id" \
    --query 'InstanceInformationList[0].PingStatus' --output text) || ping=Unknown
  if [[ $ping == Online ]]; then
    if command_id=$(aws ssm send-command \
      --instance-ids "$instance_id" \
      --document-name AWS-RunShellScript \
      --parameters "$(jq -cn --arg c "$command" '{commands: [$c]}')" \
      --query Command.CommandId --output text 2>"$err_file"); then
      break
    fi
    command_id=
    if ! grep -q InvalidInstanceId "$err_file"; then
      cat "$err_file" >&2
      echo "::error::SSM refused the command for $instance_id" >&2
      exit 1
    fi
  fi
  if (($(now) >= ready_by)); then
    echo "::error::$instance_id is not ready for Run Command after ${ready_seconds}s (SSM agent ${ping})" >&2
    exit 4
  fi
  echo "waiting for the SSM agent on $instance_id (${ping})" >&2
  sleep "$poll"
done
echo "sent SSM command $command_id to $instance_id: $command" >&2

deadline=$(($(now) + timeout))
while (($(now) < deadline)); do
  # Right after send-command the invocation may not exist yet (InvocationDoesNotExist): keep polling.
  status=$(aws ssm get-command-invocation --command-id "$command_id" --instance-id "$instance_id" \
    --query Status --output text 2>/dev/null) || status=Pending
  case "$status" in
    Success)
      echo "command $command_id succeeded on $instance_id" >&2
      exit 0
      ;;
    Pending | InProgress | Delayed)
      sleep "$poll"
      ;;
    *)
      echo "::error::command on $instance_id ended $status" >&2
      aws ssm get-command-invocation --command-id "$command_id" --instance-id "$instance_id" \
        --query '[StandardOutputContent, StandardErrorContent]' --output text >&2 || echo "(no output)" >&2
      exit 1
      ;;
  esac
done
echo "::error::command $command_id still running on $instance_id after ${timeout}s" >&2
exit 3
