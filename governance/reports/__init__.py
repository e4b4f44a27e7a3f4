"""Report rendering kernel (R.PDF, R.ASYNC).

Every auditor report is HTML from Django templates, rendered by WeasyPrint
into an archival PDF/A-3b that carries the data behind it (JSON always, CSV
for tables) as associated files, a classification marking and "Page X of N"
on every page. Large reports are rendered chunk by chunk and merged with
pikepdf so memory stays bounded. The SHA-256 of every issued file is recorded
in the audit trail; ``manage.py verify_report FILE`` checks a file against it.

Modules (import the one you need; importing this package loads nothing heavy):

- ``render``: :class:`~governance.reports.render.ReportSpec`,
  :func:`~governance.reports.render.render_report` and chunk helpers.
- ``data``: :class:`~governance.reports.data.DataFile`, ``json_data``, ``csv_data``.
- ``issue``: :func:`~governance.reports.issue.issue_report` = render + audit.
- ``audit``: the ``report.issued`` event helper and lookup.
- ``integrity``: SHA-256 of a file and its verification against the trail.
- ``pdfinfo``: read a PDF back (text per page, fonts, PDF/A id, attachments).
- ``charts``: matplotlib figure to an embeddable data URI.
"""
