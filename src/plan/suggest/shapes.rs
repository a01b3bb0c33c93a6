//! Step 1 of a suggestion: the shapes of one column's values, counted in
//! one pass over the rows (storage classes, the range and magnitudes of the
//! numbers, which texts are ISO dates, numbers, JSON, UUIDs or boolean
//! words, which hold a NUL or are not UTF-8, which blobs are 16 bytes or
//! UTF-8 text). The candidates (`candidates.rs`) are read off these counts.

use rusqlite::types::ValueRef;

use crate::mapping::{boolean, datetime, json, numeric, uuid};

/// What one column holds.
#[derive(Debug, Clone, Default)]
pub struct Shapes {
    pub null: u64,
    pub integer: u64,
    pub real: u64,
    pub text: u64,
    pub blob: u64,
    pub int_min: Option<i64>,
    pub int_max: Option<i64>,
    pub ints_01: bool,
    pub real_min: Option<f64>,
    pub real_max: Option<f64>,
    pub real_nonfinite: u64,
    pub real_integral: u64,
    /// Absolute values of the nonzero numbers, by decimal magnitude
    /// (`floor(log10)`, clamped to 0..=19).
    pub magnitudes: [u64; 20],
    pub zeros: u64,
    pub text_iso: u64,
    pub text_iso_date_only: u64,
    pub text_iso_offset: u64,
    pub text_number: u64,
    pub text_json: u64,
    pub text_uuid: u64,
    pub text_bool: u64,
    pub text_nul: u64,
    pub text_bad_utf8: u64,
    pub max_chars: u64,
    pub blob_16: u64,
    pub blob_utf8: u64,
}

impl Shapes {
    pub(super) fn numbers(&self) -> u64 {
        self.integer + self.real
    }
    pub(super) fn values(&self) -> u64 {
        self.integer + self.real + self.text + self.blob
    }
    pub(super) fn classes(&self) -> String {
        let mut v = Vec::new();
        for (n, name) in [(self.integer, "integer"), (self.real, "real"), (self.text, "text"), (self.blob, "blob")] {
            if n > 0 {
                v.push(format!("{n} {name}"));
            }
        }
        v.join(", ")
    }

    pub(super) fn add(&mut self, v: ValueRef<'_>) {
        match v {
            ValueRef::Null => self.null += 1,
            ValueRef::Integer(i) => {
                if self.integer == 0 {
                    self.ints_01 = true;
                }
                self.integer += 1;
                self.ints_01 &= i == 0 || i == 1;
                self.int_min = Some(self.int_min.map_or(i, |m| m.min(i)));
                self.int_max = Some(self.int_max.map_or(i, |m| m.max(i)));
                self.magnitude(i.unsigned_abs() as f64);
            }
            ValueRef::Real(f) => {
                self.real += 1;
                if !f.is_finite() {
                    self.real_nonfinite += 1;
                    return;
                }
                if f.fract() == 0.0 {
                    self.real_integral += 1;
                }
                self.real_min = Some(self.real_min.map_or(f, |m| m.min(f)));
                self.real_max = Some(self.real_max.map_or(f, |m| m.max(f)));
                self.magnitude(f.abs());
            }
            ValueRef::Text(t) => {
                self.text += 1;
                let Ok(s) = std::str::from_utf8(t) else {
                    self.text_bad_utf8 += 1;
                    return;
                };
                if t.contains(&0) {
                    self.text_nul += 1;
                }
                self.max_chars = self.max_chars.max(s.chars().count() as u64);
                if let Ok(p) = datetime::parse_iso(t) {
                    self.text_iso += 1;
                    self.text_iso_date_only += u64::from(p.date_only);
                    self.text_iso_offset += u64::from(p.offset_secs.is_some());
                }
                let mut out = String::new();
                if numeric::normalize(t, None, None, &mut out).is_ok() {
                    self.text_number += 1;
                }
                let trimmed = s.trim_start();
                if (trimmed.starts_with('{') || trimmed.starts_with('[')) && json::validate_jsonb(t).is_ok() {
                    self.text_json += 1;
                }
                if matches!(t.len(), 32 | 36) && uuid::parse_text(t).is_ok() {
                    self.text_uuid += 1;
                }
                if boolean::BoolSpellings::default().parse_text(t).is_ok() {
                    self.text_bool += 1;
                }
            }
            ValueRef::Blob(b) => {
                self.blob += 1;
                if b.len() == 16 {
                    self.blob_16 += 1;
                }
                if std::str::from_utf8(b).is_ok() && !b.contains(&0) {
                    self.blob_utf8 += 1;
                }
            }
        }
    }

    fn magnitude(&mut self, a: f64) {
        if a == 0.0 {
            self.zeros += 1;
        } else if a >= 1.0 {
            self.magnitudes[(a.log10().floor() as usize).min(19)] += 1;
        } else {
            self.magnitudes[0] += 1;
        }
    }

    /// The range of the numbers, for comments: `1.6e12–1.7e12`.
    pub(super) fn number_range(&self) -> String {
        let lo = [self.int_min.map(|v| v as f64), self.real_min].into_iter().flatten().fold(f64::INFINITY, f64::min);
        let hi = [self.int_max.map(|v| v as f64), self.real_max].into_iter().flatten().fold(f64::NEG_INFINITY, f64::max);
        if lo > hi {
            return "none".into();
        }
        if lo == hi {
            return short(lo);
        }
        if short(lo) == short(hi) {
            return format!("{lo}–{hi}");
        }
        format!("{}–{}", short(lo), short(hi))
    }
}

fn short(v: f64) -> String {
    if v.abs() < 1e6 && v.fract() == 0.0 {
        format!("{v:.0}")
    } else if v.abs() < 1e6 {
        format!("{v}")
    } else {
        format!("{v:.2e}")
    }
}
