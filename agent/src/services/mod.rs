//! The local services of a plan (PostgreSQL, MariaDB, RabbitMQ, Redis) and the bound ones.
//! A local service runs in a container of the one service image (`stack`'s
//! `solum/services:<release>`), on a named volume, published on the Docker bridge's gateway at
//! a host port allocated once; its credentials are generated once and kept 0600. A bound
//! service runs elsewhere: its URL is a plan parameter (or Heat input). Either way the app gets
//! the URLs as environment variables (`envmap`), at build and run time, and starts only once
//! its local services answer (`ready`).
//!
//! One job per file: `naming` (names, labels), `store` (record and credentials), `network`
//! (gateway, host port), `container` (volume and container), `exec` (commands in it), `ready`,
//! `envmap` (the app's variables), `dump` (export, import), `inventory` (the list).

pub mod container;
pub mod dump;
pub mod envmap;
pub mod exec;
pub mod inventory;
pub mod naming;
pub mod network;
pub mod ready;
pub mod store;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use bollard::Docker;

use crate::planfile::{Artifact, Binding, Plan, Secret, Service, ServiceKind};

pub use envmap::ServiceEnv;
pub use store::{Credentials, ServiceRecord, Store};

/// A log line sink (the deploy's).
pub type LogFn = Arc<dyn Fn(&str) + Send + Sync>;

#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error("service {service}: its url_parameter {parameter} is not set (give it as a plan parameter, a Heat input or in the agent's environment)")]
    MissingUrl { service: String, parameter: String },
    #[error("service {service} ({kind}) did not answer within {secs} s: {reason}")]
    NotReady {
        service: String,
        kind: String,
        secs: u64,
        reason: String,
    },
    #[error("service {0}")]
    Invalid(String),
    #[error("{0}")]
    Conflict(String),
    #[error("no service {service} of app {app} here (see `solum-agent services`)")]
    NoSuchService { app: String, service: String },
    #[error("{context}: {source}")]
    Docker {
        context: String,
        source: bollard::errors::Error,
    },
    #[error("{0}")]
    Exec(String),
    #[error("{0}")]
    Network(String),
    #[error("{context}: {source}")]
    Io {
        context: String,
        source: std::io::Error,
    },
}

fn io_err(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> ServiceError {
    let context = context.into();
    move |source| ServiceError::Io { context, source }
}

/// The services side of one agent.
pub struct Services<'a> {
    pub docker: &'a Docker,
    pub store: Store,
    pub agent: &'a str,
    /// The service image (`stack::services_image`), made before by `stack::ensure_services_image`.
    pub image: &'a str,
    pub ready_timeout: Duration,
}

/// What one app gets from its services.
#[derive(Debug, Default)]
pub struct Provided {
    /// The variables (values are secrets: URLs with credentials).
    pub env: ServiceEnv,
    /// The URLs, for taking them out of any text shown.
    pub secrets: Vec<String>,
}

