"""Local Redis topologies for the high-availability tests: a cluster and a Sentinel set.

Every process binds 127.0.0.1, keeps its data in a temporary directory (persistence
off), and is stopped by ``stop()``. Every wait is a bounded loop of short polls that
fails with a message naming what did not happen; nothing is timed.

Both topologies can hold back their automatic failover, so a test can act while a master
is down and no replica has taken over yet, then let the failover happen:

* the cluster's nodes run with ``cluster-replica-no-failover yes`` until
  :meth:`RedisClusterSet.allow_failover` turns it off on the replicas;
* the Sentinel set's replicas start with ``replica-priority 0`` (never promoted) until
  :meth:`SentinelSet.allow_failover` gives one of them a priority.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Callable

from tests._ports import free_port

START_TIMEOUT = 20.0
POLL = 0.05
#: Cluster bus ports are the client port + 10000 (what redis-server 6 and 7 both use).
BUS_OFFSET = 10000
NODE_TIMEOUT_MS = 1000
DOWN_AFTER_MS = 1000
SERVICE_NAME = "identitylib-ha"


def free_cluster_port() -> int:
    """A free port of this worker's whose cluster bus port (+10000) is free too."""
    return free_port(also=BUS_OFFSET)


def wait_until(condition: Callable[[], bool], what: str, timeout: float = START_TIMEOUT) -> None:
    """Poll ``condition`` until it holds; AssertionError naming ``what`` if it never does."""
    for _ in range(int(timeout / POLL)):
        try:
            if condition():
                return
        except Exception:  # a node still starting, or just killed: poll again
            pass
        time.sleep(POLL)
    raise AssertionError(f"{what} did not happen within {timeout} s")


def client(port: int, timeout: float = 1.0) -> Any:
    """A plain client of one node (``redis.Redis``), never a cluster-aware one."""
    import redis

    return redis.Redis(host="127.0.0.1", port=port, socket_timeout=timeout)


def info(port: int, section: str) -> dict[str, Any]:
    connection = client(port)
    try:
        return dict(connection.info(section))
    finally:
        connection.close()


class RedisServer:
    """One redis-server process on a fixed loopback port (``extra`` adds arguments)."""

    def __init__(self, executable: str, port: int, workdir: str, extra: Sequence[str] = ()) -> None:
        self.executable = executable
        self.port = port
        self.workdir = workdir
        self.extra = list(extra)
        self.url = f"redis://127.0.0.1:{port}/0"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        if self.process is not None and self.process.poll() is None:
            return
        Path(self.workdir).mkdir(parents=True, exist_ok=True)
        command = [
            self.executable,
            "--port", str(self.port),
            "--bind", "127.0.0.1",
            "--save", "",
            "--appendonly", "no",
            "--daemonize", "no",
            "--dir", self.workdir,
            *self.extra,
        ]  # fmt: skip
        self.process = subprocess.Popen(
            command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=self.workdir
        )
        for _ in range(int(START_TIMEOUT / POLL)):
            if self.process.poll() is not None:
                raise RuntimeError(f"redis-server exited with {self.process.returncode}")
            if self.ping():
                return
            time.sleep(POLL)
        self.stop()
        raise RuntimeError(f"redis-server did not answer PING within {START_TIMEOUT} s")

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)

    def kill(self) -> None:
        """SIGKILL: the node vanishes without a word to its peers (a crashed machine)."""
        process, self.process = self.process, None
        if process is not None and process.poll() is None:
            process.kill()
            process.wait(timeout=5)

    def ping(self) -> bool:
        try:
            return bool(self.client(timeout=0.5).ping())
        except Exception:
            return False

    def client(self, timeout: float = 2.0) -> Any:
        return client(self.port, timeout)


class RedisClusterSet:
    """Three masters with one replica each, made by ``redis-cli --cluster create``."""

    def __init__(self, executable: str, cli: str, workdir: str, nodes: int = 6) -> None:
        self.cli = cli
        self.workdir = workdir
        self.nodes: list[RedisServer] = []
        for _ in range(nodes):
            port = free_cluster_port()
            extra = [
                "--cluster-enabled", "yes",
                "--cluster-config-file", f"nodes-{port}.conf",
                "--cluster-node-timeout", str(NODE_TIMEOUT_MS),
                # A replica may take over however long it was cut off from its master.
                "--cluster-replica-validity-factor", "0",
                "--cluster-replica-no-failover", "yes",  # until allow_failover()
            ]  # fmt: skip
            self.nodes.append(RedisServer(executable, port, f"{workdir}/{port}", extra))

    @property
    def url(self) -> str:
        return self.nodes[0].url

    @property
    def live(self) -> list[RedisServer]:
        return [node for node in self.nodes if node.process is not None]

    def start(self) -> None:
        for node in self.nodes:
            node.start()
        addresses = [f"127.0.0.1:{node.port}" for node in self.nodes]
        subprocess.run(
            [self.cli, "--cluster", "create", *addresses, "--cluster-replicas", "1",
             "--cluster-yes"],
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            timeout=START_TIMEOUT,
        )  # fmt: skip
        wait_until(self.healthy, "the cluster becoming ok with a synced replica per master")

    def healthy(self) -> bool:
        """Every live node says cluster_state:ok, and every master has a synced replica."""
        for node in self.live:
            if info(node.port, "cluster").get("cluster_enabled") != 1:
                return False
            if self.state(node) != "ok":
                return False
        masters = [n for n in self.live if self.role(n) == "master"]
        return len(masters) == 3 and all(
            int(info(m.port, "replication").get("connected_slaves", 0)) >= 1 for m in masters
        )

    def state(self, node: RedisServer) -> str:
        return _text(node.client().execute_command("CLUSTER INFO")["cluster_state"])

    def role(self, node: RedisServer) -> str:
        return str(info(node.port, "replication")["role"])

    def master_of(self, key: str) -> RedisServer:
        """The node serving ``key``'s slot now."""
        probe = self.live[0].client()
        slot = int(probe.execute_command("CLUSTER KEYSLOT", key))
        for start, end, master, *_ in probe.execute_command("CLUSTER SLOTS"):
            if start <= slot <= end:
                port = int(master[1])
                return next(node for node in self.nodes if node.port == port)
        raise AssertionError(f"no node serves slot {slot}")

    def replicas_of(self, master: RedisServer) -> list[RedisServer]:
        return [
            node
            for node in self.live
            if node is not master
            and self.role(node) == "slave"
            and int(info(node.port, "replication").get("master_port", 0)) == master.port
        ]

    def allow_failover(self) -> None:
        for node in self.live:
            node.client().config_set("cluster-replica-no-failover", "no")

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()
        shutil.rmtree(self.workdir, ignore_errors=True)


