"""Simulator scale: `vmpool.info` / `vmpool.infoextended` latency over XML-RPC at 100, 1,000 and 10,000 VMs.

Each size gets a fresh simulator filled with `bulk_vms` (VMs shaped like the recorded ones, RUNNING on a
dummy host). The call goes over loopback HTTP with the stdlib client (`OneGateway`, decoding included)
and as a raw POST (server + transfer only). Ratios are against the 100-VM case of the same column.
"""

from __future__ import annotations

import http.client
import tempfile

from bench.table import p50, print_table, time_calls
from one_drivers.one.gateway import OneGateway
from one_drivers.one.states import LcmState, VmState
from one_drivers.sim.server import Simulator

SIZES = (100, 1_000, 10_000)
REPEAT = {100: 30, 1_000: 15, 10_000: 5}


def _raw_call(sim: Simulator, method: str, args: tuple[int, ...] = (-2, -1, -1, -1)) -> bytes:
    params = "".join(f"<param><value><int>{v}</int></value></param>" for v in args)
    return (
        f"<?xml version='1.0'?><methodCall><methodName>{method}</methodName><params>"
        f"<param><value><string>{sim.oneadmin_auth}</string></value></param>{params}</params></methodCall>"
    ).encode()


def measure(size: int) -> list[tuple[str, float, float]]:
    """(method, raw p50 s, gateway p50 s) for a pool of `size` VMs."""
    out = []
    with tempfile.TemporaryDirectory() as tmp, Simulator(auth_dir=tmp) as sim:
        gw = OneGateway(sim.endpoint, sim.oneadmin_auth)
        host = gw.call("one.host.allocate", "dummyhost", "dummy", "dummy", -1)
        sim.bulk_vms(size, state=VmState.ACTIVE, lcm=LcmState.RUNNING, host_id=host)
        conn = http.client.HTTPConnection("127.0.0.1", sim.port, timeout=60)
        for method in ("one.vmpool.info", "one.vmpool.infoextended"):
            body = _raw_call(sim, method)

            def raw(body: bytes = body) -> None:
                conn.request("POST", "/RPC2", body, {"Content-Type": "text/xml"})
                conn.getresponse().read()

            def via_gateway(method: str = method) -> None:
                gw.call(method, -2, -1, -1, -1)

            out.append(
                (method, p50(time_calls(raw, REPEAT[size])), p50(time_calls(via_gateway, REPEAT[size])))
            )
        conn.close()
    return out


PAGE_OFFSETS = (0, 5_000, 9_000)


def measure_pages() -> list[tuple[int, float]]:
    """(offset, raw p50 s) of a 1,000-VM `vmpool.infoextended` page (econe's paging) in 10,000 VMs."""
    out = []
    with tempfile.TemporaryDirectory() as tmp, Simulator(auth_dir=tmp) as sim:
        gw = OneGateway(sim.endpoint, sim.oneadmin_auth)
        host = gw.call("one.host.allocate", "dummyhost", "dummy", "dummy", -1)
        sim.bulk_vms(10_000, state=VmState.ACTIVE, lcm=LcmState.RUNNING, host_id=host)
        conn = http.client.HTTPConnection("127.0.0.1", sim.port, timeout=60)
        for offset in PAGE_OFFSETS:
            body = _raw_call(sim, "one.vmpool.infoextended", (-2, offset, -1_000, -1))

            def raw(body: bytes = body) -> None:
                conn.request("POST", "/RPC2", body, {"Content-Type": "text/xml"})
                conn.getresponse().read()

            out.append((offset, p50(time_calls(raw, 15))))
        conn.close()
    return out


def run() -> None:
    pages = measure_pages()
    base_page = pages[0][1]
    print_table(
        "simulator: one 1,000-VM vmpool.infoextended page of 10,000 VMs over XML-RPC (raw, p50)",
        ["offset", "raw ms", "x offset 0"],
        [(offset, t * 1000, f"{t / base_page:.2f}x") for offset, t in pages],
    )
    results = {size: measure(size) for size in SIZES}
    rows = []
    for index, method in enumerate(("one.vmpool.info", "one.vmpool.infoextended")):
        base_raw, base_gw = results[SIZES[0]][index][1], results[SIZES[0]][index][2]
        for size in SIZES:
            _, raw_s, gw_s = results[size][index]
            rows.append(
                [
                    method,
                    size,
                    raw_s * 1000,
                    raw_s / size * 1e6,
                    f"{raw_s / base_raw:.1f}x",
                    gw_s * 1000,
                    gw_s / size * 1e6,
                    f"{gw_s / base_gw:.1f}x",
                ]
            )
    print_table(
        "simulator: VM pool over XML-RPC (p50; ratio vs 100 VMs)",
        ["call", "VMs", "raw ms", "raw us/VM", "raw ratio", "gateway ms", "gateway us/VM", "gateway ratio"],
        rows,
    )


if __name__ == "__main__":
    run()
