# auth: PGXS build. `make && make install && make installcheck` works against
# an existing server; `make demo`, `make test` and `make bench` (harness.mk)
# bring their own throwaway cluster.  `make fuzz` (fuzz/fuzz.mk) fuzzes the
# pure parsers with libFuzzer; it needs no server.
EXTENSION   = auth
# The version being built is the control file's default_version.
EXTVERSION := $(shell sed -n "s/^default_version = '\(.*\)'/\1/p" $(dir $(firstword $(MAKEFILE_LIST)))auth.control)
MODULE_big  = auth
OBJS        = $(patsubst %.c,%.o,$(sort $(wildcard src/*.c)))
SQL_PARTS   = $(sort $(wildcard src/sql/*.sql))
DATA_built  = auth--$(EXTVERSION).sql
# Released install scripts, kept as shipped, and the upgrade scripts.
DATA        = $(sort $(wildcard versions/auth--*.sql))
EXTRA_CLEAN = tmp results regression.diffs regression.out output_iso \
              test/ubsan_options.o test/ubsan_options.bc

# Debian's PostgreSQL 15 is the target; any other pg_config can be passed in.
PG_CONFIG  ?= $(firstword $(wildcard /usr/lib/postgresql/15/bin/pg_config) pg_config)
PG_CPPFLAGS = -I$(srcdir)/src
# Warnings on, but never fatal here: a user's compiler may warn where ours do
# not. CI (scripts/ci.sh) adds -Werror with gcc and clang. Unused parameters
# are the rule in fmgr signatures (PG_FUNCTION_ARGS), hence the one exception.
PG_CFLAGS   = -Wall -Wextra -Wno-unused-parameter
SHLIB_LINK += -lcrypto -largon2

# make UBSAN=1: the build scripts/ci.sh runs the regression suite against,
# under gcc's UndefinedBehaviorSanitizer (the .so links libubsan): any finding
# is fatal, and test/ubsan_options.c makes it abort the backend. Run make
# clean when switching to or from it.
ifeq ($(UBSAN),1)
PG_CFLAGS  += -fsanitize=undefined -fno-sanitize-recover=all
OBJS       += test/ubsan_options.o
endif

REGRESS      = $(basename $(notdir $(sort $(wildcard sql/*.sql))))
REGRESS_OPTS = --load-extension=pgcrypto
ISOLATION    = $(basename $(notdir $(sort $(wildcard test/specs/*.spec))))
ISOLATION_OPTS = --inputdir=$(srcdir)/test --outputdir=output_iso

PGXS := $(shell $(PG_CONFIG) --pgxs 2>/dev/null)
# Without postgresql-server-dev-15 (a fresh machine) there is no pgxs.mk;
# harness.mk then lets demo/test/bench install it first.
ifneq ($(wildcard $(PGXS)),)
include $(PGXS)
endif

# A changed header rebuilds every object (PGXS tracks no header dependencies
# unless PostgreSQL was configured with --enable-depend).
$(OBJS): $(wildcard $(srcdir)/src/*.h)

# Debian builds PostgreSQL with gcc, and pg_config's CFLAGS carry options clang
# rejects or does not know. With clang (CC=clang, or a cc that is clang), drop
# them, and ignore the gnu_printf format attribute of PostgreSQL's headers, as
# PostgreSQL does for its own clang (bitcode) builds.
ifneq ($(findstring clang,$(shell $(CC) --version 2>/dev/null)),)
GCC_ONLY_CFLAGS = -fexcess-precision=standard -Wimplicit-fallthrough=3 -Wno-format-truncation -Wno-stringop-truncation
override CFLAGS := $(filter-out $(GCC_ONLY_CFLAGS),$(CFLAGS)) -Wno-ignored-attributes
endif

auth--$(EXTVERSION).sql: $(SQL_PARTS)
	cat $^ > $@

include harness.mk
include fuzz/fuzz.mk
