"""``riskstream decisions show ID`` and ``decisions list --customer ID``: frozen decision
records through the score service's decision-log API (``RISKSTREAM_SCORER_URL``), which
reads the Redis copy of ``risk.decisions`` and records every read on ``risk.audit``.

The key is ``RISKSTREAM_AUDITOR_API_KEY`` when set (an auditor key may read decisions and
nothing else), else the admin key. Each command prints the JSON answer; the exit code is 1
when the scorer refused (unknown id, missing scope) and 2 when it is unreachable.
"""

from __future__ import annotations

import sys
from typing import Annotated

import httpx
import orjson
import typer

from services.cli.settings import CliSettings

app = typer.Typer(
    help="Read the decision log (every answer of the score API).", no_args_is_help=True
)


def _get(path: str, params: dict[str, int] | None = None) -> None:
    settings = CliSettings()
    key = settings.auditor_api_key or settings.admin_api_key
    headers = {"Authorization": f"Bearer {key.get_secret_value()}"}
    try:
        response = httpx.get(
            f"{settings.scorer_url}{path}", params=params, headers=headers, timeout=30.0
        )
    except httpx.HTTPError as error:
        typer.echo(f"scorer at {settings.scorer_url} unreachable: {error}", err=True)
        raise typer.Exit(2) from error
    sys.stdout.write(orjson.dumps(response.json(), option=orjson.OPT_INDENT_2).decode() + "\n")
    if response.status_code >= 400:
        raise typer.Exit(1)


@app.command()
def show(decision_id: Annotated[str, typer.Argument(help="The answer's decision_id.")]) -> None:
    """Print the decision's frozen record: request, answer, model version, features and
    their as_of, reasons, fallback reason and the caller's key label."""
    _get(f"/v1/decisions/{decision_id}")


@app.command("list")
def list_decisions(
    customer: Annotated[str, typer.Option("--customer", help="The customer's id.")],
    limit: Annotated[int, typer.Option(min=1, max=500, help="How many, newest first.")] = 50,
) -> None:
    """Print the customer's latest decisions, newest first."""
    _get(f"/v1/customers/{customer}/decisions", {"limit": limit})
