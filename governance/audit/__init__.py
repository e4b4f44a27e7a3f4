"""Audit trail: governed history, audit events and the tamper-evident chain."""
