"""PromQL text helpers: read generatorURL, strip an alert's threshold, build selectors, fill templates.

These are best-effort string operations, not a PromQL parser: they track brackets and quotes so
operators inside `{...}`, `(...)`, `[...]` and strings are never mistaken for the outer one.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from urllib.parse import parse_qs, urlsplit

_NUMBER = re.compile(r"^[+-]?(?:(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?|0[xX][0-9a-fA-F]+|[Ii]nf|NaN)$")
_COMPARISONS = ("==", "!=", ">=", "<=", ">", "<")
_SET_OPERATORS = ("or", "unless", "and")
# `{{ $labels.name }}`, or Go's `{{ index $labels "name" }}` for a name that is not an identifier (UTF-8).
_TEMPLATE = re.compile(
    r"\{\{\s*(?:\$labels\.([A-Za-z_][A-Za-z0-9_]*)|index\s+\$labels\s+\"((?:[^\"\\]|\\.)*)\")\s*\}\}"
)
_LABEL_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_METRIC_NAME = re.compile(r"[A-Za-z_:][A-Za-z0-9_:]*")
_COUNTER_SUFFIXES = ("_total", "_count", "_sum", "_bucket")


class TemplateError(ValueError):
    """A context-query template names a label the alert doesn't have."""


def parse_generator_url(url: str | None) -> str | None:
    """The `g0.expr` PromQL of a Prometheus generatorURL (query escaping: `+` is a space), else None.

    Only parses: the URL's host is never contacted.
    """
    if not url:
        return None
    try:
        query = urlsplit(url.replace("\\u0026", "&")).query
    except ValueError:
        return None
    values = parse_qs(query).get("g0.expr")
    expr = values[0].strip() if values else ""
    return expr or None


def _top_level_tokens(expr: str) -> list[tuple[int, str]]:
    """(position, operator) of binary operators outside brackets, strings and comments."""
    found: list[tuple[int, str]] = []
    depth, i, n = 0, 0, len(expr)
    while i < n:
        ch = expr[i]
        if ch in "\"'`":
            end = i + 1
            while end < n and expr[end] != ch:
                end += 2 if expr[end] == "\\" else 1
            i = end + 1
            continue
        if ch == "#":
            newline = expr.find("\n", i)
            i = n if newline < 0 else newline
            continue
        if ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        elif depth == 0:
            op = next((c for c in _COMPARISONS if expr.startswith(c, i)), None) if ch in "=!<>" else None
            if op is not None:
                found.append((i, op))
                i += len(op)
                continue
            word = _METRIC_NAME.match(expr, i)  # from i, not on a copy of the rest: linear in len(expr)
            if word:
                if word.group(0).lower() in _SET_OPERATORS and (i == 0 or not expr[i - 1].isalnum()):
                    found.append((i, word.group(0).lower()))
                i += len(word.group(0))
                continue
        i += 1
    return found


_MODIFIER = re.compile(r"(?:bool\b|(?:on|ignoring|group_left|group_right)\s*(?:\([^)]*\))?)\s*", re.I)


def _strip_modifiers(side: str) -> str:
    """Drop a leading `bool` and vector-matching modifiers (`on(...)`, `group_left(...)`...)."""
    side = side.strip()
    at = 0
    while (match := _MODIFIER.match(side, at)) and match.end() > at:
        at = match.end()
    return side[at:].strip()


def is_number(text: str) -> bool:
    return bool(_NUMBER.match(text.strip()))


