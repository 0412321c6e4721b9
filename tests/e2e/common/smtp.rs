//! A real SMTP server for the email tests: `aiosmtpd` from PyPI (`tests/e2e/smtp_server.py`),
//! started per test on a free port, delivering each message to a directory the test reads.
//! It refuses recipients whose address starts with `refused`.
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

    pub fn header(&self, name: &str) -> Option<String> {
        let prefix = format!("{}:", name.to_ascii_lowercase());
        self.raw
            .lines()
            .find(|l| l.to_ascii_lowercase().starts_with(&prefix))
            .map(|l| l[prefix.len()..].trim().to_owned())
    }
}

impl SmtpServer {
    pub fn start() -> Option<SmtpServer> {
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
            return None;
        }
        let dir = tempfile::tempdir().expect("tempdir");
        let addr = super::free_addr();
        let port = addr.rsplit(':').next().expect("port").to_owned();
        let script =
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/e2e/smtp_server.py");
        let mut child = Command::new("python3")
            .arg(script)
            .arg(&port)
            .arg(dir.path())
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
            url: format!("smtp://127.0.0.1:{port}"),
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
