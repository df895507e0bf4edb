//! How replies are shown: tables and key/value lists for people, the JSON itself with `--json`.

use serde_json::Value;

pub(super) struct Output {
    pub(super) json: bool,
}

pub(super) fn s(v: &Value) -> String {
    match v {
        Value::Null => "-".into(),
        Value::String(s) => s.clone(),
        Value::Bool(b) => if *b { "yes" } else { "no" }.into(),
        other => other.to_string(),
    }
}

pub(super) fn expiry(v: &Value) -> String {
    match v.as_u64() {
        Some(4_294_967_295) => "never".into(),
        Some(n) => humantime::format_duration(std::time::Duration::from_secs(n)).to_string(),
        None => "-".into(),
    }
}

pub(super) fn unix_ms(v: &Value) -> String {
    match v.as_u64() {
        Some(ms) => {
            humantime::format_rfc3339_seconds(std::time::UNIX_EPOCH + std::time::Duration::from_millis(ms)).to_string()
        }
        None => "-".into(),
    }
}

/// Aligned columns, header first.
pub(super) fn table(header: &[&str], rows: Vec<Vec<String>>) -> String {
    let mut width: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for r in &rows {
        for (w, c) in width.iter_mut().zip(r) {
            *w = (*w).max(c.chars().count());
        }
    }
    let line = |cells: Vec<String>| {
        let mut l = String::new();
        for (i, (c, w)) in cells.iter().zip(&width).enumerate() {
            if i + 1 == cells.len() {
                l.push_str(c);
            } else {
                l.push_str(&format!("{c:<w$}  "));
            }
        }
        l.trim_end().to_string() + "\n"
    };
    let mut out = line(header.iter().map(|h| h.to_string()).collect());
    for r in rows {
        out.push_str(&line(r));
    }
    out
}

pub(super) fn fields(pairs: &[(&str, String)]) -> String {
    let w = pairs.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
    pairs.iter().map(|(k, v)| format!("{k:<w$}  {v}\n")).collect()
}

pub(super) fn sub_options(v: &Value) -> String {
    let mut o = Vec::new();
    if v["no_local"].as_bool() == Some(true) {
        o.push("no-local".to_string());
    }
    if v["retain_as_published"].as_bool() == Some(true) {
        o.push("retain-as-published".to_string());
    }
    if let Some(rh) = v["retain_handling"].as_u64().filter(|rh| *rh != 0) {
        o.push(format!("retain-handling={rh}"));
    }
    if let Some(id) = v["subscription_identifier"].as_u64() {
        o.push(format!("id={id}"));
    }
    if o.is_empty() { "-".into() } else { o.join(",") }
}

impl Output {
    pub(super) fn print_json(&self, v: &Value) -> anyhow::Result<()> {
        say!("{}", serde_json::to_string_pretty(v)?);
        Ok(())
    }

    /// Listing pages: the table, then how much more there is.
    pub(super) fn page(
        &self,
        v: &Value,
        what: &str,
        header: &[&str],
        row: impl Fn(&Value) -> Vec<String>,
    ) -> anyhow::Result<()> {
        if self.json {
            return self.print_json(v);
        }
        let items = v["data"].as_array().cloned().unwrap_or_default();
        let total = v["meta"]["total"].as_u64().unwrap_or(items.len() as u64);
        let offset = v["meta"]["offset"].as_u64().unwrap_or(0);
        if items.is_empty() {
            say!("no {what}{}", if total > 0 { format!(" at offset {offset} (of {total})") } else { String::new() });
            return Ok(());
        }
        say_raw!("{}", table(header, items.iter().map(row).collect()));
        let shown = items.len() as u64;
        if offset > 0 || shown < total {
            say!("({}-{} of {total} {what}; --offset/--limit for more)", offset + 1, offset + shown);
        }
        Ok(())
    }

    pub(super) fn done(&self, v: Value, text: &str) -> anyhow::Result<()> {
        if self.json {
            return self.print_json(&v);
        }
        say!("{text}");
        Ok(())
    }

