"""Write a development .env with fresh secrets (used by `make run` once)."""

from __future__ import annotations

import base64
import os
import secrets
import sys
from pathlib import Path

target = Path(sys.argv[1] if len(sys.argv) > 1 else ".env")
example = Path(__file__).resolve().parent.parent / ".env.example"
text = example.read_text()
text = text.replace(
    "DJANGO_SECRET_KEY=change-me", f"DJANGO_SECRET_KEY={secrets.token_urlsafe(50)}"
)
key = base64.urlsafe_b64encode(os.urandom(32)).decode().rstrip("=")
text = text.replace("PORTAL_MASTER_KEYS=change-me", f"PORTAL_MASTER_KEYS={key}")
target.write_text(text)
target.chmod(0o600)
print(
    f"Wrote {target} with a new secret key and master key (keep it: the data is encrypted with it)."
)
