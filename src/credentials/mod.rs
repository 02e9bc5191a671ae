//! Password checks for AUTH against the argon2 hashes of `access.users`.
//!
//! An argon2 check costs tens of milliseconds and, with the default parameters, 19 MiB of
//! memory. Left unbounded, a few hundred failing clients make the gateway allocate gigabytes
//! (and the allocator keeps them). [`CheckPool`] runs at most a fixed number of checks at once;
//! the rest wait their turn without allocating. An unknown user name is checked against a
//! dummy hash with the same parameters, so the answer takes as long as for a real user and
//! names cannot be guessed by timing. [`throttle::AuthThrottle`] limits the attempts per client.
//!
//! The pool and the throttle live in the gateway, shared by every session: a bound per
//! session would be no bound at all.

pub mod throttle;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use argon2::password_hash::{rand_core::OsRng, PasswordHasher, SaltString};
use argon2::{Argon2, PasswordHash, PasswordVerifier};
use tokio::sync::Semaphore;

use crate::config::User;

/// Checks a password against the configured hash; an unknown `name` costs the same work
/// against `dummy` and fails. CPU-heavy by design: call through [`CheckPool`].
pub fn verify(users: &[User], dummy: &str, name: &str, password: &str) -> bool {
    let (stored, known) = match users.iter().find(|u| u.name == name) {
        Some(user) => (user.password_hash.as_str(), true),
        None => (dummy, false),
    };
    let matched = match PasswordHash::new(stored) {
        Ok(hash) => Argon2::default()
            .verify_password(password.as_bytes(), &hash)
            .is_ok(),
        Err(_) => false,
    };
    matched && known
}

/// A hash of a random password with the parameters of the first configured user's hash (the
/// argon2 defaults when there is none or it cannot be read), for [`verify`]'s unknown users.
pub fn dummy_hash(users: &[User]) -> String {
    let params = users
        .first()
        .and_then(|u| PasswordHash::new(&u.password_hash).ok())
        .and_then(|h| argon2::Params::try_from(&h).ok())
        .unwrap_or_default();
    let hasher = Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params);
    let salt = SaltString::generate(&mut OsRng);
    let secret = SaltString::generate(&mut OsRng);
    hasher
        .hash_password(secret.as_str().as_bytes(), &salt)
        .map(|h| h.to_string())
        .unwrap_or_default()
}

/// At most `size` password checks at once, each on a blocking thread.
#[derive(Clone)]
pub struct CheckPool {
    permits: Arc<Semaphore>,
    counts: Arc<Counts>,
}

/// Checks running now and the most ever seen at once (what tests and the bench assert on).
#[derive(Default)]
struct Counts {
    running: AtomicUsize,
    peak: AtomicUsize,
}

impl CheckPool {
    pub fn new(size: usize) -> CheckPool {
        CheckPool {
            permits: Arc::new(Semaphore::new(size.max(1))),
            counts: Arc::default(),
        }
    }

    /// Runs `check` when a place is free; false when the pool is closed or the check panics.
    pub async fn run(&self, check: impl FnOnce() -> bool + Send + 'static) -> bool {
        let Ok(_permit) = self.permits.acquire().await else {
            return false;
        };
        let counts = self.counts.clone();
        tokio::task::spawn_blocking(move || {
            let now = counts.running.fetch_add(1, Ordering::SeqCst) + 1;
            counts.peak.fetch_max(now, Ordering::SeqCst);
            let verdict = check();
            counts.running.fetch_sub(1, Ordering::SeqCst);
            verdict
        })
        .await
        .unwrap_or(false)
    }

    /// The most checks that ran at the same moment since the pool was made.
    pub fn peak_running(&self) -> usize {
        self.counts.peak.load(Ordering::SeqCst)
    }

    /// Checks running or waiting right now is `size - available`.
    pub fn available(&self) -> usize {
        self.permits.available_permits()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(name: &str, password: &str) -> User {
        let salt = SaltString::generate(&mut OsRng);
        let params = argon2::Params::new(1024, 1, 1, None).unwrap();
        let hash = Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params)
            .hash_password(password.as_bytes(), &salt)
            .unwrap()
            .to_string();
        User {
            name: name.into(),
            password_hash: hash,
        }
    }

    #[test]
    fn unknown_users_fail_against_a_dummy_of_the_same_cost() {
        let users = vec![user("relay", "geheim")];
        let dummy = dummy_hash(&users);
        let params =
            |phc: &str| argon2::Params::try_from(&PasswordHash::new(phc).unwrap()).unwrap();
        assert_eq!(
            params(&dummy).m_cost(),
            1024,
            "same parameters as the real user"
        );
        assert!(verify(&users, &dummy, "relay", "geheim"));
        assert!(!verify(&users, &dummy, "relay", "fout"));
        assert!(!verify(&users, &dummy, "nobody", "geheim"));
        assert!(!verify(&[], &dummy_hash(&[]), "nobody", ""));
    }

    #[tokio::test]
    async fn the_pool_runs_at_most_its_size_at_once() {
        let pool = CheckPool::new(2);
        let running = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let peak = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let mut tasks = Vec::new();
        for _ in 0..12 {
            let (pool, running, peak) = (pool.clone(), running.clone(), peak.clone());
            tasks.push(tokio::spawn(async move {
                pool.run(move || {
                    use std::sync::atomic::Ordering::SeqCst;
                    let now = running.fetch_add(1, SeqCst) + 1;
                    peak.fetch_max(now, SeqCst);
                    std::thread::sleep(std::time::Duration::from_millis(20));
                    running.fetch_sub(1, SeqCst);
                    true
                })
                .await
            }));
        }
        for task in tasks {
            assert!(task.await.unwrap());
        }
        assert_eq!(peak.load(std::sync::atomic::Ordering::SeqCst), 2);
    }
}
