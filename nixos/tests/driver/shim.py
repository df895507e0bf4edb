"""`systemctl`, `systemd-run` and `systemd-analyze` inside an nsdriver machine.

The driver's service manager does the work; this client sends it the command line over the
machine's control socket ($NSDRIVER_CONTROL) and relays output and exit status.
"""

import json
import os
import socket
import sys


def main():
    path = os.environ.get("NSDRIVER_CONTROL")
    tool = os.path.basename(sys.argv[0])
    if not path:
        print(f"{tool}: not inside an nsdriver machine (NSDRIVER_CONTROL unset)", file=sys.stderr)
        sys.exit(1)
    env = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME")}
    request = json.dumps({"argv": [tool, *sys.argv[1:]], "env": env}).encode() + b"\n"
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.connect(path)
        s.sendall(request)
        data = b""
        while not data.endswith(b"\n"):
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    if not data:
        print(f"{tool}: the driver closed the connection", file=sys.stderr)
        sys.exit(1)
    reply = json.loads(data)
    sys.stdout.write(reply["stdout"])
    sys.stderr.write(reply["stderr"])
    sys.exit(reply["status"])
