#!/usr/bin/env bash
# Build the one-folder bundle and run it as a user would: from a path with spaces, in a clean
# environment (env -i, a new HOME, no Python of the machine), as root and as a normal user.
#
#   bash packaging/test_bundle.sh            # build (python packaging/build.py) and test
#   SKIP_BUILD=1 bash packaging/test_bundle.sh   # test the existing dist/perocube-desktop
#   TEST_USERS="root" ...                    # only some users (default: root perocube-tester)
#   KEEP=1 ...                               # keep the work folder (screenshots, PDFs, logs)
#
# Needs root (it creates the normal user with useradd and runs commands as it with runuser).
# Heavy on two cores: the build takes 5-8 min, the checks about 2 min per user.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
PY="${PYTHON:-python3}"   # only for building and for reading results; the bundle never uses it
TEST_USERS="${TEST_USERS:-root perocube-tester}"
NORMAL_USER=perocube-tester

[ "$(id -u)" = 0 ] || { echo "test_bundle.sh: run as root (it switches to a normal user)" >&2; exit 2; }
if [ "${SKIP_BUILD:-0}" != 1 ]; then
  "$PY" "$ROOT/packaging/build.py"
fi
[ -x "$ROOT/dist/perocube-desktop/perocube-desktop" ] || { echo "no bundle in dist/ (build it first)" >&2; exit 2; }

WORK="$(mktemp -d "/tmp/perocube bundle test.XXXXXX")"
chmod 755 "$WORK"
cleanup() { [ "${KEEP:-0}" = 1 ] && echo "kept: $WORK" || rm -rf "$WORK"; }
trap cleanup EXIT
APPDIR="$WORK/Perocube Desktop/app folder"
mkdir -p "$APPDIR"
cp -a "$ROOT/dist/perocube-desktop" "$APPDIR/"
APP="$APPDIR/perocube-desktop/perocube-desktop"
cp -a "$ROOT/tests/data/sample_data" "$WORK/sample data"
chmod -R a+rX "$WORK"
OUT="$ROOT/dist/bundle-test"   # screenshots and reports to look at afterwards
mkdir -p "$OUT"

passed=0; failed=0
ok()   { echo "  ok   $*"; passed=$((passed + 1)); }
fail() { echo "  FAIL $*"; failed=$((failed + 1)); }

if ! id "$NORMAL_USER" >/dev/null 2>&1; then
  useradd --create-home --shell /bin/bash "$NORMAL_USER"
fi

# run_app USER STDOUT STDERR ARGS... : the bundle in a clean environment as USER
run_app() {
  local user="$1" out="$2" err="$3"; shift 3
  local home="$WORK/home $user"
  local cmd=(env -i "HOME=$home" "PATH=/usr/bin:/bin" "LANG=C.UTF-8" "QT_QPA_PLATFORM=offscreen" "$APP" "$@")
  if [ "$user" = root ]; then "${cmd[@]}" >"$out" 2>"$err"; else runuser -u "$user" -- "${cmd[@]}" >"$out" 2>"$err"; fi
}

