//! Removing a connection URL's secrets from messages before they leave the executor.
//!
//! Database drivers and servers echo parts of the URL in their errors (`password
//! authentication failed for user "app"`, `Access denied for user 'app'@'10.0.0.7'`, a URL in a
//! configuration error). [`scrub`] replaces, in one pass over the original message:
//!
//! - the whole URL, anywhere;
//! - the password (as written and percent-decoded), anywhere — also when it is passed as a query
//!   parameter (`?password=…`), and also inside longer words, because a password must never
//!   survive even when that garbles a message;
//! - `user@host`, `user:password@host…` forms, anywhere;
//! - `host:port`, the user name, the host name and the database name where they stand as whole
//!   words, in any letter case, as written and reversed (MySQL's `reverse(user())`), and the user
//!   name in hex (`encode(current_user::bytea, 'hex')`);
//! - the user, host or database name (or its reverse) inside a quoted value (`"…"`, `'…'`) even
//!   within a longer word (`CAST(current_user || 'x' AS int)` gives `… "app_userx"`);
//! - every IP address (`inet_server_addr()`, `@@hostname` resolved, `user()`'s client part): the
//!   target's address may differ from its host name, and no run needs to show an address.
//!
//! Matches are found in the original message and merged, so a replacement is never itself
//! rewritten by a later one. The user and host names are replaced within longer words only
//! inside quotes, so that a table called `app_users` survives a user called `app_user`.
//!
//! This is a last line of defence, not a guarantee: SQL that spells a secret out one character
//! at a time gets it past any scrubber. What stops that is the review of the SQL.

use std::borrow::Cow;

const URL: &str = "[redacted url]";
const CREDENTIAL: &str = "[redacted]";
const USER: &str = "[redacted user]";
const HOST: &str = "[redacted host]";
const DATABASE: &str = "[redacted database]";
const ADDRESS: &str = "[redacted address]";
/// Names shorter than this are only replaced as whole words, never inside quoted values.
const MIN_NAME_IN_VALUE: usize = 3;

/// Query parameters whose values are passwords.
const PASSWORD_PARAMS: &[&str] = &["password", "pass", "pwd", "sslpassword"];
/// Query parameters whose values are user names.
const USER_PARAMS: &[&str] = &["user", "username"];
/// Query parameters whose values are database names.
const DATABASE_PARAMS: &[&str] = &["dbname", "database"];

/// `message` with every secret of `url` replaced by a placeholder (see the module
/// documentation for what counts as a secret).
pub fn scrub(message: &str, url: &str) -> String {
    let (secrets, names) = Secret::all_of(url);
    let lower = message.to_ascii_lowercase();
    let mut matches: Vec<Match> = secrets
        .iter()
        .flat_map(|secret| secret.find_in(message, &lower))
        .collect();
    matches.extend(names_in_quoted_values(&lower, &names));
    matches.extend(ip_addresses(message));
    matches.sort_by_key(|m| (m.start, std::cmp::Reverse(m.end)));
    replace(message, &matches)
}

/// One text to hide and how.
#[derive(Debug, PartialEq, Eq)]
struct Secret {
    text: String,
    /// Only where it stands as a whole word (between characters that cannot be part of a
    /// user or host name), and then in any ASCII letter case (`text` is lower-case).
    whole_word: bool,
    replacement: &'static str,
}

/// Where a secret occurs in the message.
#[derive(Debug, Clone, Copy)]
struct Match {
    start: usize,
    end: usize,
    replacement: &'static str,
}

impl Secret {
    fn anywhere(text: impl Into<String>, replacement: &'static str) -> Self {
        Self {
            text: text.into(),
            whole_word: false,
            replacement,
        }
    }

    fn whole_word(text: impl Into<String>, replacement: &'static str) -> Self {
        Self {
            text: text.into().to_ascii_lowercase(),
            whole_word: true,
            replacement,
        }
    }

