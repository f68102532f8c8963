"""A small OData ``$filter`` compiler: ``eq ne gt ge lt le``, ``in (...)``, ``and``, ``or`` and parentheses,
``any`` over a collection of strings in the one form ``tags/any(t: t eq 'x')``, and ``startswith(property, 'x')``
where the schema allows it (the Defender for Endpoint API's machines).

Strings are single-quoted (``''`` escapes a quote), date-times are unquoted ISO-8601, ``null`` is null. The
left side of a comparison is a property, the right side a literal. Anything else is refused with a message
that names the problem, the way the real services answer HTTP 400.
"""
from __future__ import annotations

import operator
import re
from dataclasses import dataclass
from typing import Callable, Optional

from .timefmt import parse_datetime

STRING, ENUM, DATETIME = "Edm.String", "Enum", "Edm.DateTimeOffset"
STRINGS = "Collection(Edm.String)"  # filterable only through ``name/any(x: x eq '...')``

_TOKEN = re.compile(r"""
    (?P<space>\s+)
  | (?P<string>'(?:[^']|'')*')
  | (?P<datetime>\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:\d{2})?)
  | (?P<number>-?\d+(?:\.\d+)?)
  | (?P<punctuation>[(),:])
  | (?P<word>[A-Za-z_][A-Za-z0-9_./]*)
""", re.VERBOSE | re.IGNORECASE)

_COMPARISONS = {"eq": operator.eq, "ne": operator.ne, "gt": operator.gt, "ge": operator.ge, "lt": operator.lt,
                "le": operator.le}
_OPERATOR_KINDS = {"eq": "Equal", "ne": "NotEqual", "gt": "GreaterThan", "ge": "GreaterThanOrEqual",
                   "lt": "LessThan", "le": "LessThanOrEqual"}
_UNSUPPORTED_WORDS = ("not", "has", "add", "sub", "mul", "div", "mod")


class FilterError(ValueError):
    """The filter cannot be applied; the message is meant for the API's 400 answer."""


@dataclass(frozen=True)
class Property:
    """A filterable property: its type, how to read it from an item, and for enums the members in order."""

    type: str
    getter: Callable
    members: tuple = ()

    def sort_key(self, value):
        return self.members.index(value) if self.type == ENUM else value


@dataclass(frozen=True)
class Schema:
    entity_type: str
    properties: dict  # name -> Property
    not_filterable: tuple = ()  # properties that exist but cannot be filtered on
    functions: tuple = ()  # string functions the API allows: ("startswith",)

    def property(self, name: str) -> Property:
        if name in self.properties:
            return self.properties[name]
        if name in self.not_filterable:
            raise FilterError(f"Filtering on the property '{name}' is not supported. Supported properties: "
                              f"{', '.join(self.properties)}.")
        raise FilterError(f"Could not find a property named '{name}' on type '{self.entity_type}'.")


def compile_filter(text: str, schema: Schema) -> Callable:
    """Returns a predicate over items; raises FilterError for anything the filter grammar does not allow."""
    parser = _Parser(_tokenize(text), schema)
    predicate = parser.expression()
    if parser.peek() is not None:
        raise FilterError(f"Syntax error: unexpected '{parser.peek()[1]}' at position {parser.position()}.")
    return predicate


def _tokenize(text: str) -> list:
    tokens, position = [], 0
    while position < len(text):
        match = _TOKEN.match(text, position)
        if not match:
            raise FilterError(f"Syntax error at position {position} in '{text}'.")
        if match.lastgroup != "space":
            tokens.append((match.lastgroup, match.group(), position))
        position = match.end()
    if not tokens:
        raise FilterError("The $filter expression is empty.")
    return tokens


