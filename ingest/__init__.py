"""Mosquitto → validated points → InfluxDB, without losing a message."""
