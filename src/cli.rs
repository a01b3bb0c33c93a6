//! The command line, as clap derive structs. Doc comments are the help text.
//! Parsing only: validation and resolution into a run configuration happen in
//! `commands`, before any I/O, so a bad flag never leaves work half done.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Move a SQLite database into PostgreSQL, fast, and prove nothing was lost.
///
/// Exit codes: 0 success (every table verified), 1 verification found
/// differences or data was rejected, 2 error, 130 interrupted.
#[derive(Debug, Parser)]
#[command(name = "ferry", version = env!("FERRY_VERSION"), about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Show the SQLite schema as ferry understands it: tables in load order,
    /// columns with affinity, keys, indexes, and what is not migrated.
    Inspect(InspectArgs),
    /// Create the tables in PostgreSQL, load every row with binary COPY,
    /// and verify counts and content hashes.
    Migrate(MigrateArgs),
    /// Dry run: the mapping of every column and why, the load order, the DDL
    /// or the fit with an existing schema, then every value converted and
    /// every problem listed. Writes nothing to the target. Exit 0 when the
    /// real run would succeed, 1 when it would not.
    Plan(PlanArgs),
    /// Compare a SQLite file with a PostgreSQL database without moving data:
    /// row counts and canonical content hashes per table.
    Verify(VerifyArgs),
    /// Load the rows a migration rejected (its reject file), once fixed in
    /// SQLite or by a mapping rule, into the migrated target: in one
    /// transaction, parents first, sequences moved; any row still bad
    /// refuses the whole replay (exit 2, nothing written).
    Replay(ReplayArgs),
    /// Bring a target that `migrate` filled from this source to the
    /// source's current state: compare both sides by key, then insert,
    /// update and delete only the rows that differ, in one transaction,
    /// and verify. Exit 0 when the target ends equal, 1 when the final
    /// verification differs, 2 on errors and refusals.
    Sync(SyncArgs),
    /// Print the built-in mapping file.
    Mappings,
    /// Re-create foreign keys and indexes that an interrupted
    /// existing-schema load set aside (also done by the next `migrate`).
    RestoreKeys(RestoreKeysArgs),
    /// Print a shell completion script for ferry, e.g.
    /// `ferry completions bash > /etc/bash_completion.d/ferry`.
    Completions {
        /// The shell to complete in.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print ferry's manual page (roff) on stdout, e.g.
    /// `ferry man > /usr/local/share/man/man1/ferry.1`, or
    /// `ferry man migrate` for the page of one command.
    Man {
        /// The command whose page to print (ferry's own page without one).
        command: Option<String>,
    },
}

#[derive(Debug, Args)]
pub struct RestoreKeysArgs {
    #[command(flatten)]
    pub target: TargetOpts,
    /// PostgreSQL schema (namespace) holding the tables.
    #[arg(long, env = "FERRY_PG_SCHEMA", default_value = "public")]
    pub pg_schema: String,
    /// Where ferry keeps its journal of keys set aside.
    #[arg(long, env = "FERRY_STATE_DIR", default_value = ".ferry-state")]
    pub state_dir: PathBuf,
}

#[derive(Debug, Args)]
pub struct SourceOpts {
    /// The SQLite database file (opened read-only; never modified).
    #[arg(value_name = "SRC")]
    pub source: PathBuf,
}

#[derive(Debug, Args)]
pub struct TargetOpts {
    /// PostgreSQL connection: a postgres:// URL or a libpq keyword string
    /// ("host=… dbname=…"). Falls back to DATABASE_URL, then to the PG*
    /// environment variables.
    #[arg(value_name = "TARGET_URL")]
    pub target: Option<String>,
}

