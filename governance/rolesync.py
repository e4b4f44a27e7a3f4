"""Make the Django groups match the roles declared in :mod:`governance.roles`."""

from __future__ import annotations

from django.contrib.auth.models import Group, Permission

from governance.roles import ROLES


def sync_roles(*, verbosity: int = 1, using: str = "default") -> dict[str, int]:
    """Create/update one group per role with exactly its declared permissions.

    Permissions that don't exist (an app not migrated yet) are skipped and
    reported; they're added on the next sync. Returns permissions per role.
    """
    all_perms = {
        f"{app}.{codename}": pk
        for pk, app, codename in Permission.objects.using(using).values_list(
            "pk", "content_type__app_label", "codename"
        )
    }
    result: dict[str, int] = {}
    for role, spec in ROLES.items():
        group, _ = Group.objects.using(using).get_or_create(name=role.value)
        wanted = [all_perms[p] for p in sorted(spec.permissions) if p in all_perms]
        missing = sorted(p for p in spec.permissions if p not in all_perms)
        group.permissions.set(wanted)
        result[role.value] = len(wanted)
        if verbosity >= 2 and missing:
            print(f"  role {role.value}: not yet available: {', '.join(missing)}")
    return result
