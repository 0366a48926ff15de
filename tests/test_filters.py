"""Filters: the `--where` language, the typed model it builds, and the Lance compiler, run on a
real LanceStore and checked against the reference meaning (`filters.evaluate`)."""

from __future__ import annotations

import random

import numpy as np
import pytest

from xmodal.errors import XModalError
from xmodal.store import (
    And, Eq, Filter, In, IsNull, Like, Not, Or, Prefix, Range, Raw, TextMatch, evaluate, parse_where,
)
from xmodal.store.filters import WhereError
from xmodal.store.lance import LanceStore, compile_filter

# -- the language ----------------------------------------------------------------------------------

ROUND_TRIPS = [
    "size > 3",
    "size >= -2 AND mtime < 1.5e9",
    "modality IN ('image', 'audio') AND (duration < 3 OR pages IS NOT NULL)",
    "path LIKE '/a/b\\_c%'",
    "path LIKE '%/notes/%' OR NOT size BETWEEN 1 AND 5",
    "text CONTAINS 'red car'",
    "id != 'it''s' AND content_hash = 'ab'",
    "NOT (size = 1 OR size = 2)",
    "duration IS NULL AND pages NOT IN (1, 2)",
    "path NOT LIKE '/tmp/%'",
]


@pytest.mark.parametrize("text", ROUND_TRIPS)
def test_round_trip(text):
    f = parse_where(text)
    assert parse_where(f.where()) == f
    assert parse_where(str(f)) == f


def test_precedence_and_parentheses():
    a, b, c = Eq("size", 1), Eq("size", 2), Eq("size", 3)
    assert parse_where("size = 1 OR size = 2 AND size = 3") == Or((a, And((b, c))))
    assert parse_where("(size = 1 OR size = 2) AND size = 3") == And((Or((a, b)), c))
    assert parse_where("NOT size = 1 AND size = 2") == And((Not(a), b))
    assert parse_where("NOT (size = 1 AND size = 2)") == Not(And((a, b)))
    # AND inside BETWEEN belongs to BETWEEN
    assert parse_where("size BETWEEN 1 AND 3 AND pages = 2") == And((Range("size", ge=1, le=3), Eq("pages", 2)))


def test_literals_keywords_and_normal_forms():
    assert parse_where("SIZE > 1 and Modality in ('image')") == And((Range("size", gt=1), In("modality", ("image",))))
    assert parse_where("path = 'it''s'") == Eq("path", "it's")
    assert parse_where("mtime > -1.5e3") == Range("mtime", gt=-1500.0)
    assert parse_where("size <> 4") == parse_where("size != 4") == Not(Eq("size", 4))
    assert parse_where("pages IS NOT NULL") == Not(IsNull("pages"))
    # a literal prefix followed by % is the portable Prefix; escaped wildcards stay literal
    assert parse_where("path LIKE '/music/%'") == Prefix("path", "/music/")
    assert parse_where("path LIKE '/100\\%/%'") == Prefix("path", "/100%/")
    assert parse_where("path LIKE '%/music/%'") == Like("path", "%/music/%")
    assert parse_where("path LIKE '/a_b%'") == Like("path", "/a_b%")
    # a fractional bound on a whole-number column selects the same rows with a whole number
    assert parse_where("size > 2.5") == Range("size", gt=2) and parse_where("size >= 2.5") == Range("size", ge=3)
    assert parse_where("size < 2.5") == Range("size", lt=3) and parse_where("size <= 2.5") == Range("size", le=2)


