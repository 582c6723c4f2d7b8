"""Errors raised by fastgw.native, whichever implementation (C or pure-Python twin) is active.

They live in a module of their own, imported by both the C extension and the twins, so callers catch
one class and tests can compare both implementations error for error.
"""


class BucketTableFull(RuntimeError):
    """Every slot of a shared bucket table holds a bucket that is not full (full ones are
    reclaimed first); size the table for the buckets in use at once."""


class SSEEventTooLarge(ValueError):
    """An SSE event grew past the scanner's max_event_size; the stream cannot be scanned further.

    `events` holds the events the failing `feed()` finished before the oversized one (they were
    complete and are still delivered: their usage counts and the client may still get them)."""

    events: list[tuple[str, bytes, str | None, int | None]]

    def __init__(self, *args: object) -> None:
        super().__init__(*args)
        self.events = []
