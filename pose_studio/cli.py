"""`pose-studio` command line: one root group; each command lives in the module that owns its work.

Commands are imported lazily so that `pose-studio poses list` never loads Flask or SQLAlchemy and
`pose-studio migrate` never loads mediapipe (and nothing here ever imports torch). It lives outside `plugin` so
that `pose-studio worker --queues gpu` loads no part of the web app.
"""

from __future__ import annotations

import importlib

import click

# command name -> "module:attribute" of a click command or group
COMMANDS: dict[str, str] = {
    "generate": "gpu_worker.cli:generate",
    "check": "gpu_worker.check_cli:check",
    "poses": "gpu_worker.cli:poses",
    "models": "gpu_worker.generate.models_cli:models",
    "migrate": "plugin.commands:migrate",
    "rotate-keys": "plugin.commands:rotate_keys",
    "serve": "plugin.ops_commands:serve",
    "worker": "pose_studio.worker:worker",
    "dev": "plugin.ops_commands:dev",
    "config": "plugin.ops_commands:config",
}


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = COMMANDS.get(cmd_name)
        if target is None:
            return None
        module_name, attr = target.split(":")
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            raise click.ClickException(
                f"'{cmd_name}' is not available in this install ({exc.name} is missing)"
            ) from exc
        return getattr(module, attr)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="pose-studio")
def main() -> None:
    """Pose Studio: re-pose product photos into a checked carousel and publish it to Shopify."""
