//! Budgets for documents that come from outside: a YAML or JSON text is measured before any
//! deserializer builds it, so a small hostile file cannot cost gigabytes or minutes.
//!
//! A [`Budget`] bounds the text's size, the nodes (scalars, sequences, mappings) and scalar
//! bytes it holds once every alias is expanded (an alias counts by the size of what it
//! names), and the nesting depth. `yaml::check` walks the YAML event stream once (linear in
//! the text, aliases resolved from a table of sizes, never expanded); `json::check` scans the
//! JSON text once. `yaml::from_str` and `json::from_slice` check, then deserialize.
//! The only I/O is `read_text`, which reads one file up to a size without trusting its
//! metadata.

pub mod json;
mod read;
pub mod yaml;

pub use read::{read_text, ReadError};

/// What one document may cost.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budget {
    /// Bytes of the text itself.
    pub max_bytes: usize,
    /// Bytes of all scalars (keys included) once aliases are expanded.
    pub max_expanded_bytes: usize,
    /// Scalars, sequences and mappings once aliases are expanded.
    pub max_nodes: usize,
    /// Sequences and mappings nested in each other.
    pub max_depth: usize,
}

impl Budget {
    /// For any document the project reads: 16 MiB of text, 32 MiB of scalars and 500,000 nodes
    /// once expanded (about 150 MB at most once deserialized), 128 levels (serde_norway's and
    /// serde_json's own recursion limit).
    pub const DEFAULT: Budget = Budget {
        max_bytes: 16 << 20,
        max_expanded_bytes: 32 << 20,
        max_nodes: 500_000,
        max_depth: 128,
    };

    /// This budget with another limit on the text's size.
    pub const fn with_max_bytes(self, max_bytes: usize) -> Budget {
        Budget { max_bytes, ..self }
    }
}

impl Default for Budget {
    fn default() -> Self {
        Budget::DEFAULT
    }
}

/// Why a document is refused before it is deserialized. `line` is 1-based.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BudgetError {
    #[error("{size} bytes, over the {max} byte limit")]
    TooLarge { size: usize, max: usize },
    #[error("expands to more than {max} bytes of values at line {line} (an alias counts by what it expands to)")]
    Expanded { line: usize, max: usize },
    #[error("more than {max} values at line {line} (an alias counts by what it expands to)")]
    Nodes { line: usize, max: usize },
    #[error("nested deeper than {max} levels at line {line}")]
    Depth { line: usize, max: usize },
    #[error("{message} at line {line}")]
    Syntax { line: usize, message: String },
}

impl BudgetError {
    /// The 1-based line the document was refused at, if it was refused at one.
    pub fn line(&self) -> Option<usize> {
        match self {
            BudgetError::TooLarge { .. } => None,
            BudgetError::Expanded { line, .. }
            | BudgetError::Nodes { line, .. }
            | BudgetError::Depth { line, .. }
            | BudgetError::Syntax { line, .. } => Some(*line),
        }
    }
}

/// Running totals against a budget, shared by both scanners.
struct Meter<'b> {
    budget: &'b Budget,
    bytes: u64,
    nodes: u64,
    depth: usize,
}

impl<'b> Meter<'b> {
    fn new(budget: &'b Budget) -> Self {
        Meter {
            budget,
            bytes: 0,
            nodes: 0,
            depth: 0,
        }
    }

    /// Adds `nodes` nodes holding `bytes` scalar bytes, seen at `line`.
    fn add(&mut self, nodes: u64, bytes: u64, line: usize) -> Result<(), BudgetError> {
        self.nodes = self.nodes.saturating_add(nodes);
        self.bytes = self.bytes.saturating_add(bytes);
        if self.nodes > self.budget.max_nodes as u64 {
            return Err(BudgetError::Nodes {
                line,
                max: self.budget.max_nodes,
            });
        }
        if self.bytes > self.budget.max_expanded_bytes as u64 {
            return Err(BudgetError::Expanded {
                line,
                max: self.budget.max_expanded_bytes,
            });
        }
        Ok(())
    }

    fn enter(&mut self, line: usize) -> Result<(), BudgetError> {
        self.depth += 1;
        if self.depth > self.budget.max_depth {
            return Err(BudgetError::Depth {
                line,
                max: self.budget.max_depth,
            });
        }
        Ok(())
    }

    fn leave(&mut self) {
        self.depth = self.depth.saturating_sub(1);
    }
}

fn check_size(len: usize, budget: &Budget) -> Result<(), BudgetError> {
    if len > budget.max_bytes {
        return Err(BudgetError::TooLarge {
            size: len,
            max: budget.max_bytes,
        });
    }
    Ok(())
}
