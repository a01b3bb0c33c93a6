//! Proves the harness itself: the shared server starts (or is found), hands
//! out working databases, and keeps them apart. If this fails, every other
//! integration test fails for the same reason; read this failure first.

use crate::util::pg;

#[test]
fn server_hands_out_independent_databases() {
    let server = pg::server();
    let a = server.fresh_db("smoke_a");
    let b = server.fresh_db("smoke_b");
    assert_ne!(a.url, b.url);

    let version = a.query_strings("SELECT version()");
    let version = version[0][0].as_deref().unwrap_or_default();
    assert!(
        version.starts_with("PostgreSQL "),
        "unexpected version(): {version:?}"
    );
    assert_eq!(
        a.query_strings("SHOW server_encoding"),
        vec![vec![Some("UTF8".to_owned())]]
    );

    a.client()
        .batch_execute("CREATE TABLE only_in_a (x int); INSERT INTO only_in_a VALUES (1), (NULL)")
        .unwrap_or_else(|e| panic!("creating a table in a: {}", pg::describe(&e)));
    let tables = "SELECT count(*) FROM pg_tables WHERE tablename = 'only_in_a'";
    assert_eq!(a.query_scalar_i64(tables), 1);
    assert_eq!(b.query_scalar_i64(tables), 0, "b sees a's table");
    assert_eq!(
        a.query_strings("SELECT x FROM only_in_a ORDER BY x"),
        vec![vec![Some("1".to_owned())], vec![None]]
    );

    // Asking again for the same name starts from an empty database.
    let a_again = server.fresh_db("smoke_a");
    assert_eq!(a_again.name, a.name);
    assert_eq!(
        a_again.query_scalar_i64(tables),
        0,
        "fresh_db kept old tables"
    );
}
