#!/usr/bin/env bash
# Sourced by .ci/test: make sure a PostgreSQL and a Redis answer, starting throwaway servers when none does.
# Exports TEST_DATABASE_URL and TEST_REDIS_URL for the test suite.
set -euo pipefail
SVC_DIR="${TMPDIR:-/tmp}/pose-studio-services"
mkdir -p "$SVC_DIR"

pg_port=5432
if ! pg_isready -q -h 127.0.0.1 -p $pg_port 2>/dev/null; then
  pg_port=55432
  if ! pg_isready -q -h 127.0.0.1 -p $pg_port 2>/dev/null; then
    bindir="$(dirname "$(ls /usr/lib/postgresql/*/bin/initdb 2>/dev/null | tail -n1 || command -v initdb)")"
    data="$SVC_DIR/pg"
    rm -rf "$data"
    run_as=()
    if [ "$(id -u)" -eq 0 ]; then
      # initdb refuses to run as root.
      id pgtest >/dev/null 2>&1 || useradd -r -M pgtest
      chown -R pgtest "$SVC_DIR"
      run_as=(runuser -u pgtest --)
    fi
    echo "==> starting a throwaway PostgreSQL on 127.0.0.1:$pg_port"
    "${run_as[@]}" "$bindir/initdb" -D "$data" -U postgres -A trust >"$SVC_DIR/initdb.log"
    "${run_as[@]}" "$bindir/pg_ctl" -s -D "$data" -l "$SVC_DIR/pg.log" \
      -o "-h 127.0.0.1 -p $pg_port -k $SVC_DIR" -w start
    "${run_as[@]}" "$bindir/createdb" -h 127.0.0.1 -p $pg_port -U postgres test
  fi
fi
redis_port=6379
if ! redis-cli -h 127.0.0.1 -p $redis_port ping >/dev/null 2>&1; then
  redis_port=56379
  if ! redis-cli -h 127.0.0.1 -p $redis_port ping >/dev/null 2>&1; then
    echo "==> starting a throwaway Redis on 127.0.0.1:$redis_port"
    redis-server --daemonize yes --bind 127.0.0.1 --port $redis_port --save "" --appendonly no \
      --dir "$SVC_DIR" --logfile "$SVC_DIR/redis.log"
    for _ in $(seq 50); do redis-cli -p $redis_port ping >/dev/null 2>&1 && break; sleep 0.1; done
  fi
fi
export TEST_DATABASE_URL="${TEST_DATABASE_URL:-postgresql+psycopg://postgres@127.0.0.1:$pg_port/test}"
export TEST_REDIS_URL="${TEST_REDIS_URL:-redis://127.0.0.1:$redis_port/0}"
