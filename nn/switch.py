"""A module-wide on/off switch for a fast path, with a context manager that turns it off.

nn.blas (its in-place BLAS calls) and nn.fused (its one-kernel updates) each keep one, so
that the plain array expressions they replace can be run, timed and compared:
``with nn.blas.expressions_only(): ...``, ``with nn.fused.plain_updates(): ...``.
"""

from __future__ import annotations

import contextlib

__all__ = ["Switch"]


class Switch:
    """``on`` is True until a ``with switch.off():`` block, and again after it (nested
    blocks restore what was before them). Not thread-safe: one flag for the whole process."""

    def __init__(self):
        self.on = True

    @contextlib.contextmanager
    def off(self):
        before, self.on = self.on, False
        try:
            yield self
        finally:
            self.on = before
