"""Alembic environment: migrations run programmatically on archive open (verify.db.migrate)."""

import sqlmodel
from alembic import context
from sqlalchemy import engine_from_config, pool

from verify import models  # noqa: F401  (registers the tables on SQLModel.metadata)

target_metadata = sqlmodel.SQLModel.metadata
config = context.config


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    connectable = engine_from_config(
        config.get_section(config.config_ini_section) or {},
        prefix="sqlalchemy.",
        poolclass=pool.NullPool,
    )
    with connectable.connect() as conn:
        _run(conn)


def _run(connection: object) -> None:
    context.configure(
        connection=connection,  # type: ignore[arg-type]
        target_metadata=target_metadata,
        render_as_batch=True,
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


run_migrations_online()
