//! The end-to-end tests of the built product, one binary (as crates.io keeps them): a real
//! server on a real port over a fresh store, the `countersign` binary, real PostgreSQL and
//! MariaDB targets when `COUNTERSIGN_TEST_POSTGRES_URL` / `COUNTERSIGN_TEST_MYSQL_URL` are set,
//! and headless Chromium. One module a concern; the harness is `common`.

mod common;

mod admin;
mod anchor;
mod audit;
mod auth;
mod browser;
mod cli;
mod comments;
mod dashboard;
mod email;
mod execution;
mod expiry;
mod hygiene;
mod large;
mod leaks;
mod notify;
mod pages;
mod rehearsal;
mod requests_api;
mod undo;
