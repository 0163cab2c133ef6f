"""How a command or a result changes a posting, without I/O.

`store.py` loads the postings a batch of records names, folds the records into them here in
order, and writes what changed in a few statements (`apply_commands`, `apply_results`):
the same outcome as applying one record after another, each in its own transaction.

- A command records a new posting as `pending`. For a known posting (its result overtook it
  on the other topic) it adds the details; a re-mapped command (higher revision) replaces
  the stored one; a command for a held posting means the hold was resolved: `pending`. An
  older revision arriving late changes nothing.
- A result moves the posting to its status. `done` is final, and a result older than the
  one applied is stale (results of two poster replicas may arrive out of order): both only
  join the history. A `done` result for a done posting (a re-mapped posting checked again
  in Dinero) keeps it done with the document Dinero holds now.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any, NamedTuple

from bogfoer_contracts.postings import (
    CreateCreditNote,
    CreateInvoice,
    CreateVoucher,
    EnsureContact,
    PostingCommand,
    PostingResult,
    RegisterPayment,
    amount_of,
    canonical_command,
    command_json,
    parse_command,
)

# The kinds of command that name their currency (a voucher moves DKK, a contact no money).
_PRICED = frozenset(
    model.model_fields["kind"].default
    for model in (EnsureContact, CreateInvoice, RegisterPayment, CreateCreditNote, CreateVoucher)
    if "currency" in model.model_fields
)

# A state change applied: (from, to); from is None for a posting seen for the first time.
Change = tuple[str | None, str]


# RecordRef, Transition and Applied are made for every command (twice for a RecordRef):
# as named tuples, not frozen dataclasses, whose __init__ sets each field through
# object.__setattr__ (0.6-1.3 µs each against 0.3).


class RecordRef(NamedTuple):
    topic: str
    partition: int
    offset: int


@dataclass
class Posting:
    """The columns of a `postings` row that commands and results change."""

    posting_key: str
    tenant_id: str
    kind: str
    state: str
    new: bool = False  # not stored yet
    revision: int = 0
    amount_minor: int | None = None
    currency: str | None = None
    depends_on: list[str] | None = None
    command: str | None = None  # JSON
    trace_id: str | None = None
    created_at: dt.datetime | None = None
    updated_at: dt.datetime | None = None
    dinero_guid: str | None = None
    dinero_number: int | None = None
    attempts: int = 0
    last_error: str | None = None  # JSON
    detail: str | None = None
    last_result_at: dt.datetime | None = None


class Transition(NamedTuple):
    posting_key: str
    from_state: str | None
    to_state: str
    ref: RecordRef
    at: dt.datetime
    detail: str | None = None
    error: str | None = None  # JSON


class Applied(NamedTuple):
    """What one record did: whether it changed the stored posting, the history line it
    adds, the state change it made (for the metrics), and whether operators' actions on
    the posting follow it."""

    changed: bool = False
    transition: Transition | None = None
    change: Change | None = None
    follows_actions: bool = False


class Command(NamedTuple):
    """What the ledger keeps of a posting command: the fields its posting and history take,
    the money it moves (`amount_of`, and its currency: DKK for a voucher) and its JSON for
    the `command` column. Made from a record's text without a model where the text is the
    command as its dump writes it (`parse`): the models' tree was built, dumped and freed
    for these few fields."""

    posting_key: str
    tenant_id: str
    kind: str
    revision: int
    issued_at: dt.datetime
    depends_on: list[str]
    amount: int | None
    currency: str | None
    document: str  # JSON: the command's dump, or text that is the same JSON value


def command_of(command: PostingCommand) -> Command:
    """A model's `Command`, its document the model's dump."""
    amount = amount_of(command)
    # Asked by the command's kind, not by getattr with a default: a pydantic model answers
    # a missing attribute by raising from its __getattr__ (8 % of the ledger's time a
    # command, for a voucher or a contact).
    named = getattr(command, "currency") if command.kind in _PRICED else None  # noqa: B009
    return Command(
        command.posting_key,
        command.tenant_id,
        command.kind,
        command.revision,
        command.issued_at,
        list(command.depends_on),
        amount,
        _currency(command.kind, named, amount),
        command_json(command).decode(),
    )


def _currency(kind: str, named: str | None, amount: int | None) -> str | None:
    """The currency of a command's money: the one it names (`_PRICED` kinds), DKK for one
    that moves money without naming it (a voucher), none for one that moves none."""
    if kind in _PRICED:
        return named
    return "DKK" if amount is not None else None


def _amount(document: dict[str, Any]) -> int | None:
    """`amount_of` of a command's plain fields (`canonical_command`)."""
    kind = document["kind"]
    if kind == "invoice" or kind == "credit_note":
        amount: int = document["expected_total"]
        return amount
    if kind == "payment":
        amount = document["amount"]
        return amount
    if kind == "voucher":
        total: int = sum(line["amount"] for line in document["lines"])
        return total
    return None


