"""The credential chain: each source as an operator configures it, the order, rotation
signed with the new credentials (checked by the emulator), where it looked when nothing
was found, and no secret in a log line, a repr or an error."""

from __future__ import annotations

import dataclasses
import io
import json
import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from otabot.config import Credentials, Settings
from otabot.credentials import CredentialChain, CredentialsNotFoundError
from otabot.emulator.fleet import LIGHT_PRODUCT_KEY, sample_fleet
from otabot.emulator.server import EmulatorServer
from otabot.iot.client import IotClient
from otabot.iot.errors import CredentialsUnavailableError
from otabot.logs import configure_logging
from tests.iot.canned import CannedApi, Reply

NO_ECS = {"ALIBABA_CLOUD_ECS_METADATA_DISABLED": "true"}
FIRST = Credentials("STS.first", "first-secret-value", "first-sts-token-value")
SECOND = Credentials("STS.second", "second-secret-value", "second-sts-token-value")


def handed_out(credentials: Credentials, expires_in: float = 600.0) -> Reply:
    """A credentials URI's answer: ``credentials`` as STS ones expiring in ``expires_in`` s
    (within the library's 15-minute margin by default, so it asks again every time)."""
    expiration = datetime.now(UTC) + timedelta(seconds=expires_in)
    return Reply(
        body={
            "Code": "Success",
            "AccessKeyId": credentials.access_key_id,
            "AccessKeySecret": credentials.access_key_secret,
            "SecurityToken": credentials.security_token,
            "Expiration": expiration.strftime("%Y-%m-%dT%H:%M:%SZ"),
        }
    )


def uri_of(server: CannedApi) -> str:
    return f"{server.url}/credentials?token=uri-token"


def handed(server: CannedApi) -> int:
    return len(server.received)


def write_cli_config(path: Path, *profiles: dict[str, Any], current: str = "default") -> Path:
    path.write_text(json.dumps({"current": current, "profiles": list(profiles)}))
    return path


AK_PROFILE = {
    "name": "default",
    "mode": "AK",
    "access_key_id": "profile-id",
    "access_key_secret": "profile-secret-value",
}
STS_PROFILE = {
    "name": "oncall",
    "mode": "StsToken",
    "access_key_id": "STS.oncall",
    "access_key_secret": "oncall-secret-value",
    "sts_token": "oncall-sts-token-value",
}


def test_the_environment_access_key_is_used_as_it_is() -> None:
    settings = Settings.from_env(
        {
            "ALIBABA_CLOUD_ACCESS_KEY_ID": "env-id",
            "ALIBABA_CLOUD_ACCESS_KEY_SECRET": "env-secret-value",
            "ALIBABA_CLOUD_SECURITY_TOKEN": "env-sts-token-value",
        }
    )
    assert settings.credentials() == Credentials(
        "env-id", "env-secret-value", "env-sts-token-value"
    )
    assert settings.credentials_provider.source == "environment"


def test_a_cli_profile_file_gives_its_current_profile(tmp_path: Path) -> None:
    config = write_cli_config(tmp_path / "config.json", AK_PROFILE, STS_PROFILE)
    settings = Settings.from_env({"OTABOT_ALIYUN_CONFIG": str(config), **NO_ECS})
    assert settings.credentials() == Credentials("profile-id", "profile-secret-value")
    assert settings.credentials_provider.source == f"aliyun CLI profile (current) in {config}"


def test_alibaba_cloud_profile_picks_the_profile(tmp_path: Path) -> None:
    config = write_cli_config(tmp_path / "config.json", AK_PROFILE, STS_PROFILE)
    settings = Settings.from_env(
        {"OTABOT_ALIYUN_CONFIG": str(config), "ALIBABA_CLOUD_PROFILE": "oncall", **NO_ECS}
    )
    assert settings.credentials() == Credentials(
        "STS.oncall", "oncall-secret-value", "oncall-sts-token-value"
    )