#[derive(Debug, Args, Clone)]
pub struct MappingOpts {
    /// A mapping file (TOML); repeatable, later files override earlier ones,
    /// all over the built-in default.
    #[arg(long = "mapping", value_name = "FILE", env = "FERRY_MAPPING")]
    pub mapping: Vec<PathBuf>,
    /// Only these tables (comma-separated glob patterns; spaces around
    /// commas and ASCII case are ignored; a pattern matching no table is an error).
    #[arg(long, value_delimiter = ',', value_name = "PATTERN", value_parser = table_pattern)]
    pub tables: Vec<String>,
    /// Leave out these tables (comma-separated glob patterns, as --tables).
    #[arg(long, value_delimiter = ',', value_name = "PATTERN", value_parser = table_pattern)]
    pub exclude: Vec<String>,
}

/// One `--tables`/`--exclude` pattern: `'a, b'` means `a` and `b`, so the
/// spaces around a comma are not part of a name.
fn table_pattern(s: &str) -> Result<String, String> {
    let p = s.trim();
    if p.is_empty() { Err("empty table pattern".into()) } else { Ok(p.to_string()) }
}

#[derive(Debug, Args, Clone)]
pub struct ParallelOpts {
    /// Reader threads (read + convert + encode). Default: number of cores.
    #[arg(short = 'j', long, env = "FERRY_JOBS", value_name = "N", value_parser = at_least_one::<usize>)]
    pub jobs: Option<usize>,
    /// PostgreSQL connections loading in parallel. Default: number of cores.
    #[arg(long, env = "FERRY_WRITERS", value_name = "N", value_parser = at_least_one::<usize>)]
    pub writers: Option<usize>,
    /// Split tables larger than this many rows into chunks of this size.
    #[arg(long, env = "FERRY_CHUNK_ROWS", value_name = "ROWS", default_value_t = 250_000, value_parser = at_least_one::<u64>)]
    pub chunk_rows: u64,
}

#[derive(Debug, Args, Clone)]
pub struct OutputOpts {
    /// Write one JSON document with the results on stdout.
    #[arg(long)]
    pub json: bool,
    /// No progress bars and no summary on stderr (errors still print).
    #[arg(short, long)]
    pub quiet: bool,
}

/// The source, target, mapping and output flags `verify`, `replay` and
/// `sync` take alike, in this order. (`migrate` and `plan` put
/// `ParallelOpts` among them, which would move flags in their help.)
#[derive(Debug, Args)]
pub struct CommonOpts {
    #[command(flatten)]
    pub source: SourceOpts,
    #[command(flatten)]
    pub target: TargetOpts,
    #[command(flatten)]
    pub mapping: MappingOpts,
    #[command(flatten)]
    pub output: OutputOpts,
}

