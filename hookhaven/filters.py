"""Content filters: a subscription's JMESPath expression over an event's JSON body.

JMESPath is the language of the AWS CLI's ``--query``, and ships with botocore (so the
Lambda runtime has it; the code asset does not carry it). A filter matches where its
result is *truthy* in JMESPath's sense: ``false``, ``null``, ``""``, ``[]`` and ``{}``
are false; everything else is true, **the number 0 included**.

A body that is not UTF-8 JSON never matches a filter. Evaluation never raises: an
expression that fails at run time (a function given the wrong type, say) is reported
as a :class:`FilterFailed` for the caller to log and count, and does not match.
"""

from __future__ import annotations

import functools
import json
from typing import Any

import jmespath
from jmespath import exceptions as jmespath_errors
from jmespath.functions import Functions
from jmespath.parser import ParsedResult

#: The longest filter an operator may set.
MAX_FILTER_LENGTH = 1024


class FilterFailed(Exception):
    """A filter could not be evaluated. ``str()`` names only the error's kind: JMESPath's
    own messages quote the values they were given, which come from the body."""


class _NotJson:
    def __repr__(self) -> str:
        return "NOT_JSON"


#: What :func:`parse_body` returns for a body that is not UTF-8 JSON.
NOT_JSON: Any = _NotJson()


@functools.lru_cache(maxsize=256)
def compiled(expression: str) -> ParsedResult:
    """The parsed expression, cached: the receiver evaluates the same few filters on
    every event. Raises jmespath's ``ParseError`` (a ValueError) for an invalid one."""
    return jmespath.compile(expression)


def check_filter(expression: str) -> None:
    """Refuse a filter the receiver could never evaluate: ValueError with the parser's
    own message, or one naming the unknown function or the wrong number of arguments
    (which JMESPath itself would only notice when evaluating)."""
    if not expression.strip():
        raise ValueError("a filter may not be empty (use --no-filter to remove one)")
    if len(expression) > MAX_FILTER_LENGTH:
        raise ValueError(
            f"a filter is at most {MAX_FILTER_LENGTH} characters; this one is {len(expression)}"
        )
    try:
        parsed = compiled(expression)
    except jmespath_errors.JMESPathError as error:
        raise ValueError(str(error)) from None
    _check_functions(parsed.parsed)


def _check_functions(node: dict[str, Any]) -> None:
    if node.get("type") == "function_expression":
        name, arguments = node["value"], len(node["children"])
        spec = Functions.FUNCTION_TABLE.get(name)
        if spec is None:
            raise ValueError(f"Unknown function: {name}()")
        signature = spec["signature"]
        if signature and signature[-1].get("variadic"):
            if arguments < len(signature):
                raise ValueError(
                    str(jmespath_errors.VariadictArityError(len(signature), arguments, name))
                )
        elif arguments != len(signature):
            raise ValueError(str(jmespath_errors.ArityError(len(signature), arguments, name)))
    for child in node.get("children", ()):
        if isinstance(child, dict):
            _check_functions(child)


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def parse_body(body: bytes) -> Any:
    """The body as JSON, or :data:`NOT_JSON` (not UTF-8, not JSON, NaN or Infinity, or
    nested deeper than Python's recursion allows)."""
    try:
        return json.loads(body.decode("utf-8"), parse_constant=_refuse_constant)
    except (ValueError, RecursionError):  # UnicodeDecodeError and JSONDecodeError included
        return NOT_JSON


def is_truthy(value: Any) -> bool:
    """JMESPath's truth: false, null, "", [] and {} are false; 0 is true."""
    if value is None or value is False:
        return False
    if isinstance(value, str | list | dict):
        return len(value) > 0
    return True


def matches(expression: str, document: Any) -> bool:
    """Whether ``expression`` is truthy over ``document`` (from :func:`parse_body`); a body
    that is not JSON never matches. Raises :class:`FilterFailed` when it cannot be evaluated."""
    if document is NOT_JSON:
        return False
    try:
        return is_truthy(compiled(expression).search(document))
    except Exception as error:
        # JMESPath's run-time errors, a stored filter that no longer parses, or a result
        # too deep to compare: this subscription misses the event, the others still get it.
        raise FilterFailed(type(error).__name__) from error
