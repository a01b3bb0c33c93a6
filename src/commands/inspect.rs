//! `ferry inspect`: the SQLite schema as ferry understands it, without
//! touching PostgreSQL. Tables in load order with their level, columns with
//! declared type and affinity, keys, indexes, FK cycles and self-references,
//! and everything that will not be migrated, so that nothing is dropped
//! silently. `--profile` adds per-column storage-class counts (reads every
//! row); `--json` prints the same facts as one JSON document on stdout.

use std::fmt::Write as _;
use std::io::Write as _;

use anyhow::Context as _;
use serde::Serialize;

use crate::cli::InspectArgs;
use crate::error::Outcome;
use crate::model::{ForeignKey, Index, RowKey, Schema, Skipped, SkippedKind, StorageProfile, Table};
use crate::model::topo;
use crate::sqlite::{introspect, open};

pub fn run(args: &InspectArgs) -> anyhow::Result<Outcome> {
    let path = &args.source.source;
    // The source error already names the file; no context to repeat it.
    let conn = open::open_read_only(path)?;
    let mut schema = introspect::introspect(&conn)
        .with_context(|| format!("cannot read the schema of {path:?}"))?;
    if let Some(out) = &args.suggest_mapping {
        return suggest_mapping(path, &conn, &schema, &args.mapping, out);
    }
    if args.profile {
        // The same parallel pass `migrate` and `plan` make.
        let profiles = crate::sqlite::profile::profile_schema(path, &schema).with_context(|| format!("cannot profile {path:?}"))?;
        for t in &mut schema.tables {
            if let Some(ps) = profiles.get(&t.name) {
                for (c, p) in t.columns.iter_mut().zip(ps) {
                    c.profile = Some(p.clone());
                }
            }
        }
    }
    let order = topo::order(&schema.tables);
    let source = path.display().to_string();
    let out = if args.output.json {
        let mut s = serde_json::to_string_pretty(&Report::new(&source, &schema, &order))?;
        s.push('\n');
        s
    } else {
        render_text(&source, &schema, &order)
    };
    let mut stdout = std::io::stdout().lock();
    stdout.write_all(out.as_bytes())?;
    stdout.flush()?;
    Ok(Outcome::Success)
}

/// `--suggest-mapping [FILE]`: the mapping to FILE (stdout for `-`), what
/// needs a person's decision on stderr. Exit 1 when a column has no total
/// conversion.
fn suggest_mapping(
    path: &std::path::Path,
    conn: &rusqlite::Connection,
    schema: &Schema,
    mapping: &[std::path::PathBuf],
    out: &std::path::Path,
) -> anyhow::Result<Outcome> {
    let s = crate::plan::suggest::suggest(path, conn, schema, mapping)
        .with_context(|| format!("cannot suggest a mapping for {path:?}"))?;
    if out == std::path::Path::new("-") {
        let mut stdout = std::io::stdout().lock();
        stdout.write_all(s.text.as_bytes())?;
        stdout.flush()?;
    } else {
        std::fs::write(out, &s.text).with_context(|| format!("cannot write {}", out.display()))?;
    }
    let mut err = std::io::stderr().lock();
    let rules = s.columns.len();
    let stuck: Vec<_> = s.columns.iter().filter(|c| c.failures > 0).collect();
    let lossy: Vec<_> = s.columns.iter().filter(|c| c.lossy).collect();
    for c in &lossy {
        writeln!(err, "lossy: table {:?}, column {:?}: {} ({})", c.table, c.column, c.rule, c.comment)?;
    }
    for c in &stuck {
        writeln!(
            err,
            "no total conversion: table {:?}, column {:?}: {} value(s) cannot convert with {{ {} }}, e.g.:",
            c.table, c.column, c.failures, c.rule
        )?;
        for sample in &c.samples {
            writeln!(err, "    {sample}")?;
        }
    }
    let whereto = if out == std::path::Path::new("-") { "stdout".to_string() } else { out.display().to_string() };
    writeln!(
        err,
        "suggested {rules} column rule(s) to {whereto}; {} lossy, {} column(s) with no total conversion",
        lossy.len(),
        stuck.len()
    )?;
    Ok(if stuck.is_empty() { Outcome::Success } else { Outcome::Differences })
}

