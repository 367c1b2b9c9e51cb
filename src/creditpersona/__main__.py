"""``python -m creditpersona`` runs the command line."""

from creditpersona.cli.app import main

main()
