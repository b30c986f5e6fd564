"""paperbot's settings: environment + ``.env`` → one typed :class:`Settings`."""

from config.settings import Secret, Settings, SettingsError

__all__ = ["Secret", "Settings", "SettingsError"]
