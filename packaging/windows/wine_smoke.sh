# The Windows smoke checks under Wine; sourced by wine.sh (smoke, installer-test), never run alone.
#   smoke_main [APP.exe]   default: the pip-installed C:\py311\Scripts\perocube-desktop.exe
# Fresh user folders in C:\perocube-smoke; results in $W/out (screenshot, PDF, logs).
# Prints one line per check and "windows smoke: N passed, M failed"; exit status 1 if any failed.

SMOKE_PASSED=0
SMOKE_FAILED=0
ok() { SMOKE_PASSED=$((SMOKE_PASSED + 1)); echo "PASS $*"; }
bad() { SMOKE_FAILED=$((SMOKE_FAILED + 1)); echo "FAIL $*"; }

# unix process ids of Windows processes of this prefix whose command line contains all of "$@"
prefix_pids() {
  local pid cmd
  for pid in $(pgrep -f -- "$1" || true); do
    [ -r "/proc/$pid/environ" ] || continue
    tr '\0' '\n' 2>/dev/null <"/proc/$pid/environ" | grep -qx "WINEPREFIX=$WINEPREFIX" || continue
    cmd=$(tr '\0' ' ' 2>/dev/null <"/proc/$pid/cmdline") || continue
    local all=1 part
    for part in "$@"; do [[ "$cmd" == *"$part"* ]] || all=0; done
    [ "$all" = 1 ] && echo "$pid"
  done
}

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

# app SECONDS OUT ARGS...: the app under Wine, output (stdout+stderr) into OUT
app() {
  local seconds=$1 out=$2; shift 2
  wrun "$seconds" "$APP" "$@" >"$out" 2>&1
}

smoke_receive() {  # receive + simulate, then SIGINT: every row stored
  local port o=$OUT/receive rc=0 pid i
  port=$(free_port)
  (wrun 300 "$APP" receive --port "$port" --buffer 'C:\perocube-smoke\buffer.sqlite3' >"$o.out" 2>&1) &
  pid=$!
  for i in $(seq 240); do grep -q "receiving on" "$o.out" 2>/dev/null && break; sleep 0.5; done
  if ! grep -q "receiving on" "$o.out"; then
    bad "receive did not start: $(tail -n 3 "$o.out")"; kill "$pid" 2>/dev/null || true; return
  fi
  app 300 "$o.sim" simulate --port "$port" --boards 1 --channels 4 --interval 1 --duration 120 --speedup 60 || true
  # Gap: `wine taskkill` does not find processes started this way, so no console-close event can be sent;
  # SIGINT to the Unix process of the Windows Python reaches it as Ctrl+C (what a console user would press)
  local targets; targets=$(prefix_pids "receive" "--port $port")
  [ -n "$targets" ] && kill -INT $targets 2>/dev/null
  wait "$pid" || rc=$?
  local rows
  rows=$(python3 "$REPO/packaging/bundle_checks.py" buffer-rows "$WINEPREFIX/drive_c/perocube-smoke/buffer.sqlite3" \
         2>/dev/null || echo unreadable)
  # a command ended by SIGINT exits 130 (one line saying what was done, docs/decisions.md #20)
  if [ "$rc" = 130 ] && [ "$rows" = 0 ] && grep -q "sent .* rows, 0 errors" "$o.sim" \
       && grep -q "0 rows left in the local buffer" "$o.out" && grep -q "shutdown complete" "$o.out"; then
    ok "receive + simulate, then SIGINT: exit 130, $(grep -o 'sent .*' "$o.sim"), buffer empty, shutdown complete"
  else
    bad "receive + simulate + SIGINT: exit $rc, buffer rows $rows, simulator: $(tail -n 1 "$o.sim"), receiver: $(tail -n 3 "$o.out")"
  fi
}

smoke_crash() {  # kill -9 of the app and its server, then the first start must work
  local port o=$OUT/crash pid i
  port=$(free_port)
  (wrun 300 "$APP" receive --port "$port" >"$o.out" 2>&1) &
  pid=$!
  for i in $(seq 240); do grep -q "receiving on" "$o.out" 2>/dev/null && break; sleep 0.5; done
  if ! grep -q "receiving on" "$o.out"; then
    bad "crash: receive did not start: $(tail -n 3 "$o.out")"; kill "$pid" 2>/dev/null || true; return
  fi
  local victims; victims="$(prefix_pids "receive" "--port $port") $(prefix_pids "postgres")"
  # shellcheck disable=SC2086
  kill -KILL $victims 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  local t0=$SECONDS rc=0
  app 300 "$o.status" db status || rc=$?
  if [ "$rc" = 0 ] && grep -q "server: *PostgreSQL 16" "$o.status"; then
    ok "first start after kill -9 of the app and its server: db status exit 0 in $((SECONDS - t0)) s ($(grep -c . <<<"$victims") processes killed)"
  else
    bad "first start after kill -9: exit $rc: $(grep -v '^\s*$' "$o.status" | tail -n 4)"
  fi
}

