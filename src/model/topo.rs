//! Load order by foreign keys: parents before children, so rows can go into
//! a schema whose constraints already exist (the normal case after
//! `alembic upgrade head`).
//!
//! Kahn's algorithm over the FK graph assigns each table a level (0: no
//! parents; else one more than its highest parent); the order is level by
//! level, input order within a level, so it is the same on every run and
//! tables that can load side by side are adjacent. Self-references are not edges (a table
//! cannot wait for itself) and are listed separately; references to tables
//! that do not exist are ignored. Cycles are the strongly connected
//! components (Tarjan) of more than one table: each is kept together in the
//! order, broken deterministically (the earliest table in input order whose
//! parents inside the cycle are not all loaded goes first), and named, so the
//! planner can defer those constraints or add them after the load.
//!
//! Table names are matched ASCII-case-insensitively, as SQLite does:
//! `REFERENCES employee` points at table `Employee`.

use std::cmp::Reverse;
use std::collections::{BTreeSet, BinaryHeap, HashMap};

use crate::model::Table;

/// The FK-topological order of a set of tables.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopoOrder {
    /// Indexes into the input, parents first; every table exactly once.
    pub order: Vec<usize>,
    /// Level per input table (indexed like the input): 0 = no parents,
    /// otherwise one more than the highest parent. Tables of one level do
    /// not reference each other and can load side by side. All members of a
    /// cycle share one level; their FKs among themselves must be deferred or
    /// added after the load.
    pub levels: Vec<usize>,
    /// Tables with a FK to themselves, in load order.
    pub self_references: Vec<String>,
    /// Each FK cycle of two or more tables, members in load order; cycles in
    /// load order.
    pub cycles: Vec<Vec<String>>,
}

impl TopoOrder {
    /// Whether input tables `a` and `b` are in the same cycle (a FK from one
    /// to the other cannot be satisfied by load order alone).
    pub fn same_cycle(&self, tables: &[Table], a: usize, b: usize) -> bool {
        self.cycles.iter().any(|c| {
            c.iter().any(|n| n == &tables[a].name) && c.iter().any(|n| n == &tables[b].name)
        })
    }
}

/// Fold a table name the way SQLite compares identifiers (ASCII only).
pub fn fold(name: &str) -> String {
    name.to_ascii_lowercase()
}

/// Compute the load order of `tables`.
pub fn order(tables: &[Table]) -> TopoOrder {
    let n = tables.len();
    let mut by_name: HashMap<String, usize> = HashMap::with_capacity(n);
    for (i, t) in tables.iter().enumerate() {
        by_name.entry(fold(&t.name)).or_insert(i);
    }

    // parents[i]: tables i references (excluding itself and missing ones).
    let mut parents: Vec<BTreeSet<usize>> = vec![BTreeSet::new(); n];
    let mut self_ref = vec![false; n];
    for (i, t) in tables.iter().enumerate() {
        for fk in &t.foreign_keys {
            match by_name.get(&fold(&fk.ref_table)) {
                Some(&p) if p == i => self_ref[i] = true,
                Some(&p) => {
                    parents[i].insert(p);
                }
                None => {}
            }
        }
    }

    let comp = tarjan(&parents);
    let ncomp = comp.iter().copied().max().map_or(0, |m| m + 1);
    let mut members: Vec<Vec<usize>> = vec![Vec::new(); ncomp];
    for (i, &c) in comp.iter().enumerate() {
        members[c].push(i); // ascending input order
    }
    let mut comp_parents: Vec<BTreeSet<usize>> = vec![BTreeSet::new(); ncomp];
    let mut comp_children: Vec<BTreeSet<usize>> = vec![BTreeSet::new(); ncomp];
    for (i, ps) in parents.iter().enumerate() {
        for &p in ps {
            if comp[p] != comp[i] {
                comp_parents[comp[i]].insert(comp[p]);
                comp_children[comp[p]].insert(comp[i]);
            }
        }
    }

    // Kahn over the condensation; a ready component is keyed by its first
    // member in input order.
    let mut indegree: Vec<usize> = comp_parents.iter().map(BTreeSet::len).collect();
    let mut ready: BinaryHeap<Reverse<(usize, usize)>> = (0..ncomp)
        .filter(|&c| indegree[c] == 0)
        .map(|c| Reverse((members[c][0], c)))
        .collect();
    let mut comp_level = vec![0usize; ncomp];
    let mut comp_order = Vec::with_capacity(ncomp);
    while let Some(Reverse((_, c))) = ready.pop() {
        comp_level[c] = comp_parents[c]
            .iter()
            .map(|&p| comp_level[p] + 1)
            .max()
            .unwrap_or(0);
        comp_order.push(c);
        for &child in &comp_children[c] {
            indegree[child] -= 1;
            if indegree[child] == 0 {
                ready.push(Reverse((members[child][0], child)));
            }
        }
    }
    debug_assert_eq!(
        comp_order.len(),
        ncomp,
        "the condensation of a graph is acyclic"
    );

    // Emit level by level (a valid topological order, since every edge
    // between components goes up at least one level), input order within a
    // level, a cycle's members together.
    comp_order.sort_by_key(|&c| (comp_level[c], members[c][0]));
    let mut order = Vec::with_capacity(n);
    let mut levels = vec![0usize; n];
    let mut cycles = Vec::new();
    for c in comp_order {
        let inner = break_cycle(&members[c], &parents);
        if inner.len() > 1 {
            cycles.push(inner.iter().map(|&i| tables[i].name.clone()).collect());
        }
        for &i in &inner {
            levels[i] = comp_level[c];
        }
        order.extend(inner);
    }

    let self_references = order
        .iter()
        .filter(|&&i| self_ref[i])
        .map(|&i| tables[i].name.clone())
        .collect();
    TopoOrder {
        order,
        levels,
        self_references,
        cycles,
    }
}

