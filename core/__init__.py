"""The base every process stands on: the one `Settings`, private files, processes and ports."""