/// The `--json` document.
#[derive(Serialize)]
struct Report<'a> {
    source: &'a str,
    tables: Vec<TableReport<'a>>,
    /// Table names, parents first.
    load_order: Vec<&'a str>,
    self_references: &'a [String],
    cycles: &'a [Vec<String>],
    not_migrated: &'a [Skipped],
}

#[derive(Serialize)]
struct TableReport<'a> {
    #[serde(flatten)]
    table: &'a Table,
    /// FK level: 0 = no parents; same level = can load side by side.
    level: usize,
}

impl<'a> Report<'a> {
    fn new(source: &'a str, schema: &'a Schema, order: &'a topo::TopoOrder) -> Self {
        Report {
            source,
            tables: order
                .order
                .iter()
                .map(|&i| TableReport {
                    table: &schema.tables[i],
                    level: order.levels[i],
                })
                .collect(),
            load_order: order
                .order
                .iter()
                .map(|&i| schema.tables[i].name.as_str())
                .collect(),
            self_references: &order.self_references,
            cycles: &order.cycles,
            not_migrated: &schema.skipped,
        }
    }
}

/// Identifier as shown to people: bare when plain, else double-quoted.
fn show(name: &str) -> String {
    let plain = !name.is_empty()
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !name.starts_with(|c: char| c.is_ascii_digit());
    if plain {
        name.to_string()
    } else {
        introspect::quote_ident(name)
    }
}

fn show_list<S: AsRef<str>>(names: &[S]) -> String {
    names
        .iter()
        .map(|n| show(n.as_ref()))
        .collect::<Vec<_>>()
        .join(", ")
}


fn kind_name(k: SkippedKind) -> &'static str {
    match k {
        SkippedKind::View => "view",
        SkippedKind::Trigger => "trigger",
        SkippedKind::VirtualTable => "virtual table",
        SkippedKind::ShadowTable => "shadow table",
        SkippedKind::GeneratedColumn => "generated column",
        SkippedKind::Index => "index",
    }
}

fn render_text(source: &str, schema: &Schema, order: &topo::TopoOrder) -> String {
    let mut o = String::new();
    let rows: u64 = schema.tables.iter().map(|t| t.row_count).sum();
    let _ = writeln!(o, "source: {source}");
    let _ = writeln!(
        o,
        "{} tables, {} rows; {} objects not migrated",
        schema.tables.len(),
        rows,
        schema.skipped.len()
    );
    let _ = writeln!(
        o,
        "\nLoad order (parents first; tables of one level can load side by side):"
    );
    for &i in &order.order {
        render_table(&mut o, &schema.tables[i], order.levels[i]);
    }
    if !order.self_references.is_empty() {
        let _ = writeln!(
            o,
            "\nSelf-referencing tables (their FKs are added after the load): {}",
            show_list(&order.self_references)
        );
    }
    if !order.cycles.is_empty() {
        let _ = writeln!(
            o,
            "\nFK cycles (these FKs must be deferred or added after the load):"
        );
        for c in &order.cycles {
            let mut names: Vec<String> = c.iter().map(|n| show(n)).collect();
            names.push(show(&c[0]));
            let _ = writeln!(o, "  {}", names.join(" → "));
        }
    }
    let _ = writeln!(o, "\nNot migrated ({}):", schema.skipped.len());
    if schema.skipped.is_empty() {
        let _ = writeln!(o, "  nothing");
    }
    let kind_w = schema
        .skipped
        .iter()
        .map(|s| kind_name(s.kind).len())
        .max()
        .unwrap_or(0);
    for s in &schema.skipped {
        let what = match &s.table {
            Some(_) if s.kind == SkippedKind::ShadowTable => show(&s.name),
            Some(t) => format!("{}.{}", show(t), show(&s.name)),
            None => show(&s.name),
        };
        let _ = writeln!(o, "  {:kind_w$}  {what}: {}", kind_name(s.kind), s.reason);
    }
    o
}

fn render_table(o: &mut String, t: &Table, level: usize) {
    let flags = table_flags(t);
    let _ = writeln!(
        o,
        "\n[{level}] {}  {} rows  {}",
        show(&t.name),
        t.row_count,
        flags.join(", ")
    );
    render_columns(o, t);
    if t.primary_key.len() > 1 {
        let _ = writeln!(o, "    primary key ({})", show_list(&t.primary_key));
    }
    for fk in &t.foreign_keys {
        let _ = writeln!(o, "{}", fk_line(fk));
    }
    for ix in &t.indexes {
        let _ = writeln!(o, "    {}", index_line(ix));
    }
}

