"""Login hosts and base URLs (target_salesforce_out.login_hosts), as tables.

The whole-run behaviour (exit code 2, no call made) is in tests/target/test_target_config.py
and tests/target/test_user_mistakes.py; these name each case.
"""

from __future__ import annotations

import pytest

from target_salesforce_out.login_hosts import (
    check_url_scheme,
    domain_is_sandbox,
    domain_problems,
    is_generic_login,
    is_loopback_host,
)


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        pytest.param("127.0.0.1", True, id="ipv4-loopback"),
        pytest.param("127.9.9.9", True, id="ipv4-loopback-range"),
        pytest.param("[::1]", True, id="ipv6-loopback-bracketed"),
        pytest.param("LOCALHOST", True, id="localhost-any-case"),
        pytest.param("10.0.0.1", False, id="private-address"),
        pytest.param("localhost.example.com", False, id="name-starting-localhost"),
        pytest.param("", False, id="empty"),
        pytest.param(None, False, id="none"),
    ],
)
def test_is_loopback_host(host, expected):
    assert is_loopback_host(host) is expected


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        pytest.param("https://acme.my.salesforce.com", [], id="https"),
        pytest.param("http://127.0.0.1:8085", [], id="http-loopback"),
        pytest.param(
            "http://acme.my.salesforce.com",
            [
                "instance_url: plain http:// is only allowed to loopback hosts (127.0.0.1, "
                "localhost, ::1), not 'acme.my.salesforce.com'; use https://"
            ],
            id="http-remote",
        ),
        pytest.param(
            "acme.my.salesforce.com",
            ["instance_url: 'acme.my.salesforce.com' is not an https:// URL"],
            id="no-scheme",
        ),
        pytest.param("https://", ["instance_url: 'https://' is not an https:// URL"], id="no-host"),
    ],
)
def test_check_url_scheme(url, expected):
    assert check_url_scheme(url, "instance_url") == expected


@pytest.mark.parametrize(
    ("domain", "expected"),
    [
        pytest.param("test", True, id="test"),
        pytest.param("https://test.salesforce.com", True, id="test-url"),
        pytest.param("acme--uat.sandbox.my.salesforce.com", True, id="sandbox-my-domain"),
        pytest.param("login", False, id="login"),
        pytest.param("login.salesforce.com", False, id="login-host"),
        pytest.param("acme.my.salesforce.com", False, id="my-domain"),
        pytest.param("http://127.0.0.1:8085", None, id="emulator"),
        pytest.param("salesforce.acme.com", None, id="other-host"),
    ],
)
def test_domain_is_sandbox(domain, expected):
    assert domain_is_sandbox(domain) is expected


@pytest.mark.parametrize(
    ("domain", "is_sandbox", "expected"),
    [
        pytest.param(None, None, True, id="default-login"),
        pytest.param(None, True, True, id="sandbox-flag"),
        pytest.param("https://login.salesforce.com/", None, True, id="login-url"),
        pytest.param("TEST", None, True, id="test-any-case"),
        pytest.param("acme.my.salesforce.com", None, False, id="my-domain"),
        pytest.param("http://127.0.0.1:8085", None, False, id="emulator"),
    ],
)
def test_is_generic_login(domain, is_sandbox, expected):
    assert is_generic_login(domain, is_sandbox) is expected


@pytest.mark.parametrize(
    ("domain", "expected"),
    [
        pytest.param("login", None, id="login"),
        pytest.param("Test/", None, id="test-trailing-slash"),
        pytest.param("acme.my.salesforce.com", None, id="my-domain"),
        pytest.param("https://acme.my.salesforce.com", None, id="https-url"),
        pytest.param("http://127.0.0.1:8085", None, id="emulator"),
        pytest.param("localhost:8085", None, id="localhost-port"),
        pytest.param("logn", "did you mean 'login'?", id="typo-of-login"),
        pytest.param("acme", "did you mean 'acme.my.salesforce.com'?", id="bare-name"),
        pytest.param(
            "https//acme.my.salesforce.com",
            "did you mean 'https://acme.my.salesforce.com'?",
            id="scheme-without-colon",
        ),
        pytest.param(
            "htps://acme.my.salesforce.com",
            "did you mean 'https://acme.my.salesforce.com'?",
            id="misspelt-scheme",
        ),
        pytest.param("ftp://acme.example", "is not an http(s):// URL; use https://", id="ftp"),
        pytest.param("https://acme:x", "has a port that is not a number", id="bad-port"),
        pytest.param("https:///path", "has no host name after https://", id="no-host"),
        pytest.param("acme.my.salesforce.com/x", "is not login, test, a host name", id="path"),
        pytest.param("http://acme.example", "plain http:// is only allowed", id="http-remote"),
    ],
)
def test_domain_problems(domain, expected):
    problems = domain_problems(domain)
    if expected is None:
        assert problems == []
    else:
        assert len(problems) == 1
        assert expected in problems[0]
