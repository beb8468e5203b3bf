"""Run the command line from a checkout without installing it: ``python cli.py ...``.

Not installed (the package's entry points are ``webglm`` and ``python -m webglm``)."""

from webglm.cli import main

if __name__ == "__main__":
    main()
