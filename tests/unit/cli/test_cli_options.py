"""Every `meshgate` subcommand spells the same thing the same way, and offers `--output table|json`.

The test walks the real parser (`meshgate.cli.build_parser`), so a command added later is held to it too;
`meshgate.cli.options` is where the shared options are defined.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path

import pytest
from meshgate import cli
from meshgate.cli import build_parser, main

ROOT = Path(__file__).resolve().parents[3]
EXAMPLES = ROOT / "policies" / "examples"
POLICY_COMMANDS = ("check", "who-can", "validate", "test", "diff", "report")
POLICY_CONTEXT = (
    "--policy",
    "--config",
    "--superuser",
    "--linkerd-trust-domain",
    "--linkerd-control-plane-namespace",
)


def _commands(
    parser: argparse.ArgumentParser, prefix: str = ""
) -> Iterator[tuple[str, argparse.ArgumentParser]]:
    """(name, parser) of every leaf subcommand: `check`, ..., `audit query`, `audit export`."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                nested = list(_commands(sub, f"{prefix}{name} "))
                yield from nested or [(f"{prefix}{name}", sub)]


COMMANDS = dict(_commands(build_parser()))


def _visible(parser: argparse.ArgumentParser) -> dict[str, argparse.Action]:
    """Option string -> action, for the options `--help` shows."""
    return {s: a for a in parser._actions if a.help != argparse.SUPPRESS for s in a.option_strings}


def test_the_walk_finds_every_command() -> None:
    assert set(COMMANDS) == {
        "serve", "authenticate", "check", "who-can", "validate", "test", "diff", "report",
        "config-reference", "audit query", "audit export",
    }  # fmt: skip


def test_each_command_is_listed_with_the_module_that_defines_it() -> None:
    """`meshgate <command>` loads only the module `cli.COMMANDS` names: it must be the one that defines it,
    and every command must be listed (else it would parse only after an unknown first word)."""
    top = {name.split()[0] for name in COMMANDS}
    assert set(cli.COMMANDS) == top
    for command, module in cli.COMMANDS.items():
        alone = dict(_commands(build_parser(command)))
        assert any(name.split()[0] == command for name in alone), (command, module)
        assert {name.split()[0] for name in alone} <= {c for c, m in cli.COMMANDS.items() if m == module}


def test_serve_loads_none_of_the_other_commands_modules() -> None:
    probe = (
        "import sys; from meshgate.cli import build_parser; build_parser('serve'); "
        "print(sorted(m for m in sys.modules if m.startswith('meshgate.cli.')))"
    )
    env = {"PYTHONPATH": str(ROOT / "service"), "PATH": "/usr/bin:/bin"}
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=env, check=True)
    assert done.stdout.strip() == "['meshgate.cli.options', 'meshgate.cli.serve']"


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_every_command_offers_output_table_or_json(name: str) -> None:
    output = _visible(COMMANDS[name]).get("--output")
    assert output is not None, f"meshgate {name} has no --output"
    assert tuple(output.choices or ()) == ("table", "json") and output.default == "table"


@pytest.mark.parametrize("name", POLICY_COMMANDS)
def test_policy_commands_take_the_policy_and_its_context_alike(name: str) -> None:
    options = _visible(COMMANDS[name])
    assert all(flag in options for flag in POLICY_CONTEXT), sorted(set(POLICY_CONTEXT) - set(options))


def test_one_name_per_thing_across_all_commands() -> None:
    """The same destination is always spelled with the same visible options, and an option string always
    fills the same destination: `--policy` is the policy folder everywhere, never `--folder` or `--dir`."""
    spellings: dict[str, set[tuple[str, ...]]] = defaultdict(set)
    meanings: dict[str, set[str]] = defaultdict(set)
    for parser in COMMANDS.values():
        for action in parser._actions:
            if action.help == argparse.SUPPRESS or not action.option_strings:
                continue
            spellings[action.dest].add(tuple(action.option_strings))
            for flag in action.option_strings:
                meanings[flag].add(action.dest)
    assert {d: s for d, s in spellings.items() if len(s) > 1} == {}
    assert {f: d for f, d in meanings.items() if len(d) > 1} == {}
    for shared in ("--policy", "--config", "--output", "--linkerd-trust-domain"):
        assert shared in meanings


@pytest.mark.parametrize(
    ("old", "new"),
    [
        (["check", "--json"], ["check", "--output", "json"]),
        (["validate", "DIR"], ["validate", "--policy", "DIR"]),
        (["test", "DIR"], ["test", "--policy", "DIR"]),
        (["diff", "--repo", "DIR", "a", "b"], ["diff", "--policy", "DIR", "a", "b"]),
        (["report", "--trust-domain", "td"], ["report", "--linkerd-trust-domain", "td"]),
        (
            ["who-can", "--control-plane-namespace", "l5d"],
            ["who-can", "--linkerd-control-plane-namespace", "l5d"],
        ),
        (
            ["authenticate", "--linkerd-control-plane-ns", "l5d", "--json"],
            ["authenticate", "--linkerd-control-plane-namespace", "l5d", "--output", "json"],
        ),
    ],
)
def test_old_spellings_still_parse_as_hidden_aliases(old: list[str], new: list[str]) -> None:
    required = {
        "check": ["--policy", "P", "--action", "a", "--principal", "p"],
        "who-can": ["--policy", "P", "--action", "a"],
        "report": ["--policy", "P"],
        "authenticate": ["--token", "t"],
    }.get(old[0], [])

    def parse(argv: list[str]) -> dict[str, object]:
        parsed = vars(build_parser().parse_args([*argv, *required]))
        if parsed.get("folder"):  # the positional folder is read as --policy (cli.policy._folder)
            parsed["policy"], parsed["folder"] = parsed["folder"], None
        return parsed | {"func": None}

    assert parse(old) == parse(new)
    help_text = COMMANDS[old[0]].format_help()
    assert not any(flag in help_text.split() for flag in old[1:] if flag.startswith("--") and flag not in new)


@pytest.mark.parametrize(
    "argv",
    [
        ["check", "--policy", str(EXAMPLES), "--principal", "p", "--action", "topic.lookup"],
        ["who-can", "--policy", str(EXAMPLES), "--action", "topic.produce", "--resource", "acme/payments"],
        ["validate", "--policy", str(EXAMPLES)],
        ["test", "--policy", str(EXAMPLES)],
        ["diff", str(EXAMPLES), str(EXAMPLES)],
        ["report", "--policy", str(EXAMPLES)],
        ["config-reference"],
    ],
    ids=lambda argv: argv[0],
)
def test_output_json_prints_one_json_document(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main([*argv, "--output", "json"]) in (0, 1)
    json.loads(capsys.readouterr().out)


def test_audit_export_output_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    sink = tmp_path / "audit.jsonl"
    sink.write_text("")
    out = tmp_path / "evidence"
    assert main(["audit", "export", "--file", str(sink), "--out", str(out), "--output", "json"]) == 0
    assert json.loads(capsys.readouterr().out) == {
        "records": 0,
        "out": str(out),
        "check": f"cd {out} && sha256sum -c SHA256SUMS",
    }
