# usher: usherd, the network-services daemon, and usher, its client.
#
#   make              build build/usherd and build/usher
#   make run          build and run usherd in the foreground on its embedded default
#   make test         build and run every test (SANITIZE=1: under ASan + UBSan)
#   make install      PREFIX=/usr/local DESTDIR= SYSTEMD_UNITDIR= (default PREFIX/lib/systemd/system,
#                     /usr/lib/systemd/system when PREFIX=/usr); make uninstall removes exactly that
#   make bench        usherd against a reference, the classic super-servers, stunnel4
#                     and haproxy over TLS, haproxy and socat as TCP relays: writes
#                     docs/benchmarks.md (about 20 minutes, needs root; not part of
#                     test). BENCH_ONLY=tls or BENCH_ONLY=forward: that part alone; then
#                     bench/metrics.sh, the metrics endpoint (make bench-metrics: it alone)
#   make analyze      clang's static analyzer over src/: fails on any report
#   make check-format every C file as .clang-format says (clang-format --dry-run)
#   make check-layers every #include of src/ down the layering of STYLE.md, less the known
#                     exceptions of tools/layers.exceptions (tools/check-layers.sh)
#   make fuzz         build the libFuzzer targets of tests/fuzz with clang into build/fuzz and
#                     run each for FUZZ_SECONDS (default 10); fails on any crash, leak, timeout
#                     or UBSan report.  One target: make fuzz-conf FUZZ_SECONDS=300
#                     (targets: conf addr inetd xinetd sum client proxy status http logjson;
#                     about a minute each in CI)
#   make clean

CC      ?= cc
CFLAGS  ?= -O2 -g
CFLAGS  += -std=c11 -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes
# The daemon's and the client's own code also meet these (tests and benches need not).
SRC_CFLAGS := -Wformat=2 -Wconversion -Wsign-conversion
CPPFLAGS += -D_GNU_SOURCE -Isrc -MMD -MP
LDFLAGS ?=
LDLIBS  ?=

# OpenSSL 3 (Debian: libssl-dev), for TLS in the daemon and the client.
OPENSSL_CFLAGS := $(shell pkg-config --cflags openssl 2>/dev/null)
OPENSSL_LIBS   := $(shell pkg-config --libs openssl 2>/dev/null || echo -lssl -lcrypto)
CPPFLAGS += $(OPENSSL_CFLAGS)
LDLIBS   += $(OPENSSL_LIBS)

BUILD := build
ifeq ($(SANITIZE),1)
BUILD := build/sanitize
CFLAGS += -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
LDFLAGS += -fsanitize=address,undefined
endif

PREFIX  ?= /usr/local
DESTDIR ?=
SYSTEMD_UNITDIR ?= $(if $(filter /usr,$(PREFIX)),/usr/lib/systemd/system,$(PREFIX)/lib/systemd/system)

VERSION := $(shell cat VERSION 2>/dev/null || echo 0.0.0)
CPPFLAGS += -DUSHER_VERSION='"$(VERSION)"'

# Modules shared by the daemon and the client, then each program's own.
COMMON_SRC := util log logjson logip siphash addr proto proxy json_parse
DAEMON_SRC := ev sig conf conf_keys conf_inetd conf_xinetd conf_xinetd_keys conf_banner conf_print conf_tls conf_forward listener limit wait_guard metrics http reaper svc server reload tls io pending handshake proxy_in relay forward stream dgram out builtin builtin_metrics metrics_render spawn \
              spawn_child procs pidfile sd daemon control control_server upgrade
CLIENT_SRC := client client_stream bench hist client_tls client_http status client_status

COMMON_OBJ := $(COMMON_SRC:%=$(BUILD)/obj/%.o)
DAEMON_OBJ := $(DAEMON_SRC:%=$(BUILD)/obj/%.o)
CLIENT_OBJ := $(CLIENT_SRC:%=$(BUILD)/obj/%.o)

UNIT_TESTS := $(patsubst tests/unit/%.c,$(BUILD)/tests/%,$(wildcard tests/unit/test_*.c))
INTEG_TESTS := $(patsubst tests/integration/%.c,$(BUILD)/tests/%,$(wildcard tests/integration/[0-9]*.c))
TEST_LIB_OBJ := $(BUILD)/obj/tests/t.o $(BUILD)/obj/tests/harness.o $(BUILD)/obj/tests/certs.o $(BUILD)/obj/tests/tlsc.o
# Tests of the tools, as scripts that report as the test binaries do.
TOOL_TESTS := tests/tools/test_check_layers.sh tests/tools/test_install.sh
# The builtins' wire tests run once more under each of these models (tests/run.sh --model).
MODEL_TESTS := $(BUILD)/tests/11_builtins_stream $(BUILD)/tests/12_builtins_dgram
TEST_MODELS := fork prefork:2 workers:2

.PHONY: all run test unit integration install uninstall bench bench-metrics analyze check-format check-layers fuzz clean
all: $(BUILD)/usherd $(BUILD)/usher

