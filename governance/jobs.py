"""Background work (G.JOB) on django-q2.

Jobs are enqueued only after the surrounding transaction commits, carry no
plaintext in their arguments (identifiers only), and are bounded by the
cluster's ``max_attempts``. Each task must be idempotent: running it twice has
the same effect as running it once.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction


def enqueue_on_commit(
    func: str, *args: Any, task_name: str | None = None, **kwargs: Any
) -> None:
    """Queue ``func`` (a dotted path) once the current transaction commits."""
    from django_q.tasks import async_task

    def _send() -> None:
        options: dict[str, Any] = {}
        if task_name:
            options["task_name"] = task_name
        async_task(func, *args, **kwargs, **options)

    transaction.on_commit(_send)
