#!/usr/bin/env bash
# Starts a 3-node dqlite cluster on loopback (Debian's go-dqlite: dqlite-demo nodes),
# builds the harness (main.go, against Debian's go-dqlite sources) and runs it on FIXTURE,
# then stops the nodes. Needs the packages go-dqlite, golang-go and
# golang-github-canonical-go-dqlite-dev.
#
#   ecosystem/dqlite/run.sh FIXTURE.json [BASE_PORT]
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
fixture="$1"
base="${2:-19100}"
work="$(mktemp -d)"
pids=()
stop() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$work"
}
trap stop EXIT
addresses=()
for i in 1 2 3; do
    db="127.0.0.1:$((base + i))"
    api="127.0.0.1:$((base + 10 + i))"
    join=()
    [ "$i" -gt 1 ] && join=(--join "127.0.0.1:$((base + 1))")
    dqlite-demo --api "$api" --db "$db" --dir "$work/node$i" "${join[@]}" >"$work/node$i.log" 2>&1 &
    pids+=($!)
    addresses+=("$db")
    sleep 1
done
# Wait until all three are voters.
for _ in $(seq 1 100); do
    voters="$(dqlite -s "${addresses[0]}" demo .cluster 2>/dev/null | grep -c voter || true)"
    [ "$voters" = 3 ] && break
    sleep 0.2
done
[ "$voters" = 3 ] || { echo "dqlite: the cluster did not form"; cat "$work"/node*.log; exit 1; }
(cd "$here" && GOPATH=/usr/share/gocode GO111MODULE=off GOFLAGS= go build -o "$work/story" .)
"$work/story" "$fixture" "${addresses[@]}"