$(BUILD)/usherd: $(BUILD)/obj/main.o $(DAEMON_OBJ) $(COMMON_OBJ)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/usher: $(BUILD)/obj/usher.o $(CLIENT_OBJ) $(COMMON_OBJ)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/obj/%.o: src/%.c | $(BUILD)/obj
	$(CC) $(CPPFLAGS) $(CFLAGS) $(SRC_CFLAGS) -c -o $@ $<

$(BUILD)/obj/tests/%.o: tests/%.c | $(BUILD)/obj/tests
	$(CC) $(CPPFLAGS) -Itests $(CFLAGS) -c -o $@ $<

$(BUILD)/obj/tests/%.o: tests/lib/%.c | $(BUILD)/obj/tests
	$(CC) $(CPPFLAGS) -Itests $(CFLAGS) -c -o $@ $<

# Tests link what they use from an archive of every module but the two mains.
$(BUILD)/libusher.a: $(DAEMON_OBJ) $(CLIENT_OBJ) $(COMMON_OBJ)
	rm -f $@
	$(AR) rcs $@ $^

# (The filter drops the headers that the -MMD dependency files add to $^.)
$(BUILD)/tests/test_%: tests/unit/test_%.c $(TEST_LIB_OBJ) $(BUILD)/libusher.a | $(BUILD)/tests
	$(CC) $(CPPFLAGS) -Itests -Itests/lib $(CFLAGS) $(LDFLAGS) -o $@ $(filter %.c %.o %.a,$^) $(LDLIBS)

$(BUILD)/tests/%: tests/integration/%.c $(TEST_LIB_OBJ) $(BUILD)/libusher.a | $(BUILD)/tests
	$(CC) $(CPPFLAGS) -Itests -Itests/lib $(CFLAGS) $(LDFLAGS) -o $@ $(filter %.c %.o %.a,$^) $(LDLIBS)

$(BUILD)/obj $(BUILD)/obj/tests $(BUILD)/tests:
	mkdir -p $@

run: $(BUILD)/usherd
	$(BUILD)/usherd

test: all $(UNIT_TESTS) $(INTEG_TESTS)
	@USHER_BUILD=$(BUILD) SANITIZE=$(SANITIZE) tests/run.sh $(UNIT_TESTS) $(TOOL_TESTS) $(INTEG_TESTS) \
		$(foreach m,$(TEST_MODELS),--model=$(m) $(MODEL_TESTS))

# What make install puts under $(DESTDIR), relative to it: make uninstall
# removes these and nothing else.
DOC_FILES := contrib/usherd.conf.example contrib/haproxy-usherd.cfg contrib/usherd-behind-haproxy.conf \
             contrib/nginx-stream-usherd.conf contrib/prometheus-usherd.yml
INSTALLED := $(PREFIX)/sbin/usherd $(PREFIX)/bin/usher $(PREFIX)/share/man/man8/usherd.8 \
             $(PREFIX)/share/man/man5/usherd.conf.5 $(PREFIX)/share/man/man1/usher.1 \
             $(DOC_FILES:contrib/%=$(PREFIX)/share/doc/usher/%) \
             $(SYSTEMD_UNITDIR)/usherd.service $(SYSTEMD_UNITDIR)/usherd.socket

# The service unit names the installed binary.
$(BUILD)/usherd.service: contrib/usherd.service.in | $(BUILD)/obj
	sed 's|@SBINDIR@|$(PREFIX)/sbin|g' $< >$@.tmp && mv $@.tmp $@

# (Regenerated every time: PREFIX may differ from the last install.)
.PHONY: $(BUILD)/usherd.service

install: all $(BUILD)/usherd.service
	install -d $(DESTDIR)$(PREFIX)/sbin $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/doc/usher
	install -d $(DESTDIR)$(PREFIX)/share/man/man1 $(DESTDIR)$(PREFIX)/share/man/man5 \
		$(DESTDIR)$(PREFIX)/share/man/man8 $(DESTDIR)$(SYSTEMD_UNITDIR)
	install -m 755 $(BUILD)/usherd $(DESTDIR)$(PREFIX)/sbin/usherd
	install -m 755 $(BUILD)/usher $(DESTDIR)$(PREFIX)/bin/usher
	install -m 644 man/usherd.8 $(DESTDIR)$(PREFIX)/share/man/man8/usherd.8
	install -m 644 man/usherd.conf.5 $(DESTDIR)$(PREFIX)/share/man/man5/usherd.conf.5
	install -m 644 man/usher.1 $(DESTDIR)$(PREFIX)/share/man/man1/usher.1
	install -m 644 $(DOC_FILES) $(DESTDIR)$(PREFIX)/share/doc/usher/
	install -m 644 $(BUILD)/usherd.service $(DESTDIR)$(SYSTEMD_UNITDIR)/usherd.service
	install -m 644 contrib/usherd.socket $(DESTDIR)$(SYSTEMD_UNITDIR)/usherd.socket

