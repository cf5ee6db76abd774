"""``python -m magscope_app`` is the ``magscope-app`` command."""

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
