"""Demo data for the metrics layer, as ``manage.py seed_demo`` steps.

Registered from :meth:`metrics.apps.MetricsConfig.ready` into the kernel's step
registry (:mod:`governance.demo`), after every governance step (orders 200+,
so consents, if a consent step is registered, exist first):

``metrics-catalogue`` (200)
    Strategic objectives; data sources (Jira, Workday, Zendesk, Salesforce,
    manual entry, a survey tool) with refresh cycles and latency windows; a
    metric catalogue per team function (leading and lagging; individual KPIs
    aligned to team outcomes aligned to objectives) with owners, stewards and
    validation rules; lineage steps, some undocumented; SMART targets; declared
    conflicts; a high-impact metric left *proposed* for the review board.
``metrics-observations`` (210)
    A year of monthly, weekly, daily and quarterly values per person and team,
    written through :func:`metrics.services.record_observations` in batches,
    with planted input errors, a documented process shift and a gaming-like
    pattern (see :data:`PLANTED`), plus a methodology change mid-year.
``metrics-feedback`` (220)
    Peer feedback (rotating assignment), stakeholder feedback and evaluations
    with documented weights, written with ``save_governed``.
``metrics-incentives`` (230)
    An active incentive plan (Platform, high interdependence, 60 % team
    weight), a draft plan with a silo risk (Support Desk), the gaming detection
    run over the observations, and a Support peer-review cycle with generated
    assignments.

Consent: individual-level rows go through every registered capture guard first
(:func:`metrics.services.validate_rows`, the governed path). Rows a guard
refuses for a person (e.g. no active consent in a jurisdiction that requires
it) are left out and counted, never forced in; feedback and evaluations are
only built for people whose individual data was recorded.

Everything is deterministic (the shared ``ctx.rng``) and dated relative to
``ctx.today``.
"""

from __future__ import annotations

import calendar
import datetime
import math
import statistics
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.utils import timezone

from governance.classification import Sensitivity
from governance.demo import TEAMS, DemoContext
from governance.models import Person
from governance.services import save_governed
from metrics import services
from metrics.analytics import anomalies
from metrics.analytics.peer_review import assign_peer_reviewers
from metrics.models import (
    Annotation,
    DataSource,
    Evaluation,
    Metric,
    MetricConflict,
    MetricTarget,
    Observation,
    PeerFeedback,
    StakeholderFeedback,
    StrategicObjective,
    TransformationStep,
)

CONF, INT = Sensitivity.CONFIDENTIAL, Sensitivity.INTERNAL

# -- the catalogue, as data ------------------------------------------------------


@dataclass(frozen=True)
class ObjectiveSpec:
    code: str
    title: str
    description: str
    owner: str  # person key


OBJECTIVES = (
    ObjectiveSpec("grow-arr", "Grow recurring revenue by 25%", "New and expansion ARR across enterprise and inside sales.", "head:sales"),
    ObjectiveSpec("cx-first-time", "Resolve customer issues the first time", "Faster, first-contact resolution without reopened tickets.", "head:support"),
    ObjectiveSpec("ship-reliably", "Ship often without breaking things", "Deployment frequency up, change failures and recovery time down.", "head:product-eng"),
    ObjectiveSpec("great-place", "Hire well and keep our people", "Time to hire, onboarding and regretted attrition.", "head:people"),
    ObjectiveSpec("audit-ready", "Stay audit-ready", "Privacy requests on time, controls tested, findings closed.", "head:people"),
)  # fmt: skip


@dataclass(frozen=True)
class SourceSpec:
    code: str
    name: str
    system: str
    system_of_record: bool
    refresh_cycle: str
    latency_hours: int
    classification: int
    owner: str | None
    documented: bool


SOURCES = (
    SourceSpec("jira", "Jira Cloud", "jira", True, "every 15 minutes (webhooks + nightly reconcile)", 1, INT, "lead:platform", True),
    SourceSpec("workday", "Workday HCM", "workday", True, "nightly at 02:00 UTC", 24, CONF, "lead:people-ops", True),
    SourceSpec("zendesk", "Zendesk Support", "zendesk", True, "hourly incremental export", 2, INT, "lead:support-desk", True),
    SourceSpec("salesforce", "Salesforce CRM", "salesforce", True, "nightly at 01:00 UTC", 24, CONF, "steward:sales", True),
    SourceSpec("manual", "Manual entry (monthly sheets)", "manual", False, "monthly, by the 5th working day", 120, CONF, None, True),
    SourceSpec("pulse", "Pulse survey (CSAT and engagement)", "survey", False, "monthly CSAT, quarterly engagement", 336, INT, "lead:people-ops", False),
)  # fmt: skip


@dataclass(frozen=True)
class Series:
    """How a metric's values are generated: a noisy mean with an optional trend."""

    mean: float
    sd: float
    trend: float = 0.0  # change of the mean across the year
    places: int = 1
    lo: float | None = None
    hi: float | None = None
    person_sd: float = 0.0  # spread of personal means, as a fraction (individuals)


@dataclass(frozen=True)
class StepSpec:
    source: str | None
    description: str
    documented: bool = True


@dataclass(frozen=True)
class MetricSpec:
    key: str
    name: str
    description: str
    indicator: str
    level: str
    unit: str
    direction: str
    sensitivity: int
    source: str
    frequency: str
    department: str
    team: str | None
    owner: str  # person key
    calculation: str
    rules: dict[str, Any]
    series: Series | None
    objective: str | None = None
    aligned_to: str | None = None
    people_teams: tuple[str, ...] = ()  # individual metrics: whose values
    steps: tuple[StepSpec, ...] = ()
    status: str = "active"
    impact: str = "standard"
    non_punitive: bool = False


L, G = "leading", "lagging"
IND, TEAM, ORG = "individual", "team", "organisation"
HI, LO = "higher", "lower"
_S = StepSpec

