"""The HTTP aggregator backend against the test aggregator on loopback: schema-valid
bodies, the right endpoints, and every failure mapped to what the registrar expects."""

from __future__ import annotations

import copy
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from camera_service.config import ConfigError, load_settings, masked_dict, validate
from camera_service.net.httpclient import HttpClient
from camera_service.registration.aggregator import AggregatorBackend, heartbeat_body
from camera_service.registration.backend import RegistrationLost, RegistryError
from tests.support.aggregator import Aggregator, AggregatorFactory, example_document, schema_errors

TOKEN = "s3cret-Token_0123456789abcdef"
ID = "hub-7-8002"


@pytest.fixture
async def backend(aggregator: Aggregator) -> AsyncIterator[AggregatorBackend]:
    b = AggregatorBackend(aggregator.url, heartbeat_interval=10.0, timeout=10.0)
    yield b
    await b.close()


def degraded(document: dict[str, Any]) -> dict[str, Any]:
    changed = copy.deepcopy(document)
    changed["updated_at"] = "2026-11-25T10:00:15Z"
    changed["health"] = {"status": "degraded", "components": {"registry": "degraded"}}
    changed["capacity"]["recordings"] = {"limit": 8, "active": 2, "free": 6}
    return changed


def test_a_heartbeat_is_the_volatile_part_with_a_sequence() -> None:
    document = example_document()
    body = heartbeat_body(document, 17, 10.0)
    assert body == {
        "schema_version": 1,
        "instance_id": ID,
        "updated_at": document["updated_at"],
        "sequence": 17,
        "heartbeat_interval": 10.0,
        "health": document["health"],
        "capacity": document["capacity"],
        "cameras": document["cameras"],
    }
    assert schema_errors("heartbeat", body) == []


async def test_register_heartbeat_deregister(
    aggregator: Aggregator, backend: AggregatorBackend
) -> None:
    assert backend.name == "http"
    assert backend.refresh_interval() == 10.0
    document = example_document()

    await backend.register(document)
    await backend.refresh(document, changed=False)
    await backend.refresh(degraded(document), changed=True)
    assert aggregator.instances[ID]["health"]["status"] == "degraded"
    assert aggregator.instances[ID]["capacity"]["recordings"]["active"] == 2
    await backend.deregister()

    register, beat1, beat2, delete = aggregator.calls
    assert (register.method, register.path, register.status) == (
        "POST",
        "/registry/v1/instances",
        201,
    )
    assert register.body == document
    assert (beat1.method, beat1.path, beat1.status) == (
        "PUT",
        f"/registry/v1/instances/{ID}/heartbeat",
        204,
    )
    assert [beat1.body["sequence"], beat2.body["sequence"]] == [1, 2]
    assert beat2.body["health"]["status"] == "degraded"
    assert (delete.method, delete.path, delete.status) == (
        "DELETE",
        f"/registry/v1/instances/{ID}",
        204,
    )
    assert delete.body is None
    assert all(c.authorization is None for c in aggregator.calls)  # no token configured
    assert aggregator.instances == {}
    # The fixture fails the test on any schema or protocol violation in these bodies.


async def test_registering_again_replaces_and_restarts_the_sequence(
    aggregator: Aggregator, backend: AggregatorBackend
) -> None:
    await backend.register(example_document())
    await backend.refresh(example_document(), changed=False)
    await backend.register(example_document(version="0.5.1"))
    await backend.refresh(example_document(), changed=False)
    assert [c.status for c in aggregator.calls_of("register")] == [201, 200]
    assert [c.body["sequence"] for c in aggregator.calls_of("heartbeat")] == [1, 1]
    assert aggregator.instances[ID]["version"] == "0.5.1"


async def test_a_forgotten_instance_is_lost_and_registers_again(
    aggregator: Aggregator, backend: AggregatorBackend
) -> None:
    await backend.register(example_document())
    aggregator.forget(ID)
    with pytest.raises(RegistrationLost):
        await backend.refresh(example_document(), changed=False)
    assert aggregator.calls[-1].status == 404
    # Until it registers again, a refresh sends nothing and is lost at once.
    with pytest.raises(RegistrationLost):
        await backend.refresh(example_document(), changed=False)
    assert len(aggregator.calls) == 2
    await backend.register(example_document())
    await backend.refresh(example_document(), changed=False)
    assert aggregator.calls[-1].body["sequence"] == 1
    assert aggregator.calls[-1].ok


async def test_deregistering_an_unknown_instance_is_fine(
    aggregator: Aggregator, backend: AggregatorBackend
) -> None:
    await backend.deregister()  # never registered: nothing sent
    assert aggregator.calls == []
    await backend.register(example_document())
    aggregator.forget(ID)
    await backend.deregister()
    assert aggregator.calls[-1].kind == "deregister" and aggregator.calls[-1].status == 404


async def test_a_503_is_a_registry_error_never_lost(
    aggregator: Aggregator, backend: AggregatorBackend
) -> None:
    aggregator.fail(503)
    with pytest.raises(RegistryError, match=r"register.*HTTP 503") as caught:
        await backend.register(example_document())
    assert not isinstance(caught.value, RegistrationLost)
    aggregator.recover()
    await backend.register(example_document())
    aggregator.fail(503, n=2)
    with pytest.raises(RegistryError, match=r"heartbeat.*HTTP 503") as beat:
        await backend.refresh(example_document(), changed=True)
    assert not isinstance(beat.value, RegistrationLost)
    with pytest.raises(RegistryError, match=r"deregister.*HTTP 503"):
        await backend.deregister()
    # The heartbeat that failed still used up its sequence number: none is ever repeated.
    await backend.register(example_document())
    await backend.refresh(example_document(), changed=False)
    assert aggregator.calls[-1].ok and aggregator.calls[-1].body["sequence"] == 1


