"""Is this file a report the portal issued, unaltered? (R.PDF integrity.)

The SHA-256 of the file's bytes must match a ``report.issued`` audit event.
Any change to the file, even one byte, changes the hash and the lookup fails.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .audit import issued_events

PDF_MAGIC = b"%PDF-"


class NotAPdf(ValueError):
    pass


def sha256_file(path: Path | str) -> str:
    digest = hashlib.sha256()
    with Path(path).open("rb") as handle:
        while block := handle.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


@dataclass(frozen=True)
class Verification:
    path: Path
    sha256: str
    event: Any | None  # the first report.issued AuditEvent, or None
    matches: int

    @property
    def ok(self) -> bool:
        return self.event is not None


def verify_file(path: Path | str) -> Verification:
    """Hash ``path`` and look the hash up in the audit trail.

    Raises :class:`NotAPdf` for a file that does not start with ``%PDF-``
    (checked first, so the message says what is wrong) and ``OSError`` for a
    file that cannot be read.
    """
    path = Path(path)
    with path.open("rb") as handle:
        head = handle.read(1024)
    if PDF_MAGIC not in head:
        raise NotAPdf(f"{path} is not a PDF file (no %PDF- header)")
    digest = sha256_file(path)
    events = list(issued_events(digest)[:5])
    return Verification(
        path=path,
        sha256=digest,
        event=events[0] if events else None,
        matches=len(events),
    )
