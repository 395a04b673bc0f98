#!/usr/bin/env python3
"""labctl: the two-host lab's hands on its QEMU processes.

  labctl.py exec SOCK [--timeout S] [--input FILE] -- SHELL-COMMAND
      runs the command with bash in a dom0 through its guest agent
      (qemu-ga on a virtio serial port); its stdout and stderr come out
      here and its exit status is ours (124: timed out, 125: no agent)
  labctl.py ping SOCK [--timeout S]
      waits until the agent answers (the host has booted)
  labctl.py qmp SOCK COMMAND [JSON-ARGUMENTS]
      one QMP command to a QEMU monitor (set_link, ...); prints its return

Every call opens its own connection, so several scenarios' helpers may
share an agent: the delimited sync below discards whatever an earlier,
interrupted client left in the channel.
"""
import base64
import json
import os
import random
import shlex
import socket
import sys
import time

DOM0_ENV = [
    "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    "HOME=/root",
    "TERM=dumb",
    "LANG=C",
]


class AgentError(Exception):
    pass


class Channel:
    def __init__(self, path, timeout):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        try:
            self.sock.connect(path)
        except OSError as e:
            raise AgentError(f"cannot reach {path}: {e.strerror}") from None
        self.buf = b""

    def close(self):
        self.sock.close()

    def send(self, obj, flush=False):
        data = json.dumps(obj).encode() + b"\n"
        self.sock.sendall((b"\xff" if flush else b"") + data)

    def _fill(self):
        try:
            chunk = self.sock.recv(65536)
        except socket.timeout:
            raise AgentError("no answer from the agent") from None
        if not chunk:
            raise AgentError("the agent's channel closed")
        self.buf += chunk

    def line(self):
        while b"\n" not in self.buf:
            self._fill()
        line, self.buf = self.buf.split(b"\n", 1)
        return line

    def reply(self):
        while True:
            line = self.line().strip().lstrip(b"\xff")
            if not line:
                continue
            msg = json.loads(line)
            if "event" in msg:
                continue
            if "error" in msg:
                raise AgentError(msg["error"].get("desc", str(msg["error"])))
            return msg.get("return")

    def call(self, command, **args):
        msg = {"execute": command}
        if args:
            msg["arguments"] = args
        self.send(msg)
        return self.reply()


def agent(path, timeout):
    """A channel to qemu-ga, past whatever an earlier client left in it."""
    ch = Channel(path, timeout)
    token = random.randrange(1, 2**31)
    # 0xff resets the agent's parser; its answer to the delimited sync
    # starts with 0xff, so anything stale before it can be skipped.
    ch.send({"execute": "guest-sync-delimited", "arguments": {"id": token}},
            flush=True)
    while True:
        while b"\xff" not in ch.buf:
            ch.buf = b""
            ch._fill()
        ch.buf = ch.buf[ch.buf.index(b"\xff") + 1:]
        if ch.reply() == token:
            return ch


def cmd_exec(sock, timeout, input_file, command):
    deadline = time.monotonic() + timeout
    # The agent cannot kill what it started; timeout(1) in dom0 can.
    wrapped = ["-c", f"exec timeout -k 5 {int(timeout)} bash -c {shlex.quote(command)}"]
    args = {"path": "/bin/bash", "arg": wrapped, "env": DOM0_ENV,
            "capture-output": True}
    if input_file is not None:
        with open(input_file, "rb") as f:
            args["input-data"] = base64.b64encode(f.read()).decode()
    ch = agent(sock, 30)
    try:
        pid = ch.call("guest-exec", **args)["pid"]
    finally:
        ch.close()
    delay = 0.01
    while True:
        time.sleep(delay)
        delay = min(delay * 2, 0.2)
        ch = agent(sock, 30)
        try:
            st = ch.call("guest-exec-status", pid=pid)
        finally:
            ch.close()
        if st.get("exited"):
            break
        if time.monotonic() > deadline + 10:
            sys.stderr.write(f"labctl: command still running after {timeout} s\n")
            return 124
    for key, out in (("out-data", sys.stdout), ("err-data", sys.stderr)):
        if key in st:
            out.buffer.write(base64.b64decode(st[key]))
            out.flush()
    if "signal" in st:
        return 128 + st["signal"]
    return st.get("exitcode", 125)


def cmd_ping(sock, timeout):
    deadline = time.monotonic() + timeout
    while True:
        try:
            ch = agent(sock, 5)
            ch.call("guest-ping")
            ch.close()
            return 0
        except (AgentError, OSError):
            if time.monotonic() > deadline:
                return 1
            time.sleep(0.5)


def cmd_qmp(sock, command, args):
    ch = Channel(sock, 30)
    try:
        ch.reply()  # the greeting
        ch.call("qmp_capabilities")
        ret = ch.call(command, **(json.loads(args) if args else {}))
    finally:
        ch.close()
    print(json.dumps(ret))
    return 0


def main(argv):
    if len(argv) < 3 or argv[1] not in ("exec", "ping", "qmp"):
        sys.stderr.write(__doc__)
        return 2
    verb, sock, rest = argv[1], argv[2], argv[3:]
    timeout, input_file = 600.0, None
    while rest and rest[0].startswith("--") and rest[0] != "--":
        opt = rest.pop(0)
        if opt == "--timeout":
            timeout = float(rest.pop(0))
        elif opt == "--input":
            input_file = rest.pop(0)
        else:
            sys.stderr.write(f"labctl: unknown option {opt}\n")
            return 2
    if rest and rest[0] == "--":
        rest.pop(0)
    try:
        if verb == "exec":
            return cmd_exec(sock, timeout, input_file, " ".join(rest))
        if verb == "ping":
            return cmd_ping(sock, timeout)
        return cmd_qmp(sock, rest[0], rest[1] if len(rest) > 1 else None)
    except AgentError as e:
        sys.stderr.write(f"labctl: {os.path.basename(sock)}: {e}\n")
        return 125


if __name__ == "__main__":
    sys.exit(main(sys.argv))
