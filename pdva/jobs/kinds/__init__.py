"""Every kind of background job, by the app whose work it does. Importing this package registers them."""

from pdva.jobs.kinds import exports, followup, proms, reports, system  # noqa: F401
