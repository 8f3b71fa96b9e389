#!/usr/bin/env bash
# device-check.sh: serve a generated model with `serval serve --device cuda`
# and `--device cpu` on a machine with an NVIDIA GPU, send completions, and
# print tokens per second for each.
#
# The GPU machines this project can borrow have CUDA 13 (nvcc, cuBLAS),
# cmake and a compiler, but no network, and take at most 64 MiB of files
# along. The CUDA build of the llama.cpp libraries is far larger than that, so
# the check works in two steps:
#
#   integration/device-check.sh prepare   # here, with Go and npm: fills .deps/device-check (~30 MB)
#   integration/device-check.sh run       # there: builds llama.cpp's CUDA backend (sm_90), compares
#
# `prepare` writes into .deps/device-check:
#   serval, serval-testmodel     stripped binaries built from this checkout
#   llama-cpu.tar.xz             the llama.cpp v0.5.0 CPU libraries (make deps)
#   ggml-src.tar.xz              llama.cpp v0.5.0's ggml sources, taken from the
#                                git bundle in npm node-llama-cpp@3.22.1 (the
#                                same release yzma v1.28.0 binds)
# `run` unpacks them, builds only the ggml-cuda backend (GGML_BACKEND_DL, one
# architecture, flash-attention kernels off unless DEVICE_CHECK_CUDA_FA=ON),
# places libggml-cuda.so beside the CPU libraries, writes a generated model
# (8 layers × 1024 wide, f32, 330 MB: big enough that the GPU has work to do),
# and runs `compare cuda cpu`.
#
#   integration/device-check.sh compare DEVICE...   # serve and measure only (cpu works anywhere)
#
# Settings (environment): DEVICE_CHECK_DIR (default .deps/device-check),
# DEVICE_CHECK_WORK (scratch, default /tmp/serval-device-check),
# CUDA_ARCH (default: the GPU's compute capability from nvidia-smi, else 90),
# BUILD_TIMEOUT (420 s for the ggml-cuda build), DEVICE_CHECK_CUDA_FA (OFF), MODEL_LAYERS (8),
# MODEL_EMBD (1024), MODEL_HEADS (16), REQUESTS (3), TOKENS (128 per request),
# JOBS (nproc).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
DIR=${DEVICE_CHECK_DIR:-$ROOT/.deps/device-check}
WORK=${DEVICE_CHECK_WORK:-/tmp/serval-device-check}
CUDA_ARCH_SET=${CUDA_ARCH:-}
CUDA_ARCH=${CUDA_ARCH:-90}
BUILD_TIMEOUT=${BUILD_TIMEOUT:-420}
REQUESTS=${REQUESTS:-3}
TOKENS=${TOKENS:-128}
JOBS=${JOBS:-$(nproc)}
NPM_VERSION=3.22.1

die() { echo "device-check: $*" >&2; exit 1; }
note() { echo "device-check: $*" >&2; }
need() { for c in "$@"; do command -v "$c" >/dev/null || die "$c is required but not installed"; done; }

