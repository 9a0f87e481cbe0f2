"""Merging customers by hand, their merge history, and the duplicate review queue (名寄せ).

Merges and the queue are the supervisor's: an agent gets 403. A merge is not written here:
it is a ``merge_customers`` command on ``identity.commands`` (the worker applies it, and the
detach command can undo it), so the answer is 202 with the command id. Every merge and
decision is recorded in ``audit_reads`` (``merge``, ``review_accept``, ``review_reject``).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from typing import Annotated, Literal

from aiokafka.errors import KafkaError
from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field

from events.contracts.commands import Command, CommandRejected
from projections.merges import merge_history, standing
from services.auth.keys import ApiKey
from services.identity.commands import merge_command
from services.query.auth import authenticate
from services.query.deps import QueryDeps
from services.query.entries import json_response
from services.query.errors import QueryError
from services.query.params import customer_uuid
from services.review.queue import Pending, ReviewQueue

Sender = Callable[[Command], Awaitable[None]]


class MergeRequest(BaseModel):
    absorbed: str = Field(max_length=64, description="the customer id merged into this one")
    reason: str = Field(min_length=1, max_length=2000, description="kept in the merge history")


class RejectRequest(BaseModel):
    reason: str = Field(default="", max_length=2000)


def review_router(deps: QueryDeps, queue: ReviewQueue, send: Sender) -> APIRouter:
    router = APIRouter()
    lock = asyncio.Lock()  # one decision at a time: two clicks must not send two merges

    @router.post("/v1/customers/{customer_id}/merge", status_code=202)
    async def merge(request: Request, customer_id: str, body: MergeRequest) -> Response:
        """Merge ``absorbed`` into this customer (supervisors; undo with ``identity detach``)."""
        key = _supervisor(request, deps, "merge customers")
        survivor, absorbed = await _pair(deps, key, customer_id, body.absorbed)
        command = _command(key, survivor, absorbed, body.reason)
        await _send(send, command)
        deps.audit.record(key, survivor, "merge")
        return _accepted(command.command_id, survivor, absorbed)

    @router.get("/v1/customers/{customer_id}/merges")
    async def merges(request: Request, customer_id: str) -> Response:
        """What merged into this customer (and what was detached), newest first; an agent
        sees who and on what basis, not a person's free-text reason."""
        key = authenticate(request, deps.keys)
        survivor = (await deps.resolve(key, customer_uuid(customer_id))).survivor
        found = await deps.read(merge_history, key.tenant, survivor)
        if key.role != "supervisor":
            for entry in found:
                if entry.get("basis") != "identifier":
                    entry["reason"] = None
        deps.audit.record(key, str(survivor), "merges")
        return json_response({"customer_id": str(survivor), "requested_id": customer_id,
                              "merges": found})  # fmt: skip

    @router.get("/v1/review/duplicates")
    async def duplicates(
        request: Request,
        limit: Annotated[int, Query(ge=1, le=500)] = 100,
        status: Annotated[Literal["open", "accepted", "rejected"], Query()] = "open",
    ) -> Response:
        """Open suggested duplicates, best first, with their score and evidence (or the
        decided ones: who decided, when, the merge command or the reason for rejecting)."""
        key = _supervisor(request, deps, "review duplicates")
        found = await deps.read(lambda _store: queue.pending(key.tenant, limit, status))
        body = {"suggestions": [p.as_dict() for p in found], "limit": limit, "status": status}
        return json_response(body)

    @router.post("/v1/review/duplicates/run")
    async def run(request: Request) -> Response:
        """Run the matcher over the tenant's customers now (it also runs on a schedule)."""
        key = _supervisor(request, deps, "review duplicates")
        found = await deps.read(lambda _store: queue.refresh(key.tenant))
        return json_response({"open": found})

    @router.post("/v1/review/duplicates/{suggestion}/accept", status_code=202)
    async def accept(request: Request, suggestion: str) -> Response:
        """Merge the pair (the older customer survives); the evidence is the merge's why."""
        key = _supervisor(request, deps, "review duplicates")
        async with lock:
            pending = await _open(deps, queue, key, suggestion)
            survivor, absorbed = await _pair(deps, key, pending.customer_a, pending.customer_b,
                                             older_survives=True)  # fmt: skip
            command = _command(key, survivor, absorbed, pending.why(), pending)
            await _send(send, command)
            await deps.read(lambda _store: queue.decide(pending, "accepted", _who(key),
                                                        command.command_id))  # fmt: skip
        deps.audit.record(key, survivor, "review_accept")
        return _accepted(command.command_id, survivor, absorbed, pending.suggestion_id)

    @router.post("/v1/review/duplicates/{suggestion}/reject")
    async def reject(
        request: Request, suggestion: str, body: RejectRequest | None = None
    ) -> Response:
        """Keep the pair apart for good: the matcher never suggests it again."""
        key = _supervisor(request, deps, "review duplicates")
        async with lock:
            pending = await _open(deps, queue, key, suggestion)
            note = body.reason.strip() if body is not None else ""
            await deps.read(lambda _store: queue.decide(pending, "rejected", _who(key), "", note))
        deps.audit.record(key, pending.customer_a, "review_reject")
        return json_response({"suggestion_id": pending.suggestion_id, "status": "rejected"})

    return router


