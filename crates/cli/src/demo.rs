//! `countersign demo`: everything a newcomer needs in `./countersign-demo/` — a configuration
//! file, a SQLite store, a SQLite target `demo-shop` with sample data, and demo users whose
//! passwords are generated once and kept beside the store — then serves it. The directory is
//! mode 0700 and every file in it 0600 (SQLite gives its journal files the database's mode).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;

use anyhow::Context;
use countersign_core::user::Role;
use countersign_server::auth::{password, secret};
use countersign_server::config::{self, Config};
use countersign_store::Store;
use sqlx::{Connection, SqliteConnection};

/// The demo's people: a name and the roles they hold.
const USERS: [(&str, &[Role]); 4] = [
    ("alice", &[Role::Author]),
    ("bob", &[Role::Reviewer]),
    ("carol", &[Role::Reviewer]),
    ("admin", &[Role::Admin]),
];

const CREDENTIALS_FILE: &str = "credentials.txt";
const CONFIG_FILE: &str = "countersign.toml";
const SHOP_FILE: &str = "demo-shop.db";
const STORE_FILE: &str = "countersign.db";

pub async fn run(config_path: Option<&Path>, listen: SocketAddr, dir: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let dir = dir.canonicalize()?;
    restrict(&dir, 0o700)?;
    let shop = dir.join(SHOP_FILE);
    let demo_config = dir.join(CONFIG_FILE);
    if !demo_config.exists() {
        std::fs::write(&demo_config, demo_config_text(&dir, listen))
            .with_context(|| format!("cannot write {}", demo_config.display()))?;
    }
    restrict(&demo_config, 0o600)?;
    // The store: created empty and private before SQLite opens it.
    private_file(&dir.join(STORE_FILE))?;
    let mut config = Config::load(
        Some(config_path.unwrap_or(&demo_config)),
        &config::process_env,
    )
    .context("invalid configuration")?;
    config.server.listen = listen;

    if !shop.exists() {
        create_shop(&shop).await?;
    }
    let store = Store::open(&config.store.url).await?;
    let credentials = ensure_users(&store, &dir.join(CREDENTIALS_FILE)).await?;

    println!("Countersign demo in {}", dir.display());
    println!("  configuration: {}", demo_config.display());
    println!("  target demo-shop: SQLite, customers / products / orders / order_items");
    println!("  users (user name, password):");
    for (name, roles) in USERS {
        let roles: Vec<&str> = roles.iter().map(|r| r.as_str()).collect();
        let pw = credentials.get(name).map(String::as_str).unwrap_or("?");
        println!("    {name:<6} {pw}   ({})", roles.join(", "));
    }
    println!("Open http://{listen}/ and sign in. Stop with Ctrl-C.");
    crate::serve::run(config).await
}

fn demo_config_text(dir: &Path, listen: SocketAddr) -> String {
    let store = dir.join(STORE_FILE);
    let shop = dir.join(SHOP_FILE);
    format!(
        "# Written by `countersign demo`; serve it again with\n\
         #   countersign serve --config {config}\n\n\
         [server]\nlisten = \"{listen}\"\n\n\
         [store]\nurl = \"sqlite://{store}\"\n\n\
         [[target]]\nname = \"demo-shop\"\ndriver = \"sqlite\"\nurl = \"sqlite://{shop}\"\n\
         approvals = {{ low = 1, medium = 1, high = 2 }}\nstatement_timeout = \"30s\"\n\
         lock_timeout = \"5s\"\nblocked_rules = [\"drop-database\"]\n",
        config = dir.join(CONFIG_FILE).display(),
        store = store.display(),
        shop = shop.display(),
    )
}

