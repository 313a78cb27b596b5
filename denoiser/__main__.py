"""``python -m denoiser ...``: see :mod:`denoiser.cli`."""

import sys

from denoiser.cli import main

sys.exit(main())