def test_the_cli_profile_under_home_is_found_without_any_setting(tmp_path: Path) -> None:
    (tmp_path / ".aliyun").mkdir()
    write_cli_config(tmp_path / ".aliyun" / "config.json", AK_PROFILE)
    settings = Settings.from_env({"HOME": str(tmp_path), **NO_ECS})
    assert settings.credentials().access_key_id == "profile-id"


def test_the_sdk_credentials_file_gives_its_section(tmp_path: Path) -> None:
    ini = tmp_path / "credentials.ini"
    ini.write_text(
        "[default]\ntype = access_key\naccess_key_id = ini-id\naccess_key_secret = ini-secret\n"
        "[oncall]\ntype = access_key\naccess_key_id = ini-oncall\naccess_key_secret = s\n"
    )
    environment = {"ALIBABA_CLOUD_CREDENTIALS_FILE": str(ini), **NO_ECS}
    assert Settings.from_env(environment).credentials().access_key_id == "ini-id"
    oncall = Settings.from_env({**environment, "ALIBABA_CLOUD_PROFILE": "oncall"})
    assert oncall.credentials().access_key_id == "ini-oncall"


def test_the_environment_comes_before_a_profile(tmp_path: Path) -> None:
    config = write_cli_config(tmp_path / "config.json", AK_PROFILE)
    settings = Settings.from_env(
        {
            "OTABOT_ALIYUN_CONFIG": str(config),
            "ALIBABA_CLOUD_ACCESS_KEY_ID": "env-id",
            "ALIBABA_CLOUD_ACCESS_KEY_SECRET": "env-secret-value",
            **NO_ECS,
        }
    )
    assert settings.credentials().access_key_id == "env-id"


def nothing_found(home: Path) -> str:
    """What the chain says when nothing under ``home`` nor anywhere else has credentials
    (the ECS metadata service off)."""
    return (
        "no Alibaba Cloud credentials found; looked at "
        "environment (ALIBABA_CLOUD_ACCESS_KEY_ID not set), "
        "RRSA (ALIBABA_CLOUD_ROLE_ARN not set), "
        f"aliyun CLI profile (no file {home}/.aliyun/config.json), "
        f"credentials file (no file {home}/.alibabacloud/credentials.ini), "
        "ECS RAM role (ALIBABA_CLOUD_ECS_METADATA_DISABLED=true), "
        "credentials URI (ALIBABA_CLOUD_CREDENTIALS_URI not set)"
    )


def test_nothing_found_says_everywhere_it_looked_in_one_line(tmp_path: Path) -> None:
    settings = Settings.from_env({"HOME": str(tmp_path), **NO_ECS})
    with pytest.raises(CredentialsNotFoundError) as caught:
        settings.credentials()
    assert str(caught.value) == nothing_found(tmp_path)
    assert caught.value.variable == "ALIBABA_CLOUD_ACCESS_KEY_ID"


def test_a_profile_that_is_not_in_the_file_is_where_it_looked(tmp_path: Path) -> None:
    config = write_cli_config(tmp_path / "config.json", AK_PROFILE)
    settings = Settings.from_env(
        {"OTABOT_ALIYUN_CONFIG": str(config), "ALIBABA_CLOUD_PROFILE": "nosuch", **NO_ECS}
    )
    with pytest.raises(CredentialsNotFoundError, match=r"aliyun CLI profile nosuch in .*nosuch"):
        settings.credentials()


def test_the_ecs_ram_role_is_asked_at_the_instance_metadata_service() -> None:
    # The suite's guard refuses every host but 127.0.0.1: the attempt shows where it went.
    with pytest.raises(CredentialsNotFoundError) as caught:
        Settings.from_env({}).credentials()
    assert "ECS RAM role at 100.100.100.200 (tests send nothing to 100.100.100.200)" in str(
        caught.value
    )