METRICS: tuple[MetricSpec, ...] = (
    # Enterprise Sales (+ DACH below it)
    MetricSpec("sales.new_arr", "New ARR (Enterprise)", "New annual recurring revenue signed by Enterprise Sales, incl. DACH.", G, TEAM, "k EUR", HI, CONF, "salesforce", "monthly", "sales", "ent-sales", "lead:ent-sales",
               "Sum of first-year ARR on opportunities closed-won in the month (EUR, thousands).", {"min": 0, "max": 5000},
               Series(150, 28, trend=30, places=1, lo=40), objective="grow-arr",
               steps=(_S("salesforce", "Closed-won opportunities, close date in the month, owner in Enterprise Sales or DACH."), _S(None, "Multi-year contracts reduced to first-year ARR; FX to EUR at the month-end ECB rate."))),
    MetricSpec("sales.qualified_meetings", "Qualified meetings", "First meetings with a qualified buyer, logged in the CRM.", L, IND, "meetings", HI, CONF, "salesforce", "weekly", "sales", "ent-sales", "lead:ent-sales",
               "Count of meetings with status ‘qualified’ held Monday to Sunday.", {"min": 0, "max": 60, "integer_only": True},
               Series(8, 2.5, places=0, lo=0, person_sd=0.2), aligned_to="sales.new_arr", people_teams=("ent-sales", "ent-sales-dach"),
               steps=(_S("salesforce", "Events of type ‘First meeting’ with the qualification checkbox set, by event owner."),)),
    MetricSpec("sales.pipeline_generated", "Pipeline generated", "New pipeline created per account executive.", L, IND, "k EUR", HI, CONF, "manual", "monthly", "sales", "ent-sales", "lead:ent-sales",
               "Sum of opportunity amounts created in the month (EUR, thousands), from each AE's monthly sheet.", {"min": 0},
               Series(185, 45, trend=20, places=2, lo=20, person_sd=0.2), aligned_to="sales.new_arr", people_teams=("ent-sales", "ent-sales-dach"),
               steps=(_S("manual", "Each AE fills the monthly pipeline sheet; the team lead uploads it."),)),
    MetricSpec("sales.dach_pipeline_coverage", "Pipeline coverage (DACH)", "Open pipeline against the remaining quarterly quota.", L, TEAM, "×", HI, INT, "salesforce", "monthly", "sales", "ent-sales-dach", "lead:ent-sales-dach",
               "Open weighted pipeline ÷ remaining quota of the quarter.", {"min": 0, "max": 20},
               Series(3.1, 0.35, trend=0.3, places=2, lo=1), objective="grow-arr",
               steps=(_S("salesforce", "Weighted open pipeline by stage probability."), _S(None, "Divided by the quota remaining in the quarter (from the quota sheet)."))),
    MetricSpec("sales.dach_win_rate", "Win rate (DACH)", "Closed-won share of closed opportunities.", G, TEAM, "%", HI, INT, "salesforce", "monthly", "sales", "ent-sales-dach", "lead:ent-sales-dach",
               "Closed-won ÷ (closed-won + closed-lost) in the month.", {"min": 0, "max": 100},
               Series(23, 3.5, trend=2, places=1, lo=5, hi=60), objective="grow-arr",
               steps=(_S("salesforce", "Opportunities closed in the month, DACH territory."),)),
    # Inside Sales
    MetricSpec("sales.inside_conversion_rate", "Lead-to-opportunity conversion", "Share of inbound leads that become opportunities.", G, TEAM, "%", HI, INT, "salesforce", "monthly", "sales", "inside-sales", "lead:inside-sales",
               "Leads converted to an opportunity ÷ leads received in the month.", {"min": 0, "max": 100},
               Series(14, 1.8, places=1, lo=5, hi=40), objective="grow-arr",
               steps=(_S("salesforce", "Lead conversion report, inbound sources only."),)),
    MetricSpec("sales.outbound_calls", "Outbound calls", "Connected outbound calls per rep (weekly quota: 60).", L, IND, "calls", HI, CONF, "salesforce", "weekly", "sales", "inside-sales", "lead:inside-sales",
               "Count of logged calls with a connected outcome, Monday to Sunday.", {"min": 0, "max": 400, "integer_only": True},
               Series(61, 9, places=0, lo=20, person_sd=0.08), aligned_to="sales.inside_conversion_rate", people_teams=("inside-sales",),
               steps=(_S("salesforce", "Tasks of type Call with outcome ‘connected’, by assignee."),)),
    MetricSpec("sales.inside_deals_closed", "Deals closed (Inside Sales)", "Deals closed-won per day.", G, TEAM, "deals", HI, INT, "salesforce", "daily", "sales", "inside-sales", "lead:inside-sales",
               "Count of opportunities closed-won on the day.", {"min": 0, "max": 200, "integer_only": True},
               None, objective="grow-arr",
               steps=(_S("salesforce", "Closed-won opportunities by close date."),)),
    MetricSpec("sales.quota_attainment", "Quota attainment", "Share of the monthly quota achieved; proposed as an input to variable pay.", G, IND, "%", HI, CONF, "salesforce", "monthly", "sales", "inside-sales", "lead:inside-sales",
               "Closed-won amount ÷ monthly quota × 100.", {"min": 0, "max": 500},
               None, aligned_to="sales.inside_conversion_rate", people_teams=("inside-sales",), status="proposed", impact="high",
               steps=(_S("salesforce", "Closed-won amount by opportunity owner."), _S(None, "Quota from the compensation plan spreadsheet.", documented=False))),
    # Growth Marketing: lagging only (the portfolio warns)
    MetricSpec("marketing.sourced_pipeline", "Marketing-sourced pipeline", "Pipeline whose first touch was a marketing campaign.", G, TEAM, "k EUR", HI, INT, "salesforce", "monthly", "sales", "growth", "lead:growth",
               "Sum of opportunity amounts with a marketing first touch, created in the month.", {"min": 0},
               Series(420, 60, trend=60, places=0, lo=100), objective="grow-arr",
               steps=(_S("salesforce", "Opportunities created in the month with campaign attribution."), _S(None, "First-touch attribution model applied in a saved CRM report.", documented=False))),
    MetricSpec("marketing.mql_to_sql_rate", "MQL-to-SQL rate", "Share of marketing-qualified leads accepted by sales.", G, TEAM, "%", HI, INT, "salesforce", "monthly", "sales", "growth", "lead:growth",
               "SQLs ÷ MQLs created in the month.", {"min": 0, "max": 100},
               Series(31, 3.5, places=1, lo=10, hi=70), objective="grow-arr",
               steps=(_S("salesforce", "Lead status history: MQL → SQL transitions."),)),
    # Product Management
    MetricSpec("product.feature_adoption", "Feature adoption", "Share of active accounts using a feature released this year.", G, TEAM, "%", HI, INT, "manual", "monthly", "product-eng", "product-mgmt", "member:product-mgmt:0",
               "Accounts using ≥1 new feature in the month ÷ active accounts.", {"min": 0, "max": 100},
               Series(18, 1.6, trend=9, places=1, lo=0, hi=100), objective="ship-reliably",
               steps=(_S("manual", "Product analytics export, pasted into the monthly sheet.", documented=False),)),
    MetricSpec("product.discovery_interviews", "Discovery interviews", "Customer discovery interviews held per week.", L, TEAM, "interviews", HI, INT, "manual", "weekly", "product-eng", "product-mgmt", "member:product-mgmt:0",
               "Count of interviews logged in the research repository.", {"min": 0, "max": 100, "integer_only": True},
               Series(6, 2, places=0, lo=0), objective="ship-reliably",
               steps=(_S("manual", "Weekly count from the research repository."),)),
    # Platform Engineering
    MetricSpec("eng.deployment_frequency", "Deployments", "Production deployments per week.", L, TEAM, "deploys", HI, INT, "jira", "weekly", "product-eng", "platform", "lead:platform",
               "Count of Jira releases deployed to production, Monday to Sunday.", {"min": 0, "max": 500, "integer_only": True},
               Series(18, 4, trend=6, places=0, lo=2), objective="ship-reliably",
               steps=(_S("jira", "Release versions with a production deployment record."),)),
    MetricSpec("eng.change_failure_rate", "Change failure rate", "Share of production changes causing an incident or rollback.", G, TEAM, "%", LO, INT, "jira", "monthly", "product-eng", "platform", "lead:platform",
               "Deployments linked to an incident ÷ deployments in the month.", {"min": 0, "max": 100},
               Series(12, 2.2, trend=-3, places=1, lo=2, hi=40), objective="ship-reliably",
               steps=(_S("jira", "Incidents linked to a release via ‘caused by’."), _S(None, "Divided by production deployments in the month."))),
    MetricSpec("eng.pr_review_hours", "Review turnaround", "Hours from review request to first review, median per engineer.", L, IND, "hours", LO, CONF, "jira", "weekly", "product-eng", "platform", "lead:platform",
               "Median hours between ‘review requested’ and the first review, by reviewer.", {"min": 0, "max": 168},
               Series(14, 4, trend=-3, places=1, lo=1, person_sd=0.2), aligned_to="eng.deployment_frequency", people_teams=("platform",),
               steps=(_S("jira", "Development panel events from the linked repositories."),)),
    # Site Reliability
    MetricSpec("ops.mttr_minutes", "Mean time to restore", "Minutes from incident start to service restored.", G, TEAM, "minutes", LO, INT, "jira", "monthly", "product-eng", "sre", "lead:sre",
               "Mean of (restored − started) over incidents closed in the month.", {"min": 0, "max": 10080},
               Series(52, 9, trend=-10, places=0, lo=10), objective="ship-reliably",
               steps=(_S("jira", "Incident issues with start and restore timestamps."),)),
    MetricSpec("ops.toil_share", "Toil share", "Share of SRE time spent on manual, repetitive work.", L, TEAM, "%", LO, INT, "manual", "monthly", "product-eng", "sre", "lead:sre",
               "Hours tagged as toil ÷ hours logged.", {"min": 0, "max": 100},
               Series(36, 3, trend=-8, places=1, lo=5, hi=90), objective="ship-reliably",
               steps=(_S("manual", "Engineers tag their time in a shared sheet.", documented=False),)),
    # Data & Research
    MetricSpec("research.data_freshness_sla", "Data freshness SLA", "Share of warehouse tables refreshed within their SLA.", L, TEAM, "%", HI, INT, "jira", "weekly", "product-eng", "data", "steward:product-eng",
               "Tables refreshed on time ÷ tables with an SLA.", {"min": 0, "max": 100},
               Series(96, 1.6, places=1, lo=80, hi=100), objective="ship-reliably",
               steps=(_S("jira", "Pipeline run log, one ticket per late table."),)),
    MetricSpec("research.insights_adopted", "Insights adopted", "Research recommendations adopted by a product team in the quarter.", G, TEAM, "insights", HI, INT, "manual", "quarterly", "product-eng", "data", "steward:product-eng",
               "Count of recommendations marked adopted in the quarter.", {"min": 0, "max": 100, "integer_only": True},
               Series(4, 1.2, places=0, lo=0)),
    # Support Desk
    MetricSpec("support.resolution_hours", "Resolution time", "Median hours from ticket creation to solved, per week.", G, TEAM, "hours", LO, INT, "zendesk", "weekly", "support", "support-desk", "lead:support-desk",
               "Median of (solved − created) in business hours over tickets solved in the week.", {"min": 0, "max": 720},
               None, objective="cx-first-time",
               steps=(_S("zendesk", "Incremental ticket export, solved in the week."), _S(None, "Business-hours calendar applied (Mon–Fri 08:00–18:00, local holidays)."), _S(None, "Tickets merged as duplicates or marked spam are excluded.", documented=False))),
    MetricSpec("support.first_contact_resolution", "First-contact resolution", "Share of tickets solved with one agent reply and no reopen.", G, TEAM, "%", HI, INT, "zendesk", "monthly", "support", "support-desk", "lead:support-desk",
               "Tickets solved in one touch ÷ tickets solved in the month.", {"min": 0, "max": 100},
               None, objective="cx-first-time",
               steps=(_S("zendesk", "Ticket metric events: replies and reopens."),)),
    MetricSpec("support.reopen_rate", "Reopen rate", "Share of solved tickets reopened within 7 days (counter-metric to resolution time).", G, TEAM, "%", LO, INT, "zendesk", "weekly", "support", "support-desk", "lead:support-desk",
               "Tickets reopened within 7 days ÷ tickets solved in the week.", {"min": 0, "max": 100},
               Series(6, 0.8, places=1, lo=1, hi=30), objective="cx-first-time",
               steps=(_S("zendesk", "Ticket audits: status solved → open within 7 days."),)),
    MetricSpec("support.csat", "Customer satisfaction", "Average post-ticket survey rating.", G, TEAM, "score (1–5)", HI, INT, "pulse", "monthly", "support", "support-desk", "lead:support-desk",
               "Mean rating of post-ticket surveys answered in the month.", {"min": 1, "max": 5},
               Series(4.2, 0.1, trend=0.15, places=2, lo=1, hi=5), objective="cx-first-time",
               steps=(_S("pulse", "Survey CSV export, pivoted by hand in a spreadsheet.", documented=False),)),
    MetricSpec("support.calls_handled", "Calls handled", "Inbound calls handled per agent (weekly quota: 120).", L, IND, "calls", HI, CONF, "zendesk", "weekly", "support", "support-desk", "lead:support-desk",
               "Count of Zendesk Talk calls answered by the agent, Monday to Sunday.", {"min": 0, "max": 600, "integer_only": True},
               Series(112, 12, places=0, lo=30, person_sd=0.1), aligned_to="support.first_contact_resolution", people_teams=("support-desk",),
               steps=(_S("zendesk", "Talk call log, answered calls by agent."),)),
    MetricSpec("support.quality_score", "Ticket quality score", "QA rubric score of sampled tickets per agent.", L, IND, "points (0–100)", HI, CONF, "manual", "monthly", "support", "support-desk", "lead:support-desk",
               "Mean QA rubric score over 10 sampled tickets per agent and month.", {"min": 0, "max": 100},
               Series(82, 4, trend=3, places=1, lo=40, hi=100, person_sd=0.05), aligned_to="support.first_contact_resolution", people_teams=("support-desk",),
               steps=(_S("manual", "Team lead scores 10 random tickets per agent on the QA rubric."),)),
    # Incident Response
    MetricSpec("incident.time_to_acknowledge", "Time to acknowledge", "Median minutes from page to acknowledgement.", L, TEAM, "minutes", LO, INT, "jira", "weekly", "support", "incident", "lead:incident",
               "Median (acknowledged − paged) over pages in the week.", {"min": 0, "max": 1440},
               Series(7, 1.5, trend=-1.5, places=1, lo=1), objective="cx-first-time",
               steps=(_S("jira", "On-call alert timeline from Jira Service Management."),)),
    MetricSpec("incident.postmortems_on_time", "Post-mortems on time", "Share of major incidents with a post-mortem within 5 working days.", G, TEAM, "%", HI, INT, "jira", "monthly", "support", "incident", "lead:incident",
               "Post-mortems published within 5 working days ÷ major incidents closed.", {"min": 0, "max": 100},
               Series(84, 7, trend=6, places=0, lo=40, hi=100), objective="cx-first-time", non_punitive=True,
               steps=(_S("jira", "Major incident issues and linked post-mortem pages."),)),
    # People Operations
    MetricSpec("people.time_to_hire_days", "Time to hire", "Calendar days from requisition approval to offer accepted.", G, TEAM, "days", LO, INT, "workday", "monthly", "people", "people-ops", "lead:people-ops",
               "Median (offer accepted − requisition approved) over hires in the month.", {"min": 0, "max": 365, "integer_only": True},
               Series(38, 4, trend=-6, places=0, lo=15), objective="great-place",
               steps=(_S("workday", "Requisition and offer events."), _S(None, "Date difference computed in the recruiting spreadsheet.", documented=False))),
    MetricSpec("people.onboarding_completion", "Onboarding completion", "Share of new hires finishing the onboarding checklist in 30 days.", L, TEAM, "%", HI, INT, "workday", "monthly", "people", "people-ops", "lead:people-ops",
               "Hires completing the checklist within 30 days ÷ hires of the month.", {"integer_only": True},
               Series(87, 4, trend=5, places=0, lo=50, hi=100), objective="great-place",
               steps=(_S("workday", "Onboarding business process completion dates."),)),
    MetricSpec("people.regretted_attrition", "Regretted attrition", "Annualised share of regretted leavers, organisation-wide.", G, ORG, "%", LO, CONF, "workday", "quarterly", "people", None, "lead:people-ops",
               "Regretted leavers in the quarter × 4 ÷ average headcount.", {"min": 0, "max": 100},
               Series(7.5, 1.0, trend=-1.5, places=1, lo=0), objective="great-place",
               steps=(_S("workday", "Termination events with the ‘regretted’ flag set by the manager."),)),
    MetricSpec("people.engagement_index", "Engagement index", "Quarterly engagement survey index, organisation-wide.", L, ORG, "points (0–100)", HI, INT, "pulse", "quarterly", "people", None, "lead:people-ops",
               "Mean of the six engagement items, rescaled to 0–100.", {"min": 0, "max": 100},
               Series(71, 1.5, trend=2, places=1, lo=0, hi=100), objective="great-place",
               steps=(_S("pulse", "Survey export; items rescaled in a notebook.", documented=False),)),
    # Privacy & Compliance
    MetricSpec("privacy.dsar_days", "Subject-access turnaround", "Days to answer a data-subject access request.", G, TEAM, "days", LO, INT, "manual", "monthly", "people", "privacy", "lead:privacy",
               "Mean days from request to answer over requests closed in the month.", {"min": 0, "max": 90},
               Series(12, 3, trend=-3, places=1, lo=1), objective="audit-ready",
               steps=(_S("manual", "Request register maintained by the privacy team."),)),
    MetricSpec("privacy.training_completion", "Privacy training completion", "Share of staff with current privacy training.", L, TEAM, "%", HI, INT, "workday", "monthly", "people", "privacy", "lead:privacy",
               "Staff with training completed in the last 12 months ÷ headcount.", {"min": 0, "max": 100},
               Series(90, 2.5, trend=5, places=1, lo=50, hi=100), objective="audit-ready",
               steps=(_S("workday", "Learning completions for the privacy course."),)),
    # Internal Audit
    MetricSpec("audit.controls_tested", "Controls tested", "Key controls tested in the month.", L, TEAM, "controls", HI, INT, "manual", "monthly", "people", "audit", "lead:audit",
               "Count of key controls with a completed test in the month.", {"min": 0, "max": 200, "integer_only": True},
               Series(9, 2, places=0, lo=2), objective="audit-ready",
               steps=(_S("manual", "Audit plan tracker."),)),
    MetricSpec("audit.findings_closed_on_time", "Findings closed on time", "Share of audit findings closed by their due date.", G, TEAM, "%", HI, INT, "manual", "quarterly", "people", "audit", "lead:audit",
               "Findings closed by the due date ÷ findings due in the quarter.", {"min": 0, "max": 100},
               Series(78, 6, trend=8, places=0, lo=30, hi=100), objective="audit-ready",
               steps=(_S("manual", "Findings register."),)),
    # A draft nobody has proposed yet
    MetricSpec("support.sentiment_score", "Ticket sentiment", "Sentiment of customer replies (experimental).", L, TEAM, "score (−1–1)", HI, INT, "zendesk", "weekly", "support", "support-desk", "lead:support-desk",
               "Mean sentiment of customer replies from the vendor's model.", {"min": -1, "max": 1},
               None, status="draft"),
)  # fmt: skip


