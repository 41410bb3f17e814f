"""Webhook signing secrets: the evaluator must sign with them, so they cannot be stored hashed.
They are stored encrypted (Fernet, from `cryptography`) in the receivers table, with the key in
a private file under DATA_DIR/secrets (0600): a copy of the database alone reveals none."""

from __future__ import annotations

import secrets
from pathlib import Path

from cryptography.fernet import Fernet

from core.files import locked, write_private


def key_file(data_dir: Path) -> Path:
    return data_dir / "secrets" / "alert-receivers.key"


def _fernet(data_dir: Path) -> Fernet:
    path = key_file(data_dir)
    with locked(path):
        if not path.exists():
            write_private(path, Fernet.generate_key().decode())
    return Fernet(path.read_text().strip().encode())


def new_secret() -> str:
    return secrets.token_urlsafe(32)


def seal(data_dir: Path, secret: str) -> str:
    return _fernet(data_dir).encrypt(secret.encode()).decode()


def unseal(data_dir: Path, sealed: str) -> str:
    return _fernet(data_dir).decrypt(sealed.encode()).decode()