def strip_comparison(expr: str) -> str:
    """The measured quantity of an alert expression: `rate(x[5m]) > 0.3` → `rate(x[5m])`.

    With a top-level `and`/`unless`/`or` the left operand is kept (`a > 1 and b` → `a`). For a
    comparison the non-literal side is kept (`0.3 < x` → `x`); `a > b` keeps `a`. Comments (`# ...`) and
    outer parentheses are removed first. Anything else is returned unchanged.
    """
    expr = _unwrap(without_comments(expr).strip())
    tokens = _top_level_tokens(expr)
    set_ops = [pos for pos, op in tokens if op in _SET_OPERATORS]
    if set_ops:
        return strip_comparison(expr[: set_ops[0]])
    comparisons = [(pos, op) for pos, op in tokens if op in _COMPARISONS]
    if not comparisons:
        return expr
    pos, op = comparisons[0]
    left, right = expr[:pos].strip(), _strip_modifiers(expr[pos + len(op) :])
    if is_number(left) and right:
        return _unwrap(right)
    return _unwrap(left) if left else expr


def without_comments(expr: str) -> str:
    """`expr` without its comments (`#` to the end of the line, outside strings): a rule's annotated
    expression names the same quantity, and the series it gives is named by it."""
    if "#" not in expr:
        return expr
    pieces, start, i, n = [], 0, 0, len(expr)
    while i < n:
        ch = expr[i]
        if ch in "\"'`":
            i += 1
            while i < n and expr[i] != ch:
                i += 2 if expr[i] == "\\" and ch != "`" else 1
            i += 1
        elif ch == "#":
            pieces.append(expr[start:i])
            newline = expr.find("\n", i)
            i = start = n if newline < 0 else newline
        else:
            i += 1
    return "".join([*pieces, expr[start:]])


def _unwrap(expr: str) -> str:
    """Remove parentheses enclosing the whole expression (in one pass: an alert's expression comes from a
    webhook and may be megabytes of nested parentheses)."""
    closing: dict[int, int] = {}
    opened: list[int] = []
    for i, ch in enumerate(expr):
        if ch == "(":
            opened.append(i)
        elif ch == ")" and opened:
            closing[opened.pop()] = i
    lo, hi = 0, len(expr) - 1
    while lo < hi and expr[lo] == "(" and closing.get(lo) == hi:
        lo, hi = lo + 1, hi - 1
        while lo <= hi and expr[lo].isspace():
            lo += 1
        while hi >= lo and expr[hi].isspace():
            hi -= 1
    return expr[lo : hi + 1]


def range_duration(seconds: float) -> str:
    """A PromQL range (`[...]`) of at least `seconds`: whole seconds, else whole milliseconds (PromQL has no
    fractional durations: `62.5s` is a parse error, `62500ms` is not)."""
    millis = math.ceil(seconds * 1000)
    return f"{millis // 1000}s" if millis % 1000 == 0 else f"{millis}ms"


def quote(value: str, mark: str = '"') -> str:
    """A PromQL string literal between `mark`s (double quotes; or single)."""
    return mark + value.replace("\\", "\\\\").replace(mark, "\\" + mark).replace("\n", "\\n") + mark


def label_name(name: str) -> str:
    """A label name as a matcher or a `by (...)` clause writes it: as it is when it is a classic identifier,
    else double-quoted, as Prometheus 3 reads UTF-8 names (`"service.name"="cart"`; Prometheus 2 has no
    such labels)."""
    return name if _LABEL_NAME.fullmatch(name) else quote(name)


def matcher(name: str, value: str, op: str = "=") -> str:
    """`name="value"` (or `name=~"value"`...), the name quoted where it has to be."""
    return f"{label_name(name)}{op}{quote(value)}"


def selector(labels: Mapping[str, str], metric: str | None = None) -> str:
    """`metric{a="x",b="y"}` (or `{__name__="..."...}` when the name isn't a valid identifier, which both
    Prometheus 2 and 3 read); label names that aren't identifiers are quoted (`label_name`)."""
    matchers = dict(labels)
    name = metric if metric is not None else matchers.pop("__name__", None)
    matchers.pop("__name__", None)
    if name and not _METRIC_NAME.fullmatch(name):
        matchers = {"__name__": name, **matchers}
        name = None
    body = ",".join(
        matcher(k, v) for k, v in sorted(matchers.items()) if not k.startswith("__") or k == "__name__"
    )
    return f"{name or ''}{{{body}}}"