@dataclass(frozen=True)
class TargetSpec:
    metric: str
    team: str | None
    baseline: str | None
    capacity: str | None
    capacity_basis: str
    target: str
    deadline_months: int | None  # months after today's month
    objective: str | None
    justification: str = ""


TARGETS = (
    TargetSpec("support.resolution_hours", "support-desk", "31", "18", "9 agents × 38 h/week with tiered triage: about 18 h median at current volume", "20", 6, "cx-first-time"),
    TargetSpec("support.first_contact_resolution", "support-desk", "68", "80", "QA sample: 80% of tickets are solvable in one touch with the macro library", "75", 6, "cx-first-time"),
    TargetSpec("sales.outbound_calls", "inside-sales", "57", "70", "37.5 h/week × 1.9 connected calls/h after admin time", "60", 3, "grow-arr"),
    # Above capacity, with the recorded justification the model requires.
    TargetSpec("sales.new_arr", "ent-sales", "150", "165", "11 AEs × 15 k EUR new ARR per month at the current win rate", "200", 12, "grow-arr",
               "Two senior AEs start next quarter and the DACH partner channel opens; the board accepted the stretch with a mid-year review."),
    TargetSpec("eng.change_failure_rate", "platform", "12", "8", "Industry high performers at our deployment volume", "9", 9, "ship-reliably"),
    TargetSpec("incident.time_to_acknowledge", "incident", "7", "4", "Follow-the-sun rota: a responder is always on shift", "5", 6, "cx-first-time"),
    TargetSpec("people.time_to_hire_days", "people-ops", "38", "28", "3 recruiters × 6 open requisitions each", "32", 6, "great-place"),
    # Fails SMART: no baseline, no capacity, no deadline.
    TargetSpec("product.feature_adoption", "product-mgmt", None, None, "", "40", None, None),
)  # fmt: skip

