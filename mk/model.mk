# serval-tiny, the small code model Serval trains and ships (models/serval-tiny).
#
#   make model          reproduces models/serval-tiny/serval-tiny.gguf from source on this machine:
#                       corpus (Go/Python standard libraries, rxjs), tokenizer, CPU training in three
#                       phases as the shipped model was trained, each resumed from the one before
#                       (train/config.json, config-phase2.json: the editor-like FIM split,
#                       config-phase3.json: more FIM, the middle's loss weighted; the steps each
#                       took are below), GGUF export of the last phase's weights, llama.cpp
#                       cross-check fixture (models/serval-tiny/README.md says what differs)
#   make test-serval-tiny  the model's tests: llama.cpp agrees with PyTorch, serval serves it (also in test-go)
#   make bench-model    serval-tiny against the generated random model on held-out code, in one run:
#                       serval-bench typing traces (held-out Go and Python packages, real serval + serval-agent)
#                       and serval-modeleval (single-line FIM exact match on 500 held-out lines, bits per byte)
#
# Python comes from Debian (python3-torch, python3-sentencepiece); OpenBLAS makes torch's CPU
# matrix products ~3x faster than the reference BLAS it pulls in.

MODEL_DIR := $(ROOT)/models/serval-tiny
MODEL_TRAIN := $(MODEL_DIR)/train
MODEL_CACHE := $(or $(XDG_CACHE_HOME),$(HOME)/.cache)/serval/serval-tiny
MODEL_CORPUS := $(MODEL_CACHE)/corpus
MODEL_RXJS := $(MODEL_CACHE)/rxjs/package/src
MODEL_WORK := $(MODEL_CACHE)/run
MODEL_WORK2 := $(MODEL_CACHE)/run2
MODEL_WORK3 := $(MODEL_CACHE)/run3
MODEL_PY := /usr/bin/python3
# The shipped model's runs: the steps each phase took (models/serval-tiny/README.md). Phase 2's
# schedule ran by the clock over 4,900 s, which its speed made about 4,588 steps; it was stopped
# after 2,598 of them to start phase 3.
MODEL_STEPS ?= 322
MODEL_TIME_BUDGET ?= 0
MODEL_PHASE2_SCHEDULE_STEPS := 4588
MODEL_PHASE2_STEPS := 2598
MODEL_PHASE3_STEPS ?= 2108
MODEL_THREADS ?= 1
# MODEL_DEVICE=cuda trains on a GPU (needs a CUDA build of PyTorch; Debian's python3-torch is CPU-only).
MODEL_DEVICE ?= cpu
MODEL_APT := python3-torch python3-sentencepiece python3-numpy libopenblas0-pthread

.PHONY: model model-deps model-corpus model-tokenizer model-train model-train-phase2 model-train-phase3 model-export test-serval-tiny bench-model

model-deps:
	@$(MODEL_PY) -c 'import torch, sentencepiece, numpy' 2>/dev/null && [ -e /usr/lib/x86_64-linux-gnu/openblas-pthread/libblas.so.3 ] || \
		{ sudo=$$(command -v sudo || true); $$sudo apt-get -o DPkg::Lock::Timeout=900 install -y $(MODEL_APT); }

$(MODEL_RXJS):
	@command -v npm >/dev/null || { echo "npm is needed for the TypeScript corpus (apt-get install npm)"; exit 1; }
	rm -rf $(MODEL_CACHE)/rxjs.tmp && mkdir -p $(MODEL_CACHE)/rxjs.tmp
	cd $(MODEL_CACHE)/rxjs.tmp && npm pack --silent rxjs@7.8.2 >/dev/null && tar xzf rxjs-*.tgz && rm -f rxjs-*.tgz
	rm -rf $(MODEL_CACHE)/rxjs && mv $(MODEL_CACHE)/rxjs.tmp $(MODEL_CACHE)/rxjs

# The corpus needs only Python's standard library (and npm for rxjs).
model-corpus: $(MODEL_RXJS)
	$(MODEL_PY) $(MODEL_TRAIN)/corpus.py --out $(MODEL_CORPUS) --rxjs-dir $(MODEL_RXJS)

model-tokenizer: model-deps model-corpus
	mkdir -p $(MODEL_WORK)
	cd $(MODEL_TRAIN) && $(MODEL_PY) tokenizer.py --corpus $(MODEL_CORPUS) --out $(MODEL_WORK)/tokenizer \
		--vocab-size 4096 --sample-bytes 4000000

model-train: model-tokenizer
	cd $(MODEL_TRAIN) && OPENBLAS_NUM_THREADS=$(MODEL_THREADS) nice -n 10 $(MODEL_PY) train.py --config config.json \
		--corpus $(MODEL_CORPUS) --tokenizer $(MODEL_WORK)/tokenizer --out $(MODEL_WORK) \
		--steps $(MODEL_STEPS) --time-budget $(MODEL_TIME_BUDGET) --threads $(MODEL_THREADS) --device $(MODEL_DEVICE)