#[derive(Debug, Args)]
pub struct InspectArgs {
    #[command(flatten)]
    pub source: SourceOpts,
    /// Count SQLite storage classes (typeof) per column: reads every row.
    #[arg(long)]
    pub profile: bool,
    /// Read every value and write a mapping file that converts all of them
    /// (to FILE, or stdout without one); columns with no total conversion
    /// are listed on stderr. The file is given as `--suggest-mapping=FILE`:
    /// with a space, `inspect --suggest-mapping app.db` would take the
    /// database for the output file.
    #[arg(long, value_name = "FILE", num_args = 0..=1, default_missing_value = "-", require_equals = true)]
    pub suggest_mapping: Option<PathBuf>,
    /// Mapping files the suggestion builds on (repeatable).
    #[arg(long = "mapping", value_name = "FILE")]
    pub mapping: Vec<PathBuf>,
    #[command(flatten)]
    pub output: OutputOpts,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SchemaMode {
    /// Existing if every table already exists in the target, create if none
    /// does; stop if only some do.
    Auto,
    /// Create the tables (the target must not have them).
    Create,
    /// Load into tables that already exist (e.g. made by `alembic upgrade head`).
    Existing,
}

#[derive(Debug, Args)]
pub struct MigrateArgs {
    #[command(flatten)]
    pub source: SourceOpts,
    #[command(flatten)]
    pub target: TargetOpts,
    #[command(flatten)]
    pub mapping: MappingOpts,
    #[command(flatten)]
    pub parallel: ParallelOpts,
    #[command(flatten)]
    pub output: OutputOpts,
    /// Target schema handling.
    #[arg(long, value_enum, default_value_t = SchemaMode::Auto)]
    pub schema: SchemaMode,
    /// Existing schema: empty tables that already hold rows (otherwise ferry
    /// refuses, naming them; it never appends).
    #[arg(long)]
    pub truncate: bool,
    /// Existing schema: load with foreign keys and indexes in place, in
    /// foreign-key order, instead of setting them aside and restoring them.
    #[arg(long)]
    pub keep_keys: bool,
    /// Rows that `on_bad_value = "reject"` may leave out in one run; beyond
    /// this many the run stops (exit 2).
    #[arg(long, value_name = "N", default_value_t = 1000)]
    pub max_rejects: u64,
    /// Where rejected rows are written, one JSON line each. Default:
    /// rejects.jsonl in the state directory.
    #[arg(long, value_name = "FILE")]
    pub reject_file: Option<PathBuf>,
    /// Where ferry keeps its journals (keys set aside, tables finished).
    #[arg(long, env = "FERRY_STATE_DIR", default_value = ".ferry-state")]
    pub state_dir: PathBuf,
    /// Rehearse on a throwaway local PostgreSQL: start a cluster (needs the
    /// server binaries), migrate into it, verify, report, remove it.
    #[arg(long, conflicts_with = "target")]
    pub target_scratch: bool,
    /// With --target-scratch: SQL applied to the scratch database first
    /// (e.g. `pg_dump --schema-only` of production).
    #[arg(long, value_name = "FILE", requires = "target_scratch")]
    pub scratch_schema_sql: Option<PathBuf>,
    /// With --target-scratch: a command run first with DATABASE_URL set to
    /// the scratch database (e.g. "alembic upgrade head").
    #[arg(long, value_name = "COMMAND", requires = "target_scratch")]
    pub scratch_schema_cmd: Option<String>,
    /// Continue a run that failed or was interrupted: skip the tables it
    /// committed, load the rest, restore keys, verify everything.
    #[arg(long)]
    pub resume: bool,
    /// Also write the JSON report to this file.
    #[arg(long, value_name = "FILE")]
    pub report: Option<PathBuf>,
    /// Write the report as one self-contained HTML page (verdict, tables,
    /// decisions, problems, timeline of the load) for a change board.
    #[arg(long, value_name = "FILE")]
    pub report_html: Option<PathBuf>,
    /// With --report-html: the rehearsal's `ferry plan --json` output, drawn
    /// as estimate against this run, per table.
    #[arg(long, value_name = "PLAN_JSON", requires = "report_html")]
    pub compare_with: Option<PathBuf>,
    /// PostgreSQL schema (namespace) to create the tables in.
    #[arg(long, env = "FERRY_PG_SCHEMA", default_value = "public")]
    pub pg_schema: String,
    /// Skip the content verification after the load (counts are still checked).
    #[arg(long)]
    pub no_verify: bool,
    /// Keep no ledger of the rows written (the state directory's record
    /// that lets a later `ferry sync` read the source alone; 24 bytes per
    /// row, and the fingerprinting costs the load a little CPU).
    #[arg(long)]
    pub no_ledger: bool,
    /// Differences to report per table at most, when verification fails.
    #[arg(long, default_value_t = 100)]
    pub max_diffs: usize,
}

#[derive(Debug, Args)]
pub struct ReplayArgs {
    // The same mapping files and table filters as the migration (a new
    // rule for the rejected values may be added).
    #[command(flatten)]
    pub common: CommonOpts,
    /// The migration's reject file. Default: rejects.jsonl in the state
    /// directory. Renamed to FILE.replayed once its rows are in.
    #[arg(long, value_name = "FILE")]
    pub reject_file: Option<PathBuf>,
    /// The migration's state directory (where its reject file is).
    #[arg(long, env = "FERRY_STATE_DIR", default_value = ".ferry-state")]
    pub state_dir: PathBuf,
    /// PostgreSQL schema (namespace) holding the tables.
    #[arg(long, env = "FERRY_PG_SCHEMA", default_value = "public")]
    pub pg_schema: String,
}

#[derive(Debug, Args)]
pub struct PlanArgs {
    #[command(flatten)]
    pub source: SourceOpts,
    /// Optional: with a target, the plan says whether ferry would create the
    /// tables or load into existing ones, and checks the fit. Read-only.
    #[arg(value_name = "TARGET_URL")]
    pub target: Option<String>,
    #[command(flatten)]
    pub mapping: MappingOpts,
    #[command(flatten)]
    pub parallel: ParallelOpts,
    #[command(flatten)]
    pub output: OutputOpts,
    #[arg(long, value_enum, default_value_t = SchemaMode::Auto)]
    pub schema: SchemaMode,
    /// PostgreSQL schema (namespace) of the tables.
    #[arg(long, env = "FERRY_PG_SCHEMA", default_value = "public")]
    pub pg_schema: String,
    /// Also load a sample of every table (up to --calibrate-rows rows) into
    /// a scratch schema on the target, dropped afterwards, to estimate the
    /// load time from the server's real speed.
    #[arg(long, requires = "target")]
    pub calibrate: bool,
    /// As `migrate --truncate`: tables that already hold rows are no
    /// problem, the real run would empty them.
    #[arg(long)]
    pub truncate: bool,
    /// As `migrate --keep-keys`: check what loading with keys in place needs
    /// (deferrable foreign-key cycles).
    #[arg(long)]
    pub keep_keys: bool,
    /// Rows per table in the calibration sample.
    #[arg(long, default_value_t = 50_000, value_parser = at_least_one::<u64>)]
    pub calibrate_rows: u64,
    /// Also write the plan as one self-contained HTML page.
    #[arg(long, value_name = "FILE")]
    pub report_html: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct VerifyArgs {
    #[command(flatten)]
    pub common: CommonOpts,
    /// PostgreSQL schema (namespace) holding the tables.
    #[arg(long, env = "FERRY_PG_SCHEMA", default_value = "public")]
    pub pg_schema: String,
    /// Differences to report per table at most.
    #[arg(long, default_value_t = 100)]
    pub max_diffs: usize,
    /// Also write the result as one self-contained HTML page.
    #[arg(long, value_name = "FILE")]
    pub report_html: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct SyncArgs {
    #[command(flatten)]
    pub common: CommonOpts,
    /// Compare and print per table the rows that would be inserted,
    /// deleted and replaced; write nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Workers comparing partitions side by side (each one source and one
    /// target connection). Default: number of cores.
    #[arg(short = 'j', long, env = "FERRY_JOBS", value_name = "N", value_parser = at_least_one::<usize>)]
    pub jobs: Option<usize>,
    /// PostgreSQL schema (namespace) holding the tables.
    #[arg(long, env = "FERRY_PG_SCHEMA", default_value = "public")]
    pub pg_schema: String,
    /// Also write the result as one self-contained HTML page.
    #[arg(long, value_name = "FILE")]
    pub report_html: Option<PathBuf>,
    /// Where `migrate` left its ledger of the rows it wrote (the same
    /// directory): tables it still describes are compared by reading the
    /// source alone.
    #[arg(long, env = "FERRY_STATE_DIR", default_value = ".ferry-state")]
    pub state_dir: PathBuf,
}

/// Counts of rows, threads and connections: 0 would divide by zero or wait
/// forever, so it is refused where the flag is read.
fn at_least_one<T: std::str::FromStr + PartialEq + From<u8>>(s: &str) -> Result<T, String>
where
    T::Err: std::fmt::Display,
{
    match s.parse::<T>() {
        Ok(n) if n == T::from(0) => Err("must be at least 1".into()),
        Ok(n) => Ok(n),
        Err(e) => Err(e.to_string()),
    }
}
