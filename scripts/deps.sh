#!/usr/bin/env bash
# Installs the Debian packages kamflow needs on this machine, only those
# missing: the PostgreSQL server for the private clusters of `make run` and
# `make test`, and for `make test` also Chromium (console tests) and
# promtool (metrics and alert-rule checks).
# Usage: scripts/deps.sh run|test
set -euo pipefail
want=(postgresql)
# CJK fonts: the console screenshots show Chinese account names.
[ "${1:-run}" = test ] && want+=(chromium chromium-driver prometheus fonts-noto-cjk)

missing=()
for pkg in "${want[@]}"; do
	dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
	echo "kamflow needs these Debian packages: ${missing[*]}" >&2
	echo "install them with: sudo apt-get install -y ${missing[*]}" >&2
	exit 1
fi
echo "installing ${missing[*]} ..." >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
