"""``python -m ruvon``: the ``ruvon`` command line."""

from ruvon.cli import main

main()
