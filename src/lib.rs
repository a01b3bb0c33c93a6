//! ferry: move a SQLite database into PostgreSQL and prove nothing was lost.
//!
//! The modules follow the pipeline, in order:
//!
//! ```text
//! sqlite (introspect) → mapping (resolve every column once) → plan (FK order, post-data)
//!   → postgres (DDL) → pipeline [read → convert → encode → hash ⇉ COPY] → postgres (keys, sequences)
//!   → verify (counts, canonical hashes) → report
//! ```
//!
//! `ARCHITECTURE.md` at the repository root has the module table and the
//! reasons for the choices that are not obvious.

pub mod cli;
pub mod error;
pub mod hash;
pub mod interrupt;
pub mod journal;
pub mod mapping;
pub mod model;
pub mod plan;
pub mod ledger;
pub mod progress;
pub mod report;
pub mod report_html;
pub mod sql;
pub mod sqlite;
pub mod postgres;
pub mod pipeline;
pub mod verify;
pub mod sync;
pub mod commands;
