"""Settings, the example TOML, form definitions and locale catalogues."""

from config.settings import Settings, load_settings

__all__ = ["Settings", "load_settings"]
