#!/usr/bin/env python3
"""The chaos suite's DNS server (dnslib), run by run.py in its own network namespace.

Serves the zone `starling.chaos.` from a JSON file given on the command line:
{"srv": {"_cluster._tcp.starling.chaos.": [["core-1.starling.chaos.", 4370], ...]},
 "a": {"core-1.starling.chaos.": "198.18.0.11", ...}}
over UDP and TCP on --bind. TTL 1 s: nodes must not cache answers across a scenario. Names it does
not know get NXDOMAIN, known names without records of the asked type get an empty answer.
"""

import argparse
import json
import signal
import sys
import time

from dnslib import QTYPE, RCODE, RR, A, SRV
from dnslib.server import BaseResolver, DNSLogger, DNSServer


class ZoneResolver(BaseResolver):
    def __init__(self, zone):
        self.srv = {k.lower(): v for k, v in zone["srv"].items()}
        self.a = {k.lower(): v for k, v in zone["a"].items()}

    def resolve(self, request, handler):
        reply = request.reply()
        qname = str(request.q.qname).lower()
        qtype = QTYPE[request.q.qtype]
        if qname not in self.srv and qname not in self.a:
            reply.header.rcode = RCODE.NXDOMAIN
            return reply
        if qtype in ("SRV", "ANY"):
            for target, port in self.srv.get(qname, []):
                reply.add_answer(RR(qname, QTYPE.SRV, ttl=1, rdata=SRV(priority=0, weight=10, port=port,
                                                                       target=target)))
        if qtype in ("A", "ANY") and qname in self.a:
            reply.add_answer(RR(qname, QTYPE.A, ttl=1, rdata=A(self.a[qname])))
        return reply


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--zone", required=True, help="JSON file with the records")
    ap.add_argument("--bind", required=True, help="address to listen on (port 53)")
    a = ap.parse_args()
    with open(a.zone) as f:
        zone = json.load(f)
    resolver = ZoneResolver(zone)
    # Errors only: a line per query would fill the log.
    logger = DNSLogger("-request,-reply,-truncated,-recv,-send,-data", prefix=False)
    servers = [DNSServer(resolver, port=53, address=a.bind, tcp=tcp, logger=logger) for tcp in (False, True)]
    for s in servers:
        s.start_thread()
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    print("dns: serving", flush=True)
    while not stop:
        time.sleep(0.2)
    for s in servers:
        s.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
