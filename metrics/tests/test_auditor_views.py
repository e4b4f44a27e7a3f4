"""What an auditor sees of people on the metrics pages: pseudonyms only.

Row labels that name a person (an evaluation's ``__str__``), history titles,
control-chart subjects and the exception report all use the pseudonym for an
auditor, the employee id for everyone else (Auditor role, M8.2).
"""

from __future__ import annotations

import pytest
from django.urls import reverse

from governance import pseudonyms
from metrics import selectors, services
from metrics.models import Evaluation
from metrics.testing import build_catalogue

pytestmark = pytest.mark.django_db


@pytest.fixture
def world(org):
    import datetime
    from decimal import Decimal

    from governance.services import save_governed

    cat = build_catalogue(org)
    services.record_observations(
        actor=None,
        rows=[
            {
                "metric": cat.calls.key,
                "employee_id": org.people["member_a1"].employee_id,
                "period_start": "2026-03-01",
                "value": "120",
            }
        ],
    )
    evaluation = Evaluation(
        person=org.people["member_a1"],
        evaluator=org.people["manager_a"],
        period_start=datetime.date(2026, 1, 1),
        period_end=datetime.date(2026, 6, 30),
        weights={"quantitative": 1},
        components={},
        score=Decimal("3.5"),
        rationale="steady",
    )
    save_governed(evaluation, actor=None, reason="sample")
    return cat, evaluation


@pytest.mark.parametrize("principal", ["auditor", "hr"])
@pytest.mark.parametrize("page", ["changelist", "change", "history"])
def test_evaluation_labels(client, org, world, principal, page):
    _, evaluation = world
    person = org.people["member_a1"]
    client.force_login(org.users[principal])
    args = [] if page == "changelist" else [evaluation.pk]
    response = client.get(reverse(f"admin:metrics_evaluation_{page}", args=args))
    assert response.status_code == 200
    html = response.content.decode()
    if principal == "auditor":
        assert person.employee_id not in html
        assert pseudonyms.pseudonym(person.pk) in html
    else:
        assert person.employee_id in html


@pytest.mark.parametrize("principal", ["auditor", "hr"])
def test_control_chart_subjects(org, world, principal):
    cat, _ = world
    person = org.people["member_a1"]
    labels = {
        s.label
        for s in selectors.subjects_of(cat.calls, org.users[principal])
        if s.kind == "person"
    }
    expected = (
        pseudonyms.pseudonym(person.pk)
        if principal == "auditor"
        else person.employee_id
    )
    assert labels == {expected}
