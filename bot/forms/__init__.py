"""Conversational forms declared in ``config/forms/*.toml``."""
