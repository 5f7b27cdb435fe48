"""The binding for the console live-updates protocol (``asyncapi.yaml``)."""

from __future__ import annotations

import console_live_updates as spec
from console_live_updates import Error, ErrorDetail
from pydantic import BaseModel

from specwire.protocol.binding import Problem, ProtocolBinding, binding_for

__all__ = ["console_binding", "console_error"]

MAX_DETAILS = 20


def console_error(problem: Problem) -> BaseModel:
    """The spec's ``error`` message for a problem (channel ``live``, message ``error``)."""
    fields: dict[str, object] = {"type": "error", "code": problem.code, "message": problem.message}
    if problem.request_id is not None:
        fields["id"] = problem.request_id
    if problem.retry_after_ms is not None:
        fields["retry_after_ms"] = problem.retry_after_ms
    if problem.details:
        fields["details"] = [
            ErrorDetail(path=d.path, reason=d.reason) for d in problem.details[:MAX_DETAILS]
        ]
    return Error.model_validate(fields)


def console_binding() -> ProtocolBinding:
    return binding_for(spec, console_error)
