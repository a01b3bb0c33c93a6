//! `sync` with the ledger (`crate::ledger`): a table whose ledger still
//! describes the target is compared by reading the source alone, each
//! partition (one segment of the ledger) merged with its records in rowid
//! order; the records of the source as it is now are written to `next/` on
//! the way, and become the ledger when the sync commits.
//!
//! Before a table's ledger is trusted, [`untouched`] checks in the sync's
//! snapshot that the table holds as many rows as the ledger and only row
//! versions of the transactions it names; otherwise the table is compared
//! both sides whole, as without a ledger.

use std::path::{Path, PathBuf};

use rusqlite::Connection;
use tokio_postgres::Client;

use super::Error;
use super::scan::PartDelta;
use crate::ledger::{self, Fingerprints, Manifest, Record, Store, TableLedger};
use crate::plan::TablePlan;
use crate::postgres::{self, ident};
use crate::sqlite::pool::rowid_name;
use crate::verify::rows::source_error;

/// The ledger a sync starts from.
#[derive(Debug)]
pub struct View {
    pub store: Store,
    pub manifest: Manifest,
}

impl View {
    /// Where the current ledger's segments are.
    pub fn root(&self) -> PathBuf {
        self.store.current()
    }
}

/// The target's ledger, if it has one: first settles a `next/` left
/// complete (its manifest is written last) by a run that stopped before
/// making it current: a sync's is kept if the transaction it names
/// committed, else dropped; a migration's is kept (its loads had
/// committed before they were verified).
pub async fn open(store: &Store, client: &Client) -> Option<View> {
    if let Some(next) = Store::manifest(&store.next()) {
        let committed = match next.pending_xid {
            Some(xid) => client
                .query_one("SELECT txid_status($1)", &[&xid])
                .await
                .ok()
                .and_then(|r| r.get::<_, Option<String>>(0))
                .is_some_and(|s| s == "committed"),
            None => true,
        };
        // (A current manifest's `pending_xid` is never read again.)
        if committed && store.promote().is_err() {
            let _ = store.forget();
            return None;
        }
    }
    let _ = std::fs::remove_dir_all(store.next());
    let manifest = Store::manifest(&store.current())?;
    Some(View { store: store.clone(), manifest })
}

/// The table's ledger, or why it has none that fits.
pub fn candidate<'a>(view: Option<&'a View>, tp: &TablePlan) -> Result<&'a TableLedger, String> {
    let Some(view) = view else {
        return Err("no ledger: the target was not written by a verified `ferry migrate` or `ferry sync` with this state directory".into());
    };
    let Some(tl) = view.manifest.tables.get(&tp.source.name) else {
        return Err("the ledger has no record of this table".into());
    };
    if ledger::eligible(tp).is_none() {
        return Err("the table's rows are not named by an integer rowid key".into());
    }
    if tl.target != tp.map.target || tl.plan != ledger::plan_print(tp) {
        return Err("the mapping differs from the one the ledger was written with".into());
    }
    Ok(tl)
}

/// Does the table still hold exactly the rows the ledger names? In the
/// sync's snapshot: the same table (oid), as many rows, and every row
/// version written by one of the ledger's transactions, all of them recent
/// enough that their 32-bit ids cannot have come round again.
pub async fn untouched(client: &Client, schema: &str, tl: &TableLedger, xmax: i64) -> Result<Result<(), String>, Error> {
    if tl.xids.iter().any(|&x| x <= xmax - (1 << 31)) {
        return Ok(Err("its rows were written more than 2^31 transactions ago".into()));
    }
    let table = ident::qualified(schema, &tl.target);
    let xids: Vec<String> = tl.xids.iter().map(|&x| (x as u32).to_string()).collect();
    let sql = format!(
        "SELECT count(*), count(*) FILTER (WHERE NOT xmin = ANY('{{{}}}'::xid[])), to_regclass($1)::oid FROM {table}",
        xids.join(",")
    );
    let row = client
        .query_one(&sql, &[&table])
        .await
        .map_err(|e| postgres::Error::server(format!("checking table {:?} against the ledger", tl.target), &e))?;
    let (rows, foreign, oid): (i64, i64, Option<u32>) = (row.get(0), row.get(1), row.get(2));
    Ok(if oid != Some(tl.oid) {
        Err("the table was made again since the ledger was written".into())
    } else if foreign > 0 {
        Err(format!("{foreign} row(s) were written by other transactions since ferry wrote the table"))
    } else if rows as u64 != tl.rows {
        Err(format!("it holds {rows} rows where ferry left {}: rows were deleted since", tl.rows))
    } else {
        Ok(())
    })
}

/// The rowid bounds of segment `i` of a ledger: from its first key to the
/// next segment's, the first from `i64::MIN` and the last to `i64::MAX`.
pub fn bounds(tl: &TableLedger, i: usize) -> (i64, i64) {
    let lo = if i == 0 { i64::MIN } else { tl.segments[i].lo };
    let hi = tl.segments.get(i + 1).map_or(i64::MAX, |s| s.lo - 1);
    (lo, hi)
}

