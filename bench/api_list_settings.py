from govtrack.settings import *  # noqa: F403

ROOT_URLCONF = "bench.api_list_site"
