"""``python -m cgan.features verify [DATA_DIR] | PHOTO...``: kept for the command that
docs/features.md documented; it is ``cgan features ...`` (cgan/cli.py). The image features
themselves are cgan.data.features."""

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main(["features", *sys.argv[1:]]))
