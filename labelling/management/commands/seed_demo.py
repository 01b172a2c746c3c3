from django.core.management.base import BaseCommand

from labelling.services.demo import demo_seed


class Command(BaseCommand):
    help = (
        "Create the demo (sector Universities, taxonomy Campus photos, client Demo University "
        "and the users admin, librarian and reviewer). Safe to run again: it creates only "
        "what is missing, and shows passwords only of the users it creates."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--reset-passwords",
            action="store_true",
            help="give the demo users new random passwords, and show them",
        )

    def handle(self, *args, **options):
        seed = demo_seed(reset_passwords=options["reset_passwords"])
        if seed.created:
            self.stdout.write("Created:")
            for thing in seed.created:
                self.stdout.write(f"  {thing}")
        else:
            self.stdout.write("The demo is already there; nothing to create.")
        if seed.passwords:
            self.stdout.write(
                self.style.WARNING(
                    "Demo users' passwords (shown this once; --reset-passwords makes new ones):"
                )
            )
            for username, password in seed.passwords.items():
                self.stdout.write(f"  {username:<10} {password}")
        self.stdout.write(
            self.style.SUCCESS(
                f"{seed.client.name} ({seed.client.slug}) tags with “{seed.taxonomy.name}” "
                f"v{seed.taxonomy.version} of {seed.sector.name}."
            )
        )
