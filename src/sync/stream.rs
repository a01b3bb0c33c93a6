//! A sync's comparison and writes, overlapped where the ledger allows.
//!
//! Tables compared by their ledgers read the source alone, on the client's
//! cores, while the server idles; their writes are the server's work. So
//! when every table that has rows to compare has a ledger, each partition's
//! differences go to the writer as soon as they are known, and the writer
//! applies them while the comparison goes on, in the order foreign keys
//! need: a piece's inserts and updates once every table of a lower level
//! (its parents) has all of its own, its deletes once every table of a
//! higher level (its children) has all of its own. Nothing is written
//! before the ledgers' check (`ledger::untouched`) has passed; if a ledger
//! turns out stale, the run falls back to comparing that table both sides
//! whole and writing afterwards, as without a ledger.

use std::path::Path;
use std::time::{Duration, Instant};

use crossbeam_channel::{RecvTimeoutError, Sender};
use tokio_postgres::Client;

use super::apply::{self, Writer};
use super::scan::PartDelta;
use super::{Delta, Error, LedgerIo, Mode, ledger};
use crate::ledger::{Store, TableLedger};
use crate::plan::Plan;
use crate::postgres::Target;
use crate::postgres::catalog::Catalog;

/// What the comparison tells the writer.
pub enum Streamed {
    /// Per table, how many ledger partitions will come.
    Parts(Vec<usize>),
    /// One partition of table `t` compared.
    Part(usize, Box<PartDelta>),
}

/// What one sync compares with and in.
pub struct Run<'a> {
    pub rt: &'a tokio::runtime::Runtime,
    pub src: &'a Path,
    pub target: &'a Target,
    /// The snapshot the writing transaction exported.
    pub snapshot: Option<&'a str>,
    pub jobs: usize,
    pub view: Option<&'a ledger::View>,
    /// Where the next ledger is made (with or without a current one).
    pub store: &'a Store,
    pub dry_run: bool,
}

/// What a run found and did.
pub struct Compared {
    pub deltas: Vec<Delta>,
    /// Per table, why it was compared both sides whole (None: by its ledger).
    pub whole: Vec<Option<String>>,
    /// Per table, the final check (None: nothing was written).
    pub verified: Option<Vec<bool>>,
    pub compare_seconds: f64,
    /// The writes ran while the comparison went on.
    pub streamed: bool,
}

type Verdicts = tokio::task::JoinHandle<Result<Vec<(usize, Result<(), String>)>, Error>>;

