"""The models the rules build, validated without the walk for unstorable text.

A command, document line or contact the rules build is validated like any contract model —
bounds, patterns, a document's required lines: a rule that builds something invalid still
raises, and the mapper dead-letters the event as before. Only the walk over the input for
text that cannot be stored (`bogfoer_contracts.model.StorableText`) is left out: every string
the rules put in a model is a literal, a posting key (`posting_key` writes ASCII), or text of
a validated event, tenant config or stored state, each proven storable when it was
validated, and storable strings joined are storable. The walk — a call back into Python for
every nested model and a scan of every string — was most of the cost of building a command:
an invoice of four lines took ~43 µs with it and ~8 µs without (`checked_text_validator`).

Each name here builds the model of the same name: `checked.CreateInvoice(posting_key=...)`
takes the model's own keyword arguments (mypy checks them) and returns that model.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import ParamSpec, TypeVar, cast

from pydantic import BaseModel, TypeAdapter

from bogfoer_contracts import postings
from bogfoer_contracts.model import StorableText, checked_text_validator

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


ContactSpec = without_text_walk(postings.ContactSpec)
InvoiceLineSpec = without_text_walk(postings.InvoiceLineSpec)
VoucherLineSpec = without_text_walk(postings.VoucherLineSpec)
EnsureContact = without_text_walk(postings.EnsureContact)
CreateInvoice = without_text_walk(postings.CreateInvoice)
RegisterPayment = without_text_walk(postings.RegisterPayment)
CreateCreditNote = without_text_walk(postings.CreateCreditNote)
CreateVoucher = without_text_walk(postings.CreateVoucher)
