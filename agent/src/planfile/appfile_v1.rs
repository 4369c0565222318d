//! Solum's app file v1 (`languagepack`, `source`, `workflow_config`, `trigger_actions`,
//! `ports`, `parameters`) mapped onto the model: one artifact named after the app.

use serde::Deserialize;

use super::convert::{secret, Ctx, SourceFields};
use super::fields::{
    ArtifactType, LanguagePackField, Name, NonEmpty, Parameters, Ports, Unsupported, Version,
};
use super::locate::FieldPath;
use super::model::{Artifact, ArtifactKind, Instances, LanguagePack, Plan, Port};
use super::PlanError;

#[derive(Deserialize)]
#[serde(expecting = "an app file (a mapping)")]
struct RawAppFile {
    #[allow(dead_code)] // checked while detecting the format
    version: Option<Version>,
    name: Option<Name>,
    description: Option<String>,
    languagepack: Option<LanguagePackField>,
    /// Not in Solum's app file; accepted so Dockerfile apps can be written in this format too.
    artifact_type: Option<ArtifactType>,
    source: Option<RawSource>,
    workflow_config: Option<RawWorkflow>,
    trigger_actions: Option<Vec<TriggerAction>>,
    ports: Option<Ports>,
    parameters: Option<Parameters>,
}

#[derive(Deserialize)]
#[serde(expecting = "the app's source (a mapping with `repository`)")]
struct RawSource {
    repository: Option<NonEmpty>,
    revision: Option<NonEmpty>,
    sha256: Option<NonEmpty>,
    repo_token: Option<String>,
    private: Option<bool>,
    private_ssh_key: Option<Unsupported>,
}

#[derive(Deserialize)]
#[serde(expecting = "the workflow config (a mapping with `test_cmd` and `run_cmd`)")]
struct RawWorkflow {
    test_cmd: Option<NonEmpty>,
    run_cmd: Option<NonEmpty>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase", expecting = "one of unittest, build, deploy")]
enum TriggerAction {
    Unittest,
    Build,
    Deploy,
}

pub(super) fn parse(ctx: &mut Ctx) -> Result<Plan, PlanError> {
    let raw: RawAppFile = ctx.deserialize()?;
    let root = FieldPath::default();
    let Some(Name(name)) = raw.name else {
        return Err(ctx.error(&root.key("name"), "missing: the app needs a name"));
    };
    let src = root.key("source");
    let s = raw.source.as_ref();
    let fields = SourceFields {
        href_name: "source.repository",
        href: s
            .and_then(|s| s.repository.as_ref())
            .map(|h| (src.key("repository"), h.0.as_str())),
        revision: s
            .and_then(|s| s.revision.as_ref())
            .map(|r| (src.key("revision"), r.0.as_str())),
        sha256: s
            .and_then(|s| s.sha256.as_ref())
            .map(|h| (src.key("sha256"), h.0.as_str())),
    };
    let source = ctx.source(&src, fields)?;
    let (token, private, ssh_key) = match raw.source {
        Some(s) => (secret(s.repo_token), s.private, s.private_ssh_key.is_some()),
        None => (None, None, false),
    };
    if ssh_key {
        ctx.warn(
            &src.key("private_ssh_key"),
            "not supported by solum-agent (use repo_token), ignored",
        );
    }
    if private == Some(true) && token.is_none() {
        ctx.warn(
            &src.key("private"),
            "the source is private but there is no repo_token",
        );
    }
    let (mut test_cmd, run_cmd) = match raw.workflow_config {
        Some(w) => (w.test_cmd.map(|c| c.0), w.run_cmd.map(|c| c.0)),
        None => (None, None),
    };
    if let Some(actions) = &raw.trigger_actions {
        let path = root.key("trigger_actions");
        if !actions.contains(&TriggerAction::Unittest) {
            test_cmd = None;
        }
        if !actions.contains(&TriggerAction::Build) || !actions.contains(&TriggerAction::Deploy) {
            ctx.warn(
                &path,
                "solum-agent always builds and deploys; only `unittest` can be left out",
            );
        }
    }
    let artifact = Artifact {
        name: name.clone(),
        kind: raw.artifact_type.map_or(ArtifactKind::Buildpack, |t| t.0),
        source,
        language_pack: raw.languagepack.map_or(LanguagePack::Auto, |l| l.0),
        unittest_cmd: test_cmd,
        run_cmd,
        ports: raw.ports.map_or_else(
            || {
                vec![Port {
                    name: None,
                    number: 80,
                }]
            },
            |p| p.0,
        ),
        repo_token: token,
        requirements: Vec::new(),
        instances: Instances::default(),
    };
    Ok(Plan {
        name,
        description: raw.description,
        artifacts: vec![artifact],
        parameters: raw.parameters.unwrap_or_default().0,
        services: Vec::new(),
        warnings: std::mem::take(&mut ctx.warnings),
    })
}
