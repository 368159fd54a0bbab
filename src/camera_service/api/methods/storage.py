"""Storage methods (admin): get_storage_info, set_retention_policy, cleanup_old_files."""

from __future__ import annotations

from typing import Any, Literal, NotRequired, cast

from pydantic import Field, StrictBool
from typing_extensions import TypedDict

from camera_service.api.jsonrpc import INVALID_PARAMS, RpcError
from camera_service.api.registry import Call, MethodRegistry, MethodSpec, Params
from camera_service.auth.identity import Role
from camera_service.storage.disk import DiskMonitor, StorageLevel
from camera_service.storage.retention import LIMIT_FIELD, Retention, RetentionPolicy

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


class RetentionInfo(TypedDict):
    policy_type: str
    enabled: bool
    max_age_days: NotRequired[float]
    max_size_gb: NotRequired[float]
    max_count: NotRequired[int]
    source: str  # "stored" (set_retention_policy) or "config"


class StorageInfo(TypedDict):
    total_space: int
    used_space: int
    available_space: int
    used_percent: float
    usage_percentage: float
    warn_threshold: float
    block_threshold: float
    recordings_size: int
    snapshots_size: int
    low_space_warning: bool
    critical_space_warning: bool
    status: str  # [new] ok | warn | critical
    retention_policy: RetentionInfo  # [new] the policy in effect


class RetentionResult(TypedDict):
    policy_type: str
    enabled: bool
    max_age_days: NotRequired[float]
    max_size_gb: NotRequired[float]
    max_count: NotRequired[int]
    message: str


class CleanupResult(TypedDict):
    cleanup_executed: bool
    files_deleted: int
    space_freed: int
    message: str
    policy_type: str  # [new]


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


def register(registry: MethodRegistry, disk: DiskMonitor, retention: Retention) -> None:
    async def get_storage_info(call: Call) -> StorageInfo:
        status = disk.check_now()
        sizes = await disk.media_sizes()
        figures = status.figures()
        policy = retention.policy
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
                RetentionInfo, {**policy_fields(policy), "source": retention.source}
            ),
        }

    async def set_retention_policy(call: Call) -> RetentionResult:
        p: RetentionParams = call.params
        field = LIMIT_FIELD.get(p.policy_type)
        if field is not None and getattr(p, field) is None:
            raise RpcError(
                INVALID_PARAMS,
                f"Invalid params: {field} is required when policy_type is {p.policy_type}",
                {"reason": "invalid_params", "param": field},
            )
        limit: dict[str, Any] = {field: getattr(p, field)} if field else {}
        policy = RetentionPolicy(p.policy_type, p.enabled, **limit)
        identity = call.session.identity
        await retention.set_policy(policy, identity.user_id if identity else None)
        return cast(RetentionResult, {**policy_fields(policy), "message": describe(policy)})

    async def cleanup_old_files(call: Call) -> CleanupResult:
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

    registry.add(
        MethodSpec(
            "get_storage_info",
            get_storage_info,
            "Disk use of the media file systems, media sizes and thresholds.",
            Role.ADMIN,
            result=StorageInfo,
            concurrent=True,
        )
    )
    registry.add(
        MethodSpec(
            "set_retention_policy",
            set_retention_policy,
            "Store the retention policy (kept across restarts).",
            Role.ADMIN,
            RetentionParams,
            RetentionResult,
            errors=(INVALID_PARAMS,),
        )
    )
    registry.add(
        MethodSpec(
            "cleanup_old_files",
            cleanup_old_files,
            "Apply the retention policy in effect now.",
            Role.ADMIN,
            result=CleanupResult,
            concurrent=True,
        )
    )
