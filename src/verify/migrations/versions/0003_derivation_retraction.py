"""derivations.retracted_at / retracted_by / retraction: a derivation taken back, with why

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-07 06:20:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # derivations recorded before stay as they were: none is retracted
    with op.batch_alter_table("derivations", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("retracted_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True)
        )
        batch_op.add_column(
            sa.Column("retracted_by", sqlmodel.sql.sqltypes.AutoString(), nullable=True)
        )
        batch_op.add_column(sa.Column("retraction", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("derivations", schema=None) as batch_op:
        batch_op.drop_column("retraction")
        batch_op.drop_column("retracted_by")
        batch_op.drop_column("retracted_at")
