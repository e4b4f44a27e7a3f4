"""ASGI entry point. Refuses to start when the master keys can't open the data."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")

application = get_asgi_application()

from governance.checks import verify_keyring  # noqa: E402

verify_keyring()
