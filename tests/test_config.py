"""Settings.from_env: every variable read, defaults, and failures that name the variable."""

from __future__ import annotations

import pytest

from otabot.config import ConfigError, Settings
from otabot.iot.actions import documented_qps
from tests.helpers import LIGHT_PRODUCT_KEY, METER_PRODUCT_KEY


def refusal(env: dict[str, str]) -> ConfigError:
    """The ConfigError ``Settings.from_env(env)`` raises (failing the test if it does not)."""
    with pytest.raises(ConfigError) as caught:
        Settings.from_env(env)
    return caught.value


def test_defaults_match_the_spec() -> None:
    settings = Settings.from_env({})
    assert settings.region_id == "cn-shanghai"
    assert settings.endpoint == "https://iot.cn-shanghai.aliyuncs.com"
    assert settings.signature == "v3"
    assert settings.api_qps == {name: float(qps) for name, qps in documented_qps().items()}
    assert settings.quota_account_name is None
    assert settings.cache_ttl == 60
    assert settings.page_size == 5
    assert settings.max_jobs == 1000
    assert settings.log_level is None  # each command's own: INFO for serve, ERROR for jobs
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
            "OTABOT_DEFAULT_PRODUCT_KEY": LIGHT_PRODUCT_KEY,
            "OTABOT_PRODUCT_ALIASES": f"light={LIGHT_PRODUCT_KEY}, meter={METER_PRODUCT_KEY}",
            "OTABOT_API_QPS": "5",
            "OTABOT_CACHE_TTL": "30",
            "OTABOT_PAGE_SIZE": "8",
            "OTABOT_MAX_JOBS": "200",
            "OTABOT_REDIS_URL": "redis://127.0.0.1:6379/0",
            "OTABOT_ALLOWED_TEAMS": "T1,T2",
            "OTABOT_ALLOWED_CHANNELS": "C1",
            "OTABOT_ALLOWED_USERS": "U1, U2 ,",
            "OTABOT_ALLOWED_PRODUCTS": LIGHT_PRODUCT_KEY,
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
    assert settings.product_aliases == {"light": LIGHT_PRODUCT_KEY, "meter": METER_PRODUCT_KEY}
    assert settings.resolve_product("light") == LIGHT_PRODUCT_KEY
    assert settings.resolve_product(METER_PRODUCT_KEY) == METER_PRODUCT_KEY
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
        # the credential chain's own
        ("ALIBABA_CLOUD_ROLE_ARN", "arn:aws:iam::1:role/x"),
        ("ALIBABA_CLOUD_ECS_METADATA_DISABLED", "yes"),
        ("ALIBABA_CLOUD_STS_REGION", "Hangzhou!"),
        ("ALIBABA_CLOUD_ROLE_SESSION_NAME", "a b"),
        ("ALIBABA_CLOUD_PROFILE", "my profile"),
    ],
)
def test_a_malformed_variable_is_named(variable: str, value: str) -> None:
    refused = refusal({variable: value})
    assert refused.variable == variable
    assert variable in str(refused)


def test_half_an_access_key_is_refused() -> None:
    refused = refusal({"ALIBABA_CLOUD_ACCESS_KEY_ID": "id"})
    assert refused.variable == "ALIBABA_CLOUD_ACCESS_KEY_SECRET"


def test_a_drain_grace_as_long_as_the_drain_is_refused() -> None:
    refused = refusal({"OTABOT_DRAIN_GRACE": "60", "OTABOT_DRAIN_TIMEOUT": "3"})
    assert refused.variable == "OTABOT_DRAIN_GRACE"
    assert "shorter than OTABOT_DRAIN_TIMEOUT (3 s)" in str(refused)
    settings = Settings.from_env({"OTABOT_DRAIN_GRACE": "2", "OTABOT_DRAIN_TIMEOUT": "3"})
    assert (settings.drain_grace, settings.drain_timeout) == (2.0, 3.0)


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


def test_api_qps_takes_a_rate_per_action() -> None:
    settings = Settings.from_env({"OTABOT_API_QPS": "8,QueryDeviceDetail=40"})
    assert settings.api_qps["QueryDeviceDetail"] == 40
    assert settings.api_qps["ListOTAJobByDevice"] == 8


NO_ECS = {"ALIBABA_CLOUD_ECS_METADATA_DISABLED": "true"}
AK = {"ALIBABA_CLOUD_ACCESS_KEY_ID": "LTAIkey", "ALIBABA_CLOUD_ACCESS_KEY_SECRET": "s3cr3t"}