def fill_token(token: re.Pattern[str], query: str, text: str) -> str:
    """`query` with each `token` replaced by `text` as it is (a replacement string would read its escapes)."""
    return token.sub(lambda _: text, query)


def or_absent(label: str, value: str) -> str:
    """`label=~"value|"`: the label at `value`, or not set (PromQL's empty value)."""
    return matcher(label, re.escape(value) + "|", "=~")


def scoped_selector(exact: Mapping[str, str], scope: Mapping[str, str], names: Iterable[str] = ()) -> str:
    """`{a="x",ns=~"v|"}`: the exact matchers, and each scope label at its value or absent (a label the exact
    matchers already fix is left to them); with `names`, of those metrics only (`__name__=~"m1|m2"`)."""
    parts = [matcher("__name__", "|".join(re.escape(n) for n in names), "=~")] if names else []
    parts += [matcher(k, v) for k, v in sorted(exact.items())]
    parts += [or_absent(k, v) for k, v in sorted(scope.items()) if k not in exact]
    return "{" + ",".join(parts) + "}"


def regex_selector(metric: str, exact: Mapping[str, str], alternatives: Mapping[str, Iterable[str]]) -> str:
    """`metric{a="x", b=~"v1|v2"}`: exact matchers plus one escaped alternation per varying label (an empty
    value, last, also matches series without the label: `b=~"v1|"`)."""
    parts = [matcher(k, v) for k, v in sorted(exact.items()) if k != "__name__"]
    for key, values in sorted(alternatives.items()):
        ordered = sorted(set(values), key=lambda v: (not v, v))
        parts.append(matcher(key, "|".join(re.escape(v) for v in ordered), "=~"))
    name = metric if _METRIC_NAME.fullmatch(metric) else ""
    if not name:
        parts.insert(0, matcher("__name__", metric))
    return f"{name}{{{','.join(parts)}}}"


def having_labels(expr: str, labels: Mapping[str, str]) -> str:
    """The series of `expr` with `labels`' values: `(expr) and on(a) label_replace(vector(1), "a", "x", "",
    "")`, a vector of one series with those labels (a `$` is written `$$`, which label_replace reads as
    itself)."""
    one = "vector(1)"
    for name, value in sorted(labels.items()):
        one = f'label_replace({one}, {quote(name)}, {quote(value.replace("$", "$$"))}, "", "")'
    return f"({expr}) and on({', '.join(label_name(k) for k in sorted(labels))}) {one}"


def render_template(query: str, labels: Mapping[str, str]) -> str:
    """Replace `{{ $labels.NAME }}` (or `{{ index $labels "NAME" }}`) with the alert's label value, escaped
    for where it stands: inside a `"..."` or `'...'` string (regex-escaped too when the string is a `=~`
    or `!~` matcher's), in a raw string when it holds no backtick, outside strings only when it is a
    number, a name or a duration. A value from a webhook never changes the query's structure: one that
    would raises TemplateError."""
    values: list[str] = []

    def placeholder(match: re.Match[str]) -> str:
        name = match.group(1) or re.sub(r"\\(.)", r"\1", match.group(2))
        if name not in labels:
            raise TemplateError(f"the alert has no label {name!r}")
        values.append(labels[name])
        return f"\0{len(values) - 1}\0"

    marked = _TEMPLATE.sub(placeholder, query)
    return _PLACEHOLDER.sub(lambda m: _escaped_for(marked, m.start(), values[int(m.group(1))]), marked)


_PLACEHOLDER = re.compile("\0([0-9]+)\0")
_REGEX_OPERAND = re.compile(r"[=!]~\s*$")
_DURATION = re.compile(r"(?:[0-9]+(?:ms|[smhdwy]))+")


