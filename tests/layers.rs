//! The crate's modules form one-way layers: a module uses only modules declared before it
//! in `src/lib.rs`, so no two import each other, directly or round a cycle. Read from the
//! source: every `crate::<module>` path outside comments, in `use` lines and inline.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// The top-level modules in the order `lib.rs` declares them.
fn layers(lib: &str) -> Vec<String> {
    lib.lines()
        .filter_map(|l| l.trim().strip_prefix("mod "))
        .filter_map(|l| l.strip_suffix(';'))
        .map(str::to_owned)
        .collect()
}

/// The top-level module a source file belongs to (`src/db/guards.rs` -> `db`).
fn owner(src: &Path, file: &Path) -> Option<String> {
    let rel = file.strip_prefix(src).ok()?;
    let first = rel.components().next()?.as_os_str().to_str()?;
    Some(first.trim_end_matches(".rs").to_owned())
}

fn files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// Every module named by a `crate::` path in `code`, including each member of a
/// `use crate::{a, b::c}` group.
fn uses(code: &str, modules: &[String]) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    let code: String = code
        .lines()
        .map(|l| match l.find("//") {
            Some(i) => &l[..i],
            None => l,
        })
        .collect::<Vec<_>>()
        .join("\n");
    let mut rest = code.as_str();
    while let Some(i) = rest.find("crate::") {
        rest = &rest[i + "crate::".len()..];
        let names: Vec<&str> = if let Some(group) = rest.strip_prefix('{') {
            let end = group.find('}').unwrap_or(group.len());
            group[..end]
                .split(',')
                .map(|part| part.trim().split("::").next().unwrap_or("").trim())
                .collect()
        } else {
            let end = rest
                .find(|c: char| !(c.is_alphanumeric() || c == '_'))
                .unwrap_or(rest.len());
            vec![&rest[..end]]
        };
        for name in names {
            if modules.iter().any(|m| m == name) {
                found.insert(name.to_owned());
            }
        }
    }
    found
}

fn graph() -> (Vec<String>, BTreeMap<String, BTreeSet<String>>) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let src = root.join("src");
    let modules = layers(&std::fs::read_to_string(src.join("lib.rs")).unwrap());
    let mut all = Vec::new();
    files(&src, &mut all);
    let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for file in all {
        let Some(module) = owner(&src, &file) else {
            continue;
        };
        if module == "lib" {
            continue;
        }
        assert!(
            modules.contains(&module),
            "{} is in no module lib.rs declares",
            file.display()
        );
        let code = std::fs::read_to_string(&file).unwrap();
        let used = uses(&code, &modules);
        edges
            .entry(module.clone())
            .or_default()
            .extend(used.into_iter().filter(|m| *m != module));
    }
    (modules, edges)
}

#[test]
fn every_module_uses_only_the_layers_below_it() {
    let (modules, edges) = graph();
    let rank = |m: &str| modules.iter().position(|x| x == m).unwrap();
    let upward: Vec<String> = edges
        .iter()
        .flat_map(|(from, tos)| {
            tos.iter()
                .filter(|to| rank(to) > rank(from))
                .map(move |to| format!("{from} -> {to}"))
        })
        .collect();
    assert!(
        upward.is_empty(),
        "modules using a layer declared after them in lib.rs: {upward:?}"
    );
}

#[test]
fn no_import_cycle() {
    let (_, edges) = graph();
    // Depth-first search for a back edge.
    fn visit<'a>(
        m: &'a str,
        edges: &'a BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<&'a str>,
        done: &mut BTreeSet<&'a str>,
    ) -> Option<Vec<String>> {
        if let Some(i) = path.iter().position(|p| *p == m) {
            return Some(
                path[i..]
                    .iter()
                    .map(|s| s.to_string())
                    .chain([m.to_owned()])
                    .collect(),
            );
        }
        if !done.insert(m) {
            return None;
        }
        path.push(m);
        for next in edges.get(m).into_iter().flatten() {
            if let Some(cycle) = visit(next, edges, path, done) {
                return Some(cycle);
            }
        }
        path.pop();
        None
    }
    let mut done = BTreeSet::new();
    for m in edges.keys() {
        let cycle = visit(m, &edges, &mut Vec::new(), &mut done);
        assert!(
            cycle.is_none(),
            "import cycle: {}",
            cycle.unwrap().join(" -> ")
        );
    }
}

#[test]
fn the_reader_sees_the_real_imports() {
    // The parse itself: a group, an inline path, a comment that does not count.
    let modules: Vec<String> = ["a", "b", "c", "d"].map(String::from).to_vec();
    let code = "use crate::{a::X, b};\nfn f() { crate::c::g(); }\n// crate::d::h\n";
    assert_eq!(
        uses(code, &modules),
        ["a", "b", "c"].map(String::from).into()
    );
    // And on the crate: the layers are found, and the edges that must exist are there.
    let (modules, edges) = graph();
    assert!(modules.len() >= 10, "{modules:?}");
    assert_eq!(modules.first().map(String::as_str), Some("sql"));
    assert!(edges["execute"].contains("strategy"), "{edges:?}");
    assert!(edges["error"].contains("report"), "{edges:?}");
    assert!(!edges["error"].contains("validation"), "{edges:?}");
}
