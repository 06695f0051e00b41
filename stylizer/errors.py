"""Exceptions meant to reach a person: every message says what was wrong and what to do."""


class StylizerError(Exception):
    """Base class for errors the front ends show as one line instead of a traceback."""


class ImageError(StylizerError):
    """An input image that cannot be used (missing, unreadable, too large)."""


class FilterError(StylizerError, ValueError):
    """A filter parameter outside what the algorithm accepts."""


class Cancelled(StylizerError):
    """The caller asked a running stylization to stop."""


class DivergedError(StylizerError):
    """The optimization produced NaN/inf repeatedly and could not recover."""
