#!/usr/bin/env python3
"""Writes the hand-made hostile inputs of tests/corpus/ (see README.md).

Each file is the exact byte stream one client sends on a fresh TCP connection. The prefix of the
name says what the stream starts with, and so what the replay test expects:

  pre_*  no valid CONNECT is ever completed: the broker must not answer with a successful
         CONNACK; it may answer with a failed CONNACK, then must close.
  v5_*   a valid MQTT 5.0 CONNECT (keep alive 3 s) and then the hostile part.
  v3_*   a valid MQTT 3.1.1 CONNECT (keep alive 3 s) and then the hostile part.

The files are checked in; rerun this script (from anywhere) only to regenerate or extend them.
Files found by the fuzzers (fuzz_*) are copied in by hand and are not written here.
"""

import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))
MAX_PACKET = 1024  # mqtt.max_packet_size of the replay node (tests/it/robust_corpus.rs)
KEEP_ALIVE = 3


def varint(n):
    out = bytearray()
    while True:
        b = n % 128
        n //= 128
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def s(b):
    if isinstance(b, str):
        b = b.encode()
    return struct.pack(">H", len(b)) + b


def pkt(first, body):
    return bytes([first]) + varint(len(body)) + body


def props(p=b""):
    return varint(len(p)) + p


def connect_v5(cid, flags=0x02, keep=KEEP_ALIVE, prop=b"", payload_extra=b"", level=5, name=b"MQTT", first=0x10):
    body = s(name) + bytes([level, flags]) + struct.pack(">H", keep) + props(prop) + s(cid) + payload_extra
    return pkt(first, body)


def connect_v3(cid, flags=0x02, keep=KEEP_ALIVE, payload_extra=b"", level=4, name=b"MQTT", first=0x10):
    body = s(name) + bytes([level, flags]) + struct.pack(">H", keep) + s(cid) + payload_extra
    return pkt(first, body)


def publish_v5(topic, payload=b"x", qos=0, pid=None, prop=b"", first=None):
    f = first if first is not None else 0x30 | (qos << 1)
    body = s(topic) + (struct.pack(">H", pid) if pid is not None else b"") + props(prop) + payload
    return pkt(f, body)


def publish_v3(topic, payload=b"x", qos=0, pid=None, first=None):
    f = first if first is not None else 0x30 | (qos << 1)
    body = s(topic) + (struct.pack(">H", pid) if pid is not None else b"") + payload
    return pkt(f, body)


def subscribe_v5(pid, entries, prop=b"", first=0x82):
    body = struct.pack(">H", pid) + props(prop) + b"".join(s(f) + bytes([o]) for f, o in entries)
    return pkt(first, body)


def subscribe_v3(pid, entries, first=0x82):
    body = struct.pack(">H", pid) + b"".join(s(f) + bytes([o]) for f, o in entries)
    return pkt(first, body)


def user_prop(k, v):
    return b"\x26" + s(k) + s(v)


files = {}


def pre(name, data):
    files["pre_" + name] = data


def v5(name, data):
    files["v5_" + name] = connect_v5("v5-" + name) + data


def v3(name, data):
    files["v3_" + name] = connect_v3("v3-" + name) + data


# ------------------------------------------------------------------ before / in CONNECT

