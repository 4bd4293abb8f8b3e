"""claims.created_at / created_by: who added a claim and when, backfilled from the trail

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-08 09:00:00.000000
"""

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _instant(value: Any) -> datetime | None:
    """An audit time (`2023-05-23T10:15:00.123456Z`, as `timeutil.iso` writes it)."""
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None  # not a time: `verify check` shows what the entry records
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).astimezone(UTC)


def _stamp(actor: str, at: str, payload: dict[str, Any]) -> tuple[datetime | None, str | None]:
    """Who created a claim and when, by the entry that created it: as the entry records them
    (`by`/`at`); else, on the command line, the entry's actor and time; an import's entry
    without them (the file did not say) gives none. `verify check` reads the entries alike
    (statecheck.claim_created)."""
    imported = "import" in payload
    by = payload.get("by", None if imported else actor)
    when = payload.get("at", None if imported else at)
    return _instant(when), by if isinstance(by, str) else None


def upgrade() -> None:
    with op.batch_alter_table("claims", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True)
        )
        batch_op.add_column(
            sa.Column("created_by", sqlmodel.sql.sqltypes.AutoString(), nullable=True)
        )

    # Backfill, replaying the trail as `verify check` does: the last `case.open` (its
    # `claims`) or `claim.add` (its `n`) of a case's slug that created each claim number.
    # A claim no entry created (its case has no `case.open` in the trail) gets its case's
    # opening.
    conn = op.get_bind()
    cases = sa.table(
        "cases",
        sa.column("id", sa.Integer()),
        sa.column("slug", sa.String()),
        sa.column("created_at", sqlmodel.sql.sqltypes.UTCDateTime()),
        sa.column("created_by", sa.String()),
    )
    claims = sa.table(
        "claims",
        sa.column("id", sa.Integer()),
        sa.column("case_id", sa.Integer()),
        sa.column("position", sa.Integer()),
        sa.column("created_at", sqlmodel.sql.sqltypes.UTCDateTime()),
        sa.column("created_by", sa.String()),
    )
    entries = sa.table(
        "audit_entries",
        sa.column("seq", sa.Integer()),
        sa.column("at", sa.String()),
        sa.column("actor", sa.String()),
        sa.column("action", sa.String()),
        sa.column("case_slug", sa.String()),
        sa.column("payload", sa.Text()),
    )
    created: dict[tuple[str, int], tuple[datetime | None, str | None]] = {}
    creating = (
        sa.select(entries.c.at, entries.c.actor, entries.c.action, entries.c.case_slug,
                  entries.c.payload)
        .where(entries.c.action.in_(["case.open", "claim.add"]))
        .where(entries.c.case_slug.is_not(None))
        .order_by(entries.c.seq)
    )  # fmt: skip
    for at, actor, action, slug, text in conn.execute(creating):
        try:
            payload = json.loads(text)
        except ValueError:
            continue  # `verify check` reports the damaged entry
        if not isinstance(payload, dict):
            continue
        if action == "case.open":
            texts = payload.get("claims")
            numbers = list(range(1, len(texts) + 1)) if isinstance(texts, list) else []
        else:
            n = payload.get("n")
            numbers = [n] if isinstance(n, int) and not isinstance(n, bool) else []
        for number in numbers:
            created[(slug, number)] = _stamp(actor, at, payload)

    held = sa.select(claims.c.id, claims.c.position, cases.c.slug, cases.c.created_at,
                      cases.c.created_by).join(cases, cases.c.id == claims.c.case_id)  # fmt: skip
    rows = []
    for ident, position, slug, case_at, case_by in conn.execute(held):
        at, by = created.get((slug, position), (case_at, case_by))
        rows.append({"claim": ident, "at": at, "by": by})
    if rows:
        conn.execute(
            claims.update()
            .where(claims.c.id == sa.bindparam("claim"))
            .values(
                created_at=sa.bindparam("at", type_=sqlmodel.sql.sqltypes.UTCDateTime()),
                created_by=sa.bindparam("by"),
            ),
            rows,
        )


def downgrade() -> None:
    with op.batch_alter_table("claims", schema=None) as batch_op:
        batch_op.drop_column("created_by")
        batch_op.drop_column("created_at")