BAD_WHERE = [
    ("1=1) OR (1=1", "character 1: expected a column"),
    ("size > 1) OR (1=1", "character 9: expected AND, OR or the end"),
    ("modality = 'image') OR (size > 0", "character 19: expected AND, OR or the end"),
    ("size > 1; DROP TABLE items", "character 9: unexpected character ';'"),
    ("size > 1 -- comment", "character 10"),
    ("size > 1 /* x */", "character 10: unexpected character '/'"),
    ("foo = 3", "unknown column 'foo'; filterable columns: id, path, modality"),
    ("vector = 1", "unknown column 'vector'"),
    ("size = 'big'", "column size holds numbers"),
    ("path > 3", "column path holds text"),
    ("path = 'abc", "character 8: unterminated string"),
    ("path = \"abc\"", "strings take single quotes"),
    ("\"size\" > 1", "strings take single quotes"),
    ("size = NULL", "write size IS NULL"),
    ("size >", "expected a number or a 'quoted string', found the end"),
    ("(size > 1", "expected ')', found the end"),
    ("size > size", "expected a number or a 'quoted string', found 'size'"),
    ("lower(path) = 'a'", "functions such as lower(...) are not supported"),
    ("size IN ()", "character 10: expected a number"),
    ("size IN (1, 2", "expected ',' or ')'"),
    ("modality = 'smell'", "unknown modality smell"),
    ("pages = 2.5", "whole numbers"),
    ("size > 1e400", "out of range"),
    ("size > 99999999999999999999", "64-bit"),
    ("size CONTAINS 'x'", "CONTAINS applies to the text column"),
    ("text CONTAINS ''", "at least one word"),
    ("path LIKE 'a\\'", "lone backslash"),
    ("size LIKE '1%'", "LIKE and prefixes apply to text columns"),
    ("", "found nothing"),
    ("size > 1 AND", "expected a column"),
    ("NOT", "expected a column"),
    ("size ! 1", "unexpected character '!'"),
    ("(" * 200 + "size > 1" + ")" * 200, "nested deeper"),
]


@pytest.mark.parametrize("text,message", BAD_WHERE)
def test_bad_where_is_a_clear_error(text, message):
    with pytest.raises(XModalError) as err:
        parse_where(text)
    assert isinstance(err.value, WhereError) and str(err.value).startswith("invalid where filter")
    assert message in str(err.value)


@pytest.mark.parametrize("build,message", [
    (lambda: Eq("size", "big"), "column size holds numbers"),
    (lambda: Eq("nope", 1), "unknown column 'nope'; filterable columns: id, path"),
    (lambda: Eq("size", True), "holds numbers"),
    (lambda: Range("mtime", gt=float("nan")), "not a finite number"),
    (lambda: Range("size"), "needs a bound"),
    (lambda: Range("size", gt=1, ge=2), "not both"),
    (lambda: In("modality", ()), "at least one value"),
    (lambda: In("modality", "image"), "list of values"),
    (lambda: In("modality", ("image", "smell")), "unknown modality smell"),
    (lambda: Prefix("size", "1"), "LIKE and prefixes apply to text columns"),
    (lambda: Eq("path", "a\x00b"), "NUL"),
    (lambda: TextMatch("   "), "at least one word"),
    (lambda: And((Eq("size", 1),)), "at least two"),
    (lambda: And((Eq("size", 1), "size > 2")), "must be a Filter node"),
    (lambda: Raw("1=1) OR (1=1"), "closes nothing"),
    (lambda: Raw("(size > 1"), "unbalanced"),
    (lambda: Raw("size > 1; DROP TABLE items"), "';' is not allowed"),
    (lambda: Raw("size > 1 --"), "'--' is not allowed"),
    (lambda: Raw("path = 'a"), "unterminated quote"),
    (lambda: Raw(" "), "non-empty"),
    (lambda: Raw("size > 1").where(), "no --where form"),
])
def test_bad_nodes_are_clear_errors(build, message):
    with pytest.raises(XModalError) as err:
        build()
    assert message in str(err.value)


def test_raw_reads_strings_by_its_dialect():
    assert Raw("path = 'a) OR (b; --'").expr == "path = 'a) OR (b; --'"
    assert Raw('path like "a\\") OR (b%"', dialect="milvus").dialect == "milvus"  # \" escapes in Milvus
    with pytest.raises(XModalError, match="closes nothing"):
        Raw("path = 'a\\' ) OR (1=1", dialect="lancedb")  # \ escapes nothing in SQL
    with pytest.raises(XModalError, match="unknown dialect 'oracle'; known: lancedb, milvus"):
        Raw("1=1", dialect="oracle")


