"""Errors shared across the package."""


class DataError(ValueError):
    """A problem with data on disk or a data argument; the message names the problem and the fix."""
