"""Envelope encryption keyring (G.ENC).

* Master keys come from ``settings.PORTAL_MASTER_KEYS`` (base64, 32 bytes each).
  The first is active: it wraps new and rotated data keys. The others only
  unwrap. A master key is identified by a fingerprint derived from the key
  itself, so a *wrong* key can never be mistaken for the right one.
* Every data subject (a person; plus two reserved subjects for organisation-level
  values and system secrets) has one 256-bit data key, stored wrapped in
  :class:`governance.models.DataKey`. Destroying the wrapped key
  crypto-shreds every value of that subject, history included.
* Values are sealed with AES-256-GCM; the associated data binds each ciphertext
  to its field and subject so values can't be swapped between people or fields.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import threading
import uuid
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

#: Subject for values that belong to no person (team- or organisation-level).
ORGANISATION_SUBJECT = uuid.UUID("00000000-0000-0000-0000-000000000001")
#: Subject for system secrets such as TOTP seeds.
SYSTEM_SUBJECT = uuid.UUID("00000000-0000-0000-0000-000000000002")

CIPHERTEXT_PREFIX = "pgp1:"
_NONCE = 12


class KeyringError(Exception):
    """Base class for key problems; messages never include key material."""


class MasterKeyUnavailable(KeyringError):
    """A data key is wrapped by a master key that is not configured."""


class SubjectErased(KeyringError):
    """The subject's data key was destroyed (crypto-shredded)."""


class CiphertextInvalid(KeyringError):
    """A ciphertext failed authentication (tampered, swapped or wrong key)."""


def fingerprint(key: bytes) -> str:
    """Stable identifier of a master key that reveals nothing about it."""
    return hmac.new(key, b"portal-master-key-id/v1", hashlib.sha256).hexdigest()[:16]


@dataclass(frozen=True)
class MasterKey:
    key_id: str
    aead: AESGCM


def parse_master_keys(raw: Iterable[str]) -> list[MasterKey]:
    """Parse the configured master keys, failing with a clear message."""
    keys: list[MasterKey] = []
    entries = [entry.strip() for entry in raw if entry.strip()]
    if not entries:
        raise ImproperlyConfigured(
            "PORTAL_MASTER_KEYS is not set. Field encryption needs at least one "
            "master key: generate one with `python manage.py generate_master_key` "
            "and put it in the environment (see .env.example)."
        )
    for position, entry in enumerate(entries, start=1):
        try:
            key = base64.urlsafe_b64decode(entry + "=" * (-len(entry) % 4))
        except (binascii.Error, ValueError):
            key = b""
        if len(key) != 32:
            raise ImproperlyConfigured(
                f"PORTAL_MASTER_KEYS entry {position} is not a base64-encoded "
                "32-byte key. Generate one with `python manage.py generate_master_key`."
            )
        keys.append(MasterKey(fingerprint(key), AESGCM(key)))
    return keys


def generate_master_key() -> str:
    return base64.urlsafe_b64encode(os.urandom(32)).decode().rstrip("=")


