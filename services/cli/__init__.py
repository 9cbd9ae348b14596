"""The ``riskstream`` command line: one typer app, one sub-app per area."""
