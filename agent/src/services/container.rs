//! A local service's volume and container: the create request (pure) and making sure the
//! container exists, runs the current service image and is started. The container is
//! `--restart unless-stopped`, so it comes back after a `docker` restart or a reboot.

use std::collections::HashMap;
use std::net::Ipv4Addr;

use bollard::models::{
    ContainerCreateBody, HostConfig, Mount, MountTypeEnum, PortBinding, RestartPolicy,
    RestartPolicyNameEnum, VolumeCreateOptions,
};
use bollard::query_parameters::{
    CreateContainerOptions, InspectContainerOptions, RemoveContainerOptions, StopContainerOptions,
};
use bollard::Docker;

use crate::labels::{LABEL_AGENT, LABEL_APP, LABEL_SERVICE};
use crate::planfile::ServiceKind;

use super::naming;
use super::store::Credentials;
use super::ServiceError;

/// Where the service image keeps its data.
pub const DATA_DIR: &str = "/var/lib/solum-service";

/// What a service container is made from.
pub struct Spec<'a> {
    pub agent: &'a str,
    pub plan: &'a str,
    pub id: &'a str,
    pub kind: ServiceKind,
    pub image: &'a str,
    pub gateway: Ipv4Addr,
    pub host_port: u16,
    pub credentials: &'a Credentials,
}

