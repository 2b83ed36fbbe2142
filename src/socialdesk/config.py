# SPDX-License-Identifier: AGPL-3.0-or-later
"""The one settings class, read at start-up from ``SOCIALDESK_*`` variables and ``.env``.

Nothing here runs at import time: call :func:`load_settings` where a process starts
(the CLI, the app factory, a test) and pass the result down.
"""

from __future__ import annotations

import os
import secrets
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import platformdirs
from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from socialdesk.errors import ConfigurationError

#: Values people copy from examples; refused as a secret in production.
_KNOWN_DEFAULT_SECRETS = frozenset(
    {"", "changeme", "change-me", "changethis", "secret", "socialdesk", "development", "dev"}
)
_MIN_SECRET_LENGTH = 32

#: What ``SOCIALDESK_NETWORK_URLS`` may point elsewhere: a network's API, its consent page
#: (``authorize``), or LinkedIn's OAuth host (``oauth``).
NETWORK_URL_KEYS = frozenset(
    {
        "x.api",
        "x.authorize",
        "linkedin.api",
        "linkedin.oauth",
        "facebook.api",
        "facebook.authorize",
        "instagram.api",
        "threads.api",
        "threads.authorize",
    }
)


class Environment(StrEnum):
    DEVELOPMENT = "development"
    PRODUCTION = "production"


def default_data_dir() -> Path:
    return Path(platformdirs.user_data_dir("socialdesk", appauthor=False))


class Settings(BaseSettings):
    """socialdesk's configuration. Every field is ``SOCIALDESK_<NAME>`` in the environment."""

    model_config = SettingsConfigDict(
        env_prefix="SOCIALDESK_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    env: Environment = Environment.DEVELOPMENT
    data_dir: Annotated[Path, Field(default_factory=default_data_dir)]
    database_url: str | None = None
    secret_key: SecretStr | None = None
    #: Fernet keys, comma-separated, newest first. Default: ``<data_dir>/encryption.keys``.
    encryption_keys: SecretStr | None = None
    #: Where people and networks reach this server. OAuth consent pages send the browser
    #: back to ``<base_url>/oauth/callback/<network>``, and Instagram and Threads download
    #: media from ``<base_url>/media/...``: for those two it must be reachable by Meta.
    base_url: str = "http://127.0.0.1:8000"
    redis_url: str | None = None
    session_max_age_seconds: int = 14 * 24 * 3600
    login_rate_limit: str = "10/minute"
    cookie_secure: bool | None = None
    job_lease_seconds: Annotated[int, Field(ge=5, le=300)] = 30
    worker_poll_seconds: Annotated[float, Field(gt=0, le=60)] = 1.0
    log_level: str = "INFO"

    # -- the networks' OAuth apps (from each network's developer console) ----------------
    # A network whose app is not set shows "not configured" on the Channels page.
    x_client_id: str | None = None
    #: Only for a confidential X client; a public client (PKCE only) has none.
    x_client_secret: SecretStr | None = None
    linkedin_client_id: str | None = None
    linkedin_client_secret: SecretStr | None = None
    #: LinkedIn turns PKCE on per app, on request; send a code challenge only if it did.
    linkedin_pkce: bool = False
    #: One Meta app serves Facebook Pages and Instagram (Instagram API with Facebook Login).
    meta_app_id: str | None = None
    meta_app_secret: SecretStr | None = None
    threads_app_id: str | None = None
    threads_app_secret: SecretStr | None = None
    #: Other addresses for a network's API or consent page (a proxy, the fakes in tests),
    #: as JSON: ``{"x.api": "http://127.0.0.1:8766", "x.authorize": "http://…"}``.
    #: Keys: see :data:`NETWORK_URL_KEYS`.
    network_urls: dict[str, str] = Field(default_factory=dict)
    #: The token Meta sends back when a webhook subscription is verified (``hub.verify_token``).
    meta_webhook_verify_token: SecretStr | None = None

    # -- e-mail (inbox alerts); nothing is e-mailed unless a host is set ------------------
    smtp_host: str | None = None
    smtp_port: int = 587
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_from: str = "socialdesk@localhost"
    #: STARTTLS after connecting (port 587); set false only for a local relay.
    smtp_starttls: bool = True

    @field_validator("network_urls")
    @classmethod
    def _known_network_urls(cls, value: dict[str, str]) -> dict[str, str]:
        unknown = sorted(set(value) - NETWORK_URL_KEYS)
        if unknown:
            known = ", ".join(sorted(NETWORK_URL_KEYS))
            raise ValueError(f"unknown key(s) {', '.join(unknown)}; known keys: {known}")
        for key, url in value.items():
            if not url.startswith(("http://", "https://")):
                raise ValueError(f"{key} must be an http(s) URL")
        return {key: url.rstrip("/") for key, url in value.items()}

    @model_validator(mode="after")
    def _refuse_default_secret_in_production(self) -> Settings:
        if self.env is Environment.PRODUCTION:
            value = self.secret_key.get_secret_value() if self.secret_key else ""
            if value.strip().lower() in _KNOWN_DEFAULT_SECRETS or len(value) < _MIN_SECRET_LENGTH:
                raise ConfigurationError(
                    "SOCIALDESK_SECRET_KEY must be set to a random value of at least "
                    f"{_MIN_SECRET_LENGTH} characters in production "
                    "(for example: python -c 'import secrets; print(secrets.token_urlsafe(48))')"
                )
        return self

    @property
    def is_production(self) -> bool:
        return self.env is Environment.PRODUCTION

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.data_dir / 'socialdesk.db'}"

    @property
    def media_dir(self) -> Path:
        return self.data_dir / "media"

    @property
    def encryption_key_file(self) -> Path:
        return self.data_dir / "encryption.keys"

    @property
    def secure_cookies(self) -> bool:
        if self.cookie_secure is not None:
            return self.cookie_secure
        return self.is_production or self.base_url.startswith("https://")

    def ensure_data_dir(self) -> None:
        """Create the data directory (0700) and the media folder under it."""
        self.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.media_dir.mkdir(exist_ok=True, mode=0o700)

    def resolved_secret_key(self) -> str:
        """The signing secret; in development one is generated once into the data dir."""
        if self.secret_key is not None and self.secret_key.get_secret_value():
            return self.secret_key.get_secret_value()
        self.ensure_data_dir()
        return read_or_create_secret_file(self.data_dir / "secret.key", secrets.token_urlsafe(48))


def read_or_create_secret_file(path: Path, initial: str) -> str:
    """Return the file's content, creating it with ``initial`` and mode 0600 if absent."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text(encoding="utf-8").strip()
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(initial + "\n")
    return initial


def load_settings(**overrides: object) -> Settings:
    """Read settings from the environment (and ``.env``), with explicit overrides on top."""
    return Settings(**overrides)  # type: ignore[arg-type]
