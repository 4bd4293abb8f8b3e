"""SQLModel tables. One file until it hurts.

Rules (ARCHITECTURE.md): table names are plural (`case` is an SQL keyword); no
`from __future__ import annotations` here (it breaks SQLModel relationships); datetimes
are timezone-aware UTC; 64-bit perceptual hashes are stored as *signed* int64 (both
SQLite and PostgreSQL refuse unsigned values above 2**63-1); vocabularies are plain
strings validated in `verify.vocab`. Every schema change is an Alembic migration in
`verify/migrations/versions`.
"""

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, LargeBinary, Text, UniqueConstraint
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Field, SQLModel

JSONType = JSON().with_variant(JSONB(), "postgresql")


class Case(SQLModel, table=True):
    __tablename__ = "cases"

    id: int | None = Field(default=None, primary_key=True)
    slug: str = Field(max_length=80, unique=True, index=True)
    title: str
    summary: str = Field(default="", sa_type=Text)
    status: str = Field(default="unverified", max_length=32, index=True)
    created_at: datetime
    created_by: str
    updated_at: datetime
    updated_by: str


class Claim(SQLModel, table=True):
    __tablename__ = "claims"
    __table_args__ = (UniqueConstraint("case_id", "position"),)

    id: int | None = Field(default=None, primary_key=True)
    case_id: int = Field(foreign_key="cases.id", index=True)
    position: int  # 1-based, stable within a case: "claim 2 of belgorod-legion-video"
    text: str = Field(sa_type=Text)
    finding: str = Field(default="unassessed", max_length=32)
    confidence: str | None = Field(default=None, max_length=16)
    rationale: str = Field(default="", sa_type=Text)
    # who added the claim and when (`claim add`, `case open`; an import: the file's, else
    # the importer's); none for a claim an import recorded before claims had them, which
    # the file did not say (migration 0004)
    created_at: datetime | None = None
    created_by: str | None = None
    updated_at: datetime
    updated_by: str


class StatusChange(SQLModel, table=True):
    __tablename__ = "status_changes"

    id: int | None = Field(default=None, primary_key=True)
    case_id: int = Field(foreign_key="cases.id", index=True)
    from_status: str | None = Field(default=None, max_length=32)
    to_status: str = Field(max_length=32)
    rationale: str = Field(default="", sa_type=Text)
    at: datetime
    by: str


class Note(SQLModel, table=True):
    __tablename__ = "notes"

    id: int | None = Field(default=None, primary_key=True)
    case_id: int = Field(foreign_key="cases.id", index=True)
    text: str = Field(sa_type=Text)
    at: datetime
    by: str


class AuditEntry(SQLModel, table=True):
    """One link of the tamper-evident chain. `hash` covers every other column (see audit.py)."""

    __tablename__ = "audit_entries"

    seq: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    at: str = Field(max_length=40)  # canonical UTC text, hashed exactly as stored
    actor: str
    action: str = Field(max_length=64)
    case_slug: str | None = Field(default=None, max_length=80, index=True)
    payload: str = Field(sa_type=Text)  # canonical JSON
    prev_hash: str = Field(max_length=71)
    hash: str = Field(max_length=71)


class CaseState(SQLModel, table=True):
    """The text of a state of a case (`casefile.render_case`) at an exchange, keyed by its
    digest (`casefile.state_digest`): what `base` and `earlier` name, kept to merge a file
    with this archive's case against the state both came from. Derived data, checked
    against its key when read."""

    __tablename__ = "case_states"

    digest: str = Field(primary_key=True, max_length=71)
    case_slug: str = Field(max_length=80, index=True)
    text: str = Field(sa_type=Text)


class AuditHead(SQLModel, table=True):
    """The chain's head, updated in the same transaction as each append.

    A single row. It lets `verify check` notice a deleted or forged *last* entry, which a
    hash chain alone cannot.
    """

    __tablename__ = "audit_head"

    id: int = Field(default=1, primary_key=True)
    seq: int
    hash: str = Field(max_length=71)


class Blob(SQLModel, table=True):
    """Bytes in the evidence store and what analysis found (belongs to content, not a case)."""

    __tablename__ = "blobs"

    id: int | None = Field(default=None, primary_key=True)
    sha256: str = Field(max_length=64, unique=True, index=True)  # lowercase hex, no prefix
    size: int = Field(sa_type=BigInteger)
    kind: str = Field(default="other", max_length=16)
    mime: str | None = Field(default=None, max_length=100)
    analysis_state: str = Field(default="pending", max_length=32)
    analysis_error: str | None = Field(default=None, sa_type=Text)
    pipeline: str | None = Field(default=None, max_length=40)  # hashing recipe identity
    # which frames were hashed: "full" (every sampled frame) or "keyframes" (`--fast`
    # triage); None when analysis failed, or for analyses recorded before this was kept
    analysis_mode: str | None = Field(default=None, max_length=16)
    meta: dict[str, Any] | None = Field(default=None, sa_type=JSONType)
    analysed_at: datetime | None = None
    stored_at: datetime


