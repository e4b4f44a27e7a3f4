"""The REST API (M2.1): token-authenticated ingestion, session-authenticated reads.

Thin DRF views over :mod:`metrics.services` (writes) and the scoping querysets
(reads). See docs/api.md.
"""
