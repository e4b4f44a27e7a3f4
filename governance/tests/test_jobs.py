"""Background work (G.JOB): on-commit enqueueing, bounded retries, real workers.

The worker tests start a real ``manage.py qcluster`` process against a
file-backed SQLite database, once with the ORM broker and once with the local
Redis server as broker.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from django.conf import settings
from django.db import transaction

from governance import jobs
from governance.audit import chain
from governance.models import AuditEvent

ROOT = Path(__file__).resolve().parents[2]


def test_cluster_retries_are_bounded_and_outlast_the_timeout():
    q = settings.Q_CLUSTER
    assert q["max_attempts"] >= 1
    assert q["retry"] > q["timeout"]


@pytest.mark.django_db
def test_jobs_are_enqueued_only_when_the_transaction_commits(
    django_capture_on_commit_callbacks,
):
    with (
        django_capture_on_commit_callbacks(execute=False) as callbacks,
        transaction.atomic(),
    ):
        jobs.enqueue_on_commit("governance.tasks.verify_audit_chain")
        assert AuditEvent.objects.filter(action="audit.verified").count() == 0
    assert len(callbacks) == 1
    callbacks[0]()  # commit happened: now the (synchronous, in tests) job runs
    event = AuditEvent.objects.get(action="audit.verified")
    assert event.data["ok"] is True
    assert chain.verify().ok


@pytest.mark.django_db
def test_rolled_back_transaction_enqueues_nothing(django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        try:
            with transaction.atomic():
                jobs.enqueue_on_commit("governance.tasks.verify_audit_chain")
                raise RuntimeError("rollback")
        except RuntimeError:
            pass
    assert callbacks == []
    assert not AuditEvent.objects.filter(action="audit.verified").exists()


@pytest.mark.django_db
def test_schedules_declared_in_code_are_synced():
    from django_q.models import Schedule

    schedule = Schedule.objects.get(name="governance.verify_audit_chain")
    assert schedule.func == "governance.tasks.verify_audit_chain"
    assert schedule.schedule_type == Schedule.DAILY
    assert (
        Schedule.objects.get(name="governance.clear_expired_sessions").schedule_type
        == Schedule.DAILY
    )


@pytest.mark.django_db
def test_expired_sessions_are_cleared(client, org):
    from django.contrib.sessions.models import Session
    from django.utils import timezone

    from governance.tasks import clear_expired_sessions

    client.force_login(org.users["hr"])
    client.get("/me/")
    Session.objects.update(expire_date=timezone.now() - timezone.timedelta(seconds=1))
    clear_expired_sessions()
    assert not Session.objects.exists()


def _redis_up() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 6379), timeout=0.5):
            return True
    except OSError:
        return False


def _env(db_path: Path, **extra: str) -> dict[str, str]:
    env = {
        k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL"}
    }
    env.update(
        DJANGO_SETTINGS_MODULE="portal.settings_test",
        DATABASE_URL=f"sqlite:///{db_path}",
        Q_SYNC="false",
        Q_CLUSTER_NAME=f"test-{uuid.uuid4().hex[:8]}",
        Q_WORKERS="1",
        PYTHONPATH=str(ROOT),
    )
    env.update(extra)
    return env


def _manage(env: dict[str, str], *args: str, timeout: int = 120) -> str:
    result = subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout


@pytest.mark.parametrize("broker", ["orm", "redis"])
def test_real_worker_runs_an_enqueued_job(tmp_path, broker):
    if broker == "redis" and not _redis_up():
        pytest.skip("Redis is not running on 127.0.0.1:6379")
    extra = {"REDIS_URL": "redis://127.0.0.1:6379/15"} if broker == "redis" else {}
    env = _env(tmp_path / "jobs.sqlite3", **extra)
    _manage(env, "migrate", "--noinput", "-v", "0")
    _manage(
        env,
        "shell",
        "--no-imports",
        "-c",
        "from django_q.tasks import async_task; async_task('governance.tasks.verify_audit_chain', task_name='nightly-verify')",
    )
    worker = subprocess.Popen(
        [sys.executable, "manage.py", "qcluster"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        check = (
            "from django_q.models import Success; from governance.models import AuditEvent; "
            "print(Success.objects.filter(name='nightly-verify').count(), "
            "AuditEvent.objects.filter(action='audit.verified').count())"
        )
        deadline = time.monotonic() + 60
        counts = ""
        while time.monotonic() < deadline:
            counts = _manage(env, "shell", "--no-imports", "-c", check).strip()
            if counts == "1 1":
                break
            time.sleep(1)
        assert counts == "1 1", (
            f"worker did not finish the job (success, events) = {counts!r}"
        )
    finally:
        worker.terminate()
        try:
            worker.wait(timeout=15)
        except subprocess.TimeoutExpired:
            worker.kill()