class _Parser:
    def __init__(self, tokens: list, schema: Schema):
        self._tokens = tokens
        self._index = 0
        self._schema = schema

    def peek(self) -> Optional[tuple]:
        return self._tokens[self._index] if self._index < len(self._tokens) else None

    def position(self) -> int:
        token = self.peek()
        return token[2] if token else -1

    def _next(self, expected: str) -> tuple:
        token = self.peek()
        if token is None:
            raise FilterError(f"Syntax error: the expression ends where {expected} was expected.")
        self._index += 1
        return token

    def _accept_word(self, word: str) -> bool:
        token = self.peek()
        if token and token[0] == "word" and token[1].lower() == word:
            self._index += 1
            return True
        return False

    def expression(self) -> Callable:
        terms = [self._conjunction()]
        while self._accept_word("or"):
            terms.append(self._conjunction())
        return terms[0] if len(terms) == 1 else (lambda item: any(term(item) for term in terms))

    def _conjunction(self) -> Callable:
        terms = [self._primary()]
        while self._accept_word("and"):
            terms.append(self._primary())
        return terms[0] if len(terms) == 1 else (lambda item: all(term(item) for term in terms))

    def _primary(self) -> Callable:
        kind, text, position = self._next("a comparison")
        if (kind, text) == ("punctuation", "("):
            inner = self.expression()
            self._expect_punctuation(")")
            return inner
        if kind != "word" or text.lower() in _COMPARISONS or text.lower() in ("and", "or", "in"):
            raise FilterError(f"Syntax error: expected a property name at position {position}, found '{text}'.")
        if text.lower() in _UNSUPPORTED_WORDS:
            raise FilterError(f"The '{text}' operator is not supported by this API.")
        token = self.peek()
        if text.lower().endswith("/any") and token and token[1] == "(":
            return self._any(text[: -len("/any")])
        if token and token[1] == "(":
            if text.lower() not in self._schema.functions:
                raise FilterError(f"The function '{text}' is not supported by this API.")
            return self._startswith()
        return self._comparison(text)

    def _startswith(self) -> Callable:
        """``startswith(name, 'prefix')`` on a string property (case-sensitive, as OData defines it)."""
        self._expect_punctuation("(")
        name = self._word("a property name")
        prop = self._schema.property(name)
        if prop.type != STRING:
            raise FilterError(f"The function 'startswith' needs a string property; '{name}' is of type '{prop.type}'.")
        self._expect_punctuation(",")
        prefix = self._string()
        self._expect_punctuation(")")
        return lambda item: str(prop.getter(item) or "").startswith(prefix)

    def _any(self, name: str) -> Callable:
        """``name/any(x: x eq 'value')``: some member of the collection equals the value."""
        prop = self._schema.property(name)
        if prop.type != STRINGS:
            raise FilterError(f"The 'any' operator needs a collection; '{name}' is of type '{prop.type}'.")
        self._expect_punctuation("(")
        variable = self._word("a range variable")
        self._expect_punctuation(":")
        kind, text, position = self._next("the range variable")
        if text != variable or not self._accept_word("eq"):
            raise FilterError(f"Only '{name}/any({variable}: {variable} eq '...')' is supported in an 'any' "
                              f"expression (at position {position}).")
        value = self._string()
        self._expect_punctuation(")")
        return lambda item: value in (prop.getter(item) or ())

    def _word(self, expected: str) -> str:
        kind, text, position = self._next(expected)
        if kind != "word":
            raise FilterError(f"Syntax error: expected {expected} at position {position}, found '{text}'.")
        return text

    def _string(self) -> str:
        """A quoted string literal's value."""
        kind, literal, position = self._next("a value")
        if kind != "string":
            raise FilterError(f"Syntax error: expected a quoted string at position {position}, found '{literal}'.")
        return literal[1:-1].replace("''", "'")

    def _comparison(self, name: str) -> Callable:
        prop = self._schema.property(name)
        if prop.type == STRINGS:
            raise FilterError(f"The property '{name}' is a collection: filter it with "
                              f"'{name}/any(x: x eq 'value')'.")
        kind, word, position = self._next("an operator")
        word = word.lower()
        if kind == "word" and word == "in":
            return self._membership(name, prop)
        if kind != "word" or word not in _COMPARISONS:
            raise FilterError(f"Syntax error: expected an operator (eq, ne, gt, ge, lt, le, in) at position "
                              f"{position}, found '{word}'.")
        literal = self._literal(name, prop, word)
        if word not in ("eq", "ne") and literal is None:
            raise FilterError(f"The operator '{word}' cannot be used with null.")
        compare = _COMPARISONS[word]

        def predicate(item):
            value = prop.getter(item)
            if word in ("eq", "ne"):
                return compare(value, literal)
            return value is not None and compare(prop.sort_key(value), prop.sort_key(literal))
        return predicate

    def _membership(self, name: str, prop: Property) -> Callable:
        self._expect_punctuation("(")
        values = [self._literal(name, prop, "in")]
        while self.peek() and self.peek()[1] == ",":
            self._index += 1
            values.append(self._literal(name, prop, "in"))
        self._expect_punctuation(")")
        return lambda item: prop.getter(item) in values

    def _literal(self, name: str, prop: Property, op: str):
        kind, text, position = self._next("a value")
        if kind == "word" and text == "null":
            return None
        if kind == "string":
            value = text[1:-1].replace("''", "'")
            if prop.type == DATETIME:
                raise self._type_error(op, prop, STRING)
            if prop.type == ENUM and value not in prop.members:
                raise FilterError(f"The string '{value}' is not a valid enumeration type constant for the property "
                                  f"'{name}'. Valid values: {', '.join(prop.members)}.")
            return value
        if kind == "datetime":
            if prop.type != DATETIME:
                raise self._type_error(op, prop, DATETIME)
            return parse_datetime(text)
        raise FilterError(f"Syntax error: expected a literal value for '{name}' at position {position}, "
                          f"found '{text}'. Quote strings with single quotes; write date-times unquoted.")

    @staticmethod
    def _type_error(op: str, prop: Property, found: str) -> FilterError:
        if op == "in":
            return FilterError(f"The 'in' operator needs values of type '{prop.type}', found '{found}'.")
        return FilterError(f"A binary operator with incompatible types was detected. Found operand types "
                           f"'{prop.type}' and '{found}' for operator kind '{_OPERATOR_KINDS[op]}'.")

    def _expect_punctuation(self, symbol: str) -> None:
        kind, text, position = self._next(f"'{symbol}'")
        if (kind, text) != ("punctuation", symbol):
            raise FilterError(f"Syntax error: expected '{symbol}' at position {position}, found '{text}'.")
