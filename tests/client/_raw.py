"""A bare control-protocol client on a plain socket, to act as a slow or stuck subscriber."""

from __future__ import annotations

import json
import socket

from magscope_app.paths import instance_paths


class RawClient:
    """Sends requests without reading anything until asked to."""

    def __init__(self, instance: str) -> None:
        paths = instance_paths(instance)
        self.token = paths.token.read_text().strip()
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(str(paths.socket))
        self.buffer = b""

    def send(self, command: str, **args) -> None:
        line = {"id": 1, "token": self.token, "command": command, "args": args}
        self.sock.sendall(json.dumps(line).encode() + b"\n")

    def request(self, command: str, **args) -> dict:
        """Send a request and read up to its reply (nothing else is subscribed yet)."""
        self.send(command, **args)
        while b"\n" not in self.buffer:
            self.buffer += self.sock.recv(1 << 16)
        line, self.buffer = self.buffer.split(b"\n", 1)
        reply = json.loads(line)
        assert reply.get("ok"), reply
        return reply["result"]

    def read_messages(self, timeout: float) -> tuple[list[dict], bool]:
        """Every message that arrives until ``timeout`` s pass without data, and whether the
        daemon closed the connection."""
        self.sock.settimeout(timeout)
        messages = []
        closed = False
        while True:
            try:
                data = self.sock.recv(1 << 16)
            except TimeoutError:
                break
            except ConnectionResetError:
                closed = True
                break
            if not data:
                closed = True
                break
            self.buffer += data
            *lines, self.buffer = self.buffer.split(b"\n")
            messages += [json.loads(line) for line in lines]
        return messages, closed

    def close(self) -> None:
        self.sock.close()
