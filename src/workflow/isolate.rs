//! Compiling an uploaded module at a bounded cost to the server.
//!
//! Why a child process: cranelift's memory and time grow faster than linearly with some
//! valid shapes of code (one function of 40,000 sequential blocks, 240 KB of wasm, needed
//! more than 3 GB), and wasmtime leaves that bound to the embedder. Inside the server
//! nothing can stop a compile once started: a thread cannot be killed, and an allocation
//! failure aborts the whole process, calls and all. So the compile runs in a child, the
//! `switchboard` binary re-executed as `switchboard __compile-workflow`, which limits its
//! own memory with `setrlimit(RLIMIT_DATA)` (heap and anonymous mappings: what cranelift
//! allocates; the binary's mapped code is not counted) and its CPU time with `RLIMIT_CPU`
//! (a backstop), reads the wasm on stdin and writes the serialized artifact on stdout. The
//! parent kills it past the wall-clock budget. A child that runs out of memory aborts
//! alone; the server answers the upload with the limit it hit and carries on.
//!
//! The static limits (`limits.rs`) come first because they are cheap and name the exact
//! fault; the child's budget catches whatever they let through. Compiles are serialised
//! (one child at a time), so N uploads at once cost one budget, not N.
//!
//! The artifact comes back framed as `MAGIC`, its SHA-256, then its bytes; the parent loads
//! it only if the hash matches (`Engine::deserialize_checked`), so a truncated or garbled
//! answer is refused, never run. The child builds its engine from the same settings as the
//! parent's (`engine::compiler_settings`), and wasmtime refuses an artifact whose settings
//! differ.

use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::{sha256, WorkflowConfig, WorkflowError};

/// The hidden subcommand that runs `serve_child`.
pub const COMPILE_SUBCOMMAND: &str = "__compile-workflow";

/// The first bytes of a child's answer.
const MAGIC: &[u8; 8] = b"SWBWASM1";

/// Exit status of a child whose compile failed (the reason on stderr).
const EXIT_DOES_NOT_COMPILE: i32 = 3;

/// Where uploads are compiled.
#[derive(Debug, Clone)]
pub enum Compiler {
    /// In a child process: `program` is the `switchboard` binary (it must answer
    /// `__compile-workflow`). What the server and the CLI use.
    Child { program: PathBuf },
    /// In this process, held only to the static limits: for modules the caller trusts
    /// (unit tests, benchmarks), never for uploads.
    InProcess,
}

impl Compiler {
    /// The running binary, re-executed: right for the `switchboard` binary itself. A test
    /// or bench that links the library names the binary instead
    /// (`Compiler::Child { program: env!("CARGO_BIN_EXE_switchboard").into() }`); a program
    /// that does not answer the compile mode is reported as such at the first compile.
    pub fn current_exe() -> Result<Compiler, WorkflowError> {
        let program = std::env::current_exe().map_err(|err| WorkflowError::Engine(Box::new(err)))?;
        Ok(Compiler::Child { program })
    }
}

/// Compiles `binary` (wasm) in a child process of `program`; returns the artifact and its
/// SHA-256 as the child reported them.
pub(super) fn compile_in_child(
    program: &std::path::Path,
    config: &WorkflowConfig,
    binary: &[u8],
) -> Result<(Vec<u8>, [u8; 32]), WorkflowError> {
    let settings = serde_json::to_string(config).map_err(|err| WorkflowError::Compiler {
        why: format!("settings: {err}"),
    })?;
    let mut child = Command::new(program)
        .arg(COMPILE_SUBCOMMAND)
        .arg(settings)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|err| WorkflowError::Compiler {
            why: format!("cannot start {}: {err}", program.display()),
        })?;
    let mut stdin = child.stdin.take().expect("piped");
    let mut stdout = child.stdout.take().expect("piped");
    let stderr = child.stderr.take().expect("piped");
    let input = binary.to_vec();
    // A child that dies early closes its stdin: the write fails and the status says why.
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(&input);
    });
    let reader = std::thread::spawn(move || {
        let mut answer = Vec::new();
        let _ = stdout.read_to_end(&mut answer);
        answer
    });
    let complaints = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stderr.take(4096).read_to_string(&mut text);
        text
    });

    let deadline = Instant::now() + Duration::from_millis(config.compile_timeout_ms);
    let mut pause = Duration::from_millis(1);
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break Some(status),
            Ok(None) if Instant::now() >= deadline => {
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
            Ok(None) => {
                std::thread::sleep(pause);
                pause = (pause * 2).min(Duration::from_millis(20));
            }
            Err(err) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(WorkflowError::Compiler { why: err.to_string() });
            }
        }
    };
    let _ = writer.join();
    let answer = reader.join().unwrap_or_default();
    let complaint = complaints.join().unwrap_or_default();
    let Some(status) = status else {
        return Err(WorkflowError::CompileTimeout {
            limit_ms: config.compile_timeout_ms,
        });
    };
    if status.success() {
        return unframe(&answer).ok_or_else(|| WorkflowError::Compiler {
            why: format!(
                "{} did not answer with an artifact (is it the switchboard binary?)",
                program.display()
            ),
        });
    }
    Err(failure(status, complaint.trim(), config))
}