def test_filter_of_combines_the_usual_parts():
    assert Filter.of() is None and Filter.of(modalities=[], where="  ") is None
    assert Filter.of(modalities=["image"]) == In("modality", ("image",))
    f = Filter.of(modalities=["image", "audio"], path_prefix="/m/", contains="Red", where="size > 1 OR pages = 2")
    assert f == And((In("modality", ("image", "audio")), Prefix("path", "/m/"), TextMatch("Red"),
                     Or((Range("size", gt=1), Eq("pages", 2)))))
    assert Filter.of(where=Eq("size", 1)) == Eq("size", 1)
    with pytest.raises(XModalError, match="unknown modality smell; choose from text, image"):
        Filter.of(modalities=["smell"])
    with pytest.raises(XModalError, match="Filter node"):
        Filter.of(where=42)
    assert f.columns() == {"modality", "path", "text", "size", "pages"}
    assert (Eq("size", 1) & ~Eq("pages", 2)) | IsNull("pages") == Or((And((Eq("size", 1), Not(Eq("pages", 2)))), IsNull("pages")))


def test_lance_compiler_quotes_and_parenthesises():
    assert compile_filter(Eq("path", "it's")) == "path = 'it''s'"
    assert compile_filter(Prefix("path", "/a/100%_x\\y'z/")) == "path LIKE '/a/100\\%\\_x\\\\y''z/%'"
    assert compile_filter(Not(Or((Eq("size", 1), Raw("length(path) > 3"))))) == "(NOT ((size = 1 OR (length(path) > 3))))"
    assert compile_filter(TextMatch("50% off")) == "(text ILIKE '%50\\%%' AND text ILIKE '%off%')"
    assert compile_filter(Range("mtime", ge=1, lt=2)) == "(mtime >= 1.0 AND mtime < 2.0)"


# -- against a real LanceStore ---------------------------------------------------------------------

DIM = 8
PATHS = [
    "/m/photos/cat.jpg", "/m/photos/dog.png", "/m/100%/a.jpg", "/m/100x/b.jpg", "/m/b_c/x.wav",
    "/m/bxc/y.wav", "/m/it's/z.mp4", "/m/back\\slash/q.pdf", "/m/Ünïcode/Straße.txt", "/m/photos2/e.jpg",
    "", "",
]
MODALITIES = ["image", "image", "image", "image", "audio", "audio", "video", "document", "text", "image", "text", "text"]
TEXTS = ["A cat on a MAT", "", "sale: 50% off\nnow", None, "bird song", "Bird\nSONG at dawn", "a clip", "page one\npage two",
         "Über die Straße", "dog_house", "Call the plumber on Monday", "red car, blue CAR"]


def _records():
    rng = np.random.default_rng(0)
    vecs = rng.normal(size=(len(PATHS), DIM)).astype(np.float32)
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
    out = []
    for i, (path, modality, text) in enumerate(zip(PATHS, MODALITIES, TEXTS)):
        timed = modality in ("audio", "video")
        out.append(dict(
            id=f"item-{i}" if i != 6 else "it's-6", path=path, modality=modality, content_hash=f"h{i}", mtime=1000.0 + i,
            size=i * 100, duration=float(i) if timed else None, pages=3 if modality == "document" else None,
            text=text, segments="[]", tokens=b"", n_tokens=0, meta="{}", vector=vecs[i],
        ))
    return out


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    store = LanceStore(tmp_path_factory.mktemp("filters"), dim=DIM)
    store.upsert(_records())
    store.finalize()
    return store


def _ids(store, f, q=None):
    q = np.ones(DIM, np.float32) / np.sqrt(DIM) if q is None else q
    return [r["id"] for r in store.vector_search(q, 100, f)]