/// Creates every demo user that is missing and any password not yet recorded; returns the
/// passwords by user name.
async fn ensure_users(store: &Store, file: &Path) -> anyhow::Result<BTreeMap<String, String>> {
    let mut known = read_credentials(file)?;
    for (name, roles) in USERS {
        let user = store.user_by_name(name).await?;
        if user.is_some() && known.contains_key(name) {
            continue;
        }
        let pw: String = secret::random_secret()
            .chars()
            .filter(char::is_ascii_alphanumeric)
            .take(16)
            .collect();
        let hash = password::hash_blocking(pw.clone()).await?;
        match user {
            Some(_) => store.set_password_hash(name, &hash, None).await?,
            None => {
                store.create_user(name, roles, Some(&hash), None).await?;
            }
        }
        known.insert(name.to_owned(), pw);
    }
    write_credentials(file, &known)?;
    Ok(known)
}

fn read_credentials(file: &Path) -> anyhow::Result<BTreeMap<String, String>> {
    match std::fs::read_to_string(file) {
        Ok(text) => Ok(text
            .lines()
            .filter(|l| !l.starts_with('#'))
            .filter_map(|l| l.split_once(' '))
            .map(|(n, p)| (n.to_owned(), p.trim().to_owned()))
            .collect()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(BTreeMap::new()),
        Err(e) => Err(e).with_context(|| format!("cannot read {}", file.display())),
    }
}

fn write_credentials(file: &Path, known: &BTreeMap<String, String>) -> anyhow::Result<()> {
    let mut text =
        String::from("# Demo users: user name, password. Generated by `countersign demo`.\n");
    for (name, pw) in known {
        text.push_str(&format!("{name} {pw}\n"));
    }
    private_file(file)?;
    std::fs::write(file, text).with_context(|| format!("cannot write {}", file.display()))?;
    Ok(())
}

/// Creates `path` empty if it is missing, and makes it readable and writable by its owner only.
fn private_file(path: &Path) -> anyhow::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.create(true).append(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options
        .open(path)
        .with_context(|| format!("cannot create {}", path.display()))?;
    restrict(path, 0o600)
}

/// Sets the permission bits of `path` (Unix only; elsewhere a no-op).
fn restrict(path: &Path, mode: u32) -> anyhow::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
            .with_context(|| format!("cannot restrict {}", path.display()))?;
    }
    #[cfg(not(unix))]
    let _ = (path, mode);
    Ok(())
}

/// Builds the demo shop (240 customers, 60 products, 800 orders with their items) in a
/// temporary file that becomes `path` only once complete, so a failure leaves nothing behind.
async fn create_shop(path: &Path) -> anyhow::Result<()> {
    let partial = path.with_extension("partial");
    let _ = std::fs::remove_file(&partial);
    private_file(&partial)?;
    fill_shop(&partial)
        .await
        .context("cannot create the demo shop")?;
    std::fs::rename(&partial, path)?;
    Ok(())
}

