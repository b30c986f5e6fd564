"""paperbot's knowledge engine: digests → papers → vectors → retrieval → cited answers.

Nothing in this package imports discord; the bot and the CLI are thin layers over it.
"""
