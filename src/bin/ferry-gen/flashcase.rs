//! The FlashCase database at any scale: the six tables exactly as SQLModel
//! declares them on SQLite (the DDL text of `fixtures/flashcase.py`), filled
//! with deterministic, seeded data stored the way SQLAlchemy stores it.
//!
//! Shared by the `ferry-gen` binary and the benches (`#[path]`-included), so
//! that what the micro-benchmarks read is what the end-to-end run migrates.
//!
//! At scale 1: 10,000 users, 5,000 decks, 500,000 cards with 100–300
//! character fronts and backs, one metadata row per deck, 1,000,000 study-log
//! rows and 100,000 user-deck pairs: about 1.6 M rows, 400 MB. Every count is
//! proportional to the scale (at least one row each). The generator has its
//! own PRNG (SplitMix64) so the file's content depends only on the seed and
//! the scale, never on a crate's version.
//!
//! The same deliberate oddities as the fixture, at the same rates, so the
//! converters' slow paths are exercised in proportion: ISO 8601 `reviewed_at`
//! text (`T`, `Z`, `+02:00`) for study-log ids divisible by 250, datetimes
//! without a fraction (`CURRENT_TIMESTAMP` form) for user ids divisible by 10
//! and card ids divisible by 100, NULL and empty deck descriptions, card ids
//! with gaps, non-ASCII text, NULL ratings for decks without reviews.

use std::fmt::Write as _;

use rusqlite::{params, Connection};

/// SQLAlchemy's SQLite dialect's DDL for the SQLModel models, verbatim (a tab
/// before each element, `", \n"` between them); see `fixtures/flashcase.py`.
pub const TABLES: [&str; 6] = [
    "CREATE TABLE user (\n\tid INTEGER NOT NULL, \n\temail VARCHAR NOT NULL, \n\tusername VARCHAR NOT NULL, \n\thashed_password VARCHAR NOT NULL, \n\tis_active BOOLEAN NOT NULL, \n\tcreated_at DATETIME NOT NULL, \n\tupdated_at DATETIME NOT NULL, \n\tPRIMARY KEY (id)\n)",
    "CREATE TABLE deck (\n\tid INTEGER NOT NULL, \n\tname VARCHAR NOT NULL, \n\tdescription VARCHAR, \n\tis_public BOOLEAN NOT NULL, \n\tcreated_at DATETIME NOT NULL, \n\tupdated_at DATETIME NOT NULL, \n\tPRIMARY KEY (id)\n)",
    "CREATE TABLE card (\n\tid INTEGER NOT NULL, \n\tdeck_id INTEGER NOT NULL, \n\tfront VARCHAR NOT NULL, \n\tback VARCHAR NOT NULL, \n\tcreated_at DATETIME NOT NULL, \n\tupdated_at DATETIME NOT NULL, \n\tPRIMARY KEY (id), \n\tFOREIGN KEY(deck_id) REFERENCES deck (id)\n)",
    "CREATE TABLE deckmetadata (\n\tid INTEGER NOT NULL, \n\tdeck_id INTEGER NOT NULL, \n\tcard_count INTEGER NOT NULL, \n\ttotal_reviews INTEGER NOT NULL, \n\taverage_rating FLOAT, \n\tlast_studied DATETIME, \n\tcreated_at DATETIME NOT NULL, \n\tupdated_at DATETIME NOT NULL, \n\tPRIMARY KEY (id), \n\tUNIQUE (deck_id), \n\tFOREIGN KEY(deck_id) REFERENCES deck (id)\n)",
    "CREATE TABLE studylog (\n\tid INTEGER NOT NULL, \n\tuser_id INTEGER NOT NULL, \n\tcard_id INTEGER NOT NULL, \n\treviewed_at DATETIME NOT NULL, \n\tease_factor FLOAT NOT NULL, \n\tinterval INTEGER NOT NULL, \n\tnext_review DATETIME NOT NULL, \n\tcreated_at DATETIME NOT NULL, \n\tPRIMARY KEY (id), \n\tFOREIGN KEY(user_id) REFERENCES user (id), \n\tFOREIGN KEY(card_id) REFERENCES card (id)\n)",
    "CREATE TABLE userdeck (\n\tid INTEGER NOT NULL, \n\tuser_id INTEGER NOT NULL, \n\tdeck_id INTEGER NOT NULL, \n\tis_owner BOOLEAN NOT NULL, \n\tis_favorite BOOLEAN NOT NULL, \n\tadded_at DATETIME NOT NULL, \n\tPRIMARY KEY (id), \n\tFOREIGN KEY(user_id) REFERENCES user (id), \n\tFOREIGN KEY(deck_id) REFERENCES deck (id)\n)",
];

