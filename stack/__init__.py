"""What runs the platform: settings, the local stack of child processes, the CLI."""
