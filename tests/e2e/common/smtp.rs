//! A real SMTP server for the email tests: `aiosmtpd` from PyPI (`tests/e2e/smtp_server.py`),
//! started per test on a free port, delivering each message to a directory the test reads.
//! It refuses recipients whose address starts with `refused`. With [`TlsFiles`] (a private CA
//! and a certificate for 127.0.0.1 it signed, made by the `openssl` command for each test) it
//! offers STARTTLS or speaks TLS from the start; each stored message says how it came in
//! ([`Mail::tls`]).
//!
//! Skipped, saying so, when aiosmtpd is not installed — unless `COUNTERSIGN_TEST_SMTP` is set
//! (`.ci/run` installs it and sets it), which makes a missing server a failure.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct SmtpServer {
    pub url: String,
    dir: tempfile::TempDir,
    child: Child,
}

/// One delivered message: its recipient and its text (quoted-printable soft breaks undone).
#[derive(Debug, Clone)]
pub struct Mail {
    pub to: String,
    pub raw: String,
}

impl Mail {
    /// The notification's event, from the text part's "Event:" line.
    pub fn event(&self) -> String {
        self.raw
            .lines()
            .find_map(|l| l.strip_prefix("Event:"))
            .map(|rest| rest.split_whitespace().next().unwrap_or("").to_owned())
            .unwrap_or_default()
    }

    /// How the message came in, as the server saw it: `none`, `starttls TLSv1.3`,
    /// `implicit TLSv1.3`.
    pub fn tls(&self) -> String {
        self.header("X-Test-TLS").unwrap_or_default()
    }

    pub fn header(&self, name: &str) -> Option<String> {
        let prefix = format!("{}:", name.to_ascii_lowercase());
        self.raw
            .lines()
            .find(|l| l.to_ascii_lowercase().starts_with(&prefix))
            .map(|l| l[prefix.len()..].trim().to_owned())
    }
}

/// How the server speaks TLS.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServerTls {
    /// Offers STARTTLS on a plain connection (`smtp://`).
    StartTls,
    /// TLS from the first byte (`smtps://`).
    Implicit,
}

/// A private CA (`ca`) and a certificate it signed for 127.0.0.1 and localhost (`cert`, `key`),
/// all PEM, in a directory of their own.
pub struct TlsFiles {
    pub ca: PathBuf,
    pub cert: PathBuf,
    pub key: PathBuf,
    _dir: tempfile::TempDir,
}

impl TlsFiles {
    /// Made with the `openssl` command; `None` (saying so) when it is missing, unless
    /// `COUNTERSIGN_TEST_SMTP` is set.
    pub fn generate() -> Option<TlsFiles> {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = |name: &str| dir.path().join(name);
        let openssl = |args: &[&str]| {
            Command::new("openssl")
                .args(args)
                .current_dir(dir.path())
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .output()
        };
        let steps: [&[&str]; 3] = [
            &[
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-keyout",
                "ca.key",
                "-out",
                "ca.pem",
                "-days",
                "2",
                "-subj",
                "/CN=Countersign test CA",
                "-addext",
                "basicConstraints=critical,CA:TRUE",
                "-addext",
                "keyUsage=critical,keyCertSign,cRLSign",
            ],
            &[
                "req",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-keyout",
                "server.key",
                "-out",
                "server.csr",
                "-subj",
                "/CN=127.0.0.1",
            ],
            &[
                "x509",
                "-req",
                "-in",
                "server.csr",
                "-CA",
                "ca.pem",
                "-CAkey",
                "ca.key",
                "-CAcreateserial",
                "-out",
                "server.pem",
                "-days",
                "2",
                "-extfile",
                "ext.cnf",
            ],
        ];
        std::fs::write(
            path("ext.cnf"),
            "basicConstraints=CA:FALSE\n\
             keyUsage=critical,digitalSignature,keyEncipherment\n\
             extendedKeyUsage=serverAuth\n\
             subjectAltName=IP:127.0.0.1,DNS:localhost\n",
        )
        .expect("ext.cnf");
        for args in steps {
            match openssl(args) {
                Ok(out) if out.status.success() => {}
                Ok(out) => panic!(
                    "openssl {args:?} failed: {}",
                    String::from_utf8_lossy(&out.stderr)
                ),
                Err(e) => {
                    assert!(
                        std::env::var_os("COUNTERSIGN_TEST_SMTP").is_none(),
                        "COUNTERSIGN_TEST_SMTP is set, but openssl cannot run: {e}"
                    );
                    eprintln!("skipped: the openssl command cannot run ({e})");
                    return None;
                }
            }
        }
        Some(TlsFiles {
            ca: path("ca.pem"),
            cert: path("server.pem"),
            key: path("server.key"),
            _dir: dir,
        })
    }
}

