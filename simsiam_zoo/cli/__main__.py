"""`python -m simsiam_zoo.cli`, as the `simsiam-zoo` command."""

from simsiam_zoo.cli import main

main()
