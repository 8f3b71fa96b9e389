# JetBrains plugin (clients/jetbrains). The IDE-independent core is plain Java 17 + gson, compiled with
# javac against Debian's gson jar and tested here, including against the real serval-agent and serval.
# The IntelliJ Platform layer (clients/jetbrains/plugin) needs JetBrains' Maven repositories and is built
# with its own Gradle build where they are reachable; see docs/jetbrains.md.

JB_CORE := $(ROOT)/clients/jetbrains/core
JB_BUILD := $(JB_CORE)/build
JB_CLASSES := $(JB_BUILD)/classes
JB_GSON ?= /usr/share/java/gson.jar
JB_MODEL := $(JB_BUILD)/test-model.gguf
JB_PKG := com.servalhq.jetbrains.core
JB_UNIT_TESTS := MessageReaderTest JsonRpcConnectionTest PositionsTest CompletionItemTest StatusTest \
	RestartPolicyTest AgentLocatorTest DocumentSyncTest AgentClientTest
JAVA ?= java
JAVAC ?= javac

.PHONY: jetbrains-deps jetbrains-core jetbrains-agent-bundle test-jetbrains test-jetbrains-unit test-jetbrains-integration \
	bench-jetbrains

# Idempotent: installs only what is missing.
jetbrains-deps:
	@command -v $(JAVAC) >/dev/null 2>&1 || (apt-get update && apt-get install -y openjdk-17-jdk-headless)
	@dpkg -s libgoogle-gson-java >/dev/null 2>&1 || (apt-get update && apt-get install -y libgoogle-gson-java)

jetbrains-core: jetbrains-deps
	rm -rf $(JB_CLASSES) && mkdir -p $(JB_CLASSES)
	$(JAVAC) --release 17 -Xlint:all -encoding UTF-8 -d $(JB_CLASSES) -cp $(JB_GSON) \
		$$(find $(JB_CORE)/src -name '*.java')

$(JB_MODEL): $(wildcard $(ROOT)/integration/testsupport/ggufgen/*.go $(ROOT)/integration/cmd/serval-testmodel/*.go)
	mkdir -p $(JB_BUILD)
	$(GO) run ./integration/cmd/serval-testmodel -o $@.tmp && mv $@.tmp $@

JB_RUN_UNIT = $(JAVA) -cp $(JB_CLASSES):$(JB_GSON) $(JB_PKG).TestRunner $(addprefix $(JB_PKG).,$(JB_UNIT_TESTS))
JB_RUN_INTEGRATION = SERVAL_BIN_DIR=$(BIN) SERVAL_LIB_DIR=$(SERVAL_LIB_DIR) SERVAL_TEST_MODEL=$(JB_MODEL) \
	$(JAVA) -cp $(JB_CLASSES):$(JB_GSON) $(JB_PKG).TestRunner $(JB_PKG).AgentIntegrationTest

test-jetbrains-unit: jetbrains-core
	$(JB_RUN_UNIT)

test-jetbrains-integration: build jetbrains-core $(JB_MODEL)
	$(JB_RUN_INTEGRATION)

# Unit tests (against a scripted fake agent), then the real serval-agent against the real serval.
test-jetbrains: build jetbrains-core $(JB_MODEL)
	$(JB_RUN_UNIT)
	$(JB_RUN_INTEGRATION)

# Puts this machine's serval-agent where the plugin's Gradle build bundles agents from
# (clients/jetbrains/plugin/build/agent/<GOOS>-<GOARCH>/). The agent uses cgo (tree-sitter), so other
# platforms' agents are built on those platforms and dropped into the same layout.
jetbrains-agent-bundle: build
	mkdir -p $(ROOT)/clients/jetbrains/plugin/build/agent/$$($(GO) env GOOS)-$$($(GO) env GOARCH)
	cp $(BIN)/serval-agent $(ROOT)/clients/jetbrains/plugin/build/agent/$$($(GO) env GOOS)-$$($(GO) env GOARCH)/

# The client's share of the keystroke path, as printed figures (no assertions).
bench-jetbrains: jetbrains-core
	$(JAVA) -cp $(JB_CLASSES):$(JB_GSON) $(JB_PKG).CoreBench

TEST_TARGETS += test-jetbrains
BENCH_TARGETS += bench-jetbrains
