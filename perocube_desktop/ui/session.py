"""The process around the main window while Qt's loop runs (``ui.process.run_gui``): unhandled errors
shown and counted, stop requests from the signal handlers acted on in the GUI thread, a second
start's request to show the window, and the end of a smoke test (screenshot, then close)."""

from __future__ import annotations

import logging
import sys
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QCoreApplication, Qt, QTimer

if TYPE_CHECKING:
    from .main_window import MainWindow

log = logging.getLogger(__name__)


class GuiSession:
    """``window()`` is the main window, or None before it exists (errors during the start)."""

    def __init__(self, qt_app: QCoreApplication, window: Callable[[], MainWindow | None]) -> None:
        self.qt_app = qt_app
        self.window = window
        self.errors: list[str] = []
        self.stop_requests: list[str] = []  # appended to by the signal handlers (shutdown.install)
        self.smoke_failure: list[str] = []
        self._stop_handled = False
        self._poll = QTimer()
        self._poll.timeout.connect(self._check_stop)

    def excepthook(self, exc_type, exc, tb) -> None:
        text = "".join(traceback.format_exception(exc_type, exc, tb))
        self.errors.append(text)
        log.error("unhandled error:\n%s", text)
        window = self.window()
        if window is not None:
            window.show_error(f"{exc_type.__name__}: {exc}")

    def close_all(self) -> None:
        window = self.window()
        if window is not None:
            window.close()
        self.qt_app.quit()

    def watch_stop_requests(self) -> None:
        self._poll.start(200)

    def stop_watching(self) -> None:
        self._poll.stop()

    def _check_stop(self) -> None:  # also lets Python run its signal handlers while Qt's loop runs
        if self.stop_requests and not self._stop_handled:
            self._stop_handled = True
            log.info("shutdown requested (%s): closing the window", self.stop_requests[0])
            self.close_all()

    def bring_to_front(self, page: str = "") -> None:
        log.info("a second start asked for this window%s", f" (page {page})" if page else "")
        w = self.window()
        if w is None:  # a second start during our own start: the window shows itself when ready
            return
        if page:
            w.show_page(page)
            shown = next((name for name, widget in w.pages.items() if widget is w.stack.currentWidget()), "?")
            log.info("now showing the %s page", shown)
        w.setWindowState(w.windowState() & ~Qt.WindowState.WindowMinimized)
        w.show()
        w.raise_()
        w.activateWindow()

    def finish_after(self, seconds: float, screenshot: Path | None, problem: Callable[[], str | None]) -> None:
        """The smoke test: after ``seconds``, save the window to ``screenshot``, note ``problem()``, close."""

        def finish():
            window = self.window()
            if screenshot and window is not None:
                screenshot.parent.mkdir(parents=True, exist_ok=True)
                window.grab().save(str(screenshot))
                log.info("screenshot saved to %s", screenshot)
            failure = problem()
            if failure:
                self.smoke_failure.append(failure)
            self.close_all()

        QTimer.singleShot(int(seconds * 1000), finish)

    def exit_code(self) -> int:
        code = 1 if self.errors else 0
        if self.smoke_failure:
            print(f"error: smoke test failed: {self.smoke_failure[0]}", file=sys.stderr)
            code = 1
        return code