    /// Every secret of `url`, each text as written and, where it differs, percent-decoded; and
    /// the names (lower-case, with their replacement) to find inside quoted values too.
    fn all_of(url: &str) -> (Vec<Secret>, Vec<(String, &'static str)>) {
        let parts = UrlParts::parse(url);
        let mut secrets = vec![Secret::anywhere(url, URL)];
        let users: Vec<String> = parts.users.iter().flat_map(|u| spellings(u)).collect();
        let passwords: Vec<String> = parts.passwords.iter().flat_map(|p| spellings(p)).collect();
        if !parts.userinfo.is_empty() {
            secrets.push(Secret::anywhere(
                format!("{}@{}", parts.userinfo, parts.host_port),
                CREDENTIAL,
            ));
        }
        for user in &users {
            secrets.push(Secret::anywhere(
                format!("{user}@{}", parts.host),
                CREDENTIAL,
            ));
            secrets.push(Secret::whole_word(user.clone(), USER));
        }
        secrets.extend(
            passwords
                .into_iter()
                .map(|p| Secret::anywhere(p, CREDENTIAL)),
        );
        if parts.host_port != parts.host {
            secrets.push(Secret::whole_word(parts.host_port, HOST));
        }
        let databases: Vec<String> = parts.databases.iter().flat_map(|d| spellings(d)).collect();
        let mut names: Vec<(String, &'static str)> =
            users.iter().map(|u| (u.clone(), USER)).collect();
        names.push((parts.host.clone(), HOST));
        names.extend(databases.into_iter().map(|d| (d, DATABASE)));
        for (name, replacement) in &names {
            secrets.push(Secret::whole_word(name.clone(), replacement));
            let reversed: String = name.chars().rev().collect();
            if name.chars().count() >= MIN_NAME_IN_VALUE && reversed != *name {
                secrets.push(Secret::whole_word(reversed, replacement));
            }
        }
        for user in &users {
            if user.len() >= MIN_NAME_IN_VALUE {
                secrets.push(Secret::whole_word(hex(user), USER));
            }
        }
        secrets.retain(|secret| !secret.text.is_empty());
        let mut in_values = Vec::new();
        for (name, replacement) in names {
            if name.chars().count() < MIN_NAME_IN_VALUE {
                continue;
            }
            let name = name.to_ascii_lowercase();
            in_values.push((name.chars().rev().collect(), replacement));
            in_values.push((name, replacement));
        }
        (secrets, in_values)
    }

    fn find_in<'m>(&'m self, message: &'m str, lower: &'m str) -> impl Iterator<Item = Match> + 'm {
        // Whole words are looked for case-insensitively: ASCII lower-casing keeps byte offsets.
        let haystack = if self.whole_word { lower } else { message };
        haystack
            .match_indices(self.text.as_str())
            .map(|(start, text)| (start, start + text.len()))
            .filter(|&(start, end)| !self.whole_word || stands_alone(message, start, end))
            .map(|(start, end)| Match {
                start,
                end,
                replacement: self.replacement,
            })
    }
}

/// Whether `message[start..end]` is not part of a longer name.
fn stands_alone(message: &str, start: usize, end: usize) -> bool {
    let is_name_char = |c: char| c.is_alphanumeric() || matches!(c, '_' | '.' | '-');
    let before = message[..start].chars().next_back();
    let after = message[end..].chars().next();
    !before.is_some_and(is_name_char) && !after.is_some_and(is_name_char)
}

