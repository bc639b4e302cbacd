"""`python -m models`: the same as the `minigrad` command."""
import sys

from .cli import main

sys.exit(main())
