"""`python -m mainport` is `mainport`: how `mainport up` starts children with the same Python."""

from mainport.cli import app

app(prog_name="mainport")
