"""``python -m aim``: the same as the ``aim`` command."""

from aim.cli.main import main

if __name__ == "__main__":
    main()
