#!/usr/bin/env bash
# Builds the peer engines the live tests and `make bench-engines` run beside
# Serval, once per version, into a cache outside the checkout (CI clones afresh):
#
#   build.sh llama-src      llama.cpp sources shipped in npm node-llama-cpp (the
#                           same llama.cpp as Serval's libraries)
#   build.sh llama-server   llama.cpp's llama-server from those sources
#   build.sh ollama         Ollama's server, `go build github.com/ollama/ollama`
#   build.sh dirs           prints NAME=DIR for each peer (what the tests read)
#
# Each result is built in a temporary folder beside its destination and renamed
# into place when complete, so a killed build never leaves a half peer that
# looks finished; a lock lets the Makefile and tests start it concurrently.
set -euo pipefail

NODE_LLAMA_CPP_VERSION=${NODE_LLAMA_CPP_VERSION:-3.22.1}
# The commit of node-llama-cpp@3.22.1's llama/gitRelease.bundle (llama.cpp "v0.5.0"
# in node-llama-cpp's naming); checked after cloning so a changed bundle is noticed.
LLAMA_CPP_COMMIT=${LLAMA_CPP_COMMIT:-de3ff815ea7d559ee917f063901b8986f038abc6}
OLLAMA_VERSION=${OLLAMA_VERSION:-v0.24.0}
JOBS=${PEERS_JOBS:-2}
CACHE=${SERVAL_PEERS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/serval/peers}

LLAMA_SRC=$CACHE/llama.cpp-src-${LLAMA_CPP_COMMIT:0:10}
LLAMA_SERVER=$CACHE/llama-server-${LLAMA_CPP_COMMIT:0:10}
OLLAMA=$CACHE/ollama-$OLLAMA_VERSION-native

log() { echo "peers: $*" >&2; }

# with_lock NAME DEST BUILDFN: runs BUILDFN TMPDIR under a lock unless DEST exists,
# then renames TMPDIR to DEST.
with_lock() {
	local name=$1 dest=$2 fn=$3
	[[ -e $dest/.complete ]] && return 0
	mkdir -p "$CACHE"
	exec {lockfd}>"$CACHE/.$name.lock"
	flock "$lockfd"
	if [[ ! -e $dest/.complete ]]; then
		local tmp start=$SECONDS
		rm -rf "$dest".tmp.* # what an earlier failed or killed build left
		tmp=$(mktemp -d "$dest.tmp.XXXXXX")
		log "building $name into $dest (log: $tmp/build.log)"
		# The build's processes must not inherit the lock: one left behind
		# by a killed build would hold it.
		if ! "$fn" "$tmp" >"$tmp/build.log" 2>&1 {lockfd}>&-; then
			tail -n 40 "$tmp/build.log" >&2
			log "building $name failed; full log in $tmp/build.log"
			exit 1
		fi
		echo "$((SECONDS - start))s" >"$tmp/.complete"
		rm -rf "$dest"
		mv "$tmp" "$dest"
		log "built $name in $((SECONDS - start))s"
	fi
	flock -u "$lockfd"
}

need() {
	command -v "$1" >/dev/null && return 0
	[[ -n ${2:-} ]] || { log "$1 is needed"; exit 1; }
	log "installing $2 (for $1)"
	local sudo=; [[ $(id -u) == 0 ]] || sudo=sudo
	# A fresh machine's package lists can name versions the mirror no longer
	# has: refresh them once and retry.
	$sudo apt-get -o DPkg::Lock::Timeout=900 install -y "$2" >&2 ||
		{ $sudo apt-get -o DPkg::Lock::Timeout=900 update -qq >&2 &&
			$sudo apt-get -o DPkg::Lock::Timeout=900 install -y "$2" >&2; }
}

build_llama_src() {
	local tmp=$1
	need npm npm; need git git
	(cd "$tmp" && npm pack --silent "node-llama-cpp@$NODE_LLAMA_CPP_VERSION" >/dev/null &&
		tar xzf node-llama-cpp-*.tgz package/llama/gitRelease.bundle)
	git -c advice.detachedHead=false clone --quiet "$tmp/package/llama/gitRelease.bundle" "$tmp/src"
	local head; head=$(git -C "$tmp/src" rev-parse HEAD)
	[[ $head == "$LLAMA_CPP_COMMIT" ]] || { echo "bundle is at $head, expected $LLAMA_CPP_COMMIT"; exit 1; }
	rm -rf "$tmp/package" "$tmp"/node-llama-cpp-*.tgz "$tmp/src/.git"
}

build_llama_server() {
	local tmp=$1
	need cmake cmake; need g++ g++
	cmake -S "$LLAMA_SRC/src" -B "$tmp/build" -DCMAKE_BUILD_TYPE=Release \
		-DLLAMA_CURL=OFF -DLLAMA_OPENSSL=OFF -DBUILD_SHARED_LIBS=OFF \
		-DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF
	cmake --build "$tmp/build" --target llama-server -j "$JOBS"
	mkdir -p "$tmp/bin"
	cp "$tmp/build/bin/llama-server" "$tmp/bin/"
	rm -rf "$tmp/build"
	"$tmp/bin/llama-server" --version
}

# A plain `go build` compiles Ollama's ggml for baseline x86-64, without the
# SIMD kernels; official Ollama builds pick an AVX2/AVX-512 CPU variant at run
# time, and llama-server above is built for this CPU (GGML_NATIVE), so Ollama
# is built for this CPU too: the engine benchmark compares like with like.
build_ollama() {
	local tmp=$1
	need go; need g++ g++
	mkdir -p "$tmp/mod" "$tmp/bin"
	(cd "$tmp/mod" && go mod init serval.local/peers-ollama &&
		go get "github.com/ollama/ollama@$OLLAMA_VERSION" &&
		CGO_CPPFLAGS="-I$LLAMA_SRC/src/vendor" CGO_CFLAGS="-O3 -march=native" CGO_CXXFLAGS="-O3 -march=native" go build -p "$JOBS" -trimpath \
			-ldflags "-X github.com/ollama/ollama/version.Version=${OLLAMA_VERSION#v}" \
			-o "$tmp/bin/ollama" github.com/ollama/ollama)
	rm -rf "$tmp/mod"
	"$tmp/bin/ollama" --version || true
}

case ${1:-} in
llama-src) with_lock llama-src "$LLAMA_SRC" build_llama_src ;;
llama-server)
	with_lock llama-src "$LLAMA_SRC" build_llama_src
	with_lock llama-server "$LLAMA_SERVER" build_llama_server
	;;
ollama)
	with_lock llama-src "$LLAMA_SRC" build_llama_src
	with_lock ollama "$OLLAMA" build_ollama
	;;
dirs)
	echo "llama-server=$LLAMA_SERVER/bin/llama-server"
	echo "ollama=$OLLAMA/bin/ollama"
	;;
*) echo "usage: $0 llama-src|llama-server|ollama|dirs" >&2; exit 2 ;;
esac
