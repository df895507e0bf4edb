# Shared by scripts/bench/run.sh and scripts/bench/instr.sh (sourced, not run): how rumqttd is
# installed and configured for the comparisons, so both measure the same rumqttd set-up, and the
# in-flight window every broker is given.

# QoS 1/2 messages in flight to one subscriber, for every broker measured. rumqttd's window is
# not configurable: 100, a constant of its router (`MAX_INFLIGHT` in src/router/iobufs.rs of
# 0.20.0; its `max_inflight_count` setting is something else, see below). Starling
# (`session.max_inflight`, default 32) and Mosquitto (`max_inflight_messages`, default 20) are
# set to the same, so a QoS 1 comparison does not measure a smaller window's extra round trips.
# Set in the environment to measure Starling and Mosquitto at another window (rumqttd stays at
# 100, so such a comparison is not like for like).
BENCH_INFLIGHT=${BENCH_INFLIGHT:-100}

# Install rumqttd into ~/.cargo/bin unless it is there already (compiles for a few minutes).
install_rumqttd() {
    if command -v rumqttd >/dev/null || [ -x "$HOME/.cargo/bin/rumqttd" ]; then
        return 0
    fi
    echo "installing rumqttd (cargo install, compiles for a few minutes)" >&2
    # rumqttd 0.20.0's lock file pins metrics 0.22.1, which newer compilers reject; fall back
    # to fresh semver-compatible dependencies when the locked build fails.
    cargo install rumqttd --locked --root "$HOME/.cargo" \
        || cargo install rumqttd --root "$HOME/.cargo"
}

# Write rumqttd's configuration to FILE: its sample config with three changes: a loopback
# listener on PORT, room for MAX_CONNECTIONS clients, and no delay between accepted
# connections (the sample throttles to 1 ms). The sample's `max_inflight_count = 100` stays: in
# 0.20.0 it bounds how many packets one read hands to the router, not the window.
write_rumqttd_config() { # FILE PORT MAX_CONNECTIONS
    cat >"$1" <<CONF
id = 0

[router]
id = 0
max_connections = $3
max_outgoing_packet_count = 200
max_segment_size = 104857600
max_segment_count = 10

[v4.1]
name = "v4-1"
listen = "127.0.0.1:$2"
next_connection_delay_ms = 0
    [v4.1.connections]
    connection_timeout_ms = 60000
    max_payload_size = 20480
    max_inflight_count = 100
    dynamic_filters = true
CONF
}
