//! The CREATE TABLE text, for the few facts no pragma reports: `DEFERRABLE
//! INITIALLY DEFERRED` on a foreign key, `AUTOINCREMENT`, `WITHOUT ROWID` /
//! `STRICT` when `pragma_table_list` is unavailable, and a virtual table's
//! module and FTS `content=` option.
//!
//! A minimal tokenizer and scanner, not a SQL parser: it never needs to
//! understand expressions, only to split the column list at top-level
//! commas and read keyword sequences, and whatever it cannot read is left at
//! its default. The `sqlparser` crate's SQLite dialect was weighed against
//! it on the corpus (ARCHITECTURE.md): it reads the same facts where it
//! parses, but refuses 25 of the 777 CREATE TABLE statements of real
//! databases that SQLite accepted (`UNIQUE (…) ON CONFLICT REPLACE`,
//! `NON NULL`, `text nocase`, fts4 `content="…"` arguments).

#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Tok {
    /// A bare word: keyword, unquoted identifier or number.
    Word(String),
    /// A quoted identifier (`"x"`, `` `x` ``, `[x]`), unquoted.
    Quoted(String),
    /// A string literal, unquoted.
    Str(String),
    Punct(char),
}

impl Tok {
    fn is_kw(&self, kw: &str) -> bool {
        matches!(self, Tok::Word(w) if w.eq_ignore_ascii_case(kw))
    }

    /// The identifier this token names, if it can name one.
    fn ident(&self) -> Option<&str> {
        match self {
            Tok::Word(s) | Tok::Quoted(s) | Tok::Str(s) => Some(s),
            Tok::Punct(_) => None,
        }
    }
}

pub(super) fn tokenize(sql: &str) -> Vec<Tok> {
    let mut out = Vec::new();
    let mut it = sql.char_indices().peekable();
    while let Some((i, c)) = it.next() {
        match c {
            c if c.is_whitespace() => {}
            '-' if sql[i..].starts_with("--") => {
                for (_, c) in it.by_ref() {
                    if c == '\n' {
                        break;
                    }
                }
            }
            '/' if sql[i..].starts_with("/*") => {
                it.next();
                let mut prev = ' ';
                for (_, c) in it.by_ref() {
                    if prev == '*' && c == '/' {
                        break;
                    }
                    prev = c;
                }
            }
            '\'' | '"' | '`' | '[' => {
                let close = if c == '[' { ']' } else { c };
                let mut s = String::new();
                while let Some((_, d)) = it.next() {
                    if d == close {
                        if close != ']' && it.peek().is_some_and(|&(_, e)| e == close) {
                            it.next();
                            s.push(d);
                            continue;
                        }
                        break;
                    }
                    s.push(d);
                }
                out.push(if c == '\'' {
                    Tok::Str(s)
                } else {
                    Tok::Quoted(s)
                });
            }
            c if c.is_alphanumeric() || c == '_' || c == '$' || !c.is_ascii() => {
                let mut s = String::from(c);
                while let Some(&(_, d)) = it.peek() {
                    if d.is_alphanumeric()
                        || d == '_'
                        || d == '$'
                        || (!d.is_ascii() && !d.is_whitespace())
                    {
                        s.push(d);
                        it.next();
                    } else {
                        break;
                    }
                }
                out.push(Tok::Word(s));
            }
            c => out.push(Tok::Punct(c)),
        }
    }
    out
}

pub(super) fn is_create_virtual(toks: &[Tok]) -> bool {
    toks.len() > 2 && toks[0].is_kw("CREATE") && toks[1].is_kw("VIRTUAL")
}

pub(super) fn virtual_module(toks: &[Tok]) -> Option<String> {
    let at = toks.iter().position(|t| t.is_kw("USING"))?;
    toks.get(at + 1)?.ident().map(str::to_string)
}

/// A FK clause as written in the CREATE TABLE text.
#[derive(Debug, Default, PartialEq, Eq)]
pub(super) struct ParsedFk {
    pub columns: Vec<String>,
    pub ref_table: String,
    pub ref_columns: Vec<String>,
    pub deferred: bool,
}

#[derive(Debug, Default)]
pub(super) struct ParsedTable {
    pub fks: Vec<ParsedFk>,
    pub autoincrement: bool,
    pub without_rowid: bool,
    pub strict: bool,
}

