"""A dependency-free progress bar for long loops (stderr; one line per update when not a TTY)."""

from __future__ import annotations

import sys
import time


class Progress:
    """Iterate with a progress bar: ``for i in Progress(range(n), "train"): ...``.

    ``set(**fields)`` shows extra fields (losses, D outputs) after the bar. When stderr is
    not a terminal (logs, CI), a plain line is printed every ``every_s`` seconds instead.
    """

    def __init__(self, iterable, label: str = "", total: int | None = None,
                 stream=None, every_s: float = 10.0, width: int = 28):
        self.iterable = iterable
        self.label = label
        self.total = total if total is not None else _len(iterable)
        self.stream = stream if stream is not None else sys.stderr
        self.tty = hasattr(self.stream, "isatty") and self.stream.isatty()
        self.every_s = every_s if not self.tty else 0.1
        self.width = width
        self.fields: dict = {}
        self.count = 0

    def set(self, **fields) -> None:
        self.fields.update(fields)

    def __iter__(self):
        start = last = time.perf_counter()
        for item in self.iterable:
            yield item
            self.count += 1
            now = time.perf_counter()
            if now - last >= self.every_s or self.count == self.total:
                self._draw(now - start)
                last = now
        if self.tty:
            self.stream.write("\n")
            self.stream.flush()

    def _draw(self, elapsed: float) -> None:
        if self.total:
            frac = self.count / self.total
            filled = int(self.width * frac)
            bar = "#" * filled + "-" * (self.width - filled)
            eta = elapsed / frac - elapsed if frac > 0 else 0.0
            head = f"{self.label} [{bar}] {self.count}/{self.total} {elapsed:.0f}s<{eta:.0f}s"
        else:
            head = f"{self.label} {self.count} {elapsed:.0f}s"
        extra = " ".join(f"{k}={_fmt(v)}" for k, v in self.fields.items())
        line = f"{head} {extra}".rstrip()
        if self.tty:
            self.stream.write("\r" + line + "\x1b[K")
        else:
            self.stream.write(line + "\n")
        self.stream.flush()


def _len(iterable):
    try:
        return len(iterable)
    except TypeError:
        return None


def _fmt(v) -> str:
    return f"{v:.4g}" if isinstance(v, float) else str(v)
