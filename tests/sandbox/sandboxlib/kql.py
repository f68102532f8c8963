"""A small subset of KQL (Kusto Query Language) for the hunting endpoints: tokenize, compile, run.

    Table | where <condition> | project A, B = <expr> | extend C = <expr> | summarize count(), dcount(X) by Y
          | order by X [asc|desc] | sort by ... | top N by X [asc|desc] | take N | limit N | distinct A | count

A query is compiled against the tables' schemas before any row is read, so unknown tables, columns and
functions and mismatched types fail the way Kusto fails them: with a syntax or a semantic error. Rows are
dicts keyed by column name; date-times are aware ``datetime``s, timespans ``timedelta``s. Strings are never
null (empty strings instead), as in Kusto's tables.
"""
from __future__ import annotations

import datetime
import functools
import operator
import re
from dataclasses import dataclass
from typing import Callable, NamedTuple, Optional

from .timefmt import parse_datetime

STRING, LONG, REAL, BOOL, DATETIME, TIMESPAN = "string", "long", "real", "bool", "datetime", "timespan"
ANY = "any"  # in function signatures only
TYPE_NAMES = {STRING: "String", LONG: "Int64", REAL: "Double", BOOL: "Boolean", DATETIME: "DateTime",
              TIMESPAN: "TimeSpan"}
NUMBERS = (LONG, REAL)
SYNTAX, SEMANTIC = "Syntax", "Semantic"
OPERATORS = ("where", "project", "extend", "summarize", "order by", "sort by", "top", "take", "limit", "distinct",
             "count")

_TOKEN = re.compile(r"""
    (?P<space>\s+|//[^\n]*)
  | (?P<datetime>datetime\([^)]*\))
  | (?P<string>"(?:[^"\\\n]|\\.)*"|'(?:[^'\\\n]|\\.)*')
  | (?P<timespan>\d+(?:\.\d+)?(?:ms|d|h|m|s)(?!\w))
  | (?P<number>\d+(?:\.\d+)?(?!\w))
  | (?P<word>!?[A-Za-z_]\w*~?)
  | (?P<symbol>==|!=|=~|!~|>=|<=|[|(),=<>+-])
""", re.VERBOSE)
_TIMESPAN_UNITS = {"d": "days", "h": "hours", "m": "minutes", "s": "seconds", "ms": "milliseconds"}
_LITERALS = ("string", "number", "timespan", "datetime")
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "\\": "\\", "'": "'", '"': '"'}


class KqlError(ValueError):
    """The query cannot run; ``kind`` is SYNTAX or SEMANTIC, the message is Kusto-like."""

    def __init__(self, kind: str, message: str):
        super().__init__(message)
        self.kind = kind


class Token(NamedTuple):
    kind: str
    text: str
    line: int
    column: int


@dataclass(frozen=True)
class Expr:
    """A typed scalar expression; ``name`` is the column it reads (or bins), for default output names."""

    type: str
    evaluate: Callable  # row -> value
    name: Optional[str] = None


@dataclass(frozen=True)
class Query:
    table: str
    columns: tuple  # the result's ((name, type), ...)
    steps: tuple  # functions: list of rows -> list of rows

    def run(self, rows: list) -> list:
        for step in self.steps:
            rows = step(rows)
        return rows


def compile_query(text: str, catalog: dict, now: datetime.datetime) -> Query:
    """``catalog`` maps table names to their ((column, type), ...); ``now`` is what now() and ago() use."""
    return _Parser(_tokenize(text), catalog, now).query()


def _tokenize(text: str) -> list:
    tokens, position, line, line_start = [], 0, 1, 0
    while position < len(text):
        match = _TOKEN.match(text, position)
        if not match:
            raise _parse_error(Token("symbol", text[position], line, position - line_start + 1))
        if match.lastgroup != "space":
            tokens.append(Token(match.lastgroup, match.group(), line, position - line_start + 1))
        for offset, character in enumerate(match.group()):
            if character == "\n":
                line, line_start = line + 1, position + offset + 1
        position = match.end()
    tokens.append(Token("end", "", line, position - line_start + 1))
    return tokens


