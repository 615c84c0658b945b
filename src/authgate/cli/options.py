"""What every ``authgate`` command shares: the ``--config`` option and loading the settings
with the failing setting named (exit 2)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer
from pydantic import ValidationError

from authgate.config import Settings, load_settings

ConfigOpt = Annotated[Optional[Path], typer.Option("--config", "-c", help="TOML/JSON/YAML config file")]


def settings_from(config: Path | None) -> Settings:
    try:
        return load_settings(config)
    except ValidationError as exc:
        for err in exc.errors():
            name = ".".join(str(p) for p in err["loc"])
            typer.echo(f"authgate: invalid setting {name}: {err['msg']}", err=True)
        raise typer.Exit(2) from None
    except (OSError, ValueError) as exc:
        typer.echo(f"authgate: cannot load configuration: {exc}", err=True)
        raise typer.Exit(2) from None


