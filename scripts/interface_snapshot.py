"""Print every CLI command's ``--help`` and the HTTP OpenAPI spec, to diff the interfaces of two trees.

python scripts/interface_snapshot.py > before.txt   # on one tree
python scripts/interface_snapshot.py > after.txt    # on the other
diff before.txt after.txt                           # empty: the same commands, options and routes
"""

from __future__ import annotations

import json
import sys

import click
from click.testing import CliRunner

from faceprint.cli import cli


def _paths(group: click.Group, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    out = [prefix]
    for name in sorted(group.commands):
        command = group.commands[name]
        if isinstance(command, click.Group):
            out += _paths(command, (*prefix, name))
        else:
            out.append((*prefix, name))
    return out


def main() -> None:
    runner = CliRunner()
    for path in _paths(cli):
        result = runner.invoke(cli, [*path, "--help"], prog_name="faceprint")
        sys.stdout.write(
            f"=== faceprint {' '.join(path)} --help (exit {result.exit_code})\n{result.output}\n"
        )
    from faceprint.service import create_app

    spec = create_app().openapi()
    sys.stdout.write("=== openapi\n" + json.dumps(spec, indent=1, sort_keys=True) + "\n")


if __name__ == "__main__":
    main()
