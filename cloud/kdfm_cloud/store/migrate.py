"""Bring a database to the newest schema with Alembic, on the caller's engine."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config

_SCRIPTS = Path(__file__).with_name("migrations")


def upgrade(engine: sa.Engine, revision: str = "head") -> None:
    """Apply every migration up to `revision`; a database already there is left alone."""
    config = Config()
    config.set_main_option("script_location", str(_SCRIPTS))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)
