//! Target: the PostgreSQL side. Connection settings, DDL, the COPY encoder,
//! and reading the catalog back.
//!
//! Every PostgreSQL failure becomes a [`Error`] that names what ferry was
//! doing (which table, which statement) and carries the server's own words:
//! SQLSTATE, message, detail, hint, and the constraint or column involved.

pub mod catalog;
pub mod conninfo;
pub mod ddl;
pub mod decode;
pub mod encode;
pub mod ident;
pub mod keys;
pub mod pgpass;
pub mod post_data;
pub mod scratch;
pub mod server;
pub mod tls;

use std::fmt;
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};
use std::str::FromStr;
use std::time::Duration;

use tokio_postgres::config::{Host, SslMode};
use tokio_postgres::{Client, Config, NoTls};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("no PostgreSQL target: give TARGET_URL, or set DATABASE_URL or PGHOST/PGDATABASE")]
    NoTarget,
    #[error("invalid PostgreSQL connection string: {0}")]
    BadUrl(String),
    #[error("invalid PostgreSQL TLS settings: {0}")]
    Tls(String),
    #[error("cannot connect to PostgreSQL at {target}: {message}")]
    Connect {
        target: String,
        message: String,
        /// The TLS handshake failed (`sslmode=prefer` then tries plain).
        handshake: bool,
    },
    #[error("{context}: {message}")]
    Server { context: String, message: String },
}

impl Error {
    /// Wrap a tokio-postgres error with what we were doing, keeping the
    /// server's diagnostic fields and dropping its duplicated cause chain.
    pub fn server(context: impl Into<String>, e: &tokio_postgres::Error) -> Error {
        Error::Server { context: context.into(), message: describe(e) }
    }
}

/// The server's words for an error: SQLSTATE, message and the fields
/// PostgreSQL adds (detail, hint, where, table/column/constraint).
pub fn describe(e: &tokio_postgres::Error) -> String {
    if let Some(db) = e.as_db_error() {
        let mut s = format!("{} (SQLSTATE {})", db.message(), db.code().code());
        if let Some(d) = db.detail() {
            s.push_str(&format!("; detail: {d}"));
        }
        if let Some(h) = db.hint() {
            s.push_str(&format!("; hint: {h}"));
        }
        if let Some(w) = db.where_() {
            s.push_str(&format!("; where: {}", w.replace('\n', " / ")));
        }
        if let Some(c) = db.constraint() {
            s.push_str(&format!("; constraint: {c}"));
        }
        return s;
    }
    // The server's last words (a FATAL from pg_terminate_backend or a
    // shutdown) go to the request that was running, which a COPY never
    // reads back, so all tokio-postgres can say is "connection closed".
    if e.is_closed() {
        return "the connection to PostgreSQL was closed (the server ended the session, or the network failed)".into();
    }
    // Not from the server (I/O): the chain, once.
    let mut s = e.to_string();
    let mut src = std::error::Error::source(e);
    while let Some(c) = src {
        let cs = c.to_string();
        if !s.contains(&cs) {
            s.push_str(": ");
            s.push_str(&cs);
        }
        src = c.source();
    }
    s
}

/// Where to connect, parsed once. Its `Display` never shows the password.
#[derive(Clone)]
pub struct Target {
    config: Config,
    tls: tls::Settings,
    /// The password file the password came from, named in an
    /// authentication failure as libpq does.
    passfile: Option<PathBuf>,
    /// The TLS context, built at the first TLS attempt and shared by every
    /// connection (and clone) after it.
    tls_context: Arc<OnceLock<Result<openssl::ssl::SslConnector, String>>>,
}

impl fmt::Debug for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Target({self})")
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let user = self.config.get_user().unwrap_or("?");
        let host = match self.config.get_hosts().first() {
            Some(Host::Tcp(h)) => h.clone(),
            #[cfg(unix)]
            Some(Host::Unix(p)) => p.display().to_string(),
            None => "localhost".into(),
        };
        let port = self.config.get_ports().first().copied().unwrap_or(5432);
        let db = self.config.get_dbname().unwrap_or(user);
        write!(f, "postgresql://{user}@{host}:{port}/{db}")
    }
}

