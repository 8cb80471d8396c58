#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""consecutive_ports.py [N]: prints a port P of 127.0.0.1 such that P .. P+N-1
(N = 3 by default) were free when checked: the examples' run.sh take a port
and the next two for their demo backends.

The ports are drawn below the kernel's ephemeral range
(net.ipv4.ip_local_port_range), where no outgoing connection and no test
server bound to port 0 can take one between this check and the example's
bind; a run of tests in parallel made that happen."""
import random
import socket
import sys

n = int(sys.argv[1]) if len(sys.argv) > 1 else 3
try:
    with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
        low = int(f.read().split()[0])
except (OSError, ValueError, IndexError):
    low = 32768
rnd = random.SystemRandom()
for _ in range(50):
    p = rnd.randrange(10000, max(10001, low - n))
    t = [socket.socket() for _ in range(n)]
    try:
        for i, x in enumerate(t):
            x.bind(("127.0.0.1", p + i))
        print(p)
        break
    except OSError:
        pass
    finally:
        for x in t:
            x.close()
else:
    sys.exit("consecutive_ports: found no %d free consecutive ports" % n)