def _parse_error(token: Token, hint: str = "") -> KqlError:
    return KqlError(SYNTAX, f"Query could not be parsed at '{token.text}' on line [{token.line},{token.column}]{hint}")


class _Parser:
    def __init__(self, tokens: list, catalog: dict, now: datetime.datetime):
        self._tokens = tokens
        self._index = 0
        self._catalog = catalog
        self._functions = _function_table(now)

    # --- tokens ----------------------------------------------------------------------------------------------

    def _peek(self, offset: int = 0) -> Token:
        return self._tokens[min(self._index + offset, len(self._tokens) - 1)]

    def _advance(self) -> Token:
        token = self._peek()
        self._index += token.kind != "end"
        return token

    def _accept(self, text: str) -> bool:
        if self._peek().kind in ("word", "symbol") and self._peek().text == text:
            self._index += 1
            return True
        return False

    def _expect(self, text: str) -> None:
        if not self._accept(text):
            raise _parse_error(self._peek())

    def _integer(self) -> int:
        token = self._advance()
        if token.kind != "number" or not token.text.isdigit():
            raise _parse_error(token)
        return int(token.text)

    # --- tabular operators -----------------------------------------------------------------------------------

    def query(self) -> Query:
        token = self._advance()
        if token.kind != "word" or self._peek().text not in ("|", ""):
            raise _parse_error(self._peek() if token.kind == "word" else token)
        if token.text not in self._catalog:
            raise KqlError(SEMANTIC, f"Failed to resolve table expression named '{token.text}'")
        columns, steps = tuple(self._catalog[token.text]), []
        while self._accept("|"):
            columns, step = self._operator(columns)
            steps.append(step)
        if self._peek().kind != "end":
            raise _parse_error(self._peek())
        return Query(token.text, columns, tuple(steps))

    def _operator(self, columns: tuple) -> tuple:
        token = self._advance()
        operators = {"where": self._where, "project": self._project, "extend": self._extend,
                     "summarize": self._summarize, "distinct": self._distinct, "order": self._order,
                     "sort": self._order, "top": self._top, "take": self._take, "limit": self._take,
                     "count": self._count_rows}
        if token.kind != "word" or token.text not in operators:
            raise _parse_error(token, f": the sandbox supports only these operators: {', '.join(OPERATORS)}")
        return operators[token.text](dict(columns))

    def _where(self, scope: dict) -> tuple:
        condition = self._expression(scope)
        if condition.type != BOOL:
            raise KqlError(SEMANTIC, f"'where' operator: the predicate must be of type bool, not {condition.type}")
        return tuple(scope.items()), lambda rows: [row for row in rows if condition.evaluate(row)]

    def _project(self, scope: dict) -> tuple:
        items = self._assignments(scope)
        return (tuple((name, expr.type) for name, expr in items),
                lambda rows: [{name: expr.evaluate(row) for name, expr in items} for row in rows])

    def _extend(self, scope: dict) -> tuple:
        items = self._assignments(scope)
        columns = {**scope, **{name: expr.type for name, expr in items}}
        return (tuple(columns.items()),
                lambda rows: [{**row, **{name: expr.evaluate(row) for name, expr in items}} for row in rows])

    def _take(self, scope: dict) -> tuple:
        count = self._integer()
        return tuple(scope.items()), lambda rows: rows[:count]

    def _count_rows(self, scope: dict) -> tuple:
        return (("Count", LONG),), lambda rows: [{"Count": len(rows)}]

    def _order(self, scope: dict) -> tuple:
        self._expect("by")
        keys = [self._sort_key(scope)]
        while self._accept(","):
            keys.append(self._sort_key(scope))
        return tuple(scope.items()), lambda rows: _sorted(rows, keys)

    def _top(self, scope: dict) -> tuple:
        count = self._integer()
        self._expect("by")
        key = self._sort_key(scope)
        return tuple(scope.items()), lambda rows: _sorted(rows, [key])[:count]

    def _sort_key(self, scope: dict) -> tuple:
        expr = self._expression(scope)
        descending = not self._accept("asc")
        if descending:
            self._accept("desc")
        return expr, descending

    def _summarize(self, scope: dict) -> tuple:
        aggregates = [] if self._peek().text == "by" else self._aggregates(scope)
        groups = self._assignments(scope) if self._accept("by") else []
        if not aggregates and not groups:
            raise _parse_error(self._peek())
        columns = tuple((name, expr.type) for name, expr in groups) + tuple(item[:2] for item in aggregates)
        return columns, lambda rows: _summarized(rows, groups, aggregates)

    def _distinct(self, scope: dict) -> tuple:
        groups = self._assignments(scope)
        return tuple((name, expr.type) for name, expr in groups), lambda rows: _summarized(rows, groups, [])

    def _aggregates(self, scope: dict) -> list:
        items = [self._aggregate(scope)]
        while self._accept(","):
            items.append(self._aggregate(scope))
        return items

    def _aggregate(self, scope: dict) -> tuple:
        """``[Name =] count() | dcount(x) | min(x) | max(x) | sum(x)`` -> (name, type, function of the group's rows)."""
        name = self._assigned_name()
        token = self._advance()
        if token.text not in _AGGREGATIONS or not self._accept("("):
            raise _parse_error(token, f": the sandbox supports only these aggregations: {', '.join(_AGGREGATIONS)}")
        argument = None if token.text == "count" else self._expression(scope)
        self._expect(")")
        kind, function = _aggregation(token.text, argument)
        default = "count_" if argument is None else f"{token.text}_{argument.name or 'Column'}"
        return name or default, kind, function

    def _assignments(self, scope: dict) -> list:
        """``Name = expr`` or ``expr`` (named after the column it reads), comma-separated."""
        items = []
        while True:
            name = self._assigned_name()
            expr = self._expression(scope)
            items.append((name or expr.name or f"Column{len(items) + 1}", expr))
            if not self._accept(","):
                return items

    def _assigned_name(self) -> Optional[str]:
        if self._peek().kind == "word" and self._peek(1).text == "=":
            name = self._advance().text
            self._advance()
            return name
        return None

    # --- scalar expressions ----------------------------------------------------------------------------------

    def _expression(self, scope: dict) -> Expr:
        return self._logical(scope, "or", lambda scope: self._logical(scope, "and", self._comparison))

    def _logical(self, scope: dict, word: str, operand: Callable) -> Expr:
        terms = [operand(scope)]
        while self._accept(word):
            terms.append(operand(scope))
        if len(terms) == 1:
            return terms[0]
        if any(term.type != BOOL for term in terms):
            raise KqlError(SEMANTIC, f"The operands of '{word}' must be of type bool")
        combine = any if word == "or" else all
        return Expr(BOOL, lambda row: combine(term.evaluate(row) for term in terms))

    def _comparison(self, scope: dict) -> Expr:
        left = self._additive(scope)
        token = self._peek()
        if token.kind == "word" and token.text in _MEMBERSHIP:
            self._advance()
            return self._membership(token.text, left, scope)
        if token.kind not in ("word", "symbol") or token.text not in _COMPARISONS:
            return left
        self._advance()
        right = self._additive(scope)
        function, types = _COMPARISONS[token.text]
        if not _compatible(left.type, right.type, types):
            raise KqlError(SEMANTIC, f"Cannot compare values of types {left.type} and {right.type} with "
                                     f"'{token.text}'. Try adding explicit casts")
        return Expr(BOOL, lambda row: function(left.evaluate(row), right.evaluate(row)))

    def _membership(self, word: str, left: Expr, scope: dict) -> Expr:
        self._expect("(")
        values = [self._additive(scope)]
        while self._accept(","):
            values.append(self._additive(scope))
        self._expect(")")
        for value in values:
            if not _compatible(left.type, value.type, (STRING,) if "~" in word else None):
                raise KqlError(SEMANTIC, f"'{word}' operator: values of type {value.type} cannot be compared with "
                                         f"{left.type}")
        fold = str.lower if "~" in word else (lambda value: value)
        negate = word.startswith("!")
        return Expr(BOOL, lambda row: (fold(left.evaluate(row)) in {fold(v.evaluate(row)) for v in values}) != negate)

    def _additive(self, scope: dict) -> Expr:
        left = self._primary(scope)
        while self._peek().text in ("+", "-") and self._peek().kind == "symbol":
            symbol = self._advance().text
            left = _arithmetic(symbol, left, self._primary(scope))
        return left

    def _primary(self, scope: dict) -> Expr:
        token = self._advance()
        if token.kind == "symbol" and token.text == "(":
            inner = self._expression(scope)
            self._expect(")")
            return inner
        if token.kind in _LITERALS:
            return _literal(token)
        if token.kind != "word" or token.text.startswith("!"):
            raise _parse_error(token)
        if token.text in ("true", "false"):
            value = token.text == "true"
            return Expr(BOOL, lambda row: value)
        if self._peek().text == "(":
            return self._call(token, scope)
        if token.text not in scope:
            raise KqlError(SEMANTIC, f"Failed to resolve scalar expression named '{token.text}'")
        name = token.text
        return Expr(scope[name], lambda row: row[name], name)

    def _call(self, token: Token, scope: dict) -> Expr:
        self._expect("(")
        arguments = []
        if not self._accept(")"):
            arguments.append(self._expression(scope))
            while self._accept(","):
                arguments.append(self._expression(scope))
            self._expect(")")
        if token.text not in self._functions:
            raise KqlError(SEMANTIC, f"Unknown function: '{token.text}'.")
        signatures, function = self._functions[token.text]
        types = tuple(argument.type for argument in arguments)
        result = next((result for wanted, result in signatures if _matches(types, wanted)), None)
        if result is None:
            raise KqlError(SEMANTIC, f"Function '{token.text}' cannot be called with arguments of types "
                                     f"({', '.join(types)})")
        name = arguments[0].name if token.text == "bin" else None
        return Expr(result, lambda row: function(*(argument.evaluate(row) for argument in arguments)), name)


