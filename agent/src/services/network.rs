//! Where apps reach local services: the Docker bridge's gateway address (172.17.0.1 on a
//! default engine), at a host port allocated once per service. App and build containers sit
//! on that bridge and reach the gateway; nothing is published on any other address. See
//! docs/decisions.md, "Local services are published on the bridge's gateway".

use std::net::{Ipv4Addr, SocketAddr, TcpListener};

use bollard::Docker;

use super::ServiceError;

/// The range host ports are drawn from: below Linux's ephemeral range (32768-60999), so that
/// outgoing connections never hold the port of a service that is restarting.
pub const PORT_RANGE: std::ops::Range<u16> = 20000..32000;

/// The gateway of the engine's default bridge network.
pub async fn bridge_gateway(docker: &Docker) -> Result<Ipv4Addr, ServiceError> {
    let net = docker
        .inspect_network(
            "bridge",
            None::<bollard::query_parameters::InspectNetworkOptions>,
        )
        .await
        .map_err(|e| ServiceError::Network(format!("inspecting the bridge network: {e}")))?;
    let configs: Vec<(Option<String>, Option<String>)> = net
        .ipam
        .and_then(|i| i.config)
        .unwrap_or_default()
        .into_iter()
        .map(|c| (c.gateway, c.subnet))
        .collect();
    gateway_of(&configs).ok_or_else(|| {
        ServiceError::Network(
            "the engine's bridge network has no IPv4 gateway or subnet (is the default bridge disabled, `bridge: none`?)"
                .into(),
        )
    })
}

/// Pure: the gateway of an IPAM config, `(gateway, subnet)` pairs: the first IPv4 gateway,
/// else the first host address of the first IPv4 subnet (what the engine gives its bridge
/// when the configuration names no gateway, as Debian's engine reports it).
pub fn gateway_of(configs: &[(Option<String>, Option<String>)]) -> Option<Ipv4Addr> {
    let gateway = configs
        .iter()
        .filter_map(|(g, _)| g.as_deref()?.parse::<Ipv4Addr>().ok())
        .next();
    gateway.or_else(|| {
        configs.iter().find_map(|(_, s)| {
            let (net, len) = s.as_deref()?.split_once('/')?;
            let net: Ipv4Addr = net.parse().ok()?;
            let len: u32 = len.parse().ok()?;
            (len <= 30).then(|| Ipv4Addr::from(u32::from(net) + 1))
        })
    })
}

/// A port of `PORT_RANGE` free on `addr` now (tried in a random order).
pub fn free_port(addr: Ipv4Addr) -> Result<u16, ServiceError> {
    let span = PORT_RANGE.end - PORT_RANGE.start;
    let start = fastrand::u16(0..span);
    for i in 0..span.min(200) {
        let port = PORT_RANGE.start + (start + i) % span;
        if TcpListener::bind(SocketAddr::from((addr, port))).is_ok() {
            return Ok(port);
        }
    }
    Err(ServiceError::Network(format!(
        "no free port in {}..{} on {addr} after 200 tries (is this agent on the Docker host?)",
        PORT_RANGE.start, PORT_RANGE.end
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(g: Option<&str>, s: Option<&str>) -> (Option<String>, Option<String>) {
        (g.map(str::to_string), s.map(str::to_string))
    }

    #[test]
    fn the_gateway_is_named_or_the_subnets_first_host() {
        assert_eq!(
            gateway_of(&[c(Some("10.1.0.5"), Some("10.1.0.0/24"))]),
            Some(Ipv4Addr::new(10, 1, 0, 5))
        );
        assert_eq!(
            gateway_of(&[c(None, Some("172.17.0.0/16"))]),
            Some(Ipv4Addr::new(172, 17, 0, 1))
        );
        assert_eq!(
            gateway_of(&[c(None, Some("fd00::/64")), c(None, Some("172.18.0.0/16"))]),
            Some(Ipv4Addr::new(172, 18, 0, 1))
        );
        assert_eq!(gateway_of(&[]), None);
        assert_eq!(gateway_of(&[c(None, Some("garbage"))]), None);
    }

    #[test]
    fn free_ports_are_in_range_and_bindable() {
        let p = free_port(Ipv4Addr::LOCALHOST).unwrap();
        assert!(PORT_RANGE.contains(&p));
        TcpListener::bind((Ipv4Addr::LOCALHOST, p)).unwrap();
    }
}
