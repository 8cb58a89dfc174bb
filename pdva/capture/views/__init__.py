"""Capture views: typed function views, one module per area."""
