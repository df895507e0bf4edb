//! docs/security.md is executable: every configuration example loads, every ACL example parses,
//! the decision tables hold for the ACL above them, and the password file example parses.

use std::path::Path;

use starling::auth::acl::{Acl, Action, Who};
use starling::config::{Config, Overrides};

/// The fenced blocks of a markdown file: (language, body).
fn blocks(md: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut cur: Option<(String, String)> = None;
    for line in md.lines() {
        match (&mut cur, line.strip_prefix("```")) {
            (None, Some(lang)) => cur = Some((lang.trim().to_string(), String::new())),
            (Some(_), Some(_)) => out.extend(cur.take()),
            (Some((_, body)), None) => {
                body.push_str(line);
                body.push('\n');
            }
            (None, None) => {}
        }
    }
    out
}

#[test]
fn security_doc_examples_load_and_acl_tables_hold() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/security.md");
    let md = std::fs::read_to_string(&path).expect("docs/security.md");
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut configs, mut acls, mut decisions, mut passwd) = (0, 0, 0, 0);
    let mut last_acl: Option<Acl> = None;
    for (i, (lang, body)) in blocks(&md).into_iter().enumerate() {
        let first = body.lines().next().unwrap_or("").trim();
        match (lang.as_str(), first) {
            ("toml", "# starling.toml") => {
                let f = dir.path().join(format!("example-{i}.toml"));
                std::fs::write(&f, &body).expect("write");
                if let Err(e) = Config::load(Some(&f), &Overrides::default()) {
                    panic!("configuration example {i} does not load: {e}\n{body}");
                }
                configs += 1;
            }
            ("toml", "# acl.toml") => {
                last_acl = Some(Acl::parse(&body).unwrap_or_else(|e| panic!("ACL example {i}: {e}\n{body}")));
                acls += 1;
            }
            ("toml", other) => {
                panic!("toml block {i} must start with `# starling.toml` or `# acl.toml`, not {other:?}")
            }
            ("text", f) if f.starts_with("# acl decisions") => {
                let acl = last_acl.as_ref().expect("a decision table follows an ACL example");
                for row in body.lines().skip(1).filter(|l| !l.trim().is_empty()) {
                    let c: Vec<&str> = row.split_whitespace().collect();
                    let [user, client, action, topic, want] = c[..] else { panic!("bad row {row:?}") };
                    let who = Who { username: (user != "-").then_some(user), client_id: client };
                    let action = match action {
                        "publish" => Action::Publish,
                        "subscribe" => Action::Subscribe,
                        other => panic!("action {other:?}"),
                    };
                    let got = if acl.check(who, action, topic) { "allow" } else { "deny" };
                    assert_eq!(got, want, "docs/security.md decision row {row:?}");
                    decisions += 1;
                }
            }
            ("text", "# passwd") => {
                let users = starling::auth::password::parse(&body, Path::new("docs/security.md"))
                    .unwrap_or_else(|e| panic!("password file example: {e}"));
                assert!(!users.is_empty());
                passwd += 1;
            }
            _ => {}
        }
    }
    assert!(configs >= 4 && acls >= 1 && decisions >= 8 && passwd == 1, "{configs} {acls} {decisions} {passwd}");
}
