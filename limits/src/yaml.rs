//! YAML documents measured from their event stream (saphyr-parser, a pure-Rust YAML 1.2
//! parser) before serde_norway builds them. Each anchored node's expanded size is kept in a
//! table when the node ends, so an alias adds that size without being expanded: the walk is
//! linear in the text, whatever the aliases multiply to. Nesting is counted on the same walk.

use saphyr_parser::{Event, Parser};
use serde::de::DeserializeOwned;

use crate::{check_size, Budget, BudgetError, Meter};

/// Checks `text` against `budget` without building it. A text the event parser cannot read
/// is refused as `BudgetError::Syntax` with its line.
pub fn check(text: &str, budget: &Budget) -> Result<(), BudgetError> {
    check_size(text.len(), budget)?;
    let mut meter = Meter::new(budget);
    // Expanded (nodes, bytes) of each anchor, by anchor id (ids count up from 1).
    let mut anchors: Vec<Option<(u64, u64)>> = Vec::new();
    // Open collections: their anchor id and the totals when they started.
    let mut open: Vec<(usize, u64, u64)> = Vec::new();
    // The line each open collection starts on, to say where an unclosed one began.
    let mut open_lines: Vec<usize> = Vec::new();
    for item in Parser::new_from_str(text) {
        let (event, span) = item.map_err(|e| syntax(&e, budget, open_lines.last().copied()))?;
        let line = span.start.line();
        match event {
            Event::Scalar(value, _, anchor, _) => {
                let size = (1, value.len() as u64);
                meter.add(size.0, size.1, line)?;
                remember(&mut anchors, anchor, size);
            }
            Event::SequenceStart(anchor, _) | Event::MappingStart(anchor, _) => {
                meter.enter(line)?;
                open.push((anchor, meter.nodes, meter.bytes));
                open_lines.push(line);
                meter.add(1, 0, line)?;
            }
            Event::SequenceEnd | Event::MappingEnd => {
                meter.leave();
                open_lines.pop();
                if let Some((anchor, nodes, bytes)) = open.pop() {
                    let size = (meter.nodes - nodes, meter.bytes - bytes);
                    remember(&mut anchors, anchor, size);
                }
            }
            Event::Alias(id) => {
                match anchors.get(id).copied().flatten() {
                    Some((nodes, bytes)) => meter.add(nodes, bytes, line)?,
                    None => return Err(BudgetError::Syntax {
                        line,
                        message:
                            "an alias to a node that is not complete (a node cannot contain itself)"
                                .into(),
                    }),
                }
            }
            Event::Nothing
            | Event::StreamStart
            | Event::StreamEnd
            | Event::DocumentStart(_)
            | Event::DocumentEnd => {}
        }
    }
    Ok(())
}

/// The event parser's error; its own flow-depth limit (255) is reported as the budget's. When
/// the error is found on a later line than the innermost open collection began (an unclosed
/// `[`), that line is named too.
fn syntax(e: &saphyr_parser::ScanError, budget: &Budget, open_at: Option<usize>) -> BudgetError {
    let line = e.marker().line();
    match e.info() {
        "recursion limit exceeded" => BudgetError::Depth {
            line,
            max: budget.max_depth,
        },
        info => BudgetError::Syntax {
            line,
            message: match open_at.filter(|l| *l < line) {
                Some(start) => format!("{info} (in the collection that starts at line {start})"),
                None => info.to_string(),
            },
        },
    }
}

fn remember(anchors: &mut Vec<Option<(u64, u64)>>, anchor: usize, size: (u64, u64)) {
    if anchor == 0 {
        return;
    }
    if anchors.len() <= anchor {
        anchors.resize(anchor + 1, None);
    }
    anchors[anchor] = Some(size);
}

