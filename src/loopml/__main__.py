"""`python -m loopml` runs the CLI."""

from loopml.cli import main

main()
