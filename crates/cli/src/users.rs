//! `countersign user …` and `countersign token …`: people and their API tokens.

use std::io::{BufRead, IsTerminal};

use anyhow::{Context, bail};
use clap::Subcommand;
use countersign_core::timestamp;
use countersign_core::user::{Role, validate_password, validate_user_name};
use countersign_server::auth::{password, secret};
use countersign_store::Store;

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
        /// Where Countersign emails them (notifications)
        #[arg(long, value_name = "ADDR")]
        email: Option<String>,
    },
    /// Set NAME's email address (notifications); "" clears it
    Email { name: String, address: String },
    /// Disable a user: they can no longer sign in, and their sessions and tokens stop working
    Disable { name: String },
    /// Enable a disabled user again: they can sign in, and their tokens work again
    Enable { name: String },
    /// Give or take away roles (every session of the user ends)
    Role {
        name: String,
        /// A role to give: author, reviewer or admin (repeat, or separate with commas)
        #[arg(long = "add", value_delimiter = ',')]
        add: Vec<Role>,
        /// A role to take away (repeat, or separate with commas)
        #[arg(long = "remove", value_delimiter = ',')]
        remove: Vec<Role>,
    },
    /// List the users, their roles and whether they are disabled
    List,
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
    Create {
        user: String,
        /// How long the token works (e.g. 90d, 12h); without it, until revoked
        #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration)]
        expires: Option<std::time::Duration>,
    },
    /// List USER's tokens: id, created, last used, expiry and state (never the token)
    List { user: String },
    /// Revoke token ID (from `token list`): it stops working at once
    Revoke { id: i64 },
}

pub async fn user(store: &Store, cmd: UserCommand) -> anyhow::Result<()> {
    match cmd {
        UserCommand::Add {
            name,
            roles,
            password_stdin,
            email,
        } => {
            validate_user_name(&name).with_context(|| format!("cannot add user {name:?}"))?;
            let email = email
                .as_deref()
                .map(countersign_core::email::validate_email)
                .transpose()
                .with_context(|| format!("cannot add user {name:?}"))?;
            let password = read_password(password_stdin)?;
            let hash = match password {
                Some(p) => Some(password::hash_blocking(p).await?),
                None => None,
            };
            let user = store
                .create_user(&name, &roles, hash.as_deref(), None)
                .await?;
            if let Some(email) = &email {
                store.set_email(&user.name, Some(email)).await?;
            }
            println!("added user {} ({})", user.name, role_list(&user.roles));
            if hash.is_none() {
                println!(
                    "{} has no password: they can use API tokens only",
                    user.name
                );
            }
        }
        UserCommand::Email { name, address } => {
            if address.trim().is_empty() {
                store.set_email(&name, None).await?;
                println!("{name} has no email address now");
            } else {
                let email = countersign_core::email::validate_email(&address)?;
                store.set_email(&name, Some(&email)).await?;
                println!("{name}'s email address is {email}");
            }
        }
        UserCommand::Disable { name } => {
            store.disable_user(&name, None).await?;
            println!("disabled user {name}");
        }
        UserCommand::Enable { name } => {
            if store.enable_user(&name, None).await? {
                println!("enabled user {name}");
            } else {
                println!("user {name} is not disabled; nothing changed");
            }
        }
        UserCommand::Role { name, add, remove } => {
            if add.is_empty() && remove.is_empty() {
                bail!("say which roles to --add or --remove");
            }
            if let Some(both) = add.iter().find(|r| remove.contains(r)) {
                bail!("role {both} is both added and removed");
            }
            let user = store.change_roles(&name, &add, &remove, None).await?;
            println!("{} now has roles: {}", user.name, role_list(&user.roles));
        }
        UserCommand::List => {
            for user in store.list_users().await? {
                let state = if user.disabled { "disabled" } else { "active" };
                println!("{}\t{}\t{state}", user.name, role_list(&user.roles));
            }
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
        TokenCommand::Create { user, expires } => {
            let Some(found) = store.user_by_name(&user).await? else {
                bail!("user {user:?} not found");
            };
            if found.disabled {
                bail!("user {user:?} is disabled");
            }
            let expires_at = expires
                .map(|d| {
                    time::Duration::try_from(d)
                        .ok()
                        .and_then(|d| timestamp::now().checked_add(d))
                        .context("the expiry is too far away")
                })
                .transpose()?;
            let token = secret::new_token();
            let id = store
                .create_expiring_token(&found, &secret::hash(&token), expires_at, None)
                .await?;
            let until = expires_at.map_or("until revoked".to_owned(), |t| {
                format!("until {}", timestamp::format(t))
            });
            eprintln!("Token {id} for {user}, {until} (shown once; only its hash is stored):");
            println!("{token}");
        }
        TokenCommand::List { user } => {
            if store.user_by_name(&user).await?.is_none() {
                bail!("user {user:?} not found");
            }
            let now = timestamp::now();
            println!("ID\tCREATED\tLAST USED\tEXPIRES\tSTATE");
            for t in store.list_tokens(Some(&user)).await? {
                let show = |t: Option<time::OffsetDateTime>, none: &str| {
                    t.map_or_else(|| none.to_owned(), timestamp::format)
                };
                let state = if t.revoked_at.is_some() {
                    "revoked"
                } else if t.is_live(now) {
                    "active"
                } else {
                    "expired"
                };
                println!(
                    "{}\t{}\t{}\t{}\t{state}",
                    t.id,
                    timestamp::format(t.created_at),
                    show(t.last_used_at, "never"),
                    show(t.expires_at, "never"),
                );
            }
        }
        TokenCommand::Revoke { id } => {
            let t = store.revoke_token(id, None).await?;
            println!("revoked token {} of {}", t.id, t.user);
        }
    }
    Ok(())
}

fn role_list(roles: &[Role]) -> String {
    roles
        .iter()
        .map(|r| r.as_str())
        .collect::<Vec<_>>()
        .join(", ")
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
    validate_password(&password)?;
    Ok(Some(password))
}