def _function_table(now: datetime.datetime) -> dict:
    """name -> ([(argument types, result type), ...], implementation)."""
    return {
        "now": ([((), DATETIME)], lambda: now),
        "ago": ([((TIMESPAN,), DATETIME)], lambda span: now - span),
        "not": ([((BOOL,), BOOL)], operator.not_),
        "isempty": ([((ANY,), BOOL)], lambda value: value is None or value == ""),
        "isnotempty": ([((ANY,), BOOL)], lambda value: value is not None and value != ""),
        "tolower": ([((STRING,), STRING)], str.lower),
        "toupper": ([((STRING,), STRING)], str.upper),
        "strlen": ([((STRING,), LONG)], len),
        "bin": ([((DATETIME, TIMESPAN), DATETIME), ((LONG, LONG), LONG), ((REAL, REAL), REAL)], _bin),
    }


# --- evaluation helpers ------------------------------------------------------------------------------------------

def _literal(token: Token) -> Expr:
    if token.kind == "string":
        value = re.sub(r"\\(.)", lambda match: _ESCAPES.get(match[1], match[1]), token.text[1:-1])
        return Expr(STRING, lambda row: value)
    if token.kind == "number":
        number = float(token.text) if "." in token.text else int(token.text)
        return Expr(REAL if "." in token.text else LONG, lambda row: number)
    if token.kind == "timespan":
        amount, unit = re.fullmatch(r"([\d.]+)(\w+)", token.text).groups()
        span = datetime.timedelta(**{_TIMESPAN_UNITS[unit]: float(amount)})
        return Expr(TIMESPAN, lambda row: span)
    text = token.text[len("datetime("):-1].strip().replace(" ", "T", 1)
    try:
        moment = parse_datetime(text)
    except ValueError:
        raise _parse_error(token, ": not a valid datetime literal") from None
    return Expr(DATETIME, lambda row: moment)


