"""Errors the edge reports as one clear line."""


class ConfigError(Exception):
    """A setting is missing or wrong; the message says how to fix it."""