/// The `ix_*` indexes `create_all` emits. Created after the data (faster);
/// the schema text SQLite keeps is the same either way.
pub const INDEXES: [&str; 7] = [
    "CREATE UNIQUE INDEX ix_user_email ON user (email)",
    "CREATE UNIQUE INDEX ix_user_username ON user (username)",
    "CREATE INDEX ix_deck_name ON deck (name)",
    "CREATE INDEX ix_card_deck_id ON card (deck_id)",
    "CREATE INDEX ix_studylog_user_id ON studylog (user_id)",
    "CREATE INDEX ix_studylog_card_id ON studylog (card_id)",
    "CREATE INDEX ix_userdeck_user_id ON userdeck (user_id)",
];
const LAST_INDEX: &str = "CREATE INDEX ix_userdeck_deck_id ON userdeck (deck_id)";

/// Row counts at a scale.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Counts {
    pub users: u64,
    pub decks: u64,
    pub cards: u64,
    pub studylog: u64,
    pub userdeck: u64,
}

impl Counts {
    pub fn at(scale: f64) -> Counts {
        let n = |base: f64| ((base * scale).round() as u64).max(1);
        let (users, decks) = (n(10_000.0), n(5_000.0));
        Counts {
            users,
            decks,
            cards: n(500_000.0),
            studylog: n(1_000_000.0),
            // Distinct (user, deck) pairs: never more than there are.
            userdeck: n(100_000.0).min(users * decks),
        }
    }

    /// Every row the database holds (deck metadata: one per deck).
    pub fn total(&self) -> u64 {
        self.users + 2 * self.decks + self.cards + self.studylog + self.userdeck
    }
}

/// SplitMix64: small, fast, and fixed forever, so a seed names one database.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed ^ 0x5851_f42d_4c95_7f2d)
    }
    #[inline]
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    /// Uniform in `0..n` (n > 0); the bias of the multiply-shift is < 2^-32 here.
    #[inline]
    pub fn below(&mut self, n: u64) -> u64 {
        ((self.next_u64() as u128 * n as u128) >> 64) as u64
    }
    #[inline]
    pub fn range(&mut self, lo: u64, hi_inclusive: u64) -> u64 {
        lo + self.below(hi_inclusive - lo + 1)
    }
    #[inline]
    pub fn chance(&mut self, one_in: u64) -> bool {
        self.below(one_in) == 0
    }
}

const SECOND: i64 = 1_000_000;
const DAY: i64 = 86_400 * SECOND;
/// 2023-01-01 00:00:00 as microseconds since 1970.
const START_2023: i64 = 1_672_531_200 * SECOND;

/// Days since 1970-01-01 → (year, month, day), proleptic Gregorian
/// (Howard Hinnant's `civil_from_days`).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

#[inline]
fn push2(out: &mut String, v: u32) {
    out.push((b'0' + (v / 10) as u8) as char);
    out.push((b'0' + (v % 10) as u8) as char);
}

/// How a datetime is written.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Form {
    /// SQLAlchemy: `YYYY-MM-DD HH:MM:SS.ffffff`, six digits always.
    Sqlalchemy,
    /// SQLite's `CURRENT_TIMESTAMP`: `YYYY-MM-DD HH:MM:SS`.
    NoFraction,
    /// ISO 8601 as a mobile client sent it: the fixture's six forms, by index.
    Iso(u8),
}

/// Writes `micros` (since 1970, UTC) in `form` into `out` (cleared first).
pub fn format_datetime(micros: i64, form: Form, out: &mut String) {
    out.clear();
    // The +02:00 forms show the same instant as wall time two hours later.
    let shifted = matches!(form, Form::Iso(4 | 5));
    let t = if shifted { micros + 2 * 3600 * SECOND } else { micros };
    let (days, in_day) = (t.div_euclid(DAY), t.rem_euclid(DAY));
    let (y, m, d) = civil_from_days(days);
    let secs = (in_day / SECOND) as u32;
    let frac = (in_day % SECOND) as u32;
    let _ = write!(out, "{y:04}-");
    push2(out, m);
    out.push('-');
    push2(out, d);
    out.push(if matches!(form, Form::Iso(_)) { 'T' } else { ' ' });
    push2(out, secs / 3600);
    out.push(':');
    push2(out, secs / 60 % 60);
    out.push(':');
    push2(out, secs % 60);
    let with_fraction = match form {
        Form::Sqlalchemy => true,
        Form::NoFraction => false,
        Form::Iso(k) => k % 2 == 1,
    };
    if with_fraction {
        let _ = write!(out, ".{frac:06}");
    }
    match form {
        Form::Iso(2 | 3) => out.push('Z'),
        Form::Iso(4 | 5) => out.push_str("+02:00"),
        _ => {}
    }
}

