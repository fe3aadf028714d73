"""Reply codes the services add to those of `engine.models`, and reply builders."""

from __future__ import annotations

from engine.models import (
    CODE_BAD_REQUEST,
    CODE_OK,
    CODE_TRANSIENT,
    DECLINE_CODES,
    ServiceReply,
)

CODE_VOIDED = "voided"  # final: the order's compensation ran before this forward request
CODE_NOTHING_TO_RESTOCK = "nothing_to_restock"  # ok: the order holds no reservation
CODE_NOTHING_TO_REFUND = "nothing_to_refund"  # ok: the order was never charged
CODE_INTERNAL = "internal_error"  # transient: the service failed while handling the request
CODE_FAULTS_DISABLED = "faults_disabled"  # final: this process has faults.enabled off

# Final, not-ok answers: the caller must not retry them.
FINAL_DECLINES = DECLINE_CODES | {CODE_VOIDED}


def ok(message: str = "", code: str = CODE_OK, **data: object) -> ServiceReply:
    return ServiceReply(ok=True, code=code, message=message, data=data)


def declined(code: str, message: str) -> ServiceReply:
    return ServiceReply(ok=False, code=code, message=message)


def bad_request(message: str) -> ServiceReply:
    return ServiceReply(ok=False, code=CODE_BAD_REQUEST, message=message)


def transient(message: str = "injected transient error", code: str = CODE_TRANSIENT) -> ServiceReply:
    return ServiceReply(ok=False, code=code, message=message)


def is_decline(reply: ServiceReply) -> bool:
    return not reply.ok and reply.code in FINAL_DECLINES
