#!/usr/bin/env bash
# Prism mock of the OpenAI OpenAPI description, for test/contract.test.ts.
#
#   scripts/prism.sh start <dir>   install @stoplight/prism-cli into <dir> (a scratch folder outside
#                                  the repository), start it on loopback, wait until it answers,
#                                  print the URL to export as PRISM_URL
#   scripts/prism.sh stop <dir>    stop the instance started with the same <dir>
#   scripts/prism.sh run <command...>
#                                  start Prism in a scratch folder, run <command> with PRISM_URL
#                                  set, stop Prism, exit with <command>'s status
#
# `start` exits non-zero, saying why on stderr, whenever Prism does not come up: the spec is
# missing, the install fails, Prism exits or does not answer in time. Anything that needs Prism
# must stop there rather than run without it: `url=$(scripts/prism.sh start "$dir") && ...`.
#
# Environment: PRISM_PORT (default 4010), PRISM_SPEC (default test/fixtures/openai-openapi.yml,
# the vendored copy), PRISM_WAIT_SECONDS (default 300).
set -euo pipefail

# 5.14.2 is the last release whose engines allow Node 20; 5.15+ require Node 24.
readonly PRISM_VERSION=5.14.2

usage() {
  echo "usage: $0 start|stop <scratch dir>, or $0 run <command...>" >&2
  exit 2
}

[ $# -ge 2 ] || usage
cmd=$1
shift
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
port=${PRISM_PORT:-4010}
spec=${PRISM_SPEC:-$repo/test/fixtures/openai-openapi.yml}
url="http://127.0.0.1:$port"
if [ "$cmd" = run ]; then
  dir=$(mktemp -d)
else
  [ $# -eq 1 ] || usage
  dir=$1
fi
pidfile="$dir/prism.pid"
logfile="$dir/prism.log"

# Any HTTP answer means Prism has loaded the spec; before that the port refuses connections.
answers() {
  node -e '
    fetch(process.argv[1] + "/embeddings", { signal: AbortSignal.timeout(2000) })
      .then(() => process.exit(0), () => process.exit(1));
  ' "$url"
}

start() {
  mkdir -p "$dir"
  [ -f "$spec" ] || { echo "prism: OpenAPI description not found: $spec" >&2; exit 1; }
  if answers; then
    echo "prism: something already answers on $url; stop it or set PRISM_PORT" >&2
    exit 1
  fi
  if [ ! -x "$dir/node_modules/.bin/prism" ]; then
    echo "prism: installing @stoplight/prism-cli@$PRISM_VERSION into $dir" >&2
    if ! npm install --prefix "$dir" --no-audit --no-fund --no-save --loglevel=error \
      "@stoplight/prism-cli@$PRISM_VERSION" >&2; then
      echo "prism: could not install @stoplight/prism-cli@$PRISM_VERSION (offline?); Prism is not running" >&2
      exit 1
    fi
  fi
  # -v warn: one log line per request would bury the reason in the log when something fails.
  "$dir/node_modules/.bin/prism" mock "$spec" -h 127.0.0.1 -p "$port" -v warn \
    >"$logfile" 2>&1 </dev/null &
  echo $! >"$pidfile"
  local pid deadline
  pid=$(cat "$pidfile")
  deadline=$((SECONDS + ${PRISM_WAIT_SECONDS:-300}))
  until answers; do
    if ! kill -0 "$pid" 2>/dev/null; then
      echo "prism: exited before answering; its log:" >&2
      cat "$logfile" >&2
      exit 1
    fi
    if [ "$SECONDS" -ge "$deadline" ]; then
      echo "prism: no answer on $url after ${PRISM_WAIT_SECONDS:-300} s; its log:" >&2
      cat "$logfile" >&2
      stop
      exit 1
    fi
    sleep 0.5
  done
  echo "$url"
}

stop() {
  [ -f "$pidfile" ] || return 0
  local pid
  pid=$(cat "$pidfile")
  rm -f "$pidfile"
  kill "$pid" 2>/dev/null || return 0
  # It exits within about 2 s of SIGTERM; do not leave it holding the port for the next run.
  for _ in $(seq 1 50); do
    kill -0 "$pid" 2>/dev/null || return 0
    sleep 0.1
  done
  kill -KILL "$pid" 2>/dev/null || true
}

run() {
  [ $# -ge 1 ] || usage
  trap 'stop; rm -rf "$dir"' EXIT
  PRISM_URL=$(start)
  export PRISM_URL
  echo "prism: answering at $PRISM_URL" >&2
  local rc=0
  "$@" || rc=$?
  exit "$rc"
}

case $cmd in
  start) start ;;
  stop) stop ;;
  run) run "$@" ;;
  *) usage ;;
esac
