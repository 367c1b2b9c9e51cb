"""Versioned YAML configuration, validated by strict pydantic models.

Every configuration model derives from :class:`StrictModel` (``extra="forbid"``), so a
misspelt key is an error rather than a setting silently ignored, and every YAML file is read
through :func:`load_yaml_config`, whose error names the file and the path of each offending
entry (``products.green.term_month: Extra inputs are not permitted …``).
"""

from __future__ import annotations

import copy
import types
import typing
from importlib import resources
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

from creditpersona.errors import ConfigurationError, parameter_error

M = TypeVar("M", bound=BaseModel)

#: Keys that name an entry of a list in error paths (``events[lawsuit]`` rather than ``[3]``).
_NAMING_KEYS = ("code", "id", "name")


class StrictModel(BaseModel):
    """Base of every configuration model: an unknown (misspelt) key is an error."""

    model_config = ConfigDict(extra="forbid")


def load_yaml_config(
    model: type[M], package: str, filename: str, path: str | Path | None, what: str,
    *, owner: str = "load_yaml_config",
) -> M:
    """Read ``path`` (default: the packaged ``package/filename``) and validate it as ``model``.

    Parameters
    ----------
    model : type of pydantic.BaseModel
        A strict model (every model in it forbids unknown keys; checked).
    package, filename : str
        Where the packaged default lives.
    path : str or Path, optional
        A file to read instead of the packaged default.
    what : str
        What the file holds, for messages (``"product catalogue"``).
    owner : str
        The public loader, named when ``path`` is not a file.

    Raises
    ------
    ConfigurationError
        ``<file>: not valid YAML: …`` or ``<file>: invalid <what>; fix these entries:
        <path>: <reason> (got <value>); …``, and when ``path`` is not a file.
    TypeError
        If ``model`` (or a model inside it) accepts unknown keys: a programming error.

    Examples
    --------
    >>> class Tiny(StrictModel):
    ...     rate: float
    >>> import tempfile, os
    >>> with tempfile.TemporaryDirectory() as d:
    ...     p = os.path.join(d, "tiny.yaml")
    ...     _ = open(p, "w").write("rat: 0.03\\n")
    ...     try:
    ...         load_yaml_config(Tiny, "creditpersona", "-", p, "tiny settings")
    ...     except ConfigurationError as e:
    ...         print(str(e).replace(d, "…"))
    …/tiny.yaml: invalid tiny settings; fix these entries: rate: Field required; \
rat: Extra inputs are not permitted (an unknown key: check its spelling)
    """
    require_strict(model)
    if path is None:
        text = resources.files(package).joinpath(filename).read_text(encoding="utf-8")
        where = f"{package.replace('.', '/')}/{filename}"
    else:
        if not Path(path).is_file():
            raise parameter_error("path", owner, "an existing YAML file", str(path))
        text, where = Path(path).read_text(encoding="utf-8"), str(path)
    return validate_config(model, _parsed(text, where), where, what)


#: Parsed YAML by its exact text (bounded): a cycle reads the same files ~24 times, and
#: parsing (pure-Python YAML) costs far more than validating. Keyed on the text itself, so a
#: file written again is parsed again, however quickly it changed.
_PARSED: dict[str, object] = {}
_PARSED_MAX = 64


def _parsed(text: str, where: str) -> object:
    """``yaml.safe_load(text)``, from a cache of earlier texts; always a private copy."""
    if text not in _PARSED:
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise ConfigurationError(f"{where}: not valid YAML: {exc}") from exc
        if len(_PARSED) >= _PARSED_MAX:
            _PARSED.pop(next(iter(_PARSED)))
        _PARSED[text] = data
    # A deep copy: validation may keep references to parsed lists and dicts in the model,
    # and a caller changing its configuration must not change the next caller's.
    return copy.deepcopy(_PARSED[text])


def validate_config(model: type[M], data: object, where: str, what: str) -> M:
    """Validate parsed ``data`` as ``model``; errors name ``where`` and each entry's path.

    Raises
    ------
    ConfigurationError
        ``<where>: invalid <what>; fix these entries: <path>: <reason>; …``.
    """
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        problems = [_problem(err, data) for err in exc.errors()]
        raise ConfigurationError(
            f"{where}: invalid {what}; fix these entries: " + "; ".join(problems)) from exc


def _problem(err: Any, data: object) -> str:
    loc = location(err["loc"], data)
    msg = str(err["msg"]).removeprefix("Value error, ")
    if err.get("type") == "extra_forbidden":
        msg += " (an unknown key: check its spelling)"
    elif loc and err.get("type") != "missing" and not isinstance(
            err.get("input"), dict | list | tuple):
        msg = f"{msg} (got {err['input']!r})"
    return f"{loc}: {msg}" if loc else msg


def location(loc: tuple[int | str, ...], data: object) -> str:
    """A readable path to an entry, naming list items by their code: ``events[lawsuit].severity``.

    Examples
    --------
    >>> location(("events", 1, "severity"), {"events": [{"code": "a"}, {"code": "lawsuit"}]})
    'events[lawsuit].severity'
    >>> location(("grades", 0, "upper_pd"), {"grades": [{"upper": 1}]})
    'grades[0].upper_pd'
    """
    parts: list[str] = []
    node = data
    for key in loc:
        name = None
        if isinstance(node, list) and isinstance(key, int) and key < len(node) \
                and isinstance(node[key], dict):
            name = next((node[key][k] for k in _NAMING_KEYS if k in node[key]), None)
        parts.append(f"[{name}]" if name is not None else f"[{key}]" if isinstance(key, int)
                     else f".{key}")
        try:
            node = node[key]  # type: ignore[index]
        except (KeyError, IndexError, TypeError):
            node = None
    return "".join(parts).lstrip(".")


def require_strict(model: type[BaseModel]) -> None:
    """Refuse a configuration model that (anywhere inside) accepts unknown keys.

    Raises
    ------
    TypeError
        Naming the model to derive from :class:`StrictModel`.
    """
    seen: set[type[BaseModel]] = set()
    todo: list[type[BaseModel]] = [model]
    while todo:
        m = todo.pop()
        if m in seen:
            continue
        seen.add(m)
        if m.model_config.get("extra") != "forbid":
            raise TypeError(f"configuration model {m.__module__}.{m.__qualname__} accepts "
                            "unknown keys; derive it from creditpersona.config.StrictModel")
        for field in m.model_fields.values():
            todo.extend(_models_in(field.annotation))


def _models_in(annotation: object) -> list[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is not None:
        return [m for arg in typing.get_args(annotation) for m in _models_in(arg)]
    return []
