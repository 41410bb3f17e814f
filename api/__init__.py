"""The HTTP API and operator dashboard (FastAPI)."""
