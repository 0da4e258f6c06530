"""``python -m cleanshift_core.cli``: the console script without the script."""

from . import main

main()
