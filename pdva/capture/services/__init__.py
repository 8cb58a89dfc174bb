"""Workflows of the capture app that span models (saving, locking, queries, worklists, timeline)."""
