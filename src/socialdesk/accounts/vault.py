# SPDX-License-Identifier: AGPL-3.0-or-later
"""The credential vault: secrets encrypted at rest with rotatable keys (MultiFernet).

Keys come from ``SOCIALDESK_ENCRYPTION_KEYS`` (comma-separated, newest first) or, by
default, from ``<data_dir>/encryption.keys`` (one key a line, newest first, mode 0600),
created on first use. The newest key encrypts; every listed key decrypts.

Rotation (``socialdesk keys rotate``) writes a new key in front of the old ones,
re-encrypts every stored secret under it in small transactions (vault secrets, the
Mastodon app secrets in ``oauth_clients`` and the PKCE verifiers in ``oauth_states``),
and only then drops the old keys, so a crash half-way leaves every secret readable.
"""

from __future__ import annotations

import logging
import os
import threading
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from socialdesk.accounts import audit
from socialdesk.accounts.audit import Actor
from socialdesk.config import Settings
from socialdesk.errors import ConfigurationError, NotFound, VaultError
from socialdesk.storage.session import Database
from socialdesk.storage.tables import OAuthClient, OAuthState, VaultSecret
from socialdesk.storage.types import utcnow

logger = logging.getLogger(__name__)

ROTATION_BATCH = 500


def _parse_keys(values: Sequence[str], source: str) -> list[Fernet]:
    keys = [value.strip() for value in values if value.strip()]
    if not keys:
        raise ConfigurationError(f"no encryption key in {source}")
    fernets = []
    for position, key in enumerate(keys, start=1):
        try:
            fernets.append(Fernet(key.encode()))
        except ValueError:
            # Never echo the value: it is a secret even when malformed.
            raise ConfigurationError(
                f"encryption key #{position} in {source} is not a Fernet key "
                "(32 url-safe base64-encoded bytes)"
            ) from None
    return fernets


def _write_key_file(path: Path, keys: Sequence[str]) -> None:
    """Replace the key file atomically, readable by its owner only."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write("\n".join(keys) + "\n")
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


class Vault:
    """Encrypts and decrypts secrets; reloads the key file when another process rotated it."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._lock = threading.Lock()
        self._key_file_mtime: float | None = None
        self._fernet = self._load()

    @property
    def keys_from_environment(self) -> bool:
        return self._settings.encryption_keys is not None

    def _load(self) -> MultiFernet:
        if self._settings.encryption_keys is not None:
            values = self._settings.encryption_keys.get_secret_value().split(",")
            return MultiFernet(_parse_keys(values, "SOCIALDESK_ENCRYPTION_KEYS"))
        path = self._settings.encryption_key_file
        if not path.exists():
            self._settings.ensure_data_dir()
            try:
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            except FileExistsError:
                pass  # another process created it first
            else:
                with os.fdopen(fd, "w", encoding="utf-8") as handle:
                    handle.write(Fernet.generate_key().decode() + "\n")
                logger.info("created encryption key file %s", path)
        self._key_file_mtime = path.stat().st_mtime
        return MultiFernet(_parse_keys(path.read_text(encoding="utf-8").splitlines(), str(path)))

    def _reload_if_changed(self) -> bool:
        if self.keys_from_environment:
            return False
        mtime = self._settings.encryption_key_file.stat().st_mtime
        if mtime == self._key_file_mtime:
            return False
        with self._lock:
            self._fernet = self._load()
        return True

    def encrypt(self, plaintext: str) -> str:
        self._reload_if_changed()
        return self._fernet.encrypt(plaintext.encode()).decode()

    def decrypt(self, ciphertext: str) -> str:
        try:
            return self._fernet.decrypt(ciphertext.encode()).decode()
        except InvalidToken:
            if self._reload_if_changed():
                return self.decrypt(ciphertext)
            raise VaultError(
                "a stored secret cannot be decrypted with the configured keys; "
                "was an old encryption key removed too early?"
            ) from None

    def rotate_ciphertext(self, ciphertext: str) -> str:
        try:
            return self._fernet.rotate(ciphertext.encode()).decode()
        except InvalidToken:
            raise VaultError(
                "a stored secret cannot be decrypted with the configured keys; rotation stopped"
            ) from None


@dataclass(frozen=True, slots=True)
class RotationReport:
    secrets: int
    keys_from_environment: bool
    #: Mastodon app secrets and the verifiers of connect flows in progress.
    oauth_secrets: int = 0


