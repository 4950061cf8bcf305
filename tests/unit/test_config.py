"""Settings: production refuses unsafe secrets and names the variable; development fills them in."""

from __future__ import annotations

import stat

import pytest

from medianest.config import Settings, SettingsError

STRONG = "k" * 40


def _prod(**values) -> Settings:
    base = {"MEDIANEST_ENV": "production", "DATABASE_URL": "postgresql://u@db/medianest",
            "JWT_SECRET": STRONG, "ENCRYPTION_KEY": STRONG}
    base.update(values)
    return Settings(_env_file=None, **{k: v for k, v in base.items() if v is not None})


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch):
    for name in ("MEDIANEST_ENV", "JWT_SECRET", "ENCRYPTION_KEY", "DATABASE_URL", "ADMIN_PASSWORD",
                 "JWT_SECRET_FILE", "MEDIANEST_DATA_DIR"):
        monkeypatch.delenv(name, raising=False)


def test_production_accepts_strong_secrets():
    _prod().validate_for_startup()


@pytest.mark.parametrize("var", ["JWT_SECRET", "ENCRYPTION_KEY"])
def test_production_refuses_missing_secret_and_names_it(var):
    with pytest.raises(SettingsError, match=var):
        _prod(**{var: None}).validate_for_startup()


@pytest.mark.parametrize("value", ["change-me", "your-secure-jwt-secret-min-64-chars"])
def test_production_refuses_published_defaults(value):
    with pytest.raises(SettingsError, match="JWT_SECRET"):
        _prod(JWT_SECRET=value).validate_for_startup()


def test_production_refuses_short_secret_with_its_length():
    with pytest.raises(SettingsError, match=r"ENCRYPTION_KEY is too short \(10"):
        _prod(ENCRYPTION_KEY="0123456789").validate_for_startup()


def test_production_refuses_short_key_among_rotation_keys():
    with pytest.raises(SettingsError, match="ENCRYPTION_KEY"):
        _prod(ENCRYPTION_KEY=f"{STRONG},short").validate_for_startup()


def test_production_refuses_default_admin_password():
    with pytest.raises(SettingsError, match="ADMIN_PASSWORD"):
        _prod(ADMIN_PASSWORD="admin").validate_for_startup()


@pytest.mark.parametrize(("password", "why"), [
    ("password1", "too short"), ("hunter2", "too short"), ("password1234", "well-known"),
    ("123456789012", "well-known"), ("aaaaaaaaaaaaaaaa", "well-known")])
def test_production_refuses_a_weak_bootstrap_password_and_names_it(password, why):
    with pytest.raises(SettingsError, match=f"ADMIN_PASSWORD is (a )?{why}"):
        _prod(ADMIN_USERNAME="admin", ADMIN_PASSWORD=password).validate_for_startup()


def test_production_accepts_a_long_uncommon_bootstrap_password_and_none_at_all():
    _prod(ADMIN_USERNAME="admin", ADMIN_PASSWORD="tidy-otter-harbour-47").validate_for_startup()
    _prod(ADMIN_PASSWORD=None).validate_for_startup()


def test_development_keeps_accepting_a_short_bootstrap_password(tmp_path):
    Settings(_env_file=None, MEDIANEST_DATA_DIR=str(tmp_path), ADMIN_PASSWORD="password1").validate_for_startup()


def test_secret_values_lists_every_secret_for_the_log_scrubber():
    settings = _prod(OVERSEERR_API_KEY="ovs-key-123", METRICS_TOKEN="metrics-token-1",
                     DATABASE_URL="postgresql://u:db-pass-9@db/medianest", REDIS_URL="redis://:redis-pass-7@r:6379/0")
    assert {STRONG, "ovs-key-123", "metrics-token-1", "db-pass-9", "redis-pass-7"} <= set(settings.secret_values())


def test_production_needs_a_database_url():
    with pytest.raises(SettingsError, match="DATABASE_URL"):
        Settings(_env_file=None, MEDIANEST_ENV="production", JWT_SECRET=STRONG,
                 ENCRYPTION_KEY=STRONG).validate_for_startup()


def test_secret_from_file(tmp_path, monkeypatch):
    secret_file = tmp_path / "jwt"
    secret_file.write_text(STRONG + "\n")
    monkeypatch.setenv("JWT_SECRET_FILE", str(secret_file))
    settings = Settings(_env_file=None)
    assert settings.secret_value("jwt_secret") == STRONG


def test_unreadable_secret_file_names_the_variable(tmp_path, monkeypatch):
    monkeypatch.setenv("JWT_SECRET_FILE", str(tmp_path / "missing"))
    with pytest.raises(Exception, match="JWT_SECRET_FILE"):
        Settings(_env_file=None)


def test_development_generates_secrets_once_and_keeps_them(tmp_path):
    first = Settings(_env_file=None, MEDIANEST_DATA_DIR=str(tmp_path))
    first.validate_for_startup()
    second = Settings(_env_file=None, MEDIANEST_DATA_DIR=str(tmp_path))
    second.validate_for_startup()
    assert first.secret_value("jwt_secret") == second.secret_value("jwt_secret")
    assert len(first.secret_value("jwt_secret")) >= 32
    mode = (tmp_path / ".secrets.json").stat().st_mode
    assert not mode & (stat.S_IRGRP | stat.S_IROTH)


@pytest.mark.parametrize(("given", "sync", "async_"), [
    ("postgres://u@h/db", "postgresql+psycopg://u@h/db", "postgresql+psycopg://u@h/db"),
    ("postgresql://u@h/db", "postgresql+psycopg://u@h/db", "postgresql+psycopg://u@h/db"),
    ("sqlite:///data/x.db", "sqlite:///data/x.db", "sqlite+aiosqlite:///data/x.db"),
])
def test_database_urls_are_normalised(given, sync, async_):
    settings = Settings(_env_file=None, DATABASE_URL=given)
    assert settings.sync_database_url == sync
    assert settings.async_database_url == async_


def test_embedded_default_is_sqlite_under_data_dir(tmp_path):
    settings = Settings(_env_file=None, MEDIANEST_DATA_DIR=str(tmp_path))
    assert settings.sync_database_url == f"sqlite:///{tmp_path}/medianest.db"


def test_allowed_origins_include_the_loopback_twin():
    settings = Settings(_env_file=None, MEDIANEST_PUBLIC_URL="http://127.0.0.1:3000")
    assert settings.allowed_origins == ["http://127.0.0.1:3000", "http://localhost:3000"]
    assert Settings(_env_file=None, MEDIANEST_PUBLIC_URL="https://media.example.org").allowed_origins == [
        "https://media.example.org"]