CONFLICTS = (
    ("support.calls_handled", "support.first_contact_resolution",
     "The individual weekly call quota rewards short calls and quick transfers; the team's first-contact resolution goal needs agents to stay on a call until the problem is solved."),
    ("marketing.sourced_pipeline", "sales.inside_conversion_rate",
     "Marketing is measured on pipeline volume, Inside Sales on conversion: more, weaker leads raise one and lower the other."),
)  # fmt: skip

#: What the observations step plants for the demo's detectors, by name.
PLANTED = {
    "unit_slip": "sales.pipeline_generated: one month entered ×100 (decimal separator lost)",
    "impossible": "people.onboarding_completion: a negative percentage (a spreadsheet formula's sign flipped; the metric declares no range, so capture accepts it and the 0–100% share range flags it)",
    "duplicate": "support.quality_score: one agent's month uploaded twice",
    "process_shift": "support.resolution_hours: drops after tiered triage went live (annotated real shift)",
    "external_event": "ops.mttr_minutes: one month with a cloud-region outage (annotated)",
    "bunching": "sales.outbound_calls: weekly values bunch just past the quota of 60 (Inside Sales)",
}

QUOTA_CALLS = 60
SHIFT_WEEK = 32  # index of the first week after the support process change


# -- calendar ------------------------------------------------------------------