/// Scan a CREATE TABLE statement. Best effort: whatever cannot be read is
/// left at its default (no FK deferral, no AUTOINCREMENT).
pub(super) fn parse_create_table(toks: &[Tok]) -> ParsedTable {
    let mut out = ParsedTable::default();
    let Some(open) = toks.iter().position(|t| *t == Tok::Punct('(')) else {
        return out;
    };
    // Split the column list at depth-1 commas.
    let mut defs: Vec<&[Tok]> = Vec::new();
    let mut depth = 0usize;
    let mut start = open + 1;
    let mut close = toks.len();
    for (i, t) in toks.iter().enumerate().skip(open) {
        match t {
            Tok::Punct('(') => depth += 1,
            Tok::Punct(')') => {
                depth -= 1;
                if depth == 0 {
                    defs.push(&toks[start..i]);
                    close = i;
                    break;
                }
            }
            Tok::Punct(',') if depth == 1 => {
                defs.push(&toks[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    for t in toks.get(close + 1..).unwrap_or_default().windows(2) {
        if t[0].is_kw("WITHOUT") && t[1].is_kw("ROWID") {
            out.without_rowid = true;
        }
    }
    out.strict = toks
        .get(close + 1..)
        .unwrap_or_default()
        .iter()
        .any(|t| t.is_kw("STRICT"));
    out.autoincrement = toks[open..close].iter().any(|t| t.is_kw("AUTOINCREMENT"));

    for def in defs {
        let Some(first) = def.first() else { continue };
        let constraint = ["CONSTRAINT", "PRIMARY", "UNIQUE", "CHECK", "FOREIGN"]
            .iter()
            .any(|k| first.is_kw(k));
        if constraint {
            // [CONSTRAINT name] FOREIGN KEY (cols) REFERENCES ...
            let Some(fk) = def.iter().position(|t| t.is_kw("FOREIGN")) else {
                continue;
            };
            let (cols, next) = paren_names(def, fk + 2);
            if def.get(next).is_some_and(|t| t.is_kw("REFERENCES"))
                && let Some(p) = references(def, next + 1, cols)
            {
                out.fks.push(p);
            }
        } else {
            // column-name type... [REFERENCES parent (col) ...]
            let Some(col) = first.ident() else { continue };
            for (i, t) in def.iter().enumerate().skip(1) {
                if t.is_kw("REFERENCES")
                    && let Some(p) = references(def, i + 1, vec![col.to_string()])
                {
                    out.fks.push(p);
                }
            }
        }
    }
    out
}

/// `( name, name, ... )` starting at `at`; returns the names and the index
/// after the closing parenthesis (or `at` when there is no list).
fn paren_names(toks: &[Tok], at: usize) -> (Vec<String>, usize) {
    if toks.get(at) != Some(&Tok::Punct('(')) {
        return (Vec::new(), at);
    }
    let mut names = Vec::new();
    let mut depth = 0;
    for (i, t) in toks.iter().enumerate().skip(at) {
        match t {
            Tok::Punct('(') => depth += 1,
            Tok::Punct(')') => {
                depth -= 1;
                if depth == 0 {
                    return (names, i + 1);
                }
            }
            // The first word after `(` or `,` is the column; later words
            // (COLLATE x, ASC) are not.
            t if depth == 1 => {
                if let Some(n) = t.ident()
                    && matches!(toks[i - 1], Tok::Punct('(') | Tok::Punct(','))
                {
                    names.push(n.to_string());
                }
            }
            _ => {}
        }
    }
    (names, toks.len())
}

/// The rest of a FK clause after `REFERENCES`: parent, optional columns, and
/// the `ON ... / MATCH ... / [NOT] DEFERRABLE [INITIALLY ...]` tail.
fn references(toks: &[Tok], at: usize, columns: Vec<String>) -> Option<ParsedFk> {
    let mut i = at;
    let mut ref_table = toks.get(i)?.ident()?.to_string();
    i += 1;
    // schema-qualified parent (`main.t`): keep the table part.
    if toks.get(i) == Some(&Tok::Punct('.')) {
        ref_table = toks.get(i + 1)?.ident()?.to_string();
        i += 2;
    }
    let (ref_columns, mut i) = match paren_names(toks, i) {
        (cols, next) if next != i => (cols, next),
        _ => (Vec::new(), i),
    };
    let mut deferred = false;
    let kw = |i: usize, k: &str| toks.get(i).is_some_and(|t| t.is_kw(k));
    loop {
        if kw(i, "ON") {
            i += 3; // ON DELETE|UPDATE <action>
            if kw(i - 1, "SET") || kw(i - 1, "NO") {
                i += 1; // SET NULL, SET DEFAULT, NO ACTION
            }
        } else if kw(i, "MATCH") {
            i += 2;
        } else if kw(i, "NOT") && kw(i + 1, "DEFERRABLE") {
            i += 2;
            deferred = false;
            if kw(i, "INITIALLY") {
                i += 2;
            }
        } else if kw(i, "DEFERRABLE") {
            i += 1;
            deferred = false;
            if kw(i, "INITIALLY") {
                deferred = kw(i + 1, "DEFERRED");
                i += 2;
            }
        } else {
            break;
        }
    }
    Some(ParsedFk {
        columns,
        ref_table,
        ref_columns,
        deferred,
    })
}

/// The `content=` option of an FTS virtual table: `Some("")` contentless,
/// `Some(t)` external content table `t`, `None` ordinary (own content).
pub(super) fn fts_content_option(toks: &[Tok]) -> Option<String> {
    let using = toks.iter().position(|t| t.is_kw("USING"))?;
    toks[using..].windows(3).find_map(|w| {
        (w[0].is_kw("content") && w[1] == Tok::Punct('='))
            .then(|| w[2].ident().map(str::to_string))
            .flatten()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_fallbacks() {
        let toks = tokenize(
            "CREATE TABLE \"t\" (a INT, [b c] TEXT, PRIMARY KEY (a)) /* x */ WITHOUT ROWID , STRICT",
        );
        let p = parse_create_table(&toks);
        assert!(p.without_rowid && p.strict && !p.autoincrement);
        let p = parse_create_table(&tokenize(
            "CREATE TABLE t (a REFERENCES main.p (id) MATCH SIMPLE ON DELETE NO ACTION \
             NOT DEFERRABLE INITIALLY DEFERRED, b REFERENCES \"q\" -- c\n DEFERRABLE INITIALLY DEFERRED)",
        ));
        assert_eq!(
            p.fks,
            [
                ParsedFk {
                    columns: vec!["a".into()],
                    ref_table: "p".into(),
                    ref_columns: vec!["id".into()],
                    deferred: false
                },
                ParsedFk {
                    columns: vec!["b".into()],
                    ref_table: "q".into(),
                    ref_columns: vec![],
                    deferred: true
                },
            ]
        );
    }
}
