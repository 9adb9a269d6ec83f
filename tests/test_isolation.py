"""EnableNetworkIsolation on a multi-host job: from inside every host, its peers answer and nothing
else does (this machine at the job network's gateway or at docker0's address, another container),
and the routes lead nowhere else. Only this machine is probed: listeners and a container we start."""

import json
import socket
import subprocess
import threading
import uuid

import pytest
from conftest import IMAGE, leftover_containers, write_step
from cursus_local.jobs.contracts import load_step
from cursus_local.jobs.processing import RunOptions
from helpers import run_step

pytestmark = pytest.mark.docker

PEER_PORT = 5000
PROBE = """
    import json, os, socket, struct, threading, time
    from pathlib import Path
    hosts = json.loads(Path("/opt/ml/config/resourceconfig.json").read_text())
    me = hosts["current_host"]
    server = socket.create_server(("0.0.0.0", %(port)d))
    threading.Thread(target=lambda: [server.accept()[0].close() for _ in iter(int, 1)], daemon=True).start()

    def connect(host, port, tries=1):
        for attempt in range(tries):
            try:
                socket.create_connection((host, port), timeout=3).close()
                return "connected"
            except OSError as exc:
                error = repr(exc)
                time.sleep(0.5)
        return error

    routes = []
    for line in Path("/proc/net/route").read_text().splitlines()[1:]:
        iface, dest, gateway, flags, *_, mask = line.split()[:8]
        ip = lambda h: socket.inet_ntoa(struct.pack("<I", int(h, 16)))
        routes.append({"iface": iface, "dest": ip(dest), "gateway": ip(gateway), "mask": ip(mask)})
    gateway = next((r["gateway"] for r in routes if r["dest"] == "0.0.0.0"), None)
    host_port = int(os.environ["HOST_PORT"])
    seen = {
        "routes": routes,
        "ipv6": Path("/proc/net/if_inet6").read_text(),
        "peers": {h: connect(h, %(port)d, tries=20) for h in hosts["hosts"] if h != me},
        "gateway": gateway and connect(gateway, host_port),
        "docker0": connect(os.environ["DOCKER0"], host_port),
        "container": connect(os.environ["OTHER_CONTAINER"], %(port)d),
    }
    time.sleep(3)   # the other host may still be probing this one
    out = Path("/opt/ml/processing/output")
    (out / f"seen-{me}.json").write_text(json.dumps(seen))
""" % {"port": PEER_PORT}


@pytest.fixture
def host_listener():
    """A TCP listener of ours on every address of this machine (its bridges' gateways included)."""
    server = socket.create_server(("0.0.0.0", 0))
    accepted = []

    def serve():
        while True:
            try:
                conn, addr = server.accept()
            except OSError:
                return
            accepted.append(addr[0])
            conn.close()

    threading.Thread(target=serve, daemon=True).start()
    yield server.getsockname()[1], accepted
    server.close()


@pytest.fixture
def other_container(docker_client):
    """A container of ours on the engine's default bridge, listening; its address."""
    name = f"cursus-test-isolation-{uuid.uuid4().hex[:8]}"
    container = docker_client.containers.run(
        IMAGE, entrypoint=["python3", "-c", f"import socket; s = socket.create_server(('0.0.0.0', {PEER_PORT}))\n"
                                            "while True: s.accept()[0].close()"],
        name=name, labels={"cursus-test": name}, detach=True)
    container.reload()
    yield container.attrs["NetworkSettings"]["IPAddress"]
    container.remove(force=True)


def host_addresses() -> set[str]:
    out = json.loads(subprocess.run(["ip", "-j", "-4", "addr"], capture_output=True, text=True, check=True).stdout)
    return {a["local"] for link in out for a in link.get("addr_info", [])}


def docker0_address(client) -> str:
    return client.networks.get("bridge").attrs["IPAM"]["Config"][0]["Gateway"]


@pytest.mark.parametrize("isolated", [True, False], ids=["isolated", "not isolated"])
def test_an_isolated_cluster_reaches_its_hosts_and_nothing_else(tmp_path, backend, docker_client, host_listener,
                                                               other_container, isolated):
    port, accepted = host_listener
    step = load_step(write_step(tmp_path, "probe", PROBE, {
        "outputs": {"out": {"path": "/opt/ml/processing/output"}}},
        compute={"enable_network_isolation": isolated, "instance_count": 2}))
    env = {"HOST_PORT": str(port), "DOCKER0": docker0_address(docker_client), "OTHER_CONTAINER": other_container}
    run = run_step(step, RunOptions(env=env), tmp_path / "runs", backend)
    assert run.result.status == "Completed", run.result.describe
    assert not leftover_containers(docker_client, run.job.name)
    assert not docker_client.networks.list(names=[f"cursus-{run.job.name}"])
    for host, peer in (("algo-1", "algo-2"), ("algo-2", "algo-1")):
        seen = json.loads((run.result.outputs["out"] / f"seen-{host}.json").read_text())
        assert seen["peers"] == {peer: "connected"}, seen
        assert seen["ipv6"] == ""                      # no IPv6 address at all, not even link-local
        if isolated:
            assert {k: seen[k] == "connected" for k in ("gateway", "docker0", "container")} == {
                "gateway": False, "docker0": False, "container": False}, seen
            # "no outside" from its own routes: one link, and a default route (the engine always
            # sets one) whose gateway is no address of this machine, nor of anything else
            assert {r["iface"] for r in seen["routes"]} == {"eth0"}, seen["routes"]
            default = [r["gateway"] for r in seen["routes"] if r["dest"] == "0.0.0.0"]
            assert not set(default) & host_addresses(), (default, seen["routes"])
        else:   # as before: a plain bridge network, the machine and the outside reachable
            assert seen["gateway"] == "connected", seen
    if isolated:
        assert accepted == []
