//! `countersign user …` and `countersign token …`: people and their API tokens.

use std::io::{BufRead, IsTerminal};

use anyhow::{Context, bail};
use clap::Subcommand;
use countersign_core::user::{Role, validate_user_name};
use countersign_server::auth::{password, secret};
use countersign_store::Store;

/// Passwords shorter than this are refused.
const MIN_PASSWORD_CHARS: usize = 8;

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create a user
    Add {
        name: String,
        /// A role: author, reviewer or admin (repeat, or separate with commas)
        #[arg(long = "role", value_delimiter = ',', required = true)]
        roles: Vec<Role>,
        /// Read the password from standard input (a trailing newline is ignored)
        #[arg(long)]
        password_stdin: bool,
    },
    /// Disable a user: they can no longer sign in, and their sessions and tokens stop working
    Disable { name: String },
    /// Set a user's password
    Passwd {
        name: String,
        /// Read the password from standard input (a trailing newline is ignored)
        #[arg(long)]
        password_stdin: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Create an API token for USER; it is printed once, on the last line
    Create { user: String },
}

pub async fn user(store: &Store, cmd: UserCommand) -> anyhow::Result<()> {
    match cmd {
        UserCommand::Add {
            name,
            roles,
            password_stdin,
        } => {
            validate_user_name(&name).with_context(|| format!("cannot add user {name:?}"))?;
            let password = read_password(password_stdin)?;
            let hash = match password {
                Some(p) => Some(password::hash_blocking(p).await?),
                None => None,
            };
            let user = store
                .create_user(&name, &roles, hash.as_deref(), None)
                .await?;
            let roles: Vec<&str> = user.roles.iter().map(|r| r.as_str()).collect();
            println!("added user {} ({})", user.name, roles.join(", "));
            if hash.is_none() {
                println!(
                    "{} has no password: they can use API tokens only",
                    user.name
                );
            }
        }
        UserCommand::Disable { name } => {
            store.disable_user(&name, None).await?;
            println!("disabled user {name}");
        }
        UserCommand::Passwd {
            name,
            password_stdin,
        } => {
            let Some(password) = read_password(password_stdin)? else {
                bail!("no password given: use --password-stdin, or run in a terminal to be asked");
            };
            let hash = password::hash_blocking(password).await?;
            store.set_password_hash(&name, &hash, None).await?;
            println!("changed the password of {name}");
        }
    }
    Ok(())
}

pub async fn token(store: &Store, cmd: TokenCommand) -> anyhow::Result<()> {
    match cmd {
        TokenCommand::Create { user } => {
            let Some(found) = store.user_by_name(&user).await? else {
                bail!("user {user:?} not found");
            };
            if found.disabled {
                bail!("user {user:?} is disabled");
            }
            let token = secret::new_token();
            store
                .create_token(&found, &secret::hash(&token), None)
                .await?;
            eprintln!("Token for {user} (shown once; only its hash is stored):");
            println!("{token}");
        }
    }
    Ok(())
}

/// The password from standard input, or asked for twice without echo in a terminal, or `None`
/// when standard input is neither chosen nor a terminal.
fn read_password(from_stdin: bool) -> anyhow::Result<Option<String>> {
    let password = if from_stdin {
        let mut line = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut line)
            .context("cannot read the password from standard input")?;
        line.trim_end_matches(['\n', '\r']).to_owned()
    } else if std::io::stdin().is_terminal() {
        let first = rpassword::prompt_password("Password: ")?;
        let second = rpassword::prompt_password("Password again: ")?;
        if first != second {
            bail!("the two passwords differ");
        }
        first
    } else {
        return Ok(None);
    };
    if password.chars().count() < MIN_PASSWORD_CHARS {
        bail!("a password needs at least {MIN_PASSWORD_CHARS} characters");
    }
    Ok(Some(password))
}
