//! TLS to PostgreSQL (issue 8) against a dedicated cluster with `ssl = on`
//! and a `pg_hba.conf` that accepts only TLS connections (`hostssl`), so a
//! run that succeeds went through TLS. Certificates come from the `openssl`
//! command: a throwaway CA, a server certificate for `localhost` signed by
//! it, and an unrelated CA.
//!
//! `sslmode` follows libpq: `verify-full` succeeds for `localhost` with the
//! right CA and fails, naming the reason and the certificate's names, when
//! the client connects as `127.0.0.1` or trusts another CA; `verify-ca`
//! checks the chain only; `require` and `prefer` encrypt without checks;
//! `disable` is refused by this server.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::util::cluster::Cluster;
use crate::util::cmd::{assert_code, ferry, ferry_env, Output};
use crate::util::pg::server;
use crate::util::sqlite::db_from_sql;

struct Pki {
    _dir: tempfile::TempDir,
    ca: PathBuf,
    other_ca: PathBuf,
    server_crt: Vec<u8>,
    server_key: Vec<u8>,
}

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("running openssl (Debian package `openssl`; scripts/setup.sh installs it)");
    assert!(out.status.success(), "openssl {args:?}:\n{}", String::from_utf8_lossy(&out.stderr));
}

fn pki() -> Pki {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
    for (name, cn) in [("ca", "ferry test CA"), ("other", "some other CA")] {
        let (key, crt, subj) = (format!("{name}.key"), format!("{name}.crt"), format!("/CN={cn}"));
        let mut args = vec!["req", "-x509"];
        args.extend(ec);
        args.extend(["-keyout", &key, "-out", &crt, "-days", "3", "-subj", &subj]);
        args.extend(["-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign"]);
        openssl(d, &args);
    }
    let mut args = vec!["req"];
    args.extend(ec);
    args.extend(["-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=localhost"]);
    openssl(d, &args);
    std::fs::write(
        d.join("server.ext"),
        "subjectAltName = DNS:localhost\nbasicConstraints = CA:FALSE\nkeyUsage = digitalSignature, keyEncipherment\nextendedKeyUsage = serverAuth\n",
    )
    .unwrap();
    openssl(
        d,
        &[
            "x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial", "-out",
            "server.crt", "-days", "3", "-extfile", "server.ext",
        ],
    );
    Pki {
        ca: d.join("ca.crt"),
        other_ca: d.join("other.crt"),
        server_crt: std::fs::read(d.join("server.crt")).unwrap(),
        server_key: std::fs::read(d.join("server.key")).unwrap(),
        _dir: dir,
    }
}

struct Ctx {
    cluster: Cluster,
    pki: Pki,
}

/// The TLS cluster and its certificates. One test runs every case against
/// it in turn, so the cluster is stopped when the test ends (a static would
/// never be dropped, and would leave the server running).
fn setup() -> Ctx {
    let pki = pki();
    let cluster = Cluster::start("tls", |c| {
        c.write_owned("server.crt", &pki.server_crt, 0o644);
        c.write_owned("server.key", &pki.server_key, 0o600);
        c.write_owned(
            "pg_hba.conf",
            b"local all all trust\nhostssl all all 127.0.0.1/32 scram-sha-256\nhostssl all all ::1/128 scram-sha-256\n",
            0o600,
        );
        "ssl = on\nssl_cert_file = 'server.crt'\nssl_key_file = 'server.key'\n".into()
    });
    Ctx { cluster, pki }
}

#[test]
fn sslmodes_against_a_tls_only_server() {
    let ctx = setup();
    verify_full_with_the_right_ca_migrates(&ctx);
    verify_full_refuses_a_host_name_the_certificate_does_not_name(&ctx);
    verify_full_refuses_a_certificate_from_another_ca(&ctx);
    require_and_prefer_encrypt_and_disable_is_refused(&ctx);
}

impl Ctx {
    /// A fresh database on the TLS cluster, created over a TLS connection.
    fn fresh_db(&self, name: &str) -> String {
        let mut b = openssl::ssl::SslConnector::builder(openssl::ssl::SslMethod::tls()).unwrap();
        b.set_ca_file(&self.pki.ca).unwrap();
        let tls = postgres_openssl::MakeTlsConnector::new(b.build());
        let url = format!("{}?sslmode=require", self.cluster.url("localhost", "postgres"));
        let mut admin = postgres::Client::connect(&url, tls)
            .unwrap_or_else(|e| panic!("admin connection over TLS: {e}{}", self.cluster.log_tail()));
        admin.batch_execute(&format!("DROP DATABASE IF EXISTS {name}")).unwrap();
        admin.batch_execute(&format!("CREATE DATABASE {name}")).unwrap();
        name.to_owned()
    }

