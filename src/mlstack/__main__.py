"""`python -m mlstack ...`: the `mlstack` command line, for callers that hold an interpreter."""

from mlstack.cli import app

app(prog_name="mlstack")
