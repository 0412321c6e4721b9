//! Throttling failed sign-ins: how many failures a client address or a user name may have in a
//! window before it must wait, and how long, doubling with every further failure.
//!
//! A [`Counter`] is what the store keeps per key (a hash of the address or of the user name);
//! [`Rule::after_failure`] says what it becomes after one more failure and [`Rule::wait`] how
//! long a key must still wait. A *burst* is the failures of one window: the first of a burst and
//! the one that trips the limit are audited, the others are not, so a flood cannot flood the
//! audit trail.

use std::time::Duration;

use time::OffsetDateTime;

/// The failures of one key in the current window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Counter {
    pub failures: i64,
    pub window_start: OffsetDateTime,
    /// Until when sign-ins for this key are refused without looking at the password.
    pub blocked_until: Option<OffsetDateTime>,
}

/// How many failures a kind of key may have in a window, and how long it then waits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rule {
    /// Failures allowed in a window before the key must wait.
    pub limit: i64,
    /// How long a burst lasts from its first failure (while the key is not blocked).
    pub window: Duration,
    /// The wait after the failure that reaches the limit; each further failure doubles it.
    pub first_wait: Duration,
    /// The longest wait.
    pub max_wait: Duration,
}

/// Per user name: five tries, then 15 s, 30 s, 1 min … up to 15 min.
pub const PER_USER: Rule = Rule {
    limit: 5,
    window: Duration::from_secs(15 * 60),
    first_wait: Duration::from_secs(15),
    max_wait: Duration::from_secs(15 * 60),
};

/// Per client address: more tries (several people may share one address), same waits.
pub const PER_ADDRESS: Rule = Rule {
    limit: 20,
    ..PER_USER
};

/// The block of addresses one client is counted as: an IPv4 address itself, but an IPv6
/// address's /64 — one host is routinely given a whole /64, and could try from each address
/// in it.
pub fn address_block(ip: std::net::IpAddr) -> String {
    match ip {
        std::net::IpAddr::V4(v4) => v4.to_string(),
        std::net::IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => {
                let s = v6.segments();
                format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
            }
        },
    }
}

/// What one more failure did to a key's counter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Step {
    pub counter: Counter,
    /// The failure opened a new burst.
    pub new_burst: bool,
    /// The failure reached the limit, or went past it: the key now waits.
    pub tripped: bool,
}

impl Rule {
    /// The counter after one more failure at `now`, given the stored one (if any).
    pub fn after_failure(&self, stored: Option<&Counter>, now: OffsetDateTime) -> Step {
        let live = stored.filter(|c| {
            now < c.window_start + self.window || c.blocked_until.is_some_and(|b| now < b)
        });
        let (failures, window_start) = match live {
            Some(c) => (c.failures.saturating_add(1), c.window_start),
            None => (1, now),
        };
        let tripped = failures >= self.limit;
        let blocked_until = if tripped {
            Some(now + self.wait_after(failures))
        } else {
            None
        };
        Step {
            counter: Counter {
                failures,
                window_start,
                blocked_until,
            },
            new_burst: live.is_none(),
            tripped,
        }
    }

    /// How long a key must wait after its `failures`-th failure: nothing below the limit, then
    /// [`Rule::first_wait`] doubled for each failure past it, at most [`Rule::max_wait`].
    pub fn wait_after(&self, failures: i64) -> Duration {
        if failures < self.limit {
            return Duration::ZERO;
        }
        let doublings = u32::try_from(failures - self.limit)
            .unwrap_or(u32::MAX)
            .min(20);
        self.first_wait
            .saturating_mul(1 << doublings)
            .min(self.max_wait)
    }

    /// How long a key with this counter must still wait at `now`, if at all.
    pub fn wait(counter: &Counter, now: OffsetDateTime) -> Option<Duration> {
        counter
            .blocked_until
            .filter(|b| now < *b)
            .map(|b| Duration::try_from(b - now).unwrap_or_default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    const T0: OffsetDateTime = datetime!(2026-12-05 10:00:00 UTC);

    fn secs(s: u64) -> time::Duration {
        time::Duration::seconds(s as i64)
    }

    #[test]
    fn an_ipv6_client_is_counted_by_its_64_block() {
        let block = |a: &str| address_block(a.parse().expect("address"));
        assert_eq!(block("2001:db8:1:2::1"), block("2001:db8:1:2:ffff::9"));
        assert_ne!(block("2001:db8:1:2::1"), block("2001:db8:1:3::1"));
        assert_eq!(block("2001:db8:1:2::1"), "2001:db8:1:2::/64");
        assert_eq!(block("10.0.0.7"), "10.0.0.7");
        assert_eq!(block("::ffff:10.0.0.7"), "10.0.0.7");
    }

    #[test]
    fn failures_below_the_limit_count_without_blocking_and_only_the_first_opens_a_burst() {
        let mut c = None;
        for n in 1..PER_USER.limit {
            let step = PER_USER.after_failure(c.as_ref(), T0 + secs(n as u64));
            assert_eq!(step.counter.failures, n);
            assert_eq!(step.counter.window_start, T0 + secs(1));
            assert_eq!(step.new_burst, n == 1);
            assert!(!step.tripped);
            assert_eq!(step.counter.blocked_until, None);
            c = Some(step.counter);
        }
    }

    #[test]
    fn the_limit_blocks_and_each_further_failure_doubles_the_wait_up_to_the_cap() {
        assert_eq!(PER_USER.wait_after(4), Duration::ZERO);
        assert_eq!(PER_USER.wait_after(5), Duration::from_secs(15));
        assert_eq!(PER_USER.wait_after(6), Duration::from_secs(30));
        assert_eq!(PER_USER.wait_after(7), Duration::from_secs(60));
        assert_eq!(PER_USER.wait_after(12), Duration::from_secs(15 * 60));
        assert_eq!(PER_USER.wait_after(i64::MAX), Duration::from_secs(15 * 60));
        let four = Counter {
            failures: 4,
            window_start: T0,
            blocked_until: None,
        };
        let step = PER_USER.after_failure(Some(&four), T0 + secs(10));
        assert!(step.tripped && !step.new_burst);
        assert_eq!(step.counter.blocked_until, Some(T0 + secs(25)));
        assert_eq!(
            Rule::wait(&step.counter, T0 + secs(20)),
            Some(Duration::from_secs(5))
        );
        assert_eq!(Rule::wait(&step.counter, T0 + secs(25)), None);
    }

    #[test]
    fn a_window_that_ran_out_starts_a_new_burst_but_a_block_keeps_the_count() {
        let old = Counter {
            failures: 3,
            window_start: T0,
            blocked_until: None,
        };
        let later = T0 + secs(15 * 60 + 1);
        let step = PER_USER.after_failure(Some(&old), later);
        assert!(step.new_burst);
        assert_eq!(step.counter.failures, 1);
        assert_eq!(step.counter.window_start, later);
        let blocked = Counter {
            failures: 9,
            window_start: T0,
            blocked_until: Some(later + secs(60)),
        };
        let step = PER_USER.after_failure(Some(&blocked), later);
        assert!(!step.new_burst && step.tripped);
        assert_eq!(step.counter.failures, 10);
    }
}
