"""Engine housekeeping: `clean`."""

from __future__ import annotations

from .app import app


@app.command("clean")
def clean_command():
    """Stop and remove the containers, networks and volumes of runs whose runner died (killed,
    crashed), and give back the files they wrote. What a live runner owns is never touched. Every
    command that uses the engine does this when it starts; this one says what it did."""
    from ..backends.images import docker_client
    from ..backends.leftovers import sweep
    from . import render

    swept = sweep(docker_client())
    for line in swept.removed:
        render.console.print(f"removed {render.escape(line)}")
    for folder in swept.handed_back:
        render.console.print(f"handed back {render.escape(folder)}")
    if not swept.removed:
        render.console.print("nothing to clean: no runner that died left anything on this engine")
    if swept.kept:
        render.console.print(f"left alone: {swept.kept} object{'s' * (swept.kept > 1)} of runners "
                             "that are alive, or that run elsewhere (another machine or container)")
