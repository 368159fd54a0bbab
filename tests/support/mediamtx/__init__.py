"""MediaMTX Control API v3 test double, held to MediaMTX's published OpenAPI spec."""

from .double import ApiCall, ConfError, MediaMtxDouble, RecordedRequest
from .openapi import ContractViolation, Validator

__all__ = [
    "ApiCall",
    "ConfError",
    "ContractViolation",
    "MediaMtxDouble",
    "RecordedRequest",
    "Validator",
]
