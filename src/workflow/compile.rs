//! Upload: module source (wasm bytes or WAT text) in, a compiled [`Workflow`] out, or an
//! error naming exactly what is wrong with the module.
//!
//! Cheapest checks first: size, then the ABI read straight off the binary (imports, exports,
//! `abi_version`, the memory it starts with), then the static limits on its code
//! (`limits.rs`), and only then the expensive compile, in a child process held to a memory
//! and time budget (`isolate.rs`), one compile at a time. It never runs guest code: a
//! module's `abi_version` is read from its global's initializer.

use std::collections::HashMap;
use std::sync::Arc;

use wasmtime::wasmparser::{ExternalKind, FuncType, Operator, Parser, Payload, TypeRef, ValType};
use wasmtime::Module;

use super::abi::{ABI_VERSION, HOST_FUNCTIONS, IMPORT_MODULE};
use super::isolate::Compiler;
use super::{Engine, Workflow, WorkflowError};

/// The custom section a module may carry its ABI version in instead of an `abi_version`
/// global (one byte; Rust cannot export a global holding a constant, only an address).
pub const ABI_SECTION: &str = "switchboard_abi";

impl Engine {
    /// Checks and compiles a workflow module: wasm bytes, or WAT text.
    pub fn compile(&self, source: &[u8]) -> Result<Workflow, WorkflowError> {
        let limit = self.config().max_module_bytes;
        if source.len() > limit {
            return Err(WorkflowError::TooLarge {
                size: source.len(),
                limit,
            });
        }
        let binary = wat::parse_bytes(source).map_err(|err| WorkflowError::DoesNotCompile {
            reason: format!("WAT: {err}"),
        })?;
        if binary.len() > limit {
            return Err(WorkflowError::TooLarge {
                size: binary.len(),
                limit,
            });
        }
        check_abi(&binary, self.config().memory_bytes)?;
        super::limits::check(&binary, self.config())?;
        let source_hash = super::sha256(source);
        let _one_at_a_time = self.compiling()?;
        match self.compiler() {
            Compiler::Child { program } => {
                let (artifact, artifact_hash) = super::isolate::compile_in_child(program, self.config(), &binary)?;
                self.deserialize_checked(source_hash, &artifact, artifact_hash)
            }
            Compiler::InProcess => {
                let module =
                    Module::from_binary(self.wasmtime(), &binary).map_err(|err| WorkflowError::DoesNotCompile {
                        reason: format!("{err:#}"),
                    })?;
                self.prepare(source_hash, module)
            }
        }
    }

    /// Links a compiled module and finds its exports: the last step of `compile` and of
    /// `deserialize_checked`.
    pub(super) fn prepare(&self, source_hash: [u8; 32], module: Module) -> Result<Workflow, WorkflowError> {
        let route = module.get_export_index("route").ok_or(WorkflowError::MissingExport {
            name: "route",
            expected: "a function () -> i32",
        })?;
        let memory = module.get_export_index("memory").ok_or(WorkflowError::MissingExport {
            name: "memory",
            expected: "the module's linear memory",
        })?;
        let pre = self
            .linker()
            .instantiate_pre(&module)
            .map_err(|err| WorkflowError::DoesNotCompile {
                reason: format!("{err:#}"),
            })?;
        Ok(Workflow(Arc::new(super::Compiled {
            source_hash,
            module,
            pre,
            route,
            memory,
        })))
    }
}

/// What the binary declares, as far as the ABI cares.
#[derive(Default)]
struct Declared<'a> {
    types: Vec<FuncType>,
    /// Type index of every function, imported ones first (the function index space).
    functions: Vec<u32>,
    /// Type and initial value (if a constant `i32`) of every global (none can be imported).
    globals: Vec<(ValType, Option<i32>)>,
    memories: Vec<u64>,
    exports: HashMap<&'a str, (ExternalKind, u32)>,
    abi_section: Option<&'a [u8]>,
}

fn check_abi(binary: &[u8], memory_limit: usize) -> Result<(), WorkflowError> {
    let declared = match read(binary) {
        Ok(declared) => declared,
        Err(CompileFault::Abi(err)) => return Err(err),
        Err(CompileFault::Malformed(err)) => {
            return Err(WorkflowError::DoesNotCompile {
                reason: err.to_string(),
            })
        }
    };
    check_exports(&declared)?;
    check_abi_version(&declared)?;
    check_memory(&declared, memory_limit)
}

fn read(binary: &[u8]) -> Result<Declared<'_>, CompileFault> {
    let mut declared = Declared::default();
    for payload in Parser::new(0).parse_all(binary) {
        match payload? {
            Payload::TypeSection(types) => {
                for ty in types.into_iter_err_on_gc_types() {
                    declared.types.push(ty?);
                }
            }
            Payload::ImportSection(imports) => {
                for import in imports.into_imports() {
                    let import = import?;
                    let type_index = check_import(&declared, import.module, import.name, import.ty)?;
                    declared.functions.push(type_index);
                }
            }
            Payload::FunctionSection(functions) => {
                for type_index in functions {
                    declared.functions.push(type_index?);
                }
            }
            Payload::GlobalSection(globals) => {
                for global in globals {
                    let global = global?;
                    let mut init = global.init_expr.get_operators_reader();
                    let value = match init.read()? {
                        Operator::I32Const { value } => Some(value),
                        _ => None,
                    };
                    declared.globals.push((global.ty.content_type, value));
                }
            }
            Payload::MemorySection(memories) => {
                for memory in memories {
                    declared.memories.push(memory?.initial);
                }
            }
            Payload::ExportSection(exports) => {
                for export in exports {
                    let export = export?;
                    declared.exports.insert(export.name, (export.kind, export.index));
                }
            }
            Payload::CustomSection(section) if section.name() == ABI_SECTION => {
                declared.abi_section = Some(section.data());
            }
            _ => {}
        }
    }
    Ok(declared)
}

