//! Tests of `mapping::resolve`: declared parameters, widening from a
//! profile, time zones and table globs.

use super::*;

#[test]
fn substitutes_declared_parameters() {
    assert_eq!(substitute("numeric($1,$2)", &[10, 2]), "numeric(10,2)");
    assert_eq!(substitute("numeric($1,$2)", &[10]), "numeric(10)");
    assert_eq!(substitute("numeric($1,$2)", &[]), "numeric");
    assert_eq!(substitute("varchar($1)", &[]), "varchar");
    assert_eq!(substitute("bigint", &[3]), "bigint");
}

#[test]
fn widening_classes_are_those_a_profile_would_widen_for() {
    let int = Converter::for_type(&PgType::BigInt);
    let bits = |cs: &[StorageClass]| cs.iter().fold(0, |b, c| b | c.bit());
    assert_eq!(
        widening_classes(&PgType::BigInt, &int, Affinity::Integer),
        bits(&[StorageClass::Real, StorageClass::Text, StorageClass::Blob])
    );
    let text = Converter::for_type(&PgType::Text);
    assert_eq!(widening_classes(&PgType::Text, &text, Affinity::Text), bits(&[StorageClass::Blob]));
    let ts = Converter::for_type(&PgType::Timestamp);
    assert_eq!(
        widening_classes(&PgType::Timestamp, &ts, Affinity::Numeric),
        bits(&[StorageClass::Integer, StorageClass::Real, StorageClass::Blob])
    );
    let bytea = Converter::for_type(&PgType::Bytea);
    assert_eq!(widening_classes(&PgType::Bytea, &bytea, Affinity::Blob), bits(&[StorageClass::Integer, StorageClass::Real]));
}

#[test]
fn profile_fit_widens_only_when_needed() {
    let prof = |integer, real, text, blob| StorageProfile { null: 0, integer, real, text, blob, ..Default::default() };
    assert!(fit_to_profile(&PgType::BigInt, Affinity::Integer, &prof(5, 0, 0, 0)).is_none());
    assert_eq!(fit_to_profile(&PgType::BigInt, Affinity::Integer, &prof(1, 1, 1, 0)).unwrap().0, PgType::Text);
    assert_eq!(fit_to_profile(&PgType::BigInt, Affinity::Integer, &prof(1, 1, 0, 0)).unwrap().0, PgType::Double);
    assert!(fit_to_profile(&PgType::Timestamp, Affinity::Numeric, &prof(0, 0, 9, 0)).is_none());
    assert_eq!(fit_to_profile(&PgType::Timestamp, Affinity::Numeric, &prof(2, 0, 1, 0)).unwrap().0, PgType::Text);
    assert_eq!(fit_to_profile(&PgType::Text, Affinity::Text, &prof(0, 0, 3, 1)).unwrap().0, PgType::Bytea);
    assert_eq!(fit_to_profile(&PgType::Bytea, Affinity::Blob, &prof(1, 1, 1, 0)).unwrap().0, PgType::Text);
    assert_eq!(fit_to_profile(&PgType::Bytea, Affinity::Blob, &prof(3, 0, 0, 0)).unwrap().0, PgType::BigInt, "only integers: bigint");
    assert_eq!(fit_to_profile(&PgType::Bytea, Affinity::Blob, &prof(3, 2, 0, 0)).unwrap().0, PgType::Double);
    assert!(fit_to_profile(&PgType::Boolean, Affinity::Numeric, &prof(2, 0, 0, 0)).is_none());
}

#[test]
fn zones_and_globs() {
    assert_eq!(Zone::parse("UTC").unwrap(), Zone::Utc);
    assert_eq!(Zone::parse("+02:00").unwrap(), Zone::Fixed(7200));
    assert_eq!(Zone::parse("-05:30").unwrap(), Zone::Fixed(-19800));
    assert_eq!(Zone::parse("-0530").unwrap(), Zone::Fixed(-19800));
    assert!(matches!(Zone::parse("Europe/Paris").unwrap(), Zone::Named(_)));
    assert!(Zone::parse("Mars/Base").is_err());
    assert!(Zone::parse("+16:00").is_err());
    assert!(glob_match("auth_*", "auth_user"));
    assert!(!glob_match("auth_*", "user"));
    assert!(glob_match("t?", "t1"));
    assert!(glob_match("AUTH_*", "auth_User"), "ASCII case is ignored, as SQLite does");
    assert!(!glob_match("É", "é"), "SQLite folds only ASCII");
}