def divert(monkeypatch: pytest.MonkeyPatch, server: CannedApi) -> list[str]:
    """Send the credential library's requests to ``server`` over plain HTTP; returns the
    hosts they were meant for, in order."""
    from Tea.core import TeaCore

    send = TeaCore.do_action
    meant: list[str] = []
    port = int(server.url.rsplit(":", 1)[1])

    def to_server(request: Any, runtime_option: Any = None) -> Any:
        meant.append(request.headers["host"])
        request.headers["host"], request.port, request.protocol = "127.0.0.1", port, "http"
        return send(request, runtime_option)

    monkeypatch.setattr(TeaCore, "do_action", staticmethod(to_server))
    return meant


def sts_credentials(credentials: Credentials) -> dict[str, str]:
    expiration = datetime.now(UTC) + timedelta(hours=1)
    return {
        "AccessKeyId": credentials.access_key_id,
        "AccessKeySecret": credentials.access_key_secret,
        "SecurityToken": credentials.security_token or "",
        "Expiration": expiration.strftime("%Y-%m-%dT%H:%M:%SZ"),
    }


def signs_for_the_emulator(settings: Settings, emulator: EmulatorServer) -> None:
    """A call signed with the chain's credentials, which the emulator alone knows."""
    credentials = settings.credentials()
    emulator.set_fleet(
        dataclasses.replace(
            sample_fleet(),
            access_keys={credentials.access_key_id: credentials.access_key_secret},
        )
    )
    with IotClient.from_settings(settings) as client:
        assert client.query_device_detail(LIGHT_PRODUCT_KEY, "light1").device_name == "light1"


def test_rrsa_exchanges_the_oidc_token_at_sts_for_credentials_that_sign(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, emulator: EmulatorServer
) -> None:
    rrsa = {
        "ALIBABA_CLOUD_ROLE_ARN": "acs:ram::1234567890123456:role/otabot",
        "ALIBABA_CLOUD_OIDC_PROVIDER_ARN": "acs:ram::1234567890123456:oidc-provider/ack-rrsa",
        "ALIBABA_CLOUD_OIDC_TOKEN_FILE": str(tmp_path / "token"),
        "ALIBABA_CLOUD_STS_REGION": "cn-hangzhou",
        "ALIBABA_CLOUD_VPC_ENDPOINT_ENABLED": "true",
        "OTABOT_IOT_ENDPOINT": emulator.url,
        **NO_ECS,
    }
    with pytest.raises(CredentialsNotFoundError, match="No such file or directory"):
        Settings.from_env(rrsa).credentials()
    (tmp_path / "token").write_text("eyJhbGciOiJSUzI1NiJ9.oidc-token-value.sig")
    sts = CannedApi().start()
    try:
        role = Credentials("STS.rrsa", "rrsa-secret-value", "rrsa-sts-token-value")
        sts.queue(Reply(body={"RequestId": "sts-1", "Credentials": sts_credentials(role)}))
        meant = divert(monkeypatch, sts)
        settings = Settings.from_env(rrsa)
        signs_for_the_emulator(settings, emulator)
    finally:
        sts.stop()
    assert settings.credentials() == role
    assert meant == ["sts-vpc.cn-hangzhou.aliyuncs.com"]
    (exchange,) = sts.received
    assert exchange.query["Action"] == "AssumeRoleWithOIDC"
    assert exchange.query["RoleArn"] == "acs:ram::1234567890123456:role/otabot"
    assert exchange.query["OIDCProviderArn"].endswith(":oidc-provider/ack-rrsa")
    assert exchange.query["OIDCToken"] == "eyJhbGciOiJSUzI1NiJ9.oidc-token-value.sig"
    assert exchange.query["RoleSessionName"] == "otabot"


