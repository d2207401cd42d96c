//! Static limits on a module's code, read off the binary before the compiler sees it: how
//! many functions, and per function its body size, locals, blocks and deepest nesting.
//!
//! These are the shapes whose compile cost grows faster than their size (cranelift took
//! 1.8 s and 250 MB for one function of 10,000 blocks, over 3 GB for 40,000), so refusing
//! them here costs one pass over the bytes, and the refusal names the limit. What they do
//! not catch, the child process's memory and time budget does (`isolate.rs`).

use wasmtime::wasmparser::{Operator, Parser, Payload};

use super::{WorkflowConfig, WorkflowError};

/// Checks every function body of `binary` (a wasm binary) against `config`'s limits.
pub(super) fn check(binary: &[u8], config: &WorkflowConfig) -> Result<(), WorkflowError> {
    let malformed = |err: wasmtime::wasmparser::BinaryReaderError| WorkflowError::DoesNotCompile {
        reason: err.to_string(),
    };
    let mut index = 0u32;
    for payload in Parser::new(0).parse_all(binary) {
        match payload.map_err(malformed)? {
            Payload::FunctionSection(functions) => {
                over(
                    "max_functions",
                    None,
                    functions.count().into(),
                    config.max_functions.into(),
                )?;
            }
            Payload::CodeSectionEntry(body) => {
                let function = Some(index);
                index += 1;
                let size = body.range().len() as u64;
                over(
                    "max_function_body_bytes",
                    function,
                    size,
                    config.max_function_body_bytes as u64,
                )?;
                let mut locals = 0u64;
                for declared in body.get_locals_reader().map_err(malformed)? {
                    let (count, _) = declared.map_err(malformed)?;
                    locals += u64::from(count);
                    over("max_locals", function, locals, config.max_locals.into())?;
                }
                let mut operators = body.get_operators_reader().map_err(malformed)?;
                let (mut blocks, mut depth) = (0u64, 0u64);
                while !operators.eof() {
                    match operators.read().map_err(malformed)? {
                        Operator::Block { .. }
                        | Operator::Loop { .. }
                        | Operator::If { .. }
                        | Operator::TryTable { .. }
                        | Operator::Try { .. } => {
                            blocks += 1;
                            depth += 1;
                            over(
                                "max_blocks_per_function",
                                function,
                                blocks,
                                config.max_blocks_per_function.into(),
                            )?;
                            over("max_nesting_depth", function, depth, config.max_nesting_depth.into())?;
                        }
                        Operator::End => depth = depth.saturating_sub(1),
                        _ => {}
                    }
                }
            }
            _ => {}
        }
    }
    Ok(())
}

fn over(limit: &'static str, function: Option<u32>, found: u64, max: u64) -> Result<(), WorkflowError> {
    if found <= max {
        return Ok(());
    }
    Err(WorkflowError::OverLimit {
        limit,
        function,
        found,
        max,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `route` whose body is `i32.const 0` then `k` sequential blocks, each adding 1.
    fn sequential_blocks(k: usize) -> Vec<u8> {
        let body = "(block (result i32) i32.const 1) i32.add ".repeat(k);
        wat::parse_str(format!("(module (func (result i32) i32.const 0 {body}))")).unwrap()
    }

    fn nested_blocks(depth: usize) -> Vec<u8> {
        let body = format!("{}{}", "(block ".repeat(depth), ")".repeat(depth));
        wat::parse_str(format!("(module (func {body}))")).unwrap()
    }

    fn limits() -> WorkflowConfig {
        WorkflowConfig {
            max_blocks_per_function: 100,
            max_nesting_depth: 10,
            max_locals: 5,
            max_functions: 3,
            max_function_body_bytes: 10_000,
            ..WorkflowConfig::default()
        }
    }

    fn refused(binary: &[u8]) -> String {
        match check(binary, &limits()) {
            Err(err @ WorkflowError::OverLimit { .. }) => err.to_string(),
            other => panic!("expected a limit, got {other:?}"),
        }
    }

    #[test]
    fn blocks_per_function_at_the_limit_pass_one_more_is_refused_by_name() {
        check(&sequential_blocks(100), &limits()).unwrap();
        let err = refused(&sequential_blocks(101));
        assert!(
            err.contains("max_blocks_per_function") && err.contains("function 0"),
            "{err}"
        );
    }

    #[test]
    fn nesting_depth_is_counted_not_blocks() {
        check(&nested_blocks(10), &limits()).unwrap();
        assert!(refused(&nested_blocks(11)).contains("max_nesting_depth"));
    }

    #[test]
    fn locals_functions_and_body_bytes_are_limited() {
        let locals = wat::parse_str("(module (func (local i32 i32 i32) (local i64 i64 f32)))").unwrap();
        assert!(refused(&locals).contains("max_locals"));
        let functions = wat::parse_str("(module (func) (func) (func) (func))").unwrap();
        assert!(refused(&functions).contains("max_functions"));
        let big = wat::parse_str(format!("(module (func {}))", "nop ".repeat(10_001))).unwrap();
        assert!(refused(&big).contains("max_function_body_bytes"));
    }
}
