"""The one `cursus-local` typer app, and the one place where errors become exit codes.

The command modules (pipeline, testing, s3) decorate `app` from here; `cli/__init__` imports them
so that they register. This module imports none of them, so there is no cycle.

Exit codes: 0 passed, 1 a step or check failed (the commands say so), 2 bad input (`UserError`),
128 + the signal's number when interrupted: 130 Ctrl-C (SIGINT), 143 SIGTERM, 129 SIGHUP, all
three handled alike (`interrupts`). Only typer, the error type and `interrupts` are imported here:
every command pays for the start-up.
"""

from __future__ import annotations

import typer
from typer.core import TyperGroup

from .. import interrupts
from ..errors import UserError


class _Commands(TyperGroup):
    """The app's group. Every command runs inside `invoke`, so its handler is the one handler.

    It sits here rather than around `app()` in `main` because typer turns Ctrl-C into a silent exit
    130 before `main` could see it, and because tests that invoke `app` directly get it too."""

    def invoke(self, ctx):
        with interrupts.handled(_say):
            try:
                done = super().invoke(ctx)
            except UserError as exc:
                _to_stderr("[bold red]error:[/]", str(exc))
                raise typer.Exit(2) from None
            except KeyboardInterrupt:   # SIGTERM and SIGHUP too (interrupts.Interrupted)
                raise _interrupted() from None
            except typer.Exit:   # a command that wrapped up after a signal: summary, result files
                if interrupts.requested():
                    raise _interrupted() from None
                raise
            if interrupts.requested():
                raise _interrupted()
            return done


def _interrupted() -> typer.Exit:
    """The last line says so, whichever signal it was; the exit code says which."""
    signum = interrupts.received()
    _to_stderr("[yellow]interrupted[/]", f"({interrupts.signal_name(signum)})" if signum else "")
    return typer.Exit(interrupts.exit_code())


def _say(text: str) -> None:
    """What a stopping run is doing. "interrupted" only after a signal: a pipeline also stops jobs
    itself (a failed check stops a child that started early)."""
    _to_stderr("[yellow]interrupted:[/]" if interrupts.requested() else "[yellow]note:[/]", text)


def _to_stderr(label: str, message: str = "") -> None:
    """A styled label, then the message escaped: `[upstream, downstream]` in it is text, not a style."""
    from rich.console import Console   # rich only once there is something to say
    from rich.markup import escape
    # soft_wrap: a message is one line however narrow the terminal or CI log; never folded mid-word
    Console(stderr=True, highlight=False, soft_wrap=True).print(f"{label} {escape(message)}".rstrip())


app = typer.Typer(cls=_Commands, add_completion=False, no_args_is_help=True,
                  pretty_exceptions_enable=False, context_settings={"help_option_names": ["-h", "--help"]},
                  help="Run Cursus pipeline scripts in their SageMaker Processing images, locally.")


def _print_version(value: bool) -> None:
    if value:
        from .. import __version__
        typer.echo(f"cursus-local {__version__}")
        raise typer.Exit(0)


@app.callback()
def _root(version: bool = typer.Option(False, "--version", "-V", callback=_print_version, is_eager=True,
                                       help="Print the version and exit")):
    """Run Cursus pipeline scripts in their SageMaker Processing images, locally."""
    from ..ownership import check_owner
    check_owner()   # a bad CURSUS_LOCAL_OWNER is exit 2 before anything starts, not after a run


def main() -> None:
    app()
