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
from typing import ParamSpec, TypeVar, cast

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
    they are given (the contract models here: checked in the tests, see the module)."""
    if not isinstance(model, type) or not issubclass(model, BaseModel):
        raise TypeError(f"{model!r} is not a model")
    cls = cast("type[_M]", model)
    fields_of = cls.model_fields
    known = frozenset(fields_of)
    required = frozenset(name for name, field in fields_of.items() if field.is_required())
    # Every field in field order, each its default (a placeholder where there is none or
    # a factory makes it): `{**template, **given}` keeps the template's order.
    template = {name: field.default for name, field in fields_of.items()}
    factories = tuple(
        (name, field.default_factory)
        for name, field in fields_of.items()
        if field.default_factory is not None
    )

    def build(*args: _P.args, **fields: _P.kwargs) -> _M:
        if args:
            raise TypeError(f"{cls.__name__} takes keyword arguments only")
        if not known.issuperset(fields):
            raise TypeError(f"{cls.__name__} has no field {sorted(set(fields) - known)}")
        if not required.issubset(fields):
            raise TypeError(f"{cls.__name__} needs {sorted(required - set(fields))}")
        values = {**template, **fields}
        for name, factory in factories:
            if name not in fields:
                values[name] = factory()  # type: ignore[call-arg]
        return built(cls, values, set(fields))

    return build


ContactSpec = constructed(postings.ContactSpec)
InvoiceLineSpec = constructed(postings.InvoiceLineSpec)
VoucherLineSpec = constructed(postings.VoucherLineSpec)
EnsureContact = constructed(postings.EnsureContact)
CreateInvoice = constructed(postings.CreateInvoice)
RegisterPayment = constructed(postings.RegisterPayment)
CreateCreditNote = constructed(postings.CreateCreditNote)
CreateVoucher = constructed(postings.CreateVoucher)