/// A YAML document refused by its budget or by the deserializer.
#[derive(Debug, thiserror::Error)]
pub enum YamlError {
    #[error(transparent)]
    Budget(#[from] BudgetError),
    #[error(transparent)]
    Parse(#[from] serde_norway::Error),
}

impl YamlError {
    /// The 1-based line of the problem, when known.
    pub fn line(&self) -> Option<usize> {
        match self {
            YamlError::Budget(e) => e.line(),
            YamlError::Parse(e) => e.location().map(|l| l.line()),
        }
    }
}

/// `check`, then `serde_norway::from_str`.
pub fn from_str<T: DeserializeOwned>(text: &str, budget: &Budget) -> Result<T, YamlError> {
    check(text, budget)?;
    Ok(serde_norway::from_str(text)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn small() -> Budget {
        Budget {
            max_bytes: 1 << 20,
            max_expanded_bytes: 1000,
            max_nodes: 100,
            max_depth: 8,
        }
    }

    #[test]
    fn plain_documents_pass() {
        let doc = "a: 1\nb: [x, y, {c: d}]\nc: &x hello\nd: *x\n";
        check(doc, &small()).unwrap();
        check("", &small()).unwrap();
        check("---\na: 1\n---\nb: 2\n", &small()).unwrap();
    }

    #[test]
    fn an_alias_counts_by_what_it_expands_to() {
        // 300 bytes, each alias 300 more: the fourth brings 1200 > 1000.
        let doc = format!("s: &s {}\np: [*s, *s, *s]\n", "A".repeat(300));
        assert!(matches!(
            check(&doc, &small()),
            Err(BudgetError::Expanded { line: 2, max: 1000 })
        ));
        let ok = format!("s: &s {}\np: [*s, *s]\n", "A".repeat(300));
        check(&ok, &small()).unwrap();
    }

    #[test]
    fn nested_aliases_multiply() {
        // The billion laughs: each level ten aliases of the one before.
        let doc = "a: &a [x, x, x, x, x, x, x, x, x, x]\n\
                   b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\n\
                   c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\n";
        let budget = Budget {
            max_nodes: 1000,
            ..small()
        };
        assert!(matches!(
            check(doc, &budget),
            Err(BudgetError::Nodes { line: 3, max: 1000 })
        ));
    }

    #[test]
    fn depth_is_limited_in_flow_and_block_style() {
        let flow = format!("{}{}", "[".repeat(9), "]".repeat(9));
        assert!(matches!(
            check(&flow, &small()),
            Err(BudgetError::Depth { line: 1, max: 8 })
        ));
        check(&format!("{}{}", "[".repeat(8), "]".repeat(8)), &small()).unwrap();
        let block = "- ".repeat(9) + "x\n";
        assert!(matches!(
            check(&block, &small()),
            Err(BudgetError::Depth { .. })
        ));
    }

    #[test]
    fn deep_flow_nesting_is_cheap_to_refuse() {
        let doc = format!("a: {}{}", "[".repeat(100_000), "]".repeat(100_000));
        let t = std::time::Instant::now();
        assert!(matches!(
            check(&doc, &Budget::DEFAULT),
            Err(BudgetError::Depth { line: 1, max: 128 })
        ));
        assert!(t.elapsed() < std::time::Duration::from_secs(1));
    }

    #[test]
    fn size_and_syntax() {
        let b = small().with_max_bytes(10);
        assert!(matches!(
            check("a: 123456789\n", &b),
            Err(BudgetError::TooLarge { size: 13, max: 10 })
        ));
        let e = check("a: 1\nb: [1, 2\n", &small()).unwrap_err();
        assert!(matches!(e, BudgetError::Syntax { .. }), "{e}");
        assert!(e.to_string().contains("starts at line 2"), "{e}");
        let e = check("a: *nope\n", &small()).unwrap_err();
        assert!(matches!(e, BudgetError::Syntax { line: 1, .. }), "{e}");
    }

    #[test]
    fn from_str_checks_then_deserializes() {
        let v: serde_norway::Value = from_str("a: [1, 2]\n", &small()).unwrap();
        assert_eq!(v["a"][1].as_u64(), Some(2));
        let e = from_str::<serde_norway::Value>("a: [1, 2\n", &small()).unwrap_err();
        assert!(e.line().is_some(), "{e}");
    }
}