def _add_months(day: datetime.date, months: int) -> datetime.date:
    index = day.year * 12 + day.month - 1 + months
    return datetime.date(index // 12, index % 12 + 1, 1)


def _month_end(day: datetime.date) -> datetime.date:
    return day.replace(day=calendar.monthrange(day.year, day.month)[1])


@dataclass(frozen=True)
class Calendar:
    daily: list[datetime.date]
    weekly: list[datetime.date]
    monthly: list[datetime.date]
    quarterly: list[datetime.date]

    @classmethod
    def ending(cls, today: datetime.date) -> Calendar:
        """The last full year of periods before ``today``."""
        this_month = today.replace(day=1)
        this_week = today - datetime.timedelta(days=today.weekday())
        this_quarter = this_month.replace(month=(today.month - 1) // 3 * 3 + 1)
        return cls(
            daily=[today - datetime.timedelta(days=d) for d in range(365, 0, -1)],
            weekly=[this_week - datetime.timedelta(weeks=w) for w in range(52, 0, -1)],
            monthly=[_add_months(this_month, -m) for m in range(12, 0, -1)],
            quarterly=[_add_months(this_quarter, -3 * q) for q in range(4, 0, -1)],
        )

    def periods(self, frequency: str) -> list[datetime.date]:
        return getattr(self, frequency)


def _aware(day: datetime.date, hour: int = 9, minute: int = 30) -> datetime.datetime:
    return timezone.make_aware(
        datetime.datetime.combine(day, datetime.time(hour, minute)),
        datetime.UTC,
    )


# -- step 1: catalogue -----------------------------------------------------------


def seed_catalogue(ctx: DemoContext) -> None:
    actor, reason = ctx.actor, ctx.reason
    objectives = {}
    for spec in OBJECTIVES:
        year_start = ctx.today.replace(month=1, day=1)
        obj = StrategicObjective(
            code=spec.code,
            title=spec.title,
            description=spec.description,
            owner=ctx.people[spec.owner],
            period_start=year_start,
            period_end=year_start.replace(month=12, day=31),
        )
        save_governed(obj, actor=actor, reason=reason)
        objectives[spec.code] = obj
    sources = {}
    for spec in SOURCES:
        source = DataSource(
            code=spec.code,
            name=spec.name,
            system=spec.system,
            system_of_record=spec.system_of_record,
            refresh_cycle=spec.refresh_cycle,
            latency_hours=spec.latency_hours,
            classification=spec.classification,
            owner=ctx.people[spec.owner] if spec.owner else None,
            documented=spec.documented,
        )
        save_governed(source, actor=actor, reason=reason)
        sources[spec.code] = source

    metrics: dict[str, Metric] = {}
    for spec in METRICS:  # aligned_to targets are listed first
        source = sources[spec.source]
        metric = services.metric_create(
            actor=actor,
            reason=reason,
            key=spec.key,
            name=spec.name,
            description=spec.description,
            indicator=spec.indicator,
            level=spec.level,
            unit=spec.unit,
            direction=spec.direction,
            sensitivity=spec.sensitivity,
            impact=spec.impact,
            calculation=spec.calculation,
            source=source,
            owner=ctx.people[spec.owner],
            steward=ctx.people[f"steward:{spec.department}"],
            department=ctx.departments[spec.department],
            team=ctx.teams[spec.team] if spec.team else None,
            objective=objectives[spec.objective] if spec.objective else None,
            aligned_to=metrics[spec.aligned_to] if spec.aligned_to else None,
            update_frequency=spec.frequency,
            grace_days={"daily": 3, "weekly": 4}.get(spec.frequency, 10),
            refresh_cycle=source.refresh_cycle,
            latency_hours=source.latency_hours,
            validation_rules=spec.rules,
            non_punitive=spec.non_punitive,
            status="proposed" if spec.status == "proposed" else "draft",
        )
        for order, step in enumerate(spec.steps, start=1):
            save_governed(
                TransformationStep(
                    metric=metric,
                    order=order,
                    source=sources[step.source] if step.source else None,
                    description=step.description,
                    documented=step.documented,
                ),
                actor=actor,
                reason=reason,
            )
            ctx.counts["transformation steps"] += 1
        if spec.status == "active":
            services.metric_transition(
                actor=actor,
                metric=metric,
                status="active",
                reason="demo: approved for use by the department steward",
            )
        metrics[spec.key] = metric

    this_month = ctx.today.replace(day=1)
    for t in TARGETS:
        metric = metrics[t.metric]
        target = MetricTarget(
            metric=metric,
            team=ctx.teams[t.team] if t.team else None,
            baseline=Decimal(t.baseline) if t.baseline else None,
            capacity=Decimal(t.capacity) if t.capacity else None,
            capacity_basis=t.capacity_basis,
            target=Decimal(t.target),
            deadline=(
                _month_end(_add_months(this_month, t.deadline_months))
                if t.deadline_months is not None
                else None
            ),
            objective=objectives[t.objective] if t.objective else None,
            justification=t.justification,
        )
        save_governed(target, actor=actor, reason=reason)
    for a, b, description in CONFLICTS:
        save_governed(
            MetricConflict(
                metric_a=metrics[a], metric_b=metrics[b], description=description
            ),
            actor=actor,
            reason=reason,
        )
    ctx.extra["metrics"] = metrics
    ctx.extra["data_sources"] = sources
    ctx.extra["objectives"] = objectives
    ctx.counts["objectives"] += len(objectives)
    ctx.counts["data sources"] += len(sources)
    ctx.counts["metrics"] += len(metrics)
    ctx.counts["targets"] += len(TARGETS)
    ctx.counts["metric conflicts"] += len(CONFLICTS)


# -- step 2: observations -------------------------------------------------------


@dataclass
class _Plan:
    """Rows per batch, and what the later steps need to know about them."""

    batches: list[tuple[str, list[dict[str, Any]]]] = field(default_factory=list)
    # (metric key, person key) -> [(period_start, value)] for evaluations
    personal: dict[tuple[str, str], list[tuple[datetime.date, Decimal]]] = field(
        default_factory=lambda: defaultdict(list)
    )


def _q(value: float, places: int) -> Decimal:
    return Decimal(f"{value:.{places}f}")


def _noisy(rng: Any, mean: float, sd: float) -> float:
    """``mean`` plus bounded (triangular) noise with standard deviation ``sd``.

    Bounded on purpose: Gaussian tails put an occasional ordinary value beyond
    the data-quality spike threshold (robust z 3.5) of a 12-point series, and
    the demo's quarantine queue should hold only the planted errors and the
    annotated outage. Triangular noise stays within about 2.3 robust z.
    """
    a = sd * math.sqrt(6)
    return mean + rng.triangular(-a, a, 0.0)


def _clip(value: float, series: Series) -> float:
    if series.lo is not None:
        value = max(series.lo, value)
    if series.hi is not None:
        value = min(series.hi, value)
    return value


def _members(ctx: DemoContext, team_keys: Iterable[str]) -> list[str]:
    """Person keys of the teams' members (not the leads), minus leavers."""
    keys = []
    for spec in TEAMS:
        if spec.key not in team_keys:
            continue
        for n in range(spec.members):
            key = f"member:{spec.key}:{n}"
            if ctx.people[key].status != Person.Status.LEFT:
                keys.append(key)
    return keys


def _subject(ctx: DemoContext, spec: MetricSpec) -> dict[str, str]:
    if spec.level == TEAM:
        return {"team": str(ctx.teams[spec.team].pk)}  # type: ignore[index]
    return {}


def _quiet(values: list[Decimal]) -> bool:
    """True if the input-error checks find nothing in this one series."""
    return not anomalies.detect_anomalies([(("s", i), v) for i, v in enumerate(values)])


def _draw(value_at: Callable[[int], Decimal], n: int) -> list[Decimal]:
    """A series of ``n`` values; redrawn (deterministically) while its ordinary
    noise happens to trip the input-error checks, so the data-quality queue
    holds only what :data:`PLANTED` puts there."""
    values: list[Decimal] = []
    for _ in range(_REDRAWS):
        values = [value_at(i) for i in range(n)]
        if _quiet(values):
            break
    return values


_REDRAWS = 25


def _level(series: Series, i: int, n: int) -> float:
    return series.mean + series.trend * i / max(1, n - 1)


def _team_rows(
    ctx: DemoContext,
    spec: MetricSpec,
    periods: list[datetime.date],
    value_at: Callable[[int], Decimal] | None = None,
) -> list[dict[str, Any]]:
    """Rows for a team or organisation metric (from its :class:`Series` unless
    ``value_at`` gives the i-th value)."""
    rng, n, series = ctx.rng, len(periods), spec.series
    if value_at is None:
        assert series is not None

        def value_at(i: int) -> Decimal:
            value = _noisy(rng, _level(series, i, n), series.sd)
            return _q(_clip(value, series), series.places)

    values = _draw(value_at, n)
    subject = _subject(ctx, spec)
    return [
        {"metric": spec.key, **subject, "period_start": start, "value": value}
        for start, value in zip(periods, values, strict=True)
    ]


def _without_consent(ctx: DemoContext, spec: MetricSpec, keys: list[str]) -> set[str]:
    """Of ``keys``, the people whose jurisdiction requires consent for this
    metric's purpose and who have none in force (needs ``governance.consent``;
    without it there is nothing to check here, and capture guards still run)."""
    try:
        from governance import consent  # type: ignore[attr-defined,unused-ignore]
    except ImportError:
        return set()
    metric = ctx.extra["metrics"][spec.key]
    purpose = getattr(metric, "consent_purpose_id", None) or consent.DEFAULT_PURPOSE
    by_id = {ctx.people[k].pk: k for k in keys}
    left_out = {by_id[pk] for pk in consent.excluded_subjects(purpose, list(by_id))}
    ctx.extra.setdefault("metrics_no_consent", set()).update(left_out)
    return left_out


def _individual_rows(
    ctx: DemoContext,
    spec: MetricSpec,
    periods: list[datetime.date],
    plan: _Plan,
    shape: Callable[[float], float] | None = None,
) -> list[dict[str, Any]]:
    series = spec.series
    assert series is not None
    rng = ctx.rng
    rows = []
    members = _members(ctx, spec.people_teams)
    left_out = _without_consent(ctx, spec, members)
    for key in members:
        if key in left_out:
            continue
        person = ctx.people[key]
        personal = 1 + _noisy(rng, 0, series.person_sd)
        # On leave: nothing for the last two months.
        until = (
            ctx.today - datetime.timedelta(days=61)
            if person.status == Person.Status.ON_LEAVE
            else ctx.today
        )
        indices = [
            i for i, start in enumerate(periods) if person.hire_date <= start < until
        ]

        def value_at(
            j: int, indices: list[int] = indices, personal: float = personal
        ) -> Decimal:
            mean = _level(series, indices[j], len(periods)) * personal
            value = _clip(_noisy(rng, mean, series.sd), series)
            return _q(shape(value) if shape is not None else value, series.places)

        for i, amount in zip(indices, _draw(value_at, len(indices)), strict=True):
            rows.append(
                {
                    "metric": spec.key,
                    "employee_id": person.employee_id,
                    "period_start": periods[i],
                    "value": amount,
                }
            )
            plan.personal[(spec.key, key)].append((periods[i], amount))
    return rows


_WEEKDAY_DEALS = (1, 2, 2, 3, 3, 3, 4, 4, 5, 6)


def _plan_observations(ctx: DemoContext, cal: Calendar) -> _Plan:
    rng = ctx.rng
    plan = _Plan()
    for spec in METRICS:
        if spec.status != "active":
            continue
        periods = cal.periods(spec.frequency)
        if spec.key == "support.resolution_hours":
            # The process change: weekly resolution time drops and stays down.
            def resolution(i: int) -> Decimal:
                before = i < SHIFT_WEEK
                return _q(_noisy(rng, 31, 2.2) if before else _noisy(rng, 19, 1.8), 1)

            rows = _team_rows(ctx, spec, periods, resolution)
        elif spec.key == "support.first_contact_resolution":

            def first_contact(
                i: int, periods: list[datetime.date] = periods
            ) -> Decimal:
                before = periods[i] < cal.weekly[SHIFT_WEEK]
                return _q(_noisy(rng, 68, 1.8) if before else _noisy(rng, 74, 1.6), 1)

            rows = _team_rows(ctx, spec, periods, first_contact)
        elif spec.key == "sales.inside_deals_closed":

            def deals(i: int, periods: list[datetime.date] = periods) -> Decimal:
                weekend = periods[i].weekday() >= 5
                return Decimal(rng.choice((0, 0, 1) if weekend else _WEEKDAY_DEALS))

            rows = _team_rows(ctx, spec, periods, deals)
        elif spec.key == "sales.outbound_calls":

            def just_past_quota(value: float) -> float:
                # A rep just short of the quota logs a few quick calls to clear it.
                if QUOTA_CALLS - 5 <= value < QUOTA_CALLS and rng.random() < 0.6:
                    return QUOTA_CALLS + rng.choice((0, 0, 1, 2))
                return value

            rows = _individual_rows(ctx, spec, periods, plan, shape=just_past_quota)
        elif spec.level == IND:
            rows = _individual_rows(ctx, spec, periods, plan)
        else:
            rows = _team_rows(ctx, spec, periods)
        if spec.key == "ops.mttr_minutes":
            rows[8]["value"] = Decimal(212)  # the cloud-region outage month
        plan.batches.append((spec.key, rows))
    return plan


def _consented(ctx: DemoContext, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The rows every capture guard accepts; individual rows a guard refuses are
    dropped (and counted), anything else wrong is a bug in this module."""
    if not any(row.get("employee_id") for row in rows):
        return rows  # guards here refuse individual-level rows only
    _, errors = services.validate_rows(rows, source=None, actor=ctx.actor)
    if not errors:
        return rows
    refused: set[int] = set()
    for error in errors:
        row = rows[error.row - 1]
        if error.field != "employee_id" or not row.get("employee_id"):
            raise services.BatchRejected(errors)
        refused.add(error.row - 1)
    skipped = ctx.extra.setdefault("metrics_guard_refusals", defaultdict(int))
    for index in refused:
        skipped[rows[index]["employee_id"]] += 1
    ctx.counts["observations refused by capture guards"] += len(refused)
    return [row for i, row in enumerate(rows) if i not in refused]


def _record(
    ctx: DemoContext, rows: list[dict[str, Any]], reason: str
) -> list[Observation]:
    rows = _consented(ctx, rows)
    if not rows:
        return []
    stored = services.record_observations(actor=ctx.actor, rows=rows, reason=reason)
    ctx.counts["observations"] += len(stored)
    ctx.counts["observation batches"] += 1
    return stored


def _pop(
    rows: list[dict[str, Any]], employee_id: str, start: datetime.date
) -> dict[str, Any] | None:
    for i, row in enumerate(rows):
        if row.get("employee_id") == employee_id and row["period_start"] == start:
            return rows.pop(i)
    return None


def seed_observations(ctx: DemoContext) -> None:
    metrics: dict[str, Metric] = ctx.extra["metrics"]
    cal = Calendar.ending(ctx.today)
    plan = _plan_observations(ctx, cal)
    batches = dict(plan.batches)
    REASON = {
        "salesforce": "Salesforce nightly sync",
        "jira": "Jira sync",
        "zendesk": "Zendesk hourly export",
        "workday": "Workday nightly feed",
        "manual": "manual upload (monthly sheet)",
        "pulse": "survey export upload",
    }

    # Planted input errors are captured later, as separate uploads.
    # The ×100 slip: an AE's month whose true value is typical for them.
    slip_row = None
    for key in _members(ctx, ("ent-sales",)):
        values = plan.personal[("sales.pipeline_generated", key)]
        if len(values) < 10:
            continue
        middle = statistics.median(v for _, v in values)
        month = min(values[4:9], key=lambda p: abs(p[1] - middle))[0]
        slip_row = _pop(
            batches["sales.pipeline_generated"], ctx.people[key].employee_id, month
        )
        values.remove(next(p for p in values if p[0] == month))
        break
    negative_row = batches["people.onboarding_completion"].pop(4)

    stored: dict[str, list[Observation]] = {}
    cfr = metrics["eng.change_failure_rate"]
    for spec in METRICS:
        if spec.key not in batches:
            continue
        rows = batches[spec.key]
        reason = f"{REASON[spec.source]} (demo data)"
        if spec.key == "eng.change_failure_rate":
            # Methodology changes mid-year: the first half is version 1.
            stored[spec.key] = _record(ctx, rows[:6], reason)
            _change_methodology(ctx, cfr)
            stored[spec.key] += _record(ctx, rows[6:], reason)
        else:
            stored[spec.key] = _record(ctx, rows, reason)

    # -- the planted input errors ---------------------------------------------
    if slip_row is not None:
        slip_row = {**slip_row, "value": slip_row["value"] * 100}
        _record(ctx, [slip_row], "manual upload (monthly pipeline sheet) (demo data)")
    _record(
        ctx,
        [{**negative_row, "value": -Decimal(negative_row["value"])}],
        "onboarding tracker upload (demo data)",
    )
    quality = stored.get("support.quality_score") or []
    duplicate_of = next((o for o in quality if o.period_start == cal.monthly[9]), None)
    if duplicate_of is not None:
        _record(
            ctx,
            [
                {
                    "metric": "support.quality_score",
                    "employee_id": duplicate_of.person.employee_id,  # type: ignore[union-attr]
                    "period_start": duplicate_of.period_start,
                    "value": duplicate_of.value,
                }
            ],
            "manual upload (QA sheet re-sent) (demo data)",
        )

    # -- annotations ------------------------------------------------------------
    shift_week = cal.weekly[SHIFT_WEEK]
    shifted = next(
        o for o in stored["support.resolution_hours"] if o.period_start == shift_week
    )
    _annotate(
        ctx,
        shifted,
        Annotation.Kind.REAL_SHIFT,
        f"Process change from {shift_week:%d %b %Y}: tiered triage with a dedicated "
        "second-line queue and the new macro library went live (change OPS-214). "
        "A real shift, not an input error: recompute the control limits from this week.",
        author="board",
    )
    outage = stored["ops.mttr_minutes"][8]
    _annotate(
        ctx,
        outage,
        Annotation.Kind.EXTERNAL_EVENT,
        "Cloud provider region outage (eu-central) on the 14th: 3 h 40 min for two "
        "services. Provider post-incident report filed under INC-4411.",
        author="admin",
    )
    ctx.extra["metrics_personal"] = plan.personal
    ctx.extra["metrics_calendar"] = cal
    ctx.extra["metrics_observations"] = stored
    left_out = len(ctx.extra.get("metrics_no_consent", ()))
    refused = ctx.counts["observations refused by capture guards"]
    ctx.log(
        f"    {ctx.counts['observations']} observations in "
        f"{ctx.counts['observation batches']} batches; "
        f"{left_out} people without consent left out of individual "
        f"metrics; {refused} rows refused by capture guards"
    )


def _change_methodology(ctx: DemoContext, metric: Metric) -> None:
    request = services.change_request_create(
        actor=ctx.actor,
        metric=metric,
        changes={
            "calculation": "Deployments linked to an incident OR rolled back within "
            "24 h ÷ deployments in the month."
        },
        reason="Rollbacks without an incident were not counted as failures.",
    )
    services.change_request_decide(
        actor=ctx.actor,
        change_request=request,
        approve=True,
        note="Approved by the Product & Engineering data steward.",
    )
    metric.refresh_from_db()
    # And one request still waiting for the steward.
    services.change_request_create(
        actor=ctx.actor,
        metric=ctx.extra["metrics"]["support.first_contact_resolution"],
        changes={
            "calculation": "Tickets solved in one touch ÷ tickets solved in the month, "
            "excluding tickets merged as duplicates."
        },
        reason="Merged duplicates count as two contacts today and lower the rate unfairly.",
    )
    ctx.counts["change requests"] += 2


def _annotate(
    ctx: DemoContext, observation: Observation, kind: str, text: str, *, author: str
) -> None:
    user = ctx.users.get(author)
    save_governed(
        Annotation(
            observation=observation,
            kind=kind,
            text=text,
            author_id=getattr(user, "pk", None),
            created_at=_aware(observation.period_end + datetime.timedelta(days=1)),
        ),
        actor=ctx.actor,
        reason=ctx.reason,
    )
    ctx.counts["annotations"] += 1


# -- step 3: feedback and evaluations ------------------------------------------

PEER_TEXTS = {
    5: (
        "Always the first to help a colleague with a tricky case; shares what they learn.",
        "Calm under pressure and clear in writing; customers ask for them by name.",
        "Took over onboarding of two new joiners without being asked.",
    ),
    4: (
        "Reliable and thorough. Could speak up earlier when a deadline is at risk.",
        "Good collaborator; documents decisions well.",
        "Strong on the craft; would like to see more of them in team planning.",
    ),
    3: (
        "Solid work, but hand-overs are sometimes incomplete.",
        "Helpful when asked; could share knowledge more proactively.",
    ),
}
STAKEHOLDERS = (
    ("support-desk", None, "Key account: Hansen Logistik GmbH (IT operations lead)", 4,
     "Tickets get solved faster since spring; the second-line queue made a real difference."),
    ("incident", None, "Customer Success (internal)", 5,
     "Incident updates are timely and written for customers, not engineers."),
    ("platform", None, "Product Management (internal)", 4,
     "Release cadence is predictable; staging environments still break too often."),
    ("ent-sales", None, "Channel partner: Nordlicht Consulting", 4,
     "Joint account planning works well; pricing approvals are slow."),
    ("ent-sales", "member:ent-sales:0", "Customer: Ardent Retail plc (procurement)", 5,
     "Well prepared, understood our procurement process and never over-promised."),
    ("support-desk", "member:support-desk:0", "Key account: Hansen Logistik GmbH (IT operations lead)", 4,
     "Patient and precise on our escalations."),
)  # fmt: skip
#: Documented evaluation weights per team (each sums to 1).
WEIGHTS = {
    "ent-sales": {"quantitative": 0.6, "peer": 0.2, "stakeholder": 0.2},
    "ent-sales-dach": {"quantitative": 0.6, "peer": 0.2, "stakeholder": 0.2},
    "inside-sales": {"quantitative": 0.7, "peer": 0.3},
    "support-desk": {"quantitative": 0.5, "peer": 0.3, "stakeholder": 0.2},
    "platform": {"quantitative": 0.4, "peer": 0.6},
}


def _team_of(key: str) -> str:
    return key.split(":")[1]


def seed_feedback(ctx: DemoContext) -> None:
    cal: Calendar = ctx.extra["metrics_calendar"]
    personal: dict[tuple[str, str], list[tuple[datetime.date, Decimal]]] = ctx.extra[
        "metrics_personal"
    ]
    refused = ctx.extra.get("metrics_guard_refusals", {})
    period_start, period_end = cal.monthly[6], _month_end(cal.monthly[11])
    cycle = f"{period_start:%Y-%m}/{period_end:%Y-%m}"
    submitted = _aware(period_end + datetime.timedelta(days=10), 16)

    # Only people whose individual data was captured (consent respected).
    recorded = {
        person_key
        for (_, person_key), values in personal.items()
        if values and ctx.people[person_key].employee_id not in refused
    }
    rng = ctx.rng
    peer_ratings: dict[str, list[int]] = defaultdict(list)
    for team in WEIGHTS:
        members = [k for k in _members(ctx, (team,)) if k in recorded]
        if len(members) < 4:
            continue
        assignment = assign_peer_reviewers(
            members,
            dict.fromkeys(members, f"lead:{team}"),
            reviewers_per_person=2,
            seed=f"demo-{team}",
        )
        for reviewer, reviewee in assignment.pairs:
            rating = rng.choice((3, 4, 4, 4, 5, 5))
            save_governed(
                PeerFeedback(
                    subject=ctx.people[reviewee],
                    reviewer=ctx.people[reviewer],
                    cycle=cycle,
                    rating=rating,
                    text=rng.choice(PEER_TEXTS[rating]),
                    submitted_at=submitted,
                ),
                actor=ctx.actor,
                reason=ctx.reason,
            )
            peer_ratings[reviewee].append(rating)
            ctx.counts["peer feedback"] += 1

    stakeholder_rating: dict[str, int] = {}
    for team, person_key, who, rating, text in STAKEHOLDERS:
        if person_key is not None and person_key not in recorded:
            continue
        save_governed(
            StakeholderFeedback(
                person=ctx.people[person_key] if person_key else None,
                team=ctx.teams[team],
                stakeholder=who,
                period_start=cal.monthly[9],
                rating=rating,
                text=text,
            ),
            actor=ctx.actor,
            reason=ctx.reason,
        )
        stakeholder_rating[person_key or team] = rating
        ctx.counts["stakeholder feedback"] += 1

    directions = {m.key: m.direction for m in METRICS}
    for team, weights in WEIGHTS.items():
        assert math.isclose(sum(weights.values()), 1.0)
        for key in _members(ctx, (team,)):
            if key not in recorded or key not in peer_ratings:
                continue
            quantitative = _quantitative(
                key, team, personal, directions, period_start, period_end
            )
            if not quantitative:
                continue
            components: dict[str, Any] = {"metrics": quantitative}
            parts = {
                "quantitative": statistics.fmean(quantitative.values()),
                "peer": statistics.fmean(peer_ratings[key]),
            }
            if "stakeholder" in weights:
                parts["stakeholder"] = float(
                    stakeholder_rating.get(key, stakeholder_rating.get(team, 3))
                )
            components.update({k: round(v, 2) for k, v in parts.items()})
            score = sum(weights[k] * parts[k] for k in weights)
            person = ctx.people[key]
            save_governed(
                Evaluation(
                    person=person,
                    period_start=period_start,
                    period_end=period_end,
                    evaluator=ctx.people[f"lead:{team}"],
                    weights=weights,
                    components=components,
                    score=_q(score, 2),
                    rationale=(
                        f"Metric results score {parts['quantitative']:.1f} of 5 against "
                        f"the team's spread; peers rate {parts['peer']:.1f}. "
                        "Weights as documented for the team."
                    ),
                    status=(
                        Evaluation.Status.DRAFT
                        if person.status == Person.Status.ON_LEAVE
                        else Evaluation.Status.RELEASED
                    ),
                ),
                actor=ctx.actor,
                reason=ctx.reason,
            )
            ctx.counts["evaluations"] += 1


def _quantitative(
    key: str,
    team: str,
    personal: dict[tuple[str, str], list[tuple[datetime.date, Decimal]]],
    directions: dict[str, str],
    start: datetime.date,
    end: datetime.date,
) -> dict[str, float]:
    """Per metric: the person's mean in the period placed on a 1–5 scale against
    their peers (3 = the team median, ±1 per standard deviation)."""
    result = {}
    for (metric_key, person_key), values in personal.items():
        if person_key != key:
            continue
        mine = [float(v) for d, v in values if start <= d <= end]
        peers = [
            statistics.fmean(float(v) for d, v in vs if start <= d <= end)
            for (mk, pk), vs in personal.items()
            if mk == metric_key
            and _team_of(pk) == team
            and any(start <= d <= end for d, _ in vs)
        ]
        if not mine or len(peers) < 3:
            continue
        spread = statistics.pstdev(peers) or 1.0
        z = (statistics.fmean(mine) - statistics.median(peers)) / spread
        if directions[metric_key] == LO:
            z = -z
        result[metric_key] = round(min(5.0, max(1.0, 3 + z)), 2)
    return result


# -- step 4: the review board and a bias assessment (M8.4, M8.5) --------------------

_ASSESSMENT = {
    "who_is_measured": "The 6 inside-sales representatives, monthly.",
    "behaviours_encouraged": "Closing booked revenue against an individual quota.",
    "gaming_vectors": "Pulling deals forward across month ends; sandbagging quotas.",
    "counter_metrics": "Deal slippage rate and early-cancellation rate, per rep.",
    "unintended_consequences": "Less help for colleagues; pressure in weak territories.",
    "fairness_groups": "Gender and age band (four-fifths rule on bonus eligibility).",
    "consent_basis": "Legitimate interest; consent where the jurisdiction requires it.",
    "permitted_uses": "Variable pay only together with the team target; never termination.",
}


def seed_governance(ctx: DemoContext) -> None:
    """A decided ballot (rejected a month ago: written as the past it is), the
    resubmitted proposal now being voted on, and a bias assessment of the
    latest evaluation period (with a remediation item if it finds adverse
    impact)."""
    from governance import bias, board
    from governance.models import Ballot, ImpactAssessment, Proposal, Vote
    from metrics import governance_links

    compliance, member = ctx.users.get("compliance"), ctx.users.get("board")
    metric = Metric.objects.filter(key="sales.quota_attainment").first()
    if compliance is None or member is None or metric is None:
        return
    now = timezone.now()
    opened, closed = (
        now - datetime.timedelta(days=35),
        now - datetime.timedelta(days=30),
    )
    rejected = Proposal(
        title="Quota attainment as an input to variable pay",
        summary="Use each rep's monthly quota attainment in the variable-pay formula.",
        subject_type=governance_links.SUBJECT_TYPE,
        subject_id=str(metric.pk),
        subject_label=f"{metric.name} ({metric.key})",
        author=compliance,
        status=Proposal.Status.REJECTED,
        bound_version=metric.methodology_version,
        bound_digest=governance_links.governed_digest(metric),
        created_at=opened,
        decided_at=closed,
    )
    save_governed(rejected, actor=compliance, reason="demo: decided last month")
    save_governed(
        ImpactAssessment(
            proposal=rejected,
            **{
                **_ASSESSMENT,
                "counter_metrics": "None yet: to be decided after go-live.",
            },
        ),
        actor=compliance,
        reason=ctx.reason,
    )
    ballot = Ballot(
        proposal=rejected,
        opened_at=opened,
        opened_by_id=compliance.pk,
        deadline=closed,
        quorum=1,
        eligible_count=1,
        status=Ballot.Status.CLOSED,
        outcome=Ballot.Outcome.REJECTED,
        closed_at=closed,
        reject_count=1,
    )
    save_governed(ballot, actor=compliance, reason="demo: decided last month")
    cast = opened + datetime.timedelta(days=2)
    save_governed(
        Vote(
            ballot=ballot,
            voter=member,
            choice=Vote.Choice.REJECT,
            rationale="No counter-metric for pulled-forward deals; resubmit with one.",
            cast_at=cast,
            updated_at=cast,
            ballot_deadline=closed,
        ),
        actor=member,
        reason=ctx.reason,
    )
    proposal = board.proposal_create(
        actor=compliance,
        title="Quota attainment for variable pay (resubmitted with counter-metrics)",
        summary="As before, now paired with deal slippage and early cancellations.",
        subject_type=governance_links.SUBJECT_TYPE,
        subject_id=metric.pk,
        assessment=_ASSESSMENT,
    )
    board.ballot_open(
        actor=compliance, proposal=proposal, deadline=now + datetime.timedelta(days=7)
    )
    ctx.counts["board proposals"] += 2

    latest = (
        Evaluation.objects.order_by("-period_end", "-period_start")
        .values_list("period_start", "period_end")
        .first()
    )
    if latest is None:
        return
    assessment = bias.run_assessment(
        actor=compliance,
        target_type=bias.EVALUATION_RELEASE,
        target_id=bias.release_id(*latest),
        attribute="gender",
        threshold=Decimal("3"),
        reason="demo: assessment of the latest evaluation release",
    )
    ctx.counts["bias assessments"] += 1
    if assessment.status == "open":
        owner = ctx.people.get("lead:people-ops")
        if owner is not None:
            bias.remediation_create(
                actor=compliance,
                assessment=assessment,
                description="Review rating calibration across groups with the team "
                "leads; re-run the assessment before the next release.",
                owner=owner,
                due_date=ctx.today + datetime.timedelta(days=30),
            )
    ctx.log(
        f"    board: 1 decided ballot, 1 open; bias assessment "
        f"#{assessment.pk}: {assessment.get_verdict_display()}"
    )


#: Drafts of the next methodology version (M8.2), written by the steward.
METHODOLOGY_DRAFTS = {
    "support.first_contact_resolution": {
        "description": "Share of solved tickets that needed exactly one agent reply "
        "and were not reopened; merged duplicates count as one contact.",
        "formula": "tickets solved in one touch ÷ tickets solved in the month, "
        "excluding tickets merged as duplicates",
        "sources": "Zendesk ticket events (solved, reopened, merged), exported "
        "nightly by the Zendesk connector.",
    },
}


def seed_methodology(ctx: DemoContext) -> None:
    """Methodology documents (M8.2): every active metric got its approved
    version at activation (or with its change request); here the steward of
    the metric with a pending change request writes the draft of its next
    version, so the demo shows a draft next to approved versions."""
    from metrics import methodology, readiness

    metrics = ctx.extra.get("metrics", {})
    for key, text in METHODOLOGY_DRAFTS.items():
        metric = metrics.get(key)
        if metric is None:
            continue
        methodology.methodology_draft_save(
            actor=ctx.actor,
            metric=metric,
            changes=text,
            reason="Draft for the pending change request on merged duplicates.",
        )
        ctx.counts["methodology drafts"] += 1
    results = readiness.checklist(Metric.objects.exclude(status="retired"))
    ctx.counts["metrics audit-ready"] = sum(1 for r in results if r.ready)
    ctx.log(
        f"    {ctx.counts['methodology drafts']} methodology draft(s); "
        f"{ctx.counts['metrics audit-ready']} of {len(results)} metrics audit-ready"
    )


def register() -> None:
    """Add the metrics steps to ``seed_demo`` (called from ``MetricsConfig.ready``)."""
    from governance import demo

    demo.register(
        "metrics-catalogue",
        seed_catalogue,
        order=200,
        description=f"{len(OBJECTIVES)} objectives, {len(SOURCES)} data sources, "
        f"{len(METRICS)} metrics with lineage, targets and conflicts",
    )
    demo.register(
        "metrics-observations",
        seed_observations,
        order=210,
        description="a year of observations with planted input errors, a process "
        "shift and a gaming-like pattern",
    )
    demo.register(
        "metrics-methodology",
        seed_methodology,
        order=215,
        description="methodology documents: approved versions of every live "
        "metric, a draft of the next version, the audit-readiness checklist",
    )
    demo.register(
        "metrics-feedback",
        seed_feedback,
        order=220,
        description="peer and stakeholder feedback, evaluations with documented weights",
    )
    register_incentives()
    demo.register(
        "metrics-governance",
        seed_governance,
        order=240,
        description="a decided and an open review-board ballot, a bias assessment",
    )


__all__ = [
    "METRICS",
    "PLANTED",
    "Calendar",
    "register",
    "register_incentives",
    "seed_catalogue",
    "seed_feedback",
    "seed_incentives",
    "seed_methodology",
    "seed_observations",
]


# -- step 4: incentive safeguards (M5) --------------------------------------------------

#: (team, plan name, [(metric key, weight %)], activate?)
INCENTIVE_PLANS = (
    # High interdependence: 60 % on team metrics, above the 50 % minimum.
    ("platform", "Platform bonus", (("eng.deployment_frequency", "30"), ("eng.change_failure_rate", "30"), ("eng.pr_review_hours", "40")), True),
    # Medium interdependence, 70 % individual: a draft the collaboration report flags.
    ("support-desk", "Support desk bonus (draft)", (("support.calls_handled", "50"), ("support.quality_score", "20"), ("support.first_contact_resolution", "30")), False),
)  # fmt: skip


def seed_incentives(ctx: DemoContext) -> None:
    """One active incentive plan and a draft with a silo risk, the gaming
    detection run over the year of observations (the planted bunching shows
    up), and a peer-review cycle for Support with generated assignments."""
    from metrics import gaming_review, incentives, peer_reviews
    from metrics.models import IncentiveComponent, IncentivePlan, PeerReviewCycle

    metrics: dict[str, Metric] = ctx.extra["metrics"]
    half_start = ctx.today.replace(month=1 if ctx.today.month <= 6 else 7, day=1)
    half_end = _month_end(_add_months(half_start, 5))
    for team_key, name, weights, activate in INCENTIVE_PLANS:
        plan = save_governed(
            IncentivePlan(
                team=ctx.teams[team_key],
                name=name,
                period_start=half_start,
                period_end=half_end,
            ),
            actor=ctx.actor,
            reason=ctx.reason,
        )
        for key, weight in weights:
            metric = metrics[key]
            save_governed(
                IncentiveComponent(
                    plan=plan,
                    metric=metric,
                    level="individual" if metric.level == IND else "team",
                    weight=Decimal(weight),
                ),
                actor=ctx.actor,
                reason=ctx.reason,
            )
        if activate:
            incentives.plan_activate(actor=ctx.actor, plan=plan, reason=ctx.reason)
        ctx.counts["incentive plans"] += 1
    found = gaming_review.detect_gaming(actor=ctx.actor)
    ctx.counts["gaming findings"] += found["created"]
    cycle = save_governed(
        PeerReviewCycle(
            name=f"{ctx.today.year}-H{1 if ctx.today.month <= 6 else 2}",
            department=ctx.departments["support"],
            reviewers_per_person=2,
            starts_on=half_start,
        ),
        actor=ctx.actor,
        reason=ctx.reason,
    )
    assigned = peer_reviews.generate_assignments(
        actor=ctx.actor, cycle=cycle, reason=ctx.reason
    )
    ctx.counts["peer-review assignments"] += len(assigned)


def register_incentives() -> None:
    from governance import demo

    demo.register(
        "metrics-incentives",
        seed_incentives,
        order=230,
        description="incentive plans (one active, one flagged draft), gaming "
        "findings in the review queue, a peer-review cycle with assignments",
    )
