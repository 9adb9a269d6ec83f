"""The `cursus-local` command line: one typer app (app.py), the commands by area, one renderer.

Importing a command module registers its commands on `app`, so this imports all of them. Each
keeps its imports inside its commands, which keeps start-up to typer and these small modules.
"""

from . import pipeline, export, testing, reports, s3, maintenance, dashboard  # noqa: F401, I001  (registers the commands, in --help's order)
from .app import app, main

__all__ = ["app", "main"]
