"""Playbooks shipped with the built-in analyst (default.yaml)."""
