//! What a local service is called in Docker and in the state directory (pure). A service
//! belongs to its plan, not to one app: every app of the plan that requires it shares it.
//! Container and volume are both `solum-svc-<plan>-<service id>`; the state files live under
//! `services/<plan>-<service id>/`. Plan names (at most 100 of `[A-Za-z0-9_-]`) and service
//! ids (the app-name rule, at most 63) keep the name under 175 bytes: a valid Docker object
//! name and file name.

use std::collections::HashMap;

use crate::labels::{
    LABEL_AGENT, LABEL_APP, LABEL_ROLE, LABEL_SERVICE, LABEL_SERVICE_KIND, ROLE_SERVICE,
};
use crate::planfile::ServiceKind;

/// The longest plan name the Planfile allows.
pub const MAX_PLAN_LEN: usize = 100;

/// `<plan>-<id>`: the key of a service in the state directory.
pub fn key(plan: &str, id: &str) -> String {
    format!("{plan}-{id}")
}

/// The container's and the volume's name.
pub fn resource_name(plan: &str, id: &str) -> String {
    format!("solum-svc-{}", key(plan, id))
}

/// `Ok` when `plan` and `id` make a safe name (no path separators, no `..`, bounded).
pub fn check(plan: &str, id: &str) -> Result<(), String> {
    let plan_ok = !plan.is_empty()
        && plan.len() <= MAX_PLAN_LEN
        && plan
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-'));
    if !plan_ok {
        return Err(format!(
            "invalid plan name {plan:?} for a service: letters, digits, '_' and '-' (at most {MAX_PLAN_LEN})"
        ));
    }
    crate::appname::check(id).map_err(|e| format!("service id: {e}"))
}

/// The labels of a service's container and volume.
pub fn labels(agent: &str, plan: &str, id: &str, kind: ServiceKind) -> HashMap<String, String> {
    HashMap::from([
        (LABEL_AGENT.to_string(), agent.to_string()),
        (LABEL_APP.to_string(), plan.to_string()),
        (LABEL_ROLE.to_string(), ROLE_SERVICE.to_string()),
        (LABEL_SERVICE.to_string(), id.to_string()),
        (LABEL_SERVICE_KIND.to_string(), kind.as_str().to_string()),
    ])
}

/// The port the server listens on inside the service image.
pub fn container_port(kind: ServiceKind) -> u16 {
    match kind {
        ServiceKind::Postgresql => 5432,
        ServiceKind::Mysql => 3306,
        ServiceKind::Rabbitmq => 5672,
        ServiceKind::Redis => 6379,
    }
}

/// The database (PostgreSQL, MariaDB) or vhost (RabbitMQ) name made for a service: `db_` and
/// its id, lower case, every character but letters and digits as `_`, at most 63 (an
/// identifier every server takes, never a reserved name like `postgres`, no URL escaping).
pub fn database_name(id: &str) -> String {
    let name: String = id
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .collect();
    let mut out = format!("db_{name}");
    out.truncate(63);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_bounded_and_safe() {
        let plan = "p".repeat(MAX_PLAN_LEN);
        let id = "i".repeat(crate::appname::MAX_LEN);
        assert!(check(&plan, &id).is_ok());
        let name = resource_name(&plan, &id);
        assert!(name.len() < 255, "{}", name.len());
        assert_eq!(resource_name("shop", "db"), "solum-svc-shop-db");
        assert_eq!(key("shop", "db"), "shop-db");
        assert!(check("shop", "../x").is_err());
        assert!(check("shop", "a/b").is_err());
        assert!(check("a/b", "db").is_err());
        assert!(check("a.b", "db").is_err());
        assert!(check(&"p".repeat(MAX_PLAN_LEN + 1), "db").is_err());
        assert!(check("", "db").is_err());
    }

    #[test]
    fn labels_name_agent_plan_service_and_kind() {
        let l = labels("a1", "shop", "db", ServiceKind::Postgresql);
        assert_eq!(l[LABEL_AGENT], "a1");
        assert_eq!(l[LABEL_APP], "shop");
        assert_eq!(l[LABEL_ROLE], ROLE_SERVICE);
        assert_eq!(l[LABEL_SERVICE], "db");
        assert_eq!(l[LABEL_SERVICE_KIND], "postgresql");
    }

    #[test]
    fn database_names_need_no_escaping() {
        assert_eq!(database_name("My-DB.1"), "db_my_db_1");
        assert_eq!(database_name("postgres"), "db_postgres");
        assert_eq!(database_name(&"x".repeat(63)).len(), 63);
        assert_eq!(container_port(ServiceKind::Redis), 6379);
    }
}
