"""Settings.from_env: every variable read, defaults, and failures that name the variable."""

from __future__ import annotations

import pytest

from otabot.config import ConfigError, Settings
from otabot.iot.actions import documented_qps


def test_defaults_match_the_spec() -> None:
    settings = Settings.from_env({})
    assert settings.region_id == "cn-shanghai"
    assert settings.endpoint == "https://iot.cn-shanghai.aliyuncs.com"
    assert settings.signature == "v3"
    assert settings.api_qps == {name: float(qps) for name, qps in documented_qps().items()}
    assert settings.quota_account == "anonymous"
    assert settings.cache_ttl == 60
    assert settings.page_size == 5
    assert settings.max_jobs == 1000
    assert settings.log_level == "INFO"
    assert settings.log_format == "text"
    assert settings.allowed_users == frozenset()
    assert settings.redis_url is None
    assert (settings.watch_interval, settings.watch_ttl, settings.max_watches) == (30, 86_400, 50)


def test_every_variable_is_read() -> None:
    settings = Settings.from_env(
        {
            "SLACK_BOT_TOKEN": "xoxb-1",
            "SLACK_SIGNING_SECRET": "shh",
            "SLACK_APP_TOKEN": "xapp-1",
            "SLACK_API_URL": "http://127.0.0.1:1/api/",
            "ALIBABA_CLOUD_ACCESS_KEY_ID": "id",
            "ALIBABA_CLOUD_ACCESS_KEY_SECRET": "secret",
            "ALIBABA_CLOUD_SECURITY_TOKEN": "sts",
            "ALIBABA_CLOUD_REGION_ID": "ap-southeast-1",
            "OTABOT_IOT_ENDPOINT": "http://127.0.0.1:9000/",
            "OTABOT_IOT_INSTANCE_ID": "iot-cn-0pp1n8t",
            "OTABOT_SIGNATURE": "V1",
            "OTABOT_DEFAULT_PRODUCT_KEY": "a19mzPZabcd",
            "OTABOT_PRODUCT_ALIASES": "light=a19mzPZabcd, meter=a1B2c3D4e5F",
            "OTABOT_API_QPS": "5",
            "OTABOT_CACHE_TTL": "30",
            "OTABOT_PAGE_SIZE": "8",
            "OTABOT_MAX_JOBS": "200",
            "OTABOT_REDIS_URL": "redis://127.0.0.1:6379/0",
            "OTABOT_ALLOWED_TEAMS": "T1,T2",
            "OTABOT_ALLOWED_CHANNELS": "C1",
            "OTABOT_ALLOWED_USERS": "U1, U2 ,",
            "OTABOT_ALLOWED_PRODUCTS": "a19mzPZabcd",
            "OTABOT_LOG_LEVEL": "debug",
            "OTABOT_LOG_FORMAT": "JSON",
            "OTABOT_CONNECT_TIMEOUT": "2",
            "OTABOT_READ_TIMEOUT": "4",
            "OTABOT_WATCH_INTERVAL": "10",
            "OTABOT_WATCH_TTL": "3600",
            "OTABOT_MAX_WATCHES": "7",
        }
    )
    assert settings.endpoint == "http://127.0.0.1:9000"
    assert settings.signature == "v1"
    assert settings.product_aliases == {"light": "a19mzPZabcd", "meter": "a1B2c3D4e5F"}
    assert settings.resolve_product("light") == "a19mzPZabcd"
    assert settings.resolve_product("a1B2c3D4e5F") == "a1B2c3D4e5F"
    assert settings.allowed_users == {"U1", "U2"}
    assert settings.allowed_teams == {"T1", "T2"}
    assert set(settings.api_qps.values()) == {5}
    assert (settings.cache_ttl, settings.page_size) == (30, 8)
    assert settings.max_jobs == 200
    assert (settings.log_level, settings.log_format) == ("DEBUG", "json")
    assert (settings.connect_timeout, settings.read_timeout) == (2, 4)
    assert (settings.watch_interval, settings.watch_ttl, settings.max_watches) == (10, 3600, 7)
    credentials = settings.credentials()
    assert credentials.security_token == "sts"


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("OTABOT_SIGNATURE", "v2"),
        ("OTABOT_API_QPS", "fast"),
        ("OTABOT_API_QPS", "0"),
        ("OTABOT_API_QPS", "Pub=3"),
        ("OTABOT_QUOTA_ACCOUNT", "acct\n1"),
        ("OTABOT_CACHE_TTL", "-1"),
        ("OTABOT_PAGE_SIZE", "2.5"),
        ("OTABOT_PAGE_SIZE", "0"),
        ("OTABOT_MAX_JOBS", "many"),
        ("OTABOT_WATCH_INTERVAL", "1"),
        ("OTABOT_WATCH_INTERVAL", "soon"),
        ("OTABOT_WATCH_TTL", "30"),
        ("OTABOT_MAX_WATCHES", "0"),
        ("OTABOT_MAX_WATCHES", "5.5"),
        ("OTABOT_IOT_ENDPOINT", "127.0.0.1:9000"),
        ("SLACK_API_URL", "ftp://example"),
        ("OTABOT_REDIS_URL", "http://127.0.0.1:6379"),
        ("OTABOT_PRODUCT_ALIASES", "light"),
        ("OTABOT_PRODUCT_ALIASES", "light=a1,light=a2"),
        ("OTABOT_ALLOWED_USERS", "U1,<!channel>"),
        ("OTABOT_DEFAULT_PRODUCT_KEY", "a b"),
        ("OTABOT_LOG_LEVEL", "LOUD"),
        ("OTABOT_LOG_FORMAT", "xml"),
        ("ALIBABA_CLOUD_REGION_ID", "Shanghai!"),
        ("SLACK_APP_TOKEN", "xoxb-not-an-app-token"),
        ("SLACK_BOT_TOKEN", "xapp-not-a-bot-token"),
    ],
)
def test_a_malformed_variable_is_named(variable: str, value: str) -> None:
    with pytest.raises(ConfigError) as caught:
        Settings.from_env({variable: value})
    assert caught.value.variable == variable
    assert variable in str(caught.value)