async fn fill_shop(path: &Path) -> anyhow::Result<()> {
    let url = format!("sqlite://{}?mode=rwc", path.display());
    let mut conn = SqliteConnection::connect(&url).await?;
    let mut tx = conn.begin().await?;
    sqlx::raw_sql(include_str!("demo_shop.sql"))
        .execute(&mut *tx)
        .await?;
    let mut rng = Lcg(0x5eed);
    for id in 1..=240_i64 {
        let first = FIRST[rng.below(FIRST.len())];
        let last = LAST[rng.below(LAST.len())];
        sqlx::query("INSERT INTO customers (id, name, email, country, created_at) VALUES ($1, $2, $3, $4, $5)")
            .bind(id)
            .bind(format!("{first} {last}"))
            .bind(format!("{}.{}{id}@example.com", first.to_lowercase(), last.to_lowercase()))
            .bind(COUNTRIES[rng.below(COUNTRIES.len())])
            .bind(format!("2025-{:02}-{:02}T10:00:00Z", 1 + rng.below(12), 1 + rng.below(28)))
            .execute(&mut *tx)
            .await?;
    }
    let mut prices = Vec::new();
    for (i, (name, base)) in PRODUCTS.iter().enumerate() {
        for (v, variant) in ["S", "M", "L"].iter().enumerate() {
            let id = (i * 3 + v + 1) as i64;
            let price = *base + 200 * v as i64;
            prices.push(price);
            sqlx::query("INSERT INTO products (id, sku, name, price_cents, stock) VALUES ($1, $2, $3, $4, $5)")
                .bind(id)
                .bind(format!("SKU-{id:04}-{variant}"))
                .bind(format!("{name} ({variant})"))
                .bind(price)
                .bind(rng.below(120) as i64)
                .execute(&mut *tx)
                .await?;
        }
    }
    for id in 1..=800_i64 {
        let mut items: Vec<(i64, i64, i64)> = Vec::new();
        for _ in 0..1 + rng.below(3) {
            let product = 1 + rng.below(prices.len());
            if items.iter().any(|(p, _, _)| *p == product as i64) {
                continue;
            }
            items.push((product as i64, 1 + rng.below(4) as i64, prices[product - 1]));
        }
        let total: i64 = items.iter().map(|(_, q, price)| q * price).sum();
        sqlx::query("INSERT INTO orders (id, customer_id, status, total_cents, created_at) VALUES ($1, $2, $3, $4, $5)")
            .bind(id)
            .bind(1 + rng.below(240) as i64)
            .bind(STATUSES[rng.below(STATUSES.len())])
            .bind(total)
            .bind(format!("2026-{:02}-{:02}T{:02}:{:02}:00Z", 1 + rng.below(11), 1 + rng.below(28), rng.below(24), rng.below(60)))
            .execute(&mut *tx)
            .await?;
        for (product, quantity, price) in items {
            sqlx::query("INSERT INTO order_items (order_id, product_id, quantity, price_cents) VALUES ($1, $2, $3, $4)")
                .bind(id)
                .bind(product)
                .bind(quantity)
                .bind(price)
                .execute(&mut *tx)
                .await?;
        }
    }
    tx.commit().await?;
    conn.close().await?;
    Ok(())
}

/// A tiny deterministic generator, so every demo shop holds the same data.
struct Lcg(u64);

impl Lcg {
    fn below(&mut self, n: usize) -> usize {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((self.0 >> 33) % n as u64) as usize
    }
}

const FIRST: [&str; 16] = [
    "Ada", "Bram", "Chiara", "Dmitri", "Elif", "Farid", "Grace", "Hiroshi", "Ines", "Jonas",
    "Kwame", "Lena", "Mateo", "Nadia", "Oskar", "Priya",
];
const LAST: [&str; 16] = [
    "Okafor", "Jansen", "Rossi", "Ivanov", "Yilmaz", "Haddad", "Hopper", "Tanaka", "Garcia",
    "Berg", "Mensah", "Schulz", "Lopez", "Rahman", "Nilsson", "Iyer",
];
const COUNTRIES: [&str; 8] = ["DE", "FR", "NL", "IT", "ES", "SE", "GB", "US"];
const STATUSES: [&str; 8] = [
    "pending",
    "paid",
    "paid",
    "shipped",
    "delivered",
    "delivered",
    "cancelled",
    "payment_failed",
];
const PRODUCTS: [(&str, i64); 20] = [
    ("Linen shirt", 3900),
    ("Wool socks", 1200),
    ("Rain jacket", 8900),
    ("Canvas tote", 1900),
    ("Running shoes", 9900),
    ("Denim jeans", 6900),
    ("Cotton tee", 1900),
    ("Knit beanie", 1500),
    ("Leather belt", 3500),
    ("Hoodie", 4900),
    ("Chino shorts", 3900),
    ("Silk scarf", 2900),
    ("Puffer vest", 7900),
    ("Swim shorts", 2900),
    ("Trail cap", 2200),
    ("Fleece pullover", 5900),
    ("Gym bag", 4500),
    ("Sun hat", 2500),
    ("Gloves", 1900),
    ("Pyjamas", 3900),
];
