"""UTC time: one clock for the whole tool, overridable for reproducible tests and reports."""

import os
from datetime import UTC, datetime


def now() -> datetime:
    """Current UTC time; `VERIFY_FAKE_NOW` (ISO 8601) pins it for tests and demos."""
    fake = os.environ.get("VERIFY_FAKE_NOW")
    if fake:
        return parse_utc(fake)
    return datetime.now(UTC)


def parse_utc(value: str) -> datetime:
    """Parse ISO 8601; a value without an offset is taken as UTC."""
    dt = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt.astimezone(UTC)


def iso(dt: datetime | None) -> str | None:
    """Canonical text form: `2023-05-23T10:15:00Z` (microseconds only when present)."""
    if dt is None:
        return None
    if dt.tzinfo is None:  # SQLite hands back naive values for aware columns in some paths
        dt = dt.replace(tzinfo=UTC)
    text = dt.astimezone(UTC).isoformat()
    return text.replace("+00:00", "Z")
