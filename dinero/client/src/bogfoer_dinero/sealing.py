"""Encryption at rest for tokens and API keys: AES-256-GCM with a key from configuration.

Each sealed value is `version byte | 12-byte nonce | ciphertext+tag`, and is bound to its
tenant and column through the associated data, so a value copied to another row will not
open. The key is held as `SecretStr` and never appears in a repr or log line.
"""

from __future__ import annotations

import base64
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from pydantic import SecretStr

__all__ = ["SealingError", "SecretSealer"]

_VERSION = b"\x01"
_NONCE_BYTES = 12


class SealingError(Exception):
    """A sealed value does not open with this key and context (wrong key, or tampered)."""


class SecretSealer:
    def __init__(self, key: SecretStr) -> None:
        try:
            raw = base64.urlsafe_b64decode(key.get_secret_value().encode())
        except ValueError:
            raise ValueError("the credentials key must be url-safe base64") from None
        if len(raw) != 32:
            raise ValueError("the credentials key must be 32 bytes (AES-256), base64-encoded")
        self._aead = AESGCM(raw)

    def __repr__(self) -> str:
        return "SecretSealer(key=**********)"

    @staticmethod
    def generate_key() -> str:
        """A new random key, in the form the configuration expects."""
        return base64.urlsafe_b64encode(AESGCM.generate_key(bit_length=256)).decode()

    def seal(self, plaintext: str, context: str) -> bytes:
        nonce = os.urandom(_NONCE_BYTES)
        return _VERSION + nonce + self._aead.encrypt(nonce, plaintext.encode(), context.encode())

    def open(self, sealed: bytes, context: str) -> str:
        if sealed[:1] != _VERSION or len(sealed) < 1 + _NONCE_BYTES + 16:
            raise SealingError("unknown sealed-value format")
        nonce, body = sealed[1 : 1 + _NONCE_BYTES], sealed[1 + _NONCE_BYTES :]
        try:
            return self._aead.decrypt(nonce, body, context.encode()).decode()
        except InvalidTag:
            raise SealingError("sealed value does not open with this key and context") from None
