"""carelens.monitor."""
