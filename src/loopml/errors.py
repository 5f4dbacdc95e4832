"""Errors a user can act on: each carries one sentence and the process exit code."""

from __future__ import annotations


class LoopmlError(Exception):
    """An error shown to the user as one sentence, without a traceback."""

    exit_code = 1

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class UsageError(LoopmlError):
    """Bad input: a missing file, a malformed table, an invalid spec key or argument."""

    exit_code = 2


class SpecError(UsageError):
    """`loopml.yaml` is missing, unreadable, or holds an invalid key or value."""


class DataError(UsageError):
    """A data source cannot be read as a table, or does not fit the spec."""


class NotFoundError(UsageError):
    """A reference (dataset version, split, run) names nothing in the store."""


class StoreError(LoopmlError):
    """The store is unreachable, corrupt, or was written by a newer loopml."""


class SealedError(LoopmlError):
    """Code asked for the sealed test part outside final evaluation."""


class ExportError(UsageError):
    """A model cannot be exported in the asked format (or would not score the same in it)."""

    @classmethod
    def no_onnx_form(cls, what: str) -> ExportError:
        """The refusal for a part of a model that has no ONNX form."""
        return cls(
            f"{what} has no ONNX form in loopml; export this model in the default format "
            "(leave out --format onnx)"
        )
