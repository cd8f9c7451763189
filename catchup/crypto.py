"""Encryption at rest for the few secrets Catchup stores (AWS access keys).

Fernet (AES-128-CBC + HMAC-SHA256, from the `cryptography` package) with a key
derived from CATCHUP_ENCRYPTION_KEY. Without that variable the key is derived
from SECRET_KEY, which works but ties the stored secrets to the session key:
rotating SECRET_KEY would make them unreadable, so `manage.py check` warns.
"""

from __future__ import annotations

import base64
import hashlib
import os
from typing import Any

from cryptography.fernet import Fernet, InvalidToken
from django.conf import settings
from django.core import checks

ENV_VAR = "CATCHUP_ENCRYPTION_KEY"
# Separates the derived key from other uses of the same secret.
CONTEXT = b"catchup.crypto.v1:"


class DecryptionError(Exception):
    """The stored value was written with another key (or was tampered with)."""


def _fernet() -> Fernet:
    # Read at each call, so a test or a restarted process picks up a new key.
    secret = os.environ.get(ENV_VAR) or settings.SECRET_KEY
    digest = hashlib.sha256(CONTEXT + secret.encode()).digest()
    return Fernet(base64.urlsafe_b64encode(digest))


def encrypt(plaintext: str) -> str:
    return _fernet().encrypt(plaintext.encode()).decode("ascii")


def decrypt(token: str) -> str:
    try:
        return _fernet().decrypt(token.encode("ascii")).decode()
    except (InvalidToken, ValueError) as exc:
        # Never include the token or the key in the message.
        raise DecryptionError(
            f"A stored secret cannot be decrypted: was {ENV_VAR} or SECRET_KEY changed?"
        ) from exc


# A deployment concern only: warned by `check --deploy`, not on every command
# of the embedded demo.
@checks.register(checks.Tags.security, deploy=True)
def check_encryption_key(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    if os.environ.get(ENV_VAR):
        return []
    return [
        checks.Warning(
            f"{ENV_VAR} is not set: stored AWS access keys are encrypted with a key derived "
            "from SECRET_KEY, and become unreadable if SECRET_KEY changes.",
            hint=f"Set {ENV_VAR} to a long random value (e.g. `openssl rand -base64 32`).",
            id="catchup.W001",
        )
    ]
