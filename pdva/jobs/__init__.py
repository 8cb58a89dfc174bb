"""Background jobs: report PDFs, emails, web exports and imports, and the scheduled runs, off the request.

One API everywhere: ``pdva.jobs.services.enqueue(kind, user=..., **params)`` returns a ``Job`` row (ours):
the requester watches its state on "Your jobs" and downloads the result. Each kind (pdva/jobs/kinds/)
checks the requester's permission when asked and again when it runs, runs as them in the audit log, and
completes once. How it runs is PDVA_JOBS_RUN:

- PostgreSQL (``queue``, the default there): procrastinate. Enqueue defers ``pdva:run_job`` in the same
  transaction as the Job row; `pdva worker` processes on any machines run jobs, retry with backoff, take
  back jobs of a worker that died (heartbeats), and defer each scheduled period once (a unique constraint).
- SQLite demo (``thread``, the default there): the Job rows are the queue, and each web process runs them
  on one background thread right after the transaction commits. procrastinate's in-memory connector was
  the alternative; it was not chosen because its queue lives in one process's memory: a job queued by a
  web process would be invisible to `pdva worker`, and lost on a restart, while a Job row is neither.
  `pdva worker` (SQLite) runs the same rows and the schedule; see docs/jobs.md.
"""
