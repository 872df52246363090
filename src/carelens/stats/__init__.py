"""carelens.stats."""
