"""Shell completion scripts: bash completes commands, choices and options
from the real parser; zsh's script is well-formed."""

import shutil
import subprocess

import pytest

from conftest import hab

#: Sources the script, sets the completion variables from the words given, completes.
BASH = (
    'source "$1"; shift; COMP_WORDS=("$@"); COMP_CWORD=$((${#COMP_WORDS[@]} - 1)); '
    'COMP_LINE="${COMP_WORDS[*]}"; COMP_POINT=${#COMP_LINE}; _shtab_hab; printf "%s\\n" "${COMPREPLY[@]}"'
)


def _complete(script, words: list[str]) -> list[str]:
    done = subprocess.run(["bash", "-c", BASH, "_", str(script), *words], capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    return done.stdout.split()


def test_bash_completes_commands_choices_and_options(tmp_path):
    script = tmp_path / "hab.bash"
    script.write_text(hab("completion", "bash", cwd=tmp_path, check_exit=0).stdout)
    assert _complete(script, ["hab", "sh"]) == ["show"]
    assert _complete(script, ["hab", "export", ""]) == ["csv", "markdown", "criterion", "seed"]
    assert "--color" in _complete(script, ["hab", "run", "--col"])
    assert _complete(script, ["hab", "run", "--sampling-mode", ""]) == ["auto", "linear", "flat"]


def test_zsh_script_is_well_formed(tmp_path):
    text = hab("completion", "zsh", cwd=tmp_path, check_exit=0).stdout
    assert text.startswith("#compdef hab") and "_shtab_hab" in text and '"--summary[' in text
    if shutil.which("zsh") is None:
        pytest.skip("zsh is not installed: the script was checked as text only")
    script = tmp_path / "_hab"
    script.write_text(text)
    assert subprocess.run(["zsh", "-n", str(script)], capture_output=True).returncode == 0
