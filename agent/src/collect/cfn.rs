//! POLL_SERVER_CFN: `DescribeStackResource` on heat-cfn, signed with EC2 signature v2
//! (HmacSHA256), answered in XML with the metadata JSON at
//! `DescribeStackResourceResult/StackResourceDetail/Metadata`.

use super::{parse_document, CollectError, Poll};
use crate::heat::document::{CfnSource, MAX_DOCUMENT_BYTES};
use crate::heat::ec2sign;
use solum_edge::http::read_limited;
use solum_edge::redact;

pub struct CfnCollector {
    source: CfnSource,
}

impl CfnCollector {
    pub fn new(source: CfnSource) -> Self {
        CfnCollector { source }
    }

    pub fn name(&self) -> String {
        format!("cfn {}", redact::url(&self.source.metadata_url))
    }

    /// The signed query of a DescribeStackResource request (pure; tested).
    pub fn signed_params(&self) -> Result<(String, Vec<(String, String)>), CollectError> {
        let url = url::Url::parse(&self.source.metadata_url)
            .map_err(|e| CollectError::invalid(&self.name(), format!("metadata_url: {e}")))?;
        let host = match (url.host_str(), url.port()) {
            (Some(h), Some(p)) => format!("{h}:{p}"),
            (Some(h), None) => h.to_string(),
            (None, _) => {
                return Err(CollectError::invalid(
                    &self.name(),
                    "metadata_url has no host",
                ))
            }
        };
        let mut params: Vec<(String, String)> = vec![
            ("Action".into(), "DescribeStackResource".into()),
            ("StackName".into(), self.source.stack_name.clone()),
            (
                "LogicalResourceId".into(),
                self.source.resource().to_string(),
            ),
            ("AWSAccessKeyId".into(), self.source.access_key_id.clone()),
            ("SignatureVersion".into(), "2".into()),
            ("SignatureMethod".into(), "HmacSHA256".into()),
        ];
        let sig = ec2sign::sign_v2(
            self.source.secret_access_key.expose(),
            "GET",
            &host,
            url.path(),
            &params,
        );
        params.push(("Signature".into(), sig));
        Ok((self.source.metadata_url.clone(), params))
    }

    pub async fn poll(&mut self, client: &reqwest::Client) -> Result<Poll, CollectError> {
        let name = self.name();
        let (url, params) = self.signed_params()?;
        let request = client
            .get(&url)
            .query(&params)
            .header("Content-Type", "application/json");
        let resp = super::send_ok(request, &name).await?;
        let body = read_limited(resp, MAX_DOCUMENT_BYTES, &name)
            .await
            .map_err(|e| CollectError::unavailable(&name, e.to_string()))?;
        let text = String::from_utf8(body)
            .map_err(|_| CollectError::invalid(&name, "answer is not UTF-8"))?;
        let json = metadata_from_xml(
            &text,
            self.source
                .path
                .split_once('.')
                .map(|(_, f)| f)
                .unwrap_or("Metadata"),
        )
        .map_err(|m| CollectError::invalid(&name, m))?;
        Ok(Poll::Document(parse_document(&name, json.as_bytes())?))
    }
}

/// Pure: the text of `DescribeStackResourceResult/StackResourceDetail/<field>` (field may have
/// a `.sub.path` into the JSON, which we do not support beyond the field itself).
pub fn metadata_from_xml(xml: &str, field: &str) -> Result<String, String> {
    let field = field.split('.').next().unwrap_or(field);
    let doc = roxmltree::Document::parse(xml).map_err(|e| format!("answer is not XML: {e}"))?;
    let result = child(doc.root_element(), "DescribeStackResourceResult")
        .ok_or("no DescribeStackResourceResult in the answer")?;
    let detail =
        child(result, "StackResourceDetail").ok_or("no StackResourceDetail in the answer")?;
    let meta = child(detail, field).ok_or_else(|| format!("no {field} in the answer"))?;
    Ok(meta.text().unwrap_or("").to_string())
}

fn child<'a, 'input>(
    node: roxmltree::Node<'a, 'input>,
    name: &str,
) -> Option<roxmltree::Node<'a, 'input>> {
    node.children()
        .find(|c| c.is_element() && c.tag_name().name() == name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::planfile::Secret;

    fn collector(url: &str) -> CfnCollector {
        CfnCollector::new(CfnSource {
            metadata_url: url.into(),
            access_key_id: "AK".into(),
            secret_access_key: Secret("SK".into()),
            stack_name: "st".into(),
            path: "server.Metadata".into(),
        })
    }

    #[test]
    fn signs_what_heat_checks() {
        let (_, params) = collector("http://heat:8000/v1/").signed_params().unwrap();
        assert!(ec2sign::verify_v2(
            "SK",
            "GET",
            "heat:8000",
            "/v1/",
            &params
        ));
        assert!(params
            .iter()
            .any(|(k, v)| k == "LogicalResourceId" && v == "server"));
        let (_, params) = collector("http://heat/v1/").signed_params().unwrap();
        assert!(ec2sign::verify_v2("SK", "GET", "heat", "/v1/", &params));
    }

    #[test]
    fn extracts_metadata_from_heats_xml() {
        let xml = r#"<DescribeStackResourceResponse><DescribeStackResourceResult><StackResourceDetail><StackId>x</StackId><Metadata>{"deployments": []}</Metadata></StackResourceDetail></DescribeStackResourceResult></DescribeStackResourceResponse>"#;
        assert_eq!(
            metadata_from_xml(xml, "Metadata").unwrap(),
            r#"{"deployments": []}"#
        );
        assert!(metadata_from_xml("<a/>", "Metadata")
            .unwrap_err()
            .contains("DescribeStackResourceResult"));
        assert!(metadata_from_xml("{json}", "Metadata")
            .unwrap_err()
            .contains("not XML"));
    }
}