    fn url(&self, host: &str, db: &str, query: &str) -> String {
        format!("{}?{query}", self.cluster.url(host, db))
    }

    fn shown(&self, host: &str, db: &str) -> String {
        format!("postgresql://ferry@{host}:{}/{db}", self.cluster.port)
    }
}

fn source(dir: &Path) -> PathBuf {
    db_from_sql(
        dir,
        "src.db",
        "CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT, at DATETIME);
         INSERT INTO t VALUES (1, 'over TLS', '2024-05-01 12:00:00'), (2, NULL, NULL);",
    )
}

fn refused(out: &Output, message: &str) {
    assert_code(out, 2);
    assert_eq!(out.stderr.trim_end(), format!("ferry: {message}"), "\n{out}");
}

fn verify_full_with_the_right_ca_migrates(ctx: &Ctx) {
    let dir = tempfile::tempdir().unwrap();
    let src = source(dir.path());
    let db = ctx.fresh_db("tls_verify_full");
    let ca = ctx.pki.ca.display().to_string();
    let out = ferry(&["migrate", src.to_str().unwrap(), &ctx.url("localhost", &db, &format!("sslmode=verify-full&sslrootcert={ca}"))]);
    assert_code(&out, 0);
    // The same through the keyword form and the environment twins.
    let kw = format!("host=localhost port={} user=ferry password={} dbname={db}", ctx.cluster.port, crate::util::pg::TEST_PASSWORD);
    let out = ferry_env(&["verify", src.to_str().unwrap(), &kw], &[("PGSSLMODE", "verify-full"), ("PGSSLROOTCERT", &ca)]);
    assert_code(&out, 0);
}

fn verify_full_refuses_a_host_name_the_certificate_does_not_name(ctx: &Ctx) {
    let dir = tempfile::tempdir().unwrap();
    let src = source(dir.path());
    let db = ctx.fresh_db("tls_wrong_host");
    let ca = &ctx.pki.ca;
    let out = ferry(&[
        "migrate",
        src.to_str().unwrap(),
        &ctx.url("127.0.0.1", &db, &format!("sslmode=verify-full&sslrootcert={}", ca.display())),
    ]);
    refused(
        &out,
        &format!(
            "cannot connect to PostgreSQL at {}: the server's TLS certificate was refused (sslmode=verify-full, sslrootcert={}): IP address mismatch; the certificate is for DNS:localhost",
            ctx.shown("127.0.0.1", &db),
            ca.display()
        ),
    );
    // verify-ca checks the chain, not the name: the same connection works.
    let out = ferry(&[
        "migrate",
        src.to_str().unwrap(),
        &ctx.url("127.0.0.1", &db, &format!("sslmode=verify-ca&sslrootcert={}", ca.display())),
    ]);
    assert_code(&out, 0);
}

fn verify_full_refuses_a_certificate_from_another_ca(ctx: &Ctx) {
    let dir = tempfile::tempdir().unwrap();
    let src = source(dir.path());
    let db = ctx.fresh_db("tls_wrong_ca");
    let other = &ctx.pki.other_ca;
    for mode in ["verify-full", "verify-ca", "require"] {
        // require with a root certificate acts as verify-ca (libpq).
        let out = ferry(&[
            "verify",
            src.to_str().unwrap(),
            &ctx.url("localhost", &db, &format!("sslmode={mode}&sslrootcert={}", other.display())),
        ]);
        refused(
            &out,
            &format!(
                "cannot connect to PostgreSQL at {}: the server's TLS certificate was refused (sslmode={mode}, sslrootcert={}): unable to get local issuer certificate; the certificate is for DNS:localhost",
                ctx.shown("localhost", &db),
                other.display()
            ),
        );
    }
}

