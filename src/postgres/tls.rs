//! TLS to PostgreSQL with libpq's `sslmode` semantics, through OpenSSL
//! (`postgres-openssl`, from the rust-postgres project).
//!
//! | `sslmode` | encrypted | certificate checked | host name checked |
//! | --- | --- | --- | --- |
//! | `disable` | no | | |
//! | `allow` | plain first, TLS if that fails | no | no |
//! | `prefer` (default) | TLS if the server offers it, else plain; plain again if the handshake fails | no | no |
//! | `require` | yes | only if a root certificate is given or `~/.postgresql/root.crt` exists (then as `verify-ca`) | no |
//! | `verify-ca` | yes | against `sslrootcert` | no |
//! | `verify-full` | yes | against `sslrootcert` | yes (DNS name or IP address in the certificate) |
//!
//! `sslrootcert=system` uses the system's trusted roots and, as in libpq 16,
//! requires `verify-full`. `sslcert`/`sslkey` give a client certificate
//! (default `~/.postgresql/postgresql.crt` and `.key` when both exist).
//! Every key has libpq's environment twin (`PGSSLMODE`, `PGSSLROOTCERT`,
//! `PGSSLCERT`, `PGSSLKEY`).
//!
//! OpenSSL is what libpq itself uses, so certificate handling (chains, IP
//! address SANs, wildcard rules) matches what `psql` accepts; its verify
//! callback tells us why a certificate was refused and for which names it
//! was issued, which goes into the error message.

use std::fmt;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use openssl::ssl::{SslConnector, SslFiletype, SslMethod, SslVerifyMode};
use openssl::x509::X509StoreContextRef;
use postgres_openssl::MakeTlsConnector;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SslMode {
    Disable,
    Allow,
    Prefer,
    Require,
    VerifyCa,
    VerifyFull,
}

impl SslMode {
    pub fn parse(s: &str) -> Result<SslMode, String> {
        Ok(match s {
            "disable" => SslMode::Disable,
            "allow" => SslMode::Allow,
            "prefer" => SslMode::Prefer,
            "require" => SslMode::Require,
            "verify-ca" => SslMode::VerifyCa,
            "verify-full" => SslMode::VerifyFull,
            other => {
                return Err(format!(
                    "invalid sslmode {other:?} (disable, allow, prefer, require, verify-ca or verify-full)"
                ));
            }
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            SslMode::Disable => "disable",
            SslMode::Allow => "allow",
            SslMode::Prefer => "prefer",
            SslMode::Require => "require",
            SslMode::VerifyCa => "verify-ca",
            SslMode::VerifyFull => "verify-full",
        }
    }
}

impl fmt::Display for SslMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Trusted roots for certificate checks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Roots {
    File(PathBuf),
    /// `sslrootcert=system`: OpenSSL's default locations.
    System,
}

/// How much of the server's certificate is checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Check {
    Nothing,
    Chain,
    ChainAndHost,
}

/// TLS settings of one target, resolved once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    pub mode: SslMode,
    pub roots: Option<Roots>,
    pub cert: Option<(PathBuf, PathBuf)>,
}

impl Default for Settings {
    fn default() -> Self {
        Settings { mode: SslMode::Prefer, roots: None, cert: None }
    }
}

/// Where the values come from: the connection string's own keys first,
/// then the environment, then libpq's defaults under `home`.
pub struct Sources<'a> {
    pub get: &'a dyn Fn(&str) -> Option<String>,
    pub env: &'a dyn Fn(&str) -> Option<String>,
    pub home: Option<PathBuf>,
}

