"""From what a running HAProxy reports to what is desired: Runtime API commands, or a reload.

Order of the commands, so that a backend that has a ready server and should keep one never
passes through zero: servers are added (HAProxy adds them in maint) and moved, then set
ready, and only then are others drained, put in maint, and removed.

A server that is no longer desired leaves in two passes unless it is already in maint: first
maint and `shutdown sessions`, then (next pass, once HAProxy has closed its connections)
`del server`, which HAProxy refuses while a connection is attached. The controller drains a
replica (state drain) before it stops desiring it, so the sessions cut are only those that
outlived the replica's stop grace period.
"""

from __future__ import annotations

from tui_orch.traffic import runtime
from tui_orch.traffic.haproxy import layout_digest
from tui_orch.traffic.model import Backend, ProxyConfig
from tui_orch.traffic.runtime import ServerStatus


def needs_reload(desired: ProxyConfig, layout_answer: str) -> bool:
    """True when the running configuration's layout (answer to runtime.show_layout()) is not
    the desired one: listeners, backends or the admin socket differ."""
    return runtime.parse_layout(layout_answer) != layout_digest(desired)


def _phases(backend: Backend, current: dict[str, ServerStatus]) -> list[list[str]]:
    """This backend's commands in five phases: add/move, ready, drain, maint, remove."""
    add: list[str] = []
    ready: list[str] = []
    drain: list[str] = []
    maint: list[str] = []
    remove: list[str] = []
    wanted = {s.name: s for s in backend.servers}
    for server in backend.servers:
        now = current.get(server.name)
        state = now.state if now else "maint"  # `add server` starts in maint
        if now is None:
            add.append(runtime.add_server(backend.name, server))
        elif (now.address, now.port) != (server.address, server.port):
            add.append(runtime.set_address(backend.name, server))
        if state != server.state:
            phase = {"ready": ready, "drain": drain, "maint": maint}[server.state]
            phase.append(runtime.set_state(backend.name, server.name, server.state))
    for name, now in current.items():
        if name in wanted:
            continue
        if now.state == "maint":
            remove.append(runtime.del_server(backend.name, name))
        else:
            maint += [runtime.set_state(backend.name, name, "maint"), runtime.shutdown_sessions(backend.name, name)]
    return [add, ready, drain, maint, remove]


def changes(desired: ProxyConfig, current_state_text: str, layout_answer: str) -> tuple[list[str], bool]:
    """(commands, needs_reload) to take the running HAProxy to desired.

    current_state_text: the answer to runtime.show_servers_state(); layout_answer: the answer
    to runtime.show_layout(). When a reload is needed the commands are empty: the reloaded
    configuration (haproxy.render(desired)) holds every server with its state, and the next
    pass sets what a rendered file cannot say (drain)."""
    if needs_reload(desired, layout_answer):
        return [], True
    current = runtime.parse_servers_state(current_state_text)
    phases: list[list[str]] = [[], [], [], [], []]
    for backend in desired.backends:
        for i, commands in enumerate(_phases(backend, current.get(backend.name, {}))):
            phases[i] += commands
    return [command for phase in phases for command in phase], False

