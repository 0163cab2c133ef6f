"""The base of every contract model: unknown fields refused, and no text that cannot be
stored or sent on.

PostgreSQL refuses a NUL character in text, and a lone surrogate (`\\ud800`, valid in JSON
escapes) has no UTF-8 form, so neither could reach Dinero or the ledger. A contract refuses
both wherever they occur — any field, any depth, keys of free-form objects too — so the
door answers 422 instead of a consumer dead-lettering what was already accepted.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, TypeVar

from pydantic import (
    BaseModel,
    ConfigDict,
    TypeAdapter,
    ValidationError,
    ValidatorFunctionWrapHandler,
    model_validator,
)
from pydantic_core import SchemaValidator, core_schema


def unstorable_text(value: Any) -> str | None:
    """Where `value` (JSON-like: dicts, lists, strings) holds text that cannot be stored,
    and why; None when all of it can. Iterative: no recursion limit for deep input."""
    if _all_storable(value):
        return None  # the common case, without building a path for every element
    stack: list[tuple[str, Any]] = [("", value)]
    while stack:
        where, item = stack.pop()
        if isinstance(item, str):
            problem = _text_problem(item)
            if problem is not None:
                return f"{where or 'the value'} {problem}"
        elif isinstance(item, dict):
            for key, child in item.items():
                name = f"{where}.{key}" if where else str(key)
                if isinstance(key, str) and (problem := _text_problem(key)) is not None:
                    return f"a key in {where or 'the object'} {problem}"
                stack.append((name, child))
        elif isinstance(item, list | tuple):
            stack.extend((f"{where}[{i}]", child) for i, child in enumerate(item))
    return None


def _all_storable(value: Any) -> bool:
    """`unstorable_text(value) is None`, fast: every event is checked at the door and again
    by each consumer that parses it, so this walk is on the hot path of a replay."""
    stack = [value]
    pop, push, extend = stack.pop, stack.append, stack.extend
    while stack:
        item = pop()
        if type(item) is str:
            if "\x00" in item or (not item.isascii() and not _encodes(item)):
                return False
        elif isinstance(item, dict):
            for key, child in item.items():
                if isinstance(key, str) and (
                    "\x00" in key or (not key.isascii() and not _encodes(key))
                ):
                    return False
                push(child)
        elif isinstance(item, list | tuple):
            extend(item)
        elif isinstance(item, str) and _text_problem(item) is not None:  # a str subclass
            return False
    return True


def _encodes(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _text_problem(text: str) -> str | None:
    if "\x00" in text:
        return "holds a NUL character (U+0000), which cannot be stored"
    if not _encodes(text):
        return "holds a lone surrogate (U+D800–U+DFFF), which is not text"
    return None


# Set while a model's input is being validated: the models nested in it were checked with
# it, so they do not walk their part again (a walk per nesting level made it quadratic).
_CHECKED: ContextVar[bool] = ContextVar("bogfoer_text_checked", default=False)


# How unstorable text can enter JSON text at all: a NUL or a surrogate written as a `\\u`
# escape (JSON allows no raw control character in a string), a raw NUL byte (json.loads
# would read such bytes as UTF-16 or UTF-32), or a surrogate's three bytes, which json.loads
# decodes from bytes (it decodes with `surrogatepass`). An escaped backslash before `u0000`
# (the text `\\u0000`) matches too: a false alarm only costs the walk. Three searches, each
# with a literal first byte the regex engine skips to at C speed: one pattern of all three
# tried every position in Python's regex engine, as long as `json.loads` took.
_ESCAPED_UNSTORABLE = re.compile(rb"\\u(?:0000|[dD][89a-fA-F][0-9a-fA-F]{2})")
_SURROGATE_UTF8 = re.compile(rb"\xed[\xa0-\xbf]")


def storable_json(raw: bytes | str) -> bool:
    """Whether every string that JSON text `raw` parses to (by pydantic or `json.loads`)
    is storable, judged from the text alone: one C-speed scan instead of a walk over what
    it parses to. False means "cannot tell" (the walk decides), never "unstorable"."""
    if isinstance(raw, str):
        try:
            raw = raw.encode("utf-8")
        except UnicodeEncodeError:
            return False  # a lone surrogate in the text itself
    return (
        b"\x00" not in raw
        # Most texts hold no `\u` escape at all: one C search for it (the regex's prefix
        # scan was ~3 % of the ledger's instructions a command, callgrind).
        and (b"\\u" not in raw or _ESCAPED_UNSTORABLE.search(raw) is None)
        # ASCII text holds no surrogate's bytes: one C call (most records are ASCII) instead
        # of the search, which cost twice the other two together.
        and (raw.isascii() or _SURROGATE_UTF8.search(raw) is None)
    )


@contextmanager
def checked_json(raw: bytes | str) -> Iterator[None]:
    """Validate contract models from JSON text `raw` inside this block: they skip their walk
    for unstorable text when `storable_json(raw)` already proved there is none. Only what is
    parsed from `raw` may be validated inside it."""
    if not storable_json(raw):
        yield
        return
    token = _CHECKED.set(True)
    try:
        yield
    finally:
        _CHECKED.reset(token)


def text_checked() -> bool:
    """Whether this is inside a `checked_json` block whose text proved storable."""
    return _CHECKED.get()


def _is_text_walk(schema: dict[str, Any]) -> bool:
    """A model's `_refuse_unstorable_text` in a core schema (a bound classmethod there)."""
    if schema.get("type") != "function-wrap" or not isinstance(schema.get("function"), dict):
        return False
    function = schema["function"].get("function")
    return getattr(function, "__func__", None) is _REFUSE_UNSTORABLE_TEXT