class Media(SQLModel, table=True):
    """A file in a case: a blob plus the custody facts of this acquisition."""

    __tablename__ = "media"

    id: int | None = Field(default=None, primary_key=True)
    case_id: int = Field(foreign_key="cases.id", index=True)
    blob_id: int = Field(foreign_key="blobs.id", index=True)
    original_name: str
    label: str | None = None
    source_url: str | None = Field(default=None, sa_type=Text)
    platform: str | None = Field(default=None, max_length=64)
    acquired_via: str | None = None
    acquired_by: str
    acquired_at: datetime


class Frame(SQLModel, table=True):
    """A sampled frame of a blob (an image is one frame) and its perceptual hashes."""

    __tablename__ = "frames"
    __table_args__ = (UniqueConstraint("blob_id", "idx"),)

    id: int | None = Field(default=None, primary_key=True)
    blob_id: int = Field(foreign_key="blobs.id", index=True)
    idx: int
    pts: float  # seconds from stream start
    phash: int = Field(sa_type=BigInteger)  # signed int64 form of the 64-bit hash
    dhash: int = Field(sa_type=BigInteger)
    phash_masked: int | None = Field(default=None, sa_type=BigInteger)  # subtitle band masked
    dhash_masked: int | None = Field(default=None, sa_type=BigInteger)
    pdq: bytes | None = Field(default=None, sa_type=LargeBinary)  # 32 bytes
    pdq_quality: int | None = None
    informative: bool = True
    scene_change: bool = False


class Account(SQLModel, table=True):
    """An actor on a platform: `telegram:@channel`, `x:@Gerashchenko_en`, or a named person."""

    __tablename__ = "accounts"
    __table_args__ = (UniqueConstraint("platform", "handle"),)

    id: int | None = Field(default=None, primary_key=True)
    platform: str = Field(max_length=64)
    handle: str
    display_name: str | None = None
    url: str | None = Field(default=None, sa_type=Text)
    kind: str = Field(default="unknown", max_length=32)
    credibility: str | None = Field(default=None, sa_type=Text)
    created_at: datetime
    created_by: str


class Appearance(SQLModel, table=True):
    """Where media was seen: one post on one platform."""

    __tablename__ = "appearances"

    id: int | None = Field(default=None, primary_key=True)
    case_id: int = Field(foreign_key="cases.id", index=True)
    media_id: int | None = Field(default=None, foreign_key="media.id", index=True)
    platform: str = Field(max_length=64)
    url: str | None = Field(default=None, sa_type=Text)
    post_id: str | None = None
    account_id: int | None = Field(default=None, foreign_key="accounts.id")
    posted_at: datetime | None = None
    posted_precision: str = Field(default="exact", max_length=16)
    captured_at: datetime | None = None
    caption: str | None = Field(default=None, sa_type=Text)
    language: str | None = Field(default=None, max_length=16)
    forwarded_from: str | None = None
    quoted_from: str | None = None
    archive_url: str | None = Field(default=None, sa_type=Text)
    note: str | None = Field(default=None, sa_type=Text)
    created_at: datetime
    created_by: str


class Attribution(SQLModel, table=True):
    """Who did what to the media, by role, and whether that is claimed, corroborated or refuted."""

    __tablename__ = "attributions"

    id: int | None = Field(default=None, primary_key=True)
    case_id: int = Field(foreign_key="cases.id", index=True)
    role: str = Field(max_length=32)
    account_id: int = Field(foreign_key="accounts.id", index=True)
    target_type: str = Field(default="case", max_length=16)  # case | media | appearance
    target_id: int | None = None
    state: str = Field(default="claimed", max_length=16)
    evidence: str | None = Field(default=None, sa_type=Text)
    according_to: str | None = None
    created_at: datetime
    created_by: str
    updated_at: datetime
    updated_by: str


class AttributionChange(SQLModel, table=True):
    """History of an attribution's state: never overwritten, only appended."""

    __tablename__ = "attribution_changes"

    id: int | None = Field(default=None, primary_key=True)
    attribution_id: int = Field(foreign_key="attributions.id", index=True)
    from_state: str | None = Field(default=None, max_length=16)
    to_state: str = Field(max_length=16)
    evidence: str | None = Field(default=None, sa_type=Text)
    according_to: str | None = None
    at: datetime
    by: str


class Derivation(SQLModel, table=True):
    """A typed edge between two media files: child is `kind` of parent."""

    __tablename__ = "derivations"
    __table_args__ = (UniqueConstraint("child_id", "parent_id", "kind"),)

    id: int | None = Field(default=None, primary_key=True)
    child_id: int = Field(foreign_key="media.id", index=True)
    parent_id: int = Field(foreign_key="media.id", index=True)
    kind: str = Field(max_length=32)
    evidence: dict[str, Any] | None = Field(default=None, sa_type=JSONType)
    note: str | None = Field(default=None, sa_type=Text)
    created_at: datetime
    created_by: str
    # taken back (a wrong id, a mistaken kind): kept, with who, when and why, and left out of
    # reasoning (earliest appearance, related media, cycles, duplicate clusters)
    retracted_at: datetime | None = None
    retracted_by: str | None = None
    retraction: str | None = Field(default=None, sa_type=Text)


def pk(row: SQLModel) -> int:
    """The primary key of a flushed row (SQLModel types it `int | None` until then)."""
    value = getattr(row, "id", None)
    if not isinstance(value, int):
        raise RuntimeError(f"{type(row).__name__} has no id yet; flush the session first")
    return value