def parse(raw: bytes) -> Command:
    """The `Command` of a record's value: `command_of(parse_command(raw))`, the same fields
    and a document of the same JSON value, without the model where `raw` is the command as
    its dump writes it (`canonical_command`): then `raw` itself is the document. Refuses
    exactly what `parse_command` refuses, with its error."""
    document = canonical_command(raw)
    if document is None:
        return command_of(parse_command(raw))
    kind = document["kind"]
    amount = _amount(document)
    return Command(
        document["posting_key"],
        document["tenant_id"],
        kind,
        document["revision"],
        document["issued_at"],
        document["depends_on"],
        amount,
        _currency(kind, document.get("currency"), amount),
        raw.decode(),
    )


def apply_command(
    posting: Posting | None, command: Command, ref: RecordRef, trace_id: str | None
) -> tuple[Posting, Applied]:
    amount = command.amount
    currency = command.currency
    payload = command.document
    if posting is None:
        created = Posting(
            posting_key=command.posting_key,
            tenant_id=command.tenant_id,
            kind=command.kind,
            state="pending",
            new=True,
            revision=command.revision,
            amount_minor=amount,
            currency=currency,
            depends_on=list(command.depends_on),
            command=payload,
            trace_id=trace_id,
            created_at=command.issued_at,
            updated_at=command.issued_at,
        )
        line = Transition(command.posting_key, None, "pending", ref, command.issued_at)
        return created, Applied(True, line, (None, "pending"))
    stored_revision = posting.revision
    if stored_revision > command.revision:
        return posting, Applied()  # an older revision arriving late
    old = posting.state
    posting.state = "pending" if old == "held" else old
    posting.revision = command.revision
    posting.amount_minor = amount
    posting.currency = currency
    posting.depends_on = list(command.depends_on)
    posting.command = payload
    posting.trace_id = trace_id if trace_id is not None else posting.trace_id
    if posting.state == old and command.revision <= stored_revision:
        return posting, Applied(changed=True)
    note = f"re-mapped (revision {command.revision})" if command.revision else None
    line = Transition(command.posting_key, old, posting.state, ref, command.issued_at, note)
    return posting, Applied(True, line, (old, posting.state))


def apply_result(
    posting: Posting | None, result: PostingResult, ref: RecordRef
) -> tuple[Posting, Applied]:
    error = result.error.model_dump_json() if result.error else None
    if posting is None:
        created = Posting(
            posting_key=result.posting_key,
            tenant_id=result.tenant_id,
            kind=result.kind,
            state=result.status,
            new=True,
            amount_minor=result.amount,
            dinero_guid=result.dinero_guid,
            dinero_number=result.dinero_number,
            attempts=result.attempts,
            last_error=error,
            detail=result.detail,
            created_at=result.at,
            updated_at=result.at,
            last_result_at=result.at,
        )
        line = Transition(
            result.posting_key, None, result.status, ref, result.at, result.detail, error
        )
        return created, Applied(True, line, (None, result.status), follows_actions=True)
    old = posting.state
    stale = (posting.last_result_at or result.at) > result.at
    if old == "done" and result.status == "done" and not stale:
        # A re-mapped posting checked again in Dinero (e.g. a deleted draft created anew):
        # still done, with the document Dinero holds now.
        _document(posting, result)
        posting.attempts = result.attempts
        posting.last_result_at = result.at
        line = Transition(result.posting_key, old, old, ref, result.at, result.detail)
        return posting, Applied(True, line, None, follows_actions=True)
    if old == "done" or stale:
        # Done is final, and a result older than the one applied is stale: kept as history,
        # state unchanged.
        note = f"stale {result.status} result ignored"
        line = Transition(result.posting_key, old, old, ref, result.at, note, error)
        return posting, Applied(False, line)
    posting.state = result.status
    _document(posting, result)
    posting.attempts = result.attempts
    posting.last_error = error
    posting.detail = result.detail
    posting.updated_at = result.at
    posting.last_result_at = result.at
    if posting.amount_minor is None:
        posting.amount_minor = result.amount
    line = Transition(result.posting_key, old, result.status, ref, result.at, result.detail, error)
    return posting, Applied(True, line, (old, result.status), follows_actions=True)


def _document(posting: Posting, result: PostingResult) -> None:
    """The Dinero document a result names, where it names one."""
    if result.dinero_guid is not None:
        posting.dinero_guid = result.dinero_guid
    if result.dinero_number is not None:
        posting.dinero_number = result.dinero_number