# Phases 2 and 3 start from the previous phase's weights and optimiser state with their own
# warm-up and cosine schedule. Phase 2 brings the FIM split that matches an editor's cursor
# (train/train.py, middle_span); phase 3 more FIM samples and their middles' loss weighted.
model-train-phase2: model-train
	rm -rf $(MODEL_WORK2)
	cd $(MODEL_TRAIN) && OPENBLAS_NUM_THREADS=$(MODEL_THREADS) nice -n 10 $(MODEL_PY) train.py --config config-phase2.json \
		--corpus $(MODEL_CORPUS) --tokenizer $(MODEL_WORK)/tokenizer --out $(MODEL_WORK2) \
		--init-from $(MODEL_WORK)/checkpoint.pt --steps $(MODEL_PHASE2_SCHEDULE_STEPS) --stop-after $(MODEL_PHASE2_STEPS) \
		--time-budget 0 --threads $(MODEL_THREADS) --device $(MODEL_DEVICE)

model-train-phase3: model-train-phase2
	rm -rf $(MODEL_WORK3)
	cd $(MODEL_TRAIN) && OPENBLAS_NUM_THREADS=$(MODEL_THREADS) nice -n 10 $(MODEL_PY) train.py --config config-phase3.json \
		--corpus $(MODEL_CORPUS) --tokenizer $(MODEL_WORK)/tokenizer --out $(MODEL_WORK3) \
		--init-from $(MODEL_WORK2)/checkpoint.pt --steps $(MODEL_PHASE3_STEPS) --time-budget 0 --threads $(MODEL_THREADS) --device $(MODEL_DEVICE)

# model-export turns $(MODEL_WORK3)'s latest weights (phase 3) into the shipped GGUF and its
# llama.cpp cross-check fixture; log.csv holds all three phases.
model-export:
	$(GO) run ./integration/cmd/serval-modelexport -weights $(MODEL_WORK3)/weights.safetensors \
		-config $(MODEL_WORK3)/config.json -vocab $(MODEL_WORK)/tokenizer.vocab.json -type f16 -o $(MODEL_DIR)/serval-tiny.gguf
	cd $(MODEL_TRAIN) && $(MODEL_PY) reference.py --config $(MODEL_WORK3)/config.json --tokenizer $(MODEL_WORK)/tokenizer \
		--weights $(MODEL_WORK3)/weights.safetensors --corpus $(MODEL_CORPUS) --out $(ROOT)/models/testdata/serval-tiny-reference.json
	cp $(MODEL_WORK3)/log.csv $(MODEL_WORK3)/eval.json $(MODEL_WORK3)/config.json $(MODEL_DIR)/
	cp $(MODEL_CORPUS)/manifest.json $(MODEL_DIR)/corpus-manifest.json

model: model-train-phase3 model-export

test-serval-tiny: build
	$(TEST_ENV) $(GO) test -count=1 ./models/... ./integration/cmd/serval-modelexport/...

MODEL_BENCH_OUT ?= $(ROOT)/integration/bench/out/serval-tiny
MODEL_BENCH_TRACES ?= --go-traces 8 --python-traces 4 --seed 1
MODEL_RANDOM := $(ROOT)/.cache/bench/random-model.gguf

$(MODEL_RANDOM):
	mkdir -p $(dir $@)
	$(GO) run ./integration/cmd/serval-testmodel -o $@

bench-model: build model-corpus $(MODEL_RANDOM)
	$(GO) build -o $(BIN)/serval-bench ./integration/bench/cmd/serval-bench
	$(GO) build -o $(BIN)/serval-modeleval ./integration/cmd/serval-modeleval
	mkdir -p $(MODEL_BENCH_OUT)
	$(BIN)/serval-modeleval -heldout $(MODEL_CORPUS)/heldout.jsonl -lib-dir $(SERVAL_LIB_DIR) -n 500 \
		-model serval-tiny=$(MODEL_DIR)/serval-tiny.gguf -model random=$(MODEL_RANDOM) \
		-o $(MODEL_BENCH_OUT)/modeleval.json | tee $(MODEL_BENCH_OUT)/modeleval.md
	for m in serval-tiny=$(MODEL_DIR)/serval-tiny.gguf random=$(MODEL_RANDOM); do \
		$(BIN)/serval-bench --serval $(BIN)/serval --model $${m#*=} --agent serval=$(BIN)/serval-agent \
			--goroot $(MODEL_CORPUS)/heldout-go --python-dir $(MODEL_CORPUS)/heldout-python \
			$(MODEL_BENCH_TRACES) --out $(MODEL_BENCH_OUT)/$${m%%=*} || exit 1; \
	done

BENCH_TARGETS += bench-model
