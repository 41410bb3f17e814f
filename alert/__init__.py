"""`mainport alert`: the alert evaluator and notifier (issue 15, SPEC "Alerts")."""
