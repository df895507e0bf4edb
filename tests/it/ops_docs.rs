//! docs/operations.md stays true: every ```toml example loads with the real configuration
//! loader, and every `starling ...` command it shows names subcommands the binary has (checked
//! against `starling ... --help` of the real binary).

use std::collections::HashMap;
use std::process::Command;

use starling::config::{Config, Overrides};

use crate::cli_util::BIN;

const DOC: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/operations.md");

fn blocks(md: &str, lang: &str) -> Vec<String> {
    let open = format!("```{lang}");
    let mut out = Vec::new();
    let mut cur: Option<String> = None;
    for line in md.lines() {
        match (&mut cur, line.trim()) {
            (None, l) if l == open => cur = Some(String::new()),
            (Some(_), "```") => out.extend(cur.take()),
            (Some(b), _) => {
                b.push_str(line);
                b.push('\n');
            }
            (None, _) => {}
        }
    }
    out
}

#[test]
fn operations_doc_toml_examples_load() {
    let md = std::fs::read_to_string(DOC).expect("docs/operations.md");
    let examples = blocks(&md, "toml");
    assert!(examples.len() >= 2, "expected the NixOS and Kubernetes examples, found {}", examples.len());
    let dir = tempfile::tempdir().expect("tempdir");
    for (i, block) in examples.iter().enumerate() {
        let file = dir.path().join(format!("example-{i}.toml"));
        std::fs::write(&file, block).expect("write");
        if let Err(e) = Config::load(Some(&file), &Overrides::default()) {
            panic!("docs/operations.md toml example {} does not load: {e}\n{block}", i + 1);
        }
    }
}

/// Every `starling ...` command line of the document: inline code spans that start with
/// `starling `, and commands in ```sh blocks (also after `|`, `&&`, `;`).
fn commands(md: &str) -> Vec<String> {
    let mut out = Vec::new();
    for block in blocks(md, "sh") {
        for line in block.lines() {
            let line = line.split(" #").next().unwrap_or("");
            for cmd in line.split(['|', ';']).flat_map(|c| c.split("&&")) {
                let cmd = cmd.trim().trim_start_matches("$(");
                // `kubectl exec POD -- starling ...`
                let cmd = cmd.split_once(" -- ").map_or(cmd, |(_, inner)| inner.trim());
                if cmd.starts_with("starling ") {
                    out.push(cmd.to_string());
                }
            }
        }
    }
    let mut rest = md;
    while let Some(start) = rest.find('`') {
        let after = &rest[start + 1..];
        if after.starts_with("``") {
            // A fence: skip to its end (the blocks were read above).
            let end = after[2..].find("```").map_or(after.len(), |e| e + 5);
            rest = &after[end.min(after.len())..];
            continue;
        }
        let Some(end) = after.find('`') else { break };
        let span = &after[..end].replace('\n', " ");
        if span.starts_with("starling ") {
            out.push(span.to_string());
        }
        rest = &after[end + 1..];
    }
    out
}

/// The subcommands `starling <path> --help` lists (empty for a leaf command).
fn subcommands(path: &[String], cache: &mut HashMap<Vec<String>, Vec<String>>) -> Vec<String> {
    if let Some(s) = cache.get(path) {
        return s.clone();
    }
    let out = Command::new(BIN).args(path).arg("--help").env_remove("RUST_LOG").output().expect("run starling --help");
    assert!(out.status.success(), "`starling {} --help` failed", path.join(" "));
    let help = String::from_utf8_lossy(&out.stdout).into_owned();
    let subs: Vec<String> = help
        .lines()
        .skip_while(|l| l.trim() != "Commands:")
        .skip(1)
        .take_while(|l| !l.trim().is_empty())
        .filter_map(|l| l.split_whitespace().next().map(str::to_string))
        .filter(|s| s != "help")
        .collect();
    cache.insert(path.to_vec(), subs.clone());
    subs
}

/// Walk `cmd`'s words through the subcommand tree: Ok(path) when every word before the
/// arguments is a subcommand, Err(message) otherwise.
fn resolve(cmd: &str, cache: &mut HashMap<Vec<String>, Vec<String>>) -> Result<Vec<String>, String> {
    let mut path: Vec<String> = Vec::new();
    let mut after_option = false;
    for tok in cmd.split_whitespace().skip(1) {
        let subs = subcommands(&path, cache);
        if subs.is_empty() {
            break; // a leaf: the rest are its arguments
        }
        if tok.starts_with('-') {
            after_option = !tok.contains('=');
            continue;
        }
        if subs.iter().any(|s| s == tok) {
            path.push(tok.to_string());
            after_option = false;
        } else if after_option {
            after_option = false; // the option's value
        } else {
            return Err(format!("`starling {}` has no subcommand {tok:?} (it has {subs:?})", path.join(" ")));
        }
    }
    if path.is_empty() {
        return Err("names no subcommand".into());
    }
    Ok(path)
}

const KNOWN_PROBLEMS: &str = "## Known problems in this version";

#[test]
fn operations_doc_commands_exist() {
    let md = std::fs::read_to_string(DOC).expect("docs/operations.md");
    let (guide, problems) = md.split_once(KNOWN_PROBLEMS).unwrap_or((md.as_str(), ""));
    let cmds = commands(guide);
    assert!(cmds.len() >= 10, "expected the document's commands, found {cmds:?}");
    for needed in ["starling ctl cluster status", "starling passwd", "starling config check"] {
        assert!(cmds.iter().any(|c| c.starts_with(needed)), "the guide shows `{needed}`: {cmds:?}");
    }
    let mut cache = HashMap::new();
    for cmd in &cmds {
        if let Err(e) = resolve(cmd, &mut cache) {
            panic!("docs/operations.md: `{cmd}`: {e}");
        }
    }
    // Commands the known-problems section says are missing must really be missing; once one
    // exists, the section (and the guide) need updating.
    for cmd in commands(problems) {
        assert!(
            resolve(&cmd, &mut cache).is_err(),
            "docs/operations.md lists `{cmd}` as missing, but the binary has it: update the known problems"
        );
    }
}

#[test]
fn command_extraction_finds_spans_and_pipelines() {
    let md = "Run `starling ctl status` or `starling.toml`.\n```sh\necho x | starling passwd f u && starling config check # c\n\
              kubectl -n starling scale\nkubectl exec p -- starling ctl routes\n```\n";
    assert_eq!(
        commands(md),
        ["starling passwd f u", "starling config check", "starling ctl routes", "starling ctl status"]
    );
}
