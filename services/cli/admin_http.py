"""Administrative calls of the command line to the services' HTTP APIs, with the admin key
(``RISKSTREAM_ADMIN_API_KEY``). The answer is printed as JSON; the exit code is 1 when the
service refused (the answer names the reason) and 2 when it is unreachable."""

from __future__ import annotations

import sys
from typing import Any

import httpx
import orjson
import typer

from services.cli.settings import CliSettings


def admin_call(
    base_url: str,
    method: str,
    path: str,
    body: dict[str, Any] | None = None,
    *,
    exit_on_refusal: bool = True,
) -> httpx.Response:
    """Calls ``base_url + path`` and prints the JSON answer (unless it is a refusal the
    caller handles, ``exit_on_refusal=False``)."""
    settings = CliSettings()
    headers = {"Authorization": f"Bearer {settings.admin_api_key.get_secret_value()}"}
    try:
        response = httpx.request(
            method, f"{base_url}{path}", json=body, headers=headers, timeout=60.0
        )
    except httpx.HTTPError as error:
        typer.echo(f"{base_url} unreachable: {error}", err=True)
        raise typer.Exit(2) from error
    if response.status_code < 400 or exit_on_refusal:
        print_answer(response)
    return response


def print_answer(response: httpx.Response) -> None:
    """Prints the JSON answer; exit 1 when it is a refusal."""
    sys.stdout.write(orjson.dumps(response.json(), option=orjson.OPT_INDENT_2).decode() + "\n")
    if response.status_code >= 400:
        raise typer.Exit(1)