const WORDS: [&str; 40] = [
    "alpha", "beta", "gamma", "delta", "kanji", "verb", "noun", "capital", "river", "enzyme", "theorem",
    "sonnet", "photon", "tariff", "glacier", "mitosis", "sonata", "axiom", "what", "is", "the", "of", "a",
    "and", "which", "define", "explain", "why", "répétition", "espacée", "Straße", "naïve", "間隔反復",
    "単語", "한국어", "Łódź", "🧠", "(see p. 12)", "\"quoted\"", "it's",
];
const NAMES: [&str; 8] = ["zoë", "José", "李雷", "Ørjan", "o'neil", "ana-maría", "björk", "françois"];

/// A text of mixed-script words, cut from one long corpus at a random place:
/// cheap per row, varied, valid UTF-8.
pub struct TextSource {
    corpus: String,
}

impl TextSource {
    pub fn new(rng: &mut Rng) -> TextSource {
        let mut corpus = String::with_capacity(1 << 20);
        while corpus.len() < (1 << 20) {
            // Mostly ASCII words (the common case), some non-ASCII ones.
            let w = if rng.chance(4) { WORDS[rng.below(WORDS.len() as u64) as usize] } else { WORDS[rng.below(27) as usize] };
            corpus.push_str(w);
            corpus.push(if rng.chance(12) { '\n' } else { ' ' });
        }
        TextSource { corpus }
    }

    /// Between `lo` and `hi` characters.
    pub fn text<'a>(&'a self, rng: &mut Rng, lo: u64, hi: u64) -> &'a str {
        let chars = rng.range(lo, hi) as usize;
        let mut start = rng.below((self.corpus.len() - 4 * hi as usize) as u64) as usize;
        while !self.corpus.is_char_boundary(start) {
            start += 1;
        }
        let rest = &self.corpus[start..];
        let end = rest.char_indices().nth(chars).map_or(rest.len(), |(i, _)| i);
        &rest[..end]
    }
}

/// What a run wrote.
#[derive(Debug, Clone, Copy)]
pub struct Written {
    pub counts: Counts,
    pub rows: u64,
}

/// Creates the FlashCase tables in `conn` (an empty database) and fills them
/// at `scale` from `seed`, in one transaction. Set the pragmas for speed
/// (`journal_mode=OFF`, `synchronous=OFF`) before calling, if wanted.
pub fn generate(conn: &mut Connection, scale: f64, seed: u64) -> rusqlite::Result<Written> {
    let c = Counts::at(scale);
    let mut rng = Rng::new(seed);
    let texts = TextSource::new(&mut rng);
    let tx = conn.transaction()?;
    for ddl in TABLES {
        tx.execute_batch(ddl)?;
    }
    let mut g = Gen { c, rng, texts, a: String::new(), b: String::new(), e: String::new() };
    let mut d = Drawn {
        // Deck ids start at 1.
        deck_created: {
            let mut v = Vec::with_capacity(c.decks as usize + 1);
            v.push(0);
            v
        },
        card_ids: Vec::with_capacity(c.cards as usize),
        card_created: Vec::with_capacity(c.cards as usize),
        card_deck: Vec::with_capacity(c.cards as usize),
        deck_cards: vec![0i64; c.decks as usize + 1],
        deck_reviews: vec![0i64; c.decks as usize + 1],
        deck_last: vec![i64::MIN; c.decks as usize + 1],
    };
    // The tables in the order the random stream was always drawn in.
    users(&tx, &mut g)?;
    decks(&tx, &mut g, &mut d)?;
    cards(&tx, &mut g, &mut d)?;
    studylog(&tx, &mut g, &mut d)?;
    deckmetadata(&tx, &mut g, &d)?;
    userdeck(&tx, &mut g, &d)?;
    for ddl in INDEXES.iter().chain([&LAST_INDEX]) {
        tx.execute_batch(ddl)?;
    }
    tx.commit()?;
    Ok(Written { counts: c, rows: c.total() })
}

