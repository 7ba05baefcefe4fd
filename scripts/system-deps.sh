#!/usr/bin/env bash
# Debian packages the test suite needs: the system Chromium that the browser tests drive
# (Playwright's own browser download cannot work offline) and a CJK font. Installs only what
# is missing; needs root (CI runs as root). Without root it says what to install and goes on.
set -euo pipefail
need=()
for pkg in chromium chromium-driver fonts-wqy-microhei; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "ok installed" || need+=("$pkg")
done
((${#need[@]})) || exit 0
if [ "$(id -u)" != 0 ]; then
    echo "bertex: the browser tests need: apt-get install --no-install-recommends ${need[*]}" >&2
    exit 0
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null
apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
