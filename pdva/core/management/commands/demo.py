from __future__ import annotations

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError

from pdva.core.demo import DEMO_PASSWORD, create_demo_users
from pdva.core.progress import Progress
from pdva.registry.models import Site
from pdva.registry.synthetic import seed_cohort


class Command(BaseCommand):
    help = (
        "Demo: migrate, load a synthetic cohort, create a user per role, and serve on http://127.0.0.1:8000."
    )

    def add_arguments(self, parser):  # type: ignore[no-untyped-def]
        parser.add_argument("--sites", type=int, default=3)
        parser.add_argument("--patients", type=int, default=300)
        parser.add_argument("--years", type=float, default=5.0)
        parser.add_argument("--seed", type=int, default=1)
        parser.add_argument("--addr", default="127.0.0.1:8000")
        parser.add_argument("--no-serve", action="store_true", help="prepare the demo but do not serve")

    def handle(self, *args, **opts):  # type: ignore[no-untyped-def]
        if not settings.PDVA_DEMO_MODE:
            raise CommandError("pdva demo needs PDVA_DEMO_MODE=true (it relaxes two-factor for demo users)")
        call_command("migrate", interactive=False, verbosity=0)
        self.stdout.write("database migrated")
        if not Site.objects.exists():
            stats = seed_cohort(
                sites=opts["sites"],
                patients=opts["patients"],
                years=opts["years"],
                seed=opts["seed"],
                progress=Progress("seeding patients"),
            )
            self.stdout.write(f"seeded {stats.patients} synthetic patients, {stats.procedures} procedures")
            # Score the seeded PROMs and compute follow-up statuses, as the daily job would.
            call_command("followup", "run", "--no-digest", verbosity=0)
            self.stdout.write("follow-up statuses computed and PROMs scored")
        else:
            self.stdout.write("registry already populated: keeping it")
        rows = create_demo_users()
        self.stdout.write(f"\nDemo sign-ins (password for all: {DEMO_PASSWORD})")
        for username, role, site in rows:
            self.stdout.write(f"  {username:20s} {role:40s} {site}")
        if opts["no_serve"]:
            return
        self.stdout.write(f"\nServing on http://{opts['addr']}/  (Ctrl-C to stop)\n")
        # The production path (gunicorn + whitenoise), not Django's development server.
        call_command("serve", bind=opts["addr"])
