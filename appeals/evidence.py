"""Evidence files: type recognised from content, sealing with the appellant's key.

The type check looks at the bytes, never at the file name or the browser's
content type: a PDF must start with ``%PDF-`` and end with ``%%EOF``; PNG and
JPEG must carry their signatures (and trailers); plain text must be UTF-8
without control characters or markup. Everything else is refused, including
HTML, scripts and executables (ELF, MZ/PE, Mach-O) whatever they are called.
"""

from __future__ import annotations

import os
import uuid
from typing import Any

from django.core.exceptions import ValidationError

from governance.crypto import store
from governance.crypto.keyring import SubjectErased

#: Largest accepted file (bytes). Django sets no limit on uploads by itself.
MAX_BYTES = 5 * 1024 * 1024
ALLOWED = {
    "application/pdf": ".pdf",
    "image/png": ".png",
    "image/jpeg": ".jpg",
    "text/plain": ".txt",
}
_EXECUTABLE = (b"\x7fELF", b"MZ", b"\xfe\xed\xfa", b"\xcf\xfa\xed\xfe", b"#!")
_MARKUP = (b"<!doctype", b"<html", b"<script", b"<svg", b"<?xml", b"<body", b"<head")


def sniff(data: bytes) -> str:
    """The MIME type of an allowed file, recognised from its content, or
    ValidationError saying why it is refused."""
    if not data:
        raise ValidationError("The file is empty.")
    if len(data) > MAX_BYTES:
        raise ValidationError(
            f"The file is too large ({len(data):,} bytes; the limit is "
            f"{MAX_BYTES // (1024 * 1024)} MB)."
        )
    if data.startswith(_EXECUTABLE):
        raise ValidationError("Programs and scripts can't be attached as evidence.")
    if data.startswith(b"%PDF-"):
        if b"%%EOF" not in data[-1024:]:
            raise ValidationError("The PDF is incomplete (no end-of-file marker).")
        return "application/pdf"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        if b"IEND" not in data[-32:]:
            raise ValidationError("The PNG image is incomplete.")
        return "image/png"
    if data.startswith(b"\xff\xd8\xff"):
        if not data.rstrip(b"\x00").endswith(b"\xff\xd9"):
            raise ValidationError("The JPEG image is incomplete.")
        return "image/jpeg"
    head = data[:4096].lstrip().lower()
    if head.startswith(b"<") or any(tag in head for tag in _MARKUP):
        raise ValidationError(
            "HTML, XML or SVG files can't be attached; attach a PDF instead."
        )
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        text = None
    if text is not None and not any(
        ord(c) < 32 and c not in "\t\r\n\f" for c in text[:65536]
    ):
        return "text/plain"
    raise ValidationError(
        "Only PDF, PNG, JPEG or plain-text files are accepted (recognised from "
        "the file's content, not its name)."
    )


def _aad(appellant_id: Any, evidence_id: uuid.UUID) -> bytes:
    return b"appeals.evidence|" + uuid.UUID(str(appellant_id)).bytes + evidence_id.bytes


def seal(data: bytes, *, appellant_id: Any, evidence_id: uuid.UUID) -> bytes:
    """AES-GCM under the appellant's data key, bound to this evidence row."""
    dek = store.key_for(appellant_id, create=True)
    if dek is store.ERASED_KEY:
        raise ValidationError("This person's data was erased; nothing can be stored.")
    nonce = os.urandom(12)
    return nonce + dek.encrypt(nonce, data, _aad(appellant_id, evidence_id))


def open_sealed(blob: bytes, *, appellant_id: Any, evidence_id: uuid.UUID) -> bytes:
    """The plaintext; SubjectErased once the appellant was crypto-shredded."""
    dek = store.key_for(appellant_id, create=False)
    if dek is store.ERASED_KEY:
        raise SubjectErased("The appellant's data was erased.")
    blob = bytes(blob)
    return dek.decrypt(blob[:12], blob[12:], _aad(appellant_id, evidence_id))


def safe_filename(name: str, content_type: str) -> str:
    """A download name: the stem kept to safe characters, the extension from
    the recognised type."""
    stem = os.path.splitext(os.path.basename(name or ""))[0]
    stem = "".join(c if c.isalnum() or c in "-_ " else "_" for c in stem).strip()
    return (stem[:80] or "evidence") + ALLOWED[content_type]
