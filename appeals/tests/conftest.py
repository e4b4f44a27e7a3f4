"""One world per test module (built once, rolled back at the end); each test
runs in its own savepoint inside it."""

from __future__ import annotations

import pytest
from django.db import transaction

from appeals.testing import build_world


@pytest.fixture(scope="module")
def world(django_db_setup, django_db_blocker):
    with django_db_blocker.unblock():
        outer = transaction.atomic()
        outer.__enter__()
        try:
            yield build_world()
        finally:
            transaction.set_rollback(True)
            outer.__exit__(None, None, None)
