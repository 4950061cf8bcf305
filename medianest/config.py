"""One typed settings object, read lazily from the environment and `.env`.

Nothing here runs at import time: call :func:`get_settings`. In production
(``MEDIANEST_ENV=production``) unsafe secrets stop the process with a message
naming the variable; in development missing secrets are generated once and
kept under the data directory so restarts keep sessions and encrypted data.
"""

from __future__ import annotations

import base64
import functools
import json
import logging
import os
import secrets
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import AliasChoices, Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

logger = logging.getLogger(__name__)

# Values that ship in examples and guides; a production install must not run with them.
_KNOWN_DEFAULT_SECRETS = {
    "",
    "change-me",
    "changeme",
    "secret",
    "your-secure-jwt-secret-min-64-chars",
    "your-32-byte-encryption-key",
    "dev-secret",
}
_MIN_SECRET_LENGTH = 32
_FILE_SUFFIX = "_FILE"
_SECRET_VARS = ("JWT_SECRET", "ENCRYPTION_KEY", "ADMIN_PASSWORD", "OVERSEERR_API_KEY",
                "UPTIME_KUMA_API_KEY", "UPTIME_KUMA_PASSWORD", "PLEX_TOKEN", "OVERSEERR_WEBHOOK_SECRET",
                "METRICS_TOKEN")
_MIN_ADMIN_PASSWORD_LENGTH = 12
# The most common leaked passwords of 12 characters or more (the shorter ones fail on length).
_COMMON_PASSWORDS = {
    "password1234", "123456789012", "qwertyuiop12", "qwertyuiopas", "1q2w3e4r5t6y", "passwordpassword",
    "iloveyou1234", "administrator", "adminadmin12", "admin1234567", "changemenow1", "letmein12345",
    "welcome12345", "password123!", "p@ssw0rd1234", "qwerty123456", "abc123456789", "111111111111",
    "000000000000", "123123123123", "medianest123", "medianestadmin", "supersecret1", "trustno1trustno1",
}


class SettingsError(RuntimeError):
    """The configuration is unusable; the message names the variable to fix."""


def _alias(*names: str) -> AliasChoices:
    return AliasChoices(*names)


