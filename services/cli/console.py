"""``riskstream console hash-password``: the argon2id hash of a console account's password,
for ``RISKSTREAM_CONSOLE_ACCOUNTS`` (``<name>:<role>:<hash>``, separated by semicolons)."""

from __future__ import annotations

import typer
from argon2 import PasswordHasher

app = typer.Typer(help="The risk team's console.", no_args_is_help=True)


@app.command("hash-password")
def hash_password() -> None:
    """Ask for a password (twice, not echoed) and print its argon2id hash."""
    password = typer.prompt("password", hide_input=True, confirmation_prompt=True)
    if len(password) < 12:
        typer.echo("a console password has at least 12 characters", err=True)
        raise typer.Exit(1)
    typer.echo(PasswordHasher().hash(password))