/// The heading's facts: the row key, STRICT, AUTOINCREMENT.
fn table_flags(t: &Table) -> Vec<String> {
    let key = match &t.row_key {
        RowKey::RowidAlias { column } => {
            format!("rowid alias {}", show(&t.columns[*column].name))
        }
        RowKey::Rowid => match introspect::rowid_expr(t) {
            Some(r) if r == "rowid" => "rowid".to_string(),
            Some(r) => format!("rowid (as {r}: a column is named rowid)"),
            None => "rowid (hidden: columns named rowid, _rowid_ and oid)".to_string(),
        },
        RowKey::WithoutRowid => "WITHOUT ROWID".to_string(),
    };
    let mut flags = vec![key];
    if t.strict {
        flags.push("STRICT".into());
    }
    if t.autoincrement {
        flags.push(match t.sqlite_sequence {
            Some(s) => format!("AUTOINCREMENT (sequence {s})"),
            None => "AUTOINCREMENT".into(),
        });
    }
    flags
}

/// One line per column: name, declared type, affinity, key, NOT NULL,
/// default and, when profiled, the storage classes counted.
fn render_columns(o: &mut String, t: &Table) {
    let names: Vec<String> = t.columns.iter().map(|c| show(&c.name)).collect();
    let decls: Vec<String> = t
        .columns
        .iter()
        .map(|c| {
            if c.decl_type.is_empty() {
                "(none)".into()
            } else {
                c.decl_type.clone()
            }
        })
        .collect();
    let nw = names.iter().map(|n| n.chars().count()).max().unwrap_or(0);
    let dw = decls.iter().map(|d| d.chars().count()).max().unwrap_or(0);
    for ((c, name), decl) in t.columns.iter().zip(&names).zip(&decls) {
        let mut line = format!(
            "    {name:nw$}  {decl:dw$}  {:7}",
            c.affinity.name()
        );
        if c.pk_position > 0 {
            let _ = write!(
                line,
                "  PK{}",
                if t.primary_key.len() > 1 {
                    format!(" {}", c.pk_position)
                } else {
                    String::new()
                }
            );
        }
        if c.not_null {
            line.push_str("  NOT NULL");
        }
        if let Some(d) = &c.default {
            let _ = write!(line, "  DEFAULT {d}");
        }
        if let Some(p) = &c.profile {
            let _ = write!(line, "  [{}]", profile_counts(p));
        }
        let _ = writeln!(o, "{}", line.trim_end());
    }
}

/// A column's storage classes as counted (`null=2 integer=5`), or
/// `empty`.
fn profile_counts(p: &StorageProfile) -> String {
    let mut parts = Vec::new();
    for (label, n) in [
        ("null", p.null),
        ("integer", p.integer),
        ("real", p.real),
        ("text", p.text),
        ("blob", p.blob),
    ] {
        if n > 0 {
            parts.push(format!("{label}={n}"));
        }
    }
    if parts.is_empty() {
        "empty".into()
    } else {
        parts.join(" ")
    }
}

/// One foreign key, as `inspect` lists it.
fn fk_line(fk: &ForeignKey) -> String {
    let mut line = format!(
        "    FK ({}) → {} ({})",
        show_list(&fk.columns),
        show(&fk.ref_table),
        show_list(&fk.ref_columns)
    );
    for (what, action) in [("update", &fk.on_update), ("delete", &fk.on_delete)] {
        if action != "NO ACTION" {
            let _ = write!(line, " ON {} {action}", what.to_uppercase());
        }
    }
    if fk.deferred {
        line.push_str("  DEFERRABLE INITIALLY DEFERRED");
    }
    if !fk.ref_exists {
        line.push_str("  (parent table does not exist: not migrated)");
    }
    line
}

fn index_line(ix: &Index) -> String {
    let cols: Vec<String> = ix
        .columns
        .iter()
        .map(|c| {
            c.as_deref()
                .map_or_else(|| "<expression>".to_string(), show)
        })
        .collect();
    let mut line = format!(
        "{}index {} ({})",
        if ix.unique { "unique " } else { "" },
        show(&ix.name),
        cols.join(", ")
    );
    match ix.origin.as_str() {
        "pk" => line.push_str("  from PRIMARY KEY"),
        "u" => line.push_str("  from UNIQUE"),
        _ => {}
    }
    if ix.partial {
        line.push_str("  partial (WHERE …)");
    }
    line
}