Rewrite = Callable[[dict[str, Any]], Any]  # a part of a core schema -> its stand-in or None


def _without_text_walks(schema: Any, rewrites: tuple[Rewrite, ...]) -> Any:
    if isinstance(schema, list):
        return [_without_text_walks(item, rewrites) for item in schema]
    if not isinstance(schema, dict):
        return schema
    if _is_text_walk(schema):
        inner = dict(_without_text_walks(schema["schema"], rewrites))
        if "ref" in schema:  # other parts of the schema refer to the model by it
            inner["ref"] = schema["ref"]
        return inner
    for rewrite in rewrites:
        if (stand_in := rewrite(schema)) is not None:
            return stand_in
    return {key: _without_text_walks(value, rewrites) for key, value in schema.items()}


def checked_text_validator(
    adapter: TypeAdapter[Any], *rewrites: Rewrite, many: bool = False
) -> SchemaValidator:
    """`adapter`'s validator without the models' walks for unstorable text, for input
    parsed from JSON text that `storable_json` proved storable (where `checked_json` would
    make each model's walk return at once). The walks cost more than the rest of
    validating an event: pydantic calls back into Python for every nested model.
    Everything else is the adapter's own schema — the same models, the same checks — but
    for what `rewrites` replace with an equivalent (`times.timestamp_text_schema`).
    `many`: a validator of a list of such values, in one call."""
    schema = checked_text_schema(adapter, *rewrites)
    return SchemaValidator(core_schema.list_schema(schema) if many else schema)


def checked_text_schema(adapter: TypeAdapter[Any], *rewrites: Rewrite) -> Any:
    """The core schema of `checked_text_validator(adapter, *rewrites)`: for a validator of
    a larger shape holding such values (a request's envelope around them)."""
    return _without_text_walks(adapter.core_schema, rewrites)