fn require_and_prefer_encrypt_and_disable_is_refused(ctx: &Ctx) {
    let dir = tempfile::tempdir().unwrap();
    let src = source(dir.path());
    let db = ctx.fresh_db("tls_modes");
    // No root certificate anywhere: HOME has no ~/.postgresql.
    let home = tempfile::tempdir().unwrap();
    let home_s = home.path().to_str().unwrap();
    let out = ferry_env(&["migrate", src.to_str().unwrap(), &ctx.url("127.0.0.1", &db, "sslmode=require")], &[("HOME", home_s)]);
    assert_code(&out, 0);
    for mode in ["prefer", "allow"] {
        let out = ferry_env(&["verify", src.to_str().unwrap(), &ctx.url("127.0.0.1", &db, &format!("sslmode={mode}"))], &[("HOME", home_s)]);
        assert_code(&out, 0);
    }
    let out = ferry_env(&["verify", src.to_str().unwrap(), &ctx.url("127.0.0.1", &db, "sslmode=disable")], &[("HOME", home_s)]);
    refused(
        &out,
        &format!(
            "cannot connect to PostgreSQL at {}: no pg_hba.conf entry for host \"127.0.0.1\", user \"ferry\", database \"{db}\", no encryption (SQLSTATE 28000)",
            ctx.shown("127.0.0.1", &db)
        ),
    );
    // verify-full with no root certificate: stopped before connecting.
    let out = ferry_env(&["verify", src.to_str().unwrap(), &ctx.url("localhost", &db, "sslmode=verify-full")], &[("HOME", home_s)]);
    refused(
        &out,
        &format!(
            "invalid PostgreSQL TLS settings: sslmode=verify-full needs the certificate of the CA that signed the server's: root certificate file \"{home_s}/.postgresql/root.crt\" does not exist; give sslrootcert=FILE (or sslrootcert=system for the system's trusted roots), or a weaker sslmode"
        ),
    );
    // libpq's default location for the root certificate is used.
    std::fs::create_dir(home.path().join(".postgresql")).unwrap();
    std::fs::copy(&ctx.pki.ca, home.path().join(".postgresql/root.crt")).unwrap();
    let out = ferry_env(&["verify", src.to_str().unwrap(), &ctx.url("localhost", &db, "sslmode=verify-full")], &[("HOME", home_s)]);
    assert_code(&out, 0);
}

#[test]
fn require_against_a_server_without_tls() {
    // The shared test cluster has ssl = off.
    let dir = tempfile::tempdir().unwrap();
    let src = source(dir.path());
    let db = server().fresh_db("tls_server_without_tls");
    let sep = if db.url.contains('?') { '&' } else { '?' };
    let out = ferry(&["migrate", src.to_str().unwrap(), &format!("{}{sep}sslmode=require", db.url)]);
    refused(
        &out,
        &format!(
            "cannot connect to PostgreSQL at {}: the server does not accept TLS connections, and sslmode=require requires TLS",
            crate::hardening::display(&db.url)
        ),
    );
    // prefer (the default) falls back to plain.
    let out = ferry(&["migrate", src.to_str().unwrap(), &format!("{}{sep}sslmode=prefer", db.url)]);
    assert_code(&out, 0);
}

/// A client certificate for user `cn`, signed by the test CA (in the CA's
/// directory): (certificate, key), the key mode 0600 as libpq requires.
fn client_cert(pki: &Pki, cn: &str) -> (PathBuf, PathBuf) {
    let d = pki.ca.parent().unwrap();
    let ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
    let subj = format!("/CN={cn}");
    let mut args = vec!["req"];
    args.extend(ec);
    args.extend(["-keyout", "client.key", "-out", "client.csr", "-subj", &subj]);
    openssl(d, &args);
    std::fs::write(d.join("client.ext"), "basicConstraints = CA:FALSE\nkeyUsage = digitalSignature\nextendedKeyUsage = clientAuth\n").unwrap();
    openssl(
        d,
        &[
            "x509", "-req", "-in", "client.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial", "-out", "client.crt",
            "-days", "3", "-extfile", "client.ext",
        ],
    );
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(d.join("client.key"), std::fs::Permissions::from_mode(0o600)).unwrap();
    (d.join("client.crt"), d.join("client.key"))
}