def test_the_ecs_ram_role_credentials_come_from_instance_metadata(
    monkeypatch: pytest.MonkeyPatch, emulator: EmulatorServer
) -> None:
    metadata = CannedApi().start()
    try:
        role = Credentials("STS.ecs", "ecs-secret-value", "ecs-sts-token-value")
        # The IMDSv2 token request (PUT) is refused here, so the library asks as IMDSv1 does.
        metadata.queue(
            Reply(body=b"otabot-role"),
            Reply(body={"Code": "Success", **sts_credentials(role)}),
        )
        meant = divert(monkeypatch, metadata)
        settings = Settings.from_env({"OTABOT_IOT_ENDPOINT": emulator.url})
        signs_for_the_emulator(settings, emulator)
    finally:
        metadata.stop()
    assert set(meant) == {"100.100.100.200"}
    assert [request.path for request in metadata.received] == [
        "/latest/meta-data/ram/security-credentials/",
        "/latest/meta-data/ram/security-credentials/otabot-role",
    ]
    assert settings.credentials_provider.source == "ECS RAM role at 100.100.100.200"


@pytest.mark.parametrize("signature", ["v3", "v1"])
def test_rotated_credentials_from_a_uri_sign_the_next_call(
    api: CannedApi, emulator: EmulatorServer, signature: str
) -> None:
    api.queue(handed_out(FIRST))
    # Credentials that expire within the library's 15-minute margin are fetched again for
    # every attempt; the emulator knows only the key the URI hands out at that moment.
    fleet = sample_fleet()
    emulator.set_fleet(
        dataclasses.replace(fleet, access_keys={"STS.first": FIRST.access_key_secret})
    )
    settings = Settings.from_env(
        {
            "ALIBABA_CLOUD_CREDENTIALS_URI": uri_of(api),
            "OTABOT_IOT_ENDPOINT": emulator.url,
            "OTABOT_SIGNATURE": signature,
            **NO_ECS,
        }
    )
    with IotClient.from_settings(settings) as client:
        assert client.query_device_detail(LIGHT_PRODUCT_KEY, "light1").device_name == "light1"
        api.queue(handed_out(SECOND))
        emulator.set_fleet(
            dataclasses.replace(fleet, access_keys={"STS.second": SECOND.access_key_secret})
        )
        assert client.query_device_detail(LIGHT_PRODUCT_KEY, "light2").device_name == "light2"
    assert settings.quota_account == "STS.first"  # found at start, stays


def test_credentials_that_last_are_fetched_once(api: CannedApi) -> None:
    api.queue(handed_out(FIRST, expires_in=3600))
    chain = Settings.from_env(
        {"ALIBABA_CLOUD_CREDENTIALS_URI": uri_of(api), **NO_ECS}
    ).credentials_provider
    assert chain.current() == chain.current() == FIRST
    assert handed(api) == 1


def test_a_source_that_fails_later_makes_a_retryable_error_without_its_answer(
    api: CannedApi,
) -> None:
    api.queue(handed_out(FIRST))
    settings = Settings.from_env({"ALIBABA_CLOUD_CREDENTIALS_URI": uri_of(api), **NO_ECS})
    settings.credentials()
    api.queue(Reply(status=500, body={"Code": "Failure", "AccessKeySecret": "leaked-secret-value"}))
    with pytest.raises(CredentialsUnavailableError) as caught:
        settings.credentials()
    error = caught.value
    assert error.retryable and error.code == "otabot.CredentialsUnavailable"
    assert str(error).startswith("could not get credentials from credentials URI http://127.0.0.1:")
    assert "http_code=500" in str(error)
    for secret in ("leaked-secret-value", "uri-token"):
        assert secret not in str(error) + repr(error)