/// One partition compared against segment `seg`: the source rows of its
/// rowid range fingerprinted and merged with the records in key order.
/// Rows to write (new, or changed) and keys to delete (records without a
/// source row) come back as a delta whose deletes are keys; with `next`,
/// the source's records are written there (segments of at most
/// `ledger::SEGMENT_ROWS`).
pub fn scan(
    conn: &Connection,
    tp: &TablePlan,
    tl: &TableLedger,
    root: &Path,
    seg: usize,
    next: Option<&Path>,
) -> Result<PartDelta, Error> {
    let old = tl.read(root, seg).map_err(|e| Error::Other(format!("reading the ledger of table {:?}: {e}", tp.source.name)))?;
    let (lo, hi) = bounds(tl, seg);
    let rowid = rowid_name(&tp.source)
        .ok_or_else(|| Error::Other(format!("table {:?} has no rowid to compare by its ledger", tp.source.name)))?;
    let ncols = tp.map.columns.len();
    let cols: Vec<String> = tp.map.columns.iter().map(|c| ident::quote(&c.source)).collect();
    let sql = format!(
        "SELECT {}, {rowid} FROM {} WHERE {rowid} BETWEEN ?1 AND ?2 ORDER BY {rowid}",
        cols.join(", "),
        ident::quote(&tp.source.name)
    );
    let mut stmt = conn.prepare_cached(&sql).map_err(|e| source_error(tp, e))?;
    let mut rows = stmt.query([lo, hi]).map_err(|e| source_error(tp, e))?;
    let mut merge = Merge { old: &old, at: 0, new: Vec::with_capacity(old.len() + 64), d: PartDelta::default() };
    merge.d.target.rows = old.iter().filter(|r| !r.absent).count() as u64;
    let mut fps = Fingerprints::default();
    while let Some(row) = rows.next().map_err(|e| source_error(tp, e))? {
        for i in 0..ncols {
            fps.value(row.get_ref(i).map_err(|e| source_error(tp, e))?);
        }
        let key: i64 = row.get(ncols).map_err(|e| source_error(tp, e))?;
        fps.end_row(key, false);
        if fps.ready() > 0 {
            merge.add(fps.take());
        }
    }
    fps.flush();
    merge.add(fps.take());
    merge.finish();
    if let Some(next) = next {
        let dir = Store::table(next, &tp.source.name);
        ledger::write_segments(&dir, lo, &merge.new)
            .map_err(|e| Error::Other(format!("writing the ledger of table {:?}: {e}", tp.source.name)))?;
    }
    Ok(merge.d)
}

/// The merge of a partition's old records with its source rows.
struct Merge<'a> {
    old: &'a [Record],
    at: usize,
    /// The source's records.
    new: Vec<Record>,
    d: PartDelta,
}

impl Merge<'_> {
    /// Source rows' records, in key order.
    fn add(&mut self, recs: Vec<Record>) {
        for n in recs {
            self.gone_before(n.key);
            match self.old.get(self.at) {
                Some(o) if o.key == n.key => {
                    self.at += 1;
                    if o.fp == n.fp {
                        // Unchanged (also a row still rejected: absent).
                        self.new.push(*o);
                        self.d.source.rows += u64::from(!o.absent);
                        continue;
                    }
                    if o.absent {
                        self.d.inserted += 1;
                    } else {
                        self.d.replaced += 1;
                        self.d.changed.push(n.key);
                    }
                }
                _ => self.d.inserted += 1,
            }
            self.d.write.push(n.key);
            self.d.source.rows += 1;
            self.new.push(n);
        }
    }

    /// Records before `key` have no source row: deleted (if the target has
    /// them).
    fn gone_before(&mut self, key: i64) {
        while let Some(o) = self.old.get(self.at).filter(|o| o.key < key) {
            if !o.absent {
                self.d.delete.push(o.key);
            }
            self.at += 1;
        }
    }

    fn finish(&mut self) {
        self.gone_before(i64::MAX);
        if let Some(o) = self.old.get(self.at).filter(|o| o.key == i64::MAX) {
            if !o.absent {
                self.d.delete.push(o.key);
            }
            self.at += 1;
        }
    }
}

