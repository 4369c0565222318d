//! Solum's Planfile v1 (`version`, `name`, `artifacts[]` with `content.href`, `parameters`)
//! mapped onto the model.

use serde::Deserialize;

use super::convert::{secret, Ctx, SourceFields};
use super::fields::{
    ArtifactType, InstancesField, LanguagePackField, Name, NonEmpty, Parameters, Ports, Version,
};
use super::locate::FieldPath;
use super::model::{Artifact, ArtifactKind, LanguagePack, Plan, Port};
use super::services::{self, RawRequirement, RawService};
use super::PlanError;

#[derive(Deserialize)]
#[serde(expecting = "a Planfile (a mapping)")]
struct RawPlanfile {
    #[allow(dead_code)] // checked while detecting the format
    version: Option<Version>,
    name: Option<Name>,
    description: Option<String>,
    artifacts: Option<Vec<RawArtifact>>,
    parameters: Option<Parameters>,
    services: Option<Vec<RawService>>,
}

#[derive(Deserialize)]
#[serde(expecting = "an artifact (a mapping)")]
struct RawArtifact {
    name: Option<Name>,
    artifact_type: Option<ArtifactType>,
    content: Option<RawContent>,
    language_pack: Option<LanguagePackField>,
    unittest_cmd: Option<NonEmpty>,
    run_cmd: Option<NonEmpty>,
    ports: Option<Ports>,
    repo_token: Option<String>,
    requirements: Option<Vec<RawRequirement>>,
    instances: Option<InstancesField>,
}

#[derive(Deserialize)]
#[serde(expecting = "the artifact's content (a mapping with `href`)")]
struct RawContent {
    href: Option<NonEmpty>,
    revision: Option<NonEmpty>,
    sha256: Option<NonEmpty>,
    private: Option<bool>,
}

pub(super) fn parse(ctx: &mut Ctx) -> Result<Plan, PlanError> {
    let raw: RawPlanfile = ctx.deserialize()?;
    let root = FieldPath::default();
    let Some(Name(name)) = raw.name else {
        return Err(ctx.error(&root.key("name"), "missing: the plan needs a name"));
    };
    let raw_artifacts = raw.artifacts.unwrap_or_default();
    if raw_artifacts.is_empty() {
        return Err(ctx.error(&root.key("artifacts"), "must list at least one artifact"));
    }
    let mut all_services =
        services::services(ctx, &root.key("services"), raw.services.unwrap_or_default())?;
    let mut artifacts = Vec::new();
    for (i, a) in raw_artifacts.into_iter().enumerate() {
        let path = root.key("artifacts").index(i);
        let artifact = artifact(ctx, &path, a, &mut all_services)?;
        artifacts.push((path, artifact));
    }
    ctx.check_artifacts(&artifacts)?;
    for (i, s) in all_services.iter().enumerate() {
        let required = artifacts
            .iter()
            .any(|(_, a)| a.requirements.iter().any(|r| r.service == s.id));
        if !required {
            ctx.warn(
                &root.key("services").index(i),
                &format!(
                    "no artifact requires the service {:?}: it is not started",
                    s.id
                ),
            );
        }
    }
    Ok(Plan {
        name,
        description: raw.description,
        artifacts: artifacts.into_iter().map(|(_, a)| a).collect(),
        parameters: raw.parameters.unwrap_or_default().0,
        services: all_services,
        warnings: std::mem::take(&mut ctx.warnings),
    })
}

fn artifact(
    ctx: &mut Ctx,
    path: &FieldPath,
    a: RawArtifact,
    all_services: &mut Vec<super::model::Service>,
) -> Result<Artifact, PlanError> {
    let Some(Name(name)) = a.name else {
        return Err(ctx.error(&path.key("name"), "missing: every artifact needs a name"));
    };
    let content = path.key("content");
    let c = a.content.as_ref();
    let fields = SourceFields {
        href_name: "content.href",
        href: c
            .and_then(|c| c.href.as_ref())
            .map(|h| (content.key("href"), h.0.as_str())),
        revision: c
            .and_then(|c| c.revision.as_ref())
            .map(|r| (content.key("revision"), r.0.as_str())),
        sha256: c
            .and_then(|c| c.sha256.as_ref())
            .map(|s| (content.key("sha256"), s.0.as_str())),
    };
    let source = ctx.source(path, fields)?;
    let repo_token = secret(a.repo_token);
    if c.and_then(|c| c.private) == Some(true) && repo_token.is_none() {
        ctx.warn(
            &content.key("private"),
            "the source is private but there is no repo_token",
        );
    }
    let requirements = services::requirements(
        ctx,
        &path.key("requirements"),
        a.requirements.unwrap_or_default(),
        all_services,
    )?;
    Ok(Artifact {
        name,
        kind: a.artifact_type.map_or(ArtifactKind::Buildpack, |t| t.0),
        source,
        language_pack: a.language_pack.map_or(LanguagePack::Auto, |l| l.0),
        unittest_cmd: a.unittest_cmd.map(|c| c.0),
        run_cmd: a.run_cmd.map(|c| c.0),
        ports: a.ports.map_or_else(
            || {
                vec![Port {
                    name: None,
                    number: 80,
                }]
            },
            |p| p.0,
        ),
        repo_token,
        requirements,
        instances: a.instances.map(|i| i.0).unwrap_or_default(),
    })
}