def _string_around(text: str, at: int) -> tuple[str, int] | None:
    """(quote character, position of the opening quote) of the string literal holding `at`, else None."""
    quote_char, start, i = "", -1, 0
    while i < at:
        ch = text[i]
        if quote_char:
            if ch == "\\" and quote_char != "`":
                i += 1
            elif ch == quote_char:
                quote_char = ""
        elif ch in "\"'`":
            quote_char, start = ch, i
        elif ch == "#":  # a comment, to the end of its line
            newline = text.find("\n", i)
            i = len(text) if newline < 0 else newline
        i += 1
    return (quote_char, start) if quote_char else None


def _escaped_for(text: str, at: int, value: str) -> str:
    """`value` written where position `at` of `text` stands (see `render_template`)."""
    around = _string_around(text, at)
    if around is None:
        if not (is_number(value) or _METRIC_NAME.fullmatch(value) or _DURATION.fullmatch(value)):
            raise TemplateError(f"{value!r} is no number, name or duration: quote the template")
        return value
    quote_char, start = around
    if _REGEX_OPERAND.search(text[:start]):
        value = re.escape(value)
    if quote_char == "`":
        if "`" in value:
            raise TemplateError(f"{value!r} cannot be written in a `raw string`: use double quotes")
        return value
    return quote(value, quote_char)[1:-1]


# What `selected_metrics` strips before reading names: strings, label matchers, ranges and subqueries, and
# the label lists of grouping and matching modifiers.
_NOT_SELECTORS = re.compile(
    r""""(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`|\{[^}]*\}|\[[^\]]*\]"""
    r"|\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)"
)
_NAME_TOKEN = re.compile(r"(?<![A-Za-z0-9_:.])([A-Za-z_:][A-Za-z0-9_:]*)(?![A-Za-z0-9_:])(?!\s*\()")
_KEYWORDS = frozenset(
    {"and", "or", "unless", "atan2", "bool", "offset", "inf", "nan", "by", "without", "on", "ignoring"}
    | {"group_left", "group_right"}
)


def selected_metrics(expr: str) -> list[str]:
    """The metric names an expression selects by name (`avg(x) != 1` -> [x]; `sum by (a) (rate(y[5m])) /
    z` -> [y, z]), in order, once each. Functions, aggregations, keywords, durations, label names and
    values are not names; a selector by `{__name__=...}` alone is not read."""
    text = _NOT_SELECTORS.sub(" ", expr)
    names = (m.group(1) for m in _NAME_TOKEN.finditer(text))
    return list(dict.fromkeys(n for n in names if n.lower() not in _KEYWORDS and not _NUMBER.match(n)))


def is_counter_name(metric: str) -> bool:
    """Counters by naming convention (`_total`, and histogram/summary `_count`/`_sum` and histogram
    `_bucket`; a gauge may end in `_count` too: see `family_siblings`)."""
    return metric.endswith(_COUNTER_SUFFIXES)


def family_siblings(metric: str) -> tuple[str, ...]:
    """The other series of the histogram or summary a `_count` or `_sum` name would belong to (`X_sum` or
    `X_count`, and `X_bucket`); () for any other name. Without them, the name is a gauge's
    (postgres_exporter's `pg_stat_activity_count`)."""
    for suffix, other in (("_count", "_sum"), ("_sum", "_count")):
        if metric.endswith(suffix):
            base = metric.removesuffix(suffix)
            return f"{base}{other}", f"{base}_bucket"
    return ()


def series_id(labels: Mapping[str, str], metric: str | None = None) -> str:
    """Stable, readable identity of a series: its selector with every label, sorted."""
    return selector(labels, metric)


def generator_url_for(base_url: str, expr: str) -> str:
    """A Prometheus-style generatorURL (`<base>/graph?g0.expr=...&g0.tab=1`) for an expression."""
    from urllib.parse import urlencode

    return f"{base_url.rstrip('/')}/graph?{urlencode({'g0.expr': expr, 'g0.tab': '1'})}"
