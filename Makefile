# berth — build, test and conformance entry points.  `make help` lists them.
#
# Everything that runs containers (test, demo, conformance) needs root.

SHELL       := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := build

# cargo from PATH, else rustup's default location
CARGO ?= $(or $(shell command -v cargo 2>/dev/null),$(HOME)/.cargo/bin/cargo)
RELEASE_RUNTIME := $(CURDIR)/target/release/berth-runtime
# `make test` builds the `ci` profile (release without LTO: see Cargo.toml)
TEST_BIN_DIR    := $(CURDIR)/target/ci
# berth-runtime and the shim are also built as static executables (target/static):
# no dynamic loader on every container start, and a smaller resident shim.
HOST_TRIPLE     := $(shell rustc -vV 2>/dev/null | sed -n 's/^host: //p')
STATIC_DIR      := $(CURDIR)/target/static/$(HOST_TRIPLE)/release

# ---------------------------------------------------------------- packages
# Debian packages for building and testing.  The scripts in ../shared/conformance
# install their own extras (the runtime-tools suite's Go toolchain, docker-registry,
# skopeo) when they first run.  conmon and catatonit are listed because
# podman-env.sh skips its own install once podman is present.
DEB_PACKAGES := build-essential pkg-config libseccomp-dev busybox-static \
                runc crun containerd podman conmon catatonit \
                uidmap python3-grpcio iproute2 procps util-linux jq strace \
                nftables aardvark-dns python3-docker docker-compose
MIN_RUST := 1.80

.PHONY: help deps build release static lint fmt test fuzz demo conformance conformance-quick clean man install-extras

help:
	@echo "make deps               install the Debian packages (and Rust, if missing) needed to build and test"
	@echo "make build              cargo build --workspace (debug)"
	@echo "make release            cargo build --release --workspace, with the static shim (make static)"
	@echo "make static             static berth-runtime and containerd-shim-berth-v2 in target/static/"
	@echo "make lint               cargo fmt --check + clippy -D warnings"
	@echo "make test               deps + cargo test --workspace --profile ci (release without LTO; as root)"
	@echo "make demo               run a busybox container with target/release/berth-runtime"
	@echo "make fuzz               each fuzz target coverage-guided for FUZZ_SECONDS (default 180) on nightly;"
	@echo "                        FUZZ_TARGETS='config_json dockerfile' to pick; crashes in target/fuzz/artifacts"
	@echo "make bench              runtime start-up vs crun/runc, idle shim RSS vs runc-v2, berth run vs ctr/podman"
	@echo "make conformance        OCI runtime-tools suite: berth, runc, crun; writes docs/conformance.md"
	@echo "                        (BERTH=0 or PEERS=0 to skip berth's or the peers' runs)"
	@echo "make conformance-quick RUNTIME=/path [NORMALIZE=1] [TESTS='default kill']"
	@echo "make man                man pages of every berth command in target/man/*.1"
	@echo "make install-extras     install completions (bash, zsh, fish) and man pages under PREFIX (/usr/local)"
	@echo "make clean              cargo clean + generated outputs"

