#!/usr/bin/env python3
"""commit-check: output commit on two hosts, judged from outside.

  commit-check.py [--shift K] [--until T] CAPTURE BARRIERS ACKS GUEST-MAC GUEST-IP GUEST-IP6

CAPTURE is the observer's pcap (the lab host's clock): its probes to the
guest, the guest's replies, and the echo requests both dom0s send it, whose
payload carries the sender's clock. BARRIERS is the primary's netbuf trace
("<unix time> buffer N" stamped just after barrier N, on A's clock); ACKS
is the backup's ack trace ("<unix time> ack N" stamped before ACK N leaves,
on B's clock).

Clocks. A dom0's echo request leaves after its payload's stamp p and is
captured at c, so host_clock - dom0_clock <= c - p: the smallest c - p
seen within WINDOW seconds of a moment bounds that dom0's offset from above
(m_A, m_B). Only upper bounds are used, so every step below errs on the
side of letting a good run pass and never lets a bad one pass.

Epochs. A reply to a probe sent at s was made after s, so it belongs to an
epoch after every barrier known to be earlier than s: at least
L = min{N : barrier_N + m_A > s} (the one after the last barrier seen, if
none is later). It must reach the observer after the backup sent ACK L,
which on the lab host's clock is no later than ack_L + m_B.

--shift K judges against ACK L+K instead: with K=1, the run as a primary
that released each epoch one ACK early would have produced it. A check
that still passes then is not sharp enough to catch one. --until T judges
only replies captured before T (the lab host's clock): after a failover the
promoted guest answers unprotected, as it should.
"""
import struct
import sys

WINDOW = 10.0
OBSERVER_IP = "192.0.2.250"
OBSERVER = (OBSERVER_IP, "fd000000000000000000000000000250", "52:54:00:0b:00:fa")
DOM0 = {"A": "192.0.2.1", "B": "192.0.2.2"}


def read_pcap(path):
    with open(path, "rb") as f:
        data = f.read()
    magic = struct.unpack("<I", data[:4])[0]
    if magic == 0xA1B2C3D4:
        scale = 1e-6
    elif magic == 0xA1B23C4D:
        scale = 1e-9
    else:
        raise SystemExit(f"commit-check: {path}: not a little-endian pcap")
    off = 24
    while off + 16 <= len(data):
        sec, frac, incl, _ = struct.unpack("<IIII", data[off:off + 16])
        off += 16
        yield sec + frac * scale, data[off:off + incl]
        off += incl


def ip4(b):
    return ".".join(str(x) for x in b)


def mac(b):
    return ":".join(f"{x:02x}" for x in b)


def parse(frame):
    """(kind, src, dst, key, payload) for what the checks look at."""
    if len(frame) < 14:
        return None
    dst_mac, src_mac = mac(frame[0:6]), mac(frame[6:12])
    etype = struct.unpack("!H", frame[12:14])[0]
    p = frame[14:]
    if etype == 0x0806 and len(p) >= 28:
        op = struct.unpack("!H", p[6:8])[0]
        spa, tpa = ip4(p[14:18]), ip4(p[24:28])
        # a probe and its reply share the probe's sender address
        return ("arp-request" if op == 1 else "arp-reply", src_mac, dst_mac,
                spa if op == 1 else tpa, None)
    if etype == 0x0800 and len(p) >= 20:
        ihl = (p[0] & 15) * 4
        proto, src, dst = p[9], ip4(p[12:16]), ip4(p[16:20])
        l4 = p[ihl:]
        if proto == 1 and len(l4) >= 8:
            ident, seq = struct.unpack("!HH", l4[4:8])
            kind = {8: "icmp4-request", 0: "icmp4-reply"}.get(l4[0])
            return (kind, src, dst, (ident, seq), l4[8:]) if kind else None
        if proto == 6 and len(l4) >= 14:
            sport, dport = struct.unpack("!HH", l4[0:4])
            flags = l4[13]
            if flags & 0x02 and not flags & 0x10:
                return ("tcp-request", src, dst, sport, None)
            if flags & 0x12 == 0x12:
                return ("tcp-reply", src, dst, dport, None)
        return None
    if etype == 0x86DD and len(p) >= 40 and p[6] == 58:
        l4 = p[40:]
        src, dst = p[8:24].hex(), p[24:40].hex()
        if len(l4) >= 8 and l4[0] in (128, 129):
            ident, seq = struct.unpack("!HH", l4[4:8])
            kind = "icmp6-request" if l4[0] == 128 else "icmp6-reply"
            return (kind, src, dst, (ident, seq), None)
    return None