class Keyring:
    """Wraps and unwraps data keys; caches unwrapped keys by their wrapped form.

    The cache is content-addressed (master key id + wrapped bytes), so it can
    never outlive a shredded key: a shredded subject has no wrapped key left to
    look up, and callers always read the wrapped key from the database first.
    """

    def __init__(self, master_keys: list[MasterKey], cache_size: int = 50_000) -> None:
        self.master_keys = master_keys
        self.by_id = {key.key_id: key for key in master_keys}
        self.active = master_keys[0]
        self._cache: OrderedDict[tuple[str, bytes], AESGCM] = OrderedDict()
        self._cache_size = cache_size
        self._lock = threading.Lock()

    # -- data keys -----------------------------------------------------------

    def new_data_key(self, subject: uuid.UUID) -> tuple[str, bytes, AESGCM]:
        dek = AESGCM.generate_key(bit_length=256)
        key_id, wrapped = self.wrap(dek, subject)
        aead = AESGCM(dek)
        self._remember(key_id, wrapped, aead)
        return key_id, wrapped, aead

    def wrap(self, dek: bytes, subject: uuid.UUID) -> tuple[str, bytes]:
        nonce = os.urandom(_NONCE)
        wrapped = nonce + self.active.aead.encrypt(nonce, dek, _wrap_aad(subject))
        return self.active.key_id, wrapped

    def unwrap_raw(self, key_id: str, wrapped: bytes, subject: uuid.UUID) -> bytes:
        master = self.by_id.get(key_id)
        if master is None:
            raise MasterKeyUnavailable(
                f"The data key of subject {subject} is wrapped by master key "
                f"{key_id}, which is not in PORTAL_MASTER_KEYS (configured: "
                f"{', '.join(self.by_id)})."
            )
        try:
            return master.aead.decrypt(
                wrapped[:_NONCE], wrapped[_NONCE:], _wrap_aad(subject)
            )
        except InvalidTag as exc:
            raise CiphertextInvalid(
                f"The wrapped data key of subject {subject} failed authentication."
            ) from exc

    def unwrap(self, key_id: str, wrapped: bytes, subject: uuid.UUID) -> AESGCM:
        cache_key = (key_id, wrapped)
        aead = self._cache.get(cache_key)  # a plain dict read is atomic under the GIL
        if aead is not None:
            return aead
        aead = AESGCM(self.unwrap_raw(key_id, wrapped, subject))
        self._remember(key_id, wrapped, aead)
        return aead

    def forget(self, key_id: str, wrapped: bytes) -> None:
        with self._lock:
            self._cache.pop((key_id, bytes(wrapped)), None)

    def _remember(self, key_id: str, wrapped: bytes, aead: AESGCM) -> None:
        with self._lock:
            self._cache[(key_id, wrapped)] = aead
            while len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)  # oldest first


def _wrap_aad(subject: uuid.UUID) -> bytes:
    return b"dek|" + subject.bytes


def seal(aead: AESGCM, plaintext: bytes, aad: bytes) -> str:
    nonce = os.urandom(_NONCE)
    blob = nonce + aead.encrypt(nonce, plaintext, aad)
    return CIPHERTEXT_PREFIX + binascii.b2a_base64(blob, newline=False).decode("ascii")


_PREFIX_LEN = len(CIPHERTEXT_PREFIX)
_TAMPERED = (
    "Stored value failed authentication (tampered, moved between "
    "records, or encrypted under another key)."
)


def open_sealed(aead: AESGCM, token: str, aad: bytes) -> bytes:
    if not token.startswith(CIPHERTEXT_PREFIX):
        raise CiphertextInvalid("Stored value is not a portal ciphertext.")
    try:
        blob = binascii.a2b_base64(token[_PREFIX_LEN:])
        return aead.decrypt(blob[:_NONCE], blob[_NONCE:], aad)
    except (InvalidTag, binascii.Error, ValueError) as exc:
        raise CiphertextInvalid(_TAMPERED) from exc


def open_sealed_many(aead: AESGCM, tokens: Iterable[str], aad: bytes) -> list[bytes]:
    """:func:`open_sealed` for many tokens under one key and associated data,
    in one loop of C calls (thousands of history values per capture batch);
    the first bad token raises as :func:`open_sealed` would."""
    decrypt, a2b, skip = aead.decrypt, binascii.a2b_base64, _PREFIX_LEN
    opened = []
    try:
        for token in tokens:
            if not token.startswith(CIPHERTEXT_PREFIX):
                raise ValueError("not a portal ciphertext")
            blob = a2b(token[skip:])
            opened.append(decrypt(blob[:_NONCE], blob[_NONCE:], aad))
    except (InvalidTag, binascii.Error, ValueError) as exc:
        raise CiphertextInvalid(_TAMPERED) from exc
    return opened


_keyring: Keyring | None = None
_keyring_source: tuple[str, ...] | None = None
_keyring_lock = threading.Lock()


def get_keyring() -> Keyring:
    """The process keyring, rebuilt whenever the configured keys change."""
    global _keyring, _keyring_source
    source = tuple(settings.PORTAL_MASTER_KEYS)
    if _keyring is None or source != _keyring_source:
        with _keyring_lock:
            if _keyring is None or source != _keyring_source:
                _keyring = Keyring(parse_master_keys(source))
                _keyring_source = source
    return _keyring
