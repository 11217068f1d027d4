"""`python -m bot`: runs the service (as `acnebot serve`); `python -m bot <command> ...` runs the CLI."""
import sys

from bot.cli import main

sys.exit(main(sys.argv[1:] or ["serve"]))
