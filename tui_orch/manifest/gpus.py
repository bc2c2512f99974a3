"""``gpus:``: ``all``, or a list of {driver, count, device_ids, capabilities, options}
(Docker's DeviceRequests). Nothing reserves GPUs when placing: a node without them refuses
to start the container, so pin such a service with a node.labels constraint."""

from __future__ import annotations

from yaml.nodes import MappingNode, Node, ScalarNode

from tui_orch.container_settings import GpuRequest
from tui_orch.manifest.decisions import GPU, known_entries
from tui_orch.manifest.fields import key_values
from tui_orch.manifest.reader import Invalid, Reader, Reported, is_null, join, shown


def gpus(r: Reader, node: Node, path: str) -> tuple[GpuRequest, ...]:
    if isinstance(node, ScalarNode):
        text = r.text(node, path, "all, or a list of GPU requests")
        if text != "all":
            raise Invalid(f"expected all, or a list of {{driver, count, device_ids, capabilities}}, got {shown(text)}", node)
        return (GpuRequest(),)
    out = []
    for i, item in enumerate(r.items(node, path)):
        request = r.read(lambda n, p: _request(r, n, p), item, join(path, i))
        if request is not None:
            out.append(request)
    return tuple(out)


def _request(r: Reader, node: Node, path: str) -> GpuRequest:
    if not isinstance(node, MappingNode):
        raise Invalid("expected {driver, count, device_ids, capabilities, options}", node)
    entries = known_entries(r, r.entries(node, path), GPU, path)
    before = r.error_count
    values: dict[str, object] = {}
    for key, (_, vnode) in entries.items():
        if is_null(vnode):
            continue
        kpath = join(path, key)
        if key == "count":
            value = r.read(lambda n, p: -1 if r.text(n, p).strip() == "all" else r.whole(n, p, 1), vnode, kpath)
        elif key == "driver":
            value = r.read(lambda n, p: r.text(n, p, "a driver name such as nvidia").strip(), vnode, kpath)
        elif key == "options":
            value = r.read(lambda n, p: tuple(sorted((k, v or "") for k, v in key_values(r, n, p, "option").items())),
                           vnode, kpath)
        else:  # device_ids, capabilities
            value = r.read(lambda n, p: tuple(r.strings(n, p)), vnode, kpath)
        if value is not None:
            values[key] = value
    if r.error_count > before:
        raise Reported()
    if "device_ids" in values and "count" in values:
        raise Invalid("count and device_ids cannot be set together; set one", node)
    if "device_ids" in values:
        values["count"] = 0
    return GpuRequest(**values)  # type: ignore[arg-type]


__all__ = ["gpus"]
