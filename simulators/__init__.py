"""Simulated devices and fibre ports; record and replay of feeds."""
