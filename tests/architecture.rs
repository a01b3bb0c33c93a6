//! The module map's arrows point one way: no folder of `src/` imports a
//! folder that imports it back, and no file imports a sibling that imports
//! it back.
//!
//! The test reads every `crate::…` path (and `super::…` between sibling
//! files) in `src/**/*.rs` outside comments, builds the graph of top-level
//! modules (`src/sqlite/*.rs` and `src/model.rs` are nodes `sqlite` and
//! `model`) and, inside each folder, the graph of its files (`mod.rs`
//! excluded: a folder's root declares its files and is used by them by
//! design), and fails on any cycle, printing it with the file and line of
//! each arrow. `src/bin/` is another crate and `lib.rs`/`main.rs` are the
//! root, so they are not nodes.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

/// An arrow `from → to`, with where it was first seen (`file:line`).
type Graph = BTreeMap<String, BTreeMap<String, String>>;

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = fs::read_dir(dir)
        .expect("read src")
        .map(|e| e.expect("dir entry").path())
        .collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|e| e == "rs") {
            out.push(p);
        }
    }
}

/// The identifiers a path written after `prefix` starts with: `crate::a::b`
/// gives `a`; `crate::{a::x, b}` gives `a` and `b`.
fn heads_after(code: &str, prefix: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = code;
    while let Some(i) = rest.find(prefix) {
        // `foo_crate::x` is not `crate::x`.
        let before = rest[..i].chars().next_back();
        rest = &rest[i + prefix.len()..];
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
            continue;
        }
        if let Some(group) = rest.strip_prefix('{') {
            let mut depth = 1;
            let mut item = String::new();
            let mut items = Vec::new();
            for c in group.chars() {
                match c {
                    '{' => depth += 1,
                    '}' => {
                        depth -= 1;
                        if depth == 0 {
                            break;
                        }
                    }
                    ',' if depth == 1 => items.push(std::mem::take(&mut item)),
                    _ if depth == 1 => item.push(c),
                    _ => {}
                }
            }
            items.push(item);
            for it in items {
                let head: String = it
                    .trim()
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect();
                if !head.is_empty() && head != "self" {
                    out.push(head);
                }
            }
        } else {
            let head: String = rest
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            if !head.is_empty() {
                out.push(head);
            }
        }
    }
    out
}

/// The code of a line without its `//` comment (doc links name paths too,
/// but they are not imports). Good enough for this source: no `//` inside
/// a string literal on a line that also names a `crate::` path.
fn code_of(line: &str) -> &str {
    match line.find("//") {
        Some(i) => &line[..i],
        None => line,
    }
}

fn add(graph: &mut Graph, from: &str, to: &str, at: String) {
    if from != to {
        graph
            .entry(from.to_string())
            .or_default()
            .entry(to.to_string())
            .or_insert(at);
    }
}

/// One cycle per strongly connected component of more than one node, as
/// the list of its nodes in order (the last points back to the first).
fn cycles(graph: &Graph) -> Vec<Vec<String>> {
    let nodes: BTreeSet<&String> = graph
        .keys()
        .chain(graph.values().flat_map(|m| m.keys()))
        .collect();
    let mut found = Vec::new();
    let mut reported: BTreeSet<String> = BTreeSet::new();
    for start in nodes {
        if reported.contains(start) {
            continue;
        }
        // Breadth-first from `start` back to `start`: the shortest cycle through it.
        let mut prev: BTreeMap<String, String> = BTreeMap::new();
        let mut queue = std::collections::VecDeque::from([start.clone()]);
        let mut closed = None;
        while let Some(n) = queue.pop_front() {
            for next in graph.get(&n).into_iter().flat_map(|m| m.keys()) {
                if next == start {
                    closed = Some(n.clone());
                    break;
                }
                if !prev.contains_key(next) {
                    prev.insert(next.clone(), n.clone());
                    queue.push_back(next.clone());
                }
            }
            if closed.is_some() {
                break;
            }
        }
        if let Some(mut n) = closed {
            let mut cycle = vec![n.clone()];
            while &n != start {
                n = prev[&n].clone();
                cycle.push(n.clone());
            }
            cycle.reverse();
            reported.extend(cycle.iter().cloned());
            found.push(cycle);
        }
    }
    found
}

