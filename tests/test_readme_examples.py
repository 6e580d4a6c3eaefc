"""Every README example that pipes input into `chamyeo demo` is run as written (by a shell, with
`chamyeo` meaning this checkout's `python -m bot`), and shows what the README says it shows: the
texts of the `<!-- expect: "A", "B" -->` comment under its block, in that order, and none of
an `<!-- expect no: "C" -->`. A `--database URL` is replaced by this backend's test database.
So an example cannot drift from the bot again (Chamyeo issue 14)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.test_cli_settings import SETTING_PREFIXES

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"

_BLOCK = re.compile(r"^```sh\n(?P<body>.*?)^```\n(?P<after>(?:[ \t]*<!--.*?-->\n)*)",
                    re.S | re.M)
_EXPECT = re.compile(r"<!--\s*expect(?P<no> no)?:(?P<texts>.*?)-->", re.S)


@dataclass
class Example:
    line: int
    command: str
    expected: list[str] = field(default_factory=list)
    absent: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        return f"README.md:{self.line}"


def demo_examples(text: str) -> list[Example]:
    examples = []
    for block in _BLOCK.finditer(text):
        commands = [line for line in block["body"].splitlines() if "| chamyeo demo" in line]
        if not commands:
            continue
        first_line = text.count("\n", 0, block.start()) + 2
        for command in commands:
            example = Example(first_line, command)
            for expect in _EXPECT.finditer(block["after"]):
                texts = re.findall(r'"([^"]*)"', expect["texts"])
                (example.absent if expect["no"] else example.expected).extend(texts)
            examples.append(example)
    return examples


EXAMPLES = demo_examples(README.read_text(encoding="utf-8"))


def test_the_readme_has_demo_examples_and_each_says_what_it_shows():
    assert len(EXAMPLES) >= 4
    assert all(example.expected for example in EXAMPLES), \
        [str(e) for e in EXAMPLES if not e.expected]


def test_the_parser_reads_blocks_and_expectations():
    text = ('x\n```sh\nprintf \'1\\n\' | chamyeo demo --at 2024-11-20T10:00\n```\n'
            '<!-- expect: "A b", "> 1" -->\n<!-- expect no: "C" -->\n\n'
            '```sh\nchamyeo run\n```\n<!-- expect: "D" -->\n')
    [example] = demo_examples(text)
    assert example.line == 3
    assert example.command == "printf '1\\n' | chamyeo demo --at 2024-11-20T10:00"
    assert example.expected == ["A b", "> 1"] and example.absent == ["C"]


def run_example(command: str, tmp_path: Path, database_url: str) -> subprocess.CompletedProcess:
    command = re.sub(r"--database \S+", f"--database {database_url}", command)
    env = {k: v for k, v in os.environ.items() if not k.startswith(SETTING_PREFIXES)}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    env["CHAMYEO_PYTHON"] = sys.executable
    # Set, so nothing the example does can touch a chamyeo.db in the checkout.
    env["CHAMYEO_DATABASE_URL"] = f"sqlite+aiosqlite:///{tmp_path / 'unused.db'}"
    script = f'chamyeo() {{ "$CHAMYEO_PYTHON" -m bot "$@"; }}\nset -o pipefail\n{command}\n'
    return subprocess.run(["bash", "-c", script], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=180)


@pytest.mark.parametrize("example", EXAMPLES, ids=str)
def test_a_readme_demo_example_shows_what_it_says(example, tmp_path, empty_database_url):
    result = run_example(example.command, tmp_path, empty_database_url)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    out, position = result.stdout, 0
    for text in example.expected:
        found = out.find(text, position)
        assert found >= 0, (f"{example}: {text!r} not shown after what came before it;\n"
                            f"output from there:\n{out[position:][-3000:]}")
        position = found + len(text)
    for text in example.absent:
        assert text not in out, f"{example}: {text!r} is shown"
    assert not (tmp_path / "unused.db").exists()
