//! Protects the FlashCase app fixture (`fixtures/alembic_app`): its Alembic
//! revision, run with the pinned Alembic/SQLModel/SQLAlchemy, must create
//! exactly the PostgreSQL schema that `ferry migrate --schema existing` is
//! tested against, its models must declare exactly the SQLite fixture's
//! tables, and `check_data.py` must not pass on a database it has no data in.
//!
//! If these fail after a change to `requirements.txt` or the models, the
//! schema the existing-mode tests load into has changed under them.

use crate::util::{pg, python};

/// One row of a query's text output, columns joined with `|`, NULL as `∅`.
fn rows(db: &pg::TestDb, sql: &str) -> Vec<String> {
    db.query_strings(sql)
        .into_iter()
        .map(|row| {
            row.into_iter()
                .map(|v| v.unwrap_or_else(|| "∅".to_owned()))
                .collect::<Vec<_>>()
                .join("|")
        })
        .collect()
}

fn assert_rows(db: &pg::TestDb, what: &str, sql: &str, expected: &[&str]) {
    let got = rows(db, sql);
    if got != expected {
        panic!(
            "{what} differ from what the Alembic revision should create\n\
             ---- expected ----\n{}\n---- got ----\n{}\n------------------\n  {sql}",
            expected.join("\n"),
            got.join("\n")
        );
    }
}

const COLUMNS: &[&str] = &[
    "alembic_version|version_num|character varying|NO|∅",
    "card|id|integer|NO|nextval('card_id_seq'::regclass)",
    "card|deck_id|integer|NO|∅",
    "card|front|character varying|NO|∅",
    "card|back|character varying|NO|∅",
    "card|created_at|timestamp without time zone|NO|∅",
    "card|updated_at|timestamp without time zone|NO|∅",
    "deck|id|integer|NO|nextval('deck_id_seq'::regclass)",
    "deck|name|character varying|NO|∅",
    "deck|description|character varying|YES|∅",
    "deck|is_public|boolean|NO|∅",
    "deck|created_at|timestamp without time zone|NO|∅",
    "deck|updated_at|timestamp without time zone|NO|∅",
    "deckmetadata|id|integer|NO|nextval('deckmetadata_id_seq'::regclass)",
    "deckmetadata|deck_id|integer|NO|∅",
    "deckmetadata|card_count|integer|NO|∅",
    "deckmetadata|total_reviews|integer|NO|∅",
    "deckmetadata|average_rating|double precision|YES|∅",
    "deckmetadata|last_studied|timestamp without time zone|YES|∅",
    "deckmetadata|created_at|timestamp without time zone|NO|∅",
    "deckmetadata|updated_at|timestamp without time zone|NO|∅",
    "studylog|id|integer|NO|nextval('studylog_id_seq'::regclass)",
    "studylog|user_id|integer|NO|∅",
    "studylog|card_id|integer|NO|∅",
    "studylog|reviewed_at|timestamp without time zone|NO|∅",
    "studylog|ease_factor|double precision|NO|∅",
    "studylog|interval|integer|NO|∅",
    "studylog|next_review|timestamp without time zone|NO|∅",
    "studylog|created_at|timestamp without time zone|NO|∅",
    "user|id|integer|NO|nextval('user_id_seq'::regclass)",
    "user|email|character varying|NO|∅",
    "user|username|character varying|NO|∅",
    "user|hashed_password|character varying|NO|∅",
    "user|is_active|boolean|NO|∅",
    "user|created_at|timestamp without time zone|NO|∅",
    "user|updated_at|timestamp without time zone|NO|∅",
    "userdeck|id|integer|NO|nextval('userdeck_id_seq'::regclass)",
    "userdeck|user_id|integer|NO|∅",
    "userdeck|deck_id|integer|NO|∅",
    "userdeck|is_owner|boolean|NO|∅",
    "userdeck|is_favorite|boolean|NO|∅",
    "userdeck|added_at|timestamp without time zone|NO|∅",
];

const CONSTRAINTS: &[&str] = &[
    "alembic_version|alembic_version_pkc|p|PRIMARY KEY (version_num)",
    "card|card_deck_id_fkey|f|FOREIGN KEY (deck_id) REFERENCES deck(id)",
    "card|card_pkey|p|PRIMARY KEY (id)",
    "deck|deck_pkey|p|PRIMARY KEY (id)",
    "deckmetadata|deckmetadata_deck_id_fkey|f|FOREIGN KEY (deck_id) REFERENCES deck(id)",
    "deckmetadata|deckmetadata_deck_id_key|u|UNIQUE (deck_id)",
    "deckmetadata|deckmetadata_pkey|p|PRIMARY KEY (id)",
    "studylog|studylog_card_id_fkey|f|FOREIGN KEY (card_id) REFERENCES card(id)",
    "studylog|studylog_pkey|p|PRIMARY KEY (id)",
    "studylog|studylog_user_id_fkey|f|FOREIGN KEY (user_id) REFERENCES \"user\"(id)",
    "user|user_pkey|p|PRIMARY KEY (id)",
    "userdeck|userdeck_deck_id_fkey|f|FOREIGN KEY (deck_id) REFERENCES deck(id)",
    "userdeck|userdeck_pkey|p|PRIMARY KEY (id)",
    "userdeck|userdeck_user_id_fkey|f|FOREIGN KEY (user_id) REFERENCES \"user\"(id)",
];

