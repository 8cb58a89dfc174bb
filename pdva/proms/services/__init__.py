"""PROM workflows: scoring administrations, patient links and reminders, and report summaries."""
