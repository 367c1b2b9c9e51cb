"""Versioned YAML configuration, validated by pydantic models."""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import TypeVar

import yaml
from pydantic import BaseModel

from creditpersona.errors import ConfigurationError

M = TypeVar("M", bound=BaseModel)


def load_yaml_config(
    model: type[M], package: str, filename: str, path: str | Path | None, what: str
) -> M:
    """Read ``path`` (default: the packaged ``package/filename``) and validate it as ``model``.

    Raises
    ------
    ConfigurationError
        ``<file>: invalid <what>: <reason>`` for bad YAML or a value the model rejects.
    """
    if path is None:
        text = resources.files(package).joinpath(filename).read_text(encoding="utf-8")
        where = f"{package.replace('.', '/')}/{filename}"
    else:
        text, where = Path(path).read_text(encoding="utf-8"), str(path)
    try:
        return model.model_validate(yaml.safe_load(text))
    except Exception as exc:  # YAML and validation errors alike become one readable error
        raise ConfigurationError(f"{where}: invalid {what}: {exc}") from exc
