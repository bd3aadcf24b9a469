#!/usr/bin/env bash
# Installs the Debian packages listed in the given files (deploy/apt-packages.txt for running, plus
# deploy/apt-packages-test.txt for the tests) that are missing, when run as root.
# Not root: prints what is missing and carries on (tests that need a package say so).
set -euo pipefail
cd "$(dirname "$0")/.."
[ $# -gt 0 ] || set -- deploy/apt-packages.txt
mapfile -t wanted < <(sed -e 's/#.*//' -e '/^\s*$/d' "$@" | awk '{print $1}')
missing=()
for pkg in "${wanted[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
  echo "Missing Debian packages (run as root to install): ${missing[*]}" >&2
  exit 0
fi
echo "Installing Debian packages: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
