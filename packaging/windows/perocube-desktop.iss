; Inno Setup 6 script: per-user install of the one-folder bundle, no administrator rights.
; Build the bundle first (python packaging\build.py), then:
;   iscc /DAppVersion=0.1.0 packaging\windows\perocube-desktop.iss
; Output: dist\perocube-desktop-<version>-setup.exe
; NOT run on this project's machines (Linux): see docs/packaging.md for what was verified where.

#ifndef AppVersion
  #define AppVersion "0.1.0"
#endif
#define AppName "Perocube Desktop"
#define BundleDir "..\..\dist\perocube-desktop"

[Setup]
; a fixed AppId keeps upgrades and the uninstaller on the same entry
AppId={{6C1E8B52-3F0A-4C8D-9A57-2D4E1B7F3A10}
AppName={#AppName}
AppVersion={#AppVersion}
AppPublisher=PeroCube
; per user, without admin: {autopf} becomes %LOCALAPPDATA%\Programs, shortcuts go to the user's Start menu
PrivilegesRequired=lowest
PrivilegesRequiredOverridesAllowed=dialog
DefaultDirName={autopf}\{#AppName}
DefaultGroupName={#AppName}
DisableProgramGroupPage=yes
OutputDir=..\..\dist
OutputBaseFilename=perocube-desktop-{#AppVersion}-setup
Compression=lzma2/max
SolidCompression=yes
ArchitecturesAllowed=x64compatible
ArchitecturesInstallIn64BitMode=x64compatible
UninstallDisplayIcon={app}\perocube-desktop-gui.exe
WizardStyle=modern
; the user's data (embedded database, config, buffer) lives in %LOCALAPPDATA%\PeroCube and is kept
; on uninstall and upgrade

[Files]
Source: "{#BundleDir}\*"; DestDir: "{app}"; Flags: ignoreversion recursesubdirs createallsubdirs

[Icons]
Name: "{autoprograms}\{#AppName}"; Filename: "{app}\perocube-desktop-gui.exe"; WorkingDir: "{app}"
Name: "{autoprograms}\{#AppName} (demo)"; Filename: "{app}\perocube-desktop-gui.exe"; Parameters: "--demo"; WorkingDir: "{app}"
Name: "{autodesktop}\{#AppName}"; Filename: "{app}\perocube-desktop-gui.exe"; WorkingDir: "{app}"; Tasks: desktopicon

[Tasks]
Name: "desktopicon"; Description: "{cm:CreateDesktopIcon}"; GroupDescription: "{cm:AdditionalIcons}"; Flags: unchecked

[Run]
Filename: "{app}\perocube-desktop-gui.exe"; Description: "{cm:LaunchProgram,{#AppName}}"; Flags: nowait postinstall skipifsilent

[UninstallDelete]
; files the app writes next to itself: none by design (everything goes to %LOCALAPPDATA%\PeroCube)
Type: filesandordirs; Name: "{app}\_internal\__pycache__"