/// Every occurrence of one of `names` (lower-case, with their replacements) inside a quoted
/// value (`"…"` or `'…'`), even within a longer word: there, a name glued to other text
/// (`"app_userx"`, `'7.0.0.01@resu_ppa'`) is still the name. Only the name is replaced, so a
/// table name beside it (`'shop.orders_missing'`) survives.
fn names_in_quoted_values(lower: &str, names: &[(String, &'static str)]) -> Vec<Match> {
    let mut found = Vec::new();
    let mut rest = 0;
    while let Some(open) = lower[rest..].find(['"', '\'']).map(|i| rest + i) {
        let quote = &lower[open..=open];
        let Some(close) = lower[open + 1..].find(quote).map(|i| open + 1 + i) else {
            break;
        };
        let inner = &lower[open + 1..close];
        for (name, replacement) in names {
            found.extend(inner.match_indices(name.as_str()).map(|(at, text)| Match {
                start: open + 1 + at,
                end: open + 1 + at + text.len(),
                replacement,
            }));
        }
        rest = close + 1;
    }
    found
}

/// Every IPv4 address (`10.0.0.7`) and IPv6 address (`fd00::7`, or all eight groups) standing
/// on its own in `message`.
fn ip_addresses(message: &str) -> Vec<Match> {
    let is_part = |c: char| c.is_ascii_hexdigit() || c == '.' || c == ':';
    let mut found = Vec::new();
    let mut chars = message.char_indices().peekable();
    while let Some((start, c)) = chars.next() {
        if !is_part(c) {
            continue;
        }
        let mut end = start + c.len_utf8();
        while let Some(&(i, c)) = chars.peek() {
            if !is_part(c) {
                break;
            }
            end = i + c.len_utf8();
            chars.next();
        }
        if let Some((from, to)) = address_in(&message[start..end])
            && stands_alone_as_address(message, start + from, start + to)
        {
            found.push(Match {
                start: start + from,
                end: start + to,
                replacement: ADDRESS,
            });
        }
    }
    found
}

/// Where in a run of address characters an address is: the run itself, or the run without
/// trailing punctuation, or without a `:port`.
fn address_in(run: &str) -> Option<(usize, usize)> {
    let trimmed = run.trim_end_matches(['.', ':']);
    let lead = if trimmed.starts_with("::") {
        0
    } else {
        trimmed.len() - trimmed.trim_start_matches(['.', ':']).len()
    };
    let trimmed = &trimmed[lead..];
    let without_port = trimmed
        .rsplit_once(':')
        .filter(|(_, port)| !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit()))
        .map(|(host, _)| host);
    [Some(trimmed), without_port]
        .into_iter()
        .flatten()
        .find(|candidate| is_ip_address(candidate))
        .map(|candidate| (lead, lead + candidate.len()))
}

fn is_ip_address(run: &str) -> bool {
    // Dotted quads leniently (leading zeros too: `reverse('10.0.0.7')` is `7.0.0.01`).
    let groups: Vec<&str> = run.split('.').collect();
    if groups.len() == 4
        && groups
            .iter()
            .all(|g| (1..=3).contains(&g.len()) && g.bytes().all(|b| b.is_ascii_digit()))
    {
        return true;
    }
    let ipv6_shaped = run.contains("::") || run.matches(':').count() == 7;
    ipv6_shaped
        && run.chars().any(|c| c.is_ascii_hexdigit())
        && run.parse::<std::net::Ipv6Addr>().is_ok()
}

/// Whether `message[start..end]` is not glued to a word (`'x'::int`, `foo::bar` are casts and
/// paths, not addresses).
fn stands_alone_as_address(message: &str, start: usize, end: usize) -> bool {
    let is_word_char = |c: char| c.is_alphanumeric() || c == '_';
    let before = message[..start].chars().next_back();
    let after = message[end..].chars().next();
    !before.is_some_and(is_word_char) && !after.is_some_and(is_word_char)
}

/// `message` with each of `matches` (sorted by start, longest first) replaced; a match that
/// overlaps an earlier one extends that one's replacement.
fn replace(message: &str, matches: &[Match]) -> String {
    let mut out = String::with_capacity(message.len());
    let mut copied_to = 0;
    for m in matches {
        if m.start < copied_to {
            copied_to = copied_to.max(m.end);
            continue;
        }
        out.push_str(&message[copied_to..m.start]);
        out.push_str(m.replacement);
        copied_to = m.end;
    }
    out.push_str(&message[copied_to..]);
    out
}

/// The text as written and, when different, percent-decoded.
fn spellings(text: &str) -> Vec<String> {
    let mut all = vec![text.to_owned()];
    if let Cow::Owned(decoded) = percent_decode(text)
        && decoded != text
    {
        all.push(decoded);
    }
    all
}

/// The pieces of a connection URL that may carry secrets. Parsed leniently by hand, so that
/// even a URL the driver refused (say, an unencoded `@` or `/` in the password) is scrubbed.
#[derive(Debug, Default, PartialEq, Eq)]
struct UrlParts {
    /// `user:password` as written, or empty.
    userinfo: String,
    /// `host:port` as written (just `host` without a port).
    host_port: String,
    host: String,
    users: Vec<String>,
    passwords: Vec<String>,
    databases: Vec<String>,
}

impl UrlParts {
    fn parse(url: &str) -> Self {
        let Some((_scheme, rest)) = url.split_once("://") else {
            return Self::default();
        };
        let (before_query, query) = rest.split_once('?').unwrap_or((rest, ""));
        let before_query = before_query.split('#').next().unwrap_or_default();
        let (userinfo, after_userinfo) = match before_query.rfind('@') {
            Some(at) => (&before_query[..at], &rest[at + 1..]),
            None => ("", rest),
        };
        let host_port = after_userinfo
            .split(['/', '?', '#'])
            .next()
            .unwrap_or_default();
        // The database: the path's last segment (a SQLite file's name, a server's database).
        let path = after_userinfo[host_port.len()..]
            .split(['?', '#'])
            .next()
            .unwrap_or_default();
        let database = path.rsplit('/').next().unwrap_or_default();
        let mut parts = Self {
            userinfo: userinfo.to_owned(),
            host_port: host_port.to_owned(),
            host: host_of(host_port).to_owned(),
            databases: vec![database.to_owned()],
            ..Self::default()
        };
        if !userinfo.is_empty() {
            let (user, password) = userinfo.split_once(':').unwrap_or((userinfo, ""));
            parts.users.push(user.to_owned());
            parts.passwords.push(password.to_owned());
        }
        parts.add_query(query);
        parts
    }

    fn add_query(&mut self, query: &str) {
        let query = query.split('#').next().unwrap_or_default();
        for pair in query.split('&') {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            let key = key.to_ascii_lowercase();
            if PASSWORD_PARAMS.contains(&key.as_str()) {
                self.passwords.push(value.to_owned());
            } else if USER_PARAMS.contains(&key.as_str()) {
                self.users.push(value.to_owned());
            } else if DATABASE_PARAMS.contains(&key.as_str()) {
                self.databases.push(value.to_owned());
            }
        }
    }
}

/// `host` of `host:port`, `[v6]` of `[v6]:port`.
fn host_of(host_port: &str) -> &str {
    if host_port.starts_with('[') {
        return host_port
            .find(']')
            .map_or(host_port, |end| &host_port[..=end]);
    }
    host_port.split(':').next().unwrap_or_default()
}

/// Decodes `%XX` escapes (and `+` as a space, as in query strings); invalid escapes stay as
/// they are and invalid UTF-8 is replaced.
fn percent_decode(text: &str) -> Cow<'_, str> {
    if !text.contains(['%', '+']) {
        return Cow::Borrowed(text);
    }
    let spaced = text.replace('+', " ");
    Cow::Owned(
        percent_encoding::percent_decode_str(&spaced)
            .decode_utf8_lossy()
            .into_owned(),
    )
}

