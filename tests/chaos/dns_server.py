#!/usr/bin/env python3
"""The chaos suite's DNS server (dnslib), run by run.py in its own network namespace.

Serves the zone `starling.chaos.` from a JSON file given on the command line:
{"srv": {"_cluster._tcp.starling.chaos.": [["core-1.starling.chaos.", 4370], ...]},
 "a": {"core-1.starling.chaos.": "198.18.0.11", "all.starling.chaos.": ["198.18.0.11", ...]}}
over UDP and TCP on --bind. TTL 1 s: nodes must not cache answers across a scenario. Names it does
not know get NXDOMAIN, known names without records of the asked type get an empty answer. A name
with several addresses answers them rotated by one on every query (CoreDNS's `loadbalance`); a
name listed under "pick" answers only one of them, the next on every query: a connection to it
reaches one endpoint, as one to a Service's cluster IP does through kube-proxy. The file is read
again when it changes (scripts/k8s-scenarios rewrites it as pods come and go, like a Service's
endpoints).
"""

import argparse
import itertools
import json
import os
import signal
import sys
import time

from dnslib import QTYPE, RCODE, RR, SRV, A, DNSRecord
from dnslib.server import BaseResolver, DNSHandler, DNSLogger, DNSServer


class ZoneResolver(BaseResolver):
    def __init__(self, path):
        self.path = path
        self.mtime = None
        self.turn = itertools.count()
        self.load()

    def load(self):
        """(Re)read the zone file when it changed; a half-written file keeps the old records."""
        try:
            mtime = os.stat(self.path).st_mtime_ns
            if mtime == self.mtime:
                return
            with open(self.path) as f:
                zone = json.load(f)
        except (OSError, ValueError):
            return
        self.mtime = mtime
        self.srv = {k.lower(): v for k, v in zone["srv"].items()}
        self.a = {k.lower(): [v] if isinstance(v, str) else list(v) for k, v in zone["a"].items()}
        self.pick = {k.lower() for k in zone.get("pick", [])}

    def resolve(self, request, handler):
        self.load()
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
        if qtype in ("A", "ANY") and self.a.get(qname):
            addrs = self.a[qname]
            k = next(self.turn) % len(addrs)
            for ip in (addrs[k:] + addrs[:k])[:1 if qname in self.pick else None]:
                reply.add_answer(RR(qname, QTYPE.A, ttl=1, rdata=A(ip)))
        return reply


class Handler(DNSHandler):
    """Answers over UDP no larger than the query allows (512 bytes, or its EDNS payload size),
    else truncated (TC) so the client asks again over TCP, as a real server does: an SRV answer
    naming half a dozen pods does not fit in 512 bytes."""

    def get_reply(self, data):
        request = DNSRecord.parse(data)
        reply = self.server.resolver.resolve(request, self)
        rdata = reply.pack()
        opt = [r for r in request.ar if r.rtype == QTYPE.OPT]
        if self.protocol == "udp" and len(rdata) > (max(512, opt[0].rclass) if opt else 512):
            # No records, the question kept (resolvers match it against what they asked).
            truncated = reply.truncate()
            truncated.add_question(request.q)
            rdata = truncated.pack()
        return rdata


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--zone", required=True, help="JSON file with the records")
    ap.add_argument("--bind", required=True, help="address to listen on (port 53)")
    a = ap.parse_args()
    resolver = ZoneResolver(a.zone)
    # Errors only: a line per query would fill the log.
    logger = DNSLogger("-request,-reply,-truncated,-recv,-send,-data", prefix=False)
    servers = [DNSServer(resolver, port=53, address=a.bind, tcp=tcp, logger=logger, handler=Handler)
               for tcp in (False, True)]
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
