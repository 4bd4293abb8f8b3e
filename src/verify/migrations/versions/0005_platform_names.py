"""Platform names stored under another spelling (`ig`, `Instagram`) become the platform's name

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-07 14:00:00.000000

Before `ig`, `yt` and `fb` were read as instagram, youtube and facebook, accounts,
appearances and media records were stored under them (and a case file's media platform in
any letter case, as written). The tool reads every platform given it as its name now
(`vocab.platform_name`), so `ig:x` looked up `instagram:x` and missed the account stored
under `ig`, and created another. This stores each platform name as the tool would write it
now: trimmed, lowercase, an alias read as its platform (`ALIASES`, the aliases as they were
at this revision). Handles are left as stored: the tool finds an account by any spelling of
its handle (`provenance.find_account`), as it does the accounts stored before handles took
one spelling.

An account is moved only when no other account would then be the same one: none of the
same name, however spelt (`provenance.account_key`: the handle's one spelling, A-Z folded),
is stored under the platform's name or another of its names. Otherwise each account of
that name stored under another name is left as it was, not merged: which of two records is
the actor, or whether they are one, is for a person to say, and merging would move
attributions and appearances between them unseen. `verify check` lists those (`alias`
findings, which do not fail it).

The audit trail is left as it was: `verify check` compares a platform name, and an
account's ref, as the entry records it or as the platform is named now
(`statecheck.platform_now`, `statecheck.ref_now`).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The aliases of `vocab.PLATFORMS` at this revision (tests/test_migrations.py keeps the two
# alike: an alias added later needs a migration of its own, as this one is)
ALIASES = {
    "twitter": "x",
    "tg": "telegram",
    "ig": "instagram",
    "yt": "youtube",
    "fb": "facebook",
    "vkontakte": "vk",
    "bsky": "bluesky",
}


def platform_now(stored: str) -> str:
    """A stored platform name as the tool writes it now (`vocab.platform_name` at this
    revision); a blank one stays as stored (nothing is read as one)."""
    name = stored.strip().lower()
    return ALIASES.get(name, name) if name else stored


def _key(platform: str, handle: str) -> str:
    """Which account `handle` on `platform` (its name now) is, however spelt: its one
    spelling, A-Z folded (`provenance.account_key`)."""
    from verify.services.provenance import normalise_handle

    upper = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    return normalise_handle(platform, handle).translate(str.maketrans(upper, upper.lower()))


def upgrade() -> None:
    conn = op.get_bind()
    for name in ("appearances", "media"):
        table = sa.table(name, sa.column("id", sa.Integer()), sa.column("platform", sa.String()))
        rows = [
            {"row": ident, "now": platform_now(platform)}
            for ident, platform in conn.execute(sa.select(table.c.id, table.c.platform))
            if platform is not None and platform_now(platform) != platform
        ]
        if rows:
            conn.execute(
                table.update()
                .where(table.c.id == sa.bindparam("row"))
                .values(platform=sa.bindparam("now")),
                rows,
            )

    accounts = sa.table(
        "accounts",
        sa.column("id", sa.Integer()),
        sa.column("platform", sa.String()),
        sa.column("handle", sa.String()),
    )
    stored = conn.execute(
        sa.select(accounts.c.id, accounts.c.platform, accounts.c.handle).order_by(accounts.c.id)
    ).all()
    # every account by the one it would be on its platform's name now
    by_key: dict[tuple[str, str], list[int]] = {}
    for ident, platform, handle in stored:
        now = platform_now(platform)
        by_key.setdefault((now, _key(now, handle)), []).append(ident)
    moved = [
        {"row": ident, "now": platform_now(platform)}
        for ident, platform, handle in stored
        if platform_now(platform) != platform
        and len(by_key[(platform_now(platform), _key(platform_now(platform), handle))]) == 1
    ]
    if moved:
        conn.execute(
            accounts.update()
            .where(accounts.c.id == sa.bindparam("row"))
            .values(platform=sa.bindparam("now")),
            moved,
        )


def downgrade() -> None:
    # The spellings moved from are not kept: the names the tool writes are kept, which an
    # earlier version reads as well (it finds `instagram:x` as it did).
    pass