/// Lower-case hex of the bytes of `text` (what `encode(…::bytea, 'hex')` and `hex()` print).
fn hex(text: &str) -> String {
    text.bytes().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const PG: &str = "postgres://app_user:s3cr3t-Pw@db.internal.example:5432/prod?sslmode=require";

    #[test]
    fn removes_the_whole_url() {
        let message = format!("error with configuration: bad url {PG}");
        let scrubbed = scrub(&message, PG);
        assert_eq!(scrubbed, "error with configuration: bad url [redacted url]");
    }

    #[test]
    fn removes_the_password_wherever_it_appears() {
        let scrubbed = scrub("could not use s3cr3t-Pw, nor xs3cr3t-Pwx", PG);
        assert!(!scrubbed.contains("s3cr3t"), "{scrubbed}");
    }

    #[test]
    fn removes_a_percent_encoded_password_in_both_spellings() {
        let url = "mysql://root:p%40ss%3Aw%2Frd@127.0.0.1:3306/test";
        let scrubbed = scrub("tried p%40ss%3Aw%2Frd, decoded p@ss:w/rd", url);
        assert!(!scrubbed.contains("p%40ss"), "{scrubbed}");
        assert!(!scrubbed.contains("p@ss:w/rd"), "{scrubbed}");
    }

    #[test]
    fn removes_a_password_given_as_a_query_parameter() {
        let url = "postgres://db.example/prod?user=app&password=topsecret";
        let scrubbed = scrub("auth failed for user \"app\" using topsecret", url);
        assert_eq!(
            scrubbed,
            "auth failed for user \"[redacted user]\" using [redacted]"
        );
    }

    #[test]
    fn removes_user_at_host_and_host_port() {
        let message = "Access denied for user app_user@db.internal.example; \
                       connecting to db.internal.example:5432 failed";
        let scrubbed = scrub(message, PG);
        assert_eq!(
            scrubbed,
            "Access denied for user [redacted]; connecting to [redacted host] failed"
        );
    }

    #[test]
    fn removes_the_user_name_only_as_a_whole_word() {
        let scrubbed = scrub(
            "password authentication failed for user \"app_user\" on table app_users",
            PG,
        );
        assert_eq!(
            scrubbed,
            "password authentication failed for user \"[redacted user]\" on table app_users"
        );
    }

    #[test]
    fn removes_the_userinfo_even_when_the_password_holds_an_unencoded_at_sign() {
        let url = "postgres://app:pa@ss@db:5432/prod";
        let scrubbed = scrub("bad url part app:pa@ss@db:5432", url);
        assert_eq!(scrubbed, "bad url part [redacted]");
        assert!(!scrub("pa@ss", url).contains("pa@ss"));
    }

    #[test]
    fn overlapping_secrets_never_leave_a_fragment() {
        // The password contains the host name, and the user name contains the password.
        let url = "postgres://xdbx:db@db:5432/d";
        let scrubbed = scrub("user xdbx at db:5432 with db", url);
        assert!(!scrubbed.contains("db"), "{scrubbed}");
    }

    #[test]
    fn leaves_messages_without_secrets_alone() {
        let message = "duplicate key value violates unique constraint \"accounts_pkey\"";
        assert_eq!(scrub(message, PG), message);
    }

    #[test]
    fn handles_sqlite_urls_and_urls_without_credentials() {
        let url = "sqlite:///srv/shop.db?mode=rw";
        assert_eq!(
            scrub("cannot open sqlite:///srv/shop.db?mode=rw", url),
            "cannot open [redacted url]"
        );
        assert_eq!(scrub("plain message", "sqlite:shop.db"), "plain message");
        assert_eq!(scrub("plain message", ""), "plain message");
    }

    #[test]
    fn ipv6_hosts_are_recognised() {
        let url = "postgres://u:pw@[::1]:5432/d";
        assert_eq!(scrub("connect [::1]:5432", url), "connect [redacted host]");
    }

    #[test]
    fn decodes_percent_escapes_leniently() {
        assert_eq!(percent_decode("a%20b+c"), "a b c");
        assert_eq!(percent_decode("100%"), "100%");
        assert_eq!(percent_decode("%zz"), "%zz");
        assert!(matches!(percent_decode("plain"), Cow::Borrowed("plain")));
    }

    #[test]
    fn the_user_name_is_replaced_whatever_sql_brought_it_out() {
        // CAST(current_user AS int)
        assert_eq!(
            scrub("invalid input syntax for type integer: \"app_user\"", PG),
            "invalid input syntax for type integer: \"[redacted user]\""
        );
        // CAST(upper(current_user) AS int), CAST(current_user || 'x' AS int)
        assert!(
            !scrub("invalid input syntax for type integer: \"APP_USER\"", PG).contains("APP_USER")
        );
        let glued = scrub("invalid input syntax for type integer: \"app_userx\"", PG);
        assert_eq!(
            glued,
            "invalid input syntax for type integer: \"[redacted user]x\""
        );
        // encode(current_user::bytea, 'hex')
        let hex = scrub(
            "invalid input syntax for type integer: \"6170705f75736572\"",
            PG,
        );
        assert!(!hex.contains("6170705f75736572"), "{hex}");
    }

    #[test]
    fn mysql_users_reversed_and_with_their_client_address_are_replaced() {
        let url = "mysql://app_user:pw@db.internal.example:3306/shop";
        // CAST(reverse(user()) AS SIGNED)
        let message = "Truncated incorrect INTEGER value: '7.0.0.01@resu_ppa'";
        let scrubbed = scrub(message, url);
        assert!(!scrubbed.contains("resu_ppa"), "{scrubbed}");
        assert!(!scrubbed.contains("7.0.0.01"), "{scrubbed}");
        let scrubbed = scrub(
            "Truncated incorrect INTEGER value: 'app_user@10.0.0.7'",
            url,
        );
        assert!(
            !scrubbed.contains("app_user") && !scrubbed.contains("10.0.0.7"),
            "{scrubbed}"
        );
    }

    #[test]
    fn the_database_name_and_every_ip_address_are_replaced() {
        // CAST(current_database() AS int), in either case
        assert_eq!(
            scrub("invalid input syntax for type integer: \"prod\"", PG),
            "invalid input syntax for type integer: \"[redacted database]\""
        );
        assert!(!scrub("value \"PROD\" is out of range", PG).contains("PROD"));
        // CAST(inet_server_addr()::text AS int): the server's address, not its host name
        assert_eq!(
            scrub("invalid input syntax for type integer: \"10.20.30.40\"", PG),
            "invalid input syntax for type integer: \"[redacted address]\""
        );
        for v6 in ["fd00::7", "::1", "2001:db8:0:0:0:0:0:1"] {
            let scrubbed = scrub(
                &format!("invalid input syntax for type integer: \"{v6}\""),
                PG,
            );
            assert!(scrubbed.contains(ADDRESS), "{v6}: {scrubbed}");
        }
        assert_eq!(
            scrub("could not connect to 10.0.0.7:5432.", PG),
            "could not connect to [redacted address]:5432."
        );
        // Only the name goes: the table beside it stays readable.
        assert_eq!(
            scrub("Table 'prod.orders_missing' doesn't exist", PG),
            "Table '[redacted database].orders_missing' doesn't exist"
        );
        let url = "mysql://u:pw@h/test?dbname=other";
        assert!(!scrub("Unknown column 'other' in 'field list'", url).contains("'other'"));
    }

    #[test]
    fn casts_times_versions_and_ordinary_words_are_not_taken_for_addresses() {
        for message in [
            "cannot cast type text to integer: 'x'::int",
            "canceling statement at 12:30:45 due to statement timeout",
            "function foo::bar does not exist",
            "server version 15.2 (Debian 15.2-1.pgdg120+1)",
            "value 1.2.3.4.5 is not an address",
            "deadbeef is a fine word",
        ] {
            assert_eq!(scrub(message, PG), message);
        }
    }
}
