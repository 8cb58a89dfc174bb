"""Capture forms: one per record type, all built on CaptureForm."""