good5 = connect_v5("pre-x")
pre("truncated_fixed_header", b"\x10")
pre("truncated_connect_body", good5[:6])
pre("length_beyond_data", b"\x10" + varint(len(good5) - 2 + 20) + good5[2:])
pre("remaining_length_5_bytes", b"\x10\xff\xff\xff\xff\x7f" + good5[2:])
pre("huge_length_connect", b"\x10\xff\xff\xff\x7f" + good5[2:])
pre("oversized_connect", connect_v5("pre-big", flags=0x06, payload_extra=props() + s("w/t") + s(b"w" * (MAX_PACKET + 200))))
pre("connect_invalid_utf8_client_id_v5", connect_v5(b"\xff\xfe"))
pre("connect_invalid_utf8_client_id_v3", connect_v3(b"ab\xc3"))
pre("connect_utf16_surrogate_client_id_v3", connect_v3(b"\xed\xa0\x80"))
pre("connect_invalid_utf8_user_property_v5", connect_v5("pre-up", prop=user_prop("k", b"\xff")))
pre("connect_invalid_utf8_will_topic_v3", connect_v3("pre-wt", flags=0x06, payload_extra=s(b"w/\xff") + s(b"x")))
pre("connect_invalid_utf8_username_v3", connect_v3("pre-un", flags=0x82, payload_extra=s(b"\xc0\xaf")))
pre("reserved_type_0", b"\x00\x00")
pre("reserved_type_15", b"\xf0\x00")
pre("connect_wrong_fixed_flags", connect_v3("pre-ff", first=0x12))
pre("connect_reserved_flag_set_v3", connect_v3("pre-rf3", flags=0x03))
pre("connect_reserved_flag_set_v5", connect_v5("pre-rf5", flags=0x03))
pre("pubrel_before_connect", b"\x62\x02\x00\x01")
pre("publish_before_connect", publish_v3("a", b"hi"))
pre("publish_qos1_before_connect", publish_v3("a", b"hi", qos=1, pid=1))
pre("subscribe_before_connect", subscribe_v3(1, [("#", 0)]))
pre("pingreq_before_connect", b"\xc0\x00")
pre("disconnect_before_connect", b"\xe0\x00")
pre("connect_level_3", connect_v3("pre-l3", level=3))
pre("connect_level_6", connect_v5("pre-l6", level=6))
# MQTT 3.1 is accepted (docs/transport.md), but it requires a client id, and only at level 3.
pre("connect_mqisdp_level_3_empty_client_id", connect_v3("", level=3, name=b"MQIsdp"))
pre("connect_mqisdp_level_4", connect_v3("pre-31", level=4, name=b"MQIsdp"))
pre("connect_bad_protocol_name", connect_v3("pre-pn", name=b"MQTX"))
pre("v3_empty_client_id_clean_session_0", connect_v3("", flags=0x00))
pre("connect_will_qos3_v3", connect_v3("pre-wq3", flags=0x1E, payload_extra=s("w/t") + s(b"x")))
pre("connect_will_qos_without_will_flag_v3", connect_v3("pre-wq", flags=0x0A))
pre("connect_will_retain_without_will_flag_v5", connect_v5("pre-wr", flags=0x22))
pre("connect_password_without_username_v3", connect_v3("pre-pw", flags=0x42, payload_extra=s(b"secret")))
pre("connect_duplicate_session_expiry_v5", connect_v5("pre-dup", prop=b"\x11\x00\x00\x00\x10" * 2))
pre("connect_unknown_property_v5", connect_v5("pre-up2", prop=b"\x7f\x00"))
pre("connect_trailing_bytes_v3", pkt(0x10, connect_v3("pre-tb")[2:] + b"\x00\x01\x02"))
pre("connect_client_id_length_beyond_body", pkt(0x10, s("MQTT") + b"\x04\x02\x00\x02" + b"\x01\x00ab"))
pre("connect_property_length_beyond_body_v5", pkt(0x10, s("MQTT") + b"\x05\x02\x00\x02" + varint(100) + b"\x11\x00"))
pre("connect_zero_length_body", b"\x10\x00")
pre("connect_auth_method_v5", connect_v5("pre-am", prop=b"\x15" + s("SCRAM-SHA-1")))
pre("http_get", b"GET / HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\n\r\n")
pre("tls_client_hello", bytes.fromhex("160301003b0100003703030000000000000000000000000000000000000000000000000000000000000000000000021301010000") + b"\x00" * 12)
pre("connack_from_client", b"\x20\x02\x00\x00")
# Issue 14: U+0000 in CONNECT strings is malformed ([MQTT-1.5.3-2], [MQTT-1.5.4-2]); a 3.1.1
# CONNECT that does not conform is closed without CONNACK ([MQTT-3.1.4-1]); a first packet that
# is not CONNECT is closed at once, without waiting for its declared body ([MQTT-3.1.0-1]).
pre("connect_nul_client_id_v3", connect_v3(b"a\x00b"))
pre("connect_nul_client_id_v5", connect_v5(b"a\x00b"))
pre("connect_nul_username_v3", connect_v3("pre-nu", flags=0x82, payload_extra=s(b"us\x00er")))
pre("connect_nul_username_v5", connect_v5("pre-nu", flags=0x82, payload_extra=s(b"us\x00er")))
pre("connect_nul_will_topic_v3", connect_v3("pre-nw", flags=0x06, payload_extra=s(b"w\x00t") + s("x")))
pre("connect_username_without_flag_v3", connect_v3("pre-uf", payload_extra=s("user")))
pre("connect_will_without_payload_v3", connect_v3("pre-wp", flags=0x06, payload_extra=s("will/t")))
pre("publish_long_length_before_connect", b"\x30\xff\xff\x7f")

# ------------------------------------------------------------------ after a 5.0 CONNECT

