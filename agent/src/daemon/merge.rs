//! Merging the documents of several sources into one, as os-collect-config's sources end up in
//! one metadata view: later sources' top-level keys win, and `deployments` are concatenated
//! with the later source's item winning when two share an id. A `deployments` that is not a
//! list is kept as it is, so that the document's parser refuses it with its reason instead of
//! the merge hiding it. Pure.

use serde_json::{Map, Value};

pub fn merge(docs: &[Value]) -> Value {
    let mut out = Map::new();
    let mut deployments: Vec<Value> = Vec::new();
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
                        let id = item.get("id").cloned();
                        match deployments
                            .iter_mut()
                            .find(|d| id.is_some() && d.get("id") == id.as_ref())
                        {
                            Some(existing) => *existing = item.clone(),
                            None => deployments.push(item.clone()),
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
