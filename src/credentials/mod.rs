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
//!
//! The pool's threads are its own and run at a lower priority ([`CHECK_NICE`]): a botnet's
//! failing AUTH attempts from hundreds of addresses pass every per-address limit, and argon2 is
//! CPU-bound, so at normal priority they took their full share of the cores from ordinary mail
//! (BENCHMARKS.md, "Under abuse"). At nice 10 a check gets about a tenth of the CPU share of a
//! busy runtime thread (the ones serving sessions) and all of an idle core. (Under Linux's
//! autogroup the nice value weighs against the process's own threads only, which is the point.)

pub mod throttle;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex};

use argon2::password_hash::{rand_core::OsRng, PasswordHasher, SaltString};
use argon2::{Argon2, PasswordHash, PasswordVerifier};
use tokio::sync::{oneshot, Semaphore};

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

/// The nice value of the pool's threads (Linux: per thread): 0 is normal, 19 the lowest.
pub const CHECK_NICE: i32 = 10;

/// A check handed to a pool thread.
type Job = Box<dyn FnOnce() + Send>;

/// At most `size` password checks at once, each on one of the pool's `size` threads.
#[derive(Clone)]
pub struct CheckPool {
    permits: Arc<Semaphore>,
    counts: Arc<Counts>,
    /// To the pool's threads; they end when the last clone of the pool is dropped.
    jobs: mpsc::Sender<Job>,
}

/// Checks running now and the most ever seen at once (what tests and the bench assert on).
#[derive(Default)]
struct Counts {
    running: AtomicUsize,
    peak: AtomicUsize,
}

impl CheckPool {
    pub fn new(size: usize) -> CheckPool {
        let size = size.max(1);
        let (jobs, queue) = mpsc::channel::<Job>();
        let queue = Arc::new(Mutex::new(queue));
        for n in 0..size {
            let queue = queue.clone();
            // A thread that cannot start leaves fewer; with none, checks fall back to the
            // runtime's blocking threads (see `run`).
            let _ = std::thread::Builder::new()
                .name(format!("sealgate-auth-{n}"))
                .spawn(move || check_thread(&queue));
        }
        CheckPool {
            permits: Arc::new(Semaphore::new(size)),
            counts: Arc::default(),
            jobs,
        }
    }

    /// Runs `check` when a place is free; false when the pool is closed or the check panics.
    pub async fn run(&self, check: impl FnOnce() -> bool + Send + 'static) -> bool {
        let Ok(_permit) = self.permits.acquire().await else {
            return false;
        };
        let counts = self.counts.clone();
        let counted = move || {
            let now = counts.running.fetch_add(1, Ordering::SeqCst) + 1;
            counts.peak.fetch_max(now, Ordering::SeqCst);
            let verdict = std::panic::catch_unwind(std::panic::AssertUnwindSafe(check));
            counts.running.fetch_sub(1, Ordering::SeqCst);
            verdict.unwrap_or(false)
        };
        let (answer, verdict) = oneshot::channel();
        let job: Job = Box::new(move || {
            let _ = answer.send(counted());
        });
        if let Err(mpsc::SendError(job)) = self.jobs.send(job) {
            // No pool thread could be started: run on the runtime's blocking threads.
            return tokio::task::spawn_blocking(job).await.is_ok()
                && verdict.await.unwrap_or(false);
        }
        verdict.await.unwrap_or(false)
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

/// One pool thread: lowers its own priority, then runs checks until the pool is dropped.
fn check_thread(queue: &Mutex<mpsc::Receiver<Job>>) {
    lower_priority();
    loop {
        let next = match queue.lock() {
            Ok(queue) => queue.recv(),
            Err(poisoned) => poisoned.into_inner().recv(),
        };
        match next {
            Ok(job) => job(),
            Err(mpsc::RecvError) => return,
        }
    }
}

/// Sets this thread's nice value to [`CHECK_NICE`]; where that fails the check runs at normal
/// priority (still bounded by the pool's size).
#[cfg(target_os = "linux")]
fn lower_priority() {
    // SAFETY: plain system calls on this thread's own id; no memory is passed.
    unsafe {
        let tid = libc::syscall(libc::SYS_gettid);
        if let Ok(tid) = libc::id_t::try_from(tid) {
            libc::setpriority(libc::PRIO_PROCESS, tid, CHECK_NICE);
        }
    }
}

#[cfg(not(target_os = "linux"))]
fn lower_priority() {}

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

    #[cfg(target_os = "linux")]
    #[tokio::test]
    async fn checks_run_below_normal_priority() {
        let pool = CheckPool::new(1);
        let seen = Arc::new(std::sync::atomic::AtomicI32::new(i32::MIN));
        let store = seen.clone();
        assert!(
            pool.run(move || {
                // SAFETY: reads this thread's own nice value.
                let nice = unsafe {
                    let tid = libc::syscall(libc::SYS_gettid) as libc::id_t;
                    libc::getpriority(libc::PRIO_PROCESS, tid)
                };
                store.store(nice, Ordering::SeqCst);
                true
            })
            .await
        );
        // At least CHECK_NICE: a test run that is itself niced further stays there.
        assert!(seen.load(Ordering::SeqCst) >= CHECK_NICE);
    }

    #[tokio::test]
    async fn a_panicking_check_fails_and_the_pool_lives_on() {
        let pool = CheckPool::new(1);
        assert!(!pool.run(|| panic!("argon2 blew up")).await);
        assert!(pool.run(|| true).await);
        assert_eq!(pool.available(), 1);
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
