"""Traffic: what each node's edge proxy (HAProxy) should route, as pure values.

``model`` holds the desired proxy configuration (listeners, backends, servers and their
rotation state); ``haproxy`` renders it as a haproxy.cfg; ``runtime`` builds the Runtime API
lines that change rotation without a reload and reads HAProxy's answers; ``sync`` computes
the commands that take a running HAProxy to the desired configuration. No I/O here: the
socket is spoken to by ``tui_orch.nodes.proxyapi``.
"""