impl Settings {
    /// Resolve `sslmode`, `sslrootcert`, `sslcert`, `sslkey` as libpq does.
    ///
    /// # Errors
    ///
    /// An invalid mode, `sslrootcert=system` with a weaker mode than
    /// `verify-full`, a verifying mode without a root certificate file, or
    /// only one of `sslcert`/`sslkey`.
    pub fn resolve(src: &Sources<'_>) -> Result<Settings, String> {
        let pick = |key: &str, var: &str| (src.get)(key).or_else(|| (src.env)(var)).filter(|v| !v.is_empty());
        let mode_text = pick("sslmode", "PGSSLMODE");
        let root_text = pick("sslrootcert", "PGSSLROOTCERT");
        let mut mode = match &mode_text {
            Some(m) => SslMode::parse(m)?,
            None => SslMode::Prefer,
        };
        let pg_dir = src.home.as_ref().map(|h| h.join(".postgresql"));
        let roots = match root_text.as_deref() {
            Some("system") => {
                match mode_text {
                    None => mode = SslMode::VerifyFull,
                    Some(_) if mode != SslMode::VerifyFull => {
                        return Err(format!(
                            "weak sslmode \"{mode}\" may not be used with sslrootcert=system (use \"verify-full\")"
                        ));
                    }
                    Some(_) => {}
                }
                Some(Roots::System)
            }
            Some(file) => Some(Roots::File(PathBuf::from(file))),
            None => pg_dir.as_ref().map(|d| d.join("root.crt")).filter(|p| p.is_file()).map(Roots::File),
        };
        let verifying = matches!(mode, SslMode::VerifyCa | SslMode::VerifyFull);
        if verifying {
            match &roots {
                None => {
                    let default = pg_dir
                        .map(|d| d.join("root.crt").display().to_string())
                        .unwrap_or_else(|| "~/.postgresql/root.crt".into());
                    return Err(format!(
                        "sslmode={mode} needs the certificate of the CA that signed the server's: root certificate file {default:?} does not exist; give sslrootcert=FILE (or sslrootcert=system for the system's trusted roots), or a weaker sslmode"
                    ));
                }
                Some(Roots::File(f)) if !f.is_file() => {
                    return Err(format!("sslmode={mode}: root certificate file {:?} does not exist", f.display().to_string()));
                }
                _ => {}
            }
        }
        let cert = match (pick("sslcert", "PGSSLCERT"), pick("sslkey", "PGSSLKEY")) {
            (Some(c), Some(k)) => Some((PathBuf::from(c), PathBuf::from(k))),
            (Some(_), None) | (None, Some(_)) => {
                return Err("a client certificate needs both sslcert and sslkey".into());
            }
            (None, None) => src.home.as_ref().and_then(|h| {
                let (c, k) = (h.join(".postgresql/postgresql.crt"), h.join(".postgresql/postgresql.key"));
                (c.is_file() && k.is_file()).then_some((c, k))
            }),
        };
        Ok(Settings { mode, roots, cert })
    }

    /// What the handshake checks. `require` with a root certificate acts as
    /// `verify-ca` (libpq's rule, kept for compatibility).
    pub fn check(&self) -> Check {
        match self.mode {
            SslMode::VerifyFull => Check::ChainAndHost,
            SslMode::VerifyCa => Check::Chain,
            SslMode::Require if self.roots.is_some() => Check::Chain,
            _ => Check::Nothing,
        }
    }

    /// Whether TLS can be used at all.
    pub fn enabled(&self) -> bool {
        self.mode != SslMode::Disable
    }
}

/// Why the last handshake refused the server's certificate, filled in by
/// the verify callback.
#[derive(Clone, Default)]
pub struct Refusal(Arc<Mutex<Option<String>>>);

impl Refusal {
    pub fn take(&self) -> Option<String> {
        self.0.lock().ok().and_then(|mut s| s.take())
    }

    fn set(&self, why: String) {
        if let Ok(mut s) = self.0.lock() && s.is_none() {
            *s = Some(why);
        }
    }
}

/// The TLS context for `settings`: roots, client certificate, verification
/// mode. Building it parses the whole system root store (about 5 % of a
/// scale-1 verification's CPU when it was built per connection), so a
/// [`crate::postgres::Target`] builds it once and shares it between its
/// connections.
pub fn context(settings: &Settings) -> Result<SslConnector, String> {
    let mut b = SslConnector::builder(SslMethod::tls_client()).map_err(|e| format!("setting up TLS: {e}"))?;
    match (&settings.roots, settings.check()) {
        (_, Check::Nothing) => b.set_verify(SslVerifyMode::NONE),
        (Some(Roots::File(f)), _) => {
            b.set_ca_file(f).map_err(|e| format!("reading root certificate file {:?}: {e}", f.display().to_string()))?;
            b.set_verify(SslVerifyMode::PEER);
        }
        (Some(Roots::System) | None, _) => {
            b.set_default_verify_paths().map_err(|e| format!("loading the system's trusted roots: {e}"))?;
            b.set_verify(SslVerifyMode::PEER);
        }
    }
    if let Some((cert, key)) = &settings.cert {
        b.set_certificate_chain_file(cert)
            .map_err(|e| format!("reading client certificate {:?}: {e}", cert.display().to_string()))?;
        b.set_private_key_file(key, SslFiletype::PEM)
            .map_err(|e| format!("reading client key {:?}: {e}", key.display().to_string()))?;
        b.check_private_key().map_err(|e| format!("client key {:?} does not match {:?}: {e}", key.display().to_string(), cert.display().to_string()))?;
    }
    Ok(b.build())
}