/// Write the next ledger into `next/`, inside the sync's transaction
/// before COMMIT: the tables compared by their ledger, with the records the
/// comparison wrote, and the tables compared whole that got fresh records
/// on the way, with the transactions their rows were read from; each
/// naming this transaction among its writers if this sync wrote it
/// (`wrote`). None: no table has a ledger to carry on, or the server could
/// not say what the manifest needs.
pub async fn write_next(
    client: &Client,
    (store, view): (&Store, Option<&View>),
    plan: &crate::plan::Plan,
    deltas: &[super::Delta],
    wrote: bool,
) -> Option<std::io::Result<()>> {
    let xid: Option<i64> = match wrote {
        true => Some(client.query_one("SELECT txid_current()", &[]).await.ok()?.get(0)),
        false => None,
    };
    let xmax = postgres::catalog::snapshot_xmax(client).await.ok()?;
    let targets: Vec<&str> = plan.tables.iter().map(|tp| tp.map.target.as_str()).collect();
    let oids = postgres::catalog::table_oids(client, &plan.pg_schema, &targets).await.ok()?;
    let next = store.next();
    let mut m = Manifest { pending_xid: xid, ..Default::default() };
    for ((tp, d), oid) in plan.tables.iter().zip(deltas).zip(oids) {
        let old = view.and_then(|v| v.manifest.tables.get(&tp.source.name)).filter(|_| d.by_key);
        let mut xids = match old {
            Some(old) => old.xids.clone(),
            None if d.fresh => match d.writers.widened(xmax) {
                Some(x) => x,
                None => continue,
            },
            None => continue,
        };
        let Some(oid) = oid else { continue };
        let made = (|| {
            mark_absent(&next, &tp.source.name, &d.rejected)?;
            ledger::segments_in(&Store::table(&next, &tp.source.name))
        })();
        let segments = match made {
            Ok(Some(s)) => s,
            Ok(None) => continue,
            Err(e) => return Some(Err(e)),
        };
        if let Some(x) = xid.filter(|x| d.writes() && !xids.contains(x)) {
            xids.push(x);
        }
        m.tables.insert(
            tp.source.name.clone(),
            TableLedger {
                target: tp.map.target.clone(),
                plan: ledger::plan_print(tp),
                oid,
                rows: d.source.rows,
                xids,
                dir: ledger::table_dir(&tp.source.name),
                segments,
            },
        );
    }
    if m.tables.is_empty() {
        return None;
    }
    Some(store.write_next(&m))
}

/// Rows a bad-value policy rejected while a sync staged them: their
/// records in `next/` become absent.
pub fn mark_absent(next: &Path, table: &str, keys: &[i64]) -> std::io::Result<()> {
    if keys.is_empty() {
        return Ok(());
    }
    let keys: std::collections::HashSet<i64> = keys.iter().copied().collect();
    for e in std::fs::read_dir(Store::table(next, table))? {
        let path = e?.path();
        let mut recs = ledger::read_segment(&path)?;
        let mut hit = false;
        for r in recs.iter_mut().filter(|r| keys.contains(&r.key)) {
            r.absent = true;
            hit = true;
        }
        if hit {
            ledger::rewrite_segment(&path, &recs)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(key: i64, fp: u8, absent: bool) -> Record {
        Record { key, fp: [fp; 15], absent }
    }

    #[test]
    fn merge_finds_new_changed_and_gone_rows() {
        let old = [rec(1, 1, false), rec(2, 2, false), rec(3, 3, true), rec(4, 4, false), rec(9, 9, false)];
        let mut m = Merge { old: &old, at: 0, new: Vec::new(), d: PartDelta::default() };
        m.add(vec![rec(1, 1, false), rec(2, 7, false), rec(3, 3, false), rec(5, 5, false)]);
        m.add(vec![rec(6, 6, false)]);
        m.finish();
        assert_eq!(m.d.write, vec![2, 5, 6], "changed 2, new 5 and 6");
        assert_eq!(m.d.changed, vec![2]);
        assert_eq!((m.d.inserted, m.d.replaced), (2, 1));
        assert_eq!(m.d.delete, vec![4, 9], "gone, present in the target");
        // Row 3 still rejected: absent, unchanged, not written.
        assert_eq!(m.new.iter().map(|r| (r.key, r.absent)).collect::<Vec<_>>(), vec![(1, false), (2, false), (3, true), (5, false), (6, false)]);
        assert_eq!(m.d.source.rows, 4);
        // A rejected row that changed is written (inserted: the target lacks it).
        let old = [rec(3, 3, true)];
        let mut m = Merge { old: &old, at: 0, new: Vec::new(), d: PartDelta::default() };
        m.add(vec![rec(3, 4, false)]);
        m.finish();
        assert_eq!((m.d.inserted, m.d.replaced, m.d.write.clone()), (1, 0, vec![3]));
    }

    #[test]
    fn segment_bounds_cover_every_key() {
        let seg = |lo| ledger::Segment { lo, file: String::new(), records: 0 };
        let tl = TableLedger {
            target: "t".into(),
            plan: String::new(),
            oid: 1,
            rows: 0,
            xids: vec![],
            dir: String::new(),
            segments: vec![seg(5), seg(100), seg(250)],
        };
        assert_eq!(bounds(&tl, 0), (i64::MIN, 99));
        assert_eq!(bounds(&tl, 1), (100, 249));
        assert_eq!(bounds(&tl, 2), (250, i64::MAX));
    }
}
