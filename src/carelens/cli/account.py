"""Signing in and out at the command line, and the store's local administrator.

``carelens login`` keeps a token for one store in a file of the user's own (:func:`token_file`);
every command that changes the store then acts as that user, with its role and ties. With nobody signed
in, the command line acts as the store's local administrator (:mod:`carelens.services.identity`).
"""

from __future__ import annotations

import typer

from carelens.cli._common import (
    DbOption,
    app,
    cli_actor,
    current_user,
    handles_errors,
    save_token,
    saved_token,
    token_file,
)


@app.command()
@handles_errors
def login(
    db: DbOption = None,
    user: str | None = typer.Option(None, "--user", help="Your user name (asked for when not given)."),
    token: bool = typer.Option(
        False, "--token", help="Paste a token from POST /api/v1/auth/token instead of a password."
    ),
) -> None:
    """Sign in to a store: the commands that change it then act as you (your role and organisations).

    Asks for your password (never echoed), or with --token for a token the API issued, and keeps the
    token in a file only you can read, one per store."""
    from carelens.services.auth import login as sign_in
    from carelens.services.database import open_store
    from carelens.services.identity import signed_in

    engine = open_store(db)
    if token:
        secret = typer.prompt("token", hide_input=True).strip()
        actor = signed_in(engine, secret)
    else:
        name = user or typer.prompt("user name")
        password = typer.prompt("password", hide_input=True)
        secret, _ = sign_in(engine, name.strip(), password, kind="api")
        actor = signed_in(engine, secret)
    path = save_token(engine, secret)
    typer.echo(f"signed in as {actor.user_name} ({actor.role.value}); token kept in {path}")


@app.command()
@handles_errors
def logout(db: DbOption = None) -> None:
    """Sign out of a store: revoke the token `carelens login` kept and remove its file."""
    from carelens.services.auth import logout as sign_out
    from carelens.services.database import connect

    engine = connect(db)
    path = token_file(engine)
    token = path.read_text().strip() if path.is_file() else None
    if token is None:
        typer.echo("not signed in to this store")
        return
    revoked = sign_out(engine, token)
    path.unlink()
    typer.echo("signed out" + ("" if revoked else " (the token had already expired or been revoked)"))


@app.command()
@handles_errors
def whoami(db: DbOption = None) -> None:
    """Who the command line acts as on this store (and whether by a token or as the local administrator)."""
    from carelens.services.database import connect

    engine = connect(db)
    actor = cli_actor(engine)
    how = "signed in" if saved_token(engine) else "nobody signed in: the store's local administrator"
    typer.echo(f"{actor.user_name} ({actor.role.value}; {how})")


admin_app = typer.Typer(help="The store's local administrator.", no_args_is_help=True)
app.add_typer(admin_app, name="admin")


@admin_app.command("init")
@handles_errors
def admin_init(db: DbOption = None) -> None:
    """Create the store's local administrator, who acts when nobody is signed in: on a store with no
    administrator, or when an administrator is signed in."""
    from carelens.services.database import open_store
    from carelens.services.identity import init_local_admin, signed_in

    engine = open_store(db)
    token = saved_token(engine)
    init_local_admin(engine, signed_in(engine, token) if token else None, current_user())
    typer.echo("created the local administrator (local-admin)")