def test_half_an_access_key_is_refused() -> None:
    with pytest.raises(ConfigError) as caught:
        Settings.from_env({"ALIBABA_CLOUD_ACCESS_KEY_ID": "id"})
    assert caught.value.variable == "ALIBABA_CLOUD_ACCESS_KEY_SECRET"


def test_missing_credentials_name_the_variable() -> None:
    with pytest.raises(ConfigError) as caught:
        Settings.from_env({}).credentials()
    assert caught.value.variable == "ALIBABA_CLOUD_ACCESS_KEY_ID"


def test_http_mode_needs_the_signing_secret_but_socket_mode_does_not() -> None:
    settings = Settings.from_env({"SLACK_BOT_TOKEN": "xoxb-1"})
    settings.require_slack(socket_mode=True)
    with pytest.raises(ConfigError) as caught:
        settings.require_slack(socket_mode=False)
    assert caught.value.variable == "SLACK_SIGNING_SECRET"


def test_secrets_stay_out_of_repr() -> None:
    settings = Settings.from_env(
        {
            "ALIBABA_CLOUD_ACCESS_KEY_ID": "id",
            "ALIBABA_CLOUD_ACCESS_KEY_SECRET": "very-secret-value",
            "ALIBABA_CLOUD_SECURITY_TOKEN": "sts-token-value",
            "SLACK_BOT_TOKEN": "xoxb-bot-token-value",
            "SLACK_SIGNING_SECRET": "signing-secret-value",
        }
    )
    text = repr(settings) + repr(settings.credentials())
    for secret in (
        "very-secret-value",
        "sts-token-value",
        "xoxb-bot-token-value",
        "signing-secret-value",
    ):
        assert secret not in text


def test_the_quota_account_defaults_to_the_access_key_id_and_can_be_named() -> None:
    keys = {"ALIBABA_CLOUD_ACCESS_KEY_ID": "LTAIkey", "ALIBABA_CLOUD_ACCESS_KEY_SECRET": "s"}
    assert Settings.from_env(keys).quota_account == "LTAIkey"
    named = Settings.from_env({**keys, "OTABOT_QUOTA_ACCOUNT": "1234567890123456"})
    assert named.quota_account == "1234567890123456"


def test_api_qps_takes_a_rate_per_action() -> None:
    settings = Settings.from_env({"OTABOT_API_QPS": "8,QueryDeviceDetail=40"})
    assert settings.api_qps["QueryDeviceDetail"] == 40
    assert settings.api_qps["ListOTAJobByDevice"] == 8
