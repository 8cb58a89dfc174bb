"""Pure helpers of the job queue (no Django, no database): backoff, error wording, redaction."""
