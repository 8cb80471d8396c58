#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""consecutive_ports.py [N]: prints a port P of 127.0.0.1 such that P .. P+N-1
(N = 3 by default) were free when checked: the examples' run.sh take a port
and the next two for their demo backends."""
import socket
import sys

n = int(sys.argv[1]) if len(sys.argv) > 1 else 3
for _ in range(20):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
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