    pub(super) fn status(&self, v: &Value) -> anyhow::Result<()> {
        if self.json {
            return self.print_json(v);
        }
        let uptime = v["uptime_seconds"]
            .as_u64()
            .map(|n| humantime::format_duration(std::time::Duration::from_secs(n)).to_string())
            .unwrap_or_else(|| "-".into());
        let m = &v["messages"];
        let b = &v["bytes"];
        say_raw!(
            "{}",
            fields(&[
                ("node", s(&v["node"])),
                ("version", s(&v["version"])),
                ("uptime", uptime),
                ("connections", s(&v["connections"])),
                ("sessions", format!("{} ({} persistent)", s(&v["sessions"]), s(&v["persistent_sessions"]))),
                ("subscriptions", s(&v["subscriptions"])),
                ("routes", s(&v["routes"])),
                ("retained", s(&v["retained"])),
                ("queued", s(&v["queued"])),
                ("inflight", s(&v["inflight"])),
                (
                    "messages",
                    format!("{} received, {} sent, {} dropped", s(&m["received"]), s(&m["sent"]), s(&m["dropped"])),
                ),
                ("bytes", format!("{} received, {} sent", s(&b["received"]), s(&b["sent"]))),
            ])
        );
        Ok(())
    }

    pub(super) fn clients(&self, v: &Value) -> anyhow::Result<()> {
        self.page(v, "clients", &["CLIENT ID", "CONNECTED", "EXPIRY", "SUBS", "QUEUED", "INFLIGHT"], |c| {
            vec![
                s(&c["client_id"]),
                s(&c["connected"]),
                expiry(&c["session_expiry_interval"]),
                s(&c["subscription_count"]),
                s(&c["queued"]),
                s(&c["inflight"]),
            ]
        })
    }

    pub(super) fn client(&self, v: &Value) -> anyhow::Result<()> {
        if self.json {
            return self.print_json(v);
        }
        say_raw!(
            "{}",
            fields(&[
                ("client id", s(&v["client_id"])),
                ("node", s(&v["node"])),
                ("connected", s(&v["connected"])),
                ("persistent", s(&v["persistent"])),
                ("session expiry", expiry(&v["session_expiry_interval"])),
                ("disconnected at", unix_ms(&v["disconnected_at"])),
                ("expires at", unix_ms(&v["expires_at"])),
                ("will pending", s(&v["will_pending"])),
                ("queued", s(&v["queued"])),
                ("inflight", s(&v["inflight"])),
            ])
        );
        let subs = v["subscriptions"].as_array().cloned().unwrap_or_default();
        if subs.is_empty() {
            say!("no subscriptions");
        } else {
            say!();
            say_raw!(
                "{}",
                table(
                    &["FILTER", "QOS", "OPTIONS"],
                    subs.iter().map(|x| vec![s(&x["filter"]), s(&x["qos"]), sub_options(x)]).collect()
                )
            );
        }
        Ok(())
    }

    pub(super) fn subscriptions(&self, v: &Value) -> anyhow::Result<()> {
        self.page(v, "subscriptions", &["CLIENT ID", "FILTER", "QOS", "OPTIONS"], |x| {
            vec![s(&x["client_id"]), s(&x["filter"]), s(&x["qos"]), sub_options(x)]
        })
    }

    pub(super) fn bridges(&self, v: &Value) -> anyhow::Result<()> {
        if self.json {
            return self.print_json(v);
        }
        let list = v["bridges"].as_array().cloned().unwrap_or_default();
        if list.is_empty() {
            say!("no bridges configured");
            return Ok(());
        }
        let dropped = |x: &Value| {
            let d: u64 = x["dropped"].as_object().map(|m| m.values().filter_map(Value::as_u64).sum()).unwrap_or(0);
            d.to_string()
        };
        let rows = list
            .iter()
            .map(|x| {
                let state =
                    if x["connected"] == true { s(&x["upstream"]) } else { format!("down: {}", s(&x["last_error"])) };
                vec![
                    s(&x["name"]),
                    s(&x["holder"]),
                    state,
                    s(&x["backlog_messages"]),
                    s(&x["backlog_inflight"]),
                    s(&x["backlog_bytes"]),
                    s(&x["forwarded_out"]),
                    s(&x["forwarded_in"]),
                    dropped(x),
                    s(&x["reconnects"]),
                ]
            })
            .collect();
        say_raw!(
            "{}",
            table(
                &["BRIDGE", "HOLDER", "UPLINK", "BACKLOG", "INFLIGHT", "BYTES", "OUT", "IN", "DROPPED", "RECONNECTS"],
                rows
            )
        );
        Ok(())
    }

