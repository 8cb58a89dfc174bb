from __future__ import annotations

import datetime as dt

from django.core.management.base import BaseCommand, CommandError

from pdva.core.progress import Progress
from pdva.registry.synthetic import SITE_NAMES, seed_cohort

VOLUMES = {"auto": None, "even": False, "varied": True}


class Command(BaseCommand):
    help = "Load a deterministic synthetic pDVA cohort (every write audited as system:seed)."

    def add_arguments(self, parser):  # type: ignore[no-untyped-def]
        parser.add_argument("--sites", type=int, default=3)
        parser.add_argument("--patients", type=int, default=300)
        parser.add_argument("--years", type=float, default=5.0)
        parser.add_argument("--seed", type=int, default=1)
        parser.add_argument(
            "--cutoff",
            type=dt.date.fromisoformat,
            default=None,
            help="data cut-off date (YYYY-MM-DD); default today",
        )
        parser.add_argument(
            "--site-volumes",
            choices=list(VOLUMES),
            default="auto",
            help=f"even shares, or varied (a few high-volume centres, many small); auto: even up to "
            f"{len(SITE_NAMES)} sites, varied beyond",
        )

    def handle(self, *args, **opts):  # type: ignore[no-untyped-def]
        try:
            stats = seed_cohort(
                sites=opts["sites"],
                patients=opts["patients"],
                years=opts["years"],
                seed=opts["seed"],
                cutoff=opts["cutoff"],
                progress=Progress("seeding", unit="patients"),
                varied_volumes=VOLUMES[opts["site_volumes"]],
            )
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(
            f"Seeded {stats.patients} patients, {stats.procedures} procedures, "
            f"{stats.records} audited records at {opts['sites']} sites."
        )
