//! The environment an app gets from its services (pure): the variables users of Heroku and
//! Dokku expect, plus `<SERVICE NAME>_URL` for each service.
//!
//! - postgresql: `DATABASE_URL=postgres://u:p@host:port/db`
//! - mysql: `DATABASE_URL=mysql://u:p@host:port/db`
//! - redis: `REDIS_URL=redis://:p@host:port`
//! - rabbitmq: `RABBITMQ_URL` and `AMQP_URL` = `amqp://u:p@host:port/vhost`
//!
//! `<NAME>_URL` (the service's name upper-cased, anything but letters and digits as `_`) is
//! given first; then the kinds' variables in the order of the artifact's requirements, the
//! first requirement winning a variable two of them would set, with a warning. Values are
//! secrets: warnings name variables and services, never values.

use std::collections::BTreeMap;

use crate::planfile::{Secret, Service, ServiceKind};

/// A service an app requires, with the URL that reaches it (credentials included).
pub struct Endpoint<'a> {
    pub service: &'a Service,
    pub url: Secret,
}

/// What the app gets: variables (values are secrets) and findings worth a warning.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct ServiceEnv {
    pub vars: BTreeMap<String, String>,
    pub warnings: Vec<String>,
}

/// The variables of a kind of service.
pub fn kind_vars(kind: ServiceKind) -> &'static [&'static str] {
    match kind {
        ServiceKind::Postgresql | ServiceKind::Mysql => &["DATABASE_URL"],
        ServiceKind::Redis => &["REDIS_URL"],
        ServiceKind::Rabbitmq => &["RABBITMQ_URL", "AMQP_URL"],
    }
}

/// `<NAME>_URL` of a service named `name`.
pub fn name_var(name: &str) -> String {
    let mut v: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_uppercase()
            } else {
                '_'
            }
        })
        .collect();
    v.push_str("_URL");
    v
}

/// The URL of a local service, built from its parts.
pub fn local_url(
    kind: ServiceKind,
    user: &str,
    password: &str,
    host: &str,
    port: u16,
    database: &str,
) -> Secret {
    Secret(match kind {
        ServiceKind::Postgresql => format!("postgres://{user}:{password}@{host}:{port}/{database}"),
        ServiceKind::Mysql => format!("mysql://{user}:{password}@{host}:{port}/{database}"),
        ServiceKind::Redis => format!("redis://:{password}@{host}:{port}"),
        ServiceKind::Rabbitmq => format!("amqp://{user}:{password}@{host}:{port}/{database}"),
    })
}

/// The app's environment from its services, in requirement order.
pub fn app_env(endpoints: &[Endpoint<'_>]) -> ServiceEnv {
    let mut out = ServiceEnv::default();
    let mut owner: BTreeMap<String, String> = BTreeMap::new();
    let mut give = |out: &mut ServiceEnv, var: String, e: &Endpoint<'_>| {
        match owner.get(&var) {
        Some(first) if *first != e.service.id => out.warnings.push(format!(
            "services {first} and {} both map to {var}: {first} (required first) gets it; {} is in {}",
            e.service.id,
            e.service.id,
            name_var(&e.service.name)
        )),
        Some(_) => {}
        None => {
            owner.insert(var.clone(), e.service.id.clone());
            out.vars.insert(var, e.url.expose().to_string());
        }
    }
    };
    for e in endpoints {
        give(&mut out, name_var(&e.service.name), e);
    }
    for e in endpoints {
        for var in kind_vars(e.service.kind) {
            give(&mut out, var.to_string(), e);
        }
    }
    out
}

