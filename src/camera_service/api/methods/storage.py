"""Storage methods (admin): get_storage_info, set_retention_policy, cleanup_old_files."""

from __future__ import annotations

from typing import Any, Literal, cast

from pydantic import Field, StrictBool

from camera_service.api.contract import (
    CleanupResult,
    RetentionInfo,
    RetentionResult,
    StorageInfo,
)
from camera_service.api.jsonrpc import INVALID_PARAMS, bad_param
from camera_service.api.methodtable import Call, MethodSpec, NoParams, Params
from camera_service.auth.identity import Role
from camera_service.storage.disk import StorageLevel
from camera_service.storage.retention import LIMIT_FIELD, RetentionPolicy

# Sane upper bounds: a century, a petabyte, a hundred million files.
MAX_AGE_DAYS = 36_500
MAX_SIZE_GB = 1_000_000
MAX_COUNT = 100_000_000


class RetentionParams(Params):
    policy_type: Literal["age", "size", "count", "manual"]
    enabled: StrictBool = Field(description="Apply the policy every retention.interval.")
    max_age_days: float | None = Field(
        None, gt=0, le=MAX_AGE_DAYS, strict=True, allow_inf_nan=False, description="age policy"
    )
    max_size_gb: float | None = Field(
        None,
        gt=0,
        le=MAX_SIZE_GB,
        strict=True,
        allow_inf_nan=False,
        description="size policy: GiB of recordings + snapshots",
    )
    max_count: int | None = Field(
        None, ge=1, le=MAX_COUNT, strict=True, description="count policy: files kept"
    )


def policy_fields(policy: RetentionPolicy) -> dict[str, Any]:
    """``policy_type``, ``enabled`` and the limit of that type."""
    return {"policy_type": policy.policy_type, "enabled": policy.enabled, **policy.limits()}


def describe(policy: RetentionPolicy) -> str:
    if policy.policy_type == "manual":
        return "Retention policy set: delete nothing automatically"
    if policy.policy_type == "age":
        what = f"delete media older than {policy.max_age_days:g} days"
    elif policy.policy_type == "size":
        what = f"keep media under {policy.max_size_gb:g} GiB"
    else:
        what = f"keep at most {policy.max_count} media files"
    when = "periodically" if policy.enabled else "only when cleanup_old_files is called"
    return f"Retention policy set: {what}, applied {when}"


async def get_storage_info(call: Call[NoParams]) -> StorageInfo:
    c = call.ctx.components
    status = c.disk.check_now()
    sizes = await c.disk.media_sizes()
    figures = status.figures()
    policy = c.retention.policy
    return {
        "total_space": figures["total_space"],
        "used_space": figures["used_space"],
        "available_space": figures["available_space"],
        "used_percent": figures["used_percent"],
        "usage_percentage": figures["used_percent"],
        "warn_threshold": figures["warn_threshold"],
        "block_threshold": figures["block_threshold"],
        "recordings_size": sizes["recordings"],
        "snapshots_size": sizes["snapshots"],
        "low_space_warning": status.level is not StorageLevel.OK,
        "critical_space_warning": status.level is StorageLevel.CRITICAL,
        "status": status.level.value,
        "retention_policy": cast(
            RetentionInfo, {**policy_fields(policy), "source": c.retention.source}
        ),
    }


async def set_retention_policy(call: Call[RetentionParams]) -> RetentionResult:
    p = call.params
    field = LIMIT_FIELD.get(p.policy_type)
    if field is not None and getattr(p, field) is None:
        raise bad_param(field, f"required when policy_type is {p.policy_type}")
    limit: dict[str, Any] = {field: getattr(p, field)} if field else {}
    policy = RetentionPolicy(p.policy_type, p.enabled, **limit)
    identity = call.session.identity
    await call.ctx.components.retention.set_policy(policy, identity.user_id if identity else None)
    return cast(RetentionResult, {**policy_fields(policy), "message": describe(policy)})


async def cleanup_old_files(call: Call[NoParams]) -> CleanupResult:
    retention = call.ctx.components.retention
    result = await retention.apply()
    policy = result.policy or retention.policy
    if policy.policy_type == "manual":
        message = "Retention policy is manual: nothing deleted"
    else:
        deleted = result.files_deleted
        message = f"Deleted {deleted} file(s) under the {policy.policy_type} policy"
    return {
        "cleanup_executed": True,
        "files_deleted": result.files_deleted,
        "space_freed": result.space_freed,
        "message": message,
        "policy_type": policy.policy_type,
    }


METHODS = (
    MethodSpec(
        "get_storage_info",
        get_storage_info,
        "Disk use of the media file systems, media sizes and thresholds.",
        Role.ADMIN,
        NoParams,
        StorageInfo,
        concurrent=True,
    ),
    MethodSpec(
        "set_retention_policy",
        set_retention_policy,
        "Store the retention policy (kept across restarts).",
        Role.ADMIN,
        RetentionParams,
        RetentionResult,
        errors=(INVALID_PARAMS,),
    ),
    MethodSpec(
        "cleanup_old_files",
        cleanup_old_files,
        "Apply the retention policy in effect now.",
        Role.ADMIN,
        NoParams,
        CleanupResult,
        concurrent=True,
    ),
)