def test_no_secret_or_sts_token_in_logs_reprs_or_errors(
    api: CannedApi,
    emulator: EmulatorServer,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    api.queue(handed_out(FIRST))
    caplog.set_level(logging.DEBUG)
    emulator.set_fleet(
        dataclasses.replace(sample_fleet(), access_keys={"STS.first": FIRST.access_key_secret})
    )
    settings = Settings.from_env(
        {
            "ALIBABA_CLOUD_CREDENTIALS_URI": uri_of(api),
            "OTABOT_IOT_ENDPOINT": emulator.url,
            "OTABOT_SIGNATURE": "v1",  # the STS token travels in the URL
            "OTABOT_LOG_LEVEL": "DEBUG",
            **NO_ECS,
        }
    )
    logged = io.StringIO()
    with logging_to(settings, logged), IotClient.from_settings(settings) as client:
        client.query_device_detail(LIGHT_PRODUCT_KEY, "light1")
        api.queue(Reply(body={"Code": "Failure", "SecurityToken": "leaked-sts-token-value"}))
        with pytest.raises(CredentialsUnavailableError) as caught:
            # A deadline no retry fits in: the first attempt's error, with no backing off.
            client.query_device_detail(
                LIGHT_PRODUCT_KEY, "light1", deadline=time.monotonic() + 0.05
            )
        shown = [str(caught.value), repr(caught.value), repr(client)]
    shown += [repr(settings), repr(settings.credentials_provider), *capsys.readouterr()]
    everything = "\n".join([*shown, logged.getvalue()])
    assert "STS.first" in everything and "DEBUG" in everything
    for secret in (
        FIRST.access_key_secret,
        FIRST.security_token,
        "leaked-sts-token-value",
        "uri-token",
    ):
        assert secret not in everything
    # What otabot and the credential library log is clean before any mask is applied.
    for secret in (FIRST.access_key_secret, FIRST.security_token, "leaked-sts-token-value"):
        assert secret not in caplog.text


@contextmanager
def logging_to(settings: Settings, stream: io.StringIO) -> Iterator[None]:
    """otabot's logging set-up writing to ``stream``; the root logger as it was after."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    configure_logging(settings, stream, long_running=True)
    mine = [handler for handler in root.handlers if handler not in handlers]
    for handler in handlers:
        root.addHandler(handler)  # pytest's capture keeps recording too
    try:
        yield
    finally:
        for handler in mine:
            root.removeHandler(handler)
        root.setLevel(level)


def test_the_log_mask_knows_the_secrets_the_chain_handed_out(api: CannedApi) -> None:
    api.queue(handed_out(FIRST))
    chain = Settings.from_env(
        {"ALIBABA_CLOUD_CREDENTIALS_URI": uri_of(api), **NO_ECS}
    ).credentials_provider
    chain.current()
    api.queue(handed_out(SECOND))
    chain.current()
    assert set(chain.secrets()) >= {
        FIRST.access_key_secret,
        FIRST.security_token,
        SECOND.access_key_secret,
        SECOND.security_token,
    }


def test_the_library_never_falls_back_on_the_environment_it_copied(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A profile without keys would make the library take the ones it read from os.environ
    # when it was imported; otabot blanks that copy, so nothing it did not read gets in.
    from alibabacloud_credentials.utils import auth_util

    monkeypatch.setattr(auth_util, "environment_access_key_id", "leaked-id")
    monkeypatch.setattr(auth_util, "environment_access_key_secret", "leaked-secret")
    config = write_cli_config(tmp_path / "config.json", {"name": "default", "mode": "AK"})
    settings = Settings.from_env({"OTABOT_ALIYUN_CONFIG": str(config), **NO_ECS})
    with pytest.raises(CredentialsNotFoundError) as caught:
        settings.credentials()
    assert "access key id is empty" in str(caught.value)


def test_the_chain_says_where_its_credentials_come_from_and_nothing_more() -> None:
    chain = CredentialChain.from_settings(
        Settings(access_key_id="LTAIkey", access_key_secret="very-secret-value")
    )
    assert repr(chain) == "CredentialChain(not looked yet)"
    chain.current()
    assert repr(chain) == "CredentialChain(source='environment', access_key_id='LTAIkey')"
