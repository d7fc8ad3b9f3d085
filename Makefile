# Builds quicsteer: BPF objects (clang), the native addon (node-gyp), the TypeScript (tsc), the tests' quic-go peer (go). Outputs: build/ only.
# make | make test | make demo | make bench | make clean | make setup (root: installs packages, see scripts/setup.sh); V=1 echoes commands.
# make install | make uninstall (root): the command link, the systemd unit, /etc/quicsteer and the CID kit's header; DESTDIR= stages them.

BUILD    := build
CLANG    ?= clang
# The kfunc AES object's compiler: Debian 12's clang 14 emits no BTF type tag for a __kptr (see below).
CLANG_KFUNC ?= clang-19
NODE     ?= node
BIN      := node_modules/.bin
ARCH_INC := /usr/include/$(shell $(CC) -dumpmachine 2>/dev/null || echo x86_64-linux-gnu)

ifeq ($(V),1)
Q :=
msg := @true
else
Q := @
msg := @printf '  %-8s %s\n'
endif

# BPF: every bpf/*.bpf.c is a shipped object; bpf/bench/*.bpf.c are the benchmark floors;
# test/bpf/*.bpf.c are test-only objects.
BPF_CFLAGS := -target bpf -O2 -g -Wall -Wextra -Werror -Wno-unused-parameter -I$(ARCH_INC) -Ibpf
BPF_SRC    := $(wildcard bpf/*.bpf.c bpf/bench/*.bpf.c test/bpf/*.bpf.c)
# make bench's cost breakdown: the program stopped after stage N (see QS_BENCH_STOP in quicsteer.bpf.c).
BENCH_STOPS := 1 2 3 4 5 6 7
BPF_OBJ    := $(patsubst %.bpf.c,$(BUILD)/bpf/%.bpf.o,$(notdir $(BPF_SRC))) $(BUILD)/bpf/quicsteer_scale.bpf.o \
              $(BUILD)/bpf/quicsteer_nocache.bpf.o \
              $(foreach n,$(BENCH_STOPS),$(BUILD)/bpf/quicsteer_stop$(n).bpf.o) $(BUILD)/bpf/quicsteer_kfunc.bpf.o \
              $(BUILD)/bpf/quicsteer_kfunc_nocache.bpf.o $(BUILD)/bpf/quicsteer_upgrade.bpf.o \
              $(BUILD)/bpf/quicsteer_nogquic.bpf.o
BPF_HDR    := $(wildcard bpf/*.h)
# make bench's scale rows: the same program with a server table for 65,536 IDs (the shipped one
# holds 16,384; VIPs: the shipped table holds 1,024).
SCALE_DEFS := -DQS_SERVER_SLOTS=262144

# Addon: node-gyp against the running node's headers (never downloads them).
NODEDIR    := $(abspath $(dir $(realpath $(shell command -v $(NODE))))/..)
NODE_GYP   := $(BIN)/node-gyp --nodedir=$(NODEDIR) $(if $(filter 1,$(V)),--verbose,--silent)
ADDON      := $(BUILD)/Release/quicsteer.node
LIBBPF_A   ?= $(firstword $(wildcard /usr/lib/$(shell $(CC) -dumpmachine 2>/dev/null)/libbpf.a /usr/lib64/libbpf.a /usr/lib/libbpf.a))

TS_SRC     := $(shell find src test -name '*.ts' 2>/dev/null) tsconfig.json
TS_STAMP   := $(BUILD)/dist/.stamp

.PHONY: all bpf addon ts shim kit stacks test bench demo clean setup check-deps install uninstall
all: bpf addon ts shim kit stacks

bpf: $(BPF_OBJ)
addon: $(ADDON)
ts: $(TS_STAMP)

vpath %.bpf.c bpf bpf/bench test/bpf

$(BUILD)/bpf/%.bpf.o: %.bpf.c $(BPF_HDR) | $(BUILD)/bpf
	$(msg) CLANG $@
	$(Q)$(CLANG) $(BPF_CFLAGS) -c $< -o $@

$(BUILD)/bpf/quicsteer_scale.bpf.o: bpf/quicsteer.bpf.c $(BPF_HDR) Makefile | $(BUILD)/bpf
	$(msg) CLANG $@
	$(Q)$(CLANG) $(BPF_CFLAGS) $(SCALE_DEFS) -c $< -o $@

# make bench's uncached rows: every encrypted CID decrypted, the decrypt-once cache compiled out.
$(BUILD)/bpf/quicsteer_nocache.bpf.o: bpf/quicsteer.bpf.c $(BPF_HDR) Makefile | $(BUILD)/bpf
	$(msg) CLANG $@
	$(Q)$(CLANG) $(BPF_CFLAGS) -DQS_LB_NO_CACHE -c $< -o $@

# The gQUIC upgrade test's older build (test/priv/gquic-upgrade.test.ts): the program as it was before
# gQUIC, without its maps (qs_gquic_ring, qs_gquic_stats) and its branch.
$(BUILD)/bpf/quicsteer_nogquic.bpf.o: bpf/quicsteer.bpf.c $(BPF_HDR) Makefile | $(BUILD)/bpf
	$(msg) CLANG $@
	$(Q)$(CLANG) $(BPF_CFLAGS) -DQS_NO_GQUIC -c $< -o $@

$(BUILD)/bpf/quicsteer_stop%.bpf.o: bpf/quicsteer.bpf.c $(BPF_HDR) Makefile | $(BUILD)/bpf
	$(msg) CLANG $@
	$(Q)$(CLANG) $(BPF_CFLAGS) -DQS_BENCH_STOP=$* -c $< -o $@

# The second AES implementation (bpf/aes_kfunc.h, Linux >= 6.10): the same program with -DQS_AES_KFUNC, built
# with clang-19 because the verifier finds a map's bpf_crypto_ctx kptr only through the btf_type_tag
# clang 14 drops (load fails "R1 has no valid kptr"). test/bpf/test_aes_kfunc.bpf.c needs the same.
KFUNC_CFLAGS := $(BPF_CFLAGS) -DQS_AES_KFUNC
$(BUILD)/bpf/quicsteer_kfunc.bpf.o: bpf/quicsteer.bpf.c $(BPF_HDR) Makefile | $(BUILD)/bpf
	$(msg) $(CLANG_KFUNC) $@
	$(Q)command -v $(CLANG_KFUNC) >/dev/null || { echo "$(CLANG_KFUNC) not found: install it (sudo make setup), or set CLANG_KFUNC" >&2; exit 1; }
	$(Q)$(CLANG_KFUNC) $(KFUNC_CFLAGS) -c $< -o $@

# make bench's uncached rows of the kfunc implementation.
$(BUILD)/bpf/quicsteer_kfunc_nocache.bpf.o: bpf/quicsteer.bpf.c $(BPF_HDR) Makefile | $(BUILD)/bpf
	$(msg) $(CLANG_KFUNC) $@
	$(Q)command -v $(CLANG_KFUNC) >/dev/null || { echo "$(CLANG_KFUNC) not found: install it (sudo make setup), or set CLANG_KFUNC" >&2; exit 1; }
	$(Q)$(CLANG_KFUNC) $(KFUNC_CFLAGS) -DQS_LB_NO_CACHE -c $< -o $@

# The upgrade test's new build (test/priv/upgrade.test.ts): the shipped program's source and flags by the
# other compiler, so its instructions and tag differ while its maps and its decisions do not.
$(BUILD)/bpf/quicsteer_upgrade.bpf.o: bpf/quicsteer.bpf.c $(BPF_HDR) Makefile | $(BUILD)/bpf
	$(msg) $(CLANG_KFUNC) $@
	$(Q)command -v $(CLANG_KFUNC) >/dev/null || { echo "$(CLANG_KFUNC) not found: install it (sudo make setup), or set CLANG_KFUNC" >&2; exit 1; }
	$(Q)$(CLANG_KFUNC) $(BPF_CFLAGS) -c $< -o $@

$(BUILD)/bpf/test_aes_kfunc.bpf.o: test/bpf/test_aes_kfunc.bpf.c $(BPF_HDR) Makefile | $(BUILD)/bpf
	$(msg) $(CLANG_KFUNC) $@
	$(Q)command -v $(CLANG_KFUNC) >/dev/null || { echo "$(CLANG_KFUNC) not found: install it (sudo make setup), or set CLANG_KFUNC" >&2; exit 1; }
	$(Q)$(CLANG_KFUNC) $(KFUNC_CFLAGS) -c $< -o $@

$(BUILD)/bpf:
	$(Q)mkdir -p $@

# The CID kit for server authors: one header (native/include/quicsteer/cid.h, installed by make install).
# Its test driver (test/unit/cidkit.test.ts) is built as C99, C11 and C++ with -pedantic (the header must
# compile cleanly in each), and as C99 with AddressSanitizer and UBSan (no write outside a buffer).
KIT_HDR    := native/include/quicsteer/cid.h
KIT_FLAGS  := -O2 -Wall -Wextra -Werror -pedantic -D_POSIX_C_SOURCE=200809L -Inative/include
KIT_TESTS  := $(foreach v,c99 c11 cxx asan,$(BUILD)/test/cidkit-$(v))
kit: $(KIT_TESTS)
$(BUILD)/test/cidkit-c99 $(BUILD)/test/cidkit-c11: $(BUILD)/test/cidkit-c%: test/native/cidkit.c $(KIT_HDR)
	$(msg) CC $@
	$(Q)mkdir -p $(dir $@)
	$(Q)$(CC) -std=c$* $(KIT_FLAGS) -o $@ $<
$(BUILD)/test/cidkit-cxx: test/native/cidkit.c $(KIT_HDR)
	$(msg) CXX $@
	$(Q)mkdir -p $(dir $@)
	$(Q)$(CXX) -x c++ -std=c++11 $(KIT_FLAGS) -o $@ $<
$(BUILD)/test/cidkit-asan: test/native/cidkit.c $(KIT_HDR)
	$(msg) CC $@
	$(Q)mkdir -p $(dir $@)
	$(Q)$(CC) -std=c99 $(KIT_FLAGS) -g -fsanitize=address,undefined -fno-sanitize-recover=all -o $@ $<

# LD_PRELOAD that makes ngtcp2's example server issue routable (QUIC-LB) connection IDs: the
# end-to-end tests and `quicsteer demo` run a real QUIC server with it. Its CIDs come from the CID kit.
SHIM := $(BUILD)/lib/libcidshim.so
shim: $(SHIM)
$(SHIM): native/cidshim.c $(KIT_HDR)
	$(msg) CC $@
	$(Q)mkdir -p $(dir $@)
	$(Q)$(CC) -shared -fPIC -O2 -Wall -Wextra -Werror -Inative/include -o $@ $< -ldl

# Test-only: a caller of gnutls_rnd linked against a stand-in that returns chosen bytes, so
# test/unit/cidshim.test.ts runs the shim on fixed nonces (the draft's vectors).
RNDPROBE := $(BUILD)/test/rndprobe
shim: $(RNDPROBE)
$(BUILD)/test/libfakernd.so: test/native/fakernd.c
	$(msg) CC $@
	$(Q)mkdir -p $(dir $@)
	$(Q)$(CC) -shared -fPIC -O2 -Wall -Wextra -Werror -o $@ $<
$(RNDPROBE): test/native/rndprobe.c $(BUILD)/test/libfakernd.so
	$(msg) CC $@
	$(Q)$(CC) -O2 -Wall -Wextra -Werror -o $@ $< -L$(BUILD)/test -lfakernd -Wl,-rpath,'$$ORIGIN'

# The quic-go peer of the two-stack tests (test/stacks/quicgo, issue 16): Debian's quic-go 0.29 and
# Go 1.19 in GOPATH mode, so nothing is downloaded. Go's cache under build/ (CI builds as root with no
# HOME); GOENV=off ignores a user's go env file, GOPROXY=off refuses any fetch, GOFLAGS is cleared,
# GOTOOLCHAIN=local keeps a newer go from fetching another (1.19 has no such thing); CGO_ENABLED=0:
# a static binary, no C compiler (the peer resolves no names). Rebuilt when its sources or quic-go's change.
QUICGO_PEER := $(BUILD)/stacks/quicgo-peer
QUICGO_SRC  := /usr/share/gocode/src/github.com/lucas-clemente/quic-go
GO          ?= go
GO_ENV      := GO111MODULE=off GOPATH=/usr/share/gocode GOCACHE=$(abspath $(BUILD))/go-cache GOENV=off \
               GOPROXY=off GOFLAGS= GOTOOLCHAIN=local CGO_ENABLED=0
stacks: $(QUICGO_PEER)
$(QUICGO_PEER): $(wildcard test/stacks/quicgo/*.go $(QUICGO_SRC)/go.mod)
	$(msg) GO $@
	$(Q)command -v $(GO) >/dev/null || { echo "$(GO) not found: install golang-go (sudo make setup)" >&2; exit 1; }
	$(Q)test -d $(QUICGO_SRC) || { echo "quic-go sources missing ($(QUICGO_SRC)): install golang-github-lucas-clemente-quic-go-dev (sudo make setup)" >&2; exit 1; }
	$(Q)mkdir -p $(dir $@)
	$(Q)cd test/stacks/quicgo && env $(GO_ENV) $(GO) build -trimpath -o $(abspath $@) .

# Debian's libbpf.a is PIE, not PIC: its one use of glibc's stderr can't be linked into a shared
# object, so a copy renames it to a hidden pointer the addon defines (see native/addon.cc).
$(BUILD)/libbpf/libbpf.a: $(LIBBPF_A)
	$(msg) OBJCOPY $@
	$(Q)test -n "$(LIBBPF_A)" || { echo "libbpf.a not found: install libbpf-dev (sudo make setup)" >&2; exit 1; }
	$(Q)mkdir -p $(dir $@)
	$(Q)objcopy --redefine-sym stderr=qs_libbpf_stderr $< $@

$(BUILD)/config.gypi: binding.gyp node_modules/.package-lock.json
	$(msg) GYP configure
	$(Q)test -f $(NODEDIR)/include/node/node_api.h || { echo "Node headers missing under $(NODEDIR)/include/node (Debian: apt install libnode-dev)" >&2; exit 1; }
	$(Q)$(NODE_GYP) configure

$(ADDON): native/addon.cc $(BUILD)/config.gypi $(BUILD)/libbpf/libbpf.a
	$(msg) GYP $@
	$(Q)$(NODE_GYP) build
	$(Q)touch $@

$(TS_STAMP): $(TS_SRC) node_modules/.package-lock.json
	$(msg) TSC $(BUILD)/dist
	$(Q)$(BIN)/tsc -p tsconfig.json
	$(Q)touch $@

node_modules/.package-lock.json: package-lock.json
	$(msg) NPM ci
	$(Q)npm ci --no-audit --no-fund

# make test: the host tiers, then test/vm inside the VM, then one closing total line.
# TESTS=<paths> runs just those on the host.
HOST_TESTS := test/unit test/priv
COUNTS := $(abspath $(BUILD))/test-counts
test: all
ifneq ($(TESTS),)
	$(Q)$(NODE) scripts/run-tests.mjs $(TESTS)
else
	$(Q)rm -f $(COUNTS)
	$(Q)QS_COUNTS_FILE=$(COUNTS) $(NODE) scripts/run-tests.mjs $(HOST_TESTS) || true
	$(Q)QS_COUNTS_FILE=$(COUNTS) VM_ENV="QS_COUNTS_FILE $(VM_ENV)" $(MAKE) --no-print-directory vm-test || true
	$(Q)$(NODE) -e 'const fs=require("fs");const rows=fs.existsSync(process.argv[1])?fs.readFileSync(process.argv[1],"utf8").trim().split("\n").filter(Boolean).map(l=>l.split(" ").map(Number)):[];const [p,f,s]=[0,1,2].map(i=>rows.reduce((a,r)=>a+r[i],0));const ok=rows.length===2&&rows.every(r=>r[3]===0);console.log(`total: $${p} passed, $${f} failed, $${s} skipped`+(ok?"":" (a tier failed or did not run)"));process.exit(ok?0:1)' $(COUNTS)
endif

# make demo: a QUIC connection surviving an address change with quicsteer, and breaking without (root).
demo: all
	$(Q)$(NODE) scripts/quicsteer.mjs demo

bench: all
	$(Q)$(NODE) build/dist/test/bench/run.js

setup:
	$(Q)scripts/setup.sh

clean:
	$(msg) CLEAN $(BUILD)
	$(Q)rm -rf $(BUILD)

# The VM tier (test/vm: real IPVS) runs in qemu under TCG, one test file at a time (ipvs.test.ts clears
# the whole IPVS table, director.test.ts keeps services in it): Debian's kernel, the host's /usr and /etc
# read-only, this checkout over 9p; exit code, output and a timeout come back (scripts/vm/run.sh). Root.
# make vm-test [TESTS=test/vm/x.test.ts] | make vm-run CMD='command, run in the checkout' | make vm-image
# Boot files in build/vm: rebuilt when scripts/vm, Debian's kernel package or node_modules change.
# Env: VM_TIMEOUT seconds (default 2400), VM_MEM, VM_SMP, VM_ENV, CI (passed in).
.PHONY: vm-image vm-run vm-test
vm-image: node_modules/.package-lock.json
	$(Q)scripts/vm/build.sh

vm-test: all vm-image
	$(msg) VM-TEST "$(or $(TESTS),test/vm)"
	$(Q)scripts/vm/run.sh 'node scripts/run-tests.mjs --concurrency=1 $(or $(TESTS),test/vm)'

vm-run: vm-image
	$(Q)test -n "$$CMD" || { echo "usage: make vm-run CMD='command run in the VM from the checkout'" >&2; exit 2; }
	$(Q)scripts/vm/run.sh "$$CMD"

# make install: the quicsteer command (a link to this checkout's launcher, as setup does), the agent's unit
# in /usr/local/lib/systemd/system (software the administrator installed; /etc/systemd/system stays theirs,
# for `systemctl edit quicsteer` drop-ins, and uninstall never touches it), /etc/quicsteer (0755) with
# quicsteer.json.example. An existing quicsteer.json is never touched, and none is created: the example
# names interfaces and peers that are not this host's. systemd reloads only when it runs this host (PID 1)
# and nothing is staged. Idempotent. Enabling is the operator's step: systemctl enable --now quicsteer.
# The CID kit's header goes to $(INCLUDEDIR)/quicsteer/cid.h: servers on this host #include <quicsteer/cid.h>.
PREFIX     ?= /usr/local
BINDIR     ?= $(PREFIX)/bin
UNITDIR    ?= $(PREFIX)/lib/systemd/system
INCLUDEDIR ?= $(PREFIX)/include
CONFDIR    ?= /etc/quicsteer
SYSTEMD_PID1 = $(if $(DESTDIR),,$(wildcard /run/systemd/system))

install:
	$(msg) INSTALL $(DESTDIR)$(UNITDIR)/quicsteer.service
	$(Q)install -d -m 0755 $(DESTDIR)$(BINDIR) $(DESTDIR)$(UNITDIR) $(DESTDIR)$(CONFDIR)
	$(Q)ln -sfn $(CURDIR)/scripts/quicsteer.mjs $(DESTDIR)$(BINDIR)/quicsteer
	$(Q)install -m 0644 contrib/systemd/quicsteer.service $(DESTDIR)$(UNITDIR)/quicsteer.service
	$(Q)install -m 0644 contrib/quicsteer.json.example $(DESTDIR)$(CONFDIR)/quicsteer.json.example
	$(msg) INSTALL $(DESTDIR)$(INCLUDEDIR)/quicsteer/cid.h
	$(Q)install -d -m 0755 $(DESTDIR)$(INCLUDEDIR)/quicsteer
	$(Q)install -m 0644 $(KIT_HDR) $(DESTDIR)$(INCLUDEDIR)/quicsteer/cid.h
	$(Q)test -e $(DESTDIR)$(CONFDIR)/quicsteer.json || echo "  next: write $(CONFDIR)/quicsteer.json (see quicsteer.json.example), then systemctl enable --now quicsteer"
ifneq ($(SYSTEMD_PID1),)
	$(Q)systemctl daemon-reload
endif

# make uninstall: stops and disables the agent (the data path stays attached: quicsteer reset removes
# it), removes what install put there; quicsteer.json and a non-empty /etc/quicsteer (or include/quicsteer) stay.
uninstall:
ifneq ($(SYSTEMD_PID1),)
	$(Q)systemctl disable --now quicsteer.service 2>/dev/null || true
endif
	$(msg) UNINSTALL $(DESTDIR)$(UNITDIR)/quicsteer.service
	$(Q)rm -f $(DESTDIR)$(UNITDIR)/quicsteer.service $(DESTDIR)$(CONFDIR)/quicsteer.json.example
	$(Q)if [ "$$(readlink $(DESTDIR)$(BINDIR)/quicsteer)" = "$(CURDIR)/scripts/quicsteer.mjs" ]; then rm -f $(DESTDIR)$(BINDIR)/quicsteer; fi
	$(Q)rmdir $(DESTDIR)$(CONFDIR) 2>/dev/null || true
	$(msg) UNINSTALL $(DESTDIR)$(INCLUDEDIR)/quicsteer/cid.h
	$(Q)rm -f $(DESTDIR)$(INCLUDEDIR)/quicsteer/cid.h
	$(Q)rmdir $(DESTDIR)$(INCLUDEDIR)/quicsteer 2>/dev/null || true
ifneq ($(SYSTEMD_PID1),)
	$(Q)systemctl daemon-reload
endif