impl Target {
    /// From the command line argument, else `DATABASE_URL`, else libpq's
    /// `PG*` variables. A password missing from the string is taken from
    /// `PGPASSWORD`, else from the password file (`passfile`, `PGPASSFILE`
    /// or `~/.pgpass`, see [`pgpass`]). TLS follows libpq's `sslmode` and
    /// friends (see [`tls`]).
    pub fn resolve(arg: Option<&str>) -> Result<Target, Error> {
        let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        let text = match arg {
            Some(a) => a.to_string(),
            None => match env("DATABASE_URL") {
                Some(u) => u,
                None if env("PGHOST").is_some() || env("PGDATABASE").is_some() => String::new(),
                None => return Err(Error::NoTarget),
            },
        };
        let text = strip_sqlalchemy_driver(&text);
        // sslmode, sslrootcert, passfile…: keys tokio-postgres does not know.
        let split = conninfo::split(&text).map_err(|m| Error::BadUrl(redact(&m, &text)))?;
        let mut config = if split.rest.is_empty() {
            Config::new()
        } else {
            Config::from_str(&split.rest).map_err(|e| {
                // "invalid connection string: invalid value for option `port`": the cause says it.
                let why = describe(&e);
                let why = why.strip_prefix("invalid connection string: ").unwrap_or(&why);
                Error::BadUrl(redact(why, &text))
            })?
        };
        if config.get_hosts().is_empty() {
            match env("PGHOST") {
                Some(h) => {
                    for host in h.split(',') {
                        config.host(host);
                    }
                }
                None => {
                    config.host("localhost");
                }
            }
        }
        if config.get_ports().is_empty() && let Some(p) = env("PGPORT") {
            let port = p.parse().map_err(|_| Error::BadUrl(format!("PGPORT={p:?} is not a port")))?;
            config.port(port);
        }
        if config.get_user().is_none() {
            let user = env("PGUSER").or_else(|| env("USER")).unwrap_or_else(|| "postgres".into());
            config.user(&user);
        }
        if config.get_dbname().is_none() && let Some(d) = env("PGDATABASE") {
            config.dbname(&d);
        }
        let home = env("HOME").map(PathBuf::from);
        let get = |k: &str| split.get(k).map(str::to_string);
        let tls = tls::Settings::resolve(&tls::Sources { get: &get, env: &env, home })
            .map_err(|m| Error::Tls(redact(&m, &text)))?;
        let mut passfile = None;
        if config.get_password().is_none() {
            if let Some(p) = env("PGPASSWORD") {
                config.password(p);
            } else if let Some(path) = pgpass::default_path(split.get("passfile")) {
                let host = match config.get_hosts().first() {
                    Some(Host::Tcp(h)) => h.clone(),
                    #[cfg(unix)]
                    Some(Host::Unix(p)) => p.display().to_string(),
                    None => String::new(),
                };
                let user = config.get_user().unwrap_or_default().to_string();
                let key = pgpass::Key {
                    host: &host,
                    port: config.get_ports().first().copied().unwrap_or(5432),
                    dbname: config.get_dbname().unwrap_or(&user),
                    user: &user,
                };
                match pgpass::lookup(&path, key) {
                    Ok(Some(pw)) => {
                        config.password(pw);
                        passfile = Some(path);
                    }
                    Ok(None) => {}
                    Err(warning) => eprintln!("ferry: warning: {warning}"),
                }
            }
        }
        config.application_name("ferry");
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(Duration::from_secs(10));
        }
        Ok(Target { config, tls, passfile, tls_context: Arc::default() })
    }

    /// The TLS settings in force (for tests and reports).
    pub fn tls(&self) -> &tls::Settings {
        &self.tls
    }

    /// A new session: TLS as `sslmode` says, then UTC and quiet notices.
    pub async fn connect(&self) -> Result<Client, Error> {
        use tls::SslMode as M;
        let client = match self.tls.mode {
            M::Disable => self.connect_plain().await?,
            // libpq: plain first; TLS if that fails.
            M::Allow => match self.connect_plain().await {
                Ok(c) => c,
                Err(_) => self.connect_tls(SslMode::Require).await?,
            },
            // libpq: TLS if the server offers it, plain if it does not or
            // if the handshake fails.
            M::Prefer => match self.connect_tls(SslMode::Prefer).await {
                Ok(c) => c,
                Err(Error::Connect { handshake: true, .. }) => self.connect_plain().await?,
                Err(e) => return Err(e),
            },
            M::Require | M::VerifyCa | M::VerifyFull => self.connect_tls(SslMode::Require).await?,
        };
        client
            .batch_execute("SET client_min_messages = warning; SET TimeZone = 'UTC'")
            .await
            .map_err(|e| Error::server("setting up the session", &e))?;
        Ok(client)
    }

    async fn connect_plain(&self) -> Result<Client, Error> {
        let mut config = self.config.clone();
        config.ssl_mode(SslMode::Disable);
        match config.connect(NoTls).await {
            Ok((client, connection)) => {
                tokio::spawn(async move {
                    // Errors surface on the next query through the client.
                    let _ = connection.await;
                });
                Ok(client)
            }
            Err(e) => Err(self.connect_error(&e, None)),
        }
    }

    async fn connect_tls(&self, mode: SslMode) -> Result<Client, Error> {
        let context = self.tls_context.get_or_init(|| tls::context(&self.tls)).as_ref().map_err(|m| Error::Connect {
            target: self.to_string(),
            message: m.clone(),
            handshake: false,
        })?;
        let (connector, refusal) = tls::connector(&self.tls, context);
        let mut config = self.config.clone();
        config.ssl_mode(mode);
        match config.connect(connector).await {
            Ok((client, connection)) => {
                tokio::spawn(async move {
                    let _ = connection.await;
                });
                Ok(client)
            }
            Err(e) => Err(self.connect_error(&e, refusal.take())),
        }
    }

    /// A failed connection in words a user can act on.
    fn connect_error(&self, e: &tokio_postgres::Error, refused: Option<String>) -> Error {
        let mut message = describe(e);
        let handshake = message.starts_with("error performing TLS handshake");
        if let Some(why) = refused {
            let roots = match &self.tls.roots {
                Some(tls::Roots::File(f)) => format!(", sslrootcert={}", f.display()),
                Some(tls::Roots::System) => ", sslrootcert=system".into(),
                None => String::new(),
            };
            message = format!(
                "the server's TLS certificate was refused (sslmode={}{roots}): {why}",
                self.tls.mode
            );
        } else if message.contains("server does not support TLS") {
            message = format!("the server does not accept TLS connections, and sslmode={} requires TLS", self.tls.mode);
        }
        if let (Some(path), Some(db)) = (&self.passfile, e.as_db_error())
            && db.code() == &tokio_postgres::error::SqlState::INVALID_PASSWORD
        {
            message.push_str(&format!(" (password retrieved from file {:?})", path.display().to_string()));
        }
        Error::Connect { target: self.to_string(), message, handshake }
    }
}