class Settings(BaseSettings):
    """Every setting MediaNest reads, with its environment variable."""

    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8",
                                      extra="ignore", populate_by_name=True)

    env: Literal["development", "production", "test"] = Field(
        "development", validation_alias=_alias("MEDIANEST_ENV"))
    public_url: str = Field("http://127.0.0.1:3000", validation_alias=_alias("MEDIANEST_PUBLIC_URL"))
    data_dir: Path = Field(Path("data"), validation_alias=_alias("MEDIANEST_DATA_DIR"))
    log_level: str = Field("INFO", validation_alias=_alias("LOG_LEVEL"))
    log_json: bool | None = Field(None, validation_alias=_alias("LOG_JSON"))

    database_url: str = Field("", validation_alias=_alias("DATABASE_URL"))
    redis_url: str | None = Field(None, validation_alias=_alias("REDIS_URL"))
    redis_prefix: str = Field("medianest:", validation_alias=_alias("REDIS_KEY_PREFIX"))

    jwt_secret: SecretStr | None = Field(None, validation_alias=_alias("JWT_SECRET"))
    encryption_key: SecretStr | None = Field(None, validation_alias=_alias("ENCRYPTION_KEY"))
    session_days: int = Field(30, ge=1, le=365, validation_alias=_alias("SESSION_REMEMBER_DAYS"))
    session_idle_hours: int = Field(24, ge=1, validation_alias=_alias("SESSION_IDLE_HOURS"))
    trusted_proxy_hops: int = Field(0, ge=0, validation_alias=_alias("TRUSTED_PROXY_HOPS"))
    auth_rate_limit: int = Field(5, ge=1, validation_alias=_alias("AUTH_RATE_LIMIT"))
    auth_rate_window_s: int = Field(900, ge=1, validation_alias=_alias("AUTH_RATE_WINDOW_SECONDS"))

    plex_client_id: str | None = Field(None, validation_alias=_alias("PLEX_CLIENT_ID"))
    plex_tv_url: str = Field("https://plex.tv", validation_alias=_alias("PLEX_TV_URL"))
    plex_auth_url: str = Field("https://app.plex.tv/auth", validation_alias=_alias("PLEX_AUTH_URL"))
    plex_url: str | None = Field(None, validation_alias=_alias("PLEX_URL"))
    plex_token: SecretStr | None = Field(None, validation_alias=_alias("PLEX_TOKEN"))
    plex_login_timeout_s: int = Field(180, ge=5, validation_alias=_alias("PLEX_LOGIN_TIMEOUT_SECONDS"))
    http_timeout_s: float = Field(10.0, gt=0, validation_alias=_alias("HTTP_TIMEOUT_SECONDS"))

    overseerr_url: str | None = Field(None, validation_alias=_alias("OVERSEERR_URL"))
    overseerr_api_key: SecretStr | None = Field(None, validation_alias=_alias("OVERSEERR_API_KEY"))
    overseerr_webhook_secret: SecretStr | None = Field(None, validation_alias=_alias("OVERSEERR_WEBHOOK_SECRET"))
    tmdb_image_url: str = Field("https://image.tmdb.org/t/p", validation_alias=_alias("TMDB_IMAGE_URL"))
    request_limit_per_hour: int = Field(20, ge=1, validation_alias=_alias("REQUEST_LIMIT_PER_HOUR"))
    request_sync_interval_s: int = Field(120, ge=1, validation_alias=_alias("REQUEST_SYNC_INTERVAL_SECONDS"))
    request_retry_interval_s: int = Field(30, ge=1, validation_alias=_alias("REQUEST_RETRY_INTERVAL_SECONDS"))
    request_retry_max_s: int = Field(900, ge=1, validation_alias=_alias("REQUEST_RETRY_MAX_SECONDS"))
    search_cache_s: int = Field(300, ge=0, validation_alias=_alias("SEARCH_CACHE_SECONDS"))
    uptime_kuma_url: str | None = Field(None, validation_alias=_alias("UPTIME_KUMA_URL"))
    uptime_kuma_api_key: SecretStr | None = Field(None, validation_alias=_alias("UPTIME_KUMA_API_KEY"))

    uptime_kuma_status_page: str | None = Field(None, validation_alias=_alias("UPTIME_KUMA_STATUS_PAGE"))
    uptime_kuma_username: str | None = Field(None, validation_alias=_alias("UPTIME_KUMA_USERNAME"))
    uptime_kuma_password: SecretStr | None = Field(None, validation_alias=_alias("UPTIME_KUMA_PASSWORD"))

    status_check_interval_s: int = Field(60, ge=1, validation_alias=_alias("STATUS_CHECK_INTERVAL_SECONDS"))
    status_history_days: int = Field(7, ge=1, validation_alias=_alias("STATUS_HISTORY_DAYS"))
    breaker_fail_max: int = Field(5, ge=1, validation_alias=_alias("BREAKER_FAIL_MAX"))
    breaker_reset_s: float = Field(30.0, gt=0, validation_alias=_alias("BREAKER_RESET_SECONDS"))

    # YouTube downloads (see README "Downloads").
    downloads_root: Path | None = Field(None, validation_alias=_alias("DOWNLOADS_ROOT"))
    downloads_allowed_hosts: str = Field("", validation_alias=_alias("DOWNLOADS_ALLOWED_HOSTS"))
    downloads_allow_private: bool = Field(False, validation_alias=_alias("DOWNLOADS_ALLOW_PRIVATE_ADDRESSES"))
    downloads_per_hour: int = Field(5, ge=1, validation_alias=_alias("DOWNLOAD_LIMIT_PER_HOUR"))
    downloads_max_entries: int = Field(50, ge=1, le=1000, validation_alias=_alias("DOWNLOAD_MAX_ENTRIES"))
    downloads_max_file_mb: int = Field(4096, ge=1, validation_alias=_alias("DOWNLOAD_MAX_FILE_MB"))
    downloads_min_free_mb: int = Field(1024, ge=0, validation_alias=_alias("DOWNLOAD_MIN_FREE_MB"))
    downloads_concurrency: int = Field(2, ge=1, le=16, validation_alias=_alias("DOWNLOAD_CONCURRENCY"))
    downloads_sync_hours: float = Field(6.0, gt=0, validation_alias=_alias("DOWNLOAD_SYNC_INTERVAL_HOURS"))
    downloads_lease_s: float = Field(60.0, ge=5, validation_alias=_alias("DOWNLOAD_LEASE_SECONDS"))
    plex_downloads_library: str = Field("YouTube", validation_alias=_alias("PLEX_DOWNLOADS_LIBRARY"))
    downloads_quality: Literal["best", "1080", "720", "480", "audio"] = Field(
        "best", validation_alias=_alias("DOWNLOAD_QUALITY_DEFAULT"))

    metrics_token: SecretStr | None = Field(None, validation_alias=_alias("METRICS_TOKEN"))

    admin_username: str | None = Field(None, validation_alias=_alias("ADMIN_USERNAME"))
    admin_password: SecretStr | None = Field(None, validation_alias=_alias("ADMIN_PASSWORD"))

    @model_validator(mode="before")
    @classmethod
    def _read_secret_files(cls, data: Any) -> Any:
        """Let every secret come from ``NAME_FILE`` (Docker secrets) as well as ``NAME``."""
        if not isinstance(data, dict):
            return data
        for name in _SECRET_VARS:
            path = os.environ.get(name + _FILE_SUFFIX) or data.get(name + _FILE_SUFFIX)
            if path and not (os.environ.get(name) or data.get(name)):
                try:
                    data[name] = Path(path).read_text(encoding="utf-8").strip()
                except OSError as exc:
                    raise SettingsError(f"{name}{_FILE_SUFFIX} points at {path}, which cannot be read: "
                                        f"{exc.strerror}") from exc
        return data

    # ---- derived values -------------------------------------------------------------

    @property
    def is_production(self) -> bool:
        return self.env == "production"

    @property
    def sync_database_url(self) -> str:
        """The URL for Alembic and other synchronous callers."""
        return _normalise_db_url(self.database_url or f"sqlite:///{self.data_dir / 'medianest.db'}", asynchronous=False)

    @property
    def async_database_url(self) -> str:
        return _normalise_db_url(self.database_url or f"sqlite:///{self.data_dir / 'medianest.db'}", asynchronous=True)

    @property
    def downloads_dir(self) -> Path:
        """Where downloads are written (one folder per member); a Plex library serves it."""
        return self.downloads_root or self.data_dir / "downloads"

    @property
    def downloads_hosts(self) -> tuple[str, ...]:
        """Hosts (besides YouTube's) whose links members may download."""
        return tuple(h.strip().lower().rstrip(".") for h in self.downloads_allowed_hosts.split(",") if h.strip())

    @property
    def cookie_secure(self) -> bool:
        return urlsplit(self.public_url).scheme == "https"

    @property
    def allowed_origins(self) -> list[str]:
        """The app's own origin, plus its localhost/127.0.0.1 twin for local installs."""
        parts = urlsplit(self.public_url)
        origin = f"{parts.scheme}://{parts.netloc}"
        origins = [origin]
        twins = {"localhost": "127.0.0.1", "127.0.0.1": "localhost"}
        if parts.hostname in twins:
            port = f":{parts.port}" if parts.port else ""
            origins.append(f"{parts.scheme}://{twins[parts.hostname]}{port}")
        return origins

    def secret_value(self, name: str) -> str:
        """Return a secret field's plain value, or an empty string."""
        value = getattr(self, name)
        return value.get_secret_value() if value is not None else ""

    def secret_values(self) -> list[str]:
        """Every configured secret, plus any password inside the database and Redis URLs (for the
        log scrubber)."""
        values = [self.secret_value(name) for name, field in type(self).model_fields.items()
                  if field.annotation == SecretStr | None]
        for url in (self.database_url, self.redis_url):
            values.append(urlsplit(url).password or "" if url else "")
        return [value for value in values if value]

    def validate_for_startup(self) -> None:
        """Refuse unsafe secrets in production; fill them in for development.

        Raises:
            SettingsError: naming the variable that is missing, a default or too short.
        """
        if self.is_production:
            for field, var in (("jwt_secret", "JWT_SECRET"), ("encryption_key", "ENCRYPTION_KEY")):
                raw = self.secret_value(field)
                keys = [k.strip() for k in raw.split(",")] if field == "encryption_key" else [raw]
                for key in keys:
                    if key.lower() in _KNOWN_DEFAULT_SECRETS:
                        raise SettingsError(f"{var} is missing or set to a published default; set a random value "
                                            f"of at least {_MIN_SECRET_LENGTH} characters.")
                    if len(key) < _MIN_SECRET_LENGTH:
                        raise SettingsError(f"{var} is too short ({len(key)} characters); "
                                            f"use at least {_MIN_SECRET_LENGTH}.")
            if self.admin_password is not None:
                password = self.secret_value("admin_password")
                if len(password) < _MIN_ADMIN_PASSWORD_LENGTH:
                    raise SettingsError(f"ADMIN_PASSWORD is too short ({len(password)} characters); use at least "
                                        f"{_MIN_ADMIN_PASSWORD_LENGTH}, or leave it unset.")
                if (password.lower() in _COMMON_PASSWORDS or password.lower() in _KNOWN_DEFAULT_SECRETS
                        or len(set(password)) < 4):
                    raise SettingsError("ADMIN_PASSWORD is a well-known or easily guessed password; choose another "
                                        "or leave it unset.")
            if not self.database_url:
                raise SettingsError("DATABASE_URL is missing; production needs a PostgreSQL URL.")
            return
        if self.jwt_secret is None or self.encryption_key is None:
            stored = _load_or_create_dev_secrets(self.data_dir)
            if self.jwt_secret is None:
                self.jwt_secret = SecretStr(stored["JWT_SECRET"])
            if self.encryption_key is None:
                self.encryption_key = SecretStr(stored["ENCRYPTION_KEY"])


