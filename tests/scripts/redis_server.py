# SPDX-License-Identifier: MIT
"""A redis-server of a test's own, and raw commands to it.

Shared by the tests that need a real Redis (tests/python/test_store.py,
tests/lua/nginx_fleet_test.py, tests/stress/check_proxy_store.sh): the
server listens on 127.0.0.1 at an ephemeral port, keeps its files in a
directory the test owns, and is killed by the test; a missing redis-server
is an error, never a skip (scripts/install-deps.sh installs it).
"""
import os
import shutil
import socket
import subprocess
import time


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class RedisServer:
    """start() launches it (again, on the same port and directory, after
    kill(): with aof=True it comes back with what it had); cmd() sends one
    command and returns the reply as str / int / list / None, raising
    RuntimeError for an error reply."""

    def __init__(self, directory, exe=None, port=None, aof=False):
        self.dir = str(directory)
        self.exe = exe or shutil.which("redis-server")
        if not self.exe:
            raise RuntimeError("redis-server is not installed (scripts/install-deps.sh installs it)")
        self.port = port or free_port()
        self.aof = aof
        self.proc = None

    @property
    def url(self):
        return "redis://127.0.0.1:%d" % self.port

    def start(self, timeout=10):
        persist = ["--appendonly", "yes", "--appendfsync", "always"] if self.aof else \
            ["--appendonly", "no"]
        self.proc = subprocess.Popen(
            [self.exe, "--port", str(self.port), "--bind", "127.0.0.1", "--dir", self.dir,
             "--save", "", "--daemonize", "no", "--logfile", os.path.join(self.dir, "redis.log")]
            + persist, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self.proc.poll() is None:
            try:
                if self.cmd("PING") == "PONG":
                    return self
            except (OSError, RuntimeError):
                pass
            time.sleep(0.05)
        self.kill()
        raise RuntimeError("redis-server did not start on port %d (log: %s/redis.log)"
                           % (self.port, self.dir))

    def kill(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        self.proc = None

    def cmd(self, *args):
        out = b"*%d\r\n" % len(args)
        for a in args:
            a = a if isinstance(a, bytes) else str(a).encode()
            out += b"$%d\r\n%s\r\n" % (len(a), a)
        with socket.create_connection(("127.0.0.1", self.port), timeout=2) as s:
            s.sendall(out)
            return _reply(s.makefile("rb"))


def _reply(f):
    line = f.readline()
    if not line:
        raise ConnectionError("redis closed the connection")
    kind, rest = line[:1], line[1:].rstrip(b"\r\n")
    if kind == b"+":
        return rest.decode()
    if kind == b"-":
        raise RuntimeError(rest.decode())
    if kind == b":":
        return int(rest)
    if kind == b"$":
        n = int(rest)
        return None if n < 0 else f.read(n + 2)[:-2].decode()
    if kind == b"*":
        n = int(rest)
        return None if n < 0 else [_reply(f) for _ in range(n)]
    raise RuntimeError("unexpected reply %r" % line)
