"""Errors a user can fix: the message names what is wrong and the fix, so one line is enough."""

from __future__ import annotations

__all__ = ["UserError"]


class UserError(Exception):
    """An error whose message says what is wrong and how to fix it.

    In a notebook (and so in papermill's output) it shows as one line, ``Name: message``,
    instead of a traceback: IPython prints what ``_render_traceback_`` returns.
    """

    def _render_traceback_(self) -> list[str]:
        return [f"{type(self).__name__}: {self}"]
