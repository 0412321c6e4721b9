//! The benchmark script: a deterministic PostgreSQL edit script of mixed, realistic DML and DDL
//! (UPDATE, DELETE, INSERT, ALTER TABLE, CREATE INDEX), 10,000 statements and about 1 MB.
//!
//! Shared by the criterion bench (`benches/analyze.rs`) and the `gen_script` example, which
//! writes it out for `benches/check_vs_squawk.sh`, so both measure the same text.

/// The number of statements in the benchmark script.
pub const STATEMENTS: usize = 10_000;

/// A small deterministic generator (SplitMix64), so the script is the same on every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len() as u64) as usize]
    }
}

const TABLES: &[&str] = &[
    "orders",
    "order_items",
    "customers",
    "products",
    "invoices",
    "shipments",
    "payments",
    "app.accounts",
];
const STATUSES: &[&str] = &[
    "pending",
    "paid",
    "shipped",
    "refunded",
    "cancelled",
    "on_hold",
];
const NAMES: &[&str] = &[
    "alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi",
];
const COLUMNS: &[&str] = &[
    "status",
    "note",
    "updated_by",
    "region",
    "channel",
    "priority",
];

/// The whole script, `;`-terminated statements one per line (some with a comment line).
pub fn postgres_script() -> String {
    let mut rng = Rng(0x00C0_FFEE);
    let mut sql = String::with_capacity(1_100_000);
    for i in 0..STATEMENTS {
        if rng.below(10) == 0 {
            sql.push_str(&format!(
                "-- ticket OPS-{}: requested by {}\n",
                1000 + i,
                rng.pick(NAMES)
            ));
        }
        let table = rng.pick(TABLES);
        let id = rng.below(9_000_000) + 1;
        let statement = match rng.below(100) {
            0..=29 => format!(
                "UPDATE {table} SET status = '{}', updated_at = now() WHERE id = {id} AND status <> 'archived';",
                rng.pick(STATUSES)
            ),
            30..=39 => format!(
                "UPDATE products SET stock = stock - {} WHERE id IN (SELECT product_id FROM order_items WHERE order_id = {id});",
                rng.below(5) + 1
            ),
            40..=54 => format!(
                "DELETE FROM {table} WHERE id = {id} AND created_at < '2024-{:02}-{:02} 00:00:00';",
                rng.below(12) + 1,
                rng.below(28) + 1
            ),
            55..=79 => format!(
                "INSERT INTO audit_log (id, actor, action, created_at) VALUES ({id}, '{}', 'correct {} of {table}', '2024-05-{:02} 10:{:02}:00');",
                rng.pick(NAMES),
                rng.pick(COLUMNS),
                rng.below(28) + 1,
                rng.below(60)
            ),
            80..=89 => format!(
                "ALTER TABLE {table} ADD COLUMN IF NOT EXISTS {}_{i} varchar(64) DEFAULT 'n/a';",
                rng.pick(COLUMNS)
            ),
            _ => format!(
                "CREATE INDEX IF NOT EXISTS idx_{}_{i} ON {table} ({}, created_at);",
                table.replace('.', "_"),
                rng.pick(COLUMNS)
            ),
        };
        sql.push_str(&statement);
        sql.push('\n');
    }
    sql
}

/// [`postgres_script`] repeated up to 4 MiB (the most a server accepts by default,
/// `server.max_sql_bytes`), cut at a line.
#[allow(
    dead_code,
    reason = "the gen_script example includes this file for the script alone"
)]
pub fn postgres_script_4mib() -> String {
    let one = postgres_script();
    let limit = 4 * 1024 * 1024;
    let mut sql = String::with_capacity(limit);
    'fill: loop {
        for line in one.split_inclusive('\n') {
            if sql.len() + line.len() > limit {
                break 'fill;
            }
            sql.push_str(line);
        }
    }
    sql
}
