#!/usr/bin/env bash
# The whole test suite: lint, migration check, then every test on SQLite and on PostgreSQL.
set -uo pipefail
cd "$(dirname "$0")/.."
export PDVA_ENV=test
PY=.venv/bin/python
PG_URL=${PDVA_TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/pdva}
SQLITE_URL=${PDVA_TEST_SQLITE_URL:-sqlite:///$PWD/var/test.sqlite3}

./scripts/setup.sh || exit 1

# PostgreSQL must be reachable: the suite runs on it too. Start the local cluster if it is down.
if ! pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; then
  if command -v pg_ctlcluster >/dev/null 2>&1; then
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -1)" main start 2>/dev/null || true
    sleep 2
  fi
fi
if ! pg_isready -q -h 127.0.0.1 -p 5432; then
  echo "test: PostgreSQL at 127.0.0.1:5432 is unreachable; the suite must run on it" >&2
  exit 1
fi

status=0
.venv/bin/ruff check pdva tests bench || status=1
.venv/bin/mypy || status=1
PDVA_DATABASE_URL="sqlite:///$PWD/var/test-check.sqlite3" .venv/bin/pdva makemigrations --check --dry-run >/dev/null \
  || { echo "test: models changed without a migration (run pdva makemigrations)" >&2; status=1; }

run_pytest() {
  local label=$1 url=$2
  shift 2
  echo "== tests on $label =="
  PDVA_DATABASE_URL="$url" "$PY" -m pytest "$@"
  local rc=$?
  if [ $rc -eq 5 ]; then
    echo "test: no tests collected on $label" >&2
    return 1  # an empty run is a failure, not a pass
  fi
  return $rc
}

run_pytest SQLite "$SQLITE_URL" "$@" || status=1
run_pytest PostgreSQL "$PG_URL" "$@" || status=1
exit $status
