//! The `countersign` binary as a process of its own: started on a free port over a
//! configuration file, killed (SIGKILL) and restarted by the tests of crashes.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// The `countersign` binary serving `config`, with its output discarded.
pub fn spawn_server(config: &Path, listen: &str, extra_env: &[(&str, &str)]) -> Child {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_countersign"));
    cmd.args(["serve", "--config"])
        .arg(config)
        .env("COUNTERSIGN_SERVER_LISTEN", listen)
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    for (k, v) in extra_env {
        cmd.env(k, v);
    }
    cmd.spawn().expect("spawn countersign serve")
}

pub fn free_addr() -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr").to_string()
}

pub async fn wait_up(base: &str) {
    countersign_server::notify::install_tls();
    for _ in 0..200 {
        if reqwest::get(format!("{base}/healthz"))
            .await
            .is_ok_and(|r| r.status().is_success())
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{base} did not come up");
}

pub fn write_config(dir: &Path, store_url: &str, targets: &str) -> PathBuf {
    let path = dir.join("countersign.toml");
    std::fs::write(&path, format!("[store]\nurl = \"{store_url}\"\n{targets}")).expect("config");
    path
}
