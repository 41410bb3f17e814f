"""The control-plane database: the registry (partners, devices, ports, switches, maintenance),
broker logins and API tokens (hashes only), data-sharing grants, the audit of every change and the
registry's version that running processes poll to apply a change live.

SQLAlchemy 2 Core over SQLite (WAL, the default under the data dir) or PostgreSQL
(`MAINPORT_DATABASE_URL`); the schema is Alembic's (controlplane/migrations). Below the process
packages and access/, above core/ and domain/: it knows tables, not HTTP or MQTT.
"""