deps:
	@missing=""; \
	for p in $(DEB_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' "$$p" 2>/dev/null | grep -q 'install ok installed' || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" != 0 ]; then echo "deps: missing$$missing; run make deps as root" >&2; exit 1; fi; \
	  echo "deps: installing$$missing"; \
	  export DEBIAN_FRONTEND=noninteractive; \
	  log=$$(mktemp /tmp/berth-deps.XXXXXX); \
	  { apt-get -q update && apt-get -q -o DPkg::Lock::Timeout=600 -o Dpkg::Use-Pty=0 \
	      install -y --no-install-recommends $$missing; } >"$$log" 2>&1 || \
	    { tail -30 "$$log" >&2; echo "deps: apt-get failed, full log: $$log" >&2; exit 1; }; \
	  rm -f "$$log"; \
	else \
	  echo "deps: all Debian packages present"; \
	fi
	@cargo="$(CARGO)"; \
	have=$$("$$cargo" --version 2>/dev/null | awk '{print $$2}') || true; \
	if [ -n "$$have" ] && [ "$$(printf '%s\n%s\n' "$(MIN_RUST)" "$${have%%-*}" | sort -V | head -1)" = "$(MIN_RUST)" ]; then \
	  echo "deps: cargo $$have"; \
	else \
	  echo "deps: berth needs a Rust toolchain with cargo >= $(MIN_RUST) (rustup, or your distribution's)" >&2; \
	  exit 1; \
	fi
	@# cargo-fuzz drives `make fuzz` (nightly's libFuzzer); `make test` replays
	@# the fuzz corpus without it, so a failed install only warns
	@if "$(CARGO)" fuzz --version >/dev/null 2>&1; then \
	  echo "deps: $$("$(CARGO)" fuzz --version)"; \
	else \
	  echo "deps: installing cargo-fuzz"; \
	  "$(CARGO)" install cargo-fuzz --locked -q || echo "deps: cargo-fuzz install failed; make fuzz needs it" >&2; \
	fi

# ------------------------------------------------------------------ build
build:
	$(CARGO) build --workspace

# The shim of a release is the static one (see `static`): no ld.so, no
# shared libc mapped beside every container; an idle shim's VmRSS is about
# 1.9 MiB static against 3.0 MiB dynamic (docs/performance.md, Density).
release: static
	$(CARGO) build --release --workspace
	install -m 755 $(STATIC_DIR)/containerd-shim-berth-v2 target/release/containerd-shim-berth-v2
	@shim/link-order/link-order.sh manager --check

# glibc and libseccomp linked in; --target keeps RUSTFLAGS off build scripts and proc macros
static:
	LIBSECCOMP_LINK_TYPE=static LIBSECCOMP_LIB_PATH=$$(pkg-config --variable=libdir libseccomp) \
	RUSTFLAGS="-C target-feature=+crt-static" CARGO_TARGET_DIR=$(CURDIR)/target/static \
	  $(CARGO) build --release -p berth-runtime -p containerd-shim-berth-v2 --target $(HOST_TRIPLE)
	@shim/link-order/link-order.sh shim --check

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

fmt:
	$(CARGO) fmt --all

# ------------------------------------------------------------------- fuzz
# Every target is a file under tests/fuzz-targets/src/targets/; `make test`
# replays their corpus (tests/fuzz/corpus/NAME) on stable, this runs them
# under libFuzzer. What a run finds new goes to target/fuzz/corpus/NAME (the
# checked-in corpus is only read); a crash lands in target/fuzz/artifacts/NAME:
# fix it and copy the input into tests/fuzz/corpus/NAME as a regression.
FUZZ_SECONDS ?= 180
FUZZ_TARGETS ?= $(sort $(basename $(notdir $(wildcard tests/fuzz-targets/src/targets/*.rs))))
FUZZ_NIGHTLY ?= +nightly

fuzz:
	@"$(CARGO)" fuzz --version >/dev/null 2>&1 || $(MAKE) --no-print-directory deps
	$(CARGO) $(FUZZ_NIGHTLY) fuzz build --fuzz-dir tests/fuzz -O target
	@for t in $(FUZZ_TARGETS); do \
	  mkdir -p target/fuzz/corpus/$$t target/fuzz/artifacts/$$t; \
	  echo "fuzz: $$t for $(FUZZ_SECONDS)s"; \
	  BERTH_FUZZ_TARGET=$$t $(CARGO) $(FUZZ_NIGHTLY) fuzz run --fuzz-dir tests/fuzz -O target \
	    target/fuzz/corpus/$$t tests/fuzz/corpus/$$t -- \
	    -max_total_time=$(FUZZ_SECONDS) -timeout=10 -rss_limit_mb=4096 \
	    -artifact_prefix=$(CURDIR)/target/fuzz/artifacts/$$t/ 2>&1 | tee target/fuzz/$$t.log | \
	    grep -E '^(#[0-9]+ +(DONE|INITED)|==[0-9]+== ERROR|SUMMARY|Done)' || true; \
	  if ls target/fuzz/artifacts/$$t/* >/dev/null 2>&1; then \
	    echo "fuzz: $$t found crashes: target/fuzz/artifacts/$$t (log target/fuzz/$$t.log)" >&2; exit 1; \
	  fi; \
	done

# ------------------------------------------------------------------- test
# The e2e tests run real containers with optimised binaries of the `ci`
# profile (target/ci); they need root.
test: export BERTH_RUNTIME := $(TEST_BIN_DIR)/berth-runtime
test: export BERTH_SHIM := $(TEST_BIN_DIR)/containerd-shim-berth-v2
test: export BERTH_MANAGER := $(TEST_BIN_DIR)/berth-manager
test: export BERTH_CLI := $(TEST_BIN_DIR)/berth
test:
	@$(MAKE) --no-print-directory deps
	$(CARGO) build --profile ci --workspace
	@mkdir -p target
	@if [ "$$(id -u)" != 0 ]; then echo "make test: not root: tests that run containers will skip" >&2; fi
	@echo "BERTH_RUNTIME=$$BERTH_RUNTIME"
	@rc=0; $(CARGO) test --workspace --profile ci --no-fail-fast 2>&1 | tee target/test.log || rc=$$?; \
	tests/scripts/test-summary.sh target/test.log "$$rc"

# ------------------------------------------------------------------- demo
demo: release
	@tests/scripts/demo.sh

# ------------------------------------------------------------------ bench
# Three benchmarks, root needed, none part of `make test` (docs/performance.md):
# - benches/runtime.sh: `run` of busybox true, berth-runtime (the static build;
#   the dynamic one beside it) vs crun and runc, interleaved, in one normalized
#   (cgroup v1 only) mount namespace: wall / CPU / peak RSS and the ratios;
# - benches/shim_rss.sh: an idle shim with one container, berth's vs
#   containerd-shim-runc-v2, both under a real containerd;
# - benches/e2e.sh: `berth run --rm busybox true` through the whole chain vs
#   `ctr run --rm` and `podman run --rm`.
# - benches/build.sh: `berth build` vs `docker build` and `podman build`: cold,
#   fully cached, one file changed.
# - benches/network.sh: `berth run --rm busybox true` on the default bridge
#   (in a network namespace the script makes) vs `--network none`, docker
#   and podman on their bridges, taking turns; network setup + teardown per
#   container.
# - benches/compose.sh: `compose up -d` and `down` of a 10-service project,
#   berth vs Debian's docker-compose on docker.
# - benches/density.sh: N idle containers (N = 10 … 1000, DENSITY_NS="10 100"
#   to shorten): start time, memory per container, shim threads, manager RSS,
#   `ps` latency and `rm -f` of all
# - benches/api.sh: `docker run --rm busybox true` with the docker CLI through
#   `berth system service` vs through dockerd (docker-env.sh), alternating.
# BENCH_ITERATIONS=N sets the rounds of each.
.PHONY: bench
bench: release static
	@BERTH=$(STATIC_DIR)/berth-runtime BENCH_EXTRA="berth-dynamic=$(RELEASE_RUNTIME)" benches/runtime.sh
	@BERTH_SHIM=$(STATIC_DIR)/containerd-shim-berth-v2 BERTH_RUNTIME=$(STATIC_DIR)/berth-runtime benches/shim_rss.sh
	@BERTH_CLI=$(CURDIR)/target/release/berth benches/e2e.sh
	@BERTH_CLI=$(CURDIR)/target/release/berth benches/build.sh
	@BERTH_CLI=$(CURDIR)/target/release/berth benches/network.sh
	@BERTH_CLI=$(CURDIR)/target/release/berth benches/compose.sh
	@BERTH_CLI=$(CURDIR)/target/release/berth benches/density.sh
	@BERTH_CLI=$(CURDIR)/target/release/berth benches/api.sh

# ------------------------------------------------------------ conformance
# ../shared/conformance/runtime-tools-validate.sh against berth (host as is and
# --normalize) and, for comparison, runc and crun in both modes; then
# docs/conformance.md from the outputs kept in target/conformance/.
SHARED_CONFORMANCE ?= $(CURDIR)/../shared/conformance
RTV         := $(SHARED_CONFORMANCE)/runtime-tools-validate.sh
CONF_OUT    := $(CURDIR)/target/conformance
BERTH       ?= 1
PEERS       ?= 1
RUNC        ?= /usr/bin/runc
CRUN        ?= /usr/bin/crun
RUNTIME     ?= $(RELEASE_RUNTIME)
NORMALIZE   ?= 0
TESTS       ?=
# per-test-file timeout (s) passed to the suite
CONFORMANCE_TIMEOUT ?= 120

conformance:
	@[ -x "$(RTV)" ] || [ -f "$(RTV)" ] || { echo "conformance: $(RTV) not found (shared/ must sit beside the repo)" >&2; exit 1; }
	@if [ "$(BERTH)" = 1 ]; then $(MAKE) --no-print-directory release; fi
	@runs=(); \
	if [ "$(BERTH)" = 1 ]; then runs+=("berth-host $(RELEASE_RUNTIME) 0" "berth-normalized $(RELEASE_RUNTIME) 1"); fi; \
	if [ "$(PEERS)" = 1 ]; then runs+=("runc-host $(RUNC) 0" "runc-normalized $(RUNC) 1" "crun-host $(CRUN) 0" "crun-normalized $(CRUN) 1"); fi; \
	for r in "$${runs[@]}"; do \
	  set -- $$r; \
	  OCI_VALIDATION_TIMEOUT=$(CONFORMANCE_TIMEOUT) tests/conformance/run.sh "$(RTV)" "$(CONF_OUT)" "$$1" "$$2" "$$3"; \
	done
	@tests/conformance/report.sh "$(CONF_OUT)" > docs/conformance.md.tmp && mv docs/conformance.md.tmp docs/conformance.md
	@echo "wrote docs/conformance.md (raw outputs in $(CONF_OUT))"
	@sed -n '/^## Summary/,/^## Per test file/p' docs/conformance.md | sed '$$d'

# One ad-hoc run straight to the terminal; nothing recorded.
conformance-quick:
	@if [ "$(RUNTIME)" = "$(RELEASE_RUNTIME)" ]; then $(MAKE) --no-print-directory release; fi
	OCI_VALIDATION_TIMEOUT=$(CONFORMANCE_TIMEOUT) bash "$(RTV)" $(if $(filter 1,$(NORMALIZE)),--normalize) "$(RUNTIME)" $(TESTS)

# ------------------------------------------------------------------ clean
# ------------------------------------------------ man pages and completions
# Both come from the clap definitions: berth-man writes a page per command,
# `berth completion SHELL` prints the scripts.
PREFIX  ?= /usr/local
MAN_DIR := $(CURDIR)/target/man

man:
	$(CARGO) run -q -p berth --bin berth-man -- $(MAN_DIR)

install-extras: man
	$(CARGO) build -q -p berth --bin berth
	install -d $(DESTDIR)$(PREFIX)/share/man/man1 \
		$(DESTDIR)$(PREFIX)/share/bash-completion/completions \
		$(DESTDIR)$(PREFIX)/share/zsh/site-functions \
		$(DESTDIR)$(PREFIX)/share/fish/vendor_completions.d
	install -m 0644 $(MAN_DIR)/*.1 $(DESTDIR)$(PREFIX)/share/man/man1/
	$(CURDIR)/target/debug/berth completion bash > $(DESTDIR)$(PREFIX)/share/bash-completion/completions/berth
	$(CURDIR)/target/debug/berth completion zsh > $(DESTDIR)$(PREFIX)/share/zsh/site-functions/_berth
	$(CURDIR)/target/debug/berth completion fish > $(DESTDIR)$(PREFIX)/share/fish/vendor_completions.d/berth.fish

clean:
	$(CARGO) clean
	rm -rf tests/fuzz/target
	rm -f docs/conformance.md.tmp
