"""Analytical admin pages for metrics (control chart, exceptions, alignment, portfolio, lineage)."""


def admin_urls(admin_site):
    return []
