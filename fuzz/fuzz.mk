# fuzz.mk (included by Makefile): `make fuzz` builds a libFuzzer target per
# pure parser (src/ files that include no server header) with ASan and
# UBSan, and runs each for FUZZ_SECONDS over a scratch copy of its seed
# corpus.  It fails when a target crashes or a round-trip check aborts; the
# input is then in fuzz/build/run/<target>/artifacts/.  Needs clang and its
# libFuzzer runtime (clang, libclang-rt-14-dev: scripts/deps.sh).
#
#   make fuzz                       5 targets x 60 s
#   make fuzz FUZZ_SECONDS=300
#   make fuzz FUZZ_TARGETS=fuzz_phc
#   make fuzz-build                 build only
#   fuzz/build/fuzz_phc fuzz/crashes/crash-...     replay one input

# Keep the including Makefile's default goal (fuzz.mk may come first).
FUZZ_SAVED_DEFAULT_GOAL := $(.DEFAULT_GOAL)

FUZZ_DIR     := $(patsubst %/,%,$(dir $(lastword $(MAKEFILE_LIST))))
FUZZ_TOP     := $(patsubst %/,%,$(dir $(FUZZ_DIR)))
FUZZ_SRC     := $(if $(filter .,$(FUZZ_TOP)),src,$(FUZZ_TOP)/src)
FUZZ_BUILD   := $(FUZZ_DIR)/build
FUZZ_CC      ?= clang
FUZZ_SECONDS ?= 60
FUZZ_CFLAGS  ?= -g -O1 -fsanitize=fuzzer,address,undefined \
	-fno-sanitize-recover=all -Wall -Wextra
FUZZ_TARGETS ?= fuzz_identity_value fuzz_phc fuzz_token_shape fuzz_scopes fuzz_jws
# Extra libFuzzer flags for every run (e.g. FUZZ_FLAGS=-use_value_profile=1).
FUZZ_FLAGS   ?=

# The pure src/*.c each target links, and its longest input.
fuzz_identity_value_SRCS   := identity_value.c scope.c
fuzz_identity_value_MAXLEN := 4096
fuzz_phc_SRCS              := phc.c
fuzz_phc_MAXLEN            := 512
fuzz_token_shape_SRCS      := token_shape.c
fuzz_token_shape_MAXLEN    := 256
fuzz_scopes_SRCS           := scope.c
fuzz_scopes_MAXLEN         := 1024
fuzz_jws_SRCS              := jws.c token_shape.c
fuzz_jws_MAXLEN            := 9000

FUZZ_BINS := $(addprefix $(FUZZ_BUILD)/,$(FUZZ_TARGETS))

.PHONY: fuzz fuzz-build fuzz-clean fuzz-toolchain $(addprefix fuzz-run-,$(FUZZ_TARGETS))

fuzz-build: $(FUZZ_BINS)

# clang with the libFuzzer runtime, or install it (scripts/deps.sh).
FUZZ_PROBE = echo 'int LLVMFuzzerTestOneInput(const unsigned char *d, unsigned long n) { return 0; }' | \
	$(FUZZ_CC) -fsanitize=fuzzer,address,undefined -x c - -o /dev/null >/dev/null 2>&1
fuzz-toolchain:
	@$(FUZZ_PROBE) || { bash $(if $(filter .,$(FUZZ_TOP)),,$(FUZZ_TOP)/)scripts/deps.sh && $(FUZZ_PROBE); } || \
	{ echo "error: $(FUZZ_CC) cannot build a libFuzzer target: install clang and libclang-rt-14-dev (scripts/deps.sh)" >&2; exit 1; }

define FUZZ_TARGET_RULES
$(FUZZ_BUILD)/$(1): $(FUZZ_DIR)/$(1).c $(FUZZ_DIR)/fuzz_util.h $(addprefix $(FUZZ_SRC)/,$($(1)_SRCS)) $(addprefix $(FUZZ_SRC)/,$(patsubst %.c,%.h,$($(1)_SRCS))) | fuzz-toolchain
	@mkdir -p $$(@D)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -I $(FUZZ_SRC) -o $$@ $(FUZZ_DIR)/$(1).c $(addprefix $(FUZZ_SRC)/,$($(1)_SRCS))

# Never fails: fuzz-run.sh records the outcome for `make fuzz` to report.
fuzz-run-$(1): $(FUZZ_BUILD)/$(1)
	@bash $(FUZZ_DIR)/fuzz-run.sh $(1) $(FUZZ_BUILD) $(FUZZ_DIR) $(FUZZ_SECONDS) $($(1)_MAXLEN) $(FUZZ_FLAGS)
endef
$(foreach t,$(FUZZ_TARGETS),$(eval $(call FUZZ_TARGET_RULES,$(t))))

# One line per target, then the exit status: non-zero if any crashed.
fuzz: $(addprefix fuzz-run-,$(FUZZ_TARGETS))
	@status=0; \
	for t in $(FUZZ_TARGETS); do \
		cat $(FUZZ_BUILD)/run/$$t/summary; \
		grep -q ', 0 crashes$$' $(FUZZ_BUILD)/run/$$t/summary || status=1; \
	done; \
	exit $$status

fuzz-clean:
	rm -rf $(FUZZ_BUILD)

EXTRA_CLEAN += $(FUZZ_BUILD)

.DEFAULT_GOAL := $(FUZZ_SAVED_DEFAULT_GOAL)
