"""``riskstream changes list|show|approve|reject``: four-eyes changes through the services
that apply them (the warning service for rules, the scorer for models), with the admin key
(``RISKSTREAM_ADMIN_API_KEY``). The approver's key must name a person other than the
proposer's, with the approver role (see docs/security.md)."""

from __future__ import annotations

from typing import Annotated

import typer

from services.cli.admin_http import admin_call, print_answer
from services.cli.settings import CliSettings

app = typer.Typer(
    help="List, approve and reject proposed rule and model changes (four eyes).",
    no_args_is_help=True,
)

Reason = Annotated[str, typer.Option("--reason", help="Why: recorded on the audit trail.")]
ChangeId = Annotated[str, typer.Argument(help="The change id a proposal answered.")]


def _services() -> list[str]:
    settings = CliSettings()
    return [settings.warning_url, settings.scorer_url]


def _on_the_service_that_has_it(method: str, path: str, body: dict[str, str] | None) -> None:
    """Sends the call to the service holding the change (the other answers 404)."""
    for base_url in _services():
        response = admin_call(base_url, method, path, body, exit_on_refusal=False)
        if response.status_code != 404:
            if response.status_code >= 400:
                print_answer(response)
            return
    typer.echo("no service knows that change", err=True)
    raise typer.Exit(1)


@app.command("list")
def list_changes(
    status: Annotated[
        str | None, typer.Option(help="proposed, applied, rejected or withdrawn.")
    ] = None,
) -> None:
    """Every change the warning service and the scorer hold, newest first."""
    query = "" if status is None else f"?status={status}"
    for base_url in _services():
        admin_call(base_url, "GET", f"/v1/changes{query}")


@app.command()
def show(change_id: ChangeId) -> None:
    """One change, with the proposed rule file."""
    _on_the_service_that_has_it("GET", f"/v1/changes/{change_id}", None)


@app.command()
def approve(change_id: ChangeId, reason: Reason = "approved from the command line") -> None:
    """Put another person's proposed change in force (approver role)."""
    _on_the_service_that_has_it("POST", f"/v1/changes/{change_id}:approve", {"reason": reason})


@app.command()
def reject(change_id: ChangeId, reason: Reason = "rejected from the command line") -> None:
    """Close a proposal unapplied (its proposer withdraws it, an approver rejects it)."""
    _on_the_service_that_has_it("POST", f"/v1/changes/{change_id}:reject", {"reason": reason})