def _compatible(left: str, right: str, types: Optional[tuple]) -> bool:
    """Same type (or both numbers), and one of ``types`` if given."""
    same = left == right or (left in NUMBERS and right in NUMBERS)
    return same and (types is None or left in types)


def _matches(types: tuple, wanted: tuple) -> bool:
    return len(types) == len(wanted) and all(w in (t, ANY) or (w == REAL and t == LONG) for t, w in zip(types, wanted))


def _arithmetic(symbol: str, left: Expr, right: Expr) -> Expr:
    kinds = (left.type, right.type)
    results = {(DATETIME, TIMESPAN): DATETIME, (TIMESPAN, TIMESPAN): TIMESPAN, (LONG, LONG): LONG,
               (LONG, REAL): REAL, (REAL, LONG): REAL, (REAL, REAL): REAL}
    if symbol == "-":
        results[DATETIME, DATETIME] = TIMESPAN
    if kinds not in results:
        raise KqlError(SEMANTIC, f"Cannot apply '{symbol}' to values of types {left.type} and {right.type}")
    function = operator.add if symbol == "+" else operator.sub
    return Expr(results[kinds], lambda row: function(left.evaluate(row), right.evaluate(row)))


def _bin(value, size):
    if isinstance(value, datetime.datetime):
        epoch = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)
        return epoch + ((value - epoch) // size) * size
    return (value // size) * size


@functools.lru_cache(maxsize=256)
def _term(term: str):
    return re.compile(rf"(?<![0-9A-Za-z]){re.escape(term)}(?![0-9A-Za-z])", re.IGNORECASE)


def _not(function: Callable) -> Callable:
    return lambda left, right: not function(left, right)


_STRING_OPERATORS = {
    "contains": lambda left, right: right.lower() in left.lower(),
    "has": lambda left, right: _term(right).search(left) is not None,
    "startswith": lambda left, right: left.lower().startswith(right.lower()),
    "endswith": lambda left, right: left.lower().endswith(right.lower()),
}
_ORDERED = (LONG, REAL, DATETIME, TIMESPAN)
_COMPARISONS = {
    "==": (operator.eq, None), "!=": (operator.ne, None),
    "=~": (lambda left, right: left.lower() == right.lower(), (STRING,)),
    "!~": (lambda left, right: left.lower() != right.lower(), (STRING,)),
    "<": (operator.lt, _ORDERED), ">": (operator.gt, _ORDERED), "<=": (operator.le, _ORDERED),
    ">=": (operator.ge, _ORDERED),
    **{name: (function, (STRING,)) for name, function in _STRING_OPERATORS.items()},
    **{f"!{name}": (_not(function), (STRING,)) for name, function in _STRING_OPERATORS.items()},
    "contains_cs": (lambda left, right: right in left, (STRING,)),
}
_MEMBERSHIP = ("in", "!in", "in~", "!in~")


def _aggregation(function: str, argument: Optional[Expr]) -> tuple:
    """(result type, function of a group's rows) for ``count()``, ``dcount(x)``, ``min(x)``, ``max(x)``, ``sum(x)``."""
    if argument is None:
        return LONG, len
    if function == "dcount":
        return LONG, lambda rows: len({argument.evaluate(row) for row in rows})
    if function == "sum":
        if argument.type not in NUMBERS:
            raise KqlError(SEMANTIC, f"sum(): expects a numeric argument, not {argument.type}")
        return argument.type, lambda rows: sum(argument.evaluate(row) for row in rows)
    reduce = min if function == "min" else max
    return argument.type, lambda rows: reduce((argument.evaluate(row) for row in rows), default=None)


_AGGREGATIONS = ("count", "dcount", "min", "max", "sum")


def _sorted(rows: list, keys: list) -> list:
    """Stable multi-key sort; each key is (expression, descending)."""
    ordered = list(rows)
    for expr, descending in reversed(keys):
        ordered.sort(key=expr.evaluate, reverse=descending)
    return ordered


def _summarized(rows: list, groups: list, aggregates: list) -> list:
    """One row per distinct group, in order of first appearance; without groups, one row even for no input."""
    buckets = {}
    for row in rows:
        buckets.setdefault(tuple(expr.evaluate(row) for name, expr in groups), []).append(row)
    if not groups:
        buckets = {(): rows}
    return [{**{name: value for (name, expr), value in zip(groups, key)},
             **{name: function(members) for name, kind, function in aggregates}}
            for key, members in buckets.items()]
