"""bertex's exception tree -> HTTP status and an OpenAI-shaped body, in one place."""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import (
    BertexError,
    DeadlineError,
    EmptyInputError,
    InputError,
    InvalidTextError,
    NoTaskHeadError,
    OptionError,
    OverloadedError,
    StoreRefusedError,
    StoreUnavailableError,
    TooLongError,
)

RETRY = {"Retry-After": "1"}


@dataclass
class ApiError(Exception):
    """An error the server itself raises (limits, auth, JSON, overload)."""

    status: int
    message: str
    type: str = "invalid_request_error"
    param: str | None = None
    code: str | None = None
    headers: dict[str, str] | None = None


def to_api_error(e: Exception, param: str | None = None) -> ApiError:
    """The one mapping from exceptions to HTTP answers."""
    if isinstance(e, ApiError):
        return e
    if isinstance(e, TooLongError):
        return ApiError(413, str(e), param=_indexed(param, e.index), code="input_too_long")
    if isinstance(e, (EmptyInputError, InvalidTextError, InputError)):
        code = "empty_input" if isinstance(e, EmptyInputError) else "invalid_input"
        return ApiError(422, str(e), param=_indexed(param, e.index), code=code)
    if isinstance(e, OptionError):
        return ApiError(422, str(e), param=e.name, code="invalid_value")
    if isinstance(e, NoTaskHeadError):  # the served model cannot do this task: not a retry
        return ApiError(422, str(e), param="model", code="missing_head")
    if isinstance(e, OverloadedError):
        return ApiError(429, str(e), type="rate_limit_error", code="queue_full", headers=RETRY)
    if isinstance(e, DeadlineError):
        return ApiError(503, str(e), type="server_error", code="deadline_exceeded", headers=RETRY)
    if isinstance(e, StoreUnavailableError):  # the index's PostgreSQL: lost, tried again next time
        return ApiError(503, str(e), type="server_error", code="store_unavailable", headers=RETRY)
    if isinstance(e, StoreRefusedError):  # a permission, a read-only server: not for a retry
        return ApiError(500, str(e), type="server_error", code="store_refused")
    if isinstance(e, BertexError):
        return ApiError(500, str(e), type="server_error", code="model_error")
    return ApiError(
        500,
        "internal error; the server log has the details",
        type="server_error",
        code="internal_error",
    )


def _indexed(param: str | None, index: int | None) -> str | None:
    if param is None:
        return None
    return f"{param}[{index}]" if index is not None else param


def body(e: ApiError) -> dict[str, object]:
    return {"error": {"message": e.message, "type": e.type, "param": e.param, "code": e.code}}
