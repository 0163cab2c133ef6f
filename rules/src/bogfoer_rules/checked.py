"""The models the rules build, built without validating them again.

A command, document line or contact the rules build is made of parts validated already:
the event (validated where it entered, `parse_event`), the tenant's settings (validated
when they arrived), the stored state (validated when loaded), literals, posting keys
(`posting_key` keeps them to 128 ASCII characters) and sums the rules checked
(`totals`). Validating the model again only checked the rules' own code, and it was the
largest part of a decision in the mapper (a command and its lines ~5-8 µs of pydantic each,
several commands an event). So each name here builds its model directly: the fields given,
every other one its default (a default factory called, as validation would), the given
ones counted as set — the instance validation gives for the same arguments
(`model_construct` without its per-field alias look-ups).

That a rule still builds only valid models is the tests' job: every command of the golden
streams is held to `POSTING_COMMAND.validate_python(command.model_dump())`, equal and byte
for byte the same JSON (`rules/tests/test_rules_constructed.py`), and the golden test pins
every command's bytes. mypy checks the keyword arguments: each name takes the model's own.

`without_text_walk` validates (by the schema without the walks for unstorable text): kept
for what tests compare a directly built model with.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ParamSpec, TypeVar, cast

from pydantic import BaseModel, TypeAdapter

from bogfoer_contracts import postings
from bogfoer_contracts.model import StorableText, built, checked_text_validator

_P = ParamSpec("_P")
_M = TypeVar("_M", bound=BaseModel)


def without_text_walk(model: Callable[_P, _M]) -> Callable[_P, _M]:
    """`model(**fields)`, validated by the model's schema without its text walks.

    Contract models only (`StorableText`): pydantic-core validates a plain `BaseModel`
    nested anywhere in a schema by that class's own prebuilt validator, walks and all, so
    for one of those (a `Decision`, an `InvoicedLine`) this would change nothing.
    """
    if not (isinstance(model, type) and issubclass(model, StorableText)):
        raise TypeError(f"{model!r} is not a contract model: its own validator would be used")
    # A model class, typed as the callable it is so that its keyword arguments carry over.
    validator = checked_text_validator(TypeAdapter(cast("type[_M]", model)))

    def build(*args: _P.args, **fields: _P.kwargs) -> _M:
        if args:
            raise TypeError(f"{getattr(model, '__name__', model)} takes keyword arguments only")
        built: _M = validator.validate_python(fields)
        return built

    return build


def constructed(model: Callable[_P, _M]) -> Callable[_P, _M]:
    """`model(**fields)` as validation builds it from valid fields, without validating.

    For a model without extra fields, private attributes or validators that change what
    they are given (the contract models here: checked in the tests, see the module).

    The builder is written out for the model's own fields (as `dataclasses` writes an
    `__init__`): each a keyword argument, the values' dictionary a literal in field order,
    a default factory called only where its field is not given — the generic way (a
    template merged with the arguments, set checks, a loop over the factories) cost twice
    the instance it built, several times a decision."""
    if not isinstance(model, type) or not issubclass(model, BaseModel):
        raise TypeError(f"{model!r} is not a model")
    cls = cast("type[_M]", model)
    fields_of = cls.model_fields
    namespace: dict[str, Any] = {
        "_MISSING": _MISSING,
        "_built": built,
        "_cls": cls,
        "_set": set,
        "_sorted": sorted,
        "_TypeError": TypeError,
    }
    required = [name for name, field in fields_of.items() if field.is_required()]
    # The code's own names all start with "_" (its locals and the builtins it calls, bound
    # in the namespace): pydantic refuses such field names, so a field cannot shadow one.
    lines = [
        f"def build(*_args, {', '.join(f'{name}=_MISSING' for name in fields_of)}, **_unknown):",
        "    if _args:",
        f"        raise _TypeError({cls.__name__ + ' takes keyword arguments only'!r})",
        "    if _unknown:",
        f"        raise _TypeError(f'{cls.__name__} has no field {{_sorted(_unknown)}}')",
    ]
    if required:
        lines += [
            f"    if {' or '.join(f'{name} is _MISSING' for name in required)}:",
            f"        _missing({cls.__name__!r}, {{{', '.join(f'{n!r}: {n}' for n in required)}}})",
            f"    _fields_set = {{{', '.join(repr(name) for name in required)}}}",
        ]
    else:
        lines.append("    _fields_set = _set()")
    for name, field in fields_of.items():
        if field.is_required():
            continue
        if field.default_factory is not None:
            namespace[f"_factory_{name}"] = field.default_factory
            default = f"_factory_{name}()"
        else:
            if isinstance(field.default, list | dict | set):
                # Validation copies such a default for each instance; the builder would
                # share one between them all.
                raise TypeError(f"{cls.__name__}.{name}: a mutable default; use a factory")
            namespace[f"_default_{name}"] = field.default
            default = f"_default_{name}"
        lines += [
            f"    if {name} is _MISSING:",
            f"        {name} = {default}",
            "    else:",
            f"        _fields_set.add({name!r})",
        ]
    values = ", ".join(f"{name!r}: {name}" for name in fields_of)
    lines.append(f"    return _built(_cls, {{{values}}}, _fields_set)")
    namespace["_missing"] = _missing
    exec("\n".join(lines), namespace)  # noqa: S102 - code of the model's own field names
    build: Callable[_P, _M] = namespace["build"]
    build.__qualname__ = f"constructed.{cls.__name__}"
    return build


class _Missing:
    """A keyword argument not given (None is a value)."""

    def __repr__(self) -> str:
        return "<missing>"


_MISSING: Any = _Missing()


def _missing(name: str, given: dict[str, object]) -> None:
    absent = sorted(field for field, value in given.items() if value is _MISSING)
    raise TypeError(f"{name} needs {absent}")


def replaced(instance: _M, **update: object) -> _M:
    """`instance.model_copy(update=update)`, built directly: the instance's fields with
    these in their place (values as valid as the fields they replace: see the module),
    counted as set beside the instance's own. `model_copy` copies the instance first, then
    its dictionary again, its extra and private parts: several times this, for each line a
    credit note takes from its invoice. For models without extra fields or private
    attributes, of fields `update` names (the keyword arguments are not checked here)."""
    return built(
        type(instance),
        {**instance.__dict__, **update},
        instance.__pydantic_fields_set__ | update.keys(),
    )


ContactSpec = constructed(postings.ContactSpec)
InvoiceLineSpec = constructed(postings.InvoiceLineSpec)
VoucherLineSpec = constructed(postings.VoucherLineSpec)
EnsureContact = constructed(postings.EnsureContact)
CreateInvoice = constructed(postings.CreateInvoice)
RegisterPayment = constructed(postings.RegisterPayment)
CreateCreditNote = constructed(postings.CreateCreditNote)
CreateVoucher = constructed(postings.CreateVoucher)