def store_secret(
    session: Session, *, vault: Vault, workspace_id: uuid.UUID, purpose: str, value: str
) -> VaultSecret:
    """Encrypt and store ``value``; the row's id is what other tables refer to."""
    secret = VaultSecret(
        workspace_id=workspace_id, purpose=purpose, ciphertext=vault.encrypt(value)
    )
    session.add(secret)
    session.flush()
    return secret


def _get(session: Session, secret_id: uuid.UUID) -> VaultSecret:
    secret = session.get(VaultSecret, secret_id)
    if secret is None:
        raise NotFound("no such stored secret")
    return secret


def read_secret(session: Session, *, vault: Vault, secret_id: uuid.UUID) -> str:
    return vault.decrypt(_get(session, secret_id).ciphertext)


def replace_secret(session: Session, *, vault: Vault, secret_id: uuid.UUID, value: str) -> None:
    _get(session, secret_id).ciphertext = vault.encrypt(value)


def delete_secret(session: Session, *, secret_id: uuid.UUID) -> None:
    session.delete(_get(session, secret_id))


def rotate_keys(*, db: Database, settings: Settings, actor: Actor) -> RotationReport:
    """Re-encrypt every stored secret under a new key (or the first configured key).

    With a key file, a new key is generated and put first; old keys stay in the file
    until every secret is re-encrypted. With ``SOCIALDESK_ENCRYPTION_KEYS``, put the new
    key first in the variable yourself, run this, then remove the old keys.
    """
    vault = Vault(settings)
    path = settings.encryption_key_file
    old_keys: list[str] = []
    if not vault.keys_from_environment:
        old_keys = [k.strip() for k in path.read_text(encoding="utf-8").splitlines() if k.strip()]
        _write_key_file(path, [Fernet.generate_key().decode(), *old_keys])
        vault = Vault(settings)
    rotated = 0
    last_id: uuid.UUID | None = None
    while True:
        with db.transaction() as session:
            query = select(VaultSecret).order_by(VaultSecret.id).limit(ROTATION_BATCH)
            if last_id is not None:
                query = query.where(VaultSecret.id > last_id)
            batch = list(session.scalars(query))
            for secret in batch:
                secret.ciphertext = vault.rotate_ciphertext(secret.ciphertext)
                secret.updated_at = utcnow()
        if not batch:
            break
        rotated += len(batch)
        last_id = batch[-1].id
    oauth_secrets = _rotate_oauth_secrets(db=db, vault=vault)
    if not vault.keys_from_environment:
        new_key = path.read_text(encoding="utf-8").splitlines()[0].strip()
        _write_key_file(path, [new_key])
    with db.transaction() as session:
        audit.record(
            session,
            actor=actor,
            action="vault.rotate",
            details={
                "secrets": rotated,
                "oauth_secrets": oauth_secrets,
                "old_keys_dropped": len(old_keys),
            },
        )
    logger.info(
        "re-encrypted %s stored secrets and %s OAuth secrets under a new key",
        rotated,
        oauth_secrets,
    )
    return RotationReport(
        secrets=rotated,
        keys_from_environment=vault.keys_from_environment,
        oauth_secrets=oauth_secrets,
    )


def _rotate_oauth_secrets(*, db: Database, vault: Vault) -> int:
    """Re-encrypt the app secrets of ``OAuthClient`` and the verifiers of flows in progress."""
    rotated = 0
    for model, column in (
        (OAuthClient, OAuthClient.client_secret_ciphertext),
        (OAuthState, OAuthState.verifier_ciphertext),
    ):
        last_id: uuid.UUID | None = None
        while True:
            with db.transaction() as session:
                query = (
                    select(model.id, column)
                    .where(column.is_not(None))
                    .order_by(model.id)
                    .limit(ROTATION_BATCH)
                )
                if last_id is not None:
                    query = query.where(model.id > last_id)
                batch = list(session.execute(query))
                for row_id, ciphertext in batch:
                    if ciphertext is None:
                        continue
                    # A flow that finished meanwhile has no row left to update: fine.
                    session.execute(
                        update(model)
                        .where(model.id == row_id, column == ciphertext)
                        .values({column.key: vault.rotate_ciphertext(ciphertext)})
                    )
            if not batch:
                break
            rotated += len(batch)
            last_id = batch[-1][0]
    return rotated
