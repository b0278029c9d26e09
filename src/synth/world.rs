//! The simulated network at generation time: hosts with their wire identity
//! (address, MAC, TTL seen at the capture point), round-trip time, link
//! rate and ephemeral-port counter.
//!
//! Takes a validated [`SynthSpec`]; gives the [`Side`]s and [`Conv`]s the
//! traffic sources need. The capture point is the site's core: internal
//! hosts are seen with their own MAC and initial TTL, external ones behind
//! the gateway's MAC with the TTL their distance leaves.

use super::conv::{Conv, Op, Side};
use super::rng::Rng;
use super::spec::{Closed, Os, Services, SynthSpec};
use super::wire::Endpoint;
use std::collections::BTreeSet;
use std::net::Ipv4Addr;

/// A host as generation sees it.
#[derive(Debug, Clone)]
pub struct HostRt {
    pub name: String,
    pub ep: Endpoint,
    pub os: Os,
    pub external: bool,
    pub services: Services,
    pub closed: Closed,
    /// Round trip capture point <-> host, µs.
    pub rtt_us: i64,
    next_port: u32,
}

/// All hosts, plus the addresses no spoofed packet may use.
#[derive(Debug)]
pub struct World {
    pub hosts: Vec<HostRt>,
    gateway: [u8; 6],
    taken: BTreeSet<u32>,
    /// Internal and external networks of the spec (spoofing avoids them).
    networks: Vec<(u32, u32)>,
}

fn initial_ttl(os: Os) -> u8 {
    match os {
        Os::Linux => 64,
        Os::Windows => 128,
    }
}

fn port_range(os: Os) -> (u32, u32) {
    match os {
        Os::Linux => (32_768, 60_999),
        Os::Windows => (49_152, 65_535),
    }
}

impl World {
    pub fn new(spec: &SynthSpec, rng: &mut Rng) -> World {
        let hosts = spec
            .hosts
            .iter()
            .map(|h| {
                let o = h.ip.octets();
                let ttl = if h.external {
                    initial_ttl(h.os) - 6 - rng.below(14) as u8
                } else {
                    initial_ttl(h.os)
                };
                let mac = if h.external {
                    spec.gateway_mac
                } else {
                    [0x02, 0x1a, o[0], o[1], o[2], o[3]]
                };
                let (lo, hi) = port_range(h.os);
                HostRt {
                    name: h.name.clone(),
                    ep: Endpoint { ip: h.ip, mac, ttl },
                    os: h.os,
                    external: h.external,
                    services: h.services,
                    closed: h.closed,
                    rtt_us: ((h.rtt.sample(rng) * 1e6).round() as i64).max(20),
                    next_port: lo + rng.below(u64::from(hi - lo)) as u32,
                }
            })
            .collect();
        let networks = spec
            .subnets
            .iter()
            .map(|s| {
                let mask = if s.prefix == 0 {
                    0
                } else {
                    u32::MAX << (32 - u32::from(s.prefix))
                };
                (s.network.to_bits(), mask)
            })
            .collect();
        World {
            hosts,
            gateway: spec.gateway_mac,
            taken: spec.hosts.iter().map(|h| h.ip.to_bits()).collect(),
            networks,
        }
    }

    /// The next ephemeral port of host `h` (sequential, wrapping in the
    /// operating system's range).
    pub fn ephemeral(&mut self, h: usize) -> u16 {
        let host = &mut self.hosts[h];
        let (lo, hi) = port_range(host.os);
        let p = host.next_port;
        host.next_port = if p >= hi { lo } else { p + 1 };
        p as u16
    }

    /// A side of a conversation for host `h` on `port`.
    pub fn side(&self, h: usize, port: u16, rng: &mut Rng) -> Side {
        let host = &self.hosts[h];
        Side::new(host.ep, port, host.os, rng)
    }

    /// A conversation from `client` (port `cport`, or an ephemeral one) to
    /// `server:sport` starting at `t_us`.
    #[allow(clippy::too_many_arguments)]
    pub fn conv(
        &mut self,
        proto: u8,
        client: usize,
        cport: Option<u16>,
        server: usize,
        sport: u16,
        t_us: i64,
        ops: Vec<Op>,
        rng: &mut Rng,
    ) -> Conv {
        let cport = cport.unwrap_or_else(|| self.ephemeral(client));
        let c = self.side(client, cport, rng);
        let s = self.side(server, sport, rng);
        let mbps = if self.hosts[client].external || self.hosts[server].external {
            100.0
        } else {
            1000.0
        };
        Conv::new(
            proto,
            c,
            s,
            t_us,
            self.hosts[client].rtt_us,
            self.hosts[server].rtt_us,
            mbps,
            ops,
            rng,
        )
    }

    /// A conversation from a spoofed address in `net/prefix` (anywhere
    /// public for /0) to `server:sport`.
    #[allow(clippy::too_many_arguments)]
    pub fn spoofed_conv(
        &self,
        net: Ipv4Addr,
        prefix: u8,
        proto: u8,
        server: usize,
        sport: u16,
        t_us: i64,
        ops: Vec<Op>,
        rng: &mut Rng,
    ) -> Conv {
        let ip = self.spoofed_ip(net, prefix, rng);
        let ep = Endpoint {
            ip,
            mac: self.gateway,
            ttl: 40 + rng.below(20) as u8,
        };
        let os = if rng.chance(0.5) {
            Os::Linux
        } else {
            Os::Windows
        };
        let c = Side::new(ep, 1024 + rng.below(64_511) as u16, os, rng);
        let s = self.side(server, sport, rng);
        let rtt_c = 5_000 + rng.below(150_000) as i64;
        Conv::new(
            proto,
            c,
            s,
            t_us,
            rtt_c,
            self.hosts[server].rtt_us,
            100.0,
            ops,
            rng,
        )
    }

    fn spoofed_ip(&self, net: Ipv4Addr, prefix: u8, rng: &mut Rng) -> Ipv4Addr {
        let mask = if prefix == 0 {
            0
        } else {
            u32::MAX << (32 - u32::from(prefix))
        };
        for _ in 0..64 {
            let ip = (net.to_bits() & mask) | (rng.u32() & !mask);
            let a = Ipv4Addr::from_bits(ip);
            let public = prefix > 0
                || !(a.is_private()
                    || a.is_loopback()
                    || a.is_link_local()
                    || a.is_multicast()
                    || a.is_broadcast()
                    || a.is_unspecified()
                    || a.octets()[0] == 0
                    || a.octets()[0] >= 224);
            let known = self.taken.contains(&ip) || self.networks.iter().any(|&(n, m)| ip & m == n);
            if public && !known {
                return a;
            }
        }
        // A crowded range: any address in it will do.
        Ipv4Addr::from_bits((net.to_bits() & mask) | (rng.u32() & !mask))
    }
}
