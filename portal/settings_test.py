"""Fast, deterministic settings for the test suite (cookiecutter-django's test.py).

``DATABASE_URL`` still chooses the database, so CI runs the same suite on
SQLite and on PostgreSQL.
"""

import os

os.environ.setdefault("DJANGO_SECRET_KEY", "test-secret-key-" + "x" * 40)
os.environ.setdefault(
    "PORTAL_MASTER_KEYS",
    # Two fixed test keys: the first active, the second for rotation tests.
    "dGVzdC1tYXN0ZXIta2V5LW9uZS0zMi1ieXRlcy0wMDE,dGVzdC1tYXN0ZXIta2V5LXR3by0zMi1ieXRlcy0wMDI",
)
os.environ.setdefault(
    "PORTAL_ENV_FILE", "/nonexistent"
)  # never read a developer's .env
os.environ.setdefault("MFA_REQUIRED_FOR_PRIVILEGED", "false")

from .settings import *  # noqa: F403
from .settings import Q_CLUSTER

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
# Jobs run inline in tests unless a test starts a real worker (Q_SYNC=false).
Q_CLUSTER = {**Q_CLUSTER, "sync": os.environ.get("Q_SYNC", "true").lower() == "true"}
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
LOGGING = {"version": 1, "disable_existing_loggers": False}
MEDIA_ROOT = BASE_DIR / "var" / "test-media"  # noqa: F405
REPORT_ROOT = BASE_DIR / "var" / "test-reports"  # noqa: F405
# Rows the audit chain hashes as written (PostgreSQL's bulk path) are read back
# and compared in every test: a written form the database does not keep fails
# loudly here, not later in verify_audit. Benchmarks turn it off (bench/_django).
AUDIT_CHAIN_CHECK_WRITES = os.environ.get("AUDIT_CHAIN_CHECK_WRITES", "true") == "true"
