"""``riskstream model publish|list|activate|rollback|shadow``: the model registry through
the scorer's admin HTTP API (``RISKSTREAM_SCORER_URL``, ``RISKSTREAM_ADMIN_API_KEY``).

Each command prints the scorer's JSON answer; the exit code is 1 when the scorer refused
(the answer names the reason, e.g. ``wrong_feature_count``) and 2 when it is unreachable.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import httpx
import orjson
import typer

from services.cli.settings import CliSettings

app = typer.Typer(
    help="Publish, activate, roll back and shadow scoring models.", no_args_is_help=True
)

Reason = Annotated[str, typer.Option("--reason", help="Why: recorded on the audit trail.")]


def _call(method: str, path: str, body: dict[str, Any] | None = None) -> None:
    settings = CliSettings()
    headers = {"Authorization": f"Bearer {settings.admin_api_key.get_secret_value()}"}
    try:
        response = httpx.request(
            method, f"{settings.scorer_url}{path}", json=body, headers=headers, timeout=60.0
        )
    except httpx.HTTPError as error:
        typer.echo(f"scorer at {settings.scorer_url} unreachable: {error}", err=True)
        raise typer.Exit(2) from error
    sys.stdout.write(orjson.dumps(response.json(), option=orjson.OPT_INDENT_2).decode() + "\n")
    if response.status_code >= 400:
        raise typer.Exit(1)


@app.command()
def publish(
    bundle: Annotated[Path, typer.Argument(help="Bundle directory (readable by the scorer).")],
    reason: Reason = "published from the command line",
) -> None:
    """Run the gate on BUNDLE and add it to the registry (it does not serve yet)."""
    _call("POST", "/v1/models", {"path": str(bundle.resolve()), "reason": reason})


@app.command("list")
def list_models() -> None:
    """Published versions, the active and shadow models and the activation history."""
    _call("GET", "/v1/models")


@app.command()
def activate(
    version: Annotated[str, typer.Argument(help="A published model version.")],
    reason: Reason = "activated from the command line",
) -> None:
    """Make VERSION the champion on every scorer instance."""
    _call("POST", f"/v1/models/{version}:activate", {"reason": reason})


@app.command()
def rollback(reason: Reason = "rolled back from the command line") -> None:
    """Re-activate the version that was active before the current one."""
    _call("POST", "/v1/models:rollback", {"reason": reason})


@app.command()
def shadow(
    version: Annotated[str, typer.Argument(help="A published version, or 'none' to stop.")],
    reason: Reason = "shadow set from the command line",
) -> None:
    """Score VERSION beside the champion on live traffic (never deciding); 'none' stops."""
    if version == "none":
        _call("DELETE", "/v1/models/shadow", {"reason": reason})
    else:
        _call("POST", f"/v1/models/{version}:shadow", {"reason": reason})
