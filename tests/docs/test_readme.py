"""The README's example runs and prints what its comments say."""
import contextlib
import io
import re

from conftest import ROOT

README = ROOT / "README.md"


def test_readme_example_runs():
    text = README.read_text()
    code = re.search(r"```python\n(.*?)```", text, re.S).group(1)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code, str(README), "exec"), {})
    lines = out.getvalue().splitlines()
    assert lines[0] == "[0, 1, 4]"
    assert lines[1].startswith("SelectResult(index=-1")


def test_readme_has_exactly_two_setup_commands():
    text = README.read_text()
    setup = text.split("## Set up", 1)[1].split("\n## ", 1)[0]
    commands = re.findall(r"```\n(.*?)\n```", setup, re.S)
    assert len(commands) == 2
    assert "python3 -m pygochan" in commands[0]
    assert "pytest" in commands[1]