/// Whether aiosmtpd can be imported; panics when it cannot and `COUNTERSIGN_TEST_SMTP` is set.
fn aiosmtpd_available() -> bool {
    let available = Command::new("python3")
        .args(["-c", "import aiosmtpd"])
        .status()
        .is_ok_and(|s| s.success());
    if !available {
        assert!(
            std::env::var_os("COUNTERSIGN_TEST_SMTP").is_none(),
            "COUNTERSIGN_TEST_SMTP is set, but aiosmtpd is not installed \
             (python3 -m pip install aiosmtpd)"
        );
        eprintln!("skipped: aiosmtpd is not installed (python3 -m pip install aiosmtpd)");
    }
    available
}

impl SmtpServer {
    /// A plain server (`smtp://`, no STARTTLS).
    pub fn start() -> Option<SmtpServer> {
        SmtpServer::spawn(None)
    }

    /// A server speaking TLS with `files`' certificate: `smtp://` offering STARTTLS, or
    /// `smtps://`.
    pub fn start_tls(tls: ServerTls, files: &TlsFiles) -> Option<SmtpServer> {
        SmtpServer::spawn(Some((tls, files)))
    }

    fn spawn(tls: Option<(ServerTls, &TlsFiles)>) -> Option<SmtpServer> {
        if !aiosmtpd_available() {
            return None;
        }
        let dir = tempfile::tempdir().expect("tempdir");
        let addr = super::free_addr();
        let port = addr.rsplit(':').next().expect("port").to_owned();
        let script =
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/e2e/smtp_server.py");
        let mut command = Command::new("python3");
        command.arg(script).arg(&port).arg(dir.path());
        let scheme = match tls {
            None => "smtp",
            Some((mode, files)) => {
                let (arg, scheme) = match mode {
                    ServerTls::StartTls => ("starttls", "smtp"),
                    ServerTls::Implicit => ("smtps", "smtps"),
                };
                command.arg(arg).arg(&files.cert).arg(&files.key);
                scheme
            }
        };
        let mut child = command
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start the SMTP server");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("stdout"))
            .read_line(&mut line)
            .expect("the SMTP server's first line");
        assert_eq!(line.trim(), "ready", "the SMTP server did not start");
        Some(SmtpServer {
            url: format!("{scheme}://127.0.0.1:{port}"),
            dir,
            child,
        })
    }

    /// Every message delivered so far, in the order they arrived.
    pub fn mails(&self) -> Vec<Mail> {
        let mut names: Vec<String> = std::fs::read_dir(self.dir.path())
            .expect("read the mailbox")
            .filter_map(|e| e.ok()?.file_name().into_string().ok())
            .filter(|n| n.ends_with(".eml"))
            .collect();
        names.sort();
        names
            .into_iter()
            .map(|n| {
                let raw = std::fs::read_to_string(self.dir.path().join(&n)).expect("mail");
                let to = n
                    .split_once('-')
                    .map(|(_, rest)| rest.trim_end_matches(".eml").to_owned())
                    .unwrap_or_default();
                Mail {
                    to,
                    raw: raw
                        .replace("=\r\n", "")
                        .replace("=\n", "")
                        .replace("=3D", "="),
                }
            })
            .collect()
    }

    /// Waits up to `within` until `n` messages were delivered.
    pub async fn wait_for(&self, n: usize, within: Duration) -> Vec<Mail> {
        let end = Instant::now() + within;
        loop {
            let got = self.mails();
            if got.len() >= n || Instant::now() > end {
                return got;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
