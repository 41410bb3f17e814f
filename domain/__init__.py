"""The shared domain: registry, topics, payloads, line protocol, uptime and usage maths.

Pure functions over plain data; no network, no files except where a name says load.
"""
