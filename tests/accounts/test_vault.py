# SPDX-License-Identifier: AGPL-3.0-or-later
from __future__ import annotations

import logging
import stat
from pathlib import Path

import pytest
from cryptography.fernet import Fernet, InvalidToken
from sqlalchemy import select

from socialdesk.accounts import vault as vault_module
from socialdesk.accounts.audit import Actor
from socialdesk.accounts.vault import (
    Vault,
    read_secret,
    rotate_keys,
    store_secret,
)
from socialdesk.config import Settings, load_settings
from socialdesk.errors import ConfigurationError, VaultError
from socialdesk.storage import Database
from socialdesk.storage.tables import AuditEvent, VaultSecret, Workspace

SECRET = "bsky-app-password-abcd-efgh"


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return load_settings(data_dir=tmp_path / "data", secret_key="k" * 48)


def _workspace(db: Database) -> Workspace:
    with db.transaction() as session:
        workspace = Workspace(name="Acme")
        session.add(workspace)
    return workspace


def test_key_file_is_created_private_on_first_use(settings: Settings) -> None:
    Vault(settings)
    mode = stat.S_IMODE(settings.encryption_key_file.stat().st_mode)
    assert mode == 0o600


def test_secrets_are_encrypted_at_rest(db: Database, settings: Settings) -> None:
    workspace = _workspace(db)
    vault = Vault(settings)
    with db.transaction(workspace_id=workspace.id) as session:
        secret = store_secret(
            session, vault=vault, workspace_id=workspace.id, purpose="bluesky", value=SECRET
        )
    with db.transaction() as session:
        stored = session.scalars(select(VaultSecret.ciphertext)).one()
    assert SECRET not in stored
    with db.transaction(workspace_id=workspace.id) as session:
        assert read_secret(session, vault=vault, secret_id=secret.id) == SECRET


def test_rotation_reencrypts_everything_and_drops_the_old_key(
    db: Database, settings: Settings
) -> None:
    workspace = _workspace(db)
    vault = Vault(settings)
    with db.transaction(workspace_id=workspace.id) as session:
        ids = [
            store_secret(
                session, vault=vault, workspace_id=workspace.id, purpose="p", value=f"{SECRET}{i}"
            ).id
            for i in range(7)
        ]
    old_key = settings.encryption_key_file.read_text().strip()
    report = rotate_keys(db=db, settings=settings, actor=Actor.cli())
    assert report.secrets == 7
    new_keys = settings.encryption_key_file.read_text().split()
    assert new_keys != [old_key]
    assert len(new_keys) == 1
    # A vault that knows only the new key reads everything; the old key alone reads nothing.
    fresh = Vault(settings)
    old_only = Fernet(old_key.encode())
    with db.transaction(workspace_id=workspace.id) as session:
        for index, secret_id in enumerate(ids):
            assert read_secret(session, vault=fresh, secret_id=secret_id) == f"{SECRET}{index}"
            ciphertext = session.get_one(VaultSecret, secret_id).ciphertext
            with pytest.raises(InvalidToken):
                old_only.decrypt(ciphertext.encode())
    # The process that still holds the old key list picks up the new file by itself.
    with db.transaction(workspace_id=workspace.id) as session:
        assert read_secret(session, vault=vault, secret_id=ids[0]) == f"{SECRET}0"
    with db.transaction() as session:
        assert session.scalars(select(AuditEvent.action)).all() == ["vault.rotate"]


def test_a_crash_during_rotation_leaves_every_secret_readable(
    db: Database, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    workspace = _workspace(db)
    vault = Vault(settings)
    with db.transaction(workspace_id=workspace.id) as session:
        ids = [
            store_secret(
                session, vault=vault, workspace_id=workspace.id, purpose="p", value=str(i)
            ).id
            for i in range(5)
        ]
    monkeypatch.setattr(vault_module, "ROTATION_BATCH", 2)
    calls = {"n": 0}
    original = Vault.rotate_ciphertext

    def crash_on_the_fourth(self: Vault, ciphertext: str) -> str:
        calls["n"] += 1
        if calls["n"] == 4:
            raise RuntimeError("power cut")
        return original(self, ciphertext)

    monkeypatch.setattr(Vault, "rotate_ciphertext", crash_on_the_fourth)
    with pytest.raises(RuntimeError, match="power cut"):
        rotate_keys(db=db, settings=settings, actor=Actor.cli())
    # Both keys are still in the file: old and new ciphertexts both decrypt.
    assert len(settings.encryption_key_file.read_text().split()) == 2
    monkeypatch.setattr(Vault, "rotate_ciphertext", original)
    reader = Vault(settings)
    with db.transaction(workspace_id=workspace.id) as session:
        assert [read_secret(session, vault=reader, secret_id=i) for i in ids] == [
            str(i) for i in range(5)
        ]
    # Running it again finishes the job.
    assert rotate_keys(db=db, settings=settings, actor=Actor.cli()).secrets == 5
    assert len(settings.encryption_key_file.read_text().split()) == 1


def test_keys_from_environment(tmp_path: Path) -> None:
    key = Fernet.generate_key().decode()
    settings = load_settings(data_dir=tmp_path, encryption_keys=key)
    vault = Vault(settings)
    assert vault.decrypt(vault.encrypt("x")) == "x"
    assert not settings.encryption_key_file.exists()


def test_a_malformed_key_is_refused_without_echoing_it(tmp_path: Path) -> None:
    settings = load_settings(data_dir=tmp_path, encryption_keys="not-a-key-super-secret")
    with pytest.raises(ConfigurationError) as caught:
        Vault(settings)
    assert "super-secret" not in str(caught.value)
    assert "#1" in str(caught.value)


def test_wrong_key_gives_a_vault_error(tmp_path: Path) -> None:
    first = Vault(load_settings(data_dir=tmp_path / "a"))
    second = Vault(load_settings(data_dir=tmp_path / "b"))
    with pytest.raises(VaultError, match="cannot be decrypted"):
        second.decrypt(first.encrypt(SECRET))


def test_secrets_never_reach_the_log(
    db: Database, settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    workspace = _workspace(db)
    vault = Vault(settings)
    with db.transaction(workspace_id=workspace.id) as session:
        store_secret(session, vault=vault, workspace_id=workspace.id, purpose="p", value=SECRET)
    rotate_keys(db=db, settings=settings, actor=Actor.cli())
    assert SECRET not in caplog.text
