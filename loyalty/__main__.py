"""``python -m loyalty``: the ``loyalty`` command."""

from loyalty.cli.main import app

app(prog_name="loyalty")