async def test_a_refused_register_names_the_status(
    aggregator: Aggregator, backend: AggregatorBackend
) -> None:
    with pytest.raises(RegistryError, match="refused register: HTTP 400"):
        await backend.register(example_document(service="something-else"))
    assert len(aggregator.take_violations()) == 1


async def test_an_aggregator_down_dropping_or_silent_is_a_registry_error(
    aggregator: Aggregator,
) -> None:
    backend = AggregatorBackend(aggregator.url, heartbeat_interval=10.0, timeout=2.0)
    try:
        async with aggregator.stopped():
            with pytest.raises(RegistryError, match="connection refused"):
                await backend.register(example_document())
        await backend.register(example_document())
        # A pooled connection closed unanswered is retried once on a new one (PUT is
        # idempotent), so it takes two drops in a row to fail a heartbeat.
        aggregator.drop(2)
        with pytest.raises(RegistryError, match="heartbeat failed"):
            await backend.refresh(example_document(), changed=False)
        aggregator.hang(1)
        with pytest.raises(RegistryError, match="no response"):
            await backend.refresh(example_document(), changed=False)
        await backend.refresh(example_document(), changed=False)
        assert [c.status for c in aggregator.calls_of("heartbeat")] == [0, 0, 0, 204]
        assert [c.body["sequence"] for c in aggregator.calls_of("heartbeat")] == [1, 1, 2, 3]
    finally:
        await backend.close()


async def test_the_token_is_sent_as_bearer_and_never_shown(
    aggregator_factory: AggregatorFactory,
) -> None:
    aggregator = await aggregator_factory(token=TOKEN)
    backend = AggregatorBackend(aggregator.url, 10.0, token=TOKEN, timeout=2.0)
    wrong = AggregatorBackend(aggregator.url, 10.0, token="not-" + TOKEN, timeout=2.0)
    errors: list[RegistryError] = []
    try:
        await backend.register(example_document())
        await backend.refresh(example_document(), changed=False)
        await backend.deregister()
        assert [c.authorization for c in aggregator.calls] == [f"Bearer {TOKEN}"] * 3
        assert [c.status for c in aggregator.calls] == [201, 204, 204]

        with pytest.raises(RegistryError, match="HTTP 401") as refused:
            await wrong.register(example_document())
        errors.append(refused.value)
        for mode in ("fail", "hang"):
            if mode == "fail":
                aggregator.fail(503, n=1)
            else:
                aggregator.hang(1)
            with pytest.raises(RegistryError) as failed:
                await backend.register(example_document())
            errors.append(failed.value)
        async with aggregator.stopped():
            with pytest.raises(RegistryError) as down:
                await backend.register(example_document())
            errors.append(down.value)
    finally:
        await backend.close()
        await wrong.close()
    assert len(errors) == 4
    for shown in [*map(str, errors), repr(backend), repr(wrong)]:
        assert TOKEN not in shown


def test_bad_construction_is_refused_without_echoing_the_token() -> None:
    with pytest.raises(ValueError, match="http://"):
        AggregatorBackend("https://agg.example", 10.0)
    with pytest.raises(ValueError, match="heartbeat_interval"):
        AggregatorBackend("http://127.0.0.1:1", 0)
    with pytest.raises(ValueError, match="Authorization") as caught:
        AggregatorBackend("http://127.0.0.1:1", 10.0, token="abc\r\nX-Evil: 1")
    assert "abc" not in str(caught.value)
    with pytest.raises(ValueError, match="header"):
        HttpClient("http://127.0.0.1:1", 1.0, headers={"Bad Name": "v"})


def test_the_token_comes_from_the_environment_and_is_masked(tmp_path: Path) -> None:
    env = {
        "CAMERA_SERVICE_REGISTRY_BACKEND": "http",
        "CAMERA_SERVICE_REGISTRY_URL": "http://127.0.0.1:9/registry/v1",
        "CAMERA_SERVICE_REGISTRY_TOKEN": "0042",  # verbatim, not read as a number
        "CAMERA_SERVICE_STORAGE_DATA_DIR": str(tmp_path),
    }
    settings, _ = load_settings(None, env)
    token = settings.registry.token
    assert token is not None and token.get_secret_value() == "0042"
    assert masked_dict(settings)["registry"]["token"] == "***"
    assert "0042" not in repr(settings.registry)


@pytest.mark.parametrize(
    ("registry", "key"),
    [
        ({"url": "https://agg.example"}, "registry.url"),
        ({"url": "http://user:pw@agg.example"}, "registry.url"),
        ({"url": "http://agg example"}, "registry.url"),
        ({"token": "two words"}, "registry.token"),
        ({"token": "line\nbreak"}, "registry.token"),
    ],
)
def test_bad_aggregator_settings_name_the_key_and_hide_secrets(
    registry: dict[str, Any], key: str
) -> None:
    with pytest.raises(ConfigError, match=key) as caught:
        validate({"registry": registry})
    message = str(caught.value)
    assert "pw" not in message and "words" not in message and "break" not in message