def _expected(f):
    import pyarrow as pa

    rows = _records()
    table = pa.Table.from_pylist([{k: r[k] for k in ("id", "path", "modality", "content_hash", "mtime", "size", "duration", "pages", "text")} for r in rows])
    return {r["id"] for r, keep in zip(rows, evaluate(f, table)) if keep}


HAND_CHECKED = [
    (Prefix("path", "/m/100%/"), {"item-2"}),  # % in the path is literal, not a wildcard
    (Prefix("path", "/m/b_c/"), {"item-4"}),  # so is _
    (Prefix("path", "/m/it's/"), {"it's-6"}),
    (Prefix("path", "/m/back\\slash/"), {"item-7"}),
    (Prefix("path", "/m/photos/"), {"item-0", "item-1"}),  # not /m/photos2/
    (Prefix("path", "/m/Ünïcode/"), {"item-8"}),
    (parse_where("path LIKE '/m/b_c/%'"), {"item-4", "item-5"}),  # a user's LIKE keeps its wildcard
    (parse_where("path LIKE '%.wav'"), {"item-4", "item-5"}),
    (Eq("id", "it's-6"), {"it's-6"}),
    (TextMatch("bird SONG"), {"item-4", "item-5"}),  # any case, across a newline
    (TextMatch("straße über"), {"item-8"}),
    (TextMatch("50% off"), {"item-2"}),
    (TextMatch("car"), {"item-11"}),
    (Not(TextMatch("cat")), {f"item-{i}" for i in (1, 2, 4, 5, 7, 8, 9, 10, 11)} | {"it's-6"}),  # null text: unknown
    (IsNull("duration"), {f"item-{i}" for i in (0, 1, 2, 3, 7, 8, 9, 10, 11)}),
    (Not(IsNull("pages")), {"item-7"}),
    (Range("duration", gt=4), {"item-5", "it's-6"}),
    (Not(Range("duration", gt=4)), {"item-4"}),  # null durations stay out under NOT
    (Range("size", ge=200, lt=400), {"item-2", "item-3"}),
    (parse_where("size > 250.5"), {f"item-{i}" for i in range(3, 12) if i != 6} | {"it's-6"}),
    (Range("mtime", gt=1010.5), {"item-11"}),
    (In("modality", ("video", "document")), {"it's-6", "item-7"}),
    (parse_where("pages NOT IN (1, 2)"), {"item-7"}),
    (Eq("path", ""), {"item-10", "item-11"}),
]


@pytest.mark.parametrize("f,expected", HAND_CHECKED, ids=[str(i) for i in range(len(HAND_CHECKED))])
def test_each_condition(store, f, expected):
    assert _expected(f) == expected  # the reference meaning
    assert set(_ids(store, f)) == expected
    assert store.count(f) == len(expected)


def _random_filter(rng: random.Random, depth: int = 0) -> Filter:
    if depth < 2 and rng.random() < 0.45:
        kind = rng.choice([And, Or, Not])
        if kind is Not:
            return Not(_random_filter(rng, depth + 1))
        return kind(tuple(_random_filter(rng, depth + 1) for _ in range(rng.randint(2, 3))))
    return rng.choice([
        lambda: Eq("modality", rng.choice(["image", "audio", "text"])),
        lambda: In("size", tuple(rng.sample(range(0, 1200, 100), 3))),
        lambda: Range("size", **{rng.choice(["gt", "ge", "lt", "le"]): rng.randint(0, 1200)}),
        lambda: Range("duration", gt=rng.uniform(0, 7)),
        lambda: Range("mtime", ge=1000 + rng.random() * 12, le=1006.0),
        lambda: IsNull(rng.choice(["duration", "pages", "text"])),
        lambda: Prefix("path", rng.choice(["/m/", "/m/b", "/m/photos", "/m/100%", ""])),
        lambda: Like("path", rng.choice(["%.jpg", "%o%", "/m/_x%", "%/%/%"])),
        lambda: TextMatch(rng.choice(["song", "PAGE", "a", "car red"])),
        lambda: Eq("pages", 3),
        lambda: In(rng.choice(["pages", "duration"]), (3, 4)),
    ])()