def _normalise_db_url(url: str, *, asynchronous: bool) -> str:
    """Map user-friendly URLs onto the drivers we ship (psycopg 3, aiosqlite)."""
    if url.startswith(("postgres://", "postgresql://")):
        rest = url.split("://", 1)[1]
        return f"postgresql+psycopg://{rest}"
    if url.startswith("sqlite+aiosqlite://"):
        url = "sqlite://" + url.split("://", 1)[1]
    if url.startswith("sqlite://"):
        return ("sqlite+aiosqlite://" + url.split("://", 1)[1]) if asynchronous else url
    return url


def _load_or_create_dev_secrets(data_dir: Path) -> dict[str, str]:
    """Keep generated development secrets in ``data/.secrets.json`` (mode 600)."""
    path = data_dir / ".secrets.json"
    try:
        stored: dict[str, str] = json.loads(path.read_text(encoding="utf-8"))  # the file this function writes
        if stored.get("JWT_SECRET") and stored.get("ENCRYPTION_KEY"):
            return stored
    except (OSError, ValueError):
        pass
    stored = {
        "JWT_SECRET": secrets.token_urlsafe(48),
        "ENCRYPTION_KEY": base64.urlsafe_b64encode(secrets.token_bytes(32)).decode(),
    }
    data_dir.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(stored), encoding="utf-8")
    os.chmod(tmp, 0o600)
    tmp.replace(path)
    logger.info("generated development secrets in %s", path)
    return stored


@functools.lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Read and validate the settings once per process."""
    settings = Settings()
    settings.validate_for_startup()
    return settings


def reset_settings_cache() -> None:
    """Forget the cached settings (tests change the environment between cases)."""
    get_settings.cache_clear()
