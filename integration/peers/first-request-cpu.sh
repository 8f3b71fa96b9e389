#!/usr/bin/env bash
# first-request-cpu.sh ENGINE MODEL [ROUNDS]
#
# What a freshly started engine spends on its first request after it reports
# ready, against its next ones: the CPU time of all its threads
# (/proc/PID/task/*/schedstat) and its page faults (/proc/PID/stat, minor +
# major) over each of four requests with different prompts of the same size
# (1,500 characters of prefix and 500 of suffix cut from the Go
# distribution's net/http/server.go, 16 tokens, greedy), sent 0.3 s after
# the health check first answers 200. CPU time and faults, unlike wall time,
# hardly move with the load of a shared machine, so a lazily initialised
# part shows as a first request that costs more than the others.
#
# ENGINE: serval (the Tabby route, /v1/completions with segments), serval-raw
# (/openai/v1/completions with the FIM prompt) or llama-server (/completion
# with the same prompt). Binaries: $SERVAL_BIN_DIR/serval (default bin/), the
# llama-server that `make peers` cached. One thread, port chosen by the kernel.
set -euo pipefail

engine=${1:?usage: first-request-cpu.sh serval|serval-raw|llama-server MODEL [ROUNDS]}
model=${2:?usage: first-request-cpu.sh ENGINE MODEL [ROUNDS]}
rounds=${3:-3}
bin=${SERVAL_BIN_DIR:-bin}
src=$(go env GOROOT)/src/net/http/server.go
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

python3 - "$src" "$work" <<'PY'
import json, sys
src = open(sys.argv[1]).read()
for i, off in enumerate([20000, 45000, 70000, 95000]):
    pre, suf = src[off-1500:off], src[off:off+500]
    fim = "<|fim_prefix|>" + pre + "<|fim_suffix|>" + suf + "<|fim_middle|>"
    json.dump({"language": "go", "segments": {"prefix": pre, "suffix": suf, "filepath": "server.go"}, "max_tokens": 16, "temperature": 0}, open(f"{sys.argv[2]}/serval{i}.json", "w"))
    json.dump({"prompt": fim, "max_tokens": 16, "temperature": 0}, open(f"{sys.argv[2]}/serval-raw{i}.json", "w"))
    json.dump({"prompt": fim, "n_predict": 16, "temperature": 0, "cache_prompt": True}, open(f"{sys.argv[2]}/llama-server{i}.json", "w"))
PY

cpu_ns() { cat /proc/"$1"/task/*/schedstat 2>/dev/null | awk '{s += $1} END {printf "%.0f", s}'; }
faults() { awk '{print $10 + $12}' /proc/"$1"/stat; }

for round in $(seq "$rounds"); do
	data=$(mktemp -d -p "$work")
	auth=()
	case $engine in
	serval | serval-raw)
		"$bin/serval" serve --model "$model" --port 0 --data-dir "$data" --threads 1 >"$data/log" 2>&1 &
		pid=$!
		url=""
		for _ in $(seq 600); do
			url=$(grep -o 'listening on http://127.0.0.1:[0-9]*' "$data/log" | sed 's/listening on //' || true)
			[[ -n $url ]] && break
			sleep 0.05
		done
		auth=(-H "Authorization: Bearer $(cat "$data/initial-token")")
		health=$url/v1/health
		path=/v1/completions
		[[ $engine == serval-raw ]] && path=/openai/v1/completions
		;;
	llama-server)
		ls=$(ls -d ~/.cache/serval/peers/llama-server-*/bin | head -n1)/llama-server
		port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
		LD_LIBRARY_PATH=$(dirname "$ls") "$ls" -m "$model" --host 127.0.0.1 --port "$port" -t 1 -c 4096 -np 1 >"$data/log" 2>&1 &
		pid=$!
		url=http://127.0.0.1:$port
		health=$url/health
		path=/completion
		;;
	*) echo "unknown engine $engine" >&2; exit 2 ;;
	esac
	for _ in $(seq 1500); do
		[[ $(curl -s -o /dev/null -w '%{http_code}' "${auth[@]}" "$health" || true) == 200 ]] && break
		sleep 0.02
	done
	sleep 0.3
	line=""
	for i in 0 1 2 3; do
		c0=$(cpu_ns "$pid") f0=$(faults "$pid")
		code=$(curl -s -o /dev/null -w '%{http_code}' "${auth[@]}" -H 'Content-Type: application/json' --data @"$work/$engine$i.json" "$url$path")
		sleep 0.2
		c1=$(cpu_ns "$pid") f1=$(faults "$pid")
		[[ $code == 200 ]] || { echo "request $i: HTTP $code" >&2; kill "$pid"; exit 1; }
		line+=" $(((c1 - c0) / 1000000)) ms/$((f1 - f0)) faults"
	done
	echo "$engine round $round: first, then three more:$line"
	kill "$pid"
	wait "$pid" 2>/dev/null || true
done