def test_random_filters_agree_with_the_reference(store):
    """Kleene logic, nulls and every node: the compiled SQL selects what `evaluate` says."""
    rng = random.Random(7)
    for _ in range(120):
        f = _random_filter(rng)
        expected = _expected(f)
        assert set(_ids(store, f)) == expected, f.where()
        assert store.count(f) == len(expected), f.where()
        assert _expected(parse_where(f.where())) == expected  # its --where form means the same


def test_modality_filter_holds_against_a_user_or(store):
    f = Filter.of(modalities=["audio"], where="modality = 'image' OR size >= 0")
    assert set(_ids(store, f)) == {"item-4", "item-5"}
    assert {r["id"] for r in store.text_search("song OR cat OR car", 10, f)} == {"item-4", "item-5"}


def test_exact_top_k_within_the_filter(store):
    rows = _records()
    q = rows[3]["vector"]
    f = In("modality", ("image", "audio"))
    allowed = [r for r in rows if r["modality"] in ("image", "audio")]
    expected = [r["id"] for r in sorted(allowed, key=lambda r: -float(np.dot(r["vector"], q)))[:3]]
    hits = store.vector_search(q, 3, f)
    assert [h["id"] for h in hits] == expected
    assert abs(hits[0]["_score"] - 1.0) < 1e-5


def test_text_search_takes_the_filter(store):
    assert {r["id"] for r in store.text_search("song", 10)} == {"item-4", "item-5"}
    assert {r["id"] for r in store.text_search("song", 10, Range("duration", gt=4.5))} == {"item-5"}


def test_raw_escape_hatch(store):
    f = Raw("length(path) < 18 AND path != ''")  # a function the --where language does not have
    expected = {r["id"] for r in _records() if 0 < len(r["path"]) < 18}
    assert set(_ids(store, f)) == expected and expected
    combined = Filter.of(modalities=["audio"], where=Raw("1=1 OR 1=1"))
    assert set(_ids(store, combined)) == {"item-4", "item-5"}
    with pytest.raises(XModalError, match="this store speaks lancedb filters; a Raw milvus filter"):
        store.vector_search(np.ones(DIM, np.float32), 5, And((Eq("size", 1), Raw('size == 1', dialect="milvus"))))
    with pytest.raises(XModalError, match="Raw milvus"):
        store.count(Raw("size == 1", dialect="milvus"))
    with pytest.raises(XModalError, match="cannot evaluate a Raw filter"):
        _expected(Raw("1=1"))


RAW_ATTACKS = [
    "1=1) OR (1=1",
    "1=1 OR 1=1",
    "path = E'\\'' ) OR (1=1 OR path = E'\\''",
    "path = 'x' ) OR ( path = 'y'",
    "\"path\" = 'x') OR (\"path\" != 'x'",
    "`path` = 'x') OR (1=1",
    "1=1 -- ",
    "1=1; DELETE FROM items",
]


@pytest.mark.parametrize("expr", RAW_ATTACKS)
def test_raw_cannot_widen_the_modality_filter(store, expr):
    try:
        f = Filter.of(modalities=["audio"], where=Raw(expr))
    except XModalError:
        return  # refused before it reaches Lance
    try:
        hits = store.vector_search(np.ones(DIM, np.float32), 100, f)
    except Exception:  # Lance rejects it: also fine, nothing leaked
        return
    assert {h["modality"] for h in hits} <= {"audio"}, expr


def test_empty_store_and_no_match(tmp_path):
    store = LanceStore(tmp_path, dim=DIM)
    assert store.vector_search(np.ones(DIM, np.float32), 5, Eq("size", 1)) == []
    store.upsert(_records()[:2])
    assert store.vector_search(np.ones(DIM, np.float32), 5, Eq("size", 12345)) == []