prepare() {
	need go npm tar xz git
	mkdir -p "$DIR"
	local tmp
	tmp=$(mktemp -d)
	trap 'rm -rf "$tmp"' RETURN

	note "building serval and serval-testmodel"
	(cd "$ROOT" && CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$DIR/serval" ./server/cmd/serval)
	(cd "$ROOT" && CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$DIR/serval-testmodel" ./integration/cmd/serval-testmodel)

	if [[ ! -f $ROOT/.deps/llama/cpu/libllama.so ]]; then
		note "fetching the llama.cpp CPU libraries (make deps)"
		make -C "$ROOT" --no-print-directory deps DEVICE=cpu
	fi
	tar -C "$ROOT/.deps/llama" -cJf "$DIR/llama-cpu.tar.xz" cpu

	if [[ ! -f $DIR/ggml-src.tar.xz ]]; then
		note "fetching llama.cpp v0.5.0 source (npm node-llama-cpp@$NPM_VERSION, llama/gitRelease.bundle)"
		(cd "$tmp" && npm pack --silent "node-llama-cpp@$NPM_VERSION" >/dev/null)
		tar -C "$tmp" -xzf "$tmp/node-llama-cpp-$NPM_VERSION.tgz" package/llama/gitRelease.bundle package/llama/binariesGithubRelease.json
		grep -q '"v0.5.0"' "$tmp/package/llama/binariesGithubRelease.json" ||
			die "node-llama-cpp@$NPM_VERSION does not carry llama.cpp v0.5.0: $(cat "$tmp/package/llama/binariesGithubRelease.json")"
		git clone --quiet "$tmp/package/llama/gitRelease.bundle" "$tmp/llama.cpp" 2>/dev/null
		git -C "$tmp/llama.cpp" archive --format=tar HEAD ggml | xz -T0 >"$DIR/ggml-src.tar.xz.tmp"
		mv "$DIR/ggml-src.tar.xz.tmp" "$DIR/ggml-src.tar.xz"
	fi
	rm -rf "$tmp/check" && mkdir -p "$tmp/check"
	tar -C "$tmp/check" -xJf "$DIR/ggml-src.tar.xz"
	[[ -f $tmp/check/ggml/src/ggml-cuda/CMakeLists.txt ]] || die "ggml-src.tar.xz has no ggml/src/ggml-cuda: the CUDA backend cannot be built from it"
	check_options "$tmp/check"
	local total
	total=$(du -sm "$DIR" | cut -f1)
	((total < 60)) || die "$DIR is $total MB: too large to take to the GPU machine (limit 64 MiB)"
	note "ready: $DIR ($total MB). On the GPU machine, carry .deps/device-check and run: integration/device-check.sh run"
}

# cmake_options: how ggml-cuda is configured, one option per word. One
# architecture, no flash-attention kernels unless asked (the test models do
# not need them; they are most of the build), no ccache (a cold cache only
# costs time on a one-off machine), no NCCL, no tests or examples;
# GGML_BACKEND_DL builds the backend as a loadable libggml-cuda.so that the
# npm CPU libraries of the same release load beside their own CPU backends.
cmake_options() {
	echo -DCMAKE_BUILD_TYPE=Release -DBUILD_SHARED_LIBS=ON -DGGML_BACKEND_DL=ON -DGGML_NATIVE=OFF \
		-DGGML_CUDA=ON -DCMAKE_CUDA_ARCHITECTURES="$CUDA_ARCH" -DGGML_CUDA_FA="${DEVICE_CHECK_CUDA_FA:-OFF}" \
		-DGGML_CUDA_NCCL=OFF -DGGML_CCACHE=OFF -DGGML_BUILD_TESTS=OFF -DGGML_BUILD_EXAMPLES=OFF
}

# check_options SRC: every GGML_* option cmake_options sets is declared by
# this ggml's CMake files (a misspelt or renamed option is silently ignored
# by cmake: FA kernels would be built after all, or ccache used).
check_options() {
	local src=$1 opt missing=()
	for opt in $(cmake_options); do
		opt=${opt#-D}
		opt=${opt%%=*}
		[[ $opt == GGML_* ]] || continue
		grep -rqE "(option|set)\(${opt}[ )]|\b${opt}\b.*CACHE" "$src/ggml/CMakeLists.txt" "$src/ggml/src" --include=CMakeLists.txt --include='*.cmake' ||
			missing+=("$opt")
	done
	((${#missing[@]} == 0)) || die "ggml $NPM_VERSION's CMake files do not declare ${missing[*]}: update cmake_options"
	note "cmake options checked against the ggml sources: $(cmake_options | tr ' ' '\n' | grep -c GGML_) GGML_* options declared"
}

# unpack_cpu_libs DEST: the CPU libraries, with yzma's unversioned links.
unpack_cpu_libs() {
	mkdir -p "$1"
	tar -C "$1" --strip-components=1 -xJf "$DIR/llama-cpu.tar.xz"
	[[ -e $1/libllama.so ]] || die "llama-cpu.tar.xz has no libllama.so"
}

build_cuda() {
	local src=$WORK/src build=$WORK/build
	if [[ -f $WORK/lib/cuda/libggml-cuda.so ]]; then
		note "using the CUDA backend built before: $WORK/lib/cuda/libggml-cuda.so"
		return
	fi
	rm -rf "$src" && mkdir -p "$src"
	tar -C "$src" -xJf "$DIR/ggml-src.tar.xz"
	# node-llama-cpp's bundle leaves out ggml.pc.in, which a standalone ggml
	# build configures (pkg-config metadata only).
	[[ -f $src/ggml/ggml.pc.in ]] || : >"$src/ggml/ggml.pc.in"
	note "configuring ggml-cuda for sm_$CUDA_ARCH ($(nvcc --version | sed -n 's/.*release \([0-9.]*\).*/CUDA \1/p'))"
	local generator=()
	command -v ninja >/dev/null && generator=(-G Ninja) # schedules nvcc jobs better than make
	# shellcheck disable=SC2046 # cmake_options prints one option per word
	cmake -S "$src/ggml" -B "$build" "${generator[@]}" $(cmake_options) \
		-DCMAKE_CUDA_COMPILER="$(command -v nvcc)" >"$WORK/cmake.log" 2>&1 ||
		{ tail -30 "$WORK/cmake.log" >&2; die "cmake failed (log: $WORK/cmake.log)"; }
	if grep -q "Manually-specified variables were not used" "$WORK/cmake.log"; then
		grep -A8 "Manually-specified variables were not used" "$WORK/cmake.log" >&2
		die "cmake ignored some of the options above: the build would not be the one intended (log: $WORK/cmake.log)"
	fi
	note "building ggml-cuda with $JOBS jobs (minutes; at most ${BUILD_TIMEOUT}s)"
	local start=$SECONDS
	timeout "$BUILD_TIMEOUT" cmake --build "$build" --target ggml-cuda -j "$JOBS" >"$WORK/build.log" 2>&1 ||
		{ tail -30 "$WORK/build.log" >&2; die "building ggml-cuda failed or passed ${BUILD_TIMEOUT}s (log: $WORK/build.log; nvcc jobs: $JOBS)"; }
	local lib
	lib=$(find "$build" -name 'libggml-cuda.so' -print -quit)
	[[ -n $lib ]] || die "the build made no libggml-cuda.so"
	note "built $(basename "$lib") in $((SECONDS - start)) s"
	rm -rf "$WORK/lib/cuda" && unpack_cpu_libs "$WORK/lib/cuda"
	cp "$lib" "$WORK/lib/cuda/"
}

# serve DEVICE LIBDIR: start serval, set PID and URL.
serve() {
	local device=$1 libdir=$2 log=$WORK/serval-$1.log
	"$DIR/serval" serve --model "$WORK/model.gguf" --device "$device" --lib-dir "$libdir" \
		--host 127.0.0.1 --port 0 --no-auth --data-dir "$WORK/data-$device" --ctx-size 2048 >"$log" 2>&1 &
	PID=$!
	URL=
	for _ in $(seq 1 600); do
		URL=$(sed -n 's/.*serval: listening on \(http:[^ ]*\).*/\1/p' "$log" | head -1)
		[[ -n $URL ]] && return
		kill -0 "$PID" 2>/dev/null || { tail -5 "$log" >&2; die "serval --device $device exited before listening (log: $log)"; }
		sleep 0.2
	done
	kill "$PID"
	die "serval --device $device did not listen within 120 s (log: $log)"
}

# metric NAME: one value from /metrics.
metric() { curl -sf "$URL/metrics" | awk -v n="$1" '$1 == n { print $2; exit }'; }

# measure DEVICE LIBDIR: prints "DEVICE tokens seconds e2e_tps decode_tps gpus".
# Run it in a subshell, $(measure ...): its EXIT trap stops the server.
measure() {
	local device=$1 libdir=$2
	serve "$device" "$libdir"
	trap 'kill $PID 2>/dev/null; wait $PID 2>/dev/null || true' EXIT
	local health gpus
	health=$(curl -sf "$URL/v1/health") || die "no /v1/health from serval --device $device"
	gpus=$(sed -n 's/.*"cuda_devices":\[\([^]]*\)\].*/\1/p' <<<"$health")
	[[ $device != cuda || -n $gpus ]] || die "serval --device cuda reports no CUDA devices in /v1/health: $health"
	# With the CUDA backend beside the CPU libraries and a GPU, auto must take the GPU.
	[[ $device != auto ]] || grep -q '"device":"cuda"' <<<"$health" ||
		die "serval --device auto did not choose cuda with libggml-cuda.so and a GPU present: $health"
	local body
	body=$(printf '{"prompt":"def fibonacci(n):\\n    ","max_tokens":%d,"temperature":0}' "$TOKENS")
	curl -sf "$URL/openai/v1/completions" -H 'Content-Type: application/json' -d "$body" >/dev/null ||
		die "warm-up completion failed on $device"
	local tok0 sum0 cnt0 start end tok1 sum1 cnt1
	tok0=$(metric serval_generated_tokens_total)
	sum0=$(metric serval_generation_tokens_per_second_sum)
	cnt0=$(metric serval_generation_tokens_per_second_count)
	start=$(date +%s.%N)
	for _ in $(seq 1 "$REQUESTS"); do
		curl -sf "$URL/openai/v1/completions" -H 'Content-Type: application/json' -d "$body" >/dev/null ||
			die "completion failed on $device"
	done
	end=$(date +%s.%N)
	tok1=$(metric serval_generated_tokens_total)
	sum1=$(metric serval_generation_tokens_per_second_sum)
	cnt1=$(metric serval_generation_tokens_per_second_count)
	awk -v d="$device" -v t0="${tok0:-0}" -v t1="${tok1:-0}" -v s="$start" -v e="$end" \
		-v a0="${sum0:-0}" -v a1="${sum1:-0}" -v c0="${cnt0:-0}" -v c1="${cnt1:-0}" -v g="${gpus:-none}" \
		'BEGIN { n = t1 - t0; w = e - s; dec = (c1 > c0) ? (a1 - a0) / (c1 - c0) : 0;
		         printf "%-5s %8d %9.2f %12.1f %12.1f  %s\n", d, n, w, (w > 0 ? n / w : 0), dec, g }'
	# Stop it here too: bash may exec the subshell's last command and skip the trap.
	kill "$PID" 2>/dev/null && wait "$PID" 2>/dev/null || true
}

compare() {
	(($# > 0)) || set -- cpu
	need curl awk tar xz
	[[ -x $DIR/serval ]] || die "no $DIR/serval: run \`integration/device-check.sh prepare\` first (on a machine with Go and npm)"
	mkdir -p "$WORK"
	[[ -d $WORK/lib/cpu ]] || unpack_cpu_libs "$WORK/lib/cpu"
	if [[ ! -f $WORK/model.gguf ]]; then
		note "writing the generated model (${MODEL_LAYERS:-8} layers × ${MODEL_EMBD:-1024})"
		"$DIR/serval-testmodel" -o "$WORK/model.gguf" -layers "${MODEL_LAYERS:-8}" -embd "${MODEL_EMBD:-1024}" -heads "${MODEL_HEADS:-16}"
	fi
	local rows=()
	for device in "$@"; do
		case $device in
		cpu) rows+=("$(measure cpu "$WORK/lib/cpu")") ;;
		cuda) rows+=("$(measure cuda "$WORK/lib/cuda")") ;;
		auto) rows+=("$(measure auto "$WORK/lib/cuda")") ;;
		*) die "unknown device $device (want cpu, cuda or auto)" ;;
		esac
	done
	echo "model $(du -m "$WORK/model.gguf" | cut -f1) MB, $REQUESTS requests × $TOKENS tokens after one warm-up, on $(nproc) CPU threads"
	printf '%-5s %8s %9s %12s %12s  %s\n' device tokens seconds "e2e tok/s" "decode tok/s" "cuda devices"
	printf '%s\n' "${rows[@]}"
}

run() {
	command -v nvidia-smi >/dev/null ||
		die "nvidia-smi not found: \`run\` needs a machine with an NVIDIA GPU and its driver (use \`compare cpu\` to measure the CPU alone)"
	nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader >&2 ||
		die "nvidia-smi found no usable GPU"
	# CUDA installs often leave nvcc off PATH.
	if ! command -v nvcc >/dev/null && [[ -x /usr/local/cuda/bin/nvcc ]]; then
		export PATH=/usr/local/cuda/bin:$PATH
	fi
	need nvcc cmake make tar xz curl timeout
	[[ -f $DIR/ggml-src.tar.xz ]] || die "no $DIR/ggml-src.tar.xz: run \`integration/device-check.sh prepare\` first and carry .deps/device-check"
	if [[ -z ${CUDA_ARCH_SET:-} ]]; then
		# Build for the GPU that is there (9.0 → 90), not only an H100's.
		local cap
		cap=$(nvidia-smi --query-gpu=compute_cap --format=csv,noheader 2>/dev/null | head -1 | tr -d ' .')
		[[ $cap =~ ^[0-9]+$ ]] && CUDA_ARCH=$cap
	fi
	# libggml-cuda.so needs libcudart and libcublas at run time; toolkit installs
	# often leave them out of the loader's path.
	local cuda_home
	cuda_home=$(dirname "$(dirname "$(command -v nvcc)")")
	if ! ldconfig -p 2>/dev/null | grep -q libcublas.so && [[ -d $cuda_home/lib64 ]]; then
		export LD_LIBRARY_PATH=$cuda_home/lib64${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
	fi
	mkdir -p "$WORK"
	build_cuda
	compare cuda cpu auto
}

case ${1:-help} in
prepare) prepare ;;
run) run ;;
compare) shift; compare "$@" ;;
help | -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//' ;;
*) die "unknown step ${1}: want prepare, run or compare" ;;
esac