class SentinelSet:
    """One master, two replicas (``replica-priority 0`` until allowed), three sentinels."""

    def __init__(self, executable: str, workdir: str) -> None:
        self.workdir = workdir
        self.master = RedisServer(executable, free_port(), f"{workdir}/master")
        self.replicas = [
            RedisServer(
                executable,
                port,
                f"{workdir}/replica-{port}",
                ["--replicaof", "127.0.0.1", str(self.master.port), "--replica-priority", "0"],
            )
            for port in (free_port(), free_port())
        ]
        self.sentinels: list[RedisServer] = []
        for _ in range(3):
            port = free_port()
            directory = Path(workdir) / f"sentinel-{port}"
            directory.mkdir(parents=True, exist_ok=True)
            config = directory / "sentinel.conf"  # rewritten by the sentinel as it learns
            config.write_text(
                f"sentinel monitor {SERVICE_NAME} 127.0.0.1 {self.master.port} 2\n"
                f"sentinel down-after-milliseconds {SERVICE_NAME} {DOWN_AFTER_MS}\n"
                f"sentinel failover-timeout {SERVICE_NAME} 2000\n"
                f"sentinel parallel-syncs {SERVICE_NAME} 2\n"
            )
            self.sentinels.append(
                _SentinelServer(executable, port, str(directory), [str(config), "--sentinel"])
            )

    @property
    def addresses(self) -> list[tuple[str, int]]:
        return [("127.0.0.1", sentinel.port) for sentinel in self.sentinels]

    def start(self) -> None:
        self.master.start()
        for replica in self.replicas:
            replica.start()
        wait_until(
            lambda: info(self.master.port, "replication").get("connected_slaves") == 2,
            "both replicas connecting to the master",
        )
        for sentinel in self.sentinels:
            sentinel.start()
        wait_until(self.healthy, "the sentinels agreeing on a master with two synced replicas")

    def master_port(self, sentinel: RedisServer) -> int:
        address = sentinel.client().execute_command(
            "SENTINEL GET-MASTER-ADDR-BY-NAME", SERVICE_NAME
        )
        return int(address[1])

    def healthy(self) -> bool:
        """Both replicas synced, and every sentinel knows them and the two other sentinels."""
        if info(self.master.port, "replication").get("connected_slaves", 0) != 2:
            return False
        for sentinel in self.sentinels:
            reply = sentinel.client().execute_command("SENTINEL MASTER", SERVICE_NAME)
            fields = dict(zip(reply[::2], reply[1::2])) if isinstance(reply, list) else reply
            fields = {_text(k): _text(v) for k, v in fields.items()}
            if fields.get("num-other-sentinels") != "2" or fields.get("num-slaves") != "2":
                return False
        return True

    def allow_failover(self, replica: RedisServer) -> None:
        """Make ``replica`` promotable and ask the sentinels to fail over to it."""
        replica.client().config_set("replica-priority", "100")

        def promoted() -> bool:
            if info(replica.port, "replication")["role"] != "master":
                for sentinel in self.sentinels:
                    try:
                        sentinel.client().execute_command("SENTINEL FAILOVER", SERVICE_NAME)
                        break
                    except Exception:  # INPROG or NOGOODSLAVE: ask again at the next poll
                        continue
                return False
            return all(self.master_port(s) == replica.port for s in self.sentinels)

        wait_until(promoted, "the sentinels promoting the replica")

    def stop(self) -> None:
        for server in [*self.sentinels, *self.replicas, self.master]:
            server.stop()
        shutil.rmtree(self.workdir, ignore_errors=True)


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


class _SentinelServer(RedisServer):
    """A sentinel: ``redis-server sentinel.conf --sentinel`` (no persistence flags)."""

    def start(self) -> None:
        if self.process is not None and self.process.poll() is None:
            return
        self.process = subprocess.Popen(
            [self.executable, *self.extra, "--port", str(self.port), "--bind", "127.0.0.1"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            cwd=self.workdir,
        )
        for _ in range(int(START_TIMEOUT / POLL)):
            if self.process.poll() is not None:
                raise RuntimeError(f"redis sentinel exited with {self.process.returncode}")
            if self.ping():
                return
            time.sleep(POLL)
        self.stop()
        raise RuntimeError(f"redis sentinel did not answer PING within {START_TIMEOUT} s")
