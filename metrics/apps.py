from __future__ import annotations

from django.apps import AppConfig


class MetricsConfig(AppConfig):
    name = "metrics"
    verbose_name = "Metrics"

    def ready(self) -> None:
        from governance import roles
        from metrics import report_sections

        report_sections.register()  # audit-pack sections (R.PDF)
        from governance.roles import Role

        view = {
            f"metrics.view_{m}"
            for m in (
                "strategicobjective",
                "datasource",
                "metric",
                "metrictarget",
                "metricconflict",
                "transformationstep",
                "methodologyversion",
                "changerequest",
                "stewardshipdispute",
                "fieldname",
                "fieldalias",
                "observation",
                "dataqualityissue",
                "annotation",
            )
        }
        people_data = {
            "metrics.view_peerfeedback",
            "metrics.view_stakeholderfeedback",
            "metrics.view_evaluation",
        }
        catalogue_edit = {
            f"metrics.{a}_{m}"
            for a in ("add", "change")
            for m in (
                "metric",
                "metrictarget",
                "metricconflict",
                "transformationstep",
                "strategicobjective",
            )
        }
        data_edit = {
            "metrics.add_observation",
            "metrics.change_observation",
            "metrics.add_annotation",
        }
        roles.extend(
            Role.HR,
            view
            | people_data
            | catalogue_edit
            | data_edit
            | {
                "metrics.add_changerequest",
                "metrics.add_datasource",
                "metrics.change_datasource",
                "metrics.add_peerfeedback",
                "metrics.change_peerfeedback",
                "metrics.add_stakeholderfeedback",
                "metrics.add_evaluation",
                "metrics.change_evaluation",
                "metrics.add_fieldname",
                "metrics.change_fieldname",
                "metrics.add_fieldalias",
                "metrics.change_fieldalias",
                "metrics.add_stewardshipdispute",
                "metrics.view_apitoken",
                "metrics.add_apitoken",
                "metrics.change_apitoken",
            },
        )
        roles.extend(
            Role.COMPLIANCE, view | people_data | {"metrics.change_stewardshipdispute"}
        )
        roles.extend(
            Role.STEWARD,
            view
            | catalogue_edit
            | data_edit
            | {
                "metrics.add_changerequest",
                "metrics.change_changerequest",
                "metrics.change_dataqualityissue",
                "metrics.change_stewardshipdispute",
                "metrics.add_stewardshipdispute",
                "metrics.add_methodologyversion",
                "metrics.change_methodologyversion",
            },
        )
        roles.extend(
            Role.METRIC_OWNER,
            view
            | catalogue_edit
            | data_edit
            | {
                "metrics.add_changerequest",
                "metrics.add_methodologyversion",
                "metrics.change_methodologyversion",
            },
        )
        roles.extend(
            Role.BOARD,
            {
                f"metrics.view_{m}"
                for m in (
                    "metric",
                    "metrictarget",
                    "methodologyversion",
                    "strategicobjective",
                    "datasource",
                )
            },
        )
        roles.extend(Role.MANAGER, view | people_data | {"metrics.add_annotation"})
        roles.extend(
            Role.EMPLOYEE,
            {
                "metrics.view_observation",
                "metrics.view_evaluation",
                "metrics.view_metric",
            },
        )
        roles.extend(Role.AUDITOR, view | people_data)

        # Incentive safeguards (M5): HR writes plans and cycles; HR and
        # compliance review gaming findings; managers read their teams' plans
        # and their department's cycles; auditors read everything.
        incentive_view = {
            f"metrics.view_{m}"
            for m in (
                "incentiveplan",
                "incentivecomponent",
                "peerreviewcycle",
                "peerreviewassignment",
            )
        }
        roles.extend(
            Role.HR,
            incentive_view
            | {
                "metrics.add_incentiveplan",
                "metrics.change_incentiveplan",
                "metrics.add_incentivecomponent",
                "metrics.change_incentivecomponent",
                "metrics.delete_incentivecomponent",
                "metrics.add_peerreviewcycle",
                "metrics.change_peerreviewcycle",
                "metrics.view_gamingfinding",
                "metrics.change_gamingfinding",
            },
        )
        roles.extend(
            Role.COMPLIANCE,
            incentive_view
            | {"metrics.view_gamingfinding", "metrics.change_gamingfinding"},
        )
        roles.extend(Role.MANAGER, incentive_view)
        roles.extend(Role.AUDITOR, incentive_view | {"metrics.view_gamingfinding"})

        # M5.6: team scoreboards of non-punitive team metrics on /me/.
        from governance import views as selfservice
        from metrics import incentives

        selfservice.register_section(
            selfservice.Section(
                key="scoreboards",
                title="Team scoreboards",
                template="metrics/selfservice/scoreboards.html",
                order=60,
                context=incentives.scoreboard_section,
            )
        )

        from metrics import demo

        demo.register()  # seed_demo steps (orders 200+)

        # Data quality (M3.4), lineage audits (M3.2), stale/orphaned metrics (M1.5).
        from governance import schedules
        from metrics import quality, services

        services.register_post_capture_hook(
            quality.scan_observations, prefetch=quality.prefetch_history
        )
        schedules.register("metrics.lineage_audit", "metrics.tasks.lineage_audit", "Q")
        schedules.register(
            "metrics.flag_stale_and_orphaned",
            "metrics.tasks.flag_stale_and_orphaned",
            "D",
        )
        schedules.register(
            "metrics.gaming_detection", "metrics.tasks.gaming_detection", "D"
        )

        # Consent (M8.3) and review board (M8.4): capture/activation guards,
        # approval revocation on governed edits, the board's subject provider.
        from metrics import governance_links

        governance_links.register()
