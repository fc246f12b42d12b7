"""Small helpers shared by tests: a line client, free ports, waiting."""

from __future__ import annotations

import json
import socket
import time


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LineClient:
    def __init__(self, port: int, host: str = "127.0.0.1") -> None:
        self.sock = socket.create_connection((host, port), timeout=15)
        self.file = self.sock.makefile("rb")

    def send_raw(self, data: bytes) -> None:
        self.sock.sendall(data)

    def reply(self) -> str:
        line = self.file.readline()
        if not line:
            raise ConnectionError("closed")
        return line.decode().rstrip("\r\n")

    def request(self, msg: dict | str) -> str:
        text = msg if isinstance(msg, str) else json.dumps(msg)
        self.send_raw(text.encode() + b"\n")
        return self.reply()

    def close(self) -> None:
        self.sock.close()


def mpp(ts: float, board: int = 1, channel: int = 1, power: float = 1.0, **extra) -> dict:
    return {"type": "mpp", "data": {"timestamp": ts, "power": power, "current": 2.0, "voltage": 0.5},
            "metadata": {"board": board, "channel": channel}, **extra}


def wait_until(predicate, timeout: float = 20.0, interval: float = 0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"condition not met within {timeout} s")
