"""The admin's app list (sidebar and index), rendered in Python.

Django renders ``admin/app_list.html`` through the template engine: with some
60 registered models that is ~4,000 template nodes on every admin page (the
navigation sidebar), about a third of a changelist page's rendering. The tag
below writes the same markup (same elements, attributes, classes and texts;
only the indentation differs), so every admin page gets cheaper without
showing anything different. ``portal/tests/test_app_list.py`` renders Django's
own template next to it for real users' app lists and requires equal output.
"""

from __future__ import annotations

from typing import Any

from django import template
from django.template.defaultfilters import urlencode
from django.utils.html import conditional_escape as esc
from django.utils.html import format_html
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext

register = template.Library()


def _within(url: Any, path: str) -> bool:
    """The template's ``{% if url in path %}`` (an error there is False)."""
    try:
        return url in path
    except TypeError:
        return False


@register.simple_tag(takes_context=True)
def portal_app_list(
    context: template.Context, app_list: Any, show_changelinks: Any = False
) -> SafeString:
    if not app_list:
        return format_html(
            "<p>{}</p>", gettext("You don’t have permission to view or edit anything.")
        )
    request = context.get("request")
    path = getattr(request, "path", None)
    path = urlencode(path) if isinstance(path, str) else ""
    model_name_th = esc(gettext("Model name"))
    add_link_th = esc(gettext("Add link"))
    change_link_th = esc(gettext("Change or view list link"))
    add_text = esc(gettext("Add"))
    view_text = esc(gettext("View"))
    change_text = esc(gettext("Change"))
    title_text = gettext("Models in the %(name)s application")
    out: list[str] = []
    append = out.append
    for app in app_list:
        app_label = esc(app["app_label"])
        app_url = app.get("app_url")
        current_app = " current-app" if _within(app_url, path) else ""
        append(f'<div class="app-{app_label} module{current_app}"><table><caption>')
        append(
            f'<a href="{esc(app_url)}" class="section" title="'
            f'{title_text % {"name": esc(app["name"])}}">{esc(app["name"])}</a>'
        )
        append(
            '</caption><thead class="visually-hidden"><tr>'
            f'<th scope="col">{model_name_th}</th>'
            f'<th scope="col">{add_link_th}</th>'
            f'<th scope="col">{change_link_th}</th>'
            "</tr></thead>"
        )
        for model in app["models"]:
            model_name = esc(str(model["object_name"]).lower())
            admin_url = model.get("admin_url")
            add_url = model.get("add_url")
            current = _within(admin_url, path)
            row_id = f"{app_label}-{model_name}"
            append(
                f'<tr class="model-{model_name}{" current-model" if current else ""}">'
                f'<th scope="row" id="{row_id}">'
            )
            name = esc(model["name"])
            if admin_url:
                aria = ' aria-current="page"' if current else ""
                append(f'<a href="{esc(admin_url)}"{aria}>{name}</a>')
            else:
                append(str(name))
            append("</th>")
            if add_url:
                append(
                    f'<td><a href="{esc(add_url)}" class="addlink" '
                    f'aria-describedby="{row_id}">{add_text}</a></td>'
                )
            else:
                append("<td></td>")
            if admin_url and show_changelinks:
                if model.get("view_only"):
                    kind, text = "viewlink", view_text
                else:
                    kind, text = "changelink", change_text
                append(
                    f'<td><a href="{esc(admin_url)}" class="{kind}" '
                    f'aria-describedby="{row_id}">{text}</a></td>'
                )
            elif show_changelinks:
                append("<td></td>")
            append("</tr>")
        append("</table></div>")
    return mark_safe("".join(out))  # noqa: S308 - every value above is escaped