def as_dicts(schema: Any) -> Any:
    """Core schema `schema` with each model a typed dict of its fields: the same fields,
    checks, defaults and refusal of unknown fields, validating to plain dicts and
    serializing them to the very JSON the models' serializers write of the same values
    (fields in field order). A model tree costs more to build, free and serialize than
    the rest of validating it. For models that are only their fields (no validators of
    their own but the text walks `checked_text_schema` removes, no computed fields, no
    aliases, no JSON settings of their own): anything else raises here, at import, rather
    than validate or write otherwise."""
    if isinstance(schema, list):
        return [as_dicts(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    if schema.get("type") != "model":
        wrapped = schema.get("schema")
        validator = str(schema.get("type")).startswith("function")
        if validator and isinstance(wrapped, dict) and wrapped.get("type") == "model":
            # A model validator: it wants the model.
            raise TypeError(f"{wrapped['cls'].__name__} is more than its fields")
        return {key: as_dicts(value) for key, value in schema.items()}
    inner = schema["schema"]
    plain = not (
        schema.get("custom_init")
        or schema.get("root_model")
        or "post_init" in schema
        or "serialization" in schema  # a model serializer
    )
    if not plain or inner.get("type") != "model-fields" or inner.get("computed_fields"):
        raise TypeError(f"{schema['cls'].__name__} is more than its fields")
    config = schema.get("config", {})
    if any(key.startswith("ser_json_") or key == "polymorphic_serialization" for key in config):
        # A typed dict's serializer does not carry these to a nested one's fields.
        raise TypeError(f"{schema['cls'].__name__} writes its JSON by its own JSON settings")
    fields: dict[str, Any] = {}
    for name, field in inner["fields"].items():
        if set(field) - {"type", "schema", "metadata", "frozen"}:
            raise TypeError(f"{schema['cls'].__name__}.{name} is more than a field")
        fields[name] = core_schema.typed_dict_field(
            as_dicts(field["schema"]), required=field["schema"].get("type") != "default"
        )
    typed = core_schema.typed_dict_schema(
        fields,
        extra_behavior=config.get("extra_fields_behavior", "ignore"),
        config=core_schema.CoreConfig(**config),  # type: ignore[typeddict-item]
    )
    if "ref" in schema:  # other parts of the schema refer to the model by it
        typed["ref"] = schema["ref"]
    return typed


def checked_first(
    checked: SchemaValidator, full: TypeAdapter[Any], raw: Any, text: bool = False
) -> Any:
    """`raw` (JSON `text`, or parsed) by `checked` (a `checked_text_validator` of `full`);
    what it refuses, by `full`, for the very errors `full` always answered."""
    try:
        return checked.validate_json(raw) if text else checked.validate_python(raw)
    except ValidationError:
        return full.validate_json(raw) if text else full.validate_python(raw)


class StorableText(BaseModel):
    """Refuses NUL characters and lone surrogates anywhere in the input (see the module)."""

    @model_validator(mode="wrap")
    @classmethod
    def _refuse_unstorable_text(cls, data: Any, handler: ValidatorFunctionWrapHandler) -> Any:
        if _CHECKED.get():
            return handler(data)
        problem = unstorable_text(data)
        if problem is not None:
            raise ValueError(problem)
        token = _CHECKED.set(True)
        try:
            return handler(data)
        finally:
            _CHECKED.reset(token)


class ContractModel(StorableText):
    # Unknown fields are refused: a misspelt amount must fail loudly, never become zero.
    model_config = ConfigDict(extra="forbid", frozen=True)


_REFUSE_UNSTORABLE_TEXT = StorableText.__dict__["_refuse_unstorable_text"].__func__


_M = TypeVar("_M", bound=BaseModel)
# A model's `__dict__` and the slots beside it, set directly by their descriptors
# (`object.__setattr__` looks each up by name: half the cost of `built`).
_NEW = object.__new__
_SET_DICT = BaseModel.__dict__["__dict__"].__set__
_SET_FIELDS_SET = BaseModel.__dict__["__pydantic_fields_set__"].__set__
_SET_EXTRA = BaseModel.__dict__["__pydantic_extra__"].__set__
_SET_PRIVATE = BaseModel.__dict__["__pydantic_private__"].__set__


def built(model: type[_M], values: dict[str, Any], fields_set: set[str]) -> _M:
    """An instance of `model` with these field values (every field, in field order; the
    dictionary becomes the instance's own) and these fields counted as set, as pydantic
    holds them — without validating or copying anything: `model_construct` without its
    per-field look-ups for aliases and defaults. For values the caller built and checked
    already, of a model without extra fields or private attributes."""
    instance = _NEW(model)
    _SET_DICT(instance, values)
    _SET_FIELDS_SET(instance, fields_set)
    _SET_EXTRA(instance, None)
    _SET_PRIVATE(instance, None)
    return instance


# `model_json`'s texts: by the instance's `id()`, the instance kept beside it (an id is only
# an object's while it lives, and a kept one lives), replaced as one tuple (a thread never
# pairs one instance with another's text). Two generations of up to `_JSON_KEPT` each: past
# the bound the older is forgotten and the newer becomes it, and a text found there is
# kept again — so a text is remembered for at least `_JSON_KEPT` further ones, where
# forgetting all at once dropped what was written a moment before: an invoice's text is
# written when it is published and again in its state's dump at the end of the tenant's
# poll, and at the bench's polls of up to 10,000 records a third of the invoices (1,131 of
# 3,687) were serialized a second time.
_JSON: dict[int, tuple[BaseModel, bytes]] = {}
_JSON_BEFORE: dict[int, tuple[BaseModel, bytes]] = {}
_JSON_KEPT = 4096


def model_json(instance: BaseModel) -> bytes:
    """`type(instance).__pydantic_serializer__.to_json(instance)` — the instance's JSON by its
    own class's serializer, as a field of that class writes it — remembered for the instance.

    For an instance that is never changed (a frozen contract model whose containers nobody
    changes in place: what the rules build), written again and again: an order's invoice
    is published once and then written in its state's dump for every later event of the
    order, and its lines with it (nine tenths of a state's dump, `OrderState`)."""
    global _JSON, _JSON_BEFORE
    key = id(instance)
    found = _JSON.get(key)
    if found is not None and found[0] is instance:
        return found[1]
    found = _JSON_BEFORE.get(key)
    if found is not None and found[0] is instance:
        text = found[1]
    else:
        text = instance.__pydantic_serializer__.to_json(instance)
    if len(_JSON) >= _JSON_KEPT:
        _JSON_BEFORE, _JSON = _JSON, {}
    _JSON[key] = (instance, text)
    return text
