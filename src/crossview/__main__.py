"""``python -m crossview`` runs the command line."""

from crossview.cli import main

main()