/// `postgresql+psycopg2://…` (SQLAlchemy's URL form) → `postgresql://…`.
fn strip_sqlalchemy_driver(url: &str) -> String {
    for scheme in ["postgresql+", "postgres+"] {
        if let Some(rest) = url.strip_prefix(scheme) && let Some(i) = rest.find("://") {
            return format!("{}{}", &scheme[..scheme.len() - 1], &rest[i..]);
        }
    }
    url.to_string()
}

/// Remove anything that looks like the password of `source` from `message`.
/// The password is found by ferry's own reading of the string, so this
/// works on strings that do not parse.
pub fn redact(message: &str, source: &str) -> String {
    let mut out = message.to_string();
    if let Some(p) = conninfo::password(source) {
        out = out.replace(&p, "********");
    }
    if let Ok(c) = Config::from_str(source)
        && let Some(p) = c.get_password().and_then(|p| std::str::from_utf8(p).ok())
            && !p.is_empty() {
                out = out.replace(p, "********");
            }
    out
}

/// A multi-threaded tokio runtime for the writers and the verifier.
pub fn runtime(threads: usize) -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread().worker_threads(threads.max(1)).enable_all().build()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_never_shows_the_password() {
        let t = Target::resolve(Some("postgresql://bob:s3cr3t-pw@db.example:6543/app")).unwrap();
        let shown = format!("{t} {t:?}");
        assert!(!shown.contains("s3cr3t-pw"), "{shown}");
        assert_eq!(t.to_string(), "postgresql://bob@db.example:6543/app");
        let kw = Target::resolve(Some("host=h user=u password=pw123456 dbname=d")).unwrap();
        assert!(!format!("{kw} {kw:?}").contains("pw123456"));
    }

    #[test]
    fn sqlalchemy_urls_are_accepted() {
        let t = Target::resolve(Some("postgresql+psycopg2://u:p@h:5/d")).unwrap();
        assert_eq!(t.to_string(), "postgresql://u@h:5/d");
    }
}