fn describe(graph: &Graph, cycle: &[String]) -> String {
    let mut s = String::new();
    for (i, from) in cycle.iter().enumerate() {
        let to = &cycle[(i + 1) % cycle.len()];
        s.push_str(&format!("    {from} → {to}   ({})\n", graph[from][to]));
    }
    s
}

#[test]
fn module_arrows_point_one_way() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut folders = Graph::new();
    let mut siblings = Graph::new();
    let mut edges = 0;
    for path in &files {
        let rel = path.strip_prefix(&src).expect("under src");
        let parts: Vec<String> = rel
            .iter()
            .map(|p| p.to_string_lossy().into_owned())
            .collect();
        if parts[0] == "bin" || parts.len() == 1 && (parts[0] == "lib.rs" || parts[0] == "main.rs")
        {
            continue;
        }
        let top = parts[0].trim_end_matches(".rs").to_string();
        // `src/a/b.rs` is file `a/b`; siblings are the other files of `a/`.
        let file = (parts.len() == 2 && parts[1] != "mod.rs")
            .then(|| parts[1].trim_end_matches(".rs").to_string());
        let text = fs::read_to_string(path).expect("read source");
        for (n, line) in text.lines().enumerate() {
            let code = code_of(line);
            let at = format!("src/{}:{}", rel.display(), n + 1);
            for head in heads_after(code, "crate::") {
                add(&mut folders, &top, &head, at.clone());
                edges += 1;
            }
            if let Some(file) = &file {
                let sibling_dir = src.join(&top);
                let mut heads = heads_after(code, "super::");
                heads.extend(heads_after(code, &format!("crate::{top}::")));
                for head in heads {
                    if sibling_dir.join(format!("{head}.rs")).exists() {
                        add(
                            &mut siblings,
                            &format!("{top}/{file}"),
                            &format!("{top}/{head}"),
                            at.clone(),
                        );
                    }
                }
            }
        }
    }
    assert!(
        edges > 50,
        "found only {edges} `crate::` paths in {}: is the parser broken?",
        src.display()
    );
    let mut report = String::new();
    for (what, graph) in [("folders", &folders), ("files of one folder", &siblings)] {
        for cycle in cycles(graph) {
            report.push_str(&format!(
                "cycle between {what}: {}\n{}",
                cycle.join(" → "),
                describe(graph, &cycle)
            ));
        }
    }
    let map: Vec<String> = folders
        .iter()
        .map(|(from, to)| {
            format!(
                "  {from} → {}",
                to.keys().cloned().collect::<Vec<_>>().join(", ")
            )
        })
        .collect();
    assert!(
        report.is_empty(),
        "import cycles in src/:\n{report}\nthe whole folder graph:\n{}",
        map.join("\n")
    );
    println!("folder graph (no cycles):\n{}", map.join("\n"));
}

#[test]
fn the_cycle_finder_finds_cycles() {
    let mut g = Graph::new();
    add(&mut g, "a", "b", "x:1".into());
    add(&mut g, "b", "c", "x:2".into());
    add(&mut g, "c", "a", "x:3".into());
    add(&mut g, "c", "d", "x:4".into());
    assert_eq!(
        cycles(&g),
        vec![vec!["a".to_string(), "b".into(), "c".into()]]
    );
    add(&mut g, "c", "a", "x:3".into());
    let mut acyclic = Graph::new();
    add(&mut acyclic, "a", "b", "x:1".into());
    add(&mut acyclic, "a", "c", "x:1".into());
    add(&mut acyclic, "b", "c", "x:1".into());
    assert!(cycles(&acyclic).is_empty());
    assert_eq!(
        heads_after("use crate::{a::x, b, self};", "crate::"),
        vec!["a", "b"]
    );
    assert_eq!(
        heads_after("my_crate::z + crate::q::r", "crate::"),
        vec!["q"]
    );
}
