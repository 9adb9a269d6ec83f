"""The one `cursus-local` typer app, and the one place where errors become exit codes.

The command modules (pipeline, testing, s3) decorate `app` from here; `cli/__init__` imports them
so that they register. This module imports none of them, so there is no cycle.

Exit codes: 0 passed, 1 a step or check failed (the commands say so), 2 bad input (`UserError`),
130 Ctrl-C. Only typer and the error type are imported here: every command pays for the start-up.
"""

from __future__ import annotations

import typer
from typer.core import TyperGroup

from ..errors import UserError


class _Commands(TyperGroup):
    """The app's group. Every command runs inside `invoke`, so its handler is the one handler.

    It sits here rather than around `app()` in `main` because typer turns Ctrl-C into a silent exit
    130 before `main` could see it, and because tests that invoke `app` directly get it too."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except UserError as exc:
            _to_stderr("[bold red]error:[/]", str(exc))
            raise typer.Exit(2) from None
        except KeyboardInterrupt:
            _to_stderr("[yellow]interrupted[/]")
            raise typer.Exit(130) from None


def _to_stderr(label: str, message: str = "") -> None:
    """A styled label, then the message escaped: `[upstream, downstream]` in it is text, not a style."""
    from rich.console import Console   # rich only once there is something to say
    from rich.markup import escape
    Console(stderr=True, highlight=False).print(f"{label} {escape(message)}".rstrip())


app = typer.Typer(cls=_Commands, add_completion=False, no_args_is_help=True,
                  pretty_exceptions_enable=False,
                  help="Run Cursus pipeline scripts in their SageMaker Processing images, locally.")


@app.callback()
def _root():
    """Run Cursus pipeline scripts in their SageMaker Processing images, locally."""


def main() -> None:
    app()
