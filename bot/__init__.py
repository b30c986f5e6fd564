"""paperbot's front ends: the Discord bot and the ``paperbot`` CLI, thin layers over ``index``."""
