#!/usr/bin/env bash
# `npm test`: the whole suite, real parts included. On a fresh Debian/Ubuntu machine it
# first installs the host packages the tests use (scripts/host-packages.txt), builds the
# CLI, checks format, lint, types and layering, then runs the unit, integration, reliability
# and OS-matrix tests. Each sandbox OS's root filesystem and package repository are built once
# into $EBPF_LAB_CACHE and copied for each test.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" != 0 ]; then
  echo "npm test needs root: it boots systemd-nspawn sandboxes and loads BPF programs into the kernel." >&2
  echo "Run it as root (e.g. sudo -E npm test)." >&2
  exit 2
fi
mapfile -t wanted < <(grep -v -e '^#' -e '^\s*$' scripts/host-packages.txt | sort -u)
missing=()
for p in "${wanted[@]}"; do
  dpkg-query -W -f='${db:Status-Abbrev}' "$p" 2>/dev/null | grep -q '^ii' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing host packages the tests need: ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
[ -d node_modules ] || npm ci
echo "lint: prettier, eslint, type check, layering"
npm run lint --silent
npm run build --silent
export EBPF_LAB_CACHE="${EBPF_LAB_CACHE:-/var/tmp/ebpf-lab-cache}"
mkdir -p "$EBPF_LAB_CACHE"
prep=
if [ $# -eq 0 ]; then
  # The whole suite: build every sandbox OS's base and repository once, in the background
  # (Ubuntu 22.04 first: the integration tests need it first); tests needing one wait for it.
  echo "preparing the sandbox OS images in the background (log: $EBPF_LAB_CACHE/prepare.log)"
  node scripts/prepare-sandboxes.mjs >"$EBPF_LAB_CACHE/prepare.log" 2>&1 &
  prep=$!
fi
rc=0
if [ $# -eq 0 ]; then
  # The OS matrix (every OS but the default, each in its own sandbox) runs beside the rest:
  # on 2 cores a sandbox's provisioning leaves a core idle much of the time. Its lines are
  # prefixed with [matrix].
  echo "running the OS matrix beside the other suites (its lines start with [matrix])"
  (npx vitest run --project matrix 2>&1 | sed -u 's/^/[matrix] /'; exit "${PIPESTATUS[0]}") &
  mx=$!
  npx vitest run --project unit --project integration --project reliability || rc=$?
  wait "$mx" || rc=$?
else
  npx vitest run "$@" || rc=$?
fi
if [ -n "$prep" ] && ! wait "$prep"; then
  echo "preparing the sandbox OS images failed; the end of $EBPF_LAB_CACHE/prepare.log:" >&2
  tail -20 "$EBPF_LAB_CACHE/prepare.log" >&2
  [ "$rc" -ne 0 ] || rc=1
fi
[ -z "$prep" ] || grep -E 'built in|ready after' "$EBPF_LAB_CACHE/prepare.log" || true
exit "$rc"