/// What every table's rows are drawn with: the counts, the one random
/// stream, the text source and three reused buffers for formatted values.
struct Gen {
    c: Counts,
    rng: Rng,
    texts: TextSource,
    a: String,
    b: String,
    e: String,
}

/// What later tables draw on from earlier ones.
struct Drawn {
    /// Per deck id (index 0 unused): when it was created.
    deck_created: Vec<i64>,
    /// Per card, in insertion order: its id (with gaps), creation, deck.
    card_ids: Vec<i64>,
    card_created: Vec<i64>,
    card_deck: Vec<u32>,
    /// Per deck id: cards, reviews and the last review.
    deck_cards: Vec<i64>,
    deck_reviews: Vec<i64>,
    deck_last: Vec<i64>,
}

fn users(tx: &Connection, g: &mut Gen) -> rusqlite::Result<()> {
    let mut st = tx.prepare("INSERT INTO user VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)")?;
    const PW: &[u8] = b"./ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut pw = String::with_capacity(60);
    for id in 1..=g.c.users as i64 {
        let created = START_2023 + g.rng.below(365 * DAY as u64) as i64;
        let updated = created + g.rng.below(90 * DAY as u64) as i64;
        format_datetime(created, Form::Sqlalchemy, &mut g.a);
        format_datetime(updated, if id % 10 == 0 { Form::NoFraction } else { Form::Sqlalchemy }, &mut g.b);
        g.e.clear();
        let _ = write!(g.e, "{}{id}@example.{}", if id % 9 == 0 { "User" } else { "user" }, if id % 2 == 1 { "org" } else { "com" });
        let username = if id % 8 == 0 { format!("{}_{id}", NAMES[(id / 8 % 8) as usize]) } else { format!("user{id}") };
        pw.clear();
        pw.push_str("$2b$12$");
        for _ in 0..53 {
            pw.push(PW[g.rng.below(PW.len() as u64) as usize] as char);
        }
        st.execute(params![id, g.e, username, pw, (id % 13 != 0) as i64, g.a, g.b])?;
    }
    Ok(())
}

fn decks(tx: &Connection, g: &mut Gen, d: &mut Drawn) -> rusqlite::Result<()> {
    let mut st = tx.prepare("INSERT INTO deck VALUES (?1, ?2, ?3, ?4, ?5, ?6)")?;
    for id in 1..=g.c.decks as i64 {
        let created = START_2023 + g.rng.below(300 * DAY as u64) as i64;
        d.deck_created.push(created);
        format_datetime(created, Form::Sqlalchemy, &mut g.a);
        format_datetime(created + g.rng.below(30 * DAY as u64) as i64, Form::Sqlalchemy, &mut g.b);
        let name = format!("Deck {id} {}", WORDS[g.rng.below(WORDS.len() as u64) as usize]);
        let description = if id % 7 == 0 {
            None
        } else if id % 5 == 0 {
            Some(String::new())
        } else {
            Some(format!("Deck {id}: {}", g.texts.text(&mut g.rng, 10, 80)))
        };
        st.execute(params![id, name, description, g.rng.below(2) as i64, g.a, g.b])?;
    }
    Ok(())
}

/// Card ids have gaps (about 2% deleted).
fn cards(tx: &Connection, g: &mut Gen, d: &mut Drawn) -> rusqlite::Result<()> {
    let mut st = tx.prepare("INSERT INTO card VALUES (?1, ?2, ?3, ?4, ?5, ?6)")?;
    let mut id = 0i64;
    for _ in 0..g.c.cards {
        id += if g.rng.chance(50) { 2 } else { 1 };
        let deck = g.rng.range(1, g.c.decks) as usize;
        let created = d.deck_created[deck] + g.rng.below(60 * DAY as u64) as i64;
        let updated = created + g.rng.below(30 * DAY as u64) as i64;
        format_datetime(created, Form::Sqlalchemy, &mut g.a);
        format_datetime(updated, if id % 100 == 0 { Form::NoFraction } else { Form::Sqlalchemy }, &mut g.b);
        let front = g.texts.text(&mut g.rng, 100, 300);
        let back = g.texts.text(&mut g.rng, 100, 300);
        st.execute(params![id, deck as i64, front, back, g.a, g.b])?;
        d.card_ids.push(id);
        d.card_created.push(created);
        d.card_deck.push(deck as u32);
        d.deck_cards[deck] += 1;
    }
    Ok(())
}