/// Joins the services' variables into the plan's parameters: a parameter the plan sets
/// itself wins (with a warning unless it has the same value).
pub fn merge_into(
    params: &BTreeMap<String, String>,
    services: ServiceEnv,
) -> (BTreeMap<String, String>, Vec<String>) {
    let mut env = params.clone();
    let mut warnings = services.warnings;
    for (k, v) in services.vars {
        match params.get(&k) {
            Some(p) if *p != v => warnings.push(format!(
                "parameter {k} is set by the plan: it wins over the service's {k}"
            )),
            Some(_) => {}
            None => {
                env.insert(k, v);
            }
        }
    }
    (env, warnings)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::planfile::Binding;

    fn svc(id: &str, name: &str, kind: ServiceKind) -> Service {
        Service {
            id: id.into(),
            name: name.into(),
            kind,
            binding: Binding::Local,
        }
    }

    #[test]
    fn urls_of_each_kind() {
        let u = |k| local_url(k, "u", "p", "172.17.0.1", 5, "d").0;
        assert_eq!(u(ServiceKind::Postgresql), "postgres://u:p@172.17.0.1:5/d");
        assert_eq!(u(ServiceKind::Mysql), "mysql://u:p@172.17.0.1:5/d");
        assert_eq!(u(ServiceKind::Redis), "redis://:p@172.17.0.1:5");
        assert_eq!(u(ServiceKind::Rabbitmq), "amqp://u:p@172.17.0.1:5/d");
    }

    #[test]
    fn each_kind_gets_its_variables_and_its_name() {
        let db = svc("db", "main-db", ServiceKind::Postgresql);
        let mq = svc("mq", "queue", ServiceKind::Rabbitmq);
        let cache = svc("cache", "cache", ServiceKind::Redis);
        let env = app_env(&[
            Endpoint {
                service: &db,
                url: Secret("pg".into()),
            },
            Endpoint {
                service: &mq,
                url: Secret("amqp".into()),
            },
            Endpoint {
                service: &cache,
                url: Secret("redis".into()),
            },
        ]);
        let want: BTreeMap<String, String> = [
            ("MAIN_DB_URL", "pg"),
            ("DATABASE_URL", "pg"),
            ("QUEUE_URL", "amqp"),
            ("RABBITMQ_URL", "amqp"),
            ("AMQP_URL", "amqp"),
            ("CACHE_URL", "redis"),
            ("REDIS_URL", "redis"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        assert_eq!(env.vars, want);
        assert!(env.warnings.is_empty(), "{:?}", env.warnings);
    }

    #[test]
    fn the_first_requirement_wins_a_shared_variable_with_a_warning() {
        let a = svc("a", "orders", ServiceKind::Postgresql);
        let b = svc("b", "users", ServiceKind::Mysql);
        let env = app_env(&[
            Endpoint {
                service: &a,
                url: Secret("secret-a".into()),
            },
            Endpoint {
                service: &b,
                url: Secret("secret-b".into()),
            },
        ]);
        assert_eq!(env.vars["DATABASE_URL"], "secret-a");
        assert_eq!(env.vars["ORDERS_URL"], "secret-a");
        assert_eq!(env.vars["USERS_URL"], "secret-b");
        assert_eq!(env.warnings.len(), 1, "{:?}", env.warnings);
        assert!(env.warnings[0].contains("DATABASE_URL"));
        assert!(env.warnings[0].contains("USERS_URL"));
        assert!(!env.warnings[0].contains("secret"), "no values in warnings");
    }

    #[test]
    fn a_name_variable_beats_another_services_kind_variable() {
        // A PostgreSQL service named "redis" owns REDIS_URL; the real redis keeps CACHE_URL.
        let pg = svc("pg", "redis", ServiceKind::Postgresql);
        let cache = svc("cache", "cache", ServiceKind::Redis);
        let env = app_env(&[
            Endpoint {
                service: &cache,
                url: Secret("r".into()),
            },
            Endpoint {
                service: &pg,
                url: Secret("p".into()),
            },
        ]);
        assert_eq!(env.vars["REDIS_URL"], "p");
        assert_eq!(env.vars["CACHE_URL"], "r");
        assert_eq!(env.warnings.len(), 1);
    }

    #[test]
    fn name_variables_are_upper_case_words() {
        assert_eq!(name_var("my-db.1"), "MY_DB_1_URL");
        assert_eq!(name_var("Cache"), "CACHE_URL");
    }

    #[test]
    fn plan_parameters_win() {
        let params = BTreeMap::from([
            ("DATABASE_URL".to_string(), "mine".to_string()),
            ("X".to_string(), "1".to_string()),
        ]);
        let services = ServiceEnv {
            vars: BTreeMap::from([
                ("DATABASE_URL".to_string(), "theirs".to_string()),
                ("DB_URL".to_string(), "theirs".to_string()),
            ]),
            warnings: vec![],
        };
        let (env, warnings) = merge_into(&params, services);
        assert_eq!(env["DATABASE_URL"], "mine");
        assert_eq!(env["DB_URL"], "theirs");
        assert_eq!(env["X"], "1");
        assert_eq!(warnings.len(), 1);
        assert!(!warnings[0].contains("theirs"));
    }
}
