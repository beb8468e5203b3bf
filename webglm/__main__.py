"""``python -m webglm``: the command line."""

from webglm.cli import main

if __name__ == "__main__":  # pragma: no cover
    main()
