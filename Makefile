# nova - plain GNU Makefile.  make | make test | make asan | make fuzz |
# make bench | make demo | make man | make deb | make install DESTDIR=... |
# make clean
CC      ?= cc
PKGS     = libsodium libarchive libzstd lmdb jansson libutf8proc nettle
HUBPKGS  = libgit2
# sd_notify: only nova-agent and nova-hub (their run loops) link libsystemd
SDPKGS   = libsystemd
CFLAGS  ?= -O2 -g
WARN     = -Wall -Wextra -Wformat-security -Wstrict-prototypes -Wpointer-arith \
           -Wvla -Wwrite-strings -Wno-missing-field-initializers
HARDEN   = -D_FORTIFY_SOURCE=2 -fstack-protector-strong -fPIE
XCFLAGS  = -std=c11 -D_GNU_SOURCE $(WARN) $(HARDEN) -MMD -MP
XLDFLAGS = -pie -Wl,-z,relro,-z,now
PREFIX  ?= /usr/local
# one place: VERSION (or git describe on a release tag), see mk/version.sh
VERSION := $(shell sh mk/version.sh)

BUILD   ?= build
V       ?= 0
ifeq ($(V),0)
Q = @
SAY = @printf '  %-6s %s\n'
else
Q =
SAY = @true
endif
DEPS_OK := $(BUILD)/.deps-ok

