"""One cog per feature, loaded by ``PaperBot.setup_hook``."""
