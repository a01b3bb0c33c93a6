//! PostgreSQL column types ferry can write, parse and name.
//!
//! One enum for every type ferry converts into, so that the encoder, the DDL
//! writer and the verifier all dispatch on the same closed set; a type name
//! from a mapping file or from the target catalog is parsed into it once.

use std::fmt;

use serde::Serialize;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum PgType {
    Boolean,
    SmallInt,
    Integer,
    BigInt,
    Real,
    Double,
    Numeric { precision: Option<u32>, scale: Option<u32> },
    Text,
    Varchar(Option<u32>),
    Bytea,
    Timestamp,
    Timestamptz,
    Date,
    Time,
    Json,
    Jsonb,
    Uuid,
    /// `interval` without a field restriction or precision: months, days
    /// and microseconds, as PostgreSQL keeps them.
    Interval,
    Inet,
    Cidr,
    /// `character(n)` (`bpchar`): PostgreSQL pads to `n` with blanks;
    /// `None` is `bpchar` without a length, which pads nothing.
    Char(Option<u32>),
    /// PostgreSQL's one-byte internal `"char"`, which clients such as sqlx
    /// use for an 8-bit integer: integers −128…127, one byte on the wire.
    Byte,
    /// `text[]`, filled from JSON arrays of strings when a mapping rule
    /// says `input = "json-array"`.
    TextArray,
    /// A PostgreSQL enum type of an existing schema: its (qualified,
    /// quoted) name and its labels in order.
    Enum { name: String, labels: Vec<String> },
}

impl PgType {
    /// Parse a type name as written in a mapping file or printed by
    /// `format_type()` in the catalog. Case-insensitive; common aliases.
    pub fn parse(input: &str) -> Result<PgType, String> {
        let s = input.trim().to_ascii_lowercase();
        let (base, params) = match s.find('(') {
            Some(open) => {
                let close = s
                    .rfind(')')
                    .filter(|&c| c > open)
                    .ok_or_else(|| format!("unbalanced parenthesis in type {input:?}"))?;
                let inner = &s[open + 1..close];
                let mut params = Vec::new();
                for p in inner.split(',') {
                    params.push(
                        p.trim().parse::<u32>().map_err(|_| format!("bad type parameter {p:?} in {input:?}"))?,
                    );
                }
                let rest = s[close + 1..].trim();
                let base = format!("{} {}", s[..open].trim(), rest);
                (base.trim().to_string(), params)
            }
            None => (s.clone(), Vec::new()),
        };
        let no_params = |t: PgType| {
            if params.is_empty() { Ok(t) } else { Err(format!("type {input:?} takes no parameters")) }
        };
        let fractional = |t: PgType| match params.as_slice() {
            [] => Ok(t),
            [p] if *p <= 6 => Ok(t),
            _ => Err(format!("bad fractional-seconds precision in {input:?} (0 to 6)")),
        };
        match base.as_str() {
            "boolean" | "bool" => no_params(PgType::Boolean),
            "smallint" | "int2" => no_params(PgType::SmallInt),
            "integer" | "int" | "int4" => no_params(PgType::Integer),
            "bigint" | "int8" => no_params(PgType::BigInt),
            "real" | "float4" => no_params(PgType::Real),
            "double precision" | "float8" | "double" => no_params(PgType::Double),
            "numeric" | "decimal" => match params.as_slice() {
                [] => Ok(PgType::Numeric { precision: None, scale: None }),
                [p] => Ok(PgType::Numeric { precision: Some(*p), scale: Some(0) }),
                [p, s] if s <= p && *p >= 1 && *p <= 1000 => {
                    Ok(PgType::Numeric { precision: Some(*p), scale: Some(*s) })
                }
                _ => Err(format!("bad numeric parameters in {input:?}")),
            },
            "text" => no_params(PgType::Text),
            "varchar" | "character varying" => match params.as_slice() {
                [] => Ok(PgType::Varchar(None)),
                [n] if *n >= 1 => Ok(PgType::Varchar(Some(*n))),
                _ => Err(format!("bad varchar length in {input:?}")),
            },
            "bytea" => no_params(PgType::Bytea),
            // A fractional-seconds precision (Rails' `datetime(6)`) takes
            // the same values; the converter refuses one finer than `p`
            // digits (`fraction_digits`, set by the existing-schema
            // fit), which PostgreSQL would round.
            "timestamp" | "timestamp without time zone" => fractional(PgType::Timestamp),
            "timestamptz" | "timestamp with time zone" => fractional(PgType::Timestamptz),
            "date" => no_params(PgType::Date),
            "time" | "time without time zone" => fractional(PgType::Time),
            "json" => no_params(PgType::Json),
            "jsonb" => no_params(PgType::Jsonb),
            "uuid" => no_params(PgType::Uuid),
            // `interval(p)` and field restrictions (`interval day to
            // second`) would round or cut values on input: not written.
            "interval" => no_params(PgType::Interval),
            "inet" => no_params(PgType::Inet),
            "\"char\"" => no_params(PgType::Byte),
            "cidr" => no_params(PgType::Cidr),
            "character" | "char" => match params.as_slice() {
                [] => Ok(PgType::Char(Some(1))),
                [n] if *n >= 1 => Ok(PgType::Char(Some(*n))),
                _ => Err(format!("bad character length in {input:?}")),
            },
            "bpchar" => match params.as_slice() {
                [] => Ok(PgType::Char(None)),
                [n] if *n >= 1 => Ok(PgType::Char(Some(*n))),
                _ => Err(format!("bad character length in {input:?}")),
            },
            "text[]" | "_text" => no_params(PgType::TextArray),
            _ => Err(format!("unsupported PostgreSQL type {input:?}")),
        }
    }

