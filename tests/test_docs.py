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


# -- per command, per route, per public name ------------------------------------------------------

DOCS = sorted((Path(__file__).resolve().parents[1] / "docs").glob("*.md"))


def _sections(text: str) -> list[str]:
    """Markdown split at its headings: each heading with the text up to the next one."""
    out, current = [], []
    for line in text.splitlines():
        if line.startswith("#") and current:
            out.append("\n".join(current))
            current = []
        current.append(line)
    out.append("\n".join(current))
    return out


SECTIONS = _sections(README) + [s for doc in DOCS for s in _sections(doc.read_text(encoding="utf-8"))]


def test_every_option_is_documented_where_its_command_is() -> None:
    missing = []
    for path, command in _commands(cli):
        where = [s for s in SECTIONS if path in s]
        if not where:
            missing.append(path)
            continue
        for param in command.params:
            for opt in getattr(param, "opts", []):
                if opt.startswith("--") and not any(opt in s for s in where):
                    missing.append(f"{path} {opt}")
    assert missing == []


def _service_section() -> str:
    start = README.index("\n## The service")
    return README[start : README.index("\n## ", start + 1)]


def test_every_http_route_is_in_the_service_section() -> None:
    import pytest

    pytest.importorskip("fastapi")
    from faceprint.service import create_app

    section = _service_section()
    routes = [p for p in create_app().openapi()["paths"] if not p.startswith("/admin")]
    assert [r for r in routes if r.split("{")[0].rstrip("/") not in section] == []


def test_every_public_name_is_documented() -> None:
    import faceprint

    text = README + "".join(doc.read_text(encoding="utf-8") for doc in DOCS)
    assert [n for n in faceprint.__all__ if n not in text] == []