@pytest.mark.parametrize(
    "variable",
    [
        "OTABOT_IOT_ENDPOINT",
        "SLACK_API_URL",
        "ALIBABA_CLOUD_CREDENTIALS_URI",
        "HTTPS_PROXY",
        "HTTP_PROXY",
        "OTABOT_REDIS_URL",
    ],
)
@pytest.mark.parametrize("port", ["99999", "0", "notaport", ""])
def test_every_url_setting_refuses_a_port_outside_1_to_65535(variable: str, port: str) -> None:
    scheme = "redis" if variable == "OTABOT_REDIS_URL" else "http"
    refused = refusal({variable: f"{scheme}://127.0.0.1:{port}/0"})
    assert refused.variable == variable
    assert "port" in refused.problem


@pytest.mark.parametrize("variable", ["OTABOT_IOT_ENDPOINT", "SLACK_API_URL", "HTTPS_PROXY"])
def test_url_settings_take_ports_1_and_65535(variable: str) -> None:
    for port in (1, 65535):
        Settings.from_env({variable: f"http://127.0.0.1:{port}"})


@pytest.mark.parametrize(
    ("url", "complaint"),
    [
        ("redis://:hunter2pass@127.0.0.1:notaport/0", "port"),
        ("redis://:hunter2pass@127.0.0.1:6379/abc", "database 'abc' is not a whole number"),
        ("redis://:hunter2pass@127.0.0.1:6379/0?db=x", "is not a Redis URL"),
        ("redis://:hunter2pass@/0", "names no host"),
        ("unix://", "names no socket path"),
        ("http://127.0.0.1:6379", "is not a Redis URL"),
    ],
)
def test_a_malformed_redis_url_is_named_without_its_password(url: str, complaint: str) -> None:
    refused = refusal({"OTABOT_REDIS_URL": url})
    assert refused.variable == "OTABOT_REDIS_URL"
    assert complaint in str(refused)
    assert "hunter2pass" not in str(refused)


@pytest.mark.parametrize(
    "url",
    [
        "redis://127.0.0.1:6379/0",
        "redis://:pw@127.0.0.1/15",
        "rediss://user:pw@redis.example:6380",
        "redis://127.0.0.1:6379/",
        "unix:///run/redis.sock?db=2",
    ],
)
def test_redis_urls_redis_py_reads_as_written_are_taken(url: str) -> None:
    assert Settings.from_env({"OTABOT_REDIS_URL": url}).redis_url == url


def test_a_url_in_an_error_shows_no_password_and_no_query() -> None:
    refused = refusal({"SLACK_API_URL": "ftp://user:hunter2pass@example/api?token=abc123"})
    assert "hunter2pass" not in str(refused) and "abc123" not in str(refused)
    assert "ftp://user:***@example/api?…" in str(refused)


def test_the_chain_sources_are_read_from_their_official_variables() -> None:
    sources = Settings.from_env(
        {
            "HOME": "/home/oncall",
            "ALIBABA_CLOUD_ROLE_ARN": "acs:ram::1234567890123456:role/otabot",
            "ALIBABA_CLOUD_OIDC_PROVIDER_ARN": "acs:ram::1234567890123456:oidc-provider/rrsa-c1",
            "ALIBABA_CLOUD_OIDC_TOKEN_FILE": "/var/run/secrets/ack.alibabacloud.com/token",
            "ALIBABA_CLOUD_ROLE_SESSION_NAME": "otabot-pod-1",
            "ALIBABA_CLOUD_STS_REGION": "cn-hangzhou",
            "ALIBABA_CLOUD_VPC_ENDPOINT_ENABLED": "TRUE",
            "ALIBABA_CLOUD_PROFILE": "oncall",
            "ALIBABA_CLOUD_CREDENTIALS_URI": "http://127.0.0.1:8080/credentials",
            "ALIBABA_CLOUD_ECS_METADATA": "otabot-role",
            "ALIBABA_CLOUD_IMDSV1_DISABLED": "true",
        }
    ).credential_sources
    assert sources.rrsa and sources.role_session_name == "otabot-pod-1"
    assert sources.sts_endpoint == "sts-vpc.cn-hangzhou.aliyuncs.com"
    assert sources.profile_name == "oncall"
    assert sources.cli_profile_file == "/home/oncall/.aliyun/config.json"
    assert sources.credentials_file == "/home/oncall/.alibabacloud/credentials.ini"
    assert sources.credentials_uri == "http://127.0.0.1:8080/credentials"
    assert sources.ecs_metadata and sources.ecs_role_name == "otabot-role"
    assert sources.imds_v1_disabled


