"""Typed errors. The core raises these; `verify.cli.main` turns them into one stderr line.

Every message names the object concerned and, where there is one, the next step. The exit
code travels with the error so the CLI never has to guess.
"""

from enum import IntEnum


class ExitCode(IntEnum):
    """Documented process exit codes (docs/exit-codes.md)."""

    OK = 0
    INTERNAL = 1
    BAD_INPUT = 2
    INTEGRITY = 3
    NOT_FOUND = 4
    BUSY = 75
    INTERRUPTED = 130  # Ctrl-C (128 + SIGINT), as shells report it


class VerifyError(Exception):
    """Base of every error the tool reports to a user."""

    exit_code: ExitCode = ExitCode.INTERNAL

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class BadInputError(VerifyError):
    """The user asked for something invalid: bad value, bad file, forbidden transition."""

    exit_code = ExitCode.BAD_INPUT


class NotFoundError(VerifyError):
    """A referenced case, media file or other object does not exist."""

    exit_code = ExitCode.NOT_FOUND


class IntegrityFailure(VerifyError):
    """Stored evidence, the database or the audit chain does not verify."""

    exit_code = ExitCode.INTEGRITY


class BusyError(VerifyError):
    """Another process holds the archive; retrying later should succeed."""

    exit_code = ExitCode.BUSY


class AnalysisError(BadInputError):
    """A media file could not be parsed; the bytes are preserved regardless."""
