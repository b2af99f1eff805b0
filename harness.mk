# harness.mk (included at the end of Makefile): `make demo`, `make test` and
# `make bench` install missing OS packages, build, `make install`, and run
# against a throwaway cluster of their own under ./tmp (scripts/*.sh).

HARNESS_ENV = PG_CONFIG='$(PG_CONFIG)' MAKE='$(MAKE)'

.PHONY: demo test bench harness-install

ifneq ($(wildcard $(PGXS)),)

# Sub-makes keep the order deps -> build -> install even under -j.
harness-install:
	@bash scripts/deps.sh
	$(MAKE) all
	@$(MAKE) install || { echo "hint: make install writes under $(datadir) and $(pkglibdir): run it as root (sudo make install)" >&2; exit 1; }

demo: harness-install
	@$(HARNESS_ENV) bash scripts/demo.sh

test: harness-install
	@$(HARNESS_ENV) bash scripts/test.sh

bench: harness-install
	@$(HARNESS_ENV) bash scripts/bench.sh

else

# No pgxs.mk: postgresql-server-dev-15 is not installed (a fresh machine).
# demo/test/bench install it and start over; anything else explains.
.DEFAULT_GOAL := pgxs-missing

demo test bench:
	@test -z "$(AUTH_DEPS_DONE)" || { echo "error: packages installed but $(PG_CONFIG) --pgxs ($(PGXS)) still missing" >&2; exit 1; }
	@bash scripts/deps.sh
	@$(MAKE) $@ AUTH_DEPS_DONE=1

%:
	@echo "error: PGXS not found ($(PG_CONFIG) --pgxs gave '$(PGXS)'): postgresql-server-dev-15 is not installed." >&2
	@echo "Run 'make test' or 'make demo' (they install it when run as root), or: bash scripts/deps.sh" >&2
	@exit 1

endif
