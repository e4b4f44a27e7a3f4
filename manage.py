#!/usr/bin/env python
"""Django's command-line utility for administrative tasks."""

import os
import sys

#: Commands that only read the model graph and the migration files: they need
#: no secret, so in a checkout without configuration they run with the test
#: settings (fixed test keys) instead of failing.
SCHEMA_ONLY = {"makemigrations"}
#: Commands Django answers without settings.
NO_SETTINGS = {"", "help", "--help", "-h", "version", "--version"}


def _settings_problem() -> str | None:
    """Why the configured settings can't load, or None when they can."""
    from django.conf import settings
    from django.core.exceptions import ImproperlyConfigured

    try:
        settings.INSTALLED_APPS  # noqa: B018 - imports the settings module
    except ImproperlyConfigured as exc:
        return str(exc)
    return None


def main() -> None:
    configured = "DJANGO_SETTINGS_MODULE" in os.environ
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
    command = sys.argv[1] if len(sys.argv) > 1 else ""
    problem = _settings_problem()
    if problem and not configured and command in SCHEMA_ONLY:
        # Settings are lazy and not loaded yet after a failure: switch module.
        os.environ["DJANGO_SETTINGS_MODULE"] = "portal.settings_test"
        print(
            f"note: {problem}; `{command}` needs no secrets, so it runs with "
            "portal.settings_test.",
            file=sys.stderr,
        )
    elif problem and command not in NO_SETTINGS:
        # Django would otherwise go on without settings and fail later with a
        # confusing "Models aren't loaded yet".
        sys.exit(
            f"Configuration error: {problem}.\n"
            "For development run `make env` (writes a .env with fresh secrets; "
            "`make run` does it too); for production see .env.production.example."
        )
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
