"""Project-wide pytest fixtures."""

from __future__ import annotations

import pytest


@pytest.fixture
def org(db):
    from governance.testing import build_org

    return build_org()


@pytest.fixture
def on_postgres():
    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL (run with DATABASE_URL=postgres://...)")
    return True


pytest_plugins = ["portal.testing_browser"]
