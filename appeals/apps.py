from __future__ import annotations

from django.apps import AppConfig


class AppealsConfig(AppConfig):
    name = "appeals"
    verbose_name = "Appeals"

    def ready(self) -> None:
        from governance import roles, schedules
        from governance.roles import Role

        read = {
            "appeals.view_appeal",
            "appeals.view_evidence",
            "appeals.view_stagerecord",
            "appeals.view_conflictdeclaration",
        }
        manage = read | {
            "appeals.change_appeal",
            "appeals.manage_appeal",
            "appeals.add_conflictdeclaration",
        }
        roles.extend(Role.HR, manage | {"appeals.decide_appeal"})
        roles.extend(Role.COMPLIANCE, manage)
        roles.extend(Role.AUDITOR, read)
        # Reviewers: model permissions; the rows come from per-appeal grants.
        roles.extend(
            Role.BOARD,
            read | {"appeals.change_appeal", "appeals.decide_appeal"},
        )
        roles.extend(Role.EMPLOYEE, {"appeals.view_appeal", "appeals.view_evidence"})
        roles.extend(Role.MANAGER, {"appeals.view_appeal", "appeals.view_evidence"})

        schedules.register("appeals.sla_sweep", "appeals.tasks.sla_sweep", "H")

        from appeals import demo, report_sections, views

        views.register()
        report_sections.register()
        demo.register()
