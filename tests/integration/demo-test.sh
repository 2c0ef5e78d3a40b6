#!/usr/bin/env bash
# scripts/demo run non-interactively against this build tree (issue 5): it must finish, show
# messages from both sessions' subscriptions, the status table and the metrics.
set -euo pipefail
build=$1
src=$(cd "$(dirname "$0")/../.." && pwd)
out=$("$src/scripts/demo" --seconds 6 --no-deps --build-dir "$build" 2>&1) || {
  echo "$out"
  echo "scripts/demo failed" >&2
  exit 1
}
echo "$out"
grep -q '^plant sensors/line1/' <<<"$out"
grep -q '^alerts/line1 check' <<<"$out"
grep -Eq '^plant +connected' <<<"$out"
grep -Eq '^mqtt_session_messages_received_total\{session="plant"\} [1-9]' <<<"$out"
