"""Suggested duplicates (名寄せ): pairs of customers that are probably one person, with why."""
