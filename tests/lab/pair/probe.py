#!/usr/bin/env python3
"""probe: the observer asks a guest something all the time.

  probe.py SECONDS GUEST-IP GUEST-IP6 [IFACE]

For SECONDS (or until SIGTERM), at once: ping (every 50 ms) and ping -6 (every 200 ms), ARP
requests one at a time, and TCP connections to the echo port one at a
time. Each ARP request says it comes from another address
(192.0.2.200-239), so that its reply names the request it answers; a
capture on IFACE (default obs0) is what gets judged, this only counts.
Prints "probes kind=sent/answered ...".
"""
import signal
import socket
import struct
import subprocess
import sys
import threading
import time

OBSERVER_MAC = bytes.fromhex("5254000b00fa")
stopping = threading.Event()


def running(end):
    return time.monotonic() < end and not stopping.is_set()


def arp_loop(iface, gip, end, counts):
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x0806))
    s.bind((iface, 0))
    s.settimeout(0.2)
    target = socket.inet_aton(gip)
    k = 0
    while running(end):
        spa = socket.inet_aton(f"192.0.2.{200 + k % 40}")
        k += 1
        frame = (b"\xff" * 6 + OBSERVER_MAC + b"\x08\x06" +
                 struct.pack("!HHBBH", 1, 0x0800, 6, 4, 1) +
                 OBSERVER_MAC + spa + b"\x00" * 6 + target)
        s.send(frame)
        counts["arp"][0] += 1
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline:
            try:
                r = s.recv(128)
            except socket.timeout:
                continue
            if len(r) >= 42 and r[21] == 2 and r[28:32] == target and r[38:42] == spa:
                counts["arp"][1] += 1
                break
        time.sleep(0.1)


def tcp_loop(gip, end, counts):
    while running(end):
        counts["tcp"][0] += 1
        try:
            with socket.create_connection((gip, 7), timeout=3):
                counts["tcp"][1] += 1
        except OSError:
            pass
        # the guest's echo service takes one connection at a time
        time.sleep(0.5)


def main(argv):
    if len(argv) < 4:
        sys.stderr.write(__doc__)
        return 2
    secs, gip, gip6 = float(argv[1]), argv[2], argv[3]
    iface = argv[4] if len(argv) > 4 else "obs0"
    end = time.monotonic() + secs
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    counts = {"arp": [0, 0], "tcp": [0, 0]}
    pings = [subprocess.Popen(["ping", "-q", "-i", interval, "-w", str(int(secs)), ip],
                              stdout=subprocess.PIPE, text=True)
             for ip, interval in ((gip, "0.05"), (gip6, "0.2"))]
    threads = [threading.Thread(target=arp_loop, args=(iface, gip, end, counts)),
               threading.Thread(target=tcp_loop, args=(gip, end, counts))]
    for t in threads:
        t.start()
    for t in threads:
        while t.is_alive():
            t.join(0.5)
    for kind, p in zip(("icmp4", "icmp6"), pings):
        p.send_signal(signal.SIGINT)
        out = p.communicate()[0]
        for line in out.splitlines():
            if "transmitted" in line:
                f = line.split()
                counts[kind] = [int(f[0]), int(f[3])]
    print("probes " + " ".join(f"{k}={v[0]}/{v[1]}" for k, v in sorted(counts.items())))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
