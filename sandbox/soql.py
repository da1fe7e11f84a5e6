"""The small SOQL subset the Salesforce stand-in answers, parsed into a `Query`.

    SELECT f1, f2 FROM Obj [WHERE cond [AND cond]...] [ORDER BY f [ASC|DESC]] [LIMIT n]
    SELECT COUNT() FROM Obj [WHERE ...]      (totalSize only, no records)

with conditions `f = 'str' | number | true | false | null | 2026-12-01`,
`!=`, `<`, `>`, `<=`, `>=`, `f [NOT] IN ('a', 'b')` and `f LIKE '%x%'`.
Anything else (OR, relationship fields, functions, subqueries, OFFSET...)
is refused with MALFORMED_QUERY naming what is not supported, so a test
finds out at once instead of getting a silently wrong answer.

The select list also takes child-to-parent dot paths through lookups
(`Account.Name`, `OM_Bill_To_Contact__r.MailingCity`) and parent-to-child
subqueries over the relationships in `sandbox.schema.CHILDREN`
(`(SELECT ContentDocumentId FROM ContentDocumentLinks)`, with their own
WHERE, ORDER BY and LIMIT), so one opportunity's facts are one query, as
in Salesforce. Conditions stay on the object's own fields.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sandbox.schema import (
    CHILDREN,
    PARENTS,
    SOBJECTS,
    canonical_field,
    canonical_sobject,
    sf_datetime,
)


class SoqlError(ValueError):
    """A query the sandbox refuses, with the Salesforce errorCode to answer."""

    def __init__(self, error_code: str, message: str) -> None:
        super().__init__(message)
        self.error_code = error_code
        self.message = message


@dataclass(frozen=True)
class Condition:
    field: str
    op: str  # =, !=, <, >, <=, >=, IN, NOT IN, LIKE
    value: Any  # None, bool, float, str, or a tuple for IN


@dataclass(frozen=True)
class Query:
    sobject: str
    fields: tuple[str, ...]
    where: tuple[Condition, ...] = ()
    order_by: str | None = None
    descending: bool = False
    limit: int | None = None
    count: bool = False
    """`SELECT COUNT()`: the answer is the number of matches, no records."""
    paths: tuple[tuple[tuple[str, str, str], ...], ...] = ()
    """Dot paths: per path, its hops (relationship, lookup field, parent
    object) and, as the last hop, ("", field, object)."""
    children: tuple[tuple[str, str, Query], ...] = ()
    """Subqueries: (relationship name, the child's lookup field, the query)."""
    relationship: str = ""
    """A subquery's relationship name (its FROM)."""


_TOKEN = re.compile(
    r"""
    \s*(?:
      (?P<string>'(?:[^'\\]|\\.)*')
     |(?P<datetime>\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:?\d{2}))
     |(?P<date>\d{4}-\d{2}-\d{2})
     |(?P<number>-?\d+(?:\.\d+)?)
     |(?P<op><=|>=|!=|<>|=|<|>)
     |(?P<punct>[(),])
     |(?P<word>[A-Za-z_][A-Za-z0-9_.]*)
     |(?P<bad>\S)
    )""",
    re.VERBOSE,
)

_ESCAPES = {"n": "\n", "r": "\r", "t": "\t", "b": "\b", "f": "\f", '"': '"', "'": "'", "\\": "\\"}
_UNSUPPORTED_CLAUSES = {
    "OR": "OR conditions",
    "NOT": "NOT conditions",
    "OFFSET": "OFFSET",
    "GROUP": "GROUP BY",
    "HAVING": "HAVING",
    "WITH": "WITH",
    "FOR": "FOR VIEW/UPDATE",
    "USING": "USING SCOPE",
    "TYPEOF": "TYPEOF",
    "NULLS": "NULLS FIRST/LAST",
}


@dataclass(frozen=True)
class _Token:
    kind: str
    text: str


def _tokens(soql: str) -> list[_Token]:
    out: list[_Token] = []
    for match in _TOKEN.finditer(soql):
        kind = match.lastgroup
        if kind is None:
            continue
        text = match.group(kind)
        if kind == "bad":
            raise SoqlError("MALFORMED_QUERY", f"unexpected character {text!r} in query")
        out.append(_Token(kind, text))
    return out


def _unescape(raw: str, like: bool) -> str:
    """SOQL string escapes; in LIKE, \\% and \\_ stay escaped for SQLite's ESCAPE '\\'."""

    def sub(match: re.Match[str]) -> str:
        char = match.group(1)
        if char in "%_":
            return "\\" + char if like else char
        if like and char == "\\":
            return "\\\\"
        if char in _ESCAPES:
            return _ESCAPES[char]
        raise SoqlError("MALFORMED_QUERY", f"invalid escape sequence \\{char} in string")

    return re.sub(r"\\(.)", sub, raw[1:-1])


class _Parser:
    def __init__(self, soql: str) -> None:
        self.tokens = _tokens(soql)
        self.pos = 0

    def peek(self) -> _Token | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def next(self, expected: str) -> _Token:
        token = self.peek()
        if token is None:
            raise SoqlError("MALFORMED_QUERY", f"unexpected end of query, expected {expected}")
        self.pos += 1
        return token

    def keyword(self, word: str) -> bool:
        token = self.peek()
        if token is not None and token.kind == "word" and token.text.upper() == word:
            self.pos += 1
            return True
        return False

    def expect_keyword(self, word: str) -> None:
        if not self.keyword(word):
            token = self.peek()
            found = f"'{token.text}'" if token else "end of query"
            raise SoqlError("MALFORMED_QUERY", f"expected {word}, found {found}")

    def punct(self, char: str) -> bool:
        token = self.peek()
        if token is not None and token.kind == "punct" and token.text == char:
            self.pos += 1
            return True
        return False

    def field_name(self, sobject: str | None) -> str:
        token = self.next("a field name")
        if token.kind != "word":
            raise SoqlError("MALFORMED_QUERY", f"expected a field name, found '{token.text}'")
        if "." in token.text:
            raise SoqlError(
                "MALFORMED_QUERY",
                f"relationship field '{token.text}' is not supported by the sandbox",
            )
        following = self.peek()
        if following is not None and following.kind == "punct" and following.text == "(":
            raise SoqlError(
                "MALFORMED_QUERY",
                f"function {token.text.upper()}() is not supported by the sandbox",
            )
        if token.text.upper() == "SELECT":
            raise SoqlError("MALFORMED_QUERY", "subqueries are not supported by the sandbox")
        if sobject is None:
            return token.text
        canonical = canonical_field(sobject, token.text)
        if canonical is None:
            raise SoqlError("INVALID_FIELD", f"No such column '{token.text}' on entity '{sobject}'")
        return canonical


def parse(soql: str) -> Query:
    """Parse `soql`; raise `SoqlError` (MALFORMED_QUERY, INVALID_TYPE or
    INVALID_FIELD) for anything outside the supported subset."""
    p = _Parser(soql)
    query = _query(p, None)
    rest = p.peek()
    if rest is not None:
        word = rest.text.upper()
        if word in _UNSUPPORTED_CLAUSES:
            raise SoqlError(
                "MALFORMED_QUERY", f"{_UNSUPPORTED_CLAUSES[word]} is not supported by the sandbox"
            )
        raise SoqlError("MALFORMED_QUERY", f"unexpected '{rest.text}' in query")
    return query


def _select_item(p: _Parser) -> str | list[_Token]:
    """A field or dot path, or a subquery's tokens (without its parentheses)."""
    token = p.peek()
    if token is not None and token.kind == "punct" and token.text == "(":
        p.pos += 1
        start, depth = p.pos, 1
        while depth:
            inner = p.next("')' closing the subquery")
            if inner.kind == "punct" and inner.text in "()":
                depth += 1 if inner.text == "(" else -1
        return p.tokens[start : p.pos - 1]
    token = p.next("a field name")
    if token.kind != "word":
        raise SoqlError("MALFORMED_QUERY", f"expected a field name, found '{token.text}'")
    following = p.peek()
    if following is not None and following.kind == "punct" and following.text == "(":
        raise SoqlError(
            "MALFORMED_QUERY", f"function {token.text.upper()}() is not supported by the sandbox"
        )
    return token.text


def _path(sobject: str, text: str) -> tuple[tuple[str, str, str], ...]:
    """The hops of a dot path from `sobject` (INVALID_FIELD naming what is unknown)."""
    *relationships, field = text.split(".")
    hops: list[tuple[str, str, str]] = []
    current = sobject
    for name in relationships:
        known = PARENTS.get(current, {})
        relationship = next((r for r in known if r.lower() == name.lower()), None)
        if relationship is None:
            raise SoqlError(
                "INVALID_FIELD",
                f"Didn't understand relationship '{name}' in field path '{text}'. "
                f"{current} has no such relationship.",
            )
        lookup, target = known[relationship]
        hops.append((relationship, lookup, current))
        current = target
    canonical = canonical_field(current, field)
    if canonical is None:
        raise SoqlError("INVALID_FIELD", f"No such column '{field}' on entity '{current}'")
    hops.append(("", canonical, current))
    return tuple(hops)


def _query(p: _Parser, parent: str | None) -> Query:
    """One SELECT; `parent` is the outer object when this is a subquery."""
    p.expect_keyword("SELECT")
    count = parent is None and _count_function(p)
    raw: list[str | list[_Token]] = [] if count else [_select_item(p)]
    while not count and p.punct(","):
        raw.append(_select_item(p))
    p.expect_keyword("FROM")
    token = p.next("an sObject name")
    relationship_used = ""
    if parent is not None:
        children = CHILDREN.get(parent, {})
        relationship = next((r for r in children if r.lower() == token.text.lower()), None)
        if relationship is None:
            raise SoqlError(
                "INVALID_TYPE",
                f"Didn't understand relationship '{token.text}' in FROM part of query call. "
                f"{parent} has no such child relationship.",
            )
        sobject, _ = children[relationship]
        relationship_used = relationship
    else:
        found = canonical_sobject(token.text) if token.kind == "word" else None
        if found is None:
            raise SoqlError(
                "INVALID_TYPE",
                f"sObject type '{token.text}' is not supported. "
                f"The sandbox knows {', '.join(SOBJECTS)}.",
            )
        sobject = found
    fields: list[str] = []
    paths: list[tuple[tuple[str, str, str], ...]] = []
    subqueries: list[tuple[str, str, Query]] = []
    for item in raw:
        if isinstance(item, list):
            if parent is not None:
                raise SoqlError("MALFORMED_QUERY", "nested subqueries are not supported")
            inner = _Parser("")
            inner.tokens = item
            sub = _query(inner, sobject)
            left = inner.peek()
            if left is not None:
                raise SoqlError("MALFORMED_QUERY", f"unexpected '{left.text}' in subquery")
            subqueries.append((sub.relationship, CHILDREN[sobject][sub.relationship][1], sub))
        elif "." in item:
            paths.append(_path(sobject, item))
        else:
            canonical = canonical_field(sobject, item)
            if canonical is None:
                raise SoqlError("INVALID_FIELD", f"No such column '{item}' on entity '{sobject}'")
            fields.append(canonical)
    where: list[Condition] = []
    if p.keyword("WHERE"):
        where.append(_condition(p, sobject))
        while p.keyword("AND"):
            where.append(_condition(p, sobject))
    order_by, descending = None, False
    if p.keyword("ORDER"):
        p.expect_keyword("BY")
        order_by = p.field_name(sobject)
        if p.keyword("DESC"):
            descending = True
        else:
            p.keyword("ASC")
    limit = None
    if p.keyword("LIMIT"):
        token = p.next("a number")
        if token.kind != "number" or not token.text.isdigit():
            raise SoqlError("MALFORMED_QUERY", f"LIMIT needs a whole number, found '{token.text}'")
        limit = int(token.text)
    return Query(
        sobject,
        tuple(fields),
        tuple(where),
        order_by,
        descending,
        limit,
        count,
        tuple(paths),
        tuple(subqueries),
        relationship_used,
    )


def _count_function(p: _Parser) -> bool:
    """Consume `COUNT()` (how a caller asks how large a read will be)."""
    tokens = p.tokens[p.pos : p.pos + 3]
    if [t.text.upper() for t in tokens] == ["COUNT", "(", ")"]:
        p.pos += 3
        return True
    return False


def _condition(p: _Parser, sobject: str) -> Condition:
    if p.punct("("):
        raise SoqlError(
            "MALFORMED_QUERY", "parenthesised conditions are not supported by the sandbox"
        )
    if p.keyword("NOT"):
        raise SoqlError("MALFORMED_QUERY", "NOT conditions are not supported by the sandbox")
    field = p.field_name(sobject)
    kind = SOBJECTS[sobject][field]
    if p.keyword("LIKE"):
        token = p.next("a string")
        if token.kind != "string":
            raise SoqlError("MALFORMED_QUERY", f"LIKE on {field} needs a quoted string")
        return Condition(field, "LIKE", _unescape(token.text, like=True))
    negated = p.keyword("NOT")
    if p.keyword("IN"):
        if not p.punct("("):
            raise SoqlError("MALFORMED_QUERY", f"IN on {field} needs a list in parentheses")
        values = [_value(p, field, kind)]
        while p.punct(","):
            values.append(_value(p, field, kind))
        if not p.punct(")"):
            raise SoqlError("MALFORMED_QUERY", f"unclosed IN list on {field}")
        return Condition(field, "NOT IN" if negated else "IN", tuple(values))
    if negated:
        raise SoqlError("MALFORMED_QUERY", f"expected IN after NOT on {field}")
    token = p.next("an operator")
    if token.kind != "op":
        raise SoqlError("MALFORMED_QUERY", f"unsupported operator '{token.text}' after {field}")
    op = "!=" if token.text == "<>" else token.text
    value = _value(p, field, kind)
    if value is None and op not in ("=", "!="):
        raise SoqlError("MALFORMED_QUERY", f"{field} {op} null is not a valid comparison")
    return Condition(field, op, value)


def _value(p: _Parser, field: str, kind: str) -> Any:
    """A literal, checked against the field's type the way Salesforce does."""
    token = p.next("a value")
    if token.kind == "word" and token.text.lower() == "null":
        return None
    if kind == "boolean":
        if token.kind == "word" and token.text.lower() in ("true", "false"):
            return token.text.lower() == "true"
        raise SoqlError(
            "INVALID_FIELD",
            f"value of filter criterion for field '{field}' "
            "must be of type boolean and should not be enclosed in quotes",
        )
    if kind == "double":
        if token.kind == "number":
            return float(token.text)
        raise SoqlError(
            "INVALID_FIELD",
            f"value of filter criterion for field '{field}' "
            "must be of type double and should not be enclosed in quotes",
        )
    if kind in ("date", "datetime"):
        if token.kind in ("date", "datetime"):
            text = token.text
        elif token.kind == "string":
            text = _unescape(token.text, like=False)
        else:
            raise SoqlError(
                "INVALID_FIELD", f"value of filter criterion for field '{field}' must be a {kind}"
            )
        return _normalise_moment(field, kind, text)
    if token.kind == "string":
        return _unescape(token.text, like=False)
    raise SoqlError(
        "INVALID_FIELD",
        f"value of filter criterion for field '{field}' must be "
        f"of type {kind} and should be enclosed in quotes",
    )


def _normalise_moment(field: str, kind: str, text: str) -> str:
    """Dates compare as strings, so literals are put in the stored format."""
    try:
        if kind == "date":
            return date.fromisoformat(text[:10]).isoformat()
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as exc:
        raise SoqlError("INVALID_FIELD", f"'{text}' is not a valid {kind} for {field}") from exc
    if moment.tzinfo is None:
        raise SoqlError("INVALID_FIELD", f"datetime '{text}' for {field} needs a time zone")
    return sf_datetime(moment)
