"""Filters over item columns: a small typed expression model that every store compiles to its own
engine's language, and `parse_where`, the user-facing `--where` language that builds one.

    Filter.of(modalities=["image", "audio"], path_prefix="/photos/", where="size > 100000")
    And((In("modality", ("image",)), Range("duration", lt=10)))
    parse_where("duration IS NULL AND (path LIKE '%/notes/%' OR size < 1e4)")

The `--where` language (CLI `search --where`, `Index.search(where=...)`) is a strict subset of SQL:

    where     := or_expr
    or_expr   := and_expr ( OR and_expr )*
    and_expr  := not_expr ( AND not_expr )*
    not_expr  := NOT not_expr | '(' or_expr ')' | predicate
    predicate := column ( op literal                      op: = != <> < <= > >=
                        | [NOT] BETWEEN literal AND literal
                        | [NOT] IN '(' literal ( ',' literal )* ')'
                        | IS [NOT] NULL
                        | [NOT] LIKE string               % any run, _ one character, \\ escapes
                        | CONTAINS string )               `text` only: every word, any case
    literal   := string | number        string: 'single quotes', '' for a quote; number: -1.5e3
    column    := id | path | modality | content_hash | mtime | size | duration | pages | text

Keywords and columns are case-insensitive. Nothing else is accepted: no functions, no column
on the right-hand side, no arithmetic, no `;`, no comments, no double quotes. A value must
have its column's type (a string for `path`, a number for `size`); `= NULL` is an error (write
`IS NULL`). Three-valued logic as in SQL: a comparison with a null column is unknown and
excludes the row, also under NOT.

Stores compile these classes (see `xmodal.store.base.Store.compile_filter`); `evaluate` gives
their reference meaning over an Arrow table: the tests check every compiler against it, and a
store can use it to post-filter rows by a node its engine cannot express.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from functools import reduce
from typing import TYPE_CHECKING, Any, ClassVar, Iterable, Sequence, Union

from ..errors import XModalError
from ..types import Modality
from .base import FILTERABLE

if TYPE_CHECKING:
    import numpy as np
    import pyarrow as pa

Value = Union[str, int, float]

_INT64 = (-(2**63), 2**63 - 1)
_VALUES = {"modality": tuple(m.value for m in Modality)}  # columns with a closed set of values


class Filter:
    """Base of every filter node. Nodes are frozen dataclasses, compared and hashed by value."""

    def where(self) -> str:
        """This filter in the `--where` language: parse_where(f.where()) selects the same rows,
        and equals f for every filter parse_where builds."""
        raise NotImplementedError

    def columns(self) -> frozenset[str]:
        """The item columns this filter reads (a Raw filter's are unknown and not counted)."""
        return frozenset(n.column for n in walk(self) if hasattr(n, "column"))

    def __str__(self) -> str:
        return self.where()

    def __and__(self, other: "Filter") -> "Filter":
        return And((self, other))

    def __or__(self, other: "Filter") -> "Filter":
        return Or((self, other))

    def __invert__(self) -> "Filter":
        return Not(self)

    @staticmethod
    def of(
        *,
        modalities: Sequence[Modality | str] | None = None,
        path_prefix: str | None = None,
        contains: str | None = None,
        where: "str | Filter | None" = None,
    ) -> "Filter | None":
        """The usual search filter, every given part ANDed: modality IN (...), path starts with
        `path_prefix`, the extracted text contains every word of `contains`, and the user's
        `where` (a string in the `--where` language, or a Filter). None when nothing is given."""
        parts: list[Filter] = []
        if modalities:
            parts.append(In("modality", tuple(m.value if isinstance(m, Modality) else str(m) for m in modalities)))
        if path_prefix:
            parts.append(Prefix("path", path_prefix))
        if contains and contains.split():
            parts.append(TextMatch(contains))
        if isinstance(where, str):
            where = parse_where(where) if where.strip() else None
        if where is not None:
            parts.append(_check_node(where))
        if not parts:
            return None
        return parts[0] if len(parts) == 1 else And(tuple(parts))


def _check_node(f: Any) -> Filter:
    if not isinstance(f, Filter) or type(f) is Filter:
        raise XModalError(f"a filter must be a Filter node (Eq, In, Range, ...) or a --where string, got {type(f).__name__}")
    return f


def _check_column(column: str) -> str:
    if column not in FILTERABLE:
        raise XModalError(f"unknown column {column!r}; filterable columns: {', '.join(FILTERABLE)}")
    return column


def _check_text_column(column: str) -> None:
    if FILTERABLE[_check_column(column)] is not str:
        raise XModalError(f"column {column} holds numbers; LIKE and prefixes apply to text columns")


def _check_value(column: str, value: Any) -> Value:
    kind = FILTERABLE[column]
    if kind is str:
        if not isinstance(value, str):
            raise XModalError(f"column {column} holds text; compare it with a 'quoted string', not {value!r}")
        if "\x00" in value:
            raise XModalError(f"column {column}: a NUL character cannot be matched")
        return value
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise XModalError(f"column {column} holds numbers; compare it with a number, not {value!r}")
    if not math.isfinite(value):
        raise XModalError(f"column {column}: {value!r} is not a finite number")
    if kind is int and not _INT64[0] <= value <= _INT64[1]:
        raise XModalError(f"column {column}: {value!r} is outside the 64-bit integer range")
    return float(value) if kind is float else value


def _check_member(column: str, value: Value) -> Value:
    """A value an Eq/In can match: whole numbers for integer columns, known modalities."""
    value = _check_value(column, value)
    if FILTERABLE[column] is int:
        if value != int(value):
            raise XModalError(f"column {column} holds whole numbers; {value!r} never equals one")
        value = int(value)
    known = _VALUES.get(column)
    if known and value not in known:
        raise XModalError(f"unknown {column} {value}; choose from {', '.join(known)}")
    return value


def _quote(value: Value) -> str:
    return "'" + value.replace("'", "''") + "'" if isinstance(value, str) else repr(value)


def escape_like(text: str) -> str:
    """`text` as a LIKE pattern that matches it literally (wildcards and backslashes escaped)."""
    return re.sub(r"([\\%_])", r"\\\1", text)


@dataclass(frozen=True)
class Eq(Filter):
    """column = value."""

    column: str
    value: Value

    def __post_init__(self) -> None:
        _check_column(self.column)
        object.__setattr__(self, "value", _check_member(self.column, self.value))

    def where(self) -> str:
        return f"{self.column} = {_quote(self.value)}"


@dataclass(frozen=True)
class In(Filter):
    """column IN (values): one of these values (at least one value)."""

    column: str
    values: tuple[Value, ...]

    def __post_init__(self) -> None:
        _check_column(self.column)
        if isinstance(self.values, (str, bytes)) or not isinstance(self.values, Iterable):
            raise XModalError(f"In({self.column!r}, ...) takes a list of values, got {self.values!r}")
        values = tuple(dict.fromkeys(_check_member(self.column, v) for v in self.values))
        if not values:
            raise XModalError(f"In({self.column!r}, ...) needs at least one value")
        object.__setattr__(self, "values", values)

    def where(self) -> str:
        return f"{self.column} IN ({', '.join(_quote(v) for v in self.values)})"


@dataclass(frozen=True)
class Range(Filter):
    """Bounds on a column: gt/ge (>, >=) and lt/le (<, <=), at least one of them.

    On an integer column a fractional bound is rounded to the whole-number bound that selects
    the same rows (size > 2.5 → size > 2), so every engine gets integers for integer columns."""

    column: str
    gt: Value | None = None
    ge: Value | None = None
    lt: Value | None = None
    le: Value | None = None

    def __post_init__(self) -> None:
        _check_column(self.column)
        bounds = {k: getattr(self, k) for k in ("gt", "ge", "lt", "le") if getattr(self, k) is not None}
        if not bounds:
            raise XModalError(f"Range({self.column!r}) needs a bound: gt, ge, lt or le")
        if "gt" in bounds and "ge" in bounds or "lt" in bounds and "le" in bounds:
            raise XModalError(f"Range({self.column!r}): give gt or ge, and lt or le, not both")
        for k, v in bounds.items():
            v = _check_value(self.column, v)
            if FILTERABLE[self.column] is int:  # x > 2.5 ⟺ x > 2;  x >= 2.5 ⟺ x >= 3 (x whole)
                v = math.floor(v) if k in ("gt", "le") else math.ceil(v)
            object.__setattr__(self, k, v)

    def bounds(self) -> list[tuple[str, Value]]:
        """[(SQL operator, value)] of the bounds that are set."""
        ops = (("gt", ">"), ("ge", ">="), ("lt", "<"), ("le", "<="))
        return [(op, getattr(self, k)) for k, op in ops if getattr(self, k) is not None]

    def where(self) -> str:
        bounds = self.bounds()
        if len(bounds) == 1:
            return f"{self.column} {bounds[0][0]} {_quote(bounds[0][1])}"
        if self.ge is not None and self.le is not None:
            return f"{self.column} BETWEEN {_quote(self.ge)} AND {_quote(self.le)}"
        return "(" + " AND ".join(f"{self.column} {op} {_quote(v)}" for op, v in bounds) + ")"


@dataclass(frozen=True)
class IsNull(Filter):
    """column IS NULL (duration of a non-timed item, pages of a non-document)."""

    column: str

    def __post_init__(self) -> None:
        _check_column(self.column)

    def where(self) -> str:
        return f"{self.column} IS NULL"


@dataclass(frozen=True)
class Prefix(Filter):
    """The column starts with `prefix`, taken literally (no wildcards): `path` under a folder."""

    column: str
    prefix: str

    def __post_init__(self) -> None:
        _check_text_column(self.column)
        _check_value(self.column, self.prefix)

    def where(self) -> str:
        return f"{self.column} LIKE {_quote(escape_like(self.prefix) + '%')}"


@dataclass(frozen=True)
class Like(Filter):
    """column LIKE pattern: `%` any run of characters, `_` one character, `\\` escapes the next
    character; case-sensitive. parse_where turns a pattern that is a literal prefix then `%` into
    `Prefix`, which every engine supports."""

    column: str
    pattern: str

    def __post_init__(self) -> None:
        _check_text_column(self.column)
        _check_value(self.column, self.pattern)
        if re.search(r"(?<!\\)(?:\\\\)*\\$", self.pattern):
            raise XModalError(f"LIKE pattern {self.pattern!r} ends with a lone backslash (write \\\\ for a backslash)")

    def where(self) -> str:
        return f"{self.column} LIKE {_quote(self.pattern)}"


@dataclass(frozen=True)
class TextMatch(Filter):
    """The extracted `text` contains every one of these words as a substring, ignoring case
    (`TextMatch("red car")` == `TextMatch(("red", "car"))`). A filter, not a ranking: BM25 over
    the same text is the retriever's job."""

    words: tuple[str, ...]
    column: ClassVar[str] = "text"

    def __post_init__(self) -> None:
        words = self.words.split() if isinstance(self.words, str) else [w for part in self.words for w in str(part).split()]
        if not words:
            raise XModalError("TextMatch needs at least one word")
        for w in words:
            _check_value("text", w)
        object.__setattr__(self, "words", tuple(dict.fromkeys(words)))

    def where(self) -> str:
        return f"text CONTAINS {_quote(' '.join(self.words))}"


def _check_parts(name: str, parts: Any) -> tuple[Filter, ...]:
    if isinstance(parts, Filter) or not isinstance(parts, Iterable):
        raise XModalError(f"{name}(...) takes a list of filters, got {parts!r}")
    parts = tuple(_check_node(p) for p in parts)
    if len(parts) < 2:
        raise XModalError(f"{name}(...) needs at least two filters, got {len(parts)}")
    return parts


@dataclass(frozen=True)
class And(Filter):
    parts: tuple[Filter, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "parts", _check_parts("And", self.parts))

    def where(self) -> str:
        return " AND ".join(_wrap(p, (Or,)) for p in self.parts)


@dataclass(frozen=True)
class Or(Filter):
    parts: tuple[Filter, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "parts", _check_parts("Or", self.parts))

    def where(self) -> str:
        return " OR ".join(p.where() for p in self.parts)


@dataclass(frozen=True)
class Not(Filter):
    part: Filter

    def __post_init__(self) -> None:
        _check_node(self.part)

    def where(self) -> str:
        if isinstance(self.part, IsNull):
            return f"{self.part.column} IS NOT NULL"
        if isinstance(self.part, Eq):
            return f"{self.part.column} != {_quote(self.part.value)}"
        return f"NOT {_wrap(self.part, (And, Or))}"


@dataclass(frozen=True)
class Raw(Filter):
    """The escape hatch: an expression in one engine's own filter language, passed through as one
    parenthesised term. A store refuses a Raw of another dialect. Read with its dialect's quoting
    rules, its parentheses must balance outside strings, and `;`, comments and stray quotes are
    refused, so it cannot close the parenthesis around it and escape the filters it is combined
    with (e.g. the modality filter)."""

    expr: str
    dialect: str = "lancedb"

    def __post_init__(self) -> None:
        if self.dialect not in _RAW_STRINGS:
            raise XModalError(f"Raw filter: unknown dialect {self.dialect!r}; known: {', '.join(_RAW_STRINGS)}")
        if not isinstance(self.expr, str) or not self.expr.strip():
            raise XModalError("Raw filter: give a non-empty expression")
        _check_sealed(self.expr, self.dialect)

    def where(self) -> str:
        raise XModalError(f"a Raw {self.dialect} filter has no --where form: {self.expr!r}")


def _wrap(f: Filter, kinds: tuple[type, ...]) -> str:
    return f"({f.where()})" if isinstance(f, kinds) else f.where()


def walk(f: Filter) -> Iterable[Filter]:
    """`f` and every node inside it, depth first."""
    yield f
    for p in f.parts if isinstance(f, (And, Or)) else (f.part,) if isinstance(f, Not) else ():
        yield from walk(p)


# how each dialect writes strings and quoted names, so that parentheses inside them are skipped
_RAW_STRINGS = {
    "lancedb": r"'(?:[^']|'')*'|\"(?:[^\"]|\"\")*\"",  # SQL: a quote inside is doubled; \ is plain
    "milvus": r"'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\"",  # Milvus expressions: \ escapes
}


def _check_sealed(expr: str, dialect: str) -> None:
    """Refuse a raw expression that could break out of the parentheses it is wrapped in."""
    depth = 0
    for m in re.finditer(_RAW_STRINGS[dialect] + r"|--|/\*|[();]|['\"`]", expr):
        tok = m.group()
        if tok in ("--", "/*", ";"):
            raise XModalError(f"Raw filter {expr!r}: {tok!r} is not allowed")
        if tok in ("'", '"', "`"):
            raise XModalError(f"Raw filter {expr!r}: unterminated quote at character {m.start() + 1}")
        depth += {"(": 1, ")": -1}.get(tok, 0)
        if depth < 0:
            raise XModalError(f"Raw filter {expr!r}: ')' at character {m.start() + 1} closes nothing")
    if depth:
        raise XModalError(f"Raw filter {expr!r}: unbalanced parentheses")


def check_dialect(f: Filter, dialect: str) -> None:
    """Raise if `f` holds a Raw filter of a dialect other than the store's own."""
    for node in walk(f):
        if isinstance(node, Raw) and node.dialect != dialect:
            raise XModalError(f"this store speaks {dialect} filters; a Raw {node.dialect} filter ({node.expr!r}) cannot run here")


# -- the --where language ------------------------------------------------------------------------

_TOKEN = re.compile(
    r"\s*(?:(?P<num>(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)"
    r"|(?P<str>'(?:[^']|'')*')"
    r"|(?P<word>[A-Za-z_][A-Za-z0-9_]*)"
    r"|(?P<op><=|>=|<>|!=|=|<|>|\(|\)|,|-|\+))"
)
_KEYWORDS = {"AND", "OR", "NOT", "IN", "IS", "NULL", "LIKE", "BETWEEN", "CONTAINS"}
_MAX_LENGTH = 10_000
_MAX_DEPTH = 64


@dataclass
class _Token:
    kind: str  # num | str | word | kw | op | end
    text: str
    pos: int  # 0-based offset in the filter text


def _tokens(text: str) -> list[_Token]:
    out, pos = [], 0
    while True:
        m = _TOKEN.match(text, pos)
        if m is None or m.lastgroup is None:
            rest = text[pos:].lstrip()
            if not rest:
                out.append(_Token("end", "", len(text)))
                return out
            at = len(text) - len(rest)
            if rest[0] == "'":
                raise _error(text, at, "unterminated string (close it with ')")
            if rest[0] in "\"`":
                raise _error(text, at, "strings take single quotes, and columns are not quoted")
            raise _error(text, at, f"unexpected character {rest[0]!r}")
        kind = m.lastgroup
        value, at = m.group(kind), m.start(kind)
        if kind == "word" and value.upper() in _KEYWORDS:
            kind, value = "kw", value.upper()
        out.append(_Token(kind, value, at))
        pos = m.end()


class WhereError(XModalError):
    """A `--where` string that does not parse; the message quotes it and names the position."""


def _error(text: str, pos: int, message: str) -> WhereError:
    return WhereError(f"invalid where filter {text!r} at character {pos + 1}: {message}")


def _describe(tok: _Token) -> str:
    return "the end" if tok.kind == "end" else repr(tok.text)


class _Parser:
    def __init__(self, text: str):
        self.text = text
        self.toks = _tokens(text)
        self.i = 0
        self.depth = 0

    def peek(self) -> _Token:
        return self.toks[self.i]

    def take(self) -> _Token:
        tok = self.toks[self.i]
        self.i += 1
        return tok

    def accept(self, kind: str, text: str | None = None) -> _Token | None:
        tok = self.peek()
        if tok.kind == kind and (text is None or tok.text == text):
            return self.take()
        return None

    def expect(self, kind: str, text: str | None, what: str) -> _Token:
        tok = self.accept(kind, text)
        if tok is None:
            raise self.fail(what)
        return tok

    def fail(self, what: str, tok: _Token | None = None) -> WhereError:
        tok = tok or self.peek()
        return _error(self.text, tok.pos, f"expected {what}, found {_describe(tok)}")

    def parse(self) -> Filter:
        f = self.or_expr()
        if self.peek().kind != "end":
            raise self.fail("AND, OR or the end of the filter")
        return f

    def or_expr(self) -> Filter:
        parts = [self.and_expr()]
        while self.accept("kw", "OR"):
            parts.append(self.and_expr())
        return parts[0] if len(parts) == 1 else Or(tuple(parts))

    def and_expr(self) -> Filter:
        parts = [self.not_expr()]
        while self.accept("kw", "AND"):
            parts.append(self.not_expr())
        return parts[0] if len(parts) == 1 else And(tuple(parts))

    def not_expr(self) -> Filter:
        self.depth += 1
        if self.depth > _MAX_DEPTH:
            raise _error(self.text, self.peek().pos, f"nested deeper than {_MAX_DEPTH} levels")
        try:
            if self.accept("kw", "NOT"):
                return Not(self.not_expr())
            if self.accept("op", "("):
                f = self.or_expr()
                self.expect("op", ")", "')'")
                return f
            return self.predicate()
        finally:
            self.depth -= 1

    def predicate(self) -> Filter:
        tok = self.peek()
        if tok.kind != "word":
            raise self.fail(f"a column ({', '.join(FILTERABLE)}) or '(' or NOT")
        self.take()
        if self.peek().text == "(":
            raise _error(self.text, tok.pos, f"functions such as {tok.text}(...) are not supported")
        try:
            return self.condition(_check_column(tok.text.lower()))
        except WhereError:
            raise
        except XModalError as exc:  # a node refused the column or a value: say where
            raise _error(self.text, tok.pos, str(exc)) from None

    def condition(self, column: str) -> Filter:
        op = self.accept("op")
        if op is not None:
            if op.text not in ("=", "!=", "<>", "<", "<=", ">", ">="):
                raise self.fail("a comparison (= != <> < <= > >=), IN, IS, LIKE, BETWEEN or CONTAINS", op)
            if self.peek().kind == "kw" and self.peek().text == "NULL":
                raise self.fail(f"a value (write {column} IS {'NOT ' if op.text != '=' else ''}NULL to test for null)")
            value = self.literal()
            if op.text == "=":
                return Eq(column, value)
            if op.text in ("!=", "<>"):
                return Not(Eq(column, value))
            return Range(column, **{{">": "gt", ">=": "ge", "<": "lt", "<=": "le"}[op.text]: value})
        if self.accept("kw", "IS"):
            negate = self.accept("kw", "NOT") is not None
            self.expect("kw", "NULL", "NULL")
            return Not(IsNull(column)) if negate else IsNull(column)
        if self.accept("kw", "CONTAINS"):
            if column != "text":
                raise XModalError(f"CONTAINS applies to the text column, not {column}")
            return TextMatch(self.string())
        negate = self.accept("kw", "NOT") is not None
        if self.accept("kw", "IN"):
            self.expect("op", "(", "'(' after IN")
            values = [self.literal()]
            while self.accept("op", ","):
                values.append(self.literal())
            self.expect("op", ")", "',' or ')'")
            f: Filter = In(column, tuple(values))
        elif self.accept("kw", "LIKE"):
            pattern = self.string()
            literal = re.fullmatch(r"((?:[^\\%_]|\\.)*)%", pattern, re.S)
            f = Prefix(column, re.sub(r"\\(.)", r"\1", literal.group(1), flags=re.S)) if literal else Like(column, pattern)
        elif self.accept("kw", "BETWEEN"):
            low = self.literal()
            self.expect("kw", "AND", "AND in BETWEEN ... AND ...")
            f = Range(column, ge=low, le=self.literal())
        else:
            raise self.fail("a comparison (= != <> < <= > >=), IN, IS, LIKE, BETWEEN or CONTAINS")
        return Not(f) if negate else f

    def string(self) -> str:
        tok = self.expect("str", None, "a 'quoted string'")
        return tok.text[1:-1].replace("''", "'")

    def literal(self) -> Value:
        tok = self.peek()
        if tok.kind == "str":
            return self.string()
        sign = self.accept("op", "-") or self.accept("op", "+")
        num = self.accept("num")
        if num is None:
            raise self.fail("a number or a 'quoted string'")
        text = ("-" if sign is not None and sign.text == "-" else "") + num.text
        value = int(text) if re.fullmatch(r"-?\d+", text) else float(text)
        if not math.isfinite(value):
            raise _error(self.text, num.pos, f"{num.text} is out of range")
        return value


def parse_where(text: str) -> Filter:
    """A `--where` string (the grammar in this module's docstring) → a Filter.

    Raises XModalError with the character position and what was expected; it never passes
    text it does not understand on to an engine."""
    if not isinstance(text, str):
        raise XModalError(f"a where filter is a string, got {type(text).__name__}")
    if len(text) > _MAX_LENGTH:
        raise XModalError(f"where filter is {len(text)} characters long; at most {_MAX_LENGTH}")
    if not text.strip():
        raise _error(text, 0, "a filter, found nothing")
    return _Parser(text).parse()


# -- reference meaning ---------------------------------------------------------------------------


def evaluate(f: Filter, table: "pa.Table") -> "np.ndarray":
    """Rows of `table` (an Arrow table with the columns `f` reads) that pass `f`: a bool mask.

    SQL semantics: a comparison with null is unknown, AND/OR/NOT follow Kleene logic, and a row
    passes only when the whole filter is true. Raw filters cannot be evaluated here."""
    import pyarrow.compute as pc

    return pc.fill_null(_evaluate(f, table), False).to_numpy(zero_copy_only=False)


def _evaluate(f: Filter, t: "pa.Table") -> Any:
    import pyarrow as pa
    import pyarrow.compute as pc

    def scalar(column: str, v: Value) -> Any:
        return pa.scalar(v, t.column(column).type)

    match f:
        case Eq(column=c, value=v):
            return pc.equal(t.column(c), scalar(c, v))
        case In(column=c, values=vs):  # NULL IN (...) is unknown, not false
            found = pc.is_in(t.column(c), value_set=pa.array(vs, t.column(c).type))
            return pc.if_else(pc.is_null(t.column(c)), pa.scalar(None, pa.bool_()), found)
        case Range(column=c):
            ops = {">": pc.greater, ">=": pc.greater_equal, "<": pc.less, "<=": pc.less_equal}
            return reduce(pc.and_kleene, [ops[op](t.column(c), scalar(c, v)) for op, v in f.bounds()])
        case IsNull(column=c):
            return pc.is_null(t.column(c))
        case Prefix(column=c, prefix=p):
            return pc.starts_with(t.column(c), pattern=p)
        case Like(column=c, pattern=p):
            return pc.match_like(t.column(c), pattern=p)
        case TextMatch(words=ws):
            return reduce(pc.and_kleene, [pc.match_substring(t.column("text"), pattern=w, ignore_case=True) for w in ws])
        case And(parts=ps):
            return reduce(pc.and_kleene, [_evaluate(p, t) for p in ps])
        case Or(parts=ps):
            return reduce(pc.or_kleene, [_evaluate(p, t) for p in ps])
        case Not(part=p):
            return pc.invert(_evaluate(p, t))
    raise XModalError(f"cannot evaluate a {type(f).__name__} filter in memory")