BASE_SRC  = $(wildcard formats/*.c) $(wildcard keys/*.c)
AGENT_SRC = $(wildcard agent/*.c)
# the hub's rooms (docs/ARCHITECTURE.md); hub/audit is the auditor's program
HUB_SRC   = $(filter-out hub/audit/%,$(wildcard hub/*/*.c))
AUDIT_SRC = hub/audit/main.c $(filter hub/store/ledger%.c,$(HUB_SRC))
UNIT_SRC  = $(wildcard tests/unit/test_*.c)
FUZZ_SRC  = $(wildcard tests/fuzz/fuzz_*.c)
TOOL_SRC  = $(wildcard tests/tools/*.c)

obj = $(patsubst %.c,$(BUILD)/%.o,$(1))
BASE_OBJ  = $(call obj,$(BASE_SRC))
AGENT_LIB = $(call obj,$(filter-out agent/main.c,$(AGENT_SRC)))
HUB_LIB   = $(call obj,$(filter-out hub/cmd/main.c,$(HUB_SRC)))
# the hub sends bundles with the agent's exactly-once outbox
HUB_EXTRA = $(call obj,agent/outbox.c agent/state.c)

BINS  = $(BUILD)/nova-agent $(BUILD)/nova-hub $(BUILD)/nova-audit
UNITS = $(patsubst tests/unit/%.c,$(BUILD)/tests/%,$(UNIT_SRC))
FUZZ_REPLAY = $(patsubst tests/fuzz/%.c,$(BUILD)/tests/%,$(FUZZ_SRC))
TOOLS = $(patsubst tests/tools/%.c,$(BUILD)/tests/tool_%,$(TOOL_SRC))
GEN   = $(BUILD)/tests/gencrm

all: $(BINS)

$(DEPS_OK): mk/deps.sh
	@mkdir -p $(BUILD)
	@sh mk/deps.sh build
	@touch $@

PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS) $(HUBPKGS) $(SDPKGS) 2>/dev/null)
LIBS       = $(shell pkg-config --libs $(PKGS) 2>/dev/null) -lm -lpthread
HUBLIBS    = $(shell pkg-config --libs $(HUBPKGS) 2>/dev/null)
SDLIBS     = $(shell pkg-config --libs $(SDPKGS) 2>/dev/null)

# the version is compiled into formats/cli.o only; it is rebuilt when the
# version changes (the stamp is rewritten only then)
$(BUILD)/version.stamp: FORCE
	@mkdir -p $(BUILD)
	@echo '$(VERSION)' | cmp -s - $@ || echo '$(VERSION)' >$@
$(BUILD)/formats/cli.o: $(BUILD)/version.stamp
$(BUILD)/formats/cli.o: XCFLAGS += -DNOVA_VERSION='"$(VERSION)"'

$(BUILD)/%.o: %.c $(DEPS_OK)
	@mkdir -p $(dir $@)
	$(SAY) CC $<
	$(Q)$(CC) $(XCFLAGS) $(CFLAGS) $(PKG_CFLAGS) -c $< -o $@

$(BUILD)/nova-agent: $(BUILD)/agent/main.o $(AGENT_LIB) $(BASE_OBJ)
	$(SAY) LINK $@
	$(Q)$(CC) $(CFLAGS) $(XLDFLAGS) $(LDFLAGS) -o $@ $^ $(LIBS) $(SDLIBS)

$(BUILD)/nova-hub: $(BUILD)/hub/cmd/main.o $(HUB_LIB) $(HUB_EXTRA) $(BASE_OBJ)
	$(SAY) LINK $@
	$(Q)$(CC) $(CFLAGS) $(XLDFLAGS) $(LDFLAGS) -o $@ $^ $(LIBS) $(HUBLIBS) $(SDLIBS)

$(BUILD)/nova-audit: $(call obj,$(AUDIT_SRC)) $(BASE_OBJ)
	$(SAY) LINK $@
	$(Q)$(CC) $(CFLAGS) $(XLDFLAGS) $(LDFLAGS) -o $@ $^ $(LIBS) $(HUBLIBS)

# unit tests: one binary per module, cmocka; they may use agent and hub code
$(BUILD)/tests/test_%: $(BUILD)/tests/unit/test_%.o $(AGENT_LIB) $(HUB_LIB) $(BASE_OBJ)
	@mkdir -p $(dir $@)
	$(SAY) LINK $@
	$(Q)$(CC) $(CFLAGS) $(XLDFLAGS) $(LDFLAGS) -o $@ $^ $(LIBS) $(HUBLIBS) $(SDLIBS) -lcmocka $(shell pkg-config --libs zlib 2>/dev/null)

# fuzz targets linked to a corpus-replay main() so every build exercises them
$(BUILD)/tests/fuzz_%: $(BUILD)/tests/fuzz/fuzz_%.o $(BUILD)/tests/fuzz/replay_main.o $(AGENT_LIB) $(HUB_LIB) $(BASE_OBJ)
	@mkdir -p $(dir $@)
	$(SAY) LINK $@
	$(Q)$(CC) $(CFLAGS) $(XLDFLAGS) $(LDFLAGS) -o $@ $^ $(LIBS) $(HUBLIBS) $(SDLIBS)

# helpers for the end-to-end tests
$(BUILD)/tests/tool_%: $(BUILD)/tests/tools/%.o $(HUB_LIB) $(HUB_EXTRA) $(BASE_OBJ)
	@mkdir -p $(dir $@)
	$(SAY) LINK $@
	$(Q)$(CC) $(CFLAGS) $(XLDFLAGS) $(LDFLAGS) -o $@ $^ $(LIBS) $(HUBLIBS) $(SDLIBS)

# a tool that seals as the agent does (tests only): the agent's code
$(BUILD)/tests/tool_forge: $(BUILD)/tests/tools/forge.o $(AGENT_LIB) $(BASE_OBJ)
	@mkdir -p $(dir $@)
	$(SAY) LINK $@
	$(Q)$(CC) $(CFLAGS) $(XLDFLAGS) $(LDFLAGS) -o $@ $^ $(LIBS) $(SDLIBS)

$(BUILD)/tests/fuzz/replay_main.o: tests/fuzz/replay_main.c $(DEPS_OK)
	@mkdir -p $(dir $@)
	$(SAY) CC $<
	$(Q)$(CC) $(XCFLAGS) $(CFLAGS) $(PKG_CFLAGS) -c $< -o $@

# the agent must stay small: no libgit2, no matching code
check-agent-small:
	@! grep -rl 'git2' agent/ || { echo "agent/ must not use libgit2"; exit 1; }

# the French CRM export generator: libc only
$(GEN): tests/gen/gencrm.c
	@mkdir -p $(dir $@)
	$(SAY) CC $<
	$(Q)$(CC) $(XCFLAGS) $(CFLAGS) $(XLDFLAGS) $(LDFLAGS) -o $@ $< -lm

tests: $(BINS) $(UNITS) $(FUZZ_REPLAY) $(TOOLS) $(GEN)

# the hub's rooms depend one way (docs/ARCHITECTURE.md)
check-layers:
	@sh mk/layers.sh

test: check-agent-small check-layers
	@sh mk/deps.sh test
	@$(MAKE) --no-print-directory tests
	@BUILD=$(BUILD) sh tests/run.sh

asan:
	@$(MAKE) --no-print-directory test BUILD=build-asan CC=gcc \
	  CFLAGS="-O1 -g -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer" \
	  LDFLAGS="-fsanitize=address,undefined"

FUZZ_TIME ?= 30
fuzz:
	@sh mk/deps.sh fuzz
	@BUILD=build-fuzz FUZZ_TIME=$(FUZZ_TIME) sh tests/fuzz/run.sh

bench: all
	@sh mk/deps.sh bench
	@$(MAKE) --no-print-directory tests
	@BUILD=$(BUILD) sh tests/bench/run.sh
	@BUILD=$(BUILD) sh tests/bench/agent.sh
	@BUILD=$(BUILD) sh tests/bench/match.sh
	@BUILD=$(BUILD) sh tests/bench/hub-match.sh
	@BUILD=$(BUILD) sh tests/bench/quality.sh
	@BUILD=$(BUILD) sh tests/bench/learning.sh
	@BUILD=$(BUILD) sh tests/bench/gdpr.sh
	@BUILD=$(BUILD) sh tests/bench/segment.sh

demo:
	@sh mk/deps.sh demo
	@$(MAKE) --no-print-directory all $(GEN)
	@BUILD=$(BUILD) sh tests/demo.sh

install: all
	install -d $(DESTDIR)$(PREFIX)/bin
	install -m 0755 $(BINS) $(DESTDIR)$(PREFIX)/bin/

# man pages: scdoc sources in packaging/man (NAME.SECTION.scd)
MAN_SRC = $(wildcard packaging/man/*.scd)
MANS    = $(patsubst packaging/man/%.scd,$(BUILD)/man/%,$(MAN_SRC))
man: $(MANS)
$(BUILD)/man/%: packaging/man/%.scd $(BUILD)/version.stamp
	@mkdir -p $(dir $@)
	$(SAY) SCDOC $<
	$(Q)sed 's/@VERSION@/$(VERSION)/g' $< | scdoc >$@.tmp && mv $@.tmp $@

# Debian packages nova-agent, nova-hub, nova-audit in build/deb/
# (dpkg-buildpackage in a copy of the tree with packaging/debian as debian/)
deb:
	@sh mk/deps.sh deb
	@sh packaging/deb.sh

clean:
	rm -rf build build-asan build-fuzz

FORCE:
.PHONY: all test tests asan fuzz bench demo install clean check-agent-small check-layers man deb FORCE
-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