/// An import must be one of `HOST_FUNCTIONS` with its exact signature; returns its type index.
fn check_import(declared: &Declared, module: &str, name: &str, ty: TypeRef) -> Result<u32, CompileFault> {
    let not_provided = || WorkflowError::ImportNotProvided {
        module: module.to_owned(),
        name: name.to_owned(),
    };
    let host = HOST_FUNCTIONS.iter().find(|(host_name, ..)| *host_name == name);
    let (Some(&(_, params, results)), IMPORT_MODULE) = (host, module) else {
        return Err(not_provided().into());
    };
    let TypeRef::Func(type_index) = ty else {
        return Err(not_provided().into());
    };
    check_signature(declared, name, type_index, params, results)?;
    Ok(type_index)
}

fn check_signature(
    declared: &Declared,
    name: &str,
    type_index: u32,
    params: &[ValType],
    results: &[ValType],
) -> Result<(), WorkflowError> {
    let found = declared.types.get(type_index as usize);
    if found.is_some_and(|ty| ty.params() == params && ty.results() == results) {
        return Ok(());
    }
    Err(WorkflowError::WrongSignature {
        name: name.to_owned(),
        expected: signature(params, results),
        found: found.map_or_else(|| "no type".to_owned(), |ty| signature(ty.params(), ty.results())),
    })
}

fn check_exports(declared: &Declared) -> Result<(), WorkflowError> {
    match declared.exports.get("route") {
        Some(&(ExternalKind::Func, index)) => {
            let type_index = declared.functions.get(index as usize).copied().unwrap_or(u32::MAX);
            check_signature(declared, "route", type_index, &[], &[ValType::I32])?;
        }
        _ => {
            return Err(WorkflowError::MissingExport {
                name: "route",
                expected: "a function () -> i32",
            })
        }
    }
    match declared.exports.get("memory") {
        Some((ExternalKind::Memory, _)) => Ok(()),
        _ => Err(WorkflowError::MissingExport {
            name: "memory",
            expected: "the module's linear memory",
        }),
    }
}

/// The version comes from an exported `abi_version` global (an `i32` constant) or from the
/// `switchboard_abi` custom section; if both are present both must say 1.
fn check_abi_version(declared: &Declared) -> Result<(), WorkflowError> {
    let unsupported = |found: i64| WorkflowError::AbiVersion {
        found,
        expected: ABI_VERSION,
    };
    let mut seen = false;
    if let Some(&(kind, index)) = declared.exports.get("abi_version") {
        let global = declared
            .globals
            .get(index as usize)
            .filter(|_| kind == ExternalKind::Global);
        let Some(&(ty, value)) = global else {
            return Err(WorkflowError::MissingExport {
                name: "abi_version",
                expected: "an i32 global",
            });
        };
        match (ty, value) {
            (ValType::I32, Some(version)) if version as u32 == ABI_VERSION => seen = true,
            (ValType::I32, Some(version)) => return Err(unsupported(version.into())),
            _ => {
                let found = format!("a {ty} global that is not a constant");
                return Err(WorkflowError::WrongSignature {
                    name: "abi_version".into(),
                    expected: "i32".into(),
                    found,
                });
            }
        }
    }
    if let Some(section) = declared.abi_section {
        match section {
            [version] if u32::from(*version) == ABI_VERSION => seen = true,
            [version] => return Err(unsupported((*version).into())),
            _ => {
                let found = format!("{} bytes", section.len());
                return Err(WorkflowError::WrongSignature {
                    name: ABI_SECTION.into(),
                    expected: "one byte".into(),
                    found,
                });
            }
        }
    }
    if !seen {
        return Err(WorkflowError::MissingExport {
            name: "abi_version",
            expected: "an i32 global equal to 1, or a one-byte `switchboard_abi` custom section",
        });
    }
    Ok(())
}

fn check_memory(declared: &Declared, limit: usize) -> Result<(), WorkflowError> {
    let [initial_pages] = declared.memories[..] else {
        return Err(WorkflowError::MemoryCount {
            count: declared.memories.len(),
        });
    };
    let declared_bytes = initial_pages.saturating_mul(64 * 1024);
    if declared_bytes > limit as u64 {
        return Err(WorkflowError::MemoryTooLarge {
            declared: declared_bytes,
            limit,
        });
    }
    Ok(())
}

/// `(i32, i32) -> i32`, the way the ABI table in DESIGN.md writes signatures.
fn signature(params: &[ValType], results: &[ValType]) -> String {
    let list = |types: &[ValType]| types.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ");
    match results {
        [] => format!("({})", list(params)),
        [result] => format!("({}) -> {result}", list(params)),
        _ => format!("({}) -> ({})", list(params), list(results)),
    }
}

/// Reading the binary fails either on malformed bytes or on an ABI fault found on the way.
enum CompileFault {
    Malformed(wasmtime::wasmparser::BinaryReaderError),
    Abi(WorkflowError),
}

impl From<wasmtime::wasmparser::BinaryReaderError> for CompileFault {
    fn from(err: wasmtime::wasmparser::BinaryReaderError) -> CompileFault {
        CompileFault::Malformed(err)
    }
}

impl From<WorkflowError> for CompileFault {
    fn from(err: WorkflowError) -> CompileFault {
        CompileFault::Abi(err)
    }
}
