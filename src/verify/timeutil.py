"""UTC time: one clock for the whole tool, overridable for reproducible tests and reports."""

import os
from datetime import UTC, datetime

from verify.errors import BadInputError


def now() -> datetime:
    """Current UTC time; `VERIFY_FAKE_NOW` (ISO 8601) pins it for tests and demos."""
    fake = os.environ.get("VERIFY_FAKE_NOW")
    if fake:
        try:
            return parse_utc(fake)
        except ValueError:
            raise BadInputError(
                "VERIFY_FAKE_NOW must be an ISO 8601 date-time, e.g. 2024-05-01T12:00:00Z; "
                f"got {fake!r}"
            ) from None
    return datetime.now(UTC)


def as_utc(dt: datetime) -> datetime:
    """`dt` in UTC; a naive value is taken to be UTC already.

    Database columns come back aware (sqlmodel's `UTCDateTime`), but naive values still
    arrive from elsewhere: TOML local date-times in case files, ISO text without an offset.
    """
    return (dt if dt.tzinfo is not None else dt.replace(tzinfo=UTC)).astimezone(UTC)


def parse_utc(value: str) -> datetime:
    """Parse ISO 8601; a value without an offset is taken as UTC."""
    return as_utc(datetime.fromisoformat(value.replace("Z", "+00:00")))


def iso(dt: datetime | None) -> str | None:
    """Canonical text form: `2023-05-23T10:15:00Z` (microseconds only when present)."""
    if dt is None:
        return None
    return as_utc(dt).isoformat().replace("+00:00", "Z")


def stored_iso(value: object) -> str | None:
    """A time read from the database without the ORM, as `iso` gives the ORM's: SQLite
    keeps `YYYY-MM-DD HH:MM:SS.ffffff` text in UTC; PostgreSQL gives an aware datetime."""
    if value is None:
        return None
    if isinstance(value, datetime):
        return iso(as_utc(value))
    return iso(datetime.fromisoformat(str(value)).replace(tzinfo=UTC))