def _supervisor(request: Request, deps: QueryDeps, what: str) -> ApiKey:
    key = authenticate(request, deps.keys)
    if key.role != "supervisor":
        raise QueryError(403, "forbidden", f"role {key.role!r} cannot {what} (supervisor)")
    return key


def _who(key: ApiKey) -> str:
    return f"{key.role}:{key.key_id}"


async def _open(deps: QueryDeps, queue: ReviewQueue, key: ApiKey, suggestion: str) -> Pending:
    try:
        wanted = str(uuid.UUID(suggestion))
    except ValueError:
        raise QueryError(400, "bad_suggestion_id", f"{suggestion!r} is not a suggestion id",
                         "suggestion") from None  # fmt: skip
    found = await deps.read(lambda _store: queue.get(key.tenant, wanted))
    if found is None:
        raise QueryError(404, "not_found", f"no suggestion {suggestion} in tenant {key.tenant}")
    if found.status != "open":
        raise QueryError(409, "already_decided", f"suggestion {suggestion} was {found.status}")
    return found


async def _pair(
    deps: QueryDeps, key: ApiKey, first: str, second: str, older_survives: bool = False
) -> tuple[str, str]:
    """Both customers as they read now (their survivors); refused if they are one already,
    unknown in this tenant (404) or erased (410)."""
    a = str((await deps.resolve(key, customer_uuid(first))).survivor)
    try:
        b = str((await deps.resolve(key, customer_uuid(second))).survivor)
    except QueryError as exc:
        raise QueryError(exc.status, exc.code, exc.message, "absorbed") from None
    if a == b:
        what = "itself" if first == second else f"{second}: they are one customer already"
        raise QueryError(409, "same_customer", f"customer {first} cannot be merged with {what}")
    known = await deps.read(standing, key.tenant, [a, b])
    for customer in (a, b):
        if known.get(customer, (None, False))[1]:
            raise QueryError(410, "erased", f"customer {customer} was erased")
    if older_survives and (known[b][0], b) < (known[a][0], a):
        a, b = b, a
    return a, b


def _command(
    key: ApiKey, survivor: str, absorbed: str, reason: str, pending: Pending | None = None
) -> Command:
    try:
        if pending is None:
            return merge_command(key.tenant, survivor, absorbed, reason, _who(key))
        return merge_command(key.tenant, survivor, absorbed, reason, _who(key), pending.rule(),
                             pending.score, pending.suggestion_id)  # fmt: skip
    except CommandRejected as exc:
        raise QueryError(400, "bad_merge", str(exc)) from None


async def _send(send: Sender, command: Command) -> None:
    try:
        await send(command)
    except (KafkaError, OSError) as exc:
        raise QueryError(503, "broker_unavailable", f"the merge was not sent: {exc!r}") from None


def _accepted(
    command_id: str, survivor: str, absorbed: str, suggestion: str | None = None
) -> Response:
    """202: the command is in the log; the merge shows once the worker has applied it."""
    body = {"command_id": command_id, "survivor_id": survivor, "absorbed_id": absorbed,
            "status": "sent"}  # fmt: skip
    if suggestion is not None:
        body["suggestion_id"] = suggestion
    response = json_response(body)
    response.status_code = 202
    return response
