#!/usr/bin/env bash
# The Spaces conformance suite: starts a one-node radosgw on loopback, makes the bucket with
# s3cmd, runs test/conformance inside workerd, reads an object back with s3cmd, and stops radosgw.
# With --with-drill it also runs `npm run drill` with Spaces on that radosgw (as .ci/run does).
set -euo pipefail
cd "$(dirname "$0")/.."
dir=$(mktemp -d /tmp/radosgw.XXXXXX)
port=${RGW_PORT:-7480}
trap 'scripts/radosgw.sh stop "$dir/cluster"; rm -rf "$dir"' EXIT

echo "== starting radosgw (one monitor, one memstore OSD) on 127.0.0.1:$port"
start=$(date +%s)
eval "$(scripts/radosgw.sh start "$dir/cluster" "$port")"
export RGW_ENDPOINT RGW_ACCESS_KEY RGW_SECRET_KEY RGW_BUCKET=conformance
echo "   up in $(($(date +%s) - start)) s"

cat >"$dir/s3cfg" <<CFG
[default]
access_key = $RGW_ACCESS_KEY
secret_key = $RGW_SECRET_KEY
host_base = 127.0.0.1:$port
host_bucket = 127.0.0.1:$port
use_https = False
signature_v2 = False
CFG
s3cmd -c "$dir/s3cfg" mb "s3://$RGW_BUCKET" >/dev/null
echo "== bucket s3://$RGW_BUCKET made with s3cmd"

echo "== conformance suite (workerd against radosgw)"
npx vitest run --config test/conformance/vitest.config.ts

echo "== s3cmd reads back what the worker wrote"
s3cmd -c "$dir/s3cfg" get --force "s3://$RGW_BUCKET/conformance/hello.json" "$dir/hello.json" >/dev/null
if [ "$(cat "$dir/hello.json")" != '{"hello":"spaces"}' ]; then
  echo "s3cmd read back something else: $(cat "$dir/hello.json")" >&2
  exit 1
fi
s3cmd -c "$dir/s3cfg" info "s3://$RGW_BUCKET/conformance/hello.json" | grep -E 'MIME type|ACL'
echo "== conformance: passed"

if [ "${1:-}" = "--with-drill" ]; then
  echo "== recovery drill with Spaces on radosgw (objects checked private)"
  DRILL_SPACES_ENDPOINT=$RGW_ENDPOINT DRILL_SPACES_KEY=$RGW_ACCESS_KEY DRILL_SPACES_SECRET=$RGW_SECRET_KEY \
    DRILL_SPACES_BUCKET=$RGW_BUCKET npm run drill
fi