    pub(super) fn routes(&self, v: &Value) -> anyhow::Result<()> {
        self.page(v, "routes", &["FILTER", "NODE", "SUBSCRIPTIONS"], |x| {
            vec![s(&x["filter"]), s(&x["node"]), s(&x["local_subscriptions"])]
        })
    }

    pub(super) fn cluster(&self, v: &Value) -> anyhow::Result<()> {
        if self.json {
            return self.print_json(v);
        }
        let leader = v["leader"].as_u64();
        let leader_name = v["members"]
            .as_array()
            .and_then(|m| m.iter().find(|x| x["id"].as_u64() == leader))
            .map(|x| s(&x["name"]))
            .unwrap_or_else(|| if v["mode"] == "standalone" { s(&v["name"]) } else { "none".into() });
        say!(
            "node {} ({}, {}), leader {}, term {}, applied {}",
            s(&v["name"]),
            s(&v["role"]),
            s(&v["mode"]),
            leader_name,
            s(&v["term"]),
            s(&v["applied"])
        );
        let rows: Vec<Vec<String>> = v["members"]
            .as_array()
            .map(|m| {
                m.iter()
                    .map(|x| {
                        vec![
                            s(&x["name"]),
                            s(&x["role"]),
                            s(&x["addr"]),
                            s(&x["state"]),
                            s(&x["voter"]),
                            s(&x["matched"]),
                            s(&x["lag"]),
                        ]
                    })
                    .collect()
            })
            .unwrap_or_default();
        if !rows.is_empty() {
            say_raw!("{}", table(&["NODE", "ROLE", "ADDRESS", "STATE", "VOTER", "APPLIED", "LAG"], rows));
        }
        for w in v["warnings"].as_array().into_iter().flatten() {
            say!("warning: {}", s(w));
        }
        Ok(())
    }

    pub(super) fn retained(&self, v: &Value) -> anyhow::Result<()> {
        self.page(v, "retained messages", &["TOPIC", "QOS", "BYTES", "PUBLISHER", "EXPIRES"], |x| {
            vec![s(&x["topic"]), s(&x["qos"]), s(&x["payload_size"]), s(&x["publisher"]), unix_ms(&x["expires_at"])]
        })
    }

    pub(super) fn bans(&self, v: &Value) -> anyhow::Result<()> {
        self.page(v, "bans", &["KIND", "VALUE", "SOURCE", "EXPIRES", "REASON"], |x| {
            let expires = if x["expires_at"].is_null() { "never".into() } else { unix_ms(&x["expires_at"]) };
            vec![s(&x["kind"]), s(&x["value"]), s(&x["source"]), expires, s(&x["reason"])]
        })
    }

    pub(super) fn users(&self, v: &Value) -> anyhow::Result<()> {
        self.page(v, "users", &["USERNAME", "SOURCE", "WRITABLE"], |x| {
            vec![s(&x["username"]), s(&x["source"]), s(&x["writable"])]
        })
    }

    pub(super) fn retained_one(&self, v: &Value) -> anyhow::Result<()> {
        if self.json {
            return self.print_json(v);
        }
        let payload = match v["payload_text"].as_str() {
            Some(t) => t.to_string(),
            None => format!("(binary, base64) {}", s(&v["payload_base64"])),
        };
        say_raw!(
            "{}",
            fields(&[
                ("topic", s(&v["topic"])),
                ("qos", s(&v["qos"])),
                ("bytes", s(&v["payload_size"])),
                ("publisher", s(&v["publisher"])),
                ("expires at", unix_ms(&v["expires_at"])),
                ("content type", s(&v["content_type"])),
                ("payload", payload),
            ])
        );
        Ok(())
    }
}
