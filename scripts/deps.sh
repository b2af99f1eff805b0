#!/usr/bin/env bash
# Install the OS packages the build and the tests need (Debian 12), or say
# how to. Quiet when everything is already there.
set -euo pipefail

# gcc and make: a bare Debian 12 (e.g. a container) has neither.
# clang and libclang-rt-14-dev (libFuzzer, ASan, UBSan): make fuzz; clang is
# also the second compiler of scripts/ci.sh. libubsan1 (gcc's UBSan runtime,
# which gcc pulls in anyway): make UBSAN=1, also scripts/ci.sh.
# pgbouncer: test/t/030_pgbouncer.pl (transaction pooling).
# chromium: the example application's browser test (test/t/040_example_app.pl).
PKGS=(postgresql-15 postgresql-server-dev-15 libssl-dev libargon2-dev libipc-run-perl gcc make clang libclang-rt-14-dev libubsan1 pgbouncer chromium)

missing=()
for p in "${PKGS[@]}"; do
	# Status is "install ok installed" only when fully installed; an absent
	# package makes dpkg-query fail, which counts as missing too.
	status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
	[ "$status" = "install ok installed" ] || missing+=("$p")
done
# Node.js and npm (not Debian packages here: CI brings Node 20) run the
# JWT interoperability test against jose from the npm registry; without
# them make test skips that one test.
command -v npm >/dev/null 2>&1 ||
	echo "note: npm is not installed: test/t/021_jwt_interop.pl will be skipped (install Node.js 20 with npm)" >&2

[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -eq 0 ]; then
	echo "== installing missing packages: ${missing[*]}" >&2
	export DEBIAN_FRONTEND=noninteractive
	apt-get update && apt-get install -y "${missing[@]}"
else
	echo "error: missing packages: ${missing[*]}" >&2
	echo "install them with:" >&2
	echo "  sudo sh -c 'apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y ${missing[*]}'" >&2
	exit 1
fi
