"""Alembic's entry: migrations run on the connection controlplane.db.upgrade hands over."""

from __future__ import annotations

from alembic import context

import controlplane.alert_tables  # noqa: F401 - its tables on the same MetaData
from controlplane.tables import metadata

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
context.run_migrations()
