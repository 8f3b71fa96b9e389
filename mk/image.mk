# Container images built from host binaries (Dockerfile, Dockerfile.cuda;
# docs/deploy.md) and the podman test of the CPU image (integration/container).
#
#   make image                  bin/serval + CPU libraries → serval:latest
#   make image DEVICE=cuda      bin/serval + CUDA libraries → serval:cuda (base nvidia/cuda, pulled)
#   make test-image             build serval:latest, then run integration/container against it
#                               (part of make test; skipped with one line where podman cannot run)
#
# With podman (the default engine) the CPU image's base is made locally from
# Debian's packages (debootstrap --variant=minbase bookworm, then podman
# import), so no registry is needed; the root file system is cached by
# version in $(IMAGE_CACHE). CONTAINER_ENGINE=docker builds on the official
# debian:bookworm-slim instead.

CONTAINER_ENGINE ?= podman
# runc and cgroupfs: this sandbox refuses crun and systemd cgroups. Harmless elsewhere.
PODMAN_GLOBAL_FLAGS ?= --runtime runc --cgroup-manager=cgroupfs
IMAGE_ENGINE := $(if $(filter podman,$(CONTAINER_ENGINE)),podman $(PODMAN_GLOBAL_FLAGS),$(CONTAINER_ENGINE))

IMAGE_TAG_cpu := serval:latest
IMAGE_TAG_cuda := serval:cuda
IMAGE_TAG ?= $(IMAGE_TAG_$(DEVICE))
DOCKERFILE_cpu := Dockerfile
DOCKERFILE_cuda := Dockerfile.cuda
IMAGE_CONTEXT := $(ROOT)/.cache/image/$(DEVICE)

# Bump BASE_IMAGE_VERSION to rebuild the cached base (e.g. for Debian point releases).
BASE_IMAGE_VERSION := 1
BASE_IMAGE := localhost/serval-base:bookworm-minbase-$(BASE_IMAGE_VERSION)
DEBIAN_MIRROR ?= http://deb.debian.org/debian
IMAGE_CACHE := $(or $(XDG_CACHE_HOME),$(HOME)/.cache)/serval/images
BASE_ROOTFS_TAR := $(IMAGE_CACHE)/debian-bookworm-minbase-$(BASE_IMAGE_VERSION).tar
# The CPU image is built on the local base with podman; the CUDA image (and
# docker) use the base the Dockerfile names.
IMAGE_BUILD_ARGS := $(if $(and $(filter podman,$(CONTAINER_ENGINE)),$(filter cpu,$(DEVICE))),--build-arg BASE=$(BASE_IMAGE) --pull=never)
APT_INSTALL := apt-get -o DPkg::Lock::Timeout=900 install -y -qq

.PHONY: image image-context image-base image-tools test-image

image: image-context $(if $(and $(filter podman,$(CONTAINER_ENGINE)),$(filter cpu,$(DEVICE))),image-base)
	$(IMAGE_ENGINE) build --format docker $(IMAGE_BUILD_ARGS) -f $(DOCKERFILE_$(DEVICE)) -t $(IMAGE_TAG) $(IMAGE_CONTEXT)
	@# Each build leaves the previous image untagged; drop those (podman only: docker users prune themselves).
	@$(if $(filter podman,$(CONTAINER_ENGINE)),podman image prune -f >/dev/null)
	@echo "built $(IMAGE_TAG) ($(DEVICE)) from bin/serval and bin/lib/$(DEVICE)"

# The build context: only the binary and the libraries (symbolic links kept).
image-context: build
	rm -rf $(IMAGE_CONTEXT) && mkdir -p $(IMAGE_CONTEXT)/lib
	cp $(BIN)/serval $(IMAGE_CONTEXT)/serval
	cp -a $(BIN)/lib/$(DEVICE)/. $(IMAGE_CONTEXT)/lib/

# podman, runc and debootstrap from Debian (idempotent).
image-tools:
	@command -v podman >/dev/null && command -v runc >/dev/null && command -v debootstrap >/dev/null || { \
		echo "installing podman, runc and debootstrap (container image and its test)"; \
		$(APT_INSTALL) podman runc debootstrap || { apt-get update -qq && $(APT_INSTALL) podman runc debootstrap; }; }

# The local Debian base: in podman's store already, else imported from the
# cached root file system, else made with debootstrap (needs root) and cached.
image-base: image-tools
	@podman image exists $(BASE_IMAGE) && exit 0; \
	set -e; \
	if [ ! -f $(BASE_ROOTFS_TAR) ]; then \
		echo "making the base image's root file system: debootstrap --variant=minbase bookworm (minutes; cached in $(IMAGE_CACHE))"; \
		mkdir -p $(IMAGE_CACHE); \
		rootfs=$$(mktemp -d $(IMAGE_CACHE)/rootfs.XXXXXX); \
		trap 'rm -rf "$$rootfs"' EXIT; \
		debootstrap --variant=minbase bookworm "$$rootfs" $(DEBIAN_MIRROR) >$(IMAGE_CACHE)/debootstrap.log 2>&1 || \
			{ tail -20 $(IMAGE_CACHE)/debootstrap.log; exit 1; }; \
		rm -rf "$$rootfs"/var/cache/apt/archives/*.deb "$$rootfs"/var/lib/apt/lists/*; \
		tar -C "$$rootfs" -cf $(BASE_ROOTFS_TAR).tmp . && mv $(BASE_ROOTFS_TAR).tmp $(BASE_ROOTFS_TAR); \
	fi; \
	podman import -q --change 'CMD ["/bin/bash"]' $(BASE_ROOTFS_TAR) $(BASE_IMAGE) >/dev/null; \
	echo "imported $(BASE_IMAGE) from $(BASE_ROOTFS_TAR)"

# The podman test. It is skipped, with one line, only where podman cannot run
# a container at all; anything after that which fails, fails make test.
test-image: image-base
	@if ! out=$$(podman $(PODMAN_GLOBAL_FLAGS) run --rm --ulimit nofile=1024:1024 --ulimit nproc=1000:1000 \
			$(BASE_IMAGE) true 2>&1); then \
		echo "SKIP container test: podman cannot run a container here: $$(echo "$$out" | tail -1)"; exit 0; fi; \
	$(MAKE) --no-print-directory image DEVICE=cpu CONTAINER_ENGINE=podman && \
	$(TEST_ENV) SERVAL_TEST_IMAGE=$(IMAGE_TAG_cpu) SERVAL_PODMAN_FLAGS="$(PODMAN_GLOBAL_FLAGS)" \
		$(GO) test -count=1 -timeout 15m ./integration/container/

TEST_TARGETS += test-image