/// Why the child ended without an artifact.
fn failure(status: std::process::ExitStatus, complaint: &str, config: &WorkflowConfig) -> WorkflowError {
    use std::os::unix::process::ExitStatusExt;
    let out_of_memory = complaint.contains("memory allocation") || status.signal() == Some(libc::SIGABRT);
    if out_of_memory {
        return WorkflowError::CompileMemory {
            limit: config.compile_memory_bytes,
        };
    }
    if status.signal() == Some(libc::SIGXCPU) || status.signal() == Some(libc::SIGKILL) {
        return WorkflowError::CompileTimeout {
            limit_ms: config.compile_timeout_ms,
        };
    }
    if status.code() == Some(EXIT_DOES_NOT_COMPILE) {
        return WorkflowError::DoesNotCompile {
            reason: complaint.to_owned(),
        };
    }
    WorkflowError::Compiler {
        why: format!("the compiler process ended with {status}: {complaint}"),
    }
}

fn unframe(answer: &[u8]) -> Option<(Vec<u8>, [u8; 32])> {
    let rest = answer.strip_prefix(MAGIC.as_slice())?;
    let (hash, artifact) = rest.split_at_checked(32)?;
    Some((artifact.to_vec(), hash.try_into().ok()?))
}

/// The child's side: limits itself, reads wasm on stdin, compiles it with the settings the
/// parent passed (`settings`, JSON of its `WorkflowConfig`), writes the framed artifact on
/// stdout. Returns the process exit status; the caller exits with it.
pub fn serve_child(settings: &str) -> i32 {
    let config: WorkflowConfig = match serde_json::from_str(settings) {
        Ok(config) => config,
        Err(err) => {
            eprintln!("bad compile settings: {err}");
            return 2;
        }
    };
    if let Err(err) = limit_self(&config) {
        eprintln!("cannot limit the compile: {err}");
        return 2;
    }
    let mut binary = Vec::new();
    let limit = config.max_module_bytes as u64 + 1;
    if let Err(err) = std::io::stdin().take(limit).read_to_end(&mut binary) {
        eprintln!("reading the module: {err}");
        return 2;
    }
    let artifact = wasmtime::Engine::new(&super::engine::compiler_settings(&config))
        .and_then(|engine| engine.precompile_module(&binary));
    let artifact = match artifact {
        Ok(artifact) => artifact,
        Err(err) => {
            eprintln!("{err:#}");
            return EXIT_DOES_NOT_COMPILE;
        }
    };
    let mut out = std::io::stdout().lock();
    let written = out
        .write_all(MAGIC)
        .and_then(|()| out.write_all(&sha256(&artifact)))
        .and_then(|()| out.write_all(&artifact))
        .and_then(|()| out.flush());
    match written {
        Ok(()) => 0,
        Err(err) => {
            eprintln!("writing the artifact: {err}");
            2
        }
    }
}

/// RLIMIT_DATA = `compile_memory_bytes`; RLIMIT_CPU = the wall-clock budget rounded up,
/// plus one second (the parent's kill normally comes first).
fn limit_self(config: &WorkflowConfig) -> std::io::Result<()> {
    let cpu_seconds = config.compile_timeout_ms.div_ceil(1000) + 1;
    set_limit(libc::RLIMIT_DATA, config.compile_memory_bytes)?;
    set_limit(libc::RLIMIT_CPU, cpu_seconds)
}

fn set_limit(resource: libc::__rlimit_resource_t, value: u64) -> std::io::Result<()> {
    let limit = libc::rlimit {
        rlim_cur: value as libc::rlim_t,
        rlim_max: value as libc::rlim_t,
    };
    // SAFETY: setrlimit reads the struct we pass and nothing else.
    if unsafe { libc::setrlimit(resource, &limit) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}