fn studylog(tx: &Connection, g: &mut Gen, d: &mut Drawn) -> rusqlite::Result<()> {
    let mut st = tx.prepare("INSERT INTO studylog VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)")?;
    const INTERVALS: [i64; 11] = [0, 1, 1, 3, 6, 14, 30, 45, 90, 180, 365];
    for id in 1..=g.c.studylog as i64 {
        let k = g.rng.below(g.c.cards) as usize;
        let reviewed = d.card_created[k] + g.rng.below(120 * DAY as u64) as i64;
        let form = if id % 250 == 0 { Form::Iso(((id / 250 - 1) % 6) as u8) } else { Form::Sqlalchemy };
        let ease = match id {
            1 => 0.1 + 0.2,
            2 => -0.0,
            3 => 1e-300,
            4 => 5e-324,
            5 => 1.0 / 3.0,
            _ => g.rng.range(130, 300) as f64 / 100.0,
        };
        let interval = INTERVALS[g.rng.below(11) as usize];
        format_datetime(reviewed, form, &mut g.a);
        format_datetime(reviewed + interval * DAY, Form::Sqlalchemy, &mut g.b);
        format_datetime(reviewed, Form::Sqlalchemy, &mut g.e);
        st.execute(params![id, g.rng.range(1, g.c.users) as i64, d.card_ids[k], g.a, ease, interval, g.b, g.e])?;
        let deck = d.card_deck[k] as usize;
        d.deck_reviews[deck] += 1;
        d.deck_last[deck] = d.deck_last[deck].max(reviewed);
    }
    Ok(())
}

/// One row per deck, ids shuffled against deck ids.
fn deckmetadata(tx: &Connection, g: &mut Gen, d: &Drawn) -> rusqlite::Result<()> {
    let mut st = tx.prepare("INSERT INTO deckmetadata VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)")?;
    let mut decks: Vec<usize> = (1..=g.c.decks as usize).collect();
    for i in (1..decks.len()).rev() {
        decks.swap(i, g.rng.below(i as u64 + 1) as usize);
    }
    for (i, &deck) in decks.iter().enumerate() {
        let reviews = d.deck_reviews[deck];
        let rating = (reviews > 0).then(|| g.rng.range(1000, 5000) as f64 / 1000.0);
        let last = (reviews > 0).then(|| {
            let mut s = String::new();
            format_datetime(d.deck_last[deck], Form::Sqlalchemy, &mut s);
            s
        });
        format_datetime(d.deck_created[deck], Form::Sqlalchemy, &mut g.a);
        format_datetime(d.deck_last[deck].max(d.deck_created[deck]), Form::Sqlalchemy, &mut g.b);
        st.execute(params![i as i64 + 1, deck as i64, d.deck_cards[deck], reviews, rating, last, g.a, g.b])?;
    }
    Ok(())
}

/// Distinct (user, deck) pairs: k -> (k * step + offset) mod (users *
/// decks) with step coprime to the modulus, so no pair repeats.
fn userdeck(tx: &Connection, g: &mut Gen, d: &Drawn) -> rusqlite::Result<()> {
    let mut st = tx.prepare("INSERT INTO userdeck VALUES (?1, ?2, ?3, ?4, ?5, ?6)")?;
    let space = g.c.users * g.c.decks;
    let mut step = (space as f64 * 0.618_033_988_7) as u64 | 1;
    while gcd(step, space) != 1 {
        step += 2;
    }
    let offset = g.rng.below(space);
    let mut owned = vec![false; g.c.decks as usize + 1];
    for i in 0..g.c.userdeck {
        let p = ((i as u128 * step as u128 + offset as u128) % space as u128) as u64;
        let (user, deck) = (p / g.c.decks + 1, (p % g.c.decks + 1) as usize);
        let is_owner = !std::mem::replace(&mut owned[deck], true);
        format_datetime(d.deck_created[deck] + g.rng.below(200 * DAY as u64) as i64, Form::Sqlalchemy, &mut g.a);
        st.execute(params![i as i64 + 1, user as i64, deck as i64, is_owner as i64, g.rng.below(2) as i64, g.a])?;
    }
    Ok(())
}

fn gcd(mut a: u64, mut b: u64) -> u64 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}