impl Services<'_> {
    /// Makes sure every service `artifact` requires is there and answering, and returns the
    /// app's variables. Local services are started (or adopted) and waited for; bound ones
    /// are looked up.
    pub async fn provide(
        &self,
        plan: &Plan,
        artifact: &Artifact,
        app: &str,
        log: &LogFn,
    ) -> Result<Provided, ServiceError> {
        let mut endpoints = Vec::new();
        for service in plan.services_of(artifact) {
            let url = match &service.binding {
                Binding::Bound { url_parameter } => {
                    let url = bound_url(service, url_parameter, plan)?;
                    self.remember_bound(plan, service, url_parameter, app)?;
                    url
                }
                Binding::Local => self.provide_local(plan, service, app, log).await?,
            };
            endpoints.push(envmap::Endpoint { service, url });
        }
        let secrets = endpoints.iter().map(|e| e.url.0.clone()).collect();
        Ok(Provided {
            env: envmap::app_env(&endpoints),
            secrets,
        })
    }

    /// A bound service is listed too: its record names the parameter, never the URL.
    fn remember_bound(
        &self,
        plan: &Plan,
        service: &Service,
        url_parameter: &str,
        app: &str,
    ) -> Result<(), ServiceError> {
        naming::check(&plan.name, &service.id).map_err(ServiceError::Invalid)?;
        let key = naming::key(&plan.name, &service.id);
        let mut record = self
            .store
            .read_record(&key)
            .map_err(io_err(format!("reading the record of service {key}")))?
            .filter(|r| r.plan == plan.name && r.id == service.id)
            .unwrap_or_else(|| ServiceRecord {
                plan: plan.name.clone(),
                id: service.id.clone(),
                name: service.name.clone(),
                kind: service.kind.as_str().to_string(),
                host_port: 0,
                url_parameter: None,
                apps: Default::default(),
            });
        record.url_parameter = Some(url_parameter.to_string());
        record.kind = service.kind.as_str().to_string();
        record.apps.insert(app.to_string());
        self.store
            .write_record(&record)
            .map_err(io_err(format!("writing the record of service {key}")))
    }

    async fn provide_local(
        &self,
        plan: &Plan,
        service: &Service,
        app: &str,
        log: &LogFn,
    ) -> Result<Secret, ServiceError> {
        naming::check(&plan.name, &service.id).map_err(ServiceError::Invalid)?;
        let key = naming::key(&plan.name, &service.id);
        let name = naming::resource_name(&plan.name, &service.id);
        let gateway = network::bridge_gateway(self.docker).await?;
        let mut record = match self
            .store
            .read_record(&key)
            .map_err(io_err(format!("reading the record of service {key}")))?
        {
            Some(r) if r.plan != plan.name || r.id != service.id => {
                return Err(ServiceError::Conflict(format!(
                    "service {} of plan {}: its name {name} is taken by service {} of plan {}",
                    service.id, plan.name, r.id, r.plan
                )))
            }
            Some(r) if r.url_parameter.is_some() => ServiceRecord {
                url_parameter: None,
                host_port: network::free_port(gateway)?,
                ..r
            },
            Some(r) if r.kind != service.kind.as_str() => {
                return Err(ServiceError::Conflict(format!(
                    "service {} of plan {} was a {} service and is now {}: its data would not fit (destroy the apps using it with --purge first)",
                    service.id, plan.name, r.kind, service.kind.as_str()
                )))
            }
            Some(r) => r,
            None => ServiceRecord {
                plan: plan.name.clone(),
                id: service.id.clone(),
                name: service.name.clone(),
                kind: service.kind.as_str().to_string(),
                host_port: network::free_port(gateway)?,
                url_parameter: None,
                apps: Default::default(),
            },
        };
        record.name = service.name.clone();
        record.apps.insert(app.to_string());
        self.store
            .write_record(&record)
            .map_err(io_err(format!("writing the record of service {key}")))?;
        let credentials = self
            .store
            .credentials(&key, &service.id)
            .map_err(io_err(format!("the credentials of service {key}")))?;
        container::ensure(
            self.docker,
            &container::Spec {
                agent: self.agent,
                plan: &plan.name,
                id: &service.id,
                kind: service.kind,
                image: self.image,
                gateway,
                host_port: record.host_port,
                credentials: &credentials,
            },
        )
        .await?;
        let took = ready::wait(
            self.docker,
            &name,
            &service.id,
            service.kind,
            self.ready_timeout,
            &credentials.password,
        )
        .await?;
        log(&format!(
            "-----> {app}: service {} ({}) ready in {:.1} s at {gateway}:{}",
            service.id,
            service.kind.as_str(),
            took.as_secs_f64(),
            record.host_port
        ));
        Ok(envmap::local_url(
            service.kind,
            &credentials.user,
            &credentials.password,
            &gateway.to_string(),
            record.host_port,
            &credentials.database,
        ))
    }

    /// `destroy APP`: the app no longer uses its services. A service no app uses any more
    /// loses its container; its volume and credentials stay unless `purge`. Returns what was
    /// removed, one line each.
    pub async fn release_app(&self, app: &str, purge: bool) -> Result<Vec<String>, ServiceError> {
        let mut removed = Vec::new();
        for mut record in self
            .store
            .records()
            .map_err(io_err("reading the service records"))?
        {
            let used = record.apps.remove(app);
            // A plan's service after `destroy` without --purge: no app, but the app's plan.
            let orphan_of_app = record.apps.is_empty()
                && (record.plan == app || app.starts_with(&format!("{}-", record.plan)));
            if !used && !orphan_of_app {
                continue;
            }
            let name = naming::resource_name(&record.plan, &record.id);
            if !record.apps.is_empty() {
                if used {
                    self.store
                        .write_record(&record)
                        .map_err(io_err(format!("writing the record of {name}")))?;
                }
                if purge {
                    removed.push(format!(
                        "kept {name}: still used by {}",
                        record.apps.iter().cloned().collect::<Vec<_>>().join(", ")
                    ));
                }
                continue;
            }
            if record.url_parameter.is_some() {
                if purge {
                    self.store
                        .remove(&record.key())
                        .map_err(io_err(format!("removing the state of {name}")))?;
                } else {
                    self.store
                        .write_record(&record)
                        .map_err(io_err(format!("writing the record of {name}")))?;
                }
                continue;
            }
            container::remove(self.docker, &name).await?;
            if used {
                removed.push(format!("container {name}"));
            }
            if purge {
                container::remove_volume(self.docker, &name).await?;
                self.store
                    .remove(&record.key())
                    .map_err(io_err(format!("removing the state of {name}")))?;
                removed.push(format!("volume {name}"));
                removed.push(format!(
                    "credentials of {name} ({})",
                    self.store.dir(&record.key()).display()
                ));
            } else {
                self.store
                    .write_record(&record)
                    .map_err(io_err(format!("writing the record of {name}")))?;
            }
        }
        Ok(removed)
    }

    /// The record of `service` used by `app` (or of the plan named `app`).
    pub fn find(&self, app: &str, service: &str) -> Result<ServiceRecord, ServiceError> {
        self.store
            .records()
            .map_err(io_err("reading the service records"))?
            .into_iter()
            .find(|r| r.id == service && (r.apps.contains(app) || r.plan == app))
            .ok_or_else(|| ServiceError::NoSuchService {
                app: app.to_string(),
                service: service.to_string(),
            })
    }

    /// `services export APP SERVICE FILE`.
    pub async fn export(&self, app: &str, service: &str, file: &Path) -> Result<u64, ServiceError> {
        let record = self.find(app, service)?;
        dump::export(self.docker, &record, file).await
    }

    /// `services import APP SERVICE FILE`.
    pub async fn import(&self, app: &str, service: &str, file: &Path) -> Result<u64, ServiceError> {
        let record = self.find(app, service)?;
        dump::import(self.docker, &record, file).await
    }
}