/// Indexes other than those behind the constraints above.
const INDEXES: &[&str] = &[
    "card|ix_card_deck_id|CREATE INDEX ix_card_deck_id ON public.card USING btree (deck_id)",
    "deck|ix_deck_name|CREATE INDEX ix_deck_name ON public.deck USING btree (name)",
    "studylog|ix_studylog_card_id|CREATE INDEX ix_studylog_card_id ON public.studylog USING btree (card_id)",
    "studylog|ix_studylog_user_id|CREATE INDEX ix_studylog_user_id ON public.studylog USING btree (user_id)",
    "user|ix_user_email|CREATE UNIQUE INDEX ix_user_email ON public.\"user\" USING btree (email)",
    "user|ix_user_username|CREATE UNIQUE INDEX ix_user_username ON public.\"user\" USING btree (username)",
    "userdeck|ix_userdeck_deck_id|CREATE INDEX ix_userdeck_deck_id ON public.userdeck USING btree (deck_id)",
    "userdeck|ix_userdeck_user_id|CREATE INDEX ix_userdeck_user_id ON public.userdeck USING btree (user_id)",
];

/// Each table's id sequence: SERIAL's, owned by the column (so
/// `pg_get_serial_sequence` finds it), `integer`, never used yet.
const SEQUENCES: &[&str] = &[
    "card|public.card_id_seq|integer|1|f",
    "deck|public.deck_id_seq|integer|1|f",
    "deckmetadata|public.deckmetadata_id_seq|integer|1|f",
    "studylog|public.studylog_id_seq|integer|1|f",
    "user|public.user_id_seq|integer|1|f",
    "userdeck|public.userdeck_id_seq|integer|1|f",
];

/// The one revision in `fixtures/alembic_app/alembic/versions/`.
const HEAD: &str = "0a790b5a174f";

#[test]
fn alembic_head_creates_the_flashcase_schema() {
    let db = pg::server().fresh_db("alembic_smoke::schema");
    python::alembic_upgrade_head(&db.url);

    assert_rows(
        &db,
        "columns",
        "SELECT table_name, column_name, data_type, is_nullable, column_default \
         FROM information_schema.columns WHERE table_schema = 'public' \
         ORDER BY table_name, ordinal_position",
        COLUMNS,
    );
    assert_rows(
        &db,
        "identity columns",
        "SELECT table_name, column_name FROM information_schema.columns \
         WHERE table_schema = 'public' AND is_identity = 'YES'",
        &[],
    );
    assert_rows(
        &db,
        "constraints",
        "SELECT t.relname, c.conname, c.contype, pg_get_constraintdef(c.oid) \
         FROM pg_constraint c JOIN pg_class t ON t.oid = c.conrelid \
         WHERE c.connamespace = 'public'::regnamespace \
         ORDER BY t.relname, c.conname",
        CONSTRAINTS,
    );
    assert_rows(
        &db,
        "indexes",
        "SELECT tablename, indexname, indexdef FROM pg_indexes i WHERE schemaname = 'public' \
         AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = \
                         format('%I.%I', i.schemaname, i.indexname)::regclass) \
         ORDER BY tablename, indexname",
        INDEXES,
    );
    assert_rows(
        &db,
        "id sequences",
        // MATERIALIZED: pg_get_serial_sequence must not see alembic_version,
        // which has no id column.
        "WITH ids AS MATERIALIZED ( \
           SELECT t.relname, pg_get_serial_sequence(format('%I', t.relname), 'id') AS seq \
           FROM pg_class t JOIN pg_attribute a ON a.attrelid = t.oid AND a.attname = 'id' \
           WHERE t.relnamespace = 'public'::regnamespace AND t.relkind = 'r') \
         SELECT ids.relname, ids.seq, s.data_type::text, s.start_value, \
                s.last_value IS NOT NULL \
         FROM ids LEFT JOIN pg_sequences s \
           ON format('%I.%I', s.schemaname, s.sequencename) = ids.seq \
         ORDER BY ids.relname",
        SEQUENCES,
    );
    assert_eq!(
        rows(&db, "SELECT count(*) FROM pg_sequences"),
        vec!["6".to_owned()],
        "sequences other than the six id sequences"
    );
    assert_eq!(
        rows(&db, "SELECT version_num FROM alembic_version"),
        vec![HEAD.to_owned()]
    );

    // The revision is what autogenerate makes of the models today: no drift.
    let check = python::alembic(&db.url, &["check"]);
    check.assert_success();
    assert!(
        check.stdout.contains("No new upgrade operations detected")
            || check.stderr.contains("No new upgrade operations detected"),
        "alembic check did not report a clean state\n{check}"
    );

    // check_data.py fails, naming the table, when the data is not there.
    let out = python::check_data(&db.url);
    assert_eq!(
        out.code, 1,
        "check_data.py on empty tables should fail\n{out}"
    );
    assert!(
        out.stdout
            .contains("FAIL  user: PostgreSQL has 0 rows, SQLite 50"),
        "unexpected check_data.py failure\n{out}"
    );
}

#[test]
fn models_declare_the_sqlite_fixture_tables() {
    let fixture = python::flashcase_db();
    let out = python::run_python(
        &python::venv(),
        &["check_models.py", fixture.to_str().expect("UTF-8 path")],
        &python::app_dir(),
        &[],
    );
    out.assert_success();
    assert!(
        out.stdout
            .contains("models match the fixture (14 tables and indexes)"),
        "{out}"
    );
}
