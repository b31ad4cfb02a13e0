#!/usr/bin/env bash
# Installs PostgreSQL from the Debian package, starts it on loopback only, creates a user and a
# database for the store tests, and prints the URL they read from ALLOCATOR_TEST_POSTGRES_URL.
# Needs root (CI runs as root). Safe to run again: each step checks what is already there.
set -euo pipefail
if ! ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1; then
    apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >&2
fi
version=$(ls /usr/lib/postgresql | sort -V | tail -n 1)
if ! pg_lsclusters --no-header | awk '{print $1" "$2}' | grep -qx "$version main"; then
    pg_createcluster "$version" main >&2
fi
conf="/etc/postgresql/$version/main/postgresql.conf"
grep -q "^listen_addresses = '127.0.0.1'" "$conf" || echo "listen_addresses = '127.0.0.1'" >>"$conf"
pg_ctlcluster "$version" main status >/dev/null 2>&1 || pg_ctlcluster "$version" main start >&2
port=$(pg_lsclusters --no-header | awk -v v="$version" '$1==v && $2=="main" {print $3}')
for _ in $(seq 1 30); do
    pg_isready -q -h 127.0.0.1 -p "$port" && break
    sleep 1
done
psql_admin() { su postgres -c "psql -p $port -v ON_ERROR_STOP=1 -qtAc \"$1\""; }
if [ "$(psql_admin "SELECT 1 FROM pg_roles WHERE rolname = 'allocator'")" != 1 ]; then
    psql_admin "CREATE ROLE allocator LOGIN CREATEDB PASSWORD 'allocator'" >&2
fi
if [ "$(psql_admin "SELECT 1 FROM pg_database WHERE datname = 'allocator_test'")" != 1 ]; then
    psql_admin "CREATE DATABASE allocator_test OWNER allocator" >&2
fi
echo "postgresql+psycopg://allocator:allocator@127.0.0.1:$port/allocator_test"
