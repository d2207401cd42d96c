//! The shell's single source of time. The sans-IO core never reads a clock: it is handed
//! `now` by the shell, which takes it from here.

/// The current monotonic instant.
pub fn now() -> std::time::Instant {
    std::time::Instant::now()
}
