"""Every difference between the rules, the ledger and Dinero, classified. Pure.

Inputs: the postings the rules derive (`Expected`), the ledger's postings (`LedgerPosting`)
and our documents in Dinero (`Books`), for one tenant and a date range. Each finding names
its class, the posting, what was expected and found, and who repairs it:

- `remap`: `--repair` publishes `remap_posting`; the mapper derives the posting again with
  the current settings and the poster carries it out with a look-up first (it recreates a
  deleted draft, rewrites an edited or outdated draft, never makes a second document);
- `retry`: `--repair` publishes `retry_posting`; the poster tries it again now;
- `person`: only a person can fix it (a booked document cannot be changed, a duplicate made
  by hand must be deleted by hand, a sale the rules hold needs a decision);
- `none`: a summary (the trial balance) that the findings behind it explain.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Literal

from bogfoer_cli.reconcile.books import Books, Document
from bogfoer_cli.reconcile.expectation import Expected
from bogfoer_cli.reconcile.ledger import LedgerPosting
from bogfoer_contracts.postings import (
    CreateCreditNote,
    CreateInvoice,
    CreateVoucher,
    EnsureContact,
    PostingCommand,
    RegisterPayment,
    document_date,
)
from bogfoer_rules.totals import format_minor, vat_of

FindingClass = Literal[
    "missing",
    "duplicate",
    "amount",
    "vat",
    "account",
    "contact",
    "booking",
    "orphan",
    "stuck",
    "failed",
    "held",
    "settings_fixed",
    "unexplained",
    "deposit_not_zero",
    "trial_balance",
]
Repair = Literal["remap", "retry", "person", "none"]

# What each class means, in the report and in docs/operations.md.
MEANING: dict[FindingClass, str] = {
    "missing": "the rules and the ledger expect a document that Dinero does not hold",
    "duplicate": "two or more documents in Dinero carry one posting key as ExternalReference",
    "amount": "Dinero's total differs from the expected total",
    "vat": "Dinero's VAT differs from the expected VAT",
    "account": "a line sits on another account than the rules choose",
    "contact": "the document names another contact than the posting's contact",
    "booking": "a draft where the tenant books, or booked where the tenant keeps drafts",
    "orphan": "our reference in Dinero, unknown to the ledger",
    "stuck": "not final after the threshold, with the ledger's reason and its age",
    "failed": "Dinero (or our totals check) refused it; the cause is not in the settings",
    "held": "the rules hold it back; a person must decide",
    "settings_fixed": "failed or held, and the current settings now derive it differently",
    "unexplained": "the ledger has it, but the replay does not derive it",
    "deposit_not_zero": "a deposit account is not back to zero after a payout",
    "trial_balance": "an account's movement in the range differs from the expected movement",
}
NOT_FINAL = frozenset({"pending", "waiting", "parked"})
DOCUMENT_KINDS = frozenset({"invoice", "credit_note", "voucher"})
SALES_VAT_ACCOUNT = 64000  # Dinero's standard chart: salgsmoms (output VAT)


@dataclass(frozen=True)
class Finding:
    klass: FindingClass
    message: str
    repair: Repair
    posting_key: str | None = None
    kind: str | None = None
    expected: int | None = None
    actual: int | None = None
    account: int | None = None
    age_hours: float | None = None


@dataclass
class Evidence:
    """Everything known about one tenant for one range."""

    tenant: str
    first: dt.date
    last: dt.date
    expected: dict[str, Expected]
    ledger: dict[str, LedgerPosting]
    books: Books
    now: dt.datetime
    stuck_after: dt.timedelta
    debtor_account: int = 53000
    payouts_checked: int = 0

    def in_range(self, date: dt.date | None) -> bool:
        return date is not None and self.first <= date <= self.last

    def _remapped(self, key: str, entry: Expected) -> bool:
        posting = self.ledger.get(key)
        return posting is not None and posting.revision > 0 and entry.current is not None

    def target(self, key: str) -> PostingCommand | None:
        """The command Dinero should reflect: a re-mapped posting as the current settings
        derive it, any other as the rules derived it when its events arrived."""
        entry = self.expected.get(key)
        if entry is None:
            return None
        return entry.current if self._remapped(key, entry) else entry.command

    def rates(self, key: str) -> dict[int, int]:
        """The VAT rate of each account `target(key)` uses."""
        entry = self.expected[key]
        return entry.current_rates if self._remapped(key, entry) else entry.rates


# --- what a document should look like ------------------------------------------------------


@dataclass(frozen=True)
class Shape:
    total: int | None
    vat: int | None
    lines: tuple[tuple[int, int], ...]  # (account, amount in the document's basis), summed
    booked: bool | None
    contact_key: str | None = None


def _summed(pairs: Iterable[tuple[int, int]]) -> tuple[tuple[int, int], ...]:
    totals: dict[int, int] = defaultdict(int)
    for account, amount in pairs:
        totals[account] += amount
    return tuple(sorted((a, v) for a, v in totals.items() if v))


def shape_of(command: PostingCommand, rates: Mapping[int, int]) -> Shape | None:
    match command:
        case CreateInvoice() | CreateCreditNote():
            vat = sum(
                vat_of(
                    line.quantity * line.unit_price,
                    rates.get(line.account_number, 0),
                    incl_vat=command.show_lines_incl_vat,
                )
                for line in command.lines
            )
            return Shape(
                total=command.expected_total,
                vat=vat,
                lines=_summed(
                    (ln.account_number, ln.quantity * ln.unit_price) for ln in command.lines
                ),
                booked=command.booking != "draft",
                contact_key=command.contact_key,
            )
        case CreateVoucher():
            return Shape(
                total=sum(line.amount for line in command.lines),
                vat=None,
                lines=_summed((ln.account_number, ln.amount) for ln in command.lines),
                booked=True,
            )
        case RegisterPayment():
            return Shape(total=command.amount, vat=None, lines=(), booked=True)
        case EnsureContact():
            return None


def document_shape(document: Document) -> Shape:
    return Shape(
        total=document.total,
        vat=document.vat,
        lines=_summed((line.account, line.amount) for line in document.lines),
        booked=document.booked,
    )


def _kr(amount: int | None) -> str:
    return "-" if amount is None else f"{format_minor(amount)} DKK"


def _compare(
    ev: Evidence, key: str, command: PostingCommand, document: Document, rates: Mapping[int, int]
) -> list[Finding]:
    want = shape_of(command, rates)
    if want is None:
        return []
    have = document_shape(document)
    # A draft can be rewritten from the sale (remap); a booked document only by a person.
    fix: Repair = "person" if document.booked else "remap"
    where = "booked" if document.booked else "draft"
    out: list[Finding] = []
    kind = command.kind
    if want.total != have.total:
        out.append(
            Finding(
                "amount",
                f"Dinero's {where} {kind} totals {_kr(have.total)}, the sale {_kr(want.total)}",
                fix,
                key,
                kind,
                want.total,
                have.total,
            )
        )
    elif want.vat is not None and have.vat is not None and want.vat != have.vat:
        out.append(
            Finding(
                "vat",
                f"Dinero's {where} {kind} has VAT {_kr(have.vat)}, the sale {_kr(want.vat)}",
                fix,
                key,
                kind,
                want.vat,
                have.vat,
            )
        )
    if want.lines != have.lines and want.total == have.total:
        accounts = ", ".join(f"{a}: {_kr(v)}" for a, v in have.lines)
        wanted = ", ".join(f"{a}: {_kr(v)}" for a, v in want.lines)
        out.append(
            Finding(
                "account",
                f"Dinero's {where} {kind} books {accounts}; the rules book {wanted}",
                fix,
                key,
                kind,
            )
        )
    if want.booked != have.booked:
        if want.booked:
            message = f"the {kind} is a draft in Dinero, but the tenant books"
            repair: Repair = "remap"
        else:
            message = f"the {kind} is booked in Dinero, but the tenant keeps drafts"
            repair = "person"
        out.append(Finding("booking", message, repair, key, kind))
    if want.contact_key is not None and document.contact_guid is not None:
        contact = ev.ledger.get(want.contact_key)
        if contact is not None and contact.dinero_guid not in (None, document.contact_guid):
            out.append(
                Finding(
                    "contact",
                    f"the {kind} names contact {document.contact_guid}, the posting "
                    f"{want.contact_key} ({contact.dinero_guid})",
                    fix,
                    key,
                    kind,
                )
            )
    return out


# --- payments: read only where an invoice's payment status disagrees ------------------------


def _expected_by_invoice(ev: Evidence) -> dict[str, list[PostingCommand]]:
    by_invoice: dict[str, list[PostingCommand]] = defaultdict(list)
    for key in ev.expected:
        command = ev.target(key)
        if isinstance(command, RegisterPayment | CreateCreditNote):
            by_invoice[command.invoice_key].append(command)
    return by_invoice


def payments_to_read(ev: Evidence) -> list[str]:
    """Guids of booked invoices whose PaymentStatus contradicts the payments the rules
    expect on them (their payments are then read, one call each)."""
    by_invoice = _expected_by_invoice(ev)
    guids: list[str] = []
    for key, entry in ev.expected.items():
        command = ev.target(key)
        found = ev.books.documents.get(key, [])
        if not isinstance(command, CreateInvoice) or len(found) != 1 or not found[0].booked:
            continue
        if not ev.in_range(entry.date):
            continue
        paid = credited = 0
        for other in by_invoice.get(key, []):
            if isinstance(other, RegisterPayment):
                paid += other.amount
            elif isinstance(other, CreateCreditNote) and other.booking != "draft":
                credited += other.expected_total
        remaining = command.expected_total - paid - credited
        wanted = {"Paid"} if remaining == 0 else {"OverPaid"} if remaining < 0 else None
        status = found[0].payment_status
        if wanted is None:
            wanted = {"Booked", "Overdue"}
        if status not in wanted:
            guids.append(found[0].guid)
    return guids


# --- the classification -------------------------------------------------------------------


def _age_hours(ev: Evidence, posting: LedgerPosting) -> float:
    return round((ev.now - posting.since).total_seconds() / 3600, 1)


def _ledger_state(ev: Evidence, posting: LedgerPosting) -> Finding | None:
    """Stuck, failed and held postings (whatever their date: they are not finished)."""
    key, kind = posting.key, posting.kind
    entry = ev.expected.get(key)
    if posting.state in NOT_FINAL:
        if ev.now - posting.since < ev.stuck_after:
            return None
        reason = posting.reason or posting.state
        if posting.state == "parked":
            return Finding(
                "stuck",
                f"parked: {reason}; reconnect Dinero, then resume the tenant",
                "person",
                key,
                kind,
                age_hours=_age_hours(ev, posting),
            )
        # A pending posting may never have reached the poster: publish it again (remap).
        return Finding(
            "stuck",
            f"{posting.state} for {_age_hours(ev, posting)} h: {reason}",
            "remap" if posting.state == "pending" else "retry",
            key,
            kind,
            age_hours=_age_hours(ev, posting),
        )
    if posting.state not in ("failed", "held"):
        return None
    now_derived = entry.current if entry is not None else None
    stored = posting.command
    changed = now_derived is not None and (
        stored is None
        or now_derived.model_dump(exclude={"revision", "issued_at", "source_event_ids"})
        != stored.model_dump(exclude={"revision", "issued_at", "source_event_ids"})
    )
    if changed:
        return Finding(
            "settings_fixed",
            f"{posting.state} ({posting.reason}); the current settings derive it anew",
            "remap",
            key,
            kind,
        )
    if posting.state == "failed":
        return Finding(
            "failed",
            f"Dinero refused it: {posting.reason}. Fix the cause in Dinero, then --repair "
            "tries it again (a look-up first).",
            "retry",
            key,
            kind,
        )
    return Finding("held", f"held: {posting.reason}", "person", key, kind)


def _payment_findings(ev: Evidence, key: str, command: RegisterPayment) -> list[Finding]:
    invoice = ev.ledger.get(command.invoice_key)
    guid = invoice.dinero_guid if invoice is not None else None
    if guid is None or guid not in ev.books.payments_read:
        return []  # the invoice's payment status agrees with the expected payments
    found = ev.books.documents.get(key, [])
    if not found:
        return [
            Finding(
                "missing",
                f"payment of {_kr(command.amount)} is not on invoice {command.invoice_key} in "
                "Dinero",
                "remap",
                key,
                "payment",
                command.amount,
                None,
            )
        ]
    if len(found) > 1:
        return [_duplicate(key, "payment", found)]
    if found[0].total != command.amount:
        return [
            Finding(
                "amount",
                f"payment is {_kr(found[0].total)} in Dinero, the sale {_kr(command.amount)}",
                "person",
                key,
                "payment",
                command.amount,
                found[0].total,
            )
        ]
    return []


def _duplicate(key: str, kind: str, found: list[Document]) -> Finding:
    booked = sum(1 for d in found if d.booked)
    return Finding(
        "duplicate",
        f"{len(found)} documents carry this reference ({booked} booked): keep one and "
        "delete the others in Dinero (a draft can be deleted; a booked one needs a credit "
        "note)",
        "person",
        key,
        kind,
        1,
        len(found),
    )


def _deposit(ev: Evidence, entry: Expected) -> Finding | None:
    residue = [h for h in entry.holds if h.reason == "payout_unreconciled"]
    if not residue:
        return None
    return Finding(
        "deposit_not_zero",
        f"{residue[-1].message} The difference stays on the deposit account until a person "
        "books it.",
        "person",
        entry.key,
        "voucher",
    )


def classify(ev: Evidence) -> list[Finding]:
    findings: list[Finding] = []
    for unfinished in ev.ledger.values():
        found = _ledger_state(ev, unfinished)
        if found is not None:
            findings.append(found)
    for key, entry in ev.expected.items():
        if entry.kind == "contact" or not ev.in_range(entry.date):
            continue
        command = ev.target(key)
        posting = ev.ledger.get(key)
        documents = ev.books.documents.get(key, [])
        if entry.command is not None and entry.command.kind == "voucher":
            deposit = _deposit(ev, entry)
            if deposit is not None:
                findings.append(deposit)
        if posting is None:
            if entry.command is not None and not documents:
                findings.append(
                    Finding(
                        "missing",
                        "the rules derive it, but the ledger never saw it and Dinero does not "
                        "hold it",
                        "remap",
                        key,
                        entry.kind,
                    )
                )
            elif entry.hold is not None:
                findings.append(
                    Finding("held", f"held: {entry.hold.message}", "person", key, entry.kind)
                )
            continue
        if posting.state != "done" or command is None:
            continue
        if command.summary:
            continue  # booked by its day's summary document (`_summary_findings`)
        if isinstance(command, RegisterPayment):
            findings += _payment_findings(ev, key, command)
            continue
        if command.kind not in DOCUMENT_KINDS:
            continue
        if not documents:
            findings.append(
                Finding(
                    "missing",
                    f"the ledger has it done ({posting.dinero_guid}), but Dinero no longer "
                    "holds it (deleted?)",
                    "remap",
                    key,
                    command.kind,
                    _shape_total(command, ev.rates(key)),
                    None,
                )
            )
        elif len(documents) > 1:
            findings.append(_duplicate(key, command.kind, documents))
        else:
            findings += _compare(ev, key, command, documents[0], ev.rates(key))
    for key, documents in ev.books.documents.items():
        if key in ev.ledger or documents[0].kind == "payment":
            continue
        known = key in ev.expected
        findings.append(
            Finding(
                "orphan",
                f"{len(documents)} {documents[0].kind} document(s) in Dinero carry our "
                "reference, unknown to the ledger"
                + ("; the rules derive it, so a re-map lets the ledger adopt it" if known else ""),
                "remap" if known else "person",
                key,
                documents[0].kind,
            )
        )
    for key, posting in ev.ledger.items():
        if key in ev.expected or posting.kind == "contact" or posting.state != "done":
            continue
        date = _date_of(posting.command)
        if ev.in_range(date):
            findings.append(
                Finding(
                    "unexplained",
                    "the ledger has it, but the replay does not derive it (an older sale than "
                    "the look-back, or a posting the rules would not make)",
                    "person",
                    key,
                    posting.kind,
                )
            )
    findings += _summary_findings(ev)
    findings += trial_balance_findings(ev)
    return findings


# --- daily summaries: each summary document against the sales it books ---------------------


def summaries(ev: Evidence) -> dict[str, list[str]]:
    """Each summary posting in the ledger -> the members (posting keys) it books.

    The poster makes a summary posting itself (the mapper never sends its command, so the
    ledger has its result only) and records its document on every member it books: a
    member done with the guid of a summary of its kind is in that summary."""
    made_by_poster: dict[tuple[str, str | None], str] = {
        (posting.kind, posting.dinero_guid): key
        for key, posting in ev.ledger.items()
        if posting.command is None and posting.dinero_guid and key not in ev.expected
    }
    books: dict[str, list[str]] = defaultdict(list)
    for key, entry in ev.expected.items():
        command = ev.target(key)
        posting = ev.ledger.get(key)
        if command is None or not command.summary or not ev.in_range(entry.date):
            continue
        if posting is None or posting.state != "done":
            continue
        summary = made_by_poster.get((command.kind, posting.dinero_guid))
        if summary is not None:
            books[summary].append(key)
    return dict(books)


def _summary_findings(ev: Evidence) -> list[Finding]:
    """A summary invoice, credit note or voucher carries its members' totals and VAT (the
    rules make its lines VAT-exact to the sales), booked as they are; Dinero's document is
    compared with that. A summary is the poster's own document: no re-map derives it, so a
    difference is for a person (the members are booked by it)."""
    out: list[Finding] = []
    for summary, members in summaries(ev).items():
        kind = ev.ledger[summary].kind
        if kind not in DOCUMENT_KINDS:
            continue  # payments: the members' amounts count in the trial balance
        shapes = [
            shape
            for key in members
            if (command := ev.target(key)) is not None
            and (shape := shape_of(command, ev.rates(key))) is not None
        ]
        total = sum(shape.total or 0 for shape in shapes)
        vats = [shape.vat for shape in shapes]
        vat = None if None in vats else sum(v or 0 for v in vats)
        documents = ev.books.documents.get(summary, [])
        sales = f"its {len(members)} sale(s)"
        if not documents:
            out.append(
                Finding(
                    "missing",
                    f"the ledger has the summary of {sales} done, but Dinero no longer holds "
                    "it (deleted?)",
                    "person",
                    summary,
                    kind,
                    total,
                    None,
                )
            )
            continue
        if len(documents) > 1:
            out.append(_duplicate(summary, kind, documents))
            continue
        have = document_shape(documents[0])
        where = "booked" if have.booked else "draft"
        if have.total != total:
            message = (
                f"Dinero's {where} summary {kind} totals {_kr(have.total)}, {sales} {_kr(total)}"
            )
            out.append(Finding("amount", message, "person", summary, kind, total, have.total))
        elif vat is not None and have.vat is not None and have.vat != vat:
            message = f"Dinero's {where} summary {kind} has VAT {_kr(have.vat)}, {sales} {_kr(vat)}"
            out.append(Finding("vat", message, "person", summary, kind, vat, have.vat))
        booked = all(shape.booked for shape in shapes)
        if have.booked != booked:
            message = (
                f"the summary {kind} is a draft in Dinero, but the tenant books"
                if booked
                else f"the summary {kind} is booked in Dinero, but the tenant keeps drafts"
            )
            out.append(Finding("booking", message, "person", summary, kind))
    return out


def _shape_total(command: PostingCommand, rates: Mapping[int, int]) -> int | None:
    shape = shape_of(command, rates)
    return shape.total if shape is not None else None


def _date_of(command: PostingCommand | None) -> dt.date | None:
    return document_date(command) if command is not None else None


# --- the trial balance ----------------------------------------------------------------------


@dataclass
class Movements:
    """Per account, debit positive: what the range moves."""

    by_account: dict[int, int] = field(default_factory=lambda: defaultdict(int))

    def add(self, account: int, amount: int) -> None:
        self.by_account[account] += amount


def _invoice_movement(
    moves: Movements, sign: int, debtor: int, total: int, vat: int, nets: Iterable[tuple[int, int]]
) -> None:
    moves.add(debtor, sign * total)
    moves.add(SALES_VAT_ACCOUNT, -sign * vat)
    for account, net in nets:
        moves.add(account, -sign * net)


def expected_movements(ev: Evidence) -> Movements:
    moves = Movements()
    for key, entry in ev.expected.items():
        command = ev.target(key)
        if command is None or not ev.in_range(entry.date):
            continue
        match command:
            case CreateInvoice() | CreateCreditNote():
                if command.booking == "draft":
                    continue
                incl = command.show_lines_incl_vat
                nets = []
                vat = 0
                for line in command.lines:
                    amount = line.quantity * line.unit_price
                    rate = ev.rates(key).get(line.account_number, 0)
                    line_vat = vat_of(amount, rate, incl_vat=incl)
                    vat += line_vat
                    nets.append((line.account_number, amount - line_vat if incl else amount))
                sign = 1 if isinstance(command, CreateInvoice) else -1
                _invoice_movement(moves, sign, ev.debtor_account, command.expected_total, vat, nets)
            case RegisterPayment():
                moves.add(command.deposit_account, command.amount)
                moves.add(ev.debtor_account, -command.amount)
            case CreateVoucher():
                for entry_line in command.lines:
                    moves.add(entry_line.account_number, entry_line.amount)
                    moves.add(entry_line.balancing_account_number, -entry_line.amount)
            case EnsureContact():
                pass
    return moves


def actual_movements(ev: Evidence) -> Movements:
    """From the documents Dinero holds (booked ones); payments as read where read, else as
    the ledger recorded them done (Dinero lists payments only per invoice)."""
    moves = Movements()
    for documents in ev.books.documents.values():
        for document in documents:
            if not document.booked or not ev.in_range(document.date):
                continue
            match document.kind:
                case "invoice" | "credit_note":
                    sign = 1 if document.kind == "invoice" else -1
                    nets = [(line.account, line.net) for line in document.lines]
                    _invoice_movement(
                        moves, sign, ev.debtor_account, document.total or 0, document.vat or 0, nets
                    )
                case "voucher":
                    for line in document.lines:
                        moves.add(line.account, line.amount)
                        if line.balancing is not None:
                            moves.add(line.balancing, -line.amount)
                case "payment":
                    if document.deposit_account is not None:
                        moves.add(document.deposit_account, document.total or 0)
                        moves.add(ev.debtor_account, -(document.total or 0))
    for posting in ev.ledger.values():
        command = posting.command
        if posting.state != "done" or not isinstance(command, RegisterPayment):
            continue
        if not ev.in_range(command.payment_date):
            continue
        invoice = ev.ledger.get(command.invoice_key)
        if invoice is not None and invoice.dinero_guid in ev.books.payments_read:
            continue  # read from Dinero above
        moves.add(command.deposit_account, command.amount)
        moves.add(ev.debtor_account, -command.amount)
    return moves


def trial_balance_findings(ev: Evidence) -> list[Finding]:
    want = expected_movements(ev).by_account
    have = actual_movements(ev).by_account
    out: list[Finding] = []
    for account in sorted(set(want) | set(have)):
        expected, actual = want.get(account, 0), have.get(account, 0)
        if expected != actual:
            out.append(
                Finding(
                    "trial_balance",
                    f"account {account} moved {_kr(actual)} in the range, the sales "
                    f"{_kr(expected)}",
                    "none",
                    expected=expected,
                    actual=actual,
                    account=account,
                )
            )
    return out


def trial_balance(ev: Evidence) -> list[tuple[int, int, int]]:
    """(account, expected movement, actual movement) for every account either moves."""
    want = expected_movements(ev).by_account
    have = actual_movements(ev).by_account
    return [
        (a, want.get(a, 0), have.get(a, 0))
        for a in sorted(set(want) | set(have))
        if want.get(a, 0) or have.get(a, 0)
    ]