free_port() { "$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

# receive_then USER SIGNAL: receiver + simulator, stop the receiver with SIGNAL, buffer must be empty
receive_then() {
  local user="$1" sig="$2" home="$WORK/home $user" port buffer log pid i
  port="$(free_port)"
  buffer="$home/buffer-$sig.sqlite3"
  log="$WORK/receive-$user-$sig"
  if [ "$user" = root ]; then
    env -i "HOME=$home" PATH=/usr/bin:/bin LANG=C.UTF-8 "$APP" receive --port "$port" --buffer "$buffer" \
      >"$log.out" 2>"$log.err" &
  else
    runuser -u "$user" -- env -i "HOME=$home" PATH=/usr/bin:/bin LANG=C.UTF-8 "$APP" receive --port "$port" \
      --buffer "$buffer" >"$log.out" 2>"$log.err" &
  fi
  pid=$!
  for i in $(seq 60); do grep -q "receiving on" "$log.out" 2>/dev/null && break; sleep 0.5; done
  if ! grep -q "receiving on" "$log.out"; then
    fail "$user receive did not start: $(tail -3 "$log.err")"; kill -KILL $pid 2>/dev/null || true; return
  fi
  # the application process (runuser forks it): send the signal to it, as a service manager would
  local app_pid
  app_pid="$(pgrep -n -f -- "perocube-desktop receive --port $port" || echo "$pid")"
  # clean environment check: nothing mapped from a Python installation outside the bundle
  if grep -E '\.so' "/proc/$app_pid/maps" | sed -E 's/^([^ ]+ +){5}//' | sort -u \
       | grep -v -e "^$APPDIR" -e '^/lib/' -e '^/usr/lib/' -e '^/lib64/' >"$log.maps"; then
    fail "$user receive maps libraries from outside the bundle: $(head -3 "$log.maps")"
  else
    ok "$user receive: every loaded library is in the bundle or the OS (/lib, /usr/lib)"
  fi
  run_app "$user" "$log.sim.out" "$log.sim.err" simulate --port "$port" --boards 1 --channels 4 --interval 1 \
    --duration 120 --speedup 60 || true
  kill -"$sig" "$app_pid"
  local rc=0
  wait "$pid" || rc=$?
  local rows
  rows="$("$PY" "$ROOT/packaging/bundle_checks.py" buffer-rows "$buffer" || echo unreadable)"
  local want=$((128 + $(kill -l "$sig")))  # stopped in order by the signal: 130 (INT) or 143 (TERM), #20
  if [ "$rc" = "$want" ] && [ "$rows" = 0 ] && grep -q "sent .* rows, 0 errors" "$log.sim.out" \
       && grep -q "0 rows left in the local buffer" "$log.err" && grep -q "^interrupted by SIG$sig: receiver stopped" "$log.err"; then
    ok "$user receive + SIG$sig: exit $rc, $(cat "$log.sim.out"), buffer empty"
  else
    fail "$user receive + SIG$sig: exit $rc, buffer rows $rows, simulator: $(cat "$log.sim.out") $(tail -3 "$log.err")"
  fi
}

for user in $TEST_USERS; do
  echo "== as $user, app in '$APPDIR', HOME '$WORK/home $user'"
  home="$WORK/home $user"
  mkdir -p "$home"
  [ "$user" = root ] || chown "$user" "$home"
  o="$WORK/$user"

  if run_app "$user" "$o.help.out" "$o.help.err" --help && grep -q "usage: perocube-desktop" "$o.help.out"; then
    ok "$user --help"
  else fail "$user --help: $(tail -3 "$o.help.err")"; fi

  t0=$SECONDS
  if run_app "$user" "$o.status.out" "$o.status.err" db status && grep -q "embedded PostgreSQL" "$o.status.out" \
       && grep -q "server: *PostgreSQL 1[68]" "$o.status.out"; then
    ok "$user db status ($(grep server: "$o.status.out" | tr -s ' '), $((SECONDS - t0)) s incl. initdb)"
  else fail "$user db status: $(cat "$o.status.out") $(tail -5 "$o.status.err")"; fi

  png="$OUT/smoke-$user.png"
  rm -f "$png"
  if run_app "$user" "$o.smoke.out" "$o.smoke.err" --demo --smoke-test 10 --screenshot "$home/smoke.png" \
       && cp "$home/smoke.png" "$png" && [ "$(stat -c %s "$png")" -gt 20000 ]; then
    ok "$user --demo --smoke-test 10 --screenshot ($(stat -c %s "$png") bytes: $png)"
  else fail "$user smoke test: $(tail -5 "$o.smoke.err")"; fi

  if run_app "$user" "$o.import.out" "$o.import.err" import "$WORK/sample data" --json \
     && "$PY" "$ROOT/packaging/bundle_checks.py" import-counts "$o.import.out" "$WORK/sample data/manifest.json"
  then ok "$user import of the sample folder: counts match manifest.json"
  else fail "$user import: $(tail -5 "$o.import.err")"; fi

  pdf="$home/r.pdf"
  if (cd "$home" && run_app "$user" "$o.report.out" "$o.report.err" report --all --out "$pdf") \
       && [ "$(head -c 4 "$pdf")" = "%PDF" ]; then
    cp "$pdf" "$OUT/report-$user.pdf"
    ok "$user report --all --out r.pdf ($(stat -c %s "$pdf") bytes)"
  else fail "$user report: $(tail -5 "$o.report.err")"; fi

  receive_then "$user" INT
  receive_then "$user" TERM
done

echo "== a damaged bundle says what is missing"
BROKEN="$WORK/broken copy/perocube-desktop"
mkdir -p "$(dirname "$BROKEN")"
cp -al "$ROOT/dist/perocube-desktop" "$BROKEN"
rm "$BROKEN/_internal/perocube_desktop/sql/migrations/0002_"*.sql "$BROKEN/_internal/perocube_desktop/resources/app.qss"
rc=0; env -i "HOME=$WORK/home root" PATH=/usr/bin:/bin "$BROKEN/perocube-desktop" db status \
  >"$WORK/broken.out" 2>"$WORK/broken.err" || rc=$?
if [ "$rc" = 2 ] && grep -q "0002_\*.sql" "$WORK/broken.err" && grep -q "app.qss" "$WORK/broken.err"; then
  ok "missing migration and stylesheet: exit 2, $(head -c 160 "$WORK/broken.err")..."
else fail "damaged bundle: exit $rc, $(cat "$WORK/broken.err")"; fi
rm -rf "$BROKEN"; cp -al "$ROOT/dist/perocube-desktop" "$BROKEN"
rm "$BROKEN/_internal/PySide6/QtOpenGLWidgets"*
rc=0; env -i "HOME=$WORK/home root" PATH=/usr/bin:/bin QT_QPA_PLATFORM=offscreen "$BROKEN/perocube-desktop" \
  --smoke-test 1 >"$WORK/broken.out" 2>"$WORK/broken.err" || rc=$?
if [ "$rc" != 0 ] && grep -q "QtOpenGLWidgets" "$WORK/broken.err"; then
  ok "smoke test without QtOpenGLWidgets: exit $rc, the error is on stderr"
else fail "smoke test without QtOpenGLWidgets: exit $rc, stderr: $(tail -3 "$WORK/broken.err")"; fi

echo "bundle test: $passed passed, $failed failed"
[ "$failed" = 0 ]
