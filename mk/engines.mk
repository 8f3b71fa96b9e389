# Engines area: focused targets. `make test` already runs server/backend and
# integration/engines inside test-go (go test ./...).

.PHONY: test-engines device-check-prepare device-check-cpu

# Backends, pools, chat and the real-binary tests of remote engines.
test-engines: build
	$(TEST_ENV) $(GO) vet ./server/backend/... ./server/engine/... ./integration/engines/...
	$(TEST_ENV) $(GO) test -race -count=1 -timeout 5m ./server/backend/... ./server/engine/ollama/... \
		./server/engine/openai/... ./server/engine/pool/... ./server/openaiapi/... ./integration/engines/...

# Fills .deps/device-check for integration/device-check.sh run on a GPU machine.
device-check-prepare:
	integration/device-check.sh prepare

# The serving and measuring half of the device check, on the CPU only.
device-check-cpu: device-check-prepare
	integration/device-check.sh compare cpu
