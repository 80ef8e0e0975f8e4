"""``python -m faceprint``: the command line."""

from .cli import main

main()
