#!/bin/sh
# Stands in for `attnbench --batch ... --events jsonl --no-progress`: replays a recorded event
# stream line by line with a delay, so the tests can watch, cancel and crash a worker.
#   fake_worker.sh FIXTURE MODE DELAY [the worker flags, ignored]
#   MODE: complete  every event, then exit 0
#         crash     exit 3 after the third finished point, without run_finished
#         stubborn  ignore SIGTERM (the client must kill it)
# On SIGTERM (complete/crash) it ends like the real worker: run_finished "interrupted", exit 130.
fixture=$1
mode=$2
delay=$3
if [ "$mode" = stubborn ]; then
  trap '' TERM
else
  trap 'echo "{\"event\":\"run_finished\",\"run_id\":1,\"status\":\"interrupted\",\"counts\":{},\"wall_seconds\":0,\"kernel_seconds\":0}"; exit 130' TERM
fi
points=0
while IFS= read -r line; do
  echo "$line"
  case "$line" in
    *'"point_finished"'*)
      points=$((points + 1))
      if [ "$mode" = crash ] && [ "$points" -ge 3 ]; then
        echo "worker: simulated device fault" >&2
        exit 3
      fi
      ;;
  esac
  sleep "$delay"
done < "$fixture"
exit 0
