from __future__ import annotations

from django.apps import AppConfig
from django.db.models.signals import post_migrate


class GovernanceConfig(AppConfig):
    name = "governance"
    verbose_name = "Governance"

    def ready(self) -> None:
        from django.conf import settings

        from governance import lookups  # noqa: F401  (registers __in_array)
        from governance.audit import events  # noqa: F401  (registers the event table)
        from governance.crypto.keyring import parse_master_keys

        # A missing or malformed master key stops start-up here, with a clear message.
        parse_master_keys(settings.PORTAL_MASTER_KEYS)
        from governance import (
            checks,  # noqa: F401
            schedules,
        )

        schedules.register(
            "governance.verify_audit_chain", "governance.tasks.verify_audit_chain", "D"
        )
        from governance import (  # noqa: F401  (registries and demo steps)
            demo_compliance,
            retention,
            subject_rights,
        )

        schedules.register(
            "governance.purge_expired", "governance.tasks.purge_expired", "D"
        )
        schedules.register(
            "governance.fail_stale_report_jobs",
            "governance.tasks.fail_stale_report_jobs",
            "H",
        )
        schedules.register(
            "governance.clear_expired_sessions",
            "governance.tasks.clear_expired_sessions",
            "D",
        )
        # Auditors see pseudonyms instead of who people are, unless granted.
        from governance import pseudonyms
        from governance.models import Person

        pseudonyms.register(
            Person, fields=("employee_id", "full_name", "email"), subject="id"
        )
        post_migrate.connect(
            pseudonyms.ensure_permission,
            sender=self,
            dispatch_uid="governance.identity_permission",
        )
        _declare_report_jobs()
        # After the *last* app's post_migrate: every app's permissions exist by then.
        post_migrate.connect(
            _sync_roles_after_migrate, dispatch_uid="governance.sync_roles"
        )


def _declare_report_jobs() -> None:
    """Audit packs (R.ASYNC): who may request them, who sees identities, and
    the kernel's own sections (apps above register theirs in ready())."""
    from governance import roles
    from governance.reports import sections
    from governance.roles import Role

    request = {"governance.view_reportjob", "governance.add_reportjob"}
    roles.extend(Role.COMPLIANCE, request)
    roles.extend(Role.MANAGER, request)
    # Auditors see pseudonyms unless granted governance.view_identities.
    roles.extend(Role.AUDITOR, request)
    sections._register_kernel_sections()


def _sync_roles_after_migrate(sender: AppConfig, **kwargs: object) -> None:
    from django.apps import apps

    with_models = [
        config for config in apps.get_app_configs() if config.models_module is not None
    ]
    if sender is not with_models[-1]:
        return
    from governance.rolesync import sync_roles
    from governance.schedules import sync_schedules

    using = str(kwargs.get("using", "default"))
    sync_roles(verbosity=int(kwargs.get("verbosity", 1) or 0), using=using)
    sync_schedules(using=using)
