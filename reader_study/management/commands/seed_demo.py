"""Seeds the demo accounts, the demo cases and an open demo study.

Idempotent: running it again resets the demo passwords and changes nothing else.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.models import User
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from reader_study.access import READER, RESEARCHER, assign_role
from reader_study.ingest.demo import DEMO_CASES, seed_demo_cases
from reader_study.jobs.launch import denoise_ready_cases
from reader_study.registry.service import default_model, register_default_model
from reader_study.studies.demo import seed_demo_study

DEMO_ACCOUNTS = (
    # username, password, role, full name
    ("researcher", "researcher-demo", RESEARCHER, "Demo Researcher"),
    ("reader1", "reader1-demo", READER, "Demo Reader One"),
    ("reader2", "reader2-demo", READER, "Demo Reader Two"),
)


class Command(BaseCommand):
    help = "Create the demo researcher and readers and print their logins."

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--quiet-logins", action="store_true", help="do not print the demo passwords"
        )

    def handle(self, *args, **options) -> None:
        if settings.SESSION_COOKIE_SECURE:
            raise CommandError(
                "seed_demo makes accounts whose passwords are public (they are in the source); "
                "it runs only on a plain-HTTP laptop run (LDCT_INSECURE_HTTP=1, as `make run` "
                "sets). On a server, create accounts with createsuperuser and the admin."
            )
        default = self._accounts_and_cases()
        researcher = User.objects.get(username="researcher")
        if default:
            # Outside the seed's transaction: denoising here beats a heartbeat from its
            # own database connection, which SQLite would block behind an open write.
            readers = list(User.objects.filter(username__in=["reader1", "reader2"]))
            labels = [demo.label for demo in DEMO_CASES]
            self.stdout.write(seed_demo_study(researcher, readers, default, labels))
        if not options["quiet_logins"]:
            self.stdout.write("Demo logins:")
            for username, password, role, _ in DEMO_ACCOUNTS:
                self.stdout.write(f"  {role:<10} {username:<11} password: {password}")

    @transaction.atomic
    def _accounts_and_cases(self):
        for username, password, role, full_name in DEMO_ACCOUNTS:
            first, last = full_name.split(" ", 1)
            user, _ = User.objects.get_or_create(
                username=username, defaults={"first_name": first, "last_name": last}
            )
            user.set_password(password)
            user.save()
            assign_role(user, role)
        # The shipped model first, so ingesting the demo cases queues their denoising.
        register_default_model()
        default = default_model()
        # Simulated low-dose cases, ingested through the same path as uploads.
        for line in seed_demo_cases(User.objects.get(username="researcher")):
            self.stdout.write(line)
        if default:  # cases seeded by an earlier run, before any model existed
            denoise_ready_cases(User.objects.get(username="researcher"), default)
        return default
