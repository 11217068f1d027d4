"""`python -m bot`: runs the service (as `acnebot serve`); `python -m bot <command> ...` runs the CLI."""
import sys

from bot.cli import main

if __name__ == "__main__":  # worker processes import the main module again; they must not run the CLI
    sys.exit(main(sys.argv[1:] or ["serve"]))
