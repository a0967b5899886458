#!/usr/bin/env bash
# Fuzzes the review API with schemathesis (PyPI) against its own OpenAPI document, as an admin:
# every operation, with generated valid and invalid parameters and bodies; fails on any server
# error (5xx) or response that does not match the document (status, content type, schema).
#
#   bench/api_fuzz.sh [OUT_DIR] [MAX_SECONDS]
#
# Needs the release binaries (cargo build --release -p passwatch -p passwatch-bench) and
# installs schemathesis into $PASSWATCH_CACHE/venv-schemathesis on first use. The data folder
# holds 2,000 synthetic events (bench/src/bin/synthetic-journal.rs), an admin and a reviewer.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
pw_cache_env .
out=${1:-$(mktemp -d)}
max_time=${2:-300}
mkdir -p "$out"
venv=$PASSWATCH_CACHE/venv-schemathesis
if [[ ! -x $venv/bin/schemathesis ]]; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q 'schemathesis==4.32.5'
fi
bin=target/release
data=$out/data
rm -rf "$data"
mkdir -p "$data"
"$bin/synthetic-journal" --out "$data" --events 2000 --seed 7 >/dev/null
printf 'fuzzing-admin-password\n' | "$bin/passwatch" users add root --role admin --data "$data" >/dev/null
token=$("$bin/passwatch" tokens create --user root --data "$data" | tail -1)
"$bin/passwatch" serve --data "$data" --listen 127.0.0.1:0 >"$out/serve.out" 2>"$out/serve.err" &
pid=$!
trap 'kill $pid 2>/dev/null || true' EXIT
for _ in $(seq 100); do
    grep -q '^listening on' "$out/serve.out" 2>/dev/null && break
    sleep 0.1
done
base=$(sed -n 's/^listening on //p' "$out/serve.out")
status=0
"$venv/bin/schemathesis" run "$base/api/openapi.json" \
    --header "Authorization: Bearer $token" \
    --checks not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance \
    --max-time "$max_time" --workers 2 --seed 1 \
    --report junit --report-dir "$out/report" \
    --suppress-health-check all >"$out/schemathesis.txt" 2>&1 || status=$?
tail -40 "$out/schemathesis.txt"
# Every request that presented the token is in the audit log: that is the count of requests.
python3 - "$data/audit.db" <<'PY'
import sqlite3, sys
c = sqlite3.connect(sys.argv[1])
total = c.execute("SELECT COUNT(*) FROM audit").fetchone()[0]
by = c.execute("SELECT outcome, COUNT(*) FROM audit GROUP BY 1 ORDER BY 2 DESC").fetchall()
print(f"audited requests: {total}; by outcome: {by}")
PY
echo "(files in $out)"
exit $status
