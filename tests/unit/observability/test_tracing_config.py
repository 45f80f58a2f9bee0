"""Tracing configuration from flags and OTEL_* variables; the off state costs no spans."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from opentelemetry.trace import SpanKind

from a2a_mqtt.errors import ConfigError
from a2a_mqtt.examples.basic import EchoExecutor
from a2a_mqtt.observability import tracing
from a2a_mqtt.observability.executor import traced_executor
from a2a_mqtt.observability.tracing import TracingConfig


def cfg(env: dict[str, str], **flags: object) -> TracingConfig:
    return TracingConfig.from_env(env, service_name="svc", **flags)  # type: ignore[arg-type]


def test_off_without_an_endpoint() -> None:
    c = cfg({})
    assert not c.enabled
    assert (c.sample_ratio, c.service_name) == (1.0, "svc")


def test_endpoints_flag_then_traces_variable_then_base_variable() -> None:
    env = {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://base:4318/",
           "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://t:4318/custom"}
    assert cfg(env).endpoint == "http://t:4318/custom"  # used as is
    del env["OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"]
    assert cfg(env).endpoint == "http://base:4318/v1/traces"
    assert cfg(env, endpoint="http://flag:1").endpoint == "http://flag:1/v1/traces"
    assert cfg({}, endpoint="http://flag:1/v1/traces").endpoint == "http://flag:1/v1/traces"


@pytest.mark.parametrize("off", [{"OTEL_SDK_DISABLED": "true"},
                                 {"OTEL_TRACES_EXPORTER": "none"}])
def test_standard_switches_turn_the_variables_off_but_not_a_flag(off: dict[str, str]) -> None:
    env = {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://base:4318", **off}
    assert not cfg(env).enabled
    assert cfg(env, endpoint="http://flag:1").enabled


def test_sampler_variables_and_flag() -> None:
    assert cfg({"OTEL_TRACES_SAMPLER": "parentbased_traceidratio",
                "OTEL_TRACES_SAMPLER_ARG": "0.25"}).sample_ratio == 0.25
    assert cfg({"OTEL_TRACES_SAMPLER": "always_off"}).sample_ratio == 0.0
    assert cfg({"OTEL_TRACES_SAMPLER": "traceidratio",
                "OTEL_TRACES_SAMPLER_ARG": "0.5"}, sample_ratio=0.01).sample_ratio == 0.01
    assert cfg({"OTEL_SERVICE_NAME": " named "}).service_name == "named"


@pytest.mark.parametrize("env", [
    {"OTEL_TRACES_SAMPLER": "parentbased_traceidratio", "OTEL_TRACES_SAMPLER_ARG": "lots"},
    {"OTEL_TRACES_SAMPLER": "traceidratio", "OTEL_TRACES_SAMPLER_ARG": "1.5"},
    {"OTEL_TRACES_SAMPLER": "jaeger_remote"},
    {"OTEL_EXPORTER_OTLP_ENDPOINT": "grpc://collector:4317"},
    {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://[::1"},
    {"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://collector:port/v1/traces"},
    {"A2A_MQTT_TRACE_EXPORT": "thread"},
])
def test_bad_values_are_config_errors(env: dict[str, str]) -> None:
    with pytest.raises(ConfigError):
        cfg(env)


def test_spans_leave_from_the_export_process_unless_told_inline() -> None:
    assert cfg({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://h:1"}).export_process
    assert not cfg({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://h:1",
                    "A2A_MQTT_TRACE_EXPORT": " Inline "}).export_process
    assert cfg({"A2A_MQTT_TRACE_EXPORT": "process"}).export_process


_KEYS = st.sampled_from(["A2A_MQTT_TRACE_EXPORT", "OTEL_SDK_DISABLED", "OTEL_TRACES_EXPORTER",
                         "OTEL_SERVICE_NAME",
                         "OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
                         "OTEL_TRACES_SAMPLER", "OTEL_TRACES_SAMPLER_ARG"])
_VALUES = st.one_of(st.text(max_size=40), st.sampled_from(
    ["true", "inline", "process", "none", "http://h:1", "https://h", "traceidratio",
     "always_on", "0.3", "nan",
     "http://[::1", "http://h:x", "http://h:99999"]))


@given(st.dictionaries(_KEYS, _VALUES))
def test_any_environment_is_a_config_or_a_config_error(env: dict[str, str]) -> None:
    try:
        c = cfg(env)
    except ConfigError:
        return
    assert 0.0 <= c.sample_ratio <= 1.0
    assert c.service_name.strip()
    assert c.endpoint is None or c.endpoint.startswith(("http://", "https://"))


def test_while_off_no_span_no_wrapper_no_properties() -> None:
    assert tracing.tracer() is None
    with tracing.span("x", kind=SpanKind.INTERNAL) as s:
        assert s is None
    with tracing.client_span("SendMessage", "t") as s:
        assert s is None
    with tracing.server_span([("traceparent", "00-" + "1" * 32 + "-" + "2" * 16 + "-01")],
                             "t") as s:
        assert s is None
    executor = EchoExecutor()
    assert traced_executor(executor) is executor