v5("second_connect", connect_v5("v5-second-again"))
v5("publish_qos3", publish_v5("a", qos=0, pid=1, first=0x36))
v5("publish_wildcard_plus", publish_v5("a/+"))
v5("publish_wildcard_hash", publish_v5("a/#", qos=1, pid=1))
v5("publish_qos1_packet_id_0", publish_v5("a", qos=1, pid=0))
v5("publish_qos2_packet_id_0", publish_v5("a", qos=2, pid=0))
v5("subscribe_packet_id_0", subscribe_v5(0, [("s", 0)]))
v5("unsubscribe_packet_id_0", pkt(0xA2, b"\x00\x00" + props() + s("s")))
v5("reserved_type_0", b"\x00\x00")
v5("subscribe_wrong_flags", subscribe_v5(1, [("s", 0)], first=0x80))
v5("pubrel_wrong_flags", b"\x60\x03\x00\x01\x00")
v5("pingreq_flags_set", b"\xc1\x00")
v5("publish_invalid_utf8_topic", publish_v5(b"a/\xff"))
v5("publish_utf16_surrogate_topic", publish_v5(b"a/\xed\xbf\xbf"))
v5("publish_invalid_utf8_user_property", publish_v5("a", prop=user_prop(b"\xfe", "v")))
v5("subscribe_invalid_utf8_filter", subscribe_v5(1, [(b"a/\xff", 0)]))
v5("oversized_publish", publish_v5("a", b"p" * (MAX_PACKET + 100)))
v5("huge_length_publish", b"\x30\xff\xff\xff\x7f\x00\x01a\x00payload")
v5("remaining_length_5_bytes", b"\x30\xff\xff\xff\xff\x01")
v5("truncated_publish", b"\x30\x0a\x00\x03a")
v5("topic_alias_zero", publish_v5("a", prop=b"\x23\x00\x00"))
v5("topic_alias_above_maximum", publish_v5("a", prop=b"\x23\xfd\xe8"))
v5("empty_topic_without_alias", publish_v5(""))
v5("subscribe_no_filters", pkt(0x82, b"\x00\x01" + props()))
v5("subscribe_options_reserved_bits", subscribe_v5(1, [("s", 0xC0)]))
v5("subscribe_qos3", subscribe_v5(1, [("s", 0x03)]))
v5("subscribe_retain_handling_3", subscribe_v5(1, [("s", 0x30)]))
v5("shared_subscription_no_local", subscribe_v5(1, [("$share/g/a", 0x04)]))
v5("disconnect_session_expiry_after_zero", pkt(0xE0, b"\x00" + props(b"\x11\x00\x00\x00\x3c")))
v5("auth_packet", pkt(0xF0, b"\x00" + props()))
v5("connack_from_client", b"\x20\x03\x00\x00\x00")
v5("suback_from_client", b"\x90\x04\x00\x01\x00\x00")
v5("publish_with_subscription_identifier", publish_v5("a", prop=b"\x0b\x05"))
v5("publish_duplicate_payload_format", publish_v5("a", prop=b"\x01\x00\x01\x00"))
v5("publish_property_length_beyond_packet", pkt(0x30, s("a") + varint(50) + b"\x01\x00"))
# Found by the packet_decoder fuzzer: a second QoS 2 PUBLISH with packet id 0 makes
# mqtt-protocol-core 0.7.9 panic (core.rs:3062); the broker must close at the first one.
v5("publish_qos2_packet_id_0_twice", publish_v5("r", qos=2, pid=0) + publish_v5("m", qos=2, pid=0))
v5("subscribe_nul_filter", subscribe_v5(1, [(b"a/\x00/b", 0)]))
v5("publish_nul_topic", publish_v5(b"a\x00b"))
v5("empty_topic_unset_alias", publish_v5("", prop=b"\x23\x00\x01"))
v5("receive_maximum_exceeded", b"".join(publish_v5("rm", qos=2, pid=i) for i in range(1, 131)))

# ------------------------------------------------------------------ after a 3.1.1 CONNECT

v3("second_connect", connect_v3("v3-second-again"))
v3("publish_qos3", publish_v3("a", pid=1, first=0x36))
v3("publish_wildcard_plus", publish_v3("a/+"))
v3("publish_wildcard_hash", publish_v3("#", qos=1, pid=3))
v3("publish_qos1_packet_id_0", publish_v3("a", qos=1, pid=0))
v3("publish_qos2_packet_id_0_twice", publish_v3("r", qos=2, pid=0) + publish_v3("m", qos=2, pid=0))
v3("subscribe_packet_id_0", subscribe_v3(0, [("s", 0)]))
v3("reserved_type_0", b"\x00\x00")
v3("reserved_type_15", b"\xf0\x00")
v3("subscribe_wrong_flags", subscribe_v3(1, [("s", 0)], first=0x80))
v3("publish_invalid_utf8_topic", publish_v3(b"\xc3\x28"))
v3("publish_nul_in_topic", publish_v3(b"a\x00b"))
v3("subscribe_nul_filter", subscribe_v3(1, [(b"a/\x00/b", 0)]))
v3("subscribe_invalid_utf8_filter", subscribe_v3(1, [(b"\xff", 0)]))
v3("oversized_publish", publish_v3("a", b"p" * (MAX_PACKET + 100)))
v3("huge_length_publish", b"\x30\xff\xff\xff\x7f\x00\x01a")
v3("truncated_publish", b"\x30\x0a\x00\x03a")
v3("subscribe_qos3", subscribe_v3(1, [("s", 0x03)]))
v3("subscribe_reserved_option_bits", subscribe_v3(1, [("s", 0x04)]))
v3("unsubscribe_no_filters", pkt(0xA2, b"\x00\x01"))
v3("connack_from_client", b"\x20\x02\x00\x00")


def main():
    for name, data in sorted(files.items()):
        with open(os.path.join(HERE, name + ".bin"), "wb") as f:
            f.write(data)
    print(f"wrote {len(files)} files")


if __name__ == "__main__":
    main()
