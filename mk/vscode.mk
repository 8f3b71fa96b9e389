# VS Code extension (clients/vscode): unit tests, the .vsix, and the end-to-end
# test in a real VS Code (code-server) driven in headless Chromium.
#
#   make vsix          clients/vscode/serval.vsix with bin/linux-amd64/serval-agent inside
#   make test-vscode   typecheck + unit tests (Node's test runner)
#   make e2e-vscode    installs code-server/Node 24/Chromium (cached), runs e2e/e2e.mjs

VSCODE_DIR := $(ROOT)/clients/vscode

.PHONY: vscode-deps vsix test-vscode e2e-vscode

vscode-deps:
	@cd $(VSCODE_DIR) && { [ -d node_modules/vscode-languageclient ] && [ node_modules/.package-lock.json -nt package-lock.json ]; } || \
		npm ci --no-audit --no-fund --loglevel=error

vsix: build vscode-deps
	mkdir -p $(VSCODE_DIR)/bin/linux-amd64
	$(GO) build -trimpath -ldflags "-s -w $(GO_LDFLAGS)" -o $(VSCODE_DIR)/bin/linux-amd64/serval-agent ./agent/cmd/serval-agent
	cd $(VSCODE_DIR) && npm run -s package

test-vscode: vscode-deps
	cd $(VSCODE_DIR) && npm run -s typecheck && npm test --silent

e2e-vscode: vsix
	$(VSCODE_DIR)/e2e/install.sh
	SERVAL_BIN_DIR=$(BIN) node $(VSCODE_DIR)/e2e/e2e.mjs

TEST_TARGETS += test-vscode e2e-vscode
