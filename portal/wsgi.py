"""WSGI entry point. Refuses to start when the master keys can't open the data."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")

application = get_wsgi_application()

from governance.checks import verify_keyring  # noqa: E402

verify_keyring()