smoke_main() {
  APP=${1:-'C:\py311\Scripts\perocube-desktop.exe'}
  OUT=$W/out/smoke
  rm -rf "$OUT" "$WINEPREFIX/drive_c/perocube-smoke" && mkdir -p "$OUT" "$WINEPREFIX/drive_c/perocube-smoke"
  export PEROCUBE_DATA_DIR='C:\perocube-smoke\data' PEROCUBE_LOG_DIR='C:\perocube-smoke\log'
  export PEROCUBE_CONFIG_DIR='C:\perocube-smoke\config' QT_QPA_PLATFORM=offscreen
  unset PEROCUBE_DB_URL PEROCUBE_CONFIG
  local t0 rc
  echo "== Windows smoke checks under Wine: $APP"

  t0=$SECONDS; rc=0; app 120 "$OUT/help" --help || rc=$?
  if [ "$rc" = 0 ] && grep -q "usage: perocube-desktop" "$OUT/help"; then ok "--help ($((SECONDS - t0)) s)"
  else bad "--help: exit $rc: $(tail -n 3 "$OUT/help")"; fi

  t0=$SECONDS; rc=0; app 300 "$OUT/migrate" db migrate || rc=$?
  if [ "$rc" = 0 ] && grep -q "schema at version" "$OUT/migrate"; then
    ok "db migrate: $(grep -o 'schema at version [0-9]*' "$OUT/migrate") ($((SECONDS - t0)) s, initdb included)"
  else bad "db migrate: exit $rc: $(tail -n 4 "$OUT/migrate")"; fi

  t0=$SECONDS; rc=0; app 300 "$OUT/status" db status || rc=$?
  if [ "$rc" = 0 ] && grep -q "server: *PostgreSQL 16" "$OUT/status"; then
    ok "db status: $(grep -o 'PostgreSQL 16[.0-9]*' "$OUT/status" | head -n 1) ($((SECONDS - t0)) s)"
  else bad "db status (PostgreSQL 16 expected): exit $rc: $(tail -n 4 "$OUT/status")"; fi

  t0=$SECONDS; rc=0
  (cd "$REPO" && wrun 600 "$APP" import tests/data/sample_data --json >"$OUT/import.json" 2>"$OUT/import.err") || rc=$?
  if [ "$rc" = 0 ] && python3 "$REPO/packaging/bundle_checks.py" import-counts "$OUT/import.json" \
       "$REPO/tests/data/sample_data/manifest.json" >"$OUT/import.check"; then
    ok "import tests/data/sample_data: counts = manifest.json:$(cat "$OUT/import.check") ($((SECONDS - t0)) s)"
  else bad "import: exit $rc: $(cat "$OUT/import.check" 2>/dev/null) $(tail -n 3 "$OUT/import.err")"; fi

  t0=$SECONDS; rc=0; app 600 "$OUT/report" report --all --out 'C:\perocube-smoke\report.pdf' || rc=$?
  local pdf=$WINEPREFIX/drive_c/perocube-smoke/report.pdf
  if [ "$rc" = 0 ] && [ -f "$pdf" ] && [ "$(head -c 4 "$pdf")" = "%PDF" ]; then
    cp "$pdf" "$OUT/report.pdf"; ok "report --all: $(stat -c %s "$pdf") bytes PDF ($((SECONDS - t0)) s): $OUT/report.pdf"
  else bad "report --all: exit $rc: $(tail -n 3 "$OUT/report")"; fi

  smoke_receive
  smoke_crash

  t0=$SECONDS; rc=0
  app 300 "$OUT/gui" --demo --smoke-test 15 --screenshot 'C:\perocube-smoke\smoke.png' || rc=$?
  local png=$WINEPREFIX/drive_c/perocube-smoke/smoke.png
  if [ "$rc" = 0 ] && [ -f "$png" ] && [ "$(stat -c %s "$png")" -gt 20000 ]; then
    cp "$png" "$OUT/smoke.png"
    ok "GUI --demo --smoke-test 15: exit 0 (fonts found, database answered), $(stat -c %s "$png") bytes: $OUT/smoke.png ($((SECONDS - t0)) s)"
  else bad "GUI smoke test: exit $rc: $(tail -n 4 "$OUT/gui")"; fi

  echo "windows smoke: $SMOKE_PASSED passed, $SMOKE_FAILED failed"
  [ "$SMOKE_FAILED" = 0 ]
}
