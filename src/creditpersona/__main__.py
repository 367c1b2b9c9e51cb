"""``python -m creditpersona`` runs the command line."""

from creditpersona.cli.app import main

# The guard matters: large text batches are scored in spawned worker processes, which import
# the main module again and must not start the command line a second time.
if __name__ == "__main__":
    main()
