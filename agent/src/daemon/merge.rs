//! Merging the documents of several sources into one, as os-collect-config's sources end up in
//! one metadata view: later sources' top-level keys win, and `deployments` are concatenated
//! with the later source's item winning when two share an id. A `deployments` that is not a
//! list is kept as it is, so that the document's parser refuses it with its reason instead of
//! the merge hiding it. Pure.

use std::collections::hash_map::{Entry, HashMap};

use serde_json::{Map, Value};

pub fn merge(docs: &[Value]) -> Value {
    let mut out = Map::new();
    let mut deployments: Vec<Value> = Vec::new();
    // Where each id's item is in `deployments` (ids as JSON text: a string and a number stay
    // apart): one lookup per item, so a document with many deployments merges in linear time.
    let mut by_id: HashMap<String, usize> = HashMap::new();
    let mut unusable: Option<Value> = None;
    for doc in docs {
        let Value::Object(m) = doc else { continue };
        for (k, v) in m {
            if k == "deployments" {
                if !matches!(v, Value::Array(_) | Value::Null) {
                    unusable = Some(v.clone());
                }
                if let Value::Array(items) = v {
                    for item in items {
                        let Some(id) = item.get("id") else {
                            deployments.push(item.clone());
                            continue;
                        };
                        match by_id.entry(id.to_string()) {
                            Entry::Occupied(at) => deployments[*at.get()] = item.clone(),
                            Entry::Vacant(slot) => {
                                slot.insert(deployments.len());
                                deployments.push(item.clone());
                            }
                        }
                    }
                }
            } else {
                out.insert(k.clone(), v.clone());
            }
        }
    }
    if let Some(bad) = unusable {
        out.insert("deployments".into(), bad);
    } else if !deployments.is_empty() {
        out.insert("deployments".into(), Value::Array(deployments));
    }
    Value::Object(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn later_sources_win_and_deployments_merge_by_id() {
        let a = json!({"os-collect-config": {"collectors": ["cfn"]}, "deployments": [{"id": "1", "v": 1}, {"id": "2"}]});
        let b = json!({"os-collect-config": {"collectors": ["request"]}, "deployments": [{"id": "1", "v": 2}, {"id": "3"}]});
        let m = merge(&[a, b]);
        assert_eq!(m["os-collect-config"]["collectors"], json!(["request"]));
        assert_eq!(
            m["deployments"],
            json!([{"id": "1", "v": 2}, {"id": "2"}, {"id": "3"}])
        );
        assert_eq!(merge(&[]), json!({}));
    }

    #[test]
    fn many_deployments_merge_in_linear_time() {
        // 100,000 deployments (a 1.7 MB document) took over five minutes: a linear search per
        // item (found by fuzzing).
        let items: Vec<Value> = (0..100_000).map(|i| json!({"id": i.to_string()})).collect();
        let doc = json!({"deployments": items});
        let start = std::time::Instant::now();
        let m = merge(&[doc.clone(), doc]);
        assert_eq!(m["deployments"].as_array().unwrap().len(), 100_000);
        assert!(
            start.elapsed() < std::time::Duration::from_secs(60),
            "{:?}",
            start.elapsed()
        );
        let m = merge(&[json!({"deployments": [{"id": "1"}, {"id": 1}, {"v": 1}, {"v": 2}]})]);
        assert_eq!(
            m["deployments"].as_array().unwrap().len(),
            4,
            "\"1\" and 1 stay apart"
        );
    }

    #[test]
    fn deployments_that_are_not_a_list_reach_the_parser() {
        let good = json!({"deployments": [{"id": "1"}]});
        let bad = json!({"deployments": "not a list"});
        assert_eq!(merge(&[good.clone(), bad])["deployments"], "not a list");
        assert_eq!(
            merge(&[good, json!({"deployments": null})])["deployments"],
            json!([{"id": "1"}])
        );
    }
}
