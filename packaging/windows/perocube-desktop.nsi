; NSIS 3 script: per-user Windows installer of the one-folder bundle, no administrator rights.
; Built on Linux with Debian's nsis (makensis) by `bash packaging/windows/wine.sh installer`:
;   makensis -DVERSION=0.1.0 -DBUNDLE=dist/perocube-desktop -DOUTFILE=dist/perocube-desktop-0.1.0-setup.exe \
;     packaging/windows/perocube-desktop.nsi
; Silent: setup.exe /S [/D=C:\other\folder]   uninstall: "%LOCALAPPDATA%\Programs\Perocube Desktop\uninstall.exe" /S
; The user's data (embedded database, configuration, buffer, logs) is in %LOCALAPPDATA%\PeroCube: never
; touched by install, upgrade or uninstall.

Unicode true
; a 64-bit installer for the 64-bit app (a 32-bit one does not even start in a 64-bit-only Wine, and
; $LOCALAPPDATA\Programs is the same either way)
Target amd64-unicode
!ifndef VERSION
  !define VERSION "0.1.0"
!endif
!ifndef BUNDLE
  !define BUNDLE "..\..\dist\perocube-desktop"
!endif
!ifndef OUTFILE
  !define OUTFILE "..\..\dist\perocube-desktop-${VERSION}-setup.exe"
!endif
!define APPNAME "Perocube Desktop"
!define UNINSTKEY "Software\Microsoft\Windows\CurrentVersion\Uninstall\PerocubeDesktop"

Name "${APPNAME}"
OutFile "${OUTFILE}"
RequestExecutionLevel user              ; per user: no UAC prompt, no admin rights
InstallDir "$LOCALAPPDATA\Programs\${APPNAME}"
InstallDirRegKey HKCU "${UNINSTKEY}" "InstallLocation"
!ifdef FAST
  SetCompressor zlib                    ; wine.sh installer with PEROCUBE_NSIS_FAST=1: quicker, larger
!else
  SetCompressor /SOLID lzma
!endif
ManifestDPIAware true
VIProductVersion "${VERSION}.0"
VIAddVersionKey "ProductName" "${APPNAME}"
VIAddVersionKey "ProductVersion" "${VERSION}"
VIAddVersionKey "FileVersion" "${VERSION}"
VIAddVersionKey "FileDescription" "${APPNAME} installer"
VIAddVersionKey "CompanyName" "PeroCube"

Page directory
Page instfiles
UninstPage uninstConfirm
UninstPage instfiles

Section "Install"
  SetShellVarContext current            ; the user's own Start menu
  SetOutPath "$INSTDIR"
  ; an upgrade replaces the program folder as a whole (files of an older version must not linger)
  RMDir /r "$INSTDIR\_internal"
  File /r "${BUNDLE}\*"
  WriteUninstaller "$INSTDIR\uninstall.exe"

  CreateDirectory "$SMPROGRAMS\${APPNAME}"
  CreateShortcut "$SMPROGRAMS\${APPNAME}\${APPNAME}.lnk" "$INSTDIR\perocube-desktop-gui.exe" "" \
    "$INSTDIR\perocube-desktop-gui.exe" 0 SW_SHOWNORMAL "" "The operator's application"
  CreateShortcut "$SMPROGRAMS\${APPNAME}\${APPNAME} (demo).lnk" "$INSTDIR\perocube-desktop-gui.exe" "--demo" \
    "$INSTDIR\perocube-desktop-gui.exe" 0 SW_SHOWNORMAL "" "Simulated boards in a database of their own"
  CreateShortcut "$SMPROGRAMS\${APPNAME}\${APPNAME} receive.lnk" "$INSTDIR\perocube-desktop.exe" "receive" \
    "$INSTDIR\perocube-desktop.exe" 0 SW_SHOWNORMAL "" "Receive the LabVIEW samples without the window"
  CreateShortcut "$SMPROGRAMS\${APPNAME}\Uninstall ${APPNAME}.lnk" "$INSTDIR\uninstall.exe"

  WriteRegStr HKCU "${UNINSTKEY}" "DisplayName" "${APPNAME}"
  WriteRegStr HKCU "${UNINSTKEY}" "DisplayVersion" "${VERSION}"
  WriteRegStr HKCU "${UNINSTKEY}" "Publisher" "PeroCube"
  WriteRegStr HKCU "${UNINSTKEY}" "InstallLocation" "$INSTDIR"
  WriteRegStr HKCU "${UNINSTKEY}" "DisplayIcon" "$INSTDIR\perocube-desktop-gui.exe"
  WriteRegStr HKCU "${UNINSTKEY}" "UninstallString" '"$INSTDIR\uninstall.exe"'
  WriteRegStr HKCU "${UNINSTKEY}" "QuietUninstallString" '"$INSTDIR\uninstall.exe" /S'
  WriteRegDWORD HKCU "${UNINSTKEY}" "NoModify" 1
  WriteRegDWORD HKCU "${UNINSTKEY}" "NoRepair" 1
SectionEnd

Section "Uninstall"
  SetShellVarContext current
  Delete "$SMPROGRAMS\${APPNAME}\*.lnk"
  RMDir "$SMPROGRAMS\${APPNAME}"
  ; only what the installer put there: the bundle's two programs, its _internal folder, the uninstaller
  RMDir /r "$INSTDIR\_internal"
  Delete "$INSTDIR\perocube-desktop.exe"
  Delete "$INSTDIR\perocube-desktop-gui.exe"
  Delete "$INSTDIR\uninstall.exe"
  RMDir "$INSTDIR"
  DeleteRegKey HKCU "${UNINSTKEY}"
SectionEnd