# The files alone; then the doc directory, which is ours, if it is empty.
uninstall:
	rm -f $(INSTALLED:%=$(DESTDIR)%)
	rmdir $(DESTDIR)$(PREFIX)/share/doc/usher 2>/dev/null || true

# The script builds what it needs itself (the daemon and client with `make`,
# the reference and its helper with the CFLAGS given here).
bench:
	CC='$(CC)' CFLAGS='$(CFLAGS)' bench/run.sh
	CC='$(CC)' CFLAGS='$(CFLAGS)' bench/metrics.sh

# The metrics endpoint's figures alone (a section of docs/benchmarks.md).
bench-metrics:
	CC='$(CC)' CFLAGS='$(CFLAGS)' bench/metrics.sh

# Every report is a defect to fix, or a false positive to make plain in the code
# (with a comment saying why); no checker is turned off.
ANALYZE_SRC := $(wildcard src/*.c)
analyze:
	@rc=0; for f in $(ANALYZE_SRC); do \
		out=$$(clang --analyze -std=c11 $(CPPFLAGS:-MMD=) -Xclang -analyzer-output=text \
			-o /dev/null $$f 2>&1) || rc=1; \
		if [ -n "$$out" ]; then printf '%s\n' "$$out"; rc=1; fi; \
	done; \
	if [ $$rc -eq 0 ]; then echo "analyze: $(words $(ANALYZE_SRC)) files, no reports"; fi; \
	exit $$rc

FORMAT_SRC := $(wildcard src/*.[ch] tests/*.[ch] tests/*/*.[ch] bench/*.c)
check-format:
	@clang-format --dry-run --Werror $(FORMAT_SRC) && \
		echo "check-format: $(words $(FORMAT_SRC)) files formatted as .clang-format says"

check-layers:
	@tools/check-layers.sh src tools/layers.exceptions

# Fuzzing: every module again, built with clang for libFuzzer in its own tree,
# so the normal build is untouched.  tests/fuzz/run.sh runs each target on a
# scratch corpus under build/fuzz (the seeds in tests/fuzz/corpus stay as they are).
FUZZ_CC      ?= clang
FUZZ_SECONDS ?= 10
FUZZ_BUILD   := build/fuzz
FUZZ_CFLAGS  := -g -O1 -std=c11 -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes \
                -Wmissing-prototypes -fno-omit-frame-pointer -fno-sanitize-recover=undefined
FUZZ_NAMES   := $(patsubst tests/fuzz/fuzz_%.c,%,$(wildcard tests/fuzz/fuzz_*.c))
FUZZ_BINS    := $(FUZZ_NAMES:%=$(FUZZ_BUILD)/fuzz_%)
FUZZ_OBJ     := $(DAEMON_SRC:%=$(FUZZ_BUILD)/obj/%.o) $(CLIENT_SRC:%=$(FUZZ_BUILD)/obj/%.o) \
                $(COMMON_SRC:%=$(FUZZ_BUILD)/obj/%.o)
# The config target must not open what its input names (see tests/fuzz/fuzz_conf.c).
FUZZ_LDFLAGS_conf := -Wl,--wrap=open
# Nor the xinetd target what its input names, but the memfd it reads (tests/fuzz/fuzz_xinetd.c).
FUZZ_LDFLAGS_xinetd := -Wl,--wrap=open

$(FUZZ_BUILD)/obj/%.o: src/%.c | $(FUZZ_BUILD)/obj
	$(FUZZ_CC) $(CPPFLAGS) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link,address,undefined -c -o $@ $<

$(FUZZ_BUILD)/libusher.a: $(FUZZ_OBJ)
	rm -f $@
	$(AR) rcs $@ $^

$(FUZZ_BUILD)/fuzz_%: tests/fuzz/fuzz_%.c tests/fuzz/fuzz.h $(FUZZ_BUILD)/libusher.a
	$(FUZZ_CC) $(CPPFLAGS) -Itests/fuzz $(FUZZ_CFLAGS) -fsanitize=fuzzer,address,undefined \
		$(FUZZ_LDFLAGS_$*) -o $@ $(filter %.c %.a,$^) $(OPENSSL_LIBS)

$(FUZZ_BUILD)/obj:
	mkdir -p $@

fuzz: $(FUZZ_BINS)
	tests/fuzz/run.sh $(FUZZ_BUILD) $(FUZZ_SECONDS) $(FUZZ_NAMES)

fuzz-%: $(FUZZ_BUILD)/fuzz_%
	tests/fuzz/run.sh $(FUZZ_BUILD) $(FUZZ_SECONDS) $*

clean:
	rm -rf build

-include $(wildcard $(BUILD)/obj/*.d $(BUILD)/obj/tests/*.d $(BUILD)/tests/*.d $(FUZZ_BUILD)/obj/*.d \
                    $(FUZZ_BUILD)/*.d)