def test_the_profile_files_can_be_named_and_the_sources_switched_off() -> None:
    sources = Settings.from_env(
        {
            "HOME": "/home/oncall",
            "OTABOT_ALIYUN_CONFIG": "/etc/otabot/aliyun.json",
            "ALIBABA_CLOUD_CREDENTIALS_FILE": "/etc/otabot/credentials.ini",
            **NO_ECS,
        }
    ).credential_sources
    assert sources.cli_profile_file == "/etc/otabot/aliyun.json"
    assert sources.credentials_file == "/etc/otabot/credentials.ini"
    assert not sources.ecs_metadata
    off = Settings.from_env({"ALIBABA_CLOUD_CLI_PROFILE_DISABLED": "true"}).credential_sources
    assert off.cli_profile_disabled and off.cli_profile_file is None


def test_defaults_look_where_the_official_chain_looks() -> None:
    sources = Settings.from_env({"HOME": "/root"}).credential_sources
    assert sources.sts_endpoint == "sts.aliyuncs.com"
    assert sources.ecs_metadata and not sources.rrsa
    assert sources.cli_profile_file == "/root/.aliyun/config.json"


def test_half_an_rrsa_configuration_names_what_is_missing() -> None:
    with pytest.raises(ConfigError) as caught:
        Settings.from_env(
            {
                "ALIBABA_CLOUD_ROLE_ARN": "acs:ram::1234567890123456:role/otabot",
                "ALIBABA_CLOUD_OIDC_TOKEN_FILE": "/var/run/token",
            }
        )
    assert caught.value.variable == "ALIBABA_CLOUD_OIDC_PROVIDER_ARN"


def test_the_quota_account_is_the_access_key_found_at_start_or_the_named_one() -> None:
    assert Settings.from_env(AK).quota_account == "LTAIkey"
    named = Settings.from_env({**AK, "OTABOT_QUOTA_ACCOUNT": "1234567890123456"})
    assert named.quota_account == "1234567890123456"


def test_serve_requirements_are_reported_all_at_once() -> None:
    with pytest.raises(ConfigError) as caught:
        Settings.from_env(NO_ECS).require_serve(socket_mode=False)
    message = str(caught.value)
    assert message.count(";") >= 2 and "\n" not in message
    assert message.startswith("SLACK_BOT_TOKEN: is required")
    assert "SLACK_SIGNING_SECRET: is required in HTTP mode (or set SLACK_APP_TOKEN" in message
    assert "no Alibaba Cloud credentials found" in message


def test_socket_mode_needs_no_signing_secret_and_forced_http_suggests_no_socket_mode() -> None:
    settings = Settings.from_env({**AK, "SLACK_BOT_TOKEN": "xoxb-1"})
    settings.require_serve(socket_mode=True)
    with pytest.raises(ConfigError) as caught:
        settings.require_serve(socket_mode=False)
    assert caught.value.variable == "SLACK_SIGNING_SECRET"
    forced = Settings.from_env({**AK, "SLACK_BOT_TOKEN": "xoxb-1", "SLACK_APP_TOKEN": "xapp-1"})
    with pytest.raises(ConfigError) as caught:
        forced.require_serve(socket_mode=False)
    assert "SLACK_APP_TOKEN" not in str(caught.value)


def test_otabot_variables_it_does_not_read_are_named_with_the_nearest_it_does() -> None:
    settings = Settings.from_env(
        {
            "OTABOT_PAGESIZE": "3",  # a typo: the page size stays 5 without a word otherwise
            "OTABOT_PAGE_SIZE": "4",
            "OTABOT_SOMETHING": "1",
            "OTABOT_REQUIRE_REDIS": "1",  # the test suite's, not otabot's
            "OTABOT_BENCH_REDIS_URL": "redis://127.0.0.1/6",
        }
    )
    assert settings.page_size == 4
    assert settings.unread_notes() == [
        "OTABOT_PAGESIZE is set but is not a setting otabot reads — did you mean OTABOT_PAGE_SIZE?",
        "OTABOT_SOMETHING is set but is not a setting otabot reads",
    ]
    assert Settings.from_env({"OTABOT_PAGE_SIZE": "4"}).unread_notes() == []
