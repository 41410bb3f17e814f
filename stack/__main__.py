"""`python -m stack` is `mainport`: how `mainport up` starts its children with the same Python."""

from stack.cli import app

app(prog_name="mainport")
