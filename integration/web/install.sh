#!/usr/bin/env bash
# Installs what the web app's end-to-end test needs, idempotently, into the cache
# the VS Code e2e uses too (CI clones afresh on the same machine): Debian's
# chromium and playwright-core (same version and path as clients/vscode/e2e/install.sh).
set -euo pipefail

cache=${SERVAL_E2E_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/serval-e2e}
mkdir -p "$cache"
apt_get="apt-get -o DPkg::Lock::Timeout=900"
sudo=""; [ "$(id -u)" = 0 ] || sudo=sudo

if ! dpkg -s chromium >/dev/null 2>&1; then
  echo "web-e2e: apt-get install chromium"
  $sudo $apt_get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo $apt_get install -y -qq chromium >/dev/null
fi
command -v node >/dev/null || {
  echo "web-e2e: apt-get install nodejs npm"
  $sudo $apt_get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo $apt_get install -y -qq nodejs npm >/dev/null
}
pw_dir="$cache/playwright"
if [ ! -d "$pw_dir/node_modules/playwright-core" ]; then
  echo "web-e2e: installing playwright-core"
  mkdir -p "$pw_dir"
  (cd "$pw_dir" && npm install --silent --no-audit --no-fund playwright-core@1.65.1 >/dev/null)
fi