def read_trace(path, what):
    out = {}
    with open(path) as f:
        for line in f:
            parts = line.split()
            if len(parts) == 3 and parts[1] == what:
                out[int(parts[2])] = float(parts[0])
    return out


class Offset:
    """Upper bounds of (lab host clock - a dom0's clock) over time."""

    def __init__(self, samples):
        self.samples = sorted(samples)

    def at(self, t):
        near = [d for c, d in self.samples if abs(c - t) <= WINDOW]
        return min(near) if near else None


def main(argv):
    shift, until = 0, float("inf")
    while len(argv) > 2 and argv[1] in ("--shift", "--until"):
        if argv[1] == "--shift":
            shift = int(argv[2])
        else:
            until = float(argv[2])
        argv = argv[:1] + argv[3:]
    if len(argv) != 7:
        sys.stderr.write(__doc__)
        return 2
    cap, barriers_f, acks_f, gmac, gip, gip6 = argv[1:]
    gip6 = bytes(struct.pack("!8H", *[int(x, 16) for x in
                                      expand6(gip6).split(":")])).hex()
    barriers = read_trace(barriers_f, "buffer")
    acks = read_trace(acks_f, "ack")
    if not barriers or not acks:
        print(f"commit-check: {len(barriers)} barriers, {len(acks)} ACKs: nothing to judge")
        return 1
    clock = {"A": [], "B": []}
    probes = {}
    replies = []
    for t, frame in read_pcap(cap):
        pk = parse(frame)
        if not pk or not pk[0]:
            continue
        kind, src, dst, key, payload = pk
        if kind == "icmp4-request" and dst == OBSERVER_IP:
            for h, addr in DOM0.items():
                if src == addr and payload and len(payload) >= 16:
                    sec, usec = struct.unpack("<qq", payload[:16])
                    clock[h].append((t, t - (sec + usec * 1e-6)))
            continue
        base = kind.split("-")[0]
        # the first of a probe's retransmissions: the earliest it was asked
        if kind.endswith("-request") and src in OBSERVER:
            probes.setdefault((base, key), t)
        elif kind.endswith("-reply") and src in (gip, gip6, gmac) and dst in OBSERVER:
            if (base, key) in probes and t < until:
                replies.append((base, probes[(base, key)], t))
    off = {h: Offset(s) for h, s in clock.items()}
    if not clock["A"] or not clock["B"]:
        print(f"commit-check: clock samples A={len(clock['A'])} B={len(clock['B'])}: "
              "cannot relate the clocks")
        return 1
    order = sorted(barriers)
    checked = bad = unjudged = 0
    why = []
    margins = []
    per_kind = {}
    for kind, s, t in replies:
        m_a = off["A"].at(s)
        if m_a is None:
            unjudged += 1
            continue
        epoch = next((n for n in order if barriers[n] + m_a > s), order[-1] + 1)
        epoch += shift
        per_kind[kind] = per_kind.get(kind, 0) + 1
        checked += 1
        if epoch not in acks:
            bad += 1
            why.append(f"{kind}@{t:.3f} epoch>={epoch} never acknowledged")
            continue
        m_b = off["B"].at(acks[epoch])
        if m_b is None:
            m_b = max(d for _, d in clock["B"])
        limit = acks[epoch] + m_b
        margins.append((t - limit) * 1000)
        if t <= limit:
            bad += 1
            why.append(f"{kind}@{t:.3f} {1000 * (limit - t):.1f}ms before ACK {epoch}")
    margins.sort()
    p50 = margins[len(margins) // 2] if margins else 0
    spread = {h: max(d for _, d in c) - min(d for _, d in c) for h, c in clock.items()}
    print(f"checked={checked} violations={bad} unjudged={unjudged} "
          f"epochs={len(acks)} kinds={','.join(f'{k}:{v}' for k, v in sorted(per_kind.items()))} "
          f"after_ack_p50_ms={p50:.1f} after_ack_min_ms={margins[0] if margins else 0:.1f} "
          f"clock_samples={len(clock['A'])},{len(clock['B'])} "
          f"offset_spread_ms={1000 * spread['A']:.1f},{1000 * spread['B']:.1f}")
    for w in why[:10]:
        print("  " + w)
    return 1 if bad or not checked or unjudged > checked // 10 else 0


def expand6(a):
    head, _, tail = a.partition("::")
    h = [x for x in head.split(":") if x]
    t = [x for x in tail.split(":") if x]
    return ":".join(h + ["0"] * (8 - len(h) - len(t)) + t)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
