"""A Jinja2 sandbox that bounds work, not only attribute access.

Jinja's own sandbox stops `__class__` escapes but lets a template loop 10^10 times or build a
10^10-character string. Here every way a template can spend time or memory is counted or
checked *before* the allocation: loop iterations and calls tick a per-render step budget with
a deadline; `*`, `**`, `+`, `~` and `join` refuse results over MAX_TEXT; `range` is short;
only filters and methods that cannot multiply their input are available; `%` formatting on
strings, recursive loops and `namespace` (the way to accumulate across iterations) are gone.
"""

import time
from collections.abc import Iterable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from jinja2 import nodes
from jinja2.compiler import CodeGenerator, Frame
from jinja2.exceptions import SecurityError
from jinja2.filters import FILTERS as DEFAULT_FILTERS  # what jinja2.defaults re-exports
from jinja2.runtime import Context
from jinja2.sandbox import ImmutableSandboxedEnvironment

MAX_TEXT = 300_000  # characters: any string a template builds, and the rendered prompt
MAX_STEPS = 100_000  # loop iterations + calls + checked operations in one render
MAX_RANGE = 10_000
MAX_INT_BITS = 64

# Filters whose output is at most about the size of their input (`center`, `indent`,
# `replace`, `wordwrap`, `batch`, `escape`… can multiply it, so a chain of them explodes).
SAFE_FILTERS = frozenset(
    {
        *("abs", "capitalize", "count", "d", "default", "first", "float", "int", "join"),
        *("last", "length", "list", "lower", "round", "string", "striptags", "title"),
        *("trim", "truncate", "upper", "wordcount"),
    }
)
# Methods of builtin values a template may call: none of them allocates more than its input.
SAFE_METHODS = frozenset(
    {
        *("capitalize", "casefold", "lower", "upper", "title", "strip", "lstrip", "rstrip"),
        *("startswith", "endswith", "count", "find", "split", "items", "keys", "values", "get"),
        *("isdigit", "isalpha", "isalnum", "isspace", "islower", "isupper"),
    }
)
_BUILTIN_VALUES = (str, bytes, int, float, list, tuple, dict, set, frozenset)


class TemplateTooCostly(SecurityError):
    """The template exceeded a work or size bound."""


@dataclass
class Budget:
    steps: int
    deadline: float  # time.monotonic()


current_budget: ContextVar[Budget | None] = ContextVar("template_budget", default=None)


def tick() -> None:
    budget = current_budget.get()
    if budget is None:  # compile-time constant folding: only the size checks apply
        return
    budget.steps -= 1
    if budget.steps < 0:
        raise TemplateTooCostly(f"the template does more than {MAX_STEPS} steps")
    if time.monotonic() > budget.deadline:
        raise TemplateTooCostly("the template takes too long to render")


def _check_size(size: int) -> None:
    if size > MAX_TEXT:
        raise TemplateTooCostly(f"the template builds text over {MAX_TEXT} characters")


def _bounded_range(*args: int) -> range:
    found = range(*args)
    if len(found) > MAX_RANGE:
        raise TemplateTooCostly(f"range() is limited to {MAX_RANGE} numbers")
    return found


def _checked_join(value: Iterable[Any], d: str = "") -> str:
    items = [str(x) for x in value]
    _check_size(sum(map(len, items)) + len(d) * max(len(items) - 1, 0))
    return d.join(items)


def _checked_concat(parts: Iterable[str]) -> str:
    out, size = [], 0
    for part in parts:
        size += len(part)
        _check_size(size)
        out.append(part)
    return "".join(out)


class _BoundedCodeGenerator(CodeGenerator):
    """Routes every loop's iterable and every `~` through the environment's checks."""

    def visit_For(self, node: nodes.For, frame: Frame) -> None:
        if node.recursive:
            self.fail("recursive loops are not allowed in prompt templates", node.lineno)
        node.iter = nodes.Call(
            nodes.EnvironmentAttribute("bounded_iter"), [node.iter], [], None, None
        ).set_lineno(node.iter.lineno)
        super().visit_For(node, frame)

    def visit_Concat(self, node: nodes.Concat, frame: Frame) -> None:
        self.write("environment.bounded_concat((")
        for arg in node.nodes:
            self.visit(arg, frame)
            self.write(", ")
        self.write("))")


class BoundedSandbox(ImmutableSandboxedEnvironment):
    code_generator_class = _BoundedCodeGenerator
    intercepted_binops = frozenset({"*", "**", "+", "%"})
    # Joins every output buffer: block `set`, macro and call bodies, the whole render.
    concat = staticmethod(_checked_concat)

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.filters = {k: v for k, v in DEFAULT_FILTERS.items() if k in SAFE_FILTERS}
        self.filters["join"] = _checked_join
        self.globals = {"range": _bounded_range}  # no lipsum, namespace, cycler, dict

    def is_safe_attribute(self, obj: Any, attr: str, value: Any) -> bool:
        if isinstance(obj, _BUILTIN_VALUES) and callable(value) and attr not in SAFE_METHODS:
            return False
        return super().is_safe_attribute(obj, attr, value)

    def wrap_str_format(self, value: Any) -> None:
        return None  # `str.format` is refused (a width spec allocates), not wrapped

    def call(__self, __context: Context, __obj: Any, *args: Any, **kwargs: Any) -> Any:
        tick()
        return super().call(__context, __obj, *args, **kwargs)

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        tick()
        if operator == "%" and isinstance(left, str):
            raise SecurityError("'%' string formatting is not allowed in prompt templates")
        if operator == "**" and _pow_bits(left, right) > MAX_INT_BITS:
            raise TemplateTooCostly(f"'**' is limited to {MAX_INT_BITS}-bit results")
        if operator == "*":
            if _is_int(left) and _is_int(right):
                if left.bit_length() + right.bit_length() > MAX_INT_BITS:
                    raise TemplateTooCostly(f"'*' is limited to {MAX_INT_BITS}-bit results")
            elif _is_int(right) and hasattr(left, "__len__"):
                _check_size(len(left) * right)
            elif _is_int(left) and hasattr(right, "__len__"):
                _check_size(len(right) * left)
        if operator == "+" and hasattr(left, "__len__") and hasattr(right, "__len__"):
            _check_size(len(left) + len(right))
        return super().call_binop(context, operator, left, right)

    def bounded_iter(self, iterable: Iterable[Any]) -> Iterator[Any]:
        for item in iterable:
            tick()
            yield item

    def bounded_concat(self, parts: tuple[Any, ...]) -> str:
        tick()
        return _checked_concat([str(p) for p in parts])


def _pow_bits(base: Any, exponent: Any) -> int:
    """About how many bits `base ** exponent` needs (0 when it cannot grow)."""
    if not (_is_int(base) and _is_int(exponent)) or abs(base) < 2 or exponent <= 0:
        return 0
    return int((abs(base) - 1).bit_length() * exponent)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
