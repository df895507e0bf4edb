#!/usr/bin/env python3
"""Authoritative DNS for nsdriver's stand-in of `services.coredns` with the `file` plugin.

  dns.py --zone starling.test:53:/path/to/zone [--zone ...]

Serves each zone file (RFC 1035 master file: $ORIGIN, $TTL, SOA, NS, A, AAAA, SRV, CNAME, TXT)
over UDP and TCP: answers with the zone's records, NXDOMAIN for names it lacks, NOERROR/empty
for names with other types, and adds the A/AAAA records of SRV targets in the zone as
additional records, as CoreDNS' file plugin does. Logs each query (CoreDNS' `log`).
"""

import argparse
import sys
import time

from dnslib import QTYPE, RCODE, RR, DNSLabel
from dnslib.server import BaseResolver, DNSLogger, DNSServer


class ZoneResolver(BaseResolver):
    def __init__(self, zones):
        self.zones = zones  # [(origin DNSLabel, [RR])]

    def resolve(self, request, handler):
        reply = request.reply()
        q = request.q
        zone = next(((o, rrs) for o, rrs in self.zones if q.qname.matchSuffix(o)), None)
        if zone is None:
            reply.header.rcode = RCODE.REFUSED
            return reply
        origin, rrs = zone
        reply.header.aa = 1
        named = [rr for rr in rrs if rr.rname == q.qname]
        if not named:
            reply.header.rcode = RCODE.NXDOMAIN
        for rr in named:
            if q.qtype in (rr.rtype, QTYPE.ANY) or rr.rtype == QTYPE.CNAME:
                reply.add_answer(rr)
                if rr.rtype == QTYPE.SRV:
                    for extra in rrs:
                        if extra.rname == rr.rdata.target and extra.rtype in (QTYPE.A, QTYPE.AAAA):
                            reply.add_ar(extra)
        if not reply.rr:
            reply.add_auth(*[rr for rr in rrs if rr.rtype == QTYPE.SOA])
        return reply


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--zone", action="append", required=True, help="NAME:PORT:FILE")
    args = ap.parse_args()
    by_port = {}
    for spec in args.zone:
        name, port, path = spec.split(":", 2)
        rrs = list(RR.fromZone(open(path).read()))
        by_port.setdefault(int(port), []).append((DNSLabel(name), rrs))
        print(f"zone {name}: {len(rrs)} records from {path}", flush=True)
    servers = []
    for port, zones in by_port.items():
        logger = DNSLogger("request,reply,error", prefix=False)
        for tcp in (False, True):
            s = DNSServer(ZoneResolver(zones), address="0.0.0.0", port=port, tcp=tcp, logger=logger)
            s.start_thread()
            servers.append(s)
    print(f"serving on port(s) {sorted(by_port)}", flush=True)
    while all(s.isAlive() for s in servers):
        time.sleep(1)
    sys.exit(1)


if __name__ == "__main__":
    main()
