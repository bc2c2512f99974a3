"""Host keys as the operator sees them: the fingerprint a node presents now, and recording it
in known_hosts only if the host still presents the key the operator accepted (built on
nodes/ssh.py's ``trust``; a changed key always stays refused)."""

from __future__ import annotations

from tui_orch.errors import HostKeyChanged, TuiOrchError
from tui_orch.model import NodeSpec


def _needs_ssh(spec: NodeSpec) -> None:
    if spec.local or spec.simulated:
        raise TuiOrchError(f"{spec.name} is reached without SSH; there is no host key to trust")


async def fetch_fingerprint(spec: NodeSpec) -> tuple[str, str]:
    """The SHA256 fingerprint and key type of the key the node presents now. A key that
    differs from the one recorded in known_hosts raises HostKeyChanged (never offered)."""
    from tui_orch.nodes import ssh

    _needs_ssh(spec)
    if ssh.recorded_keys(spec):
        error = await ssh.host_key_error(spec)
        if isinstance(error, HostKeyChanged):
            raise error
    key = await ssh.fetch_host_key(spec)
    return ssh.fingerprint(key), key.get_algorithm()


async def trust_node(spec: NodeSpec, fingerprint: str | None = None) -> str:
    """Record the node's host key in its known_hosts file, as ``tui-orch trust NODE --yes``
    does; with ``fingerprint``, only if the host still presents the key the operator saw.
    Returns the sentence saying what was done; a changed key raises HostKeyChanged."""
    from tui_orch.nodes import ssh

    _needs_ssh(spec)
    if fingerprint is None:
        return await ssh.trust(spec, yes=True)
    presented: list[str] = []

    def same_key(fp: str) -> bool:
        presented.append(fp)
        return fp == fingerprint

    message = await ssh.trust(spec, confirm=same_key)
    if presented and presented[0] != fingerprint:
        raise TuiOrchError(f"{spec.name}: the host now presents {presented[0]}, not the {fingerprint} "
                           f"you accepted; nothing was written. Look again before trusting it")
    return message
