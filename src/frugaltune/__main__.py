"""`python -m frugaltune ...` = the `frugaltune` command."""

from frugaltune.cli import main

main()
