"""``manage.py`` in a checkout with no configuration: schema checks still run,
everything else stops with a clear message (not Django's "Models aren't
loaded yet")."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from django.conf import settings

BASE_DIR = Path(settings.BASE_DIR)


def _manage(*args: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=BASE_DIR,
        env={"PATH": "/usr/bin:/bin", "PORTAL_ENV_FILE": "/nonexistent", **env},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_makemigrations_check_runs_without_configuration():
    result = _manage("makemigrations", "--check", "--dry-run")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "No changes detected" in result.stdout
    assert "DJANGO_SECRET_KEY" in result.stderr  # says why it used test settings


def test_other_commands_stop_with_a_clear_configuration_error():
    result = _manage("migrate", "--plan")
    assert result.returncode == 1
    assert "Configuration error: Set the DJANGO_SECRET_KEY" in result.stderr
    assert "make env" in result.stderr
    assert "AppRegistryNotReady" not in result.stderr