    /// The type as written in DDL.
    pub fn sql(&self) -> String {
        match self {
            PgType::Boolean => "boolean".into(),
            PgType::SmallInt => "smallint".into(),
            PgType::Integer => "integer".into(),
            PgType::BigInt => "bigint".into(),
            PgType::Real => "real".into(),
            PgType::Double => "double precision".into(),
            PgType::Numeric { precision: Some(p), scale: Some(s) } => format!("numeric({p},{s})"),
            PgType::Numeric { precision: Some(p), scale: None } => format!("numeric({p})"),
            PgType::Numeric { .. } => "numeric".into(),
            PgType::Text => "text".into(),
            PgType::Varchar(Some(n)) => format!("varchar({n})"),
            PgType::Varchar(None) => "varchar".into(),
            PgType::Bytea => "bytea".into(),
            PgType::Timestamp => "timestamp".into(),
            PgType::Timestamptz => "timestamptz".into(),
            PgType::Date => "date".into(),
            PgType::Time => "time".into(),
            PgType::Json => "json".into(),
            PgType::Jsonb => "jsonb".into(),
            PgType::Uuid => "uuid".into(),
            PgType::Interval => "interval".into(),
            PgType::Inet => "inet".into(),
            PgType::Cidr => "cidr".into(),
            PgType::Char(Some(n)) => format!("character({n})"),
            PgType::Char(None) => "bpchar".into(),
            PgType::Byte => "\"char\"".into(),
            PgType::Enum { name, .. } => name.clone(),
            PgType::TextArray => "text[]".into(),
        }
    }

    /// The PostgreSQL type used for the binary COPY wire format.
    pub fn wire_type(&self) -> postgres_types::Type {
        use postgres_types::Type;
        match self {
            PgType::Boolean => Type::BOOL,
            PgType::SmallInt => Type::INT2,
            PgType::Integer => Type::INT4,
            PgType::BigInt => Type::INT8,
            PgType::Real => Type::FLOAT4,
            PgType::Double => Type::FLOAT8,
            PgType::Numeric { .. } => Type::NUMERIC,
            PgType::Text => Type::TEXT,
            PgType::Varchar(_) => Type::VARCHAR,
            PgType::Bytea => Type::BYTEA,
            PgType::Timestamp => Type::TIMESTAMP,
            PgType::Timestamptz => Type::TIMESTAMPTZ,
            PgType::Date => Type::DATE,
            PgType::Time => Type::TIME,
            PgType::Json => Type::JSON,
            PgType::Jsonb => Type::JSONB,
            PgType::Uuid => Type::UUID,
            PgType::Interval => Type::INTERVAL,
            PgType::Inet => Type::INET,
            PgType::Cidr => Type::CIDR,
            PgType::Char(_) => Type::BPCHAR,
            PgType::Byte => Type::CHAR,
            // Binary COPY sends an enum as its label's text.
            PgType::Enum { .. } => Type::TEXT,
            PgType::TextArray => Type::TEXT_ARRAY,
        }
    }

