#!/usr/bin/env bash
# Fails when worker-configuration.d.ts does not match wrangler.toml (regenerate: npm run cf-typegen).
# (`wrangler types --check` ignores --env-file, so it always reports the secrets as a difference.)
set -euo pipefail
cd "$(dirname "$0")/.."
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
WRANGLER_SEND_METRICS=false npx wrangler types "$tmp/env.d.ts" --include-runtime=false --strict-vars=false \
  --env-file .dev.vars.example >/dev/null
if ! diff <(sed 1,2d worker-configuration.d.ts | sed 's|\./src/|REL/|g') <(sed 1,2d "$tmp/env.d.ts" | sed 's|"\.\./[^"]*/src/|"REL/|g; s|\./src/|REL/|g') >"$tmp/diff"; then
  cat "$tmp/diff"
  echo "worker-configuration.d.ts is out of date: run npm run cf-typegen" >&2
  exit 1
fi
echo "worker-configuration.d.ts matches wrangler.toml"
