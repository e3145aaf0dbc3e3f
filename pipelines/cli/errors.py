"""How every command of the command line ends on a user's mistake: `error: ...` lines, exit status 2."""

import sys
from typing import NoReturn

import click

USER_ERROR = 2


def fail(messages: list[str] | str) -> NoReturn:
    for message in [messages] if isinstance(messages, str) else messages:
        click.echo(f"error: {message}", err=True)
    sys.exit(USER_ERROR)
