#!/usr/bin/env bash
# Runs every ```sh block of docs/quickstart.md, in order and as written,
# against a server started the way scripts/run starts it (on an ephemeral
# port instead of 8700), then checks the walk did what the page says.
#   run_quickstart.sh <tether binary> <source dir>
set -euo pipefail
bin=$1
src=$2
work=$(mktemp -d "${TMPDIR:-/tmp}/tether-quickstart-XXXXXX")
server_pid=
cleanup() {
  [[ -n "$server_pid" ]] && kill "$server_pid" 2>/dev/null && wait "$server_pid" || true
  rm -rf "$work"
}
trap cleanup EXIT
cd "$work"
mkdir build
ln -s "$bin" build/tether
ln -s "$src/examples" examples

build/tether dev issuer init --dir tether-data/dev-issuer >/dev/null
build/tether server --config examples/tether.toml \
  --admin-token-file tether-data/admin.token --listen 127.0.0.1:0 \
  --proxy-listen 127.0.0.1:0 \
  >server.out 2>server.err &
server_pid=$!
for _ in $(seq 200); do
  grep -q 'listening on' server.out 2>/dev/null && break
  sleep 0.05
done
address=$(sed -n 's|^tether server: listening on http://\(127.0.0.1:[0-9]*\).*|\1|p' server.out)
if [[ -z "$address" ]]; then
  echo "the server did not start:"; cat server.out server.err; exit 1
fi

awk '/^```sh$/ {on = 1; next} /^```$/ {on = 0} on' "$src/docs/quickstart.md" |
  sed "s/127\.0\.0\.1:8700/$address/g" >steps.sh
if ! bash -euo pipefail steps.sh >walk.out 2>&1; then
  echo "a quickstart step failed:"; cat walk.out; exit 1
fi
cat walk.out

expect() {
  if ! grep -qF -- "$1" walk.out; then
    echo "quickstart: expected to see: $1"; exit 1
  fi
}
expect '{"status":"ok"}'
expect '"kty":"OKP"'
expect '"token":"eyJ'
expect '"code":"denied"'
expect '"decision":"allow","determining_policies":["read-own-repo"]'
expect '"determining_policies":["forbid-protected-branches","writes-only-through-proxy"]'
expect '"decision":"approval_required"'
expect 'exit 2'
expect 'exit 3'
expect 'the context key `edge` is set by tether'
expect '"kind":"task"'
expect 'the task has ended (revoked)'
expect '"ok":true'
expect 'authz.decision'
expect 'tether_decisions_total{outcome="allow"}'
expect '"name":"ada","role":"approver","groups":["release-managers"],"token":"tto_'
expect '{"kid":"'
expect '"policy_set_sha256":"'
echo "quickstart: every step ran as written"
