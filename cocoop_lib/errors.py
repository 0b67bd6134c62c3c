"""Errors shared across the package; each message names the problem, the file and the fix."""


class DataError(ValueError):
    """A problem with data on disk or a data argument; the message names the problem and the fix."""


class RecordError(ValueError):
    """A run record that cannot be read; the message names the file and the fix."""


class CheckpointError(ValueError):
    """A training checkpoint that cannot be read; the message names the file and the fix."""


class DiskFullError(OSError):
    """No space left on device while writing a file (no partial or temporary file is left)."""
