"""The control-plane database engine of this API process, as a route dependency (opened in the
app's lifespan, api/app.py)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy import Engine


def _control_db(request: Request) -> Engine:
    engine: Engine = request.app.state.control_db
    return engine


ControlDbDep = Annotated[Engine, Depends(_control_db)]
