"""Domain types and enumerations: organisation kinds, relationships, indicators, observations."""
