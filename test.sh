#!/usr/bin/env bash
# The whole test suite, both engines: starts a throw-away PostgreSQL from the
# machine's own binaries on a Unix socket in a temp directory, points
# MUSTER_TEST_POSTGRES at it, runs `go test ./...`, and stops the server.
#
#   ./test.sh                 everything
#   ./test.sh -run Login ./internal/auth/   extra arguments go to `go test`
#
# Without PostgreSQL binaries it says so loudly and runs the SQLite leg only;
# with CI=true a missing PostgreSQL (or Chromium, for browser tests) fails.
set -euo pipefail
cd "$(dirname "$0")"

pg_bin=""
for d in /usr/lib/postgresql/*/bin /usr/local/pgsql/bin; do
	if [ -x "$d/initdb" ] && [ -x "$d/pg_ctl" ]; then pg_bin="$d"; fi
done
if [ -z "$pg_bin" ] && command -v initdb >/dev/null && command -v pg_ctl >/dev/null; then
	pg_bin="$(dirname "$(command -v initdb)")"
fi

tmp="$(mktemp -d /tmp/muster-test.XXXXXX)"
cleanup() {
	if [ -n "$pg_bin" ] && [ -f "$tmp/pgdata/postmaster.pid" ]; then
		run_pg "$pg_bin/pg_ctl" -D "$tmp/pgdata" -m immediate stop >/dev/null 2>&1 || true
	fi
	rm -rf "$tmp"
}
trap cleanup EXIT

# PostgreSQL refuses to run as root: run its binaries as an unprivileged user.
run_pg() {
	if [ "$(id -u)" = "0" ]; then
		local u=postgres
		id -u "$u" >/dev/null 2>&1 || u=nobody
		chown -R "$u" "$tmp"
		su -s /bin/sh "$u" -c "$(printf '%q ' "$@")"
	else
		"$@"
	fi
}

if [ -n "$pg_bin" ]; then
	mkdir -p "$tmp/pgdata" "$tmp/sock"
	chmod 755 "$tmp"
	run_pg "$pg_bin/initdb" -D "$tmp/pgdata" -U muster -A trust --no-sync -E UTF8 >"$tmp/initdb.log" 2>&1 ||
		{ cat "$tmp/initdb.log"; exit 1; }
	run_pg "$pg_bin/pg_ctl" -D "$tmp/pgdata" -l "$tmp/pg.log" -w \
		-o "-k $tmp/sock -c listen_addresses='' -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=300" \
		start >/dev/null || { cat "$tmp/pg.log"; exit 1; }
	export MUSTER_TEST_POSTGRES="postgres://muster@/postgres?host=$tmp/sock&sslmode=disable"
	echo "test.sh: PostgreSQL from $pg_bin on $tmp/sock"
else
	if [ "${CI:-}" = "true" ]; then
		echo "test.sh: CI=true but no PostgreSQL binaries (initdb, pg_ctl) found" >&2
		exit 1
	fi
	echo "################################################################" >&2
	echo "test.sh: NO POSTGRESQL BINARIES FOUND: running the SQLite leg only." >&2
	echo "         Install Debian's 'postgresql' package for the full suite." >&2
	echo "################################################################" >&2
fi

go test -count=1 -timeout 15m "${@:-./...}"
