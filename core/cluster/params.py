"""Typed, declared parameters: the CLI, the app's parameter pane and validation
all come from the same declaration, as scikit-learn estimators declare theirs."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from planche.core.errors import BadParameter


@dataclass(frozen=True)
class Param:
    name: str
    type: type  # int, float, str or bool
    default: Any
    help: str
    minimum: float | None = None
    maximum: float | None = None
    choices: tuple[Any, ...] | None = None
    special: tuple[Any, ...] = ()  # values allowed outside the range, e.g. k = -1
    required: bool = False

    def allowed(self) -> str:
        """The allowed values, in words, for help texts and error messages."""
        kind = {int: "a whole number", float: "a number", str: "text", bool: "true or false"}
        if self.choices:
            text = "one of " + ", ".join(map(str, self.choices))
        elif self.minimum is not None and self.maximum is not None:
            text = f"{kind[self.type]} from {_num(self.minimum)} to {_num(self.maximum)}"
        elif self.minimum is not None:
            text = f"{kind[self.type]} of at least {_num(self.minimum)}"
        else:
            text = kind[self.type]
        if self.special:
            text += " (or " + ", ".join(map(str, self.special)) + ")"
        return text

    def parse(self, raw: Any) -> Any:
        """The value as its declared type, or a BadParameter naming this parameter."""
        value = self._convert(raw)
        if value in self.special:
            return value
        if self.choices and value not in self.choices:
            raise BadParameter(self.name, raw, self.allowed())
        if self.minimum is not None and value < self.minimum:
            raise BadParameter(self.name, raw, self.allowed())
        if self.maximum is not None and value > self.maximum:
            raise BadParameter(self.name, raw, self.allowed())
        if self.type is str and self.required and not value.strip():
            raise BadParameter(self.name, raw, "a non-empty " + self.allowed())
        return value

    def _convert(self, raw: Any) -> Any:
        if isinstance(raw, self.type) and not (self.type is int and isinstance(raw, bool)):
            return raw
        text = str(raw).strip()
        try:
            if self.type is bool:
                lowered = text.lower()
                if lowered in ("true", "yes", "1", "on"):
                    return True
                if lowered in ("false", "no", "0", "off"):
                    return False
                raise ValueError(text)
            if self.type is int:
                if isinstance(raw, float) and raw.is_integer():
                    return int(raw)
                return int(text)
            if self.type is float:
                value = float(text)
                if value != value or value in (float("inf"), float("-inf")):
                    raise ValueError(text)
                return value
            return text
        except ValueError:
            raise BadParameter(self.name, raw, self.allowed()) from None


def validate(params: tuple[Param, ...], raw: Mapping[str, Any], owner: str) -> dict[str, Any]:
    """All declared parameters, from `raw` or their defaults; unknown names refused."""
    known = {p.name: p for p in params}
    for name in raw:
        if name not in known:
            listed = ", ".join(known) or "none"
            raise BadParameter(name, raw[name], f"a parameter of {owner}: {listed}")
    values = {}
    for param in params:
        if param.name in raw and raw[param.name] is not None:
            values[param.name] = param.parse(raw[param.name])
        elif param.required:
            raise BadParameter(param.name, None, f"{param.allowed()} ({param.help})")
        else:
            values[param.name] = param.default
    return values


def _num(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)
