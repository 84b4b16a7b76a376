#!/usr/bin/env bash
# Run one shell command on one instance through SSM Run Command and wait for it to end; exit 0 only when
# the command succeeded on the instance. Used by deploy.yml for the deploy and the verification steps.
#
#   ssm-run.sh INSTANCE_ID COMMAND [TIMEOUT_SECONDS]
#
# `aws ssm wait command-executed` gives up after about 100 s and its exit status mixes "failed" with
# "still running", so this polls until the invocation reaches a terminal status. Exit codes: 0 Success;
# 1 the command failed, was cancelled or timed out on the instance; 2 usage; 3 still running at the timeout.
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

command_id=$(aws ssm send-command \
  --instance-ids "$instance_id" \
  --document-name AWS-RunShellScript \
  --parameters "$(jq -cn --arg c "$command" '{commands: [$c]}')" \
  --query Command.CommandId --output text)
echo "sent SSM command $command_id to $instance_id: $command" >&2

deadline=$((SECONDS + timeout))
while ((SECONDS < deadline)); do
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
