"""``riskstream model publish|list|activate|rollback|shadow``: the model registry through
the scorer's admin HTTP API (``RISKSTREAM_SCORER_URL``, ``RISKSTREAM_ADMIN_API_KEY``).

Each command prints the scorer's JSON answer; the exit code is 1 when the scorer refused
(the answer names the reason, e.g. ``wrong_feature_count``) and 2 when it is unreachable.
``activate`` and ``rollback`` propose a change that a second person approves with
``riskstream changes approve ID`` (four eyes); ``rollback --emergency`` is an
administrator's immediate rollback, audited as an emergency.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from services.cli.admin_http import admin_call
from services.cli.settings import CliSettings

app = typer.Typer(
    help="Publish, activate, roll back and shadow scoring models.", no_args_is_help=True
)

Reason = Annotated[str, typer.Option("--reason", help="Why: recorded on the audit trail.")]


def _call(method: str, path: str, body: dict[str, Any] | None = None) -> None:
    admin_call(CliSettings().scorer_url, method, path, body)


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
    """Propose making VERSION the champion; a second person approves it."""
    _call("POST", f"/v1/models/{version}:activate", {"reason": reason})


@app.command()
def rollback(
    reason: Reason = "rolled back from the command line",
    emergency: Annotated[
        bool,
        typer.Option(
            "--emergency",
            help="Roll back at once, alone (admin role); audited as an emergency.",
        ),
    ] = False,
) -> None:
    """Propose re-activating the version active before the current one (or, with
    --emergency, do it at once)."""
    _call("POST", "/v1/models:rollback", {"reason": reason, "emergency": emergency})


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
