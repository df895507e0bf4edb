# Self-test of nsdriver.py, run on the machines of ../rolling.nix by scripts/nixos-scenarios:
#   nsdriver.py rolling --script nixos/tests/driver/selftest.py --without-auth
# It checks the driver's stand-ins for what the NixOS test driver and systemd do (network
# block/unblock, shutdown/start, crash and reboot with the disk kept, per-machine files and
# PATH, the service user, Restart=on-failure, WatchdogSec, systemd-run), not the broker.
ADMIN = "http://127.0.0.1:18083"
# The unit runs again, under another main process than {old}.
NEW_MAIN_PID = 'p=$(systemctl show -P MainPID starling.service) && [ "$p" != 0 ] && [ "$p" != {old} ]'

start_all()
for m in [core1, core2, core3]:
    m.wait_for_unit("starling.service")
    m.wait_until_succeeds(f"curl -sf {ADMIN}/readyz", timeout=60)

# block()/unblock(): the link goes down and comes back.
client.wait_until_succeeds("mosquitto_pub -h core1 -t selftest -m up", timeout=30)
client.block()
client.fail("timeout 5 mosquitto_pub -h core1 -t selftest -m blocked")
client.unblock()
client.wait_until_succeeds("mosquitto_pub -h core1 -t selftest -m unblocked", timeout=30)

# Each machine has its own host name, hosts file, /tmp, /var and PATH (its packages only).
core1.succeed("hostname | grep -qx core1", "getent hosts core2 | grep -q core2")
core1.succeed("echo core1 > /tmp/selftest")
core2.fail("test -e /tmp/selftest")
core1.fail("command -v mosquitto_pub")  # rolling.nix gives the cores curl only
client.succeed("command -v mosquitto_pub", "command -v mqtt-ids")

# The unit: runs as its user, in its state directory, with the module's settings.
pid = core1.succeed("systemctl show -P MainPID starling.service").strip()
core1.succeed(f"ps -o user= -p {pid} | grep -qx starling")
core1.succeed("test \"$(stat -c %U:%a /var/lib/starling)\" = starling:750")
core1.succeed("grep -q 'role = \"core\"' /etc/starling/starling.toml")
status, out = core1.systemctl("show -P Result starling.service")
assert status == 0 and out.strip() == "success", out
core1.succeed("systemctl is-active starling")
core1.fail("systemctl is-active no-such-unit")

# Restart=on-failure: a killed broker comes back with a new pid.
core1.succeed(f"kill -KILL {pid}")
core1.wait_until_succeeds(NEW_MAIN_PID.format(old=pid), timeout=30)
core1.wait_for_unit("starling.service")

# shutdown() stops the units cleanly; start() boots again with the disk kept.
core2.succeed("touch /var/lib/starling/selftest-marker")
core2.shutdown()
core2.start()
core2.wait_for_unit("starling.service")
core2.succeed("test -e /var/lib/starling/selftest-marker")

# crash() is power loss; any command boots the machine again, as in the NixOS driver.
core3.crash()
core3.succeed("true")
core3.wait_for_unit("starling.service")
core3.wait_until_succeeds(f"curl -sf {ADMIN}/readyz", timeout=60)

# systemd-run makes a transient unit that systemctl can stop.
client.succeed("systemd-run --unit=selftest-sleeper sleep 1000", "systemctl is-active selftest-sleeper.service")
client.succeed("systemctl stop selftest-sleeper.service")
client.fail("systemctl is-active selftest-sleeper.service")

# WatchdogSec: a broker that stops sending WATCHDOG=1 is killed and started again.
pid = core1.succeed("systemctl show -P MainPID starling.service").strip()
assert pid not in ("", "0"), f"no main process: {pid!r}"
core1.succeed(f"kill -STOP {pid}")
core1.wait_until_succeeds(NEW_MAIN_PID.format(old=pid), timeout=60)
core1.wait_for_unit("starling.service")
