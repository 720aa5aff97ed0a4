"""The access report: every grant of a policy revision as a matrix (text table and HTML page)."""
