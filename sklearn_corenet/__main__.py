"""Command line: ``python -m sklearn_corenet demo``."""

import argparse
import sys

from ._demo import run_demo


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m sklearn_corenet")
    commands = parser.add_subparsers(dest="command", required=True)
    demo = commands.add_parser(
        "demo", help="train an MLP on scikit-learn's digits data, compress it, print the results"
    )
    demo.add_argument("--random-state", type=int, default=0)
    arguments = parser.parse_args(argv)
    if arguments.command == "demo":
        run_demo(random_state=arguments.random_state)
    return 0


if __name__ == "__main__":
    sys.exit(main())
