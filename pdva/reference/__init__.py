"""Versioned clinical reference data (classification lookups), kept as data files with their
verification status. Pure Python: no Django import, so statistics and notebooks can use it."""
