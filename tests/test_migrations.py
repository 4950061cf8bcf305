"""The Alembic migrations and the SQLModel models describe the same schema, on PostgreSQL and SQLite."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, inspect
from sqlmodel import SQLModel

from medianest import models  # noqa: F401
from tests.conftest import run_migrations


def _diff(url: str) -> list:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            ctx = MigrationContext.configure(conn, opts={"compare_type": True})
            return compare_metadata(ctx, SQLModel.metadata)
    finally:
        engine.dispose()


def test_postgres_migrations_match_models(database_url):
    assert database_url.startswith("postgresql")
    assert _diff(database_url) == []


def test_sqlite_migrations_match_models(tmp_path):
    url = f"sqlite:///{tmp_path / 'embedded.db'}"
    run_migrations(url)
    assert _diff(url) == []
    tables = set(inspect(create_engine(url)).get_table_names())
    assert {"users", "user_sessions", "service_configs", "service_status", "media_requests",
            "youtube_downloads", "audit_log", "system_settings", "alembic_version"} <= tables


def test_downgrade_and_upgrade_again(tmp_path):
    from alembic.config import Config

    from alembic import command
    from tests.conftest import ROOT

    url = f"sqlite:///{tmp_path / 'cycle.db'}"
    cfg = Config(str(ROOT / "alembic.ini"))
    cfg.attributes["url"] = url
    command.upgrade(cfg, "head")
    command.downgrade(cfg, "base")
    assert set(inspect(create_engine(url)).get_table_names()) <= {"alembic_version"}
    command.upgrade(cfg, "head")
    assert _diff(url) == []
