"""``python -m ruvon.cli``."""

from ruvon.cli import main

main()
