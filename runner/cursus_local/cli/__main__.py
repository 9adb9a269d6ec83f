"""`python -m cursus_local.cli`: the same as the `cursus-local` script."""

from . import main

main()
