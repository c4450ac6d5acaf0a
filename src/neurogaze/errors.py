"""Exception types. Every error a user can cause names the file, the field and the expectation."""

from __future__ import annotations

from os import PathLike


class NeurogazeError(Exception):
    """Base class of every error neurogaze raises on purpose."""


class DataValidationError(NeurogazeError):
    """An input file does not match what a loader or contract expects."""

    def __init__(self, path: str | PathLike | None, field: str, expected: str, got: object = None):
        self.path = None if path is None else str(path)
        self.field = field
        self.expected = expected
        self.got = got
        where = self.path if self.path is not None else "<in memory>"
        message = f"{where}: field '{field}': expected {expected}"
        if got is not None:
            message += f", got {got}"
        super().__init__(message)


class ConfigError(NeurogazeError):
    """The configuration does not match the schema."""

    def __init__(self, source: str | PathLike | None, key: str, problem: str):
        self.source = None if source is None else str(source)
        self.key = key
        self.problem = problem
        where = f"{self.source}: " if self.source else ""
        super().__init__(f"{where}config key '{key}': {problem}")


class MissingWeightsError(NeurogazeError):
    """Released weights were asked for but are not on this machine (nothing is downloaded)."""