impl Run<'_> {
    /// Per table: its ledger where it has one that fits, else both sides
    /// whole (and why).
    fn modes(&self, plan: &Plan) -> (Vec<Mode<'_>>, Vec<Option<String>>) {
        let mut modes = Vec::new();
        let mut whole = Vec::new();
        for tp in &plan.tables {
            match ledger::candidate(self.view, tp) {
                Ok(tl) => {
                    modes.push(Mode::Ledger(tl));
                    whole.push(None);
                }
                Err(why) => {
                    modes.push(Mode::Whole);
                    whole.push(Some(why));
                }
            }
        }
        (modes, whole)
    }

    /// The ledgers' check, on the server while the source is read.
    fn check(&self, plan: &Plan, modes: &[Mode<'_>]) -> Verdicts {
        let checked: Vec<(usize, TableLedger)> =
            modes.iter().enumerate().filter_map(|(t, m)| match m { Mode::Ledger(tl) => Some((t, (*tl).clone())), _ => None }).collect();
        let (target, snapshot, schema) = (self.target.clone(), self.snapshot.map(str::to_string), plan.pg_schema.clone());
        self.rt.spawn(async move {
            if checked.is_empty() {
                return Ok(Vec::new());
            }
            let client = super::reader(&target, snapshot.as_deref()).await?;
            let xmax = crate::postgres::catalog::snapshot_xmax(&client).await?;
            let mut out = Vec::new();
            for (t, tl) in &checked {
                out.push((*t, ledger::untouched(&client, &schema, tl, xmax).await?));
            }
            Ok(out)
        })
    }

    fn verdicts(&self, check: Verdicts) -> Result<Vec<(usize, String)>, Error> {
        let verdicts = match self.rt.block_on(check) {
            Ok(v) => v?,
            Err(join) => std::panic::resume_unwind(join.into_panic()),
        };
        Ok(verdicts.into_iter().filter_map(|(t, v)| v.err().map(|why| (t, why))).collect())
    }

    /// Tables whose ledger is stale, compared again both sides whole (and
    /// given a fresh ledger on the way, in `next`).
    fn recompare(
        &self,
        plan: &Plan,
        stale: Vec<(usize, String)>,
        (deltas, whole): (&mut [Delta], &mut [Option<String>]),
        next: Option<&Path>,
    ) -> Result<(), Error> {
        if stale.is_empty() {
            return Ok(());
        }
        if let Some(n) = next {
            for (t, _) in &stale {
                let _ = std::fs::remove_dir_all(Store::table(n, &plan.tables[*t].source.name));
            }
        }
        let again: Vec<Mode<'_>> =
            (0..plan.tables.len()).map(|t| if stale.iter().any(|s| s.0 == t) { Mode::Whole } else { Mode::Skip }).collect();
        let io = Some(LedgerIo { root: None, next });
        let mut fresh = super::compare(self.rt, self.src, self.target, plan, self.snapshot, self.jobs, &again, io, None)?;
        for (t, why) in stale {
            deltas[t] = std::mem::take(&mut fresh[t]);
            whole[t] = Some(format!("the ledger no longer describes the table: {why}"));
        }
        Ok(())
    }

    /// Compare every table (by its ledger where it has one that fits, its
    /// records for the next ledger written to `next/` on the way, unless a
    /// dry run), then, unless a dry run, write: overlapped with the
    /// comparison when every table compared has a ledger.
    pub fn go(&self, plan: &Plan, lead: &Client, catalog: &Catalog) -> Result<Compared, Error> {
        let t0 = Instant::now();
        let (modes, whole) = self.modes(plan);
        let root = self.view.map(ledger::View::root);
        // Where the next ledger goes; none in a dry run or if it cannot be
        // written (the sync goes on, and the next one compares both sides).
        let next = (!self.dry_run).then(|| self.store.next()).filter(|n| Store::clear(n).is_ok());
        let io = Some(LedgerIo { root: root.as_deref(), next: next.as_deref() });
        let check = self.check(plan, &modes);
        let streams = !self.dry_run && modes.iter().any(|m| matches!(m, Mode::Ledger(_))) && !modes.iter().any(|m| matches!(m, Mode::Whole));
        if streams {
            return self.streamed(plan, lead, catalog, (&modes, whole), io, check, t0);
        }
        let deltas = super::compare(self.rt, self.src, self.target, plan, self.snapshot, self.jobs, &modes, io, None)?;
        let stale = self.verdicts(check)?;
        self.write_after(plan, (lead, catalog), (deltas, whole), stale, next.as_deref(), t0)
    }

    /// The comparison is done and nothing was written: the tables whose
    /// ledger is stale are compared again both sides whole, then (unless a
    /// dry run) every difference is written.
    #[allow(clippy::too_many_arguments)]
    fn write_after(
        &self,
        plan: &Plan,
        (lead, catalog): (&Client, &Catalog),
        (mut deltas, mut whole): (Vec<Delta>, Vec<Option<String>>),
        stale: Vec<(usize, String)>,
        next: Option<&Path>,
        t0: Instant,
    ) -> Result<Compared, Error> {
        self.recompare(plan, stale, (&mut deltas, &mut whole), next)?;
        let compare_seconds = t0.elapsed().as_secs_f64();
        let verified = if self.dry_run || !deltas.iter().any(Delta::writes) {
            None
        } else {
            Some(apply::apply(self.rt, lead, self.src, plan, catalog, &mut deltas).map_err(|e| Error::Write(Box::new(e)))?)
        };
        Ok(Compared { deltas, whole, verified, compare_seconds, streamed: false })
    }

    /// The comparison on its own threads, sending each partition to this
    /// one, which writes what the foreign keys allow as it comes.
    #[allow(clippy::too_many_arguments)]
    fn streamed(
        &self,
        plan: &Plan,
        lead: &Client,
        catalog: &Catalog,
        (modes, whole): (&[Mode<'_>], Vec<Option<String>>),
        io: Option<LedgerIo<'_>>,
        check: Verdicts,
        t0: Instant,
    ) -> Result<Compared, Error> {
        let mut writer = Writer::new(self.rt, lead, self.src, plan, catalog)?;
        let mut stream = Stream::new(plan, catalog);
        let mut check = Some(check);
        let mut stale: Option<Vec<(usize, String)>> = None;
        let mut compare_seconds = 0.0;
        let compared = std::thread::scope(|s| {
            let (tx, rx) = crossbeam_channel::unbounded::<Streamed>();
            let comparing = s.spawn(move || {
                let tx: Sender<Streamed> = tx;
                super::compare(self.rt, self.src, self.target, plan, self.snapshot, self.jobs, modes, io, Some(&tx))
            });
            let written = (|| {
                loop {
                    match rx.recv_timeout(Duration::from_millis(10)) {
                        Ok(m) => stream.take(m),
                        Err(RecvTimeoutError::Timeout) => {}
                        Err(RecvTimeoutError::Disconnected) => break,
                    }
                    if let Some(done) = check.take_if(|c| c.is_finished()) {
                        stale = Some(self.verdicts(done)?);
                    }
                    if stale.as_ref().is_some_and(Vec::is_empty) {
                        stream.write_ready(&mut writer, false)?;
                    }
                }
                Ok::<_, Error>(())
            })();
            // On a write's failure the comparison stops at its next send.
            drop(rx);
            let compared = comparing.join().unwrap_or_else(|p| std::panic::resume_unwind(p));
            compare_seconds = t0.elapsed().as_secs_f64();
            written.map_err(|e| Error::Write(Box::new(e)))?;
            compared
        })?;
        let mut deltas = compared;
        let stale = match (stale, check) {
            (Some(s), _) => s,
            (None, Some(c)) => self.verdicts(c)?,
            (None, None) => Vec::new(),
        };
        if !stale.is_empty() {
            // Nothing was written: every partition is summed, then as
            // without streaming.
            for (t, d) in stream.drain() {
                deltas[t].add(d.rows);
            }
            return self.write_after(plan, (lead, catalog), (deltas, whole), stale, io.and_then(|i| i.next), t0);
        }
        let written = (|| {
            stream.write_ready(&mut writer, true)?;
            for (t, sum) in stream.sums.into_iter().enumerate() {
                deltas[t].rows = sum.rows;
                deltas[t].rejected = sum.rejected;
            }
            let any = deltas.iter().any(Delta::writes);
            Ok::<_, Error>(if any { Some(writer.finish(&deltas)?) } else { None })
        })()
        .map_err(|e| Error::Write(Box::new(e)))?;
        Ok(Compared { deltas, whole, verified: written, compare_seconds, streamed: true })
    }
}

/// The partitions received and what has been written of them.
struct Stream {
    /// Per table: the tables its foreign keys point at, and those whose
    /// foreign keys point at it (the source's and the target's, itself
    /// left out), and whether it points at itself.
    parents: Vec<Vec<usize>>,
    children: Vec<Vec<usize>>,
    self_ref: Vec<bool>,
    levels: Vec<usize>,
    total: Option<Vec<usize>>,
    received: Vec<usize>,
    upserted: Vec<usize>,
    deleted: Vec<usize>,
    /// Pieces waiting, with how many partitions each holds.
    to_upsert: Vec<(usize, Delta, usize)>,
    to_delete: Vec<(usize, Delta, usize)>,
    /// Per table, the partitions written, summed (counts as written: a
    /// row rejected when staged is no longer counted).
    sums: Vec<Delta>,
}

impl Stream {
    fn new(plan: &Plan, catalog: &Catalog) -> Stream {
        let n = plan.tables.len();
        let by_target = |name: &str| plan.tables.iter().position(|t| t.map.target == name);
        let by_source = |name: &str| plan.tables.iter().position(|t| t.source.name.eq_ignore_ascii_case(name));
        let mut parents = vec![Vec::new(); n];
        let mut self_ref = vec![false; n];
        for (t, tp) in plan.tables.iter().enumerate() {
            let source = tp.source.foreign_keys.iter().filter_map(|fk| by_source(&fk.ref_table));
            let target = catalog
                .tables
                .get(&tp.map.target)
                .into_iter()
                .flat_map(|tt| tt.constraints.iter())
                .filter(|c| c.kind == 'f')
                .filter_map(|c| c.ref_table.as_deref().and_then(by_target));
            for p in source.chain(target) {
                if p == t {
                    self_ref[t] = true;
                } else if !parents[t].contains(&p) {
                    parents[t].push(p);
                }
            }
        }
        let mut children = vec![Vec::new(); n];
        for (t, ps) in parents.iter().enumerate() {
            for &p in ps {
                children[p].push(t);
            }
        }
        Stream {
            parents,
            children,
            self_ref,
            levels: plan.tables.iter().map(|t| t.level).collect(),
            total: None,
            received: vec![0; n],
            upserted: vec![0; n],
            deleted: vec![0; n],
            to_upsert: Vec::new(),
            to_delete: Vec::new(),
            sums: (0..n).map(|_| Delta { by_key: true, ..Delta::default() }).collect(),
        }
    }

    fn take(&mut self, m: Streamed) {
        match m {
            Streamed::Parts(counts) => self.total = Some(counts),
            Streamed::Part(t, rows) => {
                self.received[t] += 1;
                self.to_upsert.push((t, Delta { rows: *rows, by_key: true, ..Delta::default() }, 1));
            }
        }
    }

    /// Every partition of table `u` has been through `done`.
    fn done(&self, done: &[usize], u: usize) -> bool {
        self.total.as_ref().is_some_and(|total| done[u] == total[u])
    }

    /// A table that points at itself is written in one piece (one
    /// statement checks the references among its new rows): once all its
    /// partitions came, they become one.
    fn gather(&mut self) {
        for t in 0..self.self_ref.len() {
            let pending = self.to_upsert.iter().filter(|(u, _, _)| *u == t).count();
            if !self.self_ref[t] || pending < 2 || !self.done(&self.received, t) {
                continue;
            }
            let mut whole = Delta { by_key: true, ..Delta::default() };
            let mut parts = 0;
            self.to_upsert.retain_mut(|(u, d, n)| {
                if *u != t {
                    return true;
                }
                whole.add(std::mem::take(&mut d.rows));
                parts += *n;
                false
            });
            self.to_upsert.push((t, whole, parts));
        }
    }

    /// Whether a piece of `t` may be written now: its inserts and updates
    /// once its parent tables have all of theirs, its deletes once its child
    /// tables have all of theirs; a table pointing at itself in one piece.
    fn ready(&self, t: usize, parts: usize, upsert: bool) -> bool {
        if self.self_ref[t] && self.total.as_ref().is_none_or(|total| parts < total[t]) {
            return false;
        }
        if upsert {
            self.parents[t].iter().all(|&p| self.done(&self.upserted, p))
        } else {
            self.children[t].iter().all(|&c| self.done(&self.deleted, c))
        }
    }

    /// Write every piece the foreign keys allow now. With `all` (nothing
    /// more will come), write every piece left: where references go round
    /// in a cycle, in the order of levels, as without streaming.
    fn write_ready(&mut self, w: &mut Writer<'_>, all: bool) -> Result<(), Error> {
        self.gather();
        loop {
            let next_upsert = self.to_upsert.iter().position(|(t, _, n)| self.ready(*t, *n, true));
            if let Some(i) = next_upsert {
                let (t, mut d, n) = self.to_upsert.swap_remove(i);
                w.upsert(t, &mut d)?;
                self.upserted[t] += n;
                self.to_delete.push((t, d, n));
                continue;
            }
            let next_delete = self.to_delete.iter().position(|(t, _, n)| self.ready(*t, *n, false));
            if let Some(i) = next_delete {
                self.delete(w, i)?;
                continue;
            }
            if !all || (self.to_upsert.is_empty() && self.to_delete.is_empty()) {
                return Ok(());
            }
            // A cycle: the lowest level's inserts first, then deletes from
            // the highest level down.
            if let Some(i) = (0..self.to_upsert.len()).min_by_key(|&i| self.levels[self.to_upsert[i].0]) {
                let (t, mut d, n) = self.to_upsert.swap_remove(i);
                w.upsert(t, &mut d)?;
                self.upserted[t] += n;
                self.to_delete.push((t, d, n));
            } else if let Some(i) = (0..self.to_delete.len()).max_by_key(|&i| self.levels[self.to_delete[i].0]) {
                self.delete(w, i)?;
            }
        }
    }

    fn delete(&mut self, w: &mut Writer<'_>, i: usize) -> Result<(), Error> {
        let (t, d, n) = self.to_delete.swap_remove(i);
        w.delete(t, &d)?;
        self.deleted[t] += n;
        self.sums[t].rejected.extend(d.rejected);
        self.sums[t].add(d.rows);
        Ok(())
    }

    /// Every partition received and not written (nothing was).
    fn drain(&mut self) -> Vec<(usize, Delta)> {
        std::mem::take(&mut self.to_upsert).into_iter().map(|(t, d, _)| (t, d)).collect()
    }
}
