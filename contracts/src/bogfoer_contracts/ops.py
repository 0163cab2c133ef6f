"""What an operator (or the reconciler's `--repair`) asks the pipeline to do.

Actions travel on `ops.actions.v1` (key = tenant) like every other message between services:
the ops web app and the `bogfoer` command line publish them, the service that owns the
state carries them out, and the ledger records every action with who asked and when. An
action is idempotent: carrying one out twice leaves the books as carrying it out once.

- `remap_posting` (mapper): derive the posting again from the sale's stored facts with the
  tenant's *current* settings and publish its command again (same posting key). This is how
  a settings fix reaches a failed or held posting.
- `retry_posting` (poster): try a waiting or failed posting again now (a look-up first, as
  after any failure).
- `resume_tenant` (poster): un-park a tenant whose Dinero connection was fixed; its postings
  continue in order.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AwareDatetime, ConfigDict, Field, TypeAdapter

from bogfoer_contracts.ids import TenantId
from bogfoer_contracts.model import ContractModel


class _Action(ContractModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    action_id: str = Field(min_length=1, max_length=64, description="unique; a uuid4")
    tenant_id: TenantId
    requested_by: str = Field(
        min_length=1, max_length=200, description="who asked: an operator or `reconcile`"
    )
    requested_at: AwareDatetime
    note: str | None = Field(default=None, max_length=2000, description="why, in words")


class RemapPosting(_Action):
    action: Literal["remap_posting"] = "remap_posting"
    posting_key: str = Field(min_length=1, max_length=128)


class RetryPosting(_Action):
    action: Literal["retry_posting"] = "retry_posting"
    posting_key: str = Field(min_length=1, max_length=128)


class ResumeTenant(_Action):
    action: Literal["resume_tenant"] = "resume_tenant"


OpsAction = Annotated[RemapPosting | RetryPosting | ResumeTenant, Field(discriminator="action")]
OPS_ACTION: TypeAdapter[OpsAction] = TypeAdapter(OpsAction)