/// A server that wants a client certificate as well as the password
/// (`ssl_ca_file`, `hostssl … scram-sha-256 clientcert=verify-full`: the
/// certificate must be signed by the CA and name the user): refused without
/// one; accepted with `sslcert`/`sslkey` in the URL or `PGSSLCERT`/`PGSSLKEY`.
/// And `sslrootcert=system`: the test CA put in the "system" store through
/// OpenSSL's `SSL_CERT_FILE`, which its default verify paths honour.
#[test]
fn client_certificates_and_system_roots() {
    let pki = pki();
    let (crt, key) = client_cert(&pki, "ferry");
    let ca_pem = std::fs::read(&pki.ca).unwrap();
    let cluster = Cluster::start("tls_clientcert", |c| {
        c.write_owned("server.crt", &pki.server_crt, 0o644);
        c.write_owned("server.key", &pki.server_key, 0o600);
        c.write_owned("ca.crt", &ca_pem, 0o644);
        c.write_owned(
            "pg_hba.conf",
            b"local all all trust\nhostssl all all 127.0.0.1/32 scram-sha-256 clientcert=verify-full\nhostssl all all ::1/128 scram-sha-256 clientcert=verify-full\n",
            0o600,
        );
        "ssl = on\nssl_cert_file = 'server.crt'\nssl_key_file = 'server.key'\nssl_ca_file = 'ca.crt'\n".into()
    });
    let ctx = Ctx { cluster, pki };
    let dir = tempfile::tempdir().unwrap();
    let src = source(dir.path());
    // HOME without ~/.postgresql: no default client certificate or root.
    let home = tempfile::tempdir().unwrap();
    let home_env = ("HOME", home.path().to_str().unwrap());
    let ca = ctx.pki.ca.display().to_string();
    let (crt_s, key_s) = (crt.to_str().unwrap(), key.to_str().unwrap());

    // The admin connection shows its own client certificate.
    let mut b = openssl::ssl::SslConnector::builder(openssl::ssl::SslMethod::tls()).unwrap();
    b.set_ca_file(&ctx.pki.ca).unwrap();
    b.set_certificate_file(&crt, openssl::ssl::SslFiletype::PEM).unwrap();
    b.set_private_key_file(&key, openssl::ssl::SslFiletype::PEM).unwrap();
    let tls = postgres_openssl::MakeTlsConnector::new(b.build());
    let url = format!("{}?sslmode=require", ctx.cluster.url("localhost", "postgres"));
    let mut admin = postgres::Client::connect(&url, tls)
        .unwrap_or_else(|e| panic!("admin connection with a client certificate: {e}{}", ctx.cluster.log_tail()));
    admin.batch_execute("CREATE DATABASE tls_clientcert").unwrap();
    let db = "tls_clientcert";

    let out = ferry_env(
        &["migrate", src.to_str().unwrap(), &ctx.url("localhost", db, &format!("sslmode=verify-full&sslrootcert={ca}"))],
        &[home_env],
    );
    assert_code(&out, 2);
    assert!(out.stderr.contains("certificate"), "the refusal says a certificate is missing\n{out}");

    let out = ferry_env(
        &[
            "migrate",
            src.to_str().unwrap(),
            &ctx.url("localhost", db, &format!("sslmode=verify-full&sslrootcert={ca}&sslcert={crt_s}&sslkey={key_s}")),
        ],
        &[home_env],
    );
    assert_code(&out, 0);
    let kw = format!("host=localhost port={} user=ferry password={} dbname={db}", ctx.cluster.port, crate::util::pg::TEST_PASSWORD);
    let out = ferry_env(
        &["verify", src.to_str().unwrap(), &kw],
        &[home_env, ("PGSSLMODE", "verify-full"), ("PGSSLROOTCERT", &ca), ("PGSSLCERT", crt_s), ("PGSSLKEY", key_s)],
    );
    assert_code(&out, 0);

    // sslrootcert=system: OpenSSL's default store, here the test CA alone.
    let out = ferry_env(
        &[
            "verify",
            src.to_str().unwrap(),
            &ctx.url("localhost", db, &format!("sslmode=verify-full&sslrootcert=system&sslcert={crt_s}&sslkey={key_s}")),
        ],
        &[home_env, ("SSL_CERT_FILE", &ca), ("SSL_CERT_DIR", home.path().to_str().unwrap())],
    );
    assert_code(&out, 0);
    // The same without the CA in the store: the certificate is refused.
    let out = ferry_env(
        &[
            "verify",
            src.to_str().unwrap(),
            &ctx.url("localhost", db, &format!("sslmode=verify-full&sslrootcert=system&sslcert={crt_s}&sslkey={key_s}")),
        ],
        &[home_env, ("SSL_CERT_FILE", &ctx.pki.other_ca.display().to_string()), ("SSL_CERT_DIR", home.path().to_str().unwrap())],
    );
    assert_code(&out, 2);
    // (The server sends its CA along, from ssl_ca_file: OpenSSL says
    // "self-signed certificate in certificate chain".)
    assert!(out.stderr.contains("the server's TLS certificate was refused (sslmode=verify-full, sslrootcert=system)"), "{out}");
}
