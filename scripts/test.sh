#!/usr/bin/env bash
# `npm test`: the whole suite, real parts included. On a fresh Debian/Ubuntu machine it
# first installs the host packages the tests use (scripts/host-packages.txt), builds the
# CLI, checks format, lint, types and layering, then runs the unit and integration tests. The sandbox's root filesystem and package
# repository are built once into $EBPF_LAB_CACHE and copied for each test.
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
exec npx vitest run "$@"
