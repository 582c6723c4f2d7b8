"""Changing the log level at runtime: `POST /logging?level=debug` on the admin port.

The admin port is served by every worker, so the request reaches one of them. That worker
applies the level at once and writes it to a file in the instance's private directory (the
metrics directory the supervisor made before forking); every worker looks at the file's
modification time once a second and applies a change. `GET /logging` shows the level in force.
The change lasts until the process restarts or a reload sets `config.logging.level` again.
"""

from __future__ import annotations

import logging
import os

from fastgw.config.log_levels import LevelSpecError, parse_levels

__all__ = ["LevelSpecError", "LogControl"]


class LogControl:
    __slots__ = ("_path", "_seen", "level")

    def __init__(self, directory: str | None, level: str) -> None:
        self._path = os.path.join(directory, "log-level") if directory else None
        self._seen = 0
        #: the spec in force in this worker
        self.level = level
        if self._path is not None:
            try:
                self._seen = os.stat(self._path).st_mtime_ns
            except OSError:
                pass

    def set(self, spec: str) -> None:
        """Apply `spec` here and tell the other workers (LevelSpecError if it is not a level)."""
        apply(spec)
        self.level = spec
        if self._path is None:
            return
        tmp = f"{self._path}.{os.getpid()}"
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(spec)
        os.replace(tmp, self._path)
        self._seen = os.stat(self._path).st_mtime_ns

    def poll(self) -> None:
        """Once a second: apply a level another worker set."""
        if self._path is None:
            return
        try:
            mtime = os.stat(self._path).st_mtime_ns
            if mtime == self._seen:
                return
            self._seen = mtime
            with open(self._path, encoding="utf-8") as f:
                spec = f.read().strip()
            apply(spec)
        except (OSError, LevelSpecError):
            return
        self.level = spec


def apply(spec: str) -> None:
    root_level, per_logger = parse_levels(spec)
    logging.getLogger().setLevel(root_level)
    for name, level in per_logger.items():
        logging.getLogger(name).setLevel(level)
