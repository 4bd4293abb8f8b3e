"""case_states: the text of each state of a case at an exchange, by its digest

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-07 18:00:00.000000

A case file's `base` and `earlier` name states of a case by digest (`casefile.state_digest`:
SHA-256 of the case as exported). This keeps the text of the states this archive exported,
imported or was left in by an import, so that an import of a file from an archive that
changed the case while this one did too can merge the two against the state both came from
(`casefile.merge_states`). Each row is checked against its digest when read: a row that
does not hash to its key is not used. Archives from before this revision have none: their
imports merge from the next exchange on.
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "case_states",
        sa.Column("digest", sqlmodel.sql.sqltypes.AutoString(length=71), nullable=False),
        sa.Column("case_slug", sqlmodel.sql.sqltypes.AutoString(length=80), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("digest"),
    )
    with op.batch_alter_table("case_states", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_case_states_case_slug"), ["case_slug"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("case_states", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_case_states_case_slug"))
    op.drop_table("case_states")
