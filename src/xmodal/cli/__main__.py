"""`python -m xmodal.cli ...` runs the console script."""

from xmodal.cli import main

main()
