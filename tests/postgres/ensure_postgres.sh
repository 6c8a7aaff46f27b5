#!/usr/bin/env bash
# PostgreSQL server binaries for tests/postgres (each test run starts its own throwaway cluster
# with initdb and pg_ctl; nothing here starts a server).
#
# Present already: nothing to do. Missing and run as root on Debian: install Debian's
# `postgresql` package, with service starts blocked so the package's default cluster is not
# started. Otherwise say what to do and exit 0: the Postgres tests then skip, naming this script.
set -euo pipefail

have_server() {
    compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null
}

if have_server; then
    exit 0
fi

if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
    echo "PostgreSQL server binaries not found; run as root on Debian:" \
        "bash tests/postgres/ensure_postgres.sh (tests/postgres will skip)" >&2
    exit 0
fi

# invoke-rc.d asks policy-rc.d; 101 means "do not start services" (Debian policy, 9.3.3).
policy=/usr/sbin/policy-rc.d
blocked=""
if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' >"$policy"
    chmod +x "$policy"
    blocked=1
fi
cleanup() {
    if [ -n "$blocked" ]; then rm -f "$policy"; fi
}
trap cleanup EXIT

export DEBIAN_FRONTEND=noninteractive
apt-get update -q
apt-get install -y -q --no-install-recommends postgresql

have_server || { echo "apt-get installed postgresql but no initdb was found" >&2; exit 1; }
