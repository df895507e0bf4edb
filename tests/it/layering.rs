//! Every module of `src/` imports only what the layer table in docs/architecture.md allows, and
//! the table itself has no cycle (a module may import only from lower layers).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

struct Row {
    layer: u32,
    allowed: BTreeSet<String>,
}

/// The rows between the `<!-- layers` and `<!-- /layers -->` markers: `| layer | `module` | may import |`.
fn table(doc: &str) -> BTreeMap<String, Row> {
    let start = doc.find("<!-- layers").expect("layer table start marker in docs/architecture.md");
    let end = doc.find("<!-- /layers -->").expect("layer table end marker in docs/architecture.md");
    let mut rows = BTreeMap::new();
    for line in doc[start..end].lines().filter(|l| l.starts_with('|')) {
        let cells: Vec<&str> = line.trim_matches('|').split('|').map(str::trim).collect();
        let Ok(layer) = cells[0].parse::<u32>() else { continue };
        let names = |s: &str| {
            s.split(',')
                .map(|n| n.trim().trim_matches('`').to_string())
                .filter(|n| !n.is_empty() && n != "—")
                .collect::<BTreeSet<_>>()
        };
        let module = cells[1].trim_matches('`').to_string();
        let prev = rows.insert(module.clone(), Row { layer, allowed: names(cells[2]) });
        assert!(prev.is_none(), "module {module} is in the layer table twice");
    }
    rows
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).expect("read src") {
        let p = e.expect("dir entry").path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// Files that are test modules (`#[cfg(test)]` then `mod name;`): built only under
/// `cargo test`, like the inline test modules `imports` skips.
fn test_module_files(file: &Path, text: &str) -> Vec<PathBuf> {
    let dir = match file.file_stem().and_then(|s| s.to_str()) {
        Some("mod" | "lib" | "main") => file.parent().map(Path::to_path_buf),
        Some(stem) => file.parent().map(|p| p.join(stem)),
        None => None,
    };
    let Some(dir) = dir else { return Vec::new() };
    let mut out = Vec::new();
    let mut lines = text.lines().map(str::trim);
    while let Some(l) = lines.next() {
        if l == "#[cfg(test)]"
            && let Some(name) = lines.next().and_then(|n| n.strip_prefix("mod ")).and_then(|n| n.strip_suffix(';'))
        {
            out.push(dir.join(format!("{name}.rs")));
        }
    }
    out
}

/// The module a file belongs to: its top folder under `src/`, or the file's stem.
fn module_of(rel: &Path) -> String {
    let first = rel.components().next().expect("non-empty path").as_os_str().to_string_lossy().to_string();
    first.strip_suffix(".rs").map_or(first.clone(), str::to_string)
}

/// `(line number, module)` of each `crate::<module>` path outside comments and test modules.
fn imports(text: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    let mut lines = text.lines().enumerate().peekable();
    while let Some((i, line)) = lines.next() {
        let t = line.trim_start();
        if t.starts_with("#[cfg(test)]") {
            // A test module runs only under `cargo test`: skip its block (or the one item).
            let Some((_, next)) = lines.next() else { break };
            let indent = next.len() - next.trim_start().len();
            if next.trim_end().ends_with('{') {
                let close = format!("{}}}", " ".repeat(indent));
                for (_, l) in lines.by_ref() {
                    if l.trim_end() == close {
                        break;
                    }
                }
            }
            continue;
        }
        if t.starts_with("//") {
            continue;
        }
        let code = t.split("//").next().unwrap_or(t);
        let mut rest = code;
        while let Some(at) = rest.find("crate::") {
            let before = rest[..at].chars().last();
            rest = &rest[at + "crate::".len()..];
            if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '$') {
                continue; // `$crate::` or another crate's name ending in "crate"
            }
            if let Some(group) = rest.strip_prefix('{') {
                // `crate::{a, b::c}`: each top name.
                let inner = group.split('}').next().unwrap_or("");
                for part in inner.split(',') {
                    let name: String = part.trim().chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
                    if !name.is_empty() {
                        out.push((i + 1, name));
                    }
                }
                continue;
            }
            let name: String = rest.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
            if !name.is_empty() {
                out.push((i + 1, name));
            }
        }
    }
    out
}

#[test]
fn src_imports_follow_the_layer_table() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let doc = std::fs::read_to_string(root.join("docs/architecture.md")).expect("docs/architecture.md");
    let rows = table(&doc);
    assert!(rows.len() >= 10, "the layer table in docs/architecture.md has {} rows", rows.len());

    let mut problems = Vec::new();
    for (module, row) in &rows {
        for dep in &row.allowed {
            match rows.get(dep) {
                None => {
                    problems.push(format!("docs/architecture.md: {module} may import {dep}, which is not in the table"))
                }
                Some(d) if d.layer >= row.layer => problems.push(format!(
                    "docs/architecture.md: {module} (layer {}) may import {dep} (layer {}): only lower layers",
                    row.layer, d.layer
                )),
                Some(_) => {}
            }
        }
    }

    let src = root.join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    files.sort();
    assert!(files.len() > 20, "found {} source files under {}", files.len(), src.display());
    let tests: BTreeSet<PathBuf> =
        files.iter().flat_map(|f| test_module_files(f, &std::fs::read_to_string(f).expect("read source"))).collect();
    for f in files.iter().filter(|f| !tests.contains(*f)) {
        let rel = f.strip_prefix(&src).expect("under src");
        let module = module_of(rel);
        let Some(row) = rows.get(&module) else {
            problems.push(format!(
                "src/{}: module {module} is not in the layer table of docs/architecture.md",
                rel.display()
            ));
            continue;
        };
        let text = std::fs::read_to_string(f).expect("read source");
        for (line, dep) in imports(&text) {
            if dep != module && !row.allowed.contains(&dep) {
                problems.push(format!(
                    "src/{}:{line}: {module} imports {dep}, which the layer table does not allow",
                    rel.display()
                ));
            }
        }
    }
    assert!(problems.is_empty(), "layering violations:\n{}", problems.join("\n"));
}

#[test]
fn the_import_scanner_sees_paths_and_skips_tests_and_comments() {
    let src = "use crate::broker::Broker;\n\
               // crate::admin in a comment\n\
               fn f() { crate::metrics::x(); } // crate::cluster\n\
               use crate::{config, protocol::topic};\n\
               macro_rules! m { () => { $crate::auth }; }\n\
               #[cfg(test)]\n\
               mod tests {\n    use crate::node::Node;\n}\n\
               #[cfg(test)]\n\
               use crate::ctl;\n\
               fn g() { crate::storage::y() }\n";
    let found: Vec<(usize, String)> = imports(src);
    let want: Vec<(usize, String)> = [(1, "broker"), (3, "metrics"), (4, "config"), (4, "protocol"), (12, "storage")]
        .into_iter()
        .map(|(l, m)| (l, m.to_string()))
        .collect();
    assert_eq!(found, want);
}
