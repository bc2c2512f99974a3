"""etcd:// state URLs (store/target.py): what a user types is understood, and a mistake gets
one message saying what is wrong, never a traceback; a password never goes in a URL."""

from __future__ import annotations

import os

import pytest

from tui_orch.errors import StoreError
from tui_orch.store import EtcdTarget, state_target
from tui_orch.store.target import parse_etcd


def test_hosts_prefix_and_defaults():
    t = parse_etcd("etcd://e1:2379,e2:2380,e3/prod/web")
    assert t.endpoints == ("http://e1:2379", "http://e2:2380", "http://e3:2379")
    assert t.prefix == "/prod/web" and t.ttl == 5.0 and t.user is None
    assert parse_etcd("etcd://e1:2379").prefix == "/tui-orch"
    assert str(t) == "etcd://e1:2379,e2:2380,e3:2379/prod/web" == t.spec
    assert isinstance(state_target("etcd://e1:2379/x"), EtcdTarget)
    assert not isinstance(state_target("/srv/state"), EtcdTarget)


def test_tls_user_and_ttl(tmp_path, monkeypatch):
    ca = tmp_path / "ca.pem"
    ca.write_text("x")
    t = parse_etcd(f"etcd://ops@e1:2379/p?ca={ca}&ttl=8")
    assert t.endpoints == ("https://e1:2379",) and t.ca == str(ca) and t.user == "ops" and t.ttl == 8
    assert t.spec == f"etcds://ops@e1:2379/p?ca={ca}&ttl=8"
    assert parse_etcd(t.spec) == t  # what a unit file or a forwarded command is given opens the same state
    assert parse_etcd("etcds://e1:2379").endpoints == ("https://e1:2379",)
    monkeypatch.delenv("TUI_ORCH_ETCD_PASSWORD", raising=False)
    with pytest.raises(StoreError, match=r"TUI_ORCH_ETCD_PASSWORD"):
        t.client()
    monkeypatch.setenv("TUI_ORCH_ETCD_PASSWORD", "s3cret")
    client = t.client()
    assert client.user == "ops" and "s3cret" not in repr(t) + t.spec + str(t)


@pytest.mark.parametrize("url, says", [
    ("etcd://ops:s3cret@e1:2379/p", "TUI_ORCH_ETCD_PASSWORD, not in the URL"),
    ("etcd:///p", "name at least one etcd member"),
    ("etcd://e1:99999/p", "is not HOST:PORT"),
    ("etcd://e1:abc/p", "is not HOST:PORT"),
    ("etcd://e1:2379/p?tls=1", "unknown option 'tls'"),
    ("etcd://e1:2379/p?ttl=1", "2 to 600 seconds"),
    ("etcd://e1:2379/p?ttl=soon", "not a whole number of seconds"),
    ("etcd://e1:2379/p?ca=/nonexistent/ca.pem", "does not exist"),
])
def test_mistakes_get_one_message(url, says):
    with pytest.raises(StoreError) as refused:
        parse_etcd(url)
    assert says in str(refused.value)
    assert "s3cret" not in str(refused.value)


def test_the_local_folder_depends_on_the_url_only(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path))
    a, b = parse_etcd("etcd://e1:2379/a"), parse_etcd("etcd://e1:2379/b")
    assert os.fspath(a) != os.fspath(b) and os.fspath(a) == os.fspath(parse_etcd("etcd://e1:2379/a"))
    assert os.fspath(a).startswith(str(tmp_path))
