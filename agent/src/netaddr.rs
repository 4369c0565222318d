//! This host's own addresses, read from /proc (no extra dependency): for the URLs of apps
//! bound on all addresses and for the registration. Addresses of container and VM bridges
//! (`docker0`, `br-*`, `veth*`, `virbr*` ...) are left out: only this host reaches them, so a
//! URL on 172.17.0.1 helps nobody.

use std::net::Ipv4Addr;

/// Non-loopback IPv4 addresses of this host's own interfaces (not bridges), in the kernel's
/// order.
pub fn local_ipv4() -> Vec<String> {
    let addrs = std::fs::read_to_string("/proc/net/fib_trie")
        .map(|t| parse_fib_trie(&t))
        .unwrap_or_default();
    let routes = std::fs::read_to_string("/proc/net/route")
        .map(|t| parse_routes(&t))
        .unwrap_or_default();
    without_bridges(addrs, &routes)
}

/// The host part of a URL for a port bound on `bind`: the address itself, or for all
/// addresses the first of `local_ipv4`, else 127.0.0.1 (a laptop with only Docker's bridge).
pub fn url_host(bind: std::net::IpAddr) -> String {
    match bind {
        std::net::IpAddr::V4(a) if !a.is_unspecified() => a.to_string(),
        std::net::IpAddr::V6(a) if !a.is_unspecified() => format!("[{a}]"),
        _ => local_ipv4()
            .into_iter()
            .next()
            .unwrap_or_else(|| "127.0.0.1".into()),
    }
}

/// Interfaces of containers, VMs and their bridges.
pub fn is_bridge(iface: &str) -> bool {
    [
        "docker", "br-", "veth", "virbr", "cni", "podman", "lxcbr", "lxdbr", "flannel",
    ]
    .iter()
    .any(|p| iface.starts_with(p))
}

/// Pure: directly connected routes of /proc/net/route as (interface, network, mask).
pub fn parse_routes(text: &str) -> Vec<(String, Ipv4Addr, Ipv4Addr)> {
    let hex = |s: &str| {
        u32::from_str_radix(s, 16)
            .ok()
            .map(|v| Ipv4Addr::from(v.to_ne_bytes()))
    };
    text.lines()
        .skip(1)
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            let (iface, dest, gw, mask) = (
                f.first()?,
                hex(f.get(1)?)?,
                hex(f.get(2)?)?,
                hex(f.get(7)?)?,
            );
            gw.is_unspecified().then(|| (iface.to_string(), dest, mask))
        })
        .collect()
}

/// Pure: `addrs` without those on a bridge's network (per `routes`).
pub fn without_bridges(addrs: Vec<String>, routes: &[(String, Ipv4Addr, Ipv4Addr)]) -> Vec<String> {
    addrs
        .into_iter()
        .filter(|a| {
            let Ok(ip) = a.parse::<Ipv4Addr>() else {
                return false;
            };
            !routes.iter().any(|(iface, net, mask)| {
                is_bridge(iface) && u32::from(ip) & u32::from(*mask) == u32::from(*net)
            })
        })
        .collect()
}

/// Pure: the `/32 host LOCAL` entries of /proc/net/fib_trie, loopback and duplicates dropped.
pub fn parse_fib_trie(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let lines: Vec<&str> = text.lines().collect();
    for w in lines.windows(2) {
        if w[1].contains("/32 host LOCAL") {
            let addr = w[0].trim().trim_start_matches("|-- ").trim().to_string();
            if addr.parse::<std::net::Ipv4Addr>().is_ok()
                && !addr.starts_with("127.")
                && !out.contains(&addr)
            {
                out.push(addr);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn reads_local_host_entries() {
        let text = "Main:\n  +-- 0.0.0.0/0 3 0 5\n     |-- 0.0.0.0\n        /0 universe UNICAST\n     +-- 10.0.0.0/24 2 0 2\n        |-- 10.0.0.5\n           /32 host LOCAL\n     +-- 127.0.0.0/8 2 0 2\n        |-- 127.0.0.1\n           /32 host LOCAL\nLocal:\n        |-- 10.0.0.5\n           /32 host LOCAL\n";
        assert_eq!(super::parse_fib_trie(text), vec!["10.0.0.5".to_string()]);
        assert!(super::parse_fib_trie("").is_empty());
    }

    #[test]
    fn bridges_are_left_out() {
        let route =
            "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n\
            eth0\t00000000\t010200C0\t0003\t0\t0\t0\t00000000\t0\t0\t0\n\
            docker0\t000011AC\t00000000\t0001\t0\t0\t0\t0000FFFF\t0\t0\t0\n\
            eth0\t000200C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n";
        let routes = super::parse_routes(route);
        assert_eq!(routes.len(), 2, "{routes:?}");
        let addrs = vec!["172.17.0.1".to_string(), "192.0.2.2".to_string()];
        assert_eq!(super::without_bridges(addrs, &routes), ["192.0.2.2"]);
        assert_eq!(
            super::without_bridges(vec!["172.17.0.1".into()], &routes),
            Vec::<String>::new()
        );
        assert_eq!(super::url_host("127.0.0.1".parse().unwrap()), "127.0.0.1");
        assert_eq!(super::url_host("::1".parse().unwrap()), "[::1]");
    }
}