    pub fn is_integer(&self) -> bool {
        matches!(self, PgType::SmallInt | PgType::Integer | PgType::BigInt)
    }
}

/// The fractional-seconds precision of `timestamp(p)`, `timestamptz(p)`,
/// `time(p)` as `format_type` prints them, when it is below 6 (the
/// server rounds finer fractions of such a column on input); None for
/// every other type name.
pub fn fraction_digits(type_name: &str) -> Option<u32> {
    let s = type_name.trim().to_ascii_lowercase();
    if !(s.starts_with("timestamp") || s.starts_with("time")) {
        return None;
    }
    let open = s.find('(')?;
    let close = s[open..].find(')')? + open;
    s[open + 1..close].trim().parse::<u32>().ok().filter(|&p| p < 6)
}

impl fmt::Display for PgType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.sql())
    }
}

impl Serialize for PgType {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.sql())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_catalog_and_alias_names() {
        let cases = [
            ("bigint", PgType::BigInt),
            ("INT8", PgType::BigInt),
            ("double precision", PgType::Double),
            ("numeric(10,2)", PgType::Numeric { precision: Some(10), scale: Some(2) }),
            ("numeric( 20 , 6 )", PgType::Numeric { precision: Some(20), scale: Some(6) }),
            ("numeric", PgType::Numeric { precision: None, scale: None }),
            ("character varying(255)", PgType::Varchar(Some(255))),
            ("timestamp without time zone", PgType::Timestamp),
            ("timestamp with time zone", PgType::Timestamptz),
            ("timestamp(6) without time zone", PgType::Timestamp),
            ("timestamp(0) with time zone", PgType::Timestamptz),
            ("time(3) without time zone", PgType::Time),
            ("jsonb", PgType::Jsonb),
            ("interval", PgType::Interval),
            ("inet", PgType::Inet),
            ("cidr", PgType::Cidr),
            ("character(10)", PgType::Char(Some(10))),
            ("char(3)", PgType::Char(Some(3))),
            ("character", PgType::Char(Some(1))),
            ("bpchar", PgType::Char(None)),
            ("\"char\"", PgType::Byte),
        ];
        for (input, want) in cases {
            assert_eq!(PgType::parse(input).unwrap(), want, "{input}");
            assert_eq!(PgType::parse(&want.sql()).unwrap(), want);
        }
        assert!(PgType::parse("geometry").is_err());
        assert!(PgType::parse("numeric(2,5)").is_err());
        assert!(PgType::parse("bigint(3)").is_err());
        assert!(PgType::parse("interval(3)").is_err());
        assert_eq!(PgType::parse("timestamp(6) without time zone").unwrap(), PgType::Timestamp);
        assert_eq!(PgType::parse("timestamp(3) with time zone").unwrap(), PgType::Timestamptz);
        assert_eq!(PgType::parse("time(0) without time zone").unwrap(), PgType::Time);
        assert!(PgType::parse("timestamp(7)").is_err());
        assert_eq!(fraction_digits("timestamp(3) with time zone"), Some(3));
        assert_eq!(fraction_digits("time(0) without time zone"), Some(0));
        assert_eq!(fraction_digits("timestamp(6) without time zone"), None);
        assert_eq!(fraction_digits("timestamp without time zone"), None);
        assert_eq!(fraction_digits("numeric(3,1)"), None);
        assert!(PgType::parse("interval day to second").is_err());
    }
}
