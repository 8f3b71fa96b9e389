# Neovim client: installs the three Neovim versions the tests drive and runs
# the end-to-end tests of clients/neovim against the real serval-agent and serval.
#
#   make neovim-deps   0.7.2 (apt), 0.10.4 (trixie) and 0.12.4 (sid) under .cache/nvim
#   make test-neovim   headless + tmux tests (integration/neovim)

NVIM_CACHE := $(ROOT)/.cache/nvim
NVIM_APT_PKGS := neovim tmux patchelf
APT_GET := apt-get -o DPkg::Lock::Timeout=300

.PHONY: neovim-deps test-neovim

neovim-deps:
	@missing=""; \
	command -v nvim >/dev/null || missing="$$missing neovim"; \
	command -v tmux >/dev/null || missing="$$missing tmux"; \
	command -v patchelf >/dev/null || missing="$$missing patchelf"; \
	if [ -n "$$missing" ]; then \
		sudo_cmd=""; [ "$$(id -u)" = 0 ] || sudo_cmd=sudo; \
		$$sudo_cmd $(APT_GET) update -qq && $$sudo_cmd $(APT_GET) install -y -qq $$missing; \
	fi
	@# Exit status 3 = that suite cannot be reached from here: the tests skip that version.
	@for pair in trixie:0.10 sid:0.12; do \
		suite=$${pair%%:*}; ver=$${pair##*:}; \
		integration/neovim/install-nvim.sh $$suite $(NVIM_CACHE)/$$ver || { \
			rc=$$?; [ $$rc = 3 ] || exit $$rc; \
			echo "neovim-deps: Neovim $$ver ($$suite) cannot be had here; its tests will skip"; }; \
	done

test-neovim: build neovim-deps
	$(TEST_ENV) SERVAL_NVIM_CACHE=$(NVIM_CACHE) SERVAL_NEOVIM_TESTS=1 \
		$(GO) test -count=1 -timeout 10m -v ./integration/neovim/...

TEST_TARGETS += test-neovim
