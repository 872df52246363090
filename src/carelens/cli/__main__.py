"""``python -m carelens.cli``: the command line (as the ``carelens`` script)."""

from carelens.cli import main

main()