/// Pure: the create request of a service container.
pub fn create_body(spec: &Spec<'_>) -> ContainerCreateBody {
    let port = format!("{}/tcp", naming::container_port(spec.kind));
    let name = naming::resource_name(spec.plan, spec.id);
    ContainerCreateBody {
        image: Some(spec.image.to_string()),
        cmd: Some(vec!["solum-service".into(), spec.kind.as_str().into()]),
        env: Some(vec![
            format!("SOLUM_SERVICE_USER={}", spec.credentials.user),
            format!("SOLUM_SERVICE_PASSWORD={}", spec.credentials.password),
            format!("SOLUM_SERVICE_DATABASE={}", spec.credentials.database),
        ]),
        labels: Some(naming::labels(spec.agent, spec.plan, spec.id, spec.kind)),
        exposed_ports: Some(HashMap::from([(port.clone(), HashMap::new())])),
        host_config: Some(HostConfig {
            port_bindings: Some(HashMap::from([(
                port,
                Some(vec![PortBinding {
                    host_ip: Some(spec.gateway.to_string()),
                    host_port: Some(spec.host_port.to_string()),
                }]),
            )])),
            mounts: Some(vec![Mount {
                target: Some(DATA_DIR.into()),
                source: Some(name),
                typ: Some(MountTypeEnum::VOLUME),
                ..Default::default()
            }]),
            init: Some(true),
            restart_policy: Some(RestartPolicy {
                name: Some(RestartPolicyNameEnum::UNLESS_STOPPED),
                maximum_retry_count: None,
            }),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// The volume and a running container of `spec`. An existing container of another image (a
/// newer service image) is replaced: the data is on the volume. A container of that name
/// that is not this agent's service is an error, never touched.
pub async fn ensure(docker: &Docker, spec: &Spec<'_>) -> Result<(), ServiceError> {
    let name = naming::resource_name(spec.plan, spec.id);
    let derr = |context: String| move |e| ServiceError::Docker { context, source: e };
    docker
        .create_volume(VolumeCreateOptions {
            name: Some(name.clone()),
            labels: Some(naming::labels(spec.agent, spec.plan, spec.id, spec.kind)),
            ..Default::default()
        })
        .await
        .map_err(derr(format!("creating the volume {name}")))?;
    let image_id = docker
        .inspect_image(spec.image)
        .await
        .map_err(derr(format!("the service image {}", spec.image)))?
        .id
        .unwrap_or_default();
    match docker
        .inspect_container(&name, None::<InspectContainerOptions>)
        .await
    {
        Ok(c) => {
            let labels = c
                .config
                .as_ref()
                .and_then(|c| c.labels.clone())
                .unwrap_or_default();
            let ours = labels.get(LABEL_AGENT).map(String::as_str) == Some(spec.agent)
                && labels.get(LABEL_APP).map(String::as_str) == Some(spec.plan)
                && labels.get(LABEL_SERVICE).map(String::as_str) == Some(spec.id);
            if !ours {
                return Err(ServiceError::Conflict(format!(
                    "a container named {name} exists that is not service {} of plan {} of this agent: remove it or rename the service",
                    spec.id, spec.plan
                )));
            }
            if c.image.as_deref() == Some(image_id.as_str()) {
                let running = c.state.as_ref().and_then(|s| s.running).unwrap_or(false);
                if !running {
                    docker
                        .start_container(
                            &name,
                            None::<bollard::query_parameters::StartContainerOptions>,
                        )
                        .await
                        .map_err(derr(format!("starting {name}")))?;
                }
                return Ok(());
            }
            tracing::info!("{name}: a new service image, replacing the container (data kept)");
            remove(docker, &name).await?;
        }
        Err(bollard::errors::Error::DockerResponseServerError {
            status_code: 404, ..
        }) => {}
        Err(e) => return Err(derr(format!("inspecting {name}"))(e)),
    }
    docker
        .create_container(
            Some(CreateContainerOptions {
                name: Some(name.clone()),
                ..Default::default()
            }),
            create_body(spec),
        )
        .await
        .map_err(derr(format!("creating {name}")))?;
    docker
        .start_container(
            &name,
            None::<bollard::query_parameters::StartContainerOptions>,
        )
        .await
        .map_err(derr(format!(
            "starting {name} (published on {}:{})",
            spec.gateway, spec.host_port
        )))?;
    Ok(())
}

/// Stops and removes a service container (gone already is fine); its volume stays.
pub async fn remove(docker: &Docker, name: &str) -> Result<(), ServiceError> {
    let _ = docker
        .stop_container(
            name,
            Some(StopContainerOptions {
                t: Some(30),
                ..Default::default()
            }),
        )
        .await;
    let r = docker
        .remove_container(
            name,
            Some(RemoveContainerOptions {
                force: true,
                ..Default::default()
            }),
        )
        .await;
    gone_is_fine(r, || format!("removing {name}"))
}

/// Removes a service's volume (its data).
pub async fn remove_volume(docker: &Docker, name: &str) -> Result<(), ServiceError> {
    let r = docker
        .remove_volume(name, None::<bollard::query_parameters::RemoveVolumeOptions>)
        .await;
    gone_is_fine(r, || format!("removing the volume {name}"))
}

/// A removal's result: done, or nothing there to remove (404), both fine.
fn gone_is_fine(
    r: Result<(), bollard::errors::Error>,
    context: impl FnOnce() -> String,
) -> Result<(), ServiceError> {
    match r {
        Ok(())
        | Err(bollard::errors::Error::DockerResponseServerError {
            status_code: 404, ..
        }) => Ok(()),
        Err(e) => Err(ServiceError::Docker {
            context: context(),
            source: e,
        }),
    }
}

/// Docker's state word of a container (`running`, `exited`, ...), `absent` when there is none.
pub async fn state(docker: &Docker, name: &str) -> String {
    match docker
        .inspect_container(name, None::<InspectContainerOptions>)
        .await
    {
        Ok(c) => c
            .state
            .and_then(|s| s.status)
            .map(|s| s.to_string())
            .unwrap_or_else(|| "unknown".into()),
        Err(_) => "absent".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_service_is_published_on_the_gateway_only_with_its_volume() {
        let creds = Credentials {
            user: "solum".into(),
            password: "pw".into(),
            database: "db".into(),
        };
        let spec = Spec {
            agent: "a1",
            plan: "shop",
            id: "db",
            kind: ServiceKind::Postgresql,
            image: "solum/services:bookworm",
            gateway: Ipv4Addr::new(172, 17, 0, 1),
            host_port: 20123,
            credentials: &creds,
        };
        let b = create_body(&spec);
        assert_eq!(
            b.cmd.unwrap(),
            vec!["solum-service".to_string(), "postgresql".to_string()]
        );
        let hc = b.host_config.unwrap();
        let bind = &hc.port_bindings.unwrap()["5432/tcp"].clone().unwrap()[0];
        assert_eq!(bind.host_ip.as_deref(), Some("172.17.0.1"));
        assert_eq!(bind.host_port.as_deref(), Some("20123"));
        let m = &hc.mounts.unwrap()[0];
        assert_eq!(m.source.as_deref(), Some("solum-svc-shop-db"));
        assert_eq!(m.target.as_deref(), Some(DATA_DIR));
        assert_eq!(
            hc.restart_policy.unwrap().name,
            Some(RestartPolicyNameEnum::UNLESS_STOPPED)
        );
        assert!(b
            .env
            .unwrap()
            .contains(&"SOLUM_SERVICE_PASSWORD=pw".to_string()));
        assert_eq!(b.labels.unwrap()[LABEL_SERVICE], "db");
    }
}
