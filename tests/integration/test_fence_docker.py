"""fence_docker (Debian's fence-agents 4.12) through the project's fence runner against
the local Docker engine, reached over TLS with client certificates (harness.docker_tls:
the agent speaks nothing else) with api_version=1.41.

What Debian's agent does with the target: ``plug`` goes into the Engine API path as is
(``/containers/<plug>/json``, ``…/kill``, ``…/start``), so a container name, a full id
or an unambiguous id prefix all work; ``list`` prints ``<full id>,<name>`` per
container, both of which a dynamic-list host check reads as targets. Reboot is tested
with the default method (onoff: kill, then start); ``method=cycle`` is never used (its
restart path is broken in 4.12).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from ha.runtime.fence_runner import FenceResult, run_fence_agent_sync
from harness.docker_tls import DockerTLSFrontend, make_pki
from harness.fencer_host import FencerHost, device_cib
from harness.sleeper_image import ImageUnavailable, sleeper_image

pytestmark = [
    pytest.mark.docker,
    pytest.mark.skipif(not os.access("/usr/sbin/fence_docker", os.X_OK)
                       and shutil.which("fence_docker") is None,
                       reason="needs fence_docker (Debian: fence-agents)"),
]


def _inspect(name: str, field: str) -> str:
    r = subprocess.run(["docker", "inspect", "-f", "{{" + field + "}}", name],
                       capture_output=True, text=True)
    return r.stdout.strip()


@pytest.fixture(scope="module")
def frontend(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DockerTLSFrontend]:
    if not os.path.exists("/var/run/docker.sock"):
        pytest.skip("no Docker engine socket at /var/run/docker.sock")
    with DockerTLSFrontend(make_pki(tmp_path_factory.mktemp("pki"))) as fe:
        yield fe


@pytest.fixture
def container() -> Iterator[str]:
    try:
        image, cmd = sleeper_image()
    except ImageUnavailable as e:
        pytest.skip(f"no container to fence: {e}")
    name = f"hastack-fence-docker-{uuid.uuid4().hex[:8]}"
    subprocess.run(["docker", "run", "-d", "--name", name, "--label", "hastack.test=fencing",
                    image, *cmd], check=True, capture_output=True)
    try:
        yield name
    finally:
        subprocess.run(["docker", "rm", "-f", name], capture_output=True)


def fence(fe: DockerTLSFrontend, action: str, target: str | None = None,
          **overrides: str) -> FenceResult:
    params = {**fe.fence_params(), **overrides}
    return run_fence_agent_sync("fence_docker", params, action, target, timeout=60,
                                host_arg="plug")


def test_list_names_the_container_by_id_and_name(frontend: DockerTLSFrontend,
                                                 container: str) -> None:
    r = fence(frontend, "list")
    assert r.rc == 0, r
    full_id = _inspect(container, ".Id")
    assert f"{full_id},{container}" in r.stdout.splitlines()


def test_status_on_then_off_kills_the_container(frontend: DockerTLSFrontend,
                                                container: str) -> None:
    r = fence(frontend, "status", container)
    assert r.rc == 0 and "Status: ON" in r.stdout, r
    r = fence(frontend, "off", container)
    assert r.rc == 0, r
    assert _inspect(container, ".State.Running") == "false"
    assert fence(frontend, "status", container).rc == 2


def test_on_starts_the_container(frontend: DockerTLSFrontend, container: str) -> None:
    assert fence(frontend, "off", container).rc == 0
    r = fence(frontend, "on", container)
    assert r.rc == 0, r
    assert _inspect(container, ".State.Running") == "true"


def test_reboot_is_off_then_on(frontend: DockerTLSFrontend, container: str) -> None:
    started = _inspect(container, ".State.StartedAt")
    r = fence(frontend, "reboot", container)
    assert r.rc == 0, r
    assert _inspect(container, ".State.Running") == "true"
    assert _inspect(container, ".State.StartedAt") != started


def test_plug_may_be_the_container_id(frontend: DockerTLSFrontend, container: str) -> None:
    short_id = _inspect(container, ".Id")[:12]
    r = fence(frontend, "off", short_id)
    assert r.rc == 0, r
    assert _inspect(container, ".State.Running") == "false"


def test_unknown_container_fails(frontend: DockerTLSFrontend) -> None:
    r = fence(frontend, "status", f"no-such-container-{uuid.uuid4().hex[:6]}")
    assert r.rc not in (0, 2) and not r.timed_out, r
    assert "plug is not available" in r.stderr


def test_a_client_certificate_from_another_ca_is_refused(
        frontend: DockerTLSFrontend, container: str, tmp_path: Path) -> None:
    other = make_pki(tmp_path / "other")
    before = frontend.connections
    r = fence(frontend, "off", container, tlscert=str(other.client_cert),
              tlskey=str(other.client_key))
    assert r.rc != 0 and "Connection failed" in r.stderr, r
    assert frontend.connections == before          # the handshake never completed
    assert _inspect(container, ".State.Running") == "true"


def test_fencer_maps_the_node_to_its_container(frontend: DockerTLSFrontend,
                                               container: str) -> None:
    """Through the fencer core: a fence_docker device in a CIB whose pcmk_host_map names
    the container for node ``node1``; the agent gets the container as plug."""
    host = FencerHost(device_cib({"fence-docker": ("fence_docker", {
        **frontend.fence_params(), "pcmk_host_map": f"node1:{container}",
        "pcmk_host_check": "static-list"})}))
    try:
        reply = host.fence("node1", "off")
        assert reply["ok"], reply
        assert _inspect(container, ".State.Running") == "false"
        assert host.agent_runs[-1].params["plug"] == container
        reply = host.fence("node1", "on")
        assert reply["ok"], reply
        assert _inspect(container, ".State.Running") == "true"
        assert not host.fence("node2", "off")["ok"]      # not in the map: not claimed
    finally:
        host.close()
