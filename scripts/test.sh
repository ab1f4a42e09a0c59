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
export EBPF_LAB_BUILT=1 # the reliability suite's setup builds only when run on its own
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
  # Three streams side by side: the OS matrix (every OS but the default, each in its own
  # sandbox), the integration files, and the unit + reliability files (one shared lab). On 2
  # cores a sandbox's provisioning leaves a core idle much of the time. The matrix's and the
  # integration's lines are prefixed with [matrix] and [integration].
  echo "running the OS matrix and the integration files beside the unit and reliability files"
  stream() {
    local label=$1
    shift
    npx vitest run "$@" 2>&1 | sed -u "s/^/[$label] /"
    return "${PIPESTATUS[0]}"
  }
  stream matrix --project matrix &
  mx=$!
  stream integration --project integration &
  it=$!
  npx vitest run --project unit --project reliability || rc=$?
  wait "$it" || rc=$?
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
