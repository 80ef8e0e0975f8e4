"""The README documents every CLI command and option and every setting."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import click

from faceprint.cli import cli
from faceprint.config import Settings

README = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")


def _commands(group: click.Group, prefix: str = "faceprint") -> list[tuple[str, click.Command]]:
    out = []
    for name, command in group.commands.items():
        path = f"{prefix} {name}"
        if isinstance(command, click.Group):
            out += _commands(command, path)
        else:
            out.append((path, command))
    return out


def test_every_command_and_option_is_documented() -> None:
    missing = []
    for path, command in _commands(cli):
        if path not in README:
            missing.append(path)
        for param in command.params:
            for opt in getattr(param, "opts", []):
                if opt.startswith("--") and opt not in README:
                    missing.append(f"{path} {opt}")
    assert missing == []


def test_every_setting_is_documented() -> None:
    names = [f"FACEPRINT_{f.name.upper()}" for f in dataclasses.fields(Settings)]
    assert [n for n in names if n not in README] == []


def test_quick_start_is_two_commands() -> None:
    assert "bash scripts/demo.sh" in README and "bash scripts/test.sh" in README
    ci = (Path(__file__).resolve().parents[1] / ".ci" / "run").read_text()
    assert "bash scripts/test.sh" in ci
