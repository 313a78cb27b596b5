"""Seeds the demo accounts (and, as later parts land, demo cases and a study).

Idempotent: running it again resets the demo passwords and changes nothing else.
"""

from __future__ import annotations

from django.contrib.auth.models import User
from django.core.management.base import BaseCommand
from django.db import transaction

from reader_study.ingest.demo import seed_demo_cases
from reader_study.jobs.launch import denoise_ready_cases
from reader_study.registry import default_model, register_default_model
from reader_study.roles import READER, RESEARCHER, assign_role

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

    @transaction.atomic
    def handle(self, *args, **options) -> None:
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
            self.stdout.write(f"Demo cases are denoised by the worker with {default}.")
        if not options["quiet_logins"]:
            self.stdout.write("Demo logins:")
            for username, password, role, _ in DEMO_ACCOUNTS:
                self.stdout.write(f"  {role:<10} {username:<11} password: {password}")
