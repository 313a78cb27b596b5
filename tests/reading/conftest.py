"""Reading tests share the study tests' fixtures: media in a temporary folder, an open study."""

from tests.studies.conftest import fake_broker, media_root, world  # noqa: F401  (fixtures)
