"""Pure analytics: statistical process control, run rules and input-error checks.

Nothing in this package imports Django, so every function can be tested on
plain lists of numbers and reused from management commands, tasks and reports.
"""
