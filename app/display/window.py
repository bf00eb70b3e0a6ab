"""A desktop window showing the source's frames with the overlay: Tkinter, on the main thread.

Tkinter is in Python's standard library and on Raspberry Pi OS Desktop already
(python3-tk), so the window costs no download, and it needs no OpenCV GUI (the app uses
the headless OpenCV build). Frames arrive on the capture thread and only replace the
newest one; the Tk loop shows the newest frame when there is one, so a slow display
never holds the pipeline up. Frames go to Tk as binary PPM, which Tk 8.6 reads natively
(no Pillow-Tk bridge, which is a separate package on Debian).
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import time
from collections.abc import Callable
from types import TracebackType
from typing import TYPE_CHECKING

from app.display.xlib import guard_display
from app.errors import AppError
from app.overlay import Overlay, Size, annotate, fit_size
from app.sources.base import Frame

if TYPE_CHECKING:
    import tkinter

    from app.pipeline import Pipeline

log = logging.getLogger(__name__)

WINDOW_BOX = (960, 720)  # a new window fits the picture into this, scaled up or down
REFRESH_MS = 10  # how often the Tk loop looks for a new frame
MIN_AREA = 48  # px a side: below this there is no room for the overlay's panel
TICK_S = 0.1  # how often it runs the pipeline's watchdog


class PreviewWindow:
    """Opened on the main thread at once, so a missing display fails before the model runs."""

    def __init__(self, overlay: Overlay, title: str, fullscreen: bool = False) -> None:
        try:
            import tkinter
        except ImportError:
            raise AppError("the window preview needs Tkinter: sudo apt install python3-tk") from None
        display = os.environ.get("DISPLAY", "(unset)")
        self._pipeline: Pipeline | None = None
        self._lost: str | None = None  # why the window went away, if not by the user's choice
        self._closing = False
        guard_display(display, self._display_failed, self._display_lost)  # before Tk opens the display
        try:
            self.root = tkinter.Tk(className="movinet")
        except tkinter.TclError as exc:
            raise AppError(f"cannot open a window on display {display}: {exc}") from None
        self._tcl_error = tkinter.TclError
        self.overlay = overlay
        self.root.title(title)
        self.root.configure(background="black")
        self.canvas = tkinter.Canvas(self.root, background="black", highlightthickness=0, width=960, height=540)
        self.canvas.pack(fill="both", expand=True)
        self.photo = tkinter.PhotoImage(master=self.root)
        self.item = self.canvas.create_image(0, 0, image=self.photo, anchor="center")
        if fullscreen:
            # -fullscreen asks the window manager; the geometry also covers a bare X server.
            self.root.geometry(f"{self.root.winfo_screenwidth()}x{self.root.winfo_screenheight()}+0+0")
            self.root.attributes("-fullscreen", True)
            self.canvas.configure(cursor="none")
        self._latest: Frame | None = None  # written by the capture thread, read by Tk
        self._shown: tuple[int, int, Size] | None = None  # (frame index, overlay version, size)
        self._sized = fullscreen
        self._error: BaseException | None = None
        self._quit = False  # the user closed the window (show() only; main_loop stops the pipeline)
        self._showing = False

    def on_frame(self, frame: Frame) -> None:
        """Pipeline frame listener (capture thread): keep only the newest frame."""
        self._latest = frame

    def main_loop(self, pipeline: Pipeline) -> None:
        """Pipeline main loop: Tk's event loop until the pipeline stops or the user quits.

        AppError if the window went away without the user asking (another program
        destroyed it, the X server failed), after the pipeline stopped as after SIGTERM.
        """
        self._pipeline = pipeline
        self._bind_events(pipeline.stop)
        last_tick = time.monotonic()

        def refresh() -> None:
            nonlocal last_tick
            if pipeline.stop_event.is_set():
                self.root.quit()
                return
            if time.monotonic() - last_tick >= TICK_S:
                pipeline.tick()
                last_tick = time.monotonic()
            self._show_newest()
            self.root.after(REFRESH_MS, refresh)

        self.root.after(0, refresh)
        try:
            self.root.mainloop()
        finally:
            self._closing = True
            with contextlib.suppress(self._tcl_error):  # already gone if destroyed from outside
                self.root.destroy()
        if self._error is not None:
            raise self._error
        if self._lost is not None:
            raise AppError(self._lost)

    def show(self, frame: Frame) -> bool:
        """For a command that reads the frames itself on the main thread (`teach record`), in
        place of main_loop: show `frame` with the overlay and handle the window's events.

        False once the user closed the window (q, Escape or its close button); AppError if it
        went away otherwise, as from main_loop.
        """
        if not self._showing:
            self._showing = True
            self._bind_events(self._user_quit)
        if not self._quit:
            self._latest = frame
            self._show_newest()
            self.root.update()
        if self._error is not None:
            raise self._error
        if self._lost is not None:
            raise AppError(self._lost)
        return not self._quit

    def close(self) -> None:
        """After show(): the window goes (the process carries on)."""
        self._closing = True
        with contextlib.suppress(self._tcl_error):
            self.root.destroy()

    def _bind_events(self, quit: Callable[[], None]) -> None:
        """The user quits with q, Escape or the close button; other ends and errors are kept for later."""
        self.root.protocol("WM_DELETE_WINDOW", quit)
        self.root.bind("<Destroy>", self._destroyed)
        for key in ("<KeyPress-q>", "<KeyPress-Q>", "<Escape>"):
            self.root.bind(key, lambda event: quit())
        self.root.report_callback_exception = self._callback_failed
        self.root.focus_force()  # a kiosk has nobody to click the window first

    def _user_quit(self) -> None:
        self._quit = True

    def _destroyed(self, event: tkinter.Event) -> None:
        """<Destroy> (bound on the window, so its children's come here too): stop, unless we close it."""
        if event.widget is self.root and not self._closing:
            self._lost = self._lost or "the preview window was destroyed by another program"
            if self._pipeline is not None:
                self._pipeline.stop()

    def _display_failed(self, message: str) -> None:
        """An X request failed (Xlib's handler, main thread): stop the run; Tk carries on meanwhile."""
        if self._lost is None:
            self._lost = message
        if self._pipeline is not None:
            self._pipeline.stop()

    def _display_lost(self, message: str) -> None:
        """The X server has gone (Xlib's handler, main thread, which must not return to Tk):
        finish the run here, as after SIGTERM; the process ends right after."""
        if self._pipeline is not None:
            self._pipeline.shutdown()
        print(f"error: {message}", file=sys.stderr)

    def _callback_failed(self, kind: type[BaseException], error: BaseException, trace: TracebackType | None) -> None:
        """An error inside a Tk callback: stop and re-raise it after the loop, not print it."""
        self._error = error
        self.root.quit()

    def _show_newest(self) -> None:
        frame = self._latest
        if frame is None:
            return
        height, width = frame.image.shape[:2]
        if not self._sized:  # the first frame tells the picture's shape
            self._sized = True
            window_w, window_h = fit_size((width, height), WINDOW_BOX)
            self.canvas.configure(width=window_w, height=window_h)
            self.root.update_idletasks()
        area = (self.canvas.winfo_width(), self.canvas.winfo_height())
        if min(area) < MIN_AREA:  # not mapped yet (Tk says 1x1 until then), or shrunk to nothing
            return
        size = fit_size((width, height), area)
        shown = (frame.index, self.overlay.version, size)
        if shown == self._shown:
            return
        self._shown = shown
        image = annotate(frame.image, frame.order, self.overlay, size, out_order="RGB")
        self.photo.configure(data=b"P6 %d %d 255\n" % size + image.tobytes(), format="PPM")
        self.canvas.coords(self.item, area[0] // 2, area[1] // 2)