/// A bound service's URL: the plan parameter (Heat inputs are merged into them) or the
/// agent's environment variable named by `url_parameter`.
fn bound_url(service: &Service, parameter: &str, plan: &Plan) -> Result<Secret, ServiceError> {
    let value = plan
        .parameters
        .get(parameter)
        .cloned()
        .or_else(|| std::env::var(parameter).ok())
        .filter(|v| !v.trim().is_empty());
    value.map(Secret).ok_or_else(|| ServiceError::MissingUrl {
        service: service.id.clone(),
        parameter: parameter.to_string(),
    })
}

/// The kind of a record (a record of a kind this agent does not know is refused).
pub fn record_kind(record: &ServiceRecord) -> Result<ServiceKind, ServiceError> {
    record.kind().ok_or_else(|| {
        ServiceError::Invalid(format!(
            "{}: unknown kind {} in its record",
            record.key(),
            record.kind
        ))
    })
}

/// The plan parameters named by bound services' `url_parameter` (their values are secrets).
pub fn bound_parameters(plan: &Plan) -> BTreeMap<String, ()> {
    plan.services
        .iter()
        .filter_map(|s| match &s.binding {
            Binding::Bound { url_parameter } => Some((url_parameter.clone(), ())),
            Binding::Local => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(params: &[(&str, &str)]) -> Plan {
        Plan {
            name: "shop".into(),
            description: None,
            artifacts: vec![],
            parameters: params
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            services: vec![],
            warnings: vec![],
        }
    }

    #[test]
    fn a_bound_url_comes_from_the_parameters_and_a_missing_one_is_named() {
        let s = Service {
            id: "db".into(),
            name: "db".into(),
            kind: ServiceKind::Postgresql,
            binding: Binding::Bound {
                url_parameter: "SOLUM_TEST_NO_SUCH_DB_URL".into(),
            },
        };
        let p = plan(&[("SOLUM_TEST_NO_SUCH_DB_URL", "postgres://u:p@h/d")]);
        assert_eq!(
            bound_url(&s, "SOLUM_TEST_NO_SUCH_DB_URL", &p).unwrap().0,
            "postgres://u:p@h/d"
        );
        let e = bound_url(&s, "SOLUM_TEST_NO_SUCH_DB_URL", &plan(&[])).unwrap_err();
        let msg = e.to_string();
        assert!(msg.contains("service db"), "{msg}");
        assert!(msg.contains("SOLUM_TEST_NO_SUCH_DB_URL"), "{msg}");
    }
}
