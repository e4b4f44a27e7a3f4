"""The seed_demo step: two appeals in different states through the services."""

from __future__ import annotations

import datetime
import random

import pytest

from appeals import demo as appeals_demo
from appeals.models import Appeal
from appeals.testing import fresh
from governance import demo
from metrics.models import Evaluation

pytestmark = pytest.mark.django_db


def test_step_is_registered_after_the_metrics_steps():
    steps = {s.name: s for s in demo.steps()}
    assert steps["appeals"].order > steps["metrics-feedback"].order


def test_seeds_one_appeal_under_review_and_one_closed(world):
    ctx = demo.DemoContext(rng=random.Random(1), today=datetime.date.today())
    ctx.users = {k: fresh(world.user(k)) for k in ("employee", "hr", "board")}
    appeals_demo.seed_appeals(ctx)
    states = dict(Appeal.objects.values_list("status", "outcome"))
    assert states == {"under_review": "", "closed": "partly_upheld"}
    assert Evaluation.objects.get(pk=world.evaluation.pk).status == "on_hold"
    assert ctx.counts["appeals"] == 2