/// Order the members of one strongly connected component: repeatedly take
/// the first member (input order) whose parents inside the component are all
/// placed; when none is, the cycle is broken at the first remaining member.
fn break_cycle(members: &[usize], parents: &[BTreeSet<usize>]) -> Vec<usize> {
    if members.len() == 1 {
        return members.to_vec();
    }
    let mut placed: BTreeSet<usize> = BTreeSet::new();
    let mut out = Vec::with_capacity(members.len());
    while out.len() < members.len() {
        let remaining = members.iter().copied().filter(|m| !placed.contains(m));
        let mut first = None;
        let mut pick = None;
        for m in remaining {
            first.get_or_insert(m);
            let blocked = parents[m]
                .iter()
                .any(|p| members.binary_search(p).is_ok() && !placed.contains(p));
            if !blocked {
                pick = Some(m);
                break;
            }
        }
        let m = pick.or(first).expect("a member remains");
        placed.insert(m);
        out.push(m);
    }
    out
}

/// Tarjan's strongly connected components, iterative (no recursion depth
/// limit on long FK chains). Returns the component id of every node.
fn tarjan(edges: &[BTreeSet<usize>]) -> Vec<usize> {
    const UNSEEN: usize = usize::MAX;
    let n = edges.len();
    let adj: Vec<Vec<usize>> = edges.iter().map(|s| s.iter().copied().collect()).collect();
    let mut index = vec![UNSEEN; n];
    let mut low = vec![0usize; n];
    let mut on_stack = vec![false; n];
    let mut stack = Vec::new();
    let mut comp = vec![UNSEEN; n];
    let mut next_index = 0;
    let mut next_comp = 0;
    // (node, position in its adjacency list)
    let mut call: Vec<(usize, usize)> = Vec::new();
    for root in 0..n {
        if index[root] != UNSEEN {
            continue;
        }
        call.push((root, 0));
        index[root] = next_index;
        low[root] = next_index;
        next_index += 1;
        stack.push(root);
        on_stack[root] = true;
        while let Some(&mut (v, ref mut pos)) = call.last_mut() {
            if let Some(&w) = adj[v].get(*pos) {
                *pos += 1;
                if index[w] == UNSEEN {
                    index[w] = next_index;
                    low[w] = next_index;
                    next_index += 1;
                    stack.push(w);
                    on_stack[w] = true;
                    call.push((w, 0));
                } else if on_stack[w] {
                    low[v] = low[v].min(index[w]);
                }
                continue;
            }
            call.pop();
            if let Some(&(parent, _)) = call.last() {
                low[parent] = low[parent].min(low[v]);
            }
            if low[v] == index[v] {
                loop {
                    let w = stack.pop().expect("tarjan stack");
                    on_stack[w] = false;
                    comp[w] = next_comp;
                    if w == v {
                        break;
                    }
                }
                next_comp += 1;
            }
        }
    }
    comp
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{ForeignKey, RowKey};

    fn table(name: &str, refs: &[&str]) -> Table {
        Table {
            name: name.to_string(),
            columns: Vec::new(),
            primary_key: Vec::new(),
            row_key: RowKey::Rowid,
            autoincrement: false,
            sqlite_sequence: None,
            foreign_keys: refs
                .iter()
                .map(|r| ForeignKey {
                    columns: vec!["x".into()],
                    ref_table: r.to_string(),
                    ref_columns: vec!["id".into()],
                    on_update: "NO ACTION".into(),
                    on_delete: "NO ACTION".into(),
                    deferred: false,
                    ref_exists: true,
                })
                .collect(),
            indexes: Vec::new(),
            row_count: 0,
            strict: false,
        }
    }

    fn names(tables: &[Table], t: &TopoOrder) -> Vec<String> {
        t.order.iter().map(|&i| tables[i].name.clone()).collect()
    }

    #[test]
    fn chain_loads_parents_first() {
        let ts = [
            table("c", &["b"]),
            table("b", &["a"]),
            table("a", &[]),
            table("z", &[]),
        ];
        let t = order(&ts);
        assert_eq!(names(&ts, &t), ["a", "z", "b", "c"]);
        assert_eq!(t.levels, [2, 1, 0, 0]);
        assert!(t.cycles.is_empty() && t.self_references.is_empty());
    }

    #[test]
    fn ties_keep_input_order_and_names_fold_case() {
        let ts = [
            table("B", &[]),
            table("child", &["b", "A"]),
            table("A", &[]),
        ];
        let t = order(&ts);
        assert_eq!(names(&ts, &t), ["B", "A", "child"]);
        assert_eq!(t.levels, [0, 1, 0]);
    }

    #[test]
    fn self_reference_is_not_a_cycle() {
        let ts = [
            table("Employee", &["Employee"]),
            table("Customer", &["Employee"]),
        ];
        let t = order(&ts);
        assert_eq!(names(&ts, &t), ["Employee", "Customer"]);
        assert_eq!(t.self_references, ["Employee"]);
        assert!(t.cycles.is_empty());
        assert_eq!(t.levels, [0, 1]);
    }

    #[test]
    fn two_cycle_is_named_and_broken() {
        let ts = [
            table("root", &[]),
            table("b", &["a", "root"]),
            table("a", &["b"]),
        ];
        let t = order(&ts);
        // b comes first in input order, but a is also blocked; break at b.
        assert_eq!(names(&ts, &t), ["root", "b", "a"]);
        assert_eq!(t.cycles, vec![vec!["b".to_string(), "a".to_string()]]);
        assert_eq!(t.levels, [0, 1, 1]);
        assert!(t.same_cycle(&ts, 1, 2) && !t.same_cycle(&ts, 0, 1));
    }

    #[test]
    fn three_cycle_with_dependants() {
        let ts = [
            table("leaf", &["y"]),
            table("x", &["z"]),
            table("y", &["x"]),
            table("z", &["y", "base"]),
            table("base", &[]),
            table("other", &["leaf", "x"]),
        ];
        let t = order(&ts);
        assert_eq!(names(&ts, &t), ["base", "x", "y", "z", "leaf", "other"]);
        assert_eq!(
            t.cycles,
            vec![vec!["x".to_string(), "y".into(), "z".into()]]
        );
        assert_eq!(t.levels, [2, 1, 1, 1, 0, 3]);
        let mut seen = t.order.clone();
        seen.sort();
        assert_eq!(seen, [0, 1, 2, 3, 4, 5]);
    }

    #[test]
    fn cycle_member_with_all_parents_placed_goes_next() {
        // x → y → z → x plus x → z: all blocked at first, break at x; then z
        // (its only parent x is placed) before y (waits for z).
        let ts = [
            table("x", &["y", "z"]),
            table("y", &["z"]),
            table("z", &["x"]),
        ];
        let t = order(&ts);
        assert_eq!(names(&ts, &t), ["x", "z", "y"]);
        assert_eq!(t.cycles.len(), 1);
    }

    #[test]
    fn missing_parent_is_ignored() {
        let ts = [
            table("data", &["raw_contacts", "mimetype"]),
            table("other", &[]),
        ];
        let t = order(&ts);
        assert_eq!(names(&ts, &t), ["data", "other"]);
        assert_eq!(t.levels, [0, 0]);
    }

    #[test]
    fn deterministic_and_deep() {
        // A 2,000-table chain declared child-first: no recursion limit, stable.
        let ts: Vec<Table> = (0..2000)
            .map(|i| {
                let parent = format!("t{}", i + 1);
                if i == 1999 {
                    table(&format!("t{i}"), &[])
                } else {
                    table(&format!("t{i}"), &[&parent])
                }
            })
            .collect();
        let t = order(&ts);
        assert_eq!(t.order, (0..2000).rev().collect::<Vec<_>>());
        assert_eq!(t.levels[0], 1999);
        assert_eq!(order(&ts), t);
    }
}
