"""`python -m polymm.cli`: the command line."""

from polymm.cli import app

app()
