"""`hab completion bash|zsh`: a completion script for the shell, generated
from the command line's own parser (shtab), so it always knows every
command, option and choice. Install it with, for example,
`hab completion bash > ~/.local/share/bash-completion/completions/hab`."""

import sys

import shtab

from hab.cli.parser import parser


def main(args) -> int:
    sys.stdout.write(shtab.complete(parser(), shell=args.shell))
    return 0