/// A connector for one connection attempt over the shared `context`, and
/// where it records a refusal (its own, so that connections opened side by
/// side do not report each other's).
pub fn connector(settings: &Settings, context: &SslConnector) -> (MakeTlsConnector, Refusal) {
    let check = settings.check();
    let mut m = MakeTlsConnector::new(context.clone());
    let refusal = Refusal::default();
    let slot = refusal.clone();
    m.set_callback(move |cfg, _domain| {
        cfg.set_verify_hostname(check == Check::ChainAndHost);
        if check != Check::Nothing {
            let slot = slot.clone();
            cfg.set_verify_callback(SslVerifyMode::PEER, move |ok, ctx| {
                if !ok {
                    slot.set(explain(ctx));
                }
                ok
            });
        }
        Ok(())
    });
    (m, refusal)
}

/// "IP address mismatch; the certificate is for DNS:localhost".
fn explain(ctx: &X509StoreContextRef) -> String {
    let mut s = ctx.error().error_string().to_string();
    if let Some(cert) = ctx.current_cert() {
        let mut names: Vec<String> = Vec::new();
        if let Some(sans) = cert.subject_alt_names() {
            for n in &sans {
                if let Some(d) = n.dnsname() {
                    names.push(format!("DNS:{d}"));
                } else if let Some(ip) = n.ipaddress() {
                    let ip = match ip.len() {
                        4 => <[u8; 4]>::try_from(ip).map(|a| std::net::IpAddr::from(a).to_string()).ok(),
                        16 => <[u8; 16]>::try_from(ip).map(|a| std::net::IpAddr::from(a).to_string()).ok(),
                        _ => None,
                    };
                    names.push(format!("IP:{}", ip.unwrap_or_else(|| "?".into())));
                }
            }
        }
        if names.is_empty() {
            for e in cert.subject_name().entries_by_nid(openssl::nid::Nid::COMMONNAME) {
                if let Ok(cn) = e.data().to_string() {
                    names.push(format!("CN={cn}"));
                }
            }
        }
        if !names.is_empty() {
            s.push_str(&format!("; the certificate is for {}", names.join(", ")));
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(kv: &[(&str, &str)], env: &[(&str, &str)], home: Option<PathBuf>) -> Result<Settings, String> {
        let kv: Vec<(String, String)> = kv.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        let env: Vec<(String, String)> = env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        let get = |k: &str| kv.iter().find(|(a, _)| a == k).map(|(_, v)| v.clone());
        let env = |k: &str| env.iter().find(|(a, _)| a == k).map(|(_, v)| v.clone());
        Settings::resolve(&Sources { get: &get, env: &env, home })
    }

    #[test]
    fn modes_follow_libpq() {
        let dir = tempfile::tempdir().unwrap();
        let home = Some(dir.path().to_path_buf());
        let s = settings(&[], &[], home.clone()).unwrap();
        assert_eq!((s.mode, s.check()), (SslMode::Prefer, Check::Nothing));
        let s = settings(&[("sslmode", "require")], &[("PGSSLMODE", "disable")], home.clone()).unwrap();
        assert_eq!((s.mode, s.check()), (SslMode::Require, Check::Nothing));
        let s = settings(&[], &[("PGSSLMODE", "disable")], home.clone()).unwrap();
        assert!(!s.enabled());
        assert!(settings(&[("sslmode", "bogus")], &[], home.clone()).unwrap_err().contains("invalid sslmode"));
        let e = settings(&[("sslmode", "verify-full")], &[], home.clone()).unwrap_err();
        assert!(e.contains("root.crt") && e.contains("does not exist"), "{e}");
        let ca = dir.path().join("ca.pem");
        std::fs::write(&ca, "x").unwrap();
        let ca_s = ca.to_str().unwrap();
        let s = settings(&[("sslmode", "require"), ("sslrootcert", ca_s)], &[], home.clone()).unwrap();
        assert_eq!(s.check(), Check::Chain, "require with a root certificate is verify-ca");
        let s = settings(&[("sslmode", "verify-full")], &[("PGSSLROOTCERT", ca_s)], home.clone()).unwrap();
        assert_eq!(s.check(), Check::ChainAndHost);
        let s = settings(&[("sslrootcert", "system")], &[], home.clone()).unwrap();
        assert_eq!(s.mode, SslMode::VerifyFull);
        let e = settings(&[("sslrootcert", "system"), ("sslmode", "require")], &[], home.clone()).unwrap_err();
        assert!(e.contains("weak sslmode"), "{e}");
        assert!(settings(&[("sslcert", ca_s)], &[], home).unwrap_err().contains("both"));
    }
}
