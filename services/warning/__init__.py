"""The warning service: judges each score on ``risk.scores`` against a versioned rule file
and issues graded, reversible risk actions on ``risk.actions``."""
