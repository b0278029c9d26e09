//! The traffic spec: TOML text -> raw serde structs -> a validated [`SynthSpec`].
//!
//! Takes the spec file's text (and the `--seed`/`--scale` overrides); gives
//! a checked spec whose fields are all in range, or every problem found at
//! once as [`SpecIssue`]s with line, column and key path. Unknown keys are
//! errors (all of them are listed, not only the first). `datasets/*/spec.toml`
//! and `datasets/README.md` describe every key; the reference is the
//! annotated `datasets/quickstart/spec.toml`.
//!
//! Units: times in a distribution are seconds, sizes are bytes, `start`,
//! `duration` and `period` are durations (`"90s"`, `"1m30s"`, `"250ms"`, or a
//! number of seconds), rates are per second for the whole source.
//! `--scale N` multiplies subnet host counts, benign rates and attack
//! `rate`/`count` (periods, jitter and byte sizes, the signature of an
//! attack, are not scaled).

use super::dist::{Dist, Family};
pub use crate::config::ConfigIssue as SpecIssue;
use crate::config::{Issues, parse_toml};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use toml::Spanned;

// ------------------------------------------------------------------ checked

/// Container of the generated capture.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CaptureFormat {
    Pcap,
    PcapNg,
}

/// Operating-system behaviour of a host: initial TTL, window, ephemeral ports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Os {
    Linux,
    Windows,
}

/// What a closed port does with a probe.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Closed {
    /// TCP RST / ICMP port unreachable.
    Reset,
    /// Nothing (a filtering firewall).
    Drop,
}

/// A service a host offers (its well-known port).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Service {
    Ftp,
    Ssh,
    Dns,
    Http,
    Ntp,
    Rpc,
    Https,
    Smb,
}

impl Service {
    pub const ALL: [Service; 8] = [
        Service::Ftp,
        Service::Ssh,
        Service::Dns,
        Service::Http,
        Service::Ntp,
        Service::Rpc,
        Service::Https,
        Service::Smb,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Service::Ftp => "ftp",
            Service::Ssh => "ssh",
            Service::Dns => "dns",
            Service::Http => "http",
            Service::Ntp => "ntp",
            Service::Rpc => "rpc",
            Service::Https => "https",
            Service::Smb => "smb",
        }
    }

    pub fn port(self) -> u16 {
        match self {
            Service::Ftp => 21,
            Service::Ssh => 22,
            Service::Dns => 53,
            Service::Http => 80,
            Service::Ntp => 123,
            Service::Rpc => 135,
            Service::Https => 443,
            Service::Smb => 445,
        }
    }

    /// True for services on UDP.
    pub fn udp(self) -> bool {
        matches!(self, Service::Dns | Service::Ntp)
    }

    fn bit(self) -> u16 {
        1 << (self as u16)
    }
}

/// A set of services.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Services(u16);

impl Services {
    pub fn has(self, s: Service) -> bool {
        self.0 & s.bit() != 0
    }

    pub fn insert(&mut self, s: Service) {
        self.0 |= s.bit();
    }

    /// True when a TCP (`udp == false`) or UDP port is open.
    pub fn open(self, port: u16, udp: bool) -> bool {
        Service::ALL
            .iter()
            .any(|&s| self.has(s) && s.port() == port && s.udp() == udp)
    }
}

/// A host of the simulated network.
#[derive(Debug, Clone, PartialEq)]
pub struct HostSpec {
    pub name: String,
    pub ip: Ipv4Addr,
    pub os: Os,
    /// Outside the capture point: seen through the gateway, TTL reduced.
    pub external: bool,
    pub services: Services,
    pub closed: Closed,
    /// Round-trip time between the capture point and the host, seconds.
    pub rtt: Dist,
    /// Index of the subnet the host belongs to, if any.
    pub subnet: Option<usize>,
}

/// A named group of hosts.
#[derive(Debug, Clone, PartialEq)]
pub struct SubnetSpec {
    pub name: String,
    pub network: Ipv4Addr,
    pub prefix: u8,
    pub hosts: Vec<usize>,
}

/// A benign application protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum App {
    Http,
    Https,
    Dns,
    SshInteractive,
    SshBulk,
    Smb,
    Ntp,
}

impl App {
    pub const ALL: [App; 7] = [
        App::Http,
        App::Https,
        App::Dns,
        App::SshInteractive,
        App::SshBulk,
        App::Smb,
        App::Ntp,
    ];

    pub fn name(self) -> &'static str {
        match self {
            App::Http => "http",
            App::Https => "https",
            App::Dns => "dns",
            App::SshInteractive => "ssh_interactive",
            App::SshBulk => "ssh_bulk",
            App::Smb => "smb",
            App::Ntp => "ntp",
        }
    }

    pub fn service(self) -> Service {
        match self {
            App::Http => Service::Http,
            App::Https => Service::Https,
            App::Dns => Service::Dns,
            App::SshInteractive | App::SshBulk => Service::Ssh,
            App::Smb => Service::Smb,
            App::Ntp => Service::Ntp,
        }
    }

    /// Default request size, response size, exchanges per flow and think
    /// time (seconds) of the application.
    fn defaults(self) -> (Dist, Dist, Dist, Dist) {
        let ln = |median: f64, sigma: f64, max: f64| Dist {
            family: Family::LogNormal { median, sigma },
            min: Some(1.0),
            max: Some(max),
        };
        let pareto = |scale: f64, shape: f64, max: f64| Dist {
            family: Family::Pareto { scale, shape },
            min: None,
            max: Some(max),
        };
        let exp = |mean: f64| Dist::of(Family::Exponential { mean });
        let one = Dist::constant(1.0);
        match self {
            App::Http => (
                ln(420.0, 0.3, 4000.0),
                pareto(900.0, 1.2, 4e6),
                ln(2.0, 0.8, 40.0),
                exp(0.8),
            ),
            App::Https => (
                ln(600.0, 0.4, 8000.0),
                pareto(1500.0, 1.15, 8e6),
                ln(3.0, 0.8, 60.0),
                exp(0.6),
            ),
            App::Dns => (ln(34.0, 0.2, 120.0), ln(90.0, 0.4, 480.0), one, exp(0.0)),
            App::SshInteractive => (
                Dist::constant(36.0),
                ln(60.0, 0.8, 2000.0),
                ln(80.0, 0.9, 2000.0),
                exp(0.35),
            ),
            App::SshBulk => (Dist::constant(64.0), ln(2e6, 1.0, 5e7), one, exp(0.0)),
            App::Smb => (
                ln(120.0, 0.3, 2000.0),
                pareto(4096.0, 1.1, 2e7),
                ln(3.0, 0.7, 40.0),
                exp(0.2),
            ),
            App::Ntp => (Dist::constant(48.0), Dist::constant(48.0), one, exp(0.0)),
        }
    }
}

/// One benign background source.
#[derive(Debug, Clone, PartialEq)]
pub struct BenignSpec {
    pub app: App,
    pub clients: Vec<usize>,
    pub servers: Vec<usize>,
    /// New flows per second, whole source.
    pub rate: f64,
    /// Shape of the inter-arrival times (mean = 1 / rate).
    pub interarrival: Dist,
    pub start_us: i64,
    pub end_us: i64,
    pub request_bytes: Dist,
    pub response_bytes: Dist,
    pub exchanges: Dist,
    pub think: Dist,
}

/// An attack generator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttackKind {
    SynScan,
    ConnectScan,
    FinScan,
    NullScan,
    XmasScan,
    UdpScan,
    HostSweep,
    SynFlood,
    UdpFlood,
    Slowloris,
    SlowRead,
    SshBruteForce,
    FtpBruteForce,
    HttpBruteForce,
    WebExploit,
    C2HttpsBeacon,
    C2DnsBeacon,
    DnsTunnel,
    HttpsExfil,
    SmbLateral,
}

/// Keys every step accepts.
const STEP_COMMON: &[&str] = &[
    "id",
    "kind",
    "start",
    "from",
    "targets",
    "label",
    "technique",
];

impl AttackKind {
    pub const ALL: [AttackKind; 20] = [
        AttackKind::SynScan,
        AttackKind::ConnectScan,
        AttackKind::FinScan,
        AttackKind::NullScan,
        AttackKind::XmasScan,
        AttackKind::UdpScan,
        AttackKind::HostSweep,
        AttackKind::SynFlood,
        AttackKind::UdpFlood,
        AttackKind::Slowloris,
        AttackKind::SlowRead,
        AttackKind::SshBruteForce,
        AttackKind::FtpBruteForce,
        AttackKind::HttpBruteForce,
        AttackKind::WebExploit,
        AttackKind::C2HttpsBeacon,
        AttackKind::C2DnsBeacon,
        AttackKind::DnsTunnel,
        AttackKind::HttpsExfil,
        AttackKind::SmbLateral,
    ];

    pub fn name(self) -> &'static str {
        match self {
            AttackKind::SynScan => "syn_scan",
            AttackKind::ConnectScan => "connect_scan",
            AttackKind::FinScan => "fin_scan",
            AttackKind::NullScan => "null_scan",
            AttackKind::XmasScan => "xmas_scan",
            AttackKind::UdpScan => "udp_scan",
            AttackKind::HostSweep => "host_sweep",
            AttackKind::SynFlood => "syn_flood",
            AttackKind::UdpFlood => "udp_flood",
            AttackKind::Slowloris => "slowloris",
            AttackKind::SlowRead => "slow_read",
            AttackKind::SshBruteForce => "ssh_brute_force",
            AttackKind::FtpBruteForce => "ftp_brute_force",
            AttackKind::HttpBruteForce => "http_brute_force",
            AttackKind::WebExploit => "web_exploit",
            AttackKind::C2HttpsBeacon => "c2_https_beacon",
            AttackKind::C2DnsBeacon => "c2_dns_beacon",
            AttackKind::DnsTunnel => "dns_tunnel",
            AttackKind::HttpsExfil => "https_exfil",
            AttackKind::SmbLateral => "smb_lateral",
        }
    }

    /// The default `label` of the flows it makes.
    pub fn label(self) -> &'static str {
        match self {
            AttackKind::SynScan
            | AttackKind::ConnectScan
            | AttackKind::FinScan
            | AttackKind::NullScan
            | AttackKind::XmasScan
            | AttackKind::UdpScan => "PortScan",
            AttackKind::HostSweep => "HostSweep",
            AttackKind::SynFlood => "DoS SYN Flood",
            AttackKind::UdpFlood => "DoS UDP Flood",
            AttackKind::Slowloris => "DoS Slowloris",
            AttackKind::SlowRead => "DoS Slow Read",
            AttackKind::SshBruteForce => "SSH Brute Force",
            AttackKind::FtpBruteForce => "FTP Brute Force",
            AttackKind::HttpBruteForce => "HTTP Brute Force",
            AttackKind::WebExploit => "Web Exploit",
            AttackKind::C2HttpsBeacon => "C2 HTTPS Beacon",
            AttackKind::C2DnsBeacon => "C2 DNS Beacon",
            AttackKind::DnsTunnel => "DNS Tunnel Exfiltration",
            AttackKind::HttpsExfil => "HTTPS Exfiltration",
            AttackKind::SmbLateral => "SMB Lateral Movement",
        }
    }

    /// The default MITRE ATT&CK technique id.
    pub fn technique(self) -> &'static str {
        match self {
            AttackKind::SynScan
            | AttackKind::ConnectScan
            | AttackKind::FinScan
            | AttackKind::NullScan
            | AttackKind::XmasScan
            | AttackKind::UdpScan => "T1046",
            AttackKind::HostSweep => "T1018",
            AttackKind::SynFlood => "T1499.001",
            AttackKind::UdpFlood => "T1498.001",
            AttackKind::Slowloris | AttackKind::SlowRead => "T1499.002",
            AttackKind::SshBruteForce | AttackKind::FtpBruteForce | AttackKind::HttpBruteForce => {
                "T1110.001"
            }
            AttackKind::WebExploit => "T1190",
            AttackKind::C2HttpsBeacon => "T1071.001",
            AttackKind::C2DnsBeacon => "T1071.004",
            AttackKind::DnsTunnel => "T1048.003",
            AttackKind::HttpsExfil => "T1041",
            AttackKind::SmbLateral => "T1021.002",
        }
    }

    /// Kind-specific keys: (required, optional).
    fn keys(self) -> (&'static [&'static str], &'static [&'static str]) {
        match self {
            AttackKind::SynScan
            | AttackKind::ConnectScan
            | AttackKind::FinScan
            | AttackKind::NullScan
            | AttackKind::XmasScan
            | AttackKind::UdpScan => (&["ports", "rate"], &[]),
            AttackKind::HostSweep => (&["rate"], &[]),
            AttackKind::SynFlood => (&["rate", "duration"], &["port", "spoof"]),
            AttackKind::UdpFlood => (&["rate", "duration"], &["port", "bytes"]),
            AttackKind::Slowloris => (&["count", "duration"], &["period", "port"]),
            AttackKind::SlowRead => (&["count", "duration"], &["port", "period"]),
            AttackKind::SshBruteForce | AttackKind::FtpBruteForce | AttackKind::HttpBruteForce => {
                (&["count", "rate"], &[])
            }
            AttackKind::WebExploit => (&["count", "rate"], &[]),
            AttackKind::C2HttpsBeacon => (&["period", "duration"], &["jitter", "bytes"]),
            AttackKind::C2DnsBeacon => (&["period", "duration", "domain"], &["jitter"]),
            AttackKind::DnsTunnel => (&["bytes", "rate", "domain"], &[]),
            AttackKind::HttpsExfil => (&["bytes"], &["count"]),
            AttackKind::SmbLateral => (&["count", "rate"], &["bytes"]),
        }
    }

    /// The service the targets must offer, if the attack needs one.
    pub fn service(self) -> Option<Service> {
        match self {
            AttackKind::Slowloris
            | AttackKind::SlowRead
            | AttackKind::HttpBruteForce
            | AttackKind::WebExploit => Some(Service::Http),
            AttackKind::SshBruteForce => Some(Service::Ssh),
            AttackKind::FtpBruteForce => Some(Service::Ftp),
            AttackKind::C2HttpsBeacon | AttackKind::HttpsExfil => Some(Service::Https),
            AttackKind::C2DnsBeacon | AttackKind::DnsTunnel => Some(Service::Dns),
            AttackKind::SmbLateral => Some(Service::Smb),
            _ => None,
        }
    }
}

/// The parameters of one attack step, kind-specific ones defaulted.
#[derive(Debug, Clone, PartialEq)]
pub struct StepSpec {
    pub id: String,
    pub kind: AttackKind,
    pub label: String,
    pub technique: String,
    /// The host the step's traffic comes from (the campaign's attacker
    /// unless `from` says otherwise).
    pub from: usize,
    pub targets: Vec<usize>,
    pub start_us: i64,
    /// Length of duration-bound steps (floods, slow DoS, beacons), µs.
    pub duration_us: i64,
    /// Probes, attempts, packets, queries or sessions per second.
    pub rate: f64,
    /// Attempts, requests, connections or sessions.
    pub count: u64,
    /// Scanned ports, sorted.
    pub ports: Vec<u16>,
    /// Service port override (floods, slow DoS).
    pub port: Option<u16>,
    pub bytes: Dist,
    pub period_us: i64,
    pub jitter: f64,
    pub domain: String,
    /// Spoofed source range of a SYN flood.
    pub spoof: (Ipv4Addr, u8),
}

/// A chain of attack steps by one attacker.
#[derive(Debug, Clone, PartialEq)]
pub struct CampaignSpec {
    pub name: String,
    pub attacker: usize,
    pub steps: Vec<StepSpec>,
}

/// A validated traffic spec.
#[derive(Debug, Clone, PartialEq)]
pub struct SynthSpec {
    /// The spec file, for messages.
    pub path: String,
    pub start_us: i64,
    pub duration_us: i64,
    pub seed: u64,
    pub scale: u32,
    pub format: CaptureFormat,
    pub snaplen: u32,
    pub gateway_mac: [u8; 6],
    pub hosts: Vec<HostSpec>,
    pub subnets: Vec<SubnetSpec>,
    pub benign: Vec<BenignSpec>,
    pub campaigns: Vec<CampaignSpec>,
}

impl SynthSpec {
    pub fn end_us(&self) -> i64 {
        self.start_us + self.duration_us
    }
}

/// Command-line overrides of the spec.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Overrides {
    pub seed: Option<u64>,
    /// Traffic multiplier (1 when absent).
    pub scale: Option<u32>,
    pub format: Option<CaptureFormat>,
}

// ------------------------------------------------------------------ issues

#[derive(Debug, Deserialize)]
struct RawSpec {
    capture: Option<Spanned<RawCapture>>,
    #[serde(default)]
    subnet: Vec<Spanned<RawSubnet>>,
    #[serde(default)]
    host: Vec<Spanned<RawHost>>,
    #[serde(default)]
    benign: Vec<Spanned<RawBenign>>,
    #[serde(default)]
    campaign: Vec<Spanned<RawCampaign>>,
}

#[derive(Debug, Deserialize)]
struct RawCapture {
    start: Option<Spanned<String>>,
    duration: Option<Spanned<RawDuration>>,
    seed: Option<Spanned<i64>>,
    snaplen: Option<Spanned<i64>>,
    format: Option<Spanned<String>>,
    gateway_mac: Option<Spanned<String>>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
enum RawDuration {
    Text(String),
    Seconds(f64),
}

#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
enum RawNames {
    One(String),
    Many(Vec<String>),
}

impl RawNames {
    fn names(&self) -> Vec<&str> {
        match self {
            RawNames::One(s) => vec![s.as_str()],
            RawNames::Many(v) => v.iter().map(String::as_str).collect(),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
enum RawNumOrDist {
    Num(f64),
    Dist(RawDist),
}

#[derive(Debug, Clone, Deserialize)]
struct RawDist {
    dist: String,
    value: Option<f64>,
    mean: Option<f64>,
    median: Option<f64>,
    sigma: Option<f64>,
    sd: Option<f64>,
    scale: Option<f64>,
    shape: Option<f64>,
    min: Option<f64>,
    max: Option<f64>,
}

#[derive(Debug, Deserialize)]
struct RawSubnet {
    name: Option<Spanned<String>>,
    cidr: Option<Spanned<String>>,
    hosts: Option<Spanned<i64>>,
    os: Option<Spanned<String>>,
    external: Option<bool>,
    services: Option<Spanned<Vec<String>>>,
    closed: Option<Spanned<String>>,
    rtt: Option<Spanned<RawNumOrDist>>,
}

#[derive(Debug, Deserialize)]
struct RawHost {
    name: Option<Spanned<String>>,
    ip: Option<Spanned<String>>,
    os: Option<Spanned<String>>,
    external: Option<bool>,
    services: Option<Spanned<Vec<String>>>,
    closed: Option<Spanned<String>>,
    rtt: Option<Spanned<RawNumOrDist>>,
}

#[derive(Debug, Deserialize)]
struct RawBenign {
    app: Option<Spanned<String>>,
    clients: Option<Spanned<RawNames>>,
    servers: Option<Spanned<RawNames>>,
    rate: Option<Spanned<f64>>,
    interarrival: Option<Spanned<RawNumOrDist>>,
    start: Option<Spanned<RawDuration>>,
    end: Option<Spanned<RawDuration>>,
    request_bytes: Option<Spanned<RawNumOrDist>>,
    response_bytes: Option<Spanned<RawNumOrDist>>,
    exchanges: Option<Spanned<RawNumOrDist>>,
    think: Option<Spanned<RawNumOrDist>>,
}

#[derive(Debug, Deserialize)]
struct RawCampaign {
    name: Option<Spanned<String>>,
    attacker: Option<Spanned<String>>,
    #[serde(default)]
    step: Vec<Spanned<RawStep>>,
}

#[derive(Debug, Deserialize)]
struct RawStep {
    id: Option<Spanned<String>>,
    kind: Option<Spanned<String>>,
    start: Option<Spanned<RawDuration>>,
    from: Option<Spanned<String>>,
    targets: Option<Spanned<RawNames>>,
    label: Option<Spanned<String>>,
    technique: Option<Spanned<String>>,
    duration: Option<Spanned<RawDuration>>,
    rate: Option<Spanned<f64>>,
    count: Option<Spanned<i64>>,
    ports: Option<Spanned<String>>,
    port: Option<Spanned<i64>>,
    bytes: Option<Spanned<RawNumOrDist>>,
    period: Option<Spanned<RawDuration>>,
    jitter: Option<Spanned<f64>>,
    domain: Option<Spanned<String>>,
    spoof: Option<Spanned<String>>,
}

impl RawStep {
    /// The keys present, with their spans.
    fn present(&self) -> Vec<(&'static str, std::ops::Range<usize>)> {
        let mut v = Vec::new();
        macro_rules! has {
            ($($f:ident),*) => {$(
                if let Some(x) = &self.$f { v.push((stringify!($f), x.span())); }
            )*};
        }
        has!(
            duration, rate, count, ports, port, bytes, period, jitter, domain, spoof
        );
        v
    }
}

// ------------------------------------------------------------------ parse

/// Parse and validate a spec. `path` is only used in messages.
pub fn parse(path: &str, text: &str, ov: Overrides) -> Result<SynthSpec, Vec<SpecIssue>> {
    let mut issues = Issues::new(text);
    let unknown_hint = "unknown key (see datasets/quickstart/spec.toml for the keys of each table)";
    let Some(raw) = parse_toml::<RawSpec>(&mut issues, unknown_hint) else {
        return Err(issues.into_sorted());
    };
    let spec = validate(path, raw, ov, &mut issues);
    if issues.is_empty() {
        spec.ok_or_else(Vec::new)
    } else {
        Err(issues.into_sorted())
    }
}

/// A host or subnet name: present (else "missing" at `missing_at`) and
/// well-formed, or `None` with the issue; a `clash` with an earlier name is
/// reported but keeps the name.
fn entity_name(
    is: &mut Issues,
    v: &Option<Spanned<String>>,
    key: &str,
    missing_at: std::ops::Range<usize>,
    clash: impl Fn(&str) -> Option<String>,
) -> Option<String> {
    let Some(n) = v else {
        is.at(missing_at, key, "missing");
        return None;
    };
    if !valid_name(n.get_ref()) {
        is.at(n.span(), key, "names are letters, digits, '-' and '_'");
        return None;
    }
    if let Some(m) = clash(n.get_ref()) {
        is.at(n.span(), key, m);
    }
    Some(n.get_ref().clone())
}

fn parse_duration_us(d: &RawDuration) -> Result<i64, String> {
    match d {
        RawDuration::Seconds(s) if s.is_finite() && *s >= 0.0 && *s < 1e9 => {
            Ok((s * 1e6).round() as i64)
        }
        RawDuration::Seconds(s) => Err(format!("{s} is not a duration: expected seconds >= 0")),
        RawDuration::Text(t) => humantime::parse_duration(t.trim())
            .map(|d| d.as_micros().min(i64::MAX as u128) as i64)
            .map_err(|e| {
                format!("`{t}` is not a duration ({e}): write e.g. \"90s\", \"1m30s\", \"250ms\" or a number of seconds")
            }),
    }
}

fn parse_cidr(s: &str) -> Result<(Ipv4Addr, u8), String> {
    let bad = || format!("`{s}` is not an IPv4 CIDR: write e.g. \"10.1.0.0/24\"");
    let (ip, len) = s.trim().split_once('/').ok_or_else(bad)?;
    let ip: Ipv4Addr = ip.parse().map_err(|_| bad())?;
    let len: u8 = len.parse().map_err(|_| bad())?;
    if len > 32 {
        return Err(bad());
    }
    let mask = if len == 0 {
        0
    } else {
        u32::MAX << (32 - u32::from(len))
    };
    Ok((Ipv4Addr::from_bits(ip.to_bits() & mask), len))
}

fn in_cidr(ip: Ipv4Addr, (net, len): (Ipv4Addr, u8)) -> bool {
    let mask = if len == 0 {
        0
    } else {
        u32::MAX << (32 - u32::from(len))
    };
    ip.to_bits() & mask == net.to_bits()
}

fn parse_ports(s: &str) -> Result<Vec<u16>, String> {
    let mut out = Vec::new();
    for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let bad = || {
            format!(
                "`{part}` is not a port or range: write e.g. \"1-1024,3389,8080\" (ports 1-65535)"
            )
        };
        let (lo, hi) = match part.split_once('-') {
            Some((a, b)) => (a.trim(), b.trim()),
            None => (part, part),
        };
        let lo: u16 = lo.parse().map_err(|_| bad())?;
        let hi: u16 = hi.parse().map_err(|_| bad())?;
        if lo == 0 || hi < lo {
            return Err(bad());
        }
        out.extend(lo..=hi);
    }
    out.sort_unstable();
    out.dedup();
    if out.is_empty() {
        return Err("no ports given: write e.g. \"1-1024\"".into());
    }
    Ok(out)
}

fn parse_mac(s: &str) -> Option<[u8; 6]> {
    let parts: Vec<&str> = s.split(':').collect();
    if parts.len() != 6 {
        return None;
    }
    let mut mac = [0u8; 6];
    for (m, p) in mac.iter_mut().zip(parts) {
        *m = u8::from_str_radix(p, 16).ok()?;
    }
    Some(mac)
}

/// A number or `{ dist = ... }` table -> a [`Dist`].
fn to_dist(raw: &RawNumOrDist) -> Result<Dist, String> {
    let d = match raw {
        RawNumOrDist::Num(v) => return finite_nonneg(*v).map(Dist::constant),
        RawNumOrDist::Dist(d) => d,
    };
    let need = |name: &str, v: Option<f64>| -> Result<f64, String> {
        let v = v.ok_or_else(|| format!("distribution `{}` needs `{name}`", d.dist))?;
        finite_nonneg(v)
    };
    let positive = |name: &str, v: Option<f64>| -> Result<f64, String> {
        let v = need(name, v)?;
        if v > 0.0 {
            Ok(v)
        } else {
            Err(format!("`{name}` of `{}` must be > 0", d.dist))
        }
    };
    let allowed: &[&str];
    let family = match d.dist.as_str() {
        "constant" => {
            allowed = &["value"];
            Family::Constant {
                value: need("value", d.value)?,
            }
        }
        "uniform" => {
            allowed = &["min", "max"];
            let (lo, hi) = (need("min", d.min)?, need("max", d.max)?);
            if hi < lo {
                return Err("uniform: `max` must be >= `min`".into());
            }
            Family::Uniform { min: lo, max: hi }
        }
        "exponential" => {
            allowed = &["mean", "min", "max"];
            Family::Exponential {
                mean: d.mean.map_or(Ok(1.0), finite_nonneg)?,
            }
        }
        "pareto" => {
            allowed = &["scale", "shape", "min", "max"];
            Family::Pareto {
                scale: d.scale.map_or(Ok(1.0), finite_nonneg)?,
                shape: positive("shape", d.shape)?,
            }
        }
        "lognormal" => {
            allowed = &["median", "sigma", "min", "max"];
            Family::LogNormal {
                median: d.median.map_or(Ok(1.0), finite_nonneg)?,
                sigma: need("sigma", d.sigma)?,
            }
        }
        "weibull" => {
            allowed = &["scale", "shape", "min", "max"];
            Family::Weibull {
                scale: d.scale.map_or(Ok(1.0), finite_nonneg)?,
                shape: positive("shape", d.shape)?,
            }
        }
        "normal" => {
            allowed = &["mean", "sd", "min", "max"];
            Family::Normal {
                mean: need("mean", d.mean)?,
                sd: need("sd", d.sd)?,
            }
        }
        other => {
            return Err(format!(
                "unknown distribution `{other}`: expected constant, uniform, exponential, pareto, lognormal, weibull or normal"
            ));
        }
    };
    let given = [
        ("value", d.value),
        ("mean", d.mean),
        ("median", d.median),
        ("sigma", d.sigma),
        ("sd", d.sd),
        ("scale", d.scale),
        ("shape", d.shape),
        ("min", d.min),
        ("max", d.max),
    ];
    for (name, v) in given {
        if v.is_some() && !allowed.contains(&name) {
            return Err(format!(
                "`{name}` is not a parameter of `{}` (it takes {})",
                d.dist,
                allowed.join(", ")
            ));
        }
    }
    let clamp = |v: Option<f64>| v.map(finite_nonneg).transpose();
    let (min, max) = if d.dist == "uniform" || d.dist == "constant" {
        (None, None)
    } else {
        (clamp(d.min)?, clamp(d.max)?)
    };
    if let (Some(a), Some(b)) = (min, max)
        && b < a
    {
        return Err("`max` must be >= `min`".into());
    }
    Ok(Dist { family, min, max })
}

fn finite_nonneg(v: f64) -> Result<f64, String> {
    if v.is_finite() && v >= 0.0 {
        Ok(v)
    } else {
        Err(format!(
            "{v} is out of range: expected a finite number >= 0"
        ))
    }
}

/// Name -> host indices (subnets expand to their hosts).
struct Names {
    hosts: BTreeMap<String, usize>,
    subnets: BTreeMap<String, usize>,
}

impl Names {
    fn resolve(&self, subnets: &[SubnetSpec], name: &str) -> Option<Vec<usize>> {
        if let Some(&h) = self.hosts.get(name) {
            return Some(vec![h]);
        }
        self.subnets.get(name).map(|&s| subnets[s].hosts.clone())
    }

    fn known(&self) -> String {
        let mut v: Vec<&str> = self.subnets.keys().map(String::as_str).collect();
        v.extend(
            self.hosts
                .keys()
                .filter(|h| {
                    !h.contains('-') || !self.subnets.keys().any(|s| h.starts_with(s.as_str()))
                })
                .map(String::as_str),
        );
        v.join(", ")
    }
}

#[allow(clippy::too_many_lines)]
fn validate(path: &str, raw: RawSpec, ov: Overrides, is: &mut Issues) -> Option<SynthSpec> {
    let scale = ov.scale.unwrap_or(1).max(1);
    // [capture]
    let mut start_us = 0i64;
    let mut duration_us = 0i64;
    let mut seed = 0u64;
    let mut snaplen = 65_535u32;
    let mut format = CaptureFormat::Pcap;
    let mut gateway_mac = [0x02, 0x00, 0x5e, 0x00, 0x00, 0x01];
    match &raw.capture {
        None => is.at(0..0, "capture", "missing table [capture] (start, duration)"),
        Some(c) => {
            let c = c.get_ref();
            match &c.start {
                None => is.at(0..0, "capture.start", "missing: an RFC 3339 time, e.g. \"2026-03-02T09:00:00Z\""),
                Some(s) => match humantime::parse_rfc3339_weak(s.get_ref().trim()) {
                    Ok(t) => match t.duration_since(std::time::UNIX_EPOCH) {
                        Ok(d) => start_us = d.as_micros() as i64,
                        Err(_) => is.at(s.span(), "capture.start", "must be after 1970-01-01"),
                    },
                    Err(e) => is.at(
                        s.span(),
                        "capture.start",
                        format!("`{}` is not an RFC 3339 time ({e}): write e.g. \"2026-03-02T09:00:00Z\"", s.get_ref()),
                    ),
                },
            }
            match &c.duration {
                None => is.at(0..0, "capture.duration", "missing: e.g. \"5m\""),
                Some(d) => match parse_duration_us(d.get_ref()) {
                    Ok(0) => is.at(d.span(), "capture.duration", "must be > 0"),
                    Ok(v) => duration_us = v,
                    Err(m) => is.at(d.span(), "capture.duration", m),
                },
            }
            if let Some(s) = &c.seed {
                match u64::try_from(*s.get_ref()) {
                    Ok(v) => seed = v,
                    Err(_) => is.at(s.span(), "capture.seed", "must be >= 0"),
                }
            }
            if let Some(s) = &c.snaplen {
                match u32::try_from(*s.get_ref()) {
                    Ok(v) if (64..=262_144).contains(&v) => snaplen = v,
                    _ => is.at(s.span(), "capture.snaplen", "must be in 64..=262144"),
                }
            }
            if let Some(f) = &c.format {
                match f.get_ref().as_str() {
                    "pcap" => format = CaptureFormat::Pcap,
                    "pcapng" => format = CaptureFormat::PcapNg,
                    o => is.at(
                        f.span(),
                        "capture.format",
                        format!("`{o}`: expected \"pcap\" or \"pcapng\""),
                    ),
                }
            }
            if let Some(m) = &c.gateway_mac {
                match parse_mac(m.get_ref()) {
                    Some(v) => gateway_mac = v,
                    None => is.at(
                        m.span(),
                        "capture.gateway_mac",
                        "expected six hex bytes, e.g. \"02:00:5e:00:00:01\"",
                    ),
                }
            }
        }
    }
    if let Some(s) = ov.seed {
        seed = s;
    }
    if let Some(f) = ov.format {
        format = f;
    }
    let end_us = duration_us;

    let os_of = |is: &mut Issues, key: &str, v: &Option<Spanned<String>>, def: Os| {
        v.as_ref().map_or(def, |s| {
            is.choose(
                s,
                key,
                "os",
                &[("linux", Os::Linux), ("windows", Os::Windows)],
            )
            .unwrap_or(def)
        })
    };
    let closed_of =
        |is: &mut Issues, key: &str, v: &Option<Spanned<String>>, external: bool| match v {
            None => {
                if external {
                    Closed::Drop
                } else {
                    Closed::Reset
                }
            }
            Some(s) => is
                .choose(
                    s,
                    key,
                    "closed-port answer",
                    &[("reset", Closed::Reset), ("drop", Closed::Drop)],
                )
                .unwrap_or(Closed::Reset),
        };
    let services_of = |is: &mut Issues, key: &str, v: &Option<Spanned<Vec<String>>>| {
        let mut set = Services::default();
        if let Some(list) = v {
            for name in list.get_ref() {
                // Each name, placed at the list.
                let named = Spanned::new(list.span(), name.clone());
                if let Some(s) =
                    is.choose(&named, key, "service", &Service::ALL.map(|s| (s.name(), s)))
                {
                    set.insert(s);
                }
            }
        }
        set
    };
    let rtt_of =
        |is: &mut Issues, key: &str, v: &Option<Spanned<RawNumOrDist>>, external: bool| match v {
            None => {
                if external {
                    Dist {
                        family: Family::LogNormal {
                            median: 0.03,
                            sigma: 0.6,
                        },
                        min: Some(0.002),
                        max: Some(0.4),
                    }
                } else {
                    Dist {
                        family: Family::Uniform {
                            min: 0.0002,
                            max: 0.0015,
                        },
                        min: None,
                        max: None,
                    }
                }
            }
            Some(d) => match to_dist(d.get_ref()) {
                Ok(x) => x,
                Err(m) => {
                    is.at(d.span(), key, m);
                    Dist::constant(0.001)
                }
            },
        };

    // Named hosts first: subnet members skip their addresses.
    let mut hosts: Vec<HostSpec> = Vec::new();
    let mut names = Names {
        hosts: BTreeMap::new(),
        subnets: BTreeMap::new(),
    };
    let mut named_ips: Vec<(Ipv4Addr, usize)> = Vec::new();
    for (i, h) in raw.host.iter().enumerate() {
        let h = h.get_ref();
        let k = |f: &str| format!("host[{i}].{f}");
        let clash = |n: &str| {
            names
                .hosts
                .contains_key(n)
                .then(|| format!("host `{n}` is defined twice"))
        };
        let Some(name) = entity_name(is, &h.name, &k("name"), 0..0, clash) else {
            continue;
        };
        let ip = match &h.ip {
            Some(s) => match s.get_ref().parse::<Ipv4Addr>() {
                Ok(ip) => {
                    if let Some((_, other)) = named_ips.iter().find(|(x, _)| *x == ip) {
                        is.at(
                            s.span(),
                            k("ip"),
                            format!("{ip} is also host `{}`", hosts[*other].name),
                        );
                    }
                    ip
                }
                Err(_) => {
                    is.at(
                        s.span(),
                        k("ip"),
                        format!("`{}` is not an IPv4 address", s.get_ref()),
                    );
                    continue;
                }
            },
            None => {
                is.at(0..0, k("ip"), "missing: the host's IPv4 address");
                continue;
            }
        };
        let external = h.external.unwrap_or(false);
        let host = HostSpec {
            name: name.clone(),
            ip,
            os: os_of(is, &k("os"), &h.os, Os::Linux),
            external,
            services: services_of(is, &k("services"), &h.services),
            closed: closed_of(is, &k("closed"), &h.closed, external),
            rtt: rtt_of(is, &k("rtt"), &h.rtt, external),
            subnet: None,
        };
        named_ips.push((ip, hosts.len()));
        names.hosts.insert(name, hosts.len());
        hosts.push(host);
    }
    let mut subnets: Vec<SubnetSpec> = Vec::new();
    for (i, s) in raw.subnet.iter().enumerate() {
        let sp = s.span();
        let s = s.get_ref();
        let k = |f: &str| format!("subnet[{i}].{f}");
        let clash = |n: &str| {
            (names.subnets.contains_key(n) || names.hosts.contains_key(n))
                .then(|| format!("`{n}` names another subnet or host"))
        };
        let Some(name) = entity_name(is, &s.name, &k("name"), sp.clone(), clash) else {
            continue;
        };
        let Some(cidr_s) = &s.cidr else {
            is.at(sp, k("cidr"), "missing: e.g. \"10.1.0.0/24\"");
            continue;
        };
        let cidr = match parse_cidr(cidr_s.get_ref()) {
            Ok(c) => c,
            Err(m) => {
                is.at(cidr_s.span(), k("cidr"), m);
                continue;
            }
        };
        let count = match &s.hosts {
            Some(h) if *h.get_ref() >= 0 && *h.get_ref() <= 1_000_000 => {
                (*h.get_ref() as u64) * u64::from(scale)
            }
            Some(h) => {
                is.at(h.span(), k("hosts"), "must be in 0..=1000000");
                0
            }
            None => 0,
        };
        let external = s.external.unwrap_or(false);
        let os = os_of(is, &k("os"), &s.os, Os::Linux);
        let services = services_of(is, &k("services"), &s.services);
        let closed = closed_of(is, &k("closed"), &s.closed, external);
        let rtt = rtt_of(is, &k("rtt"), &s.rtt, external);
        let idx = subnets.len();
        let mut members: Vec<usize> = Vec::new();
        // Named hosts inside the range join the subnet.
        for &(ip, h) in &named_ips {
            if in_cidr(ip, cidr) && hosts[h].subnet.is_none() {
                hosts[h].subnet = Some(idx);
                members.push(h);
            }
        }
        // Generated members: from .10 (leaving room for gateways), skipping
        // named hosts and the broadcast address.
        let size = 1u64 << (32 - u32::from(cidr.1));
        let first = if size >= 64 { 10 } else { 1 };
        let usable = size.saturating_sub(first + 1);
        if count > usable {
            is.at(
                s.hosts.as_ref().map_or(sp.clone(), |h| h.span()),
                k("hosts"),
                format!(
                    "{count} hosts (at --scale {scale}) do not fit in {}/{} ({usable} addresses from .{first}): widen the cidr",
                    cidr.0, cidr.1
                ),
            );
        } else {
            let mut n = 0u64;
            let mut off = first;
            while n < count && off < size - 1 {
                let ip = Ipv4Addr::from_bits(cidr.0.to_bits() + off as u32);
                off += 1;
                if named_ips.iter().any(|(x, _)| *x == ip) {
                    continue;
                }
                n += 1;
                let hname = format!("{name}-{n}");
                names.hosts.insert(hname.clone(), hosts.len());
                members.push(hosts.len());
                hosts.push(HostSpec {
                    name: hname,
                    ip,
                    os,
                    external,
                    services,
                    closed,
                    rtt,
                    subnet: Some(idx),
                });
            }
        }
        names.subnets.insert(name.clone(), idx);
        subnets.push(SubnetSpec {
            name,
            network: cidr.0,
            prefix: cidr.1,
            hosts: members,
        });
    }

    let resolve = |is: &mut Issues, key: &str, v: &Spanned<RawNames>| -> Vec<usize> {
        let mut out = Vec::new();
        for n in v.get_ref().names() {
            match names.resolve(&subnets, n) {
                Some(hs) if !hs.is_empty() => out.extend(hs),
                Some(_) => is.at(v.span(), key, format!("subnet `{n}` has no hosts")),
                None => is.at(
                    v.span(),
                    key,
                    format!("unknown host or subnet `{n}` (known: {})", names.known()),
                ),
            }
        }
        out.sort_unstable();
        out.dedup();
        out
    };
    let dist_or = |is: &mut Issues, key: &str, v: &Option<Spanned<RawNumOrDist>>, def: Dist| match v
    {
        None => def,
        Some(d) => to_dist(d.get_ref()).unwrap_or_else(|m| {
            is.at(d.span(), key, m);
            def
        }),
    };
    let offset = |is: &mut Issues, key: &str, v: &Option<Spanned<RawDuration>>, def: i64| match v {
        None => def,
        Some(d) => match parse_duration_us(d.get_ref()) {
            Ok(x) if x <= end_us => x,
            Ok(_) => {
                is.at(
                    d.span(),
                    key,
                    "is after the end of the capture (capture.duration)",
                );
                def
            }
            Err(m) => {
                is.at(d.span(), key, m);
                def
            }
        },
    };

    // [[benign]]
    let mut benign = Vec::new();
    for (i, b) in raw.benign.iter().enumerate() {
        let sp = b.span();
        let b = b.get_ref();
        let k = |f: &str| format!("benign[{i}].{f}");
        let app = match &b.app {
            Some(a) => match is.choose(a, &k("app"), "app", &App::ALL.map(|x| (x.name(), x))) {
                Some(x) => x,
                None => continue,
            },
            None => {
                is.at(sp, k("app"), "missing");
                continue;
            }
        };
        let clients = match &b.clients {
            Some(c) => resolve(is, &k("clients"), c),
            None => {
                is.at(
                    sp.clone(),
                    k("clients"),
                    "missing: a subnet or host name (or a list)",
                );
                Vec::new()
            }
        };
        let servers = match &b.servers {
            Some(c) => {
                let v = resolve(is, &k("servers"), c);
                let svc = app.service();
                let lacking = lacking_service(&hosts, &v, svc);
                if !lacking.is_empty() {
                    is.at(
                        c.span(),
                        k("servers"),
                        format!(
                            "app `{}` needs servers offering `{}`; not offered by {} (add it to their `services`)",
                            app.name(),
                            svc.name(),
                            lacking.join(", ")
                        ),
                    );
                }
                v
            }
            None => {
                is.at(
                    sp.clone(),
                    k("servers"),
                    "missing: a subnet or host name (or a list)",
                );
                Vec::new()
            }
        };
        let rate = match &b.rate {
            Some(r) if r.get_ref().is_finite() && *r.get_ref() > 0.0 && *r.get_ref() <= 1e7 => {
                r.get_ref() * f64::from(scale)
            }
            Some(r) => {
                is.at(r.span(), k("rate"), "must be in (0, 1e7] flows per second");
                1.0
            }
            None => {
                is.at(sp.clone(), k("rate"), "missing: new flows per second");
                1.0
            }
        };
        let (req, resp, exch, think) = app.defaults();
        let start = offset(is, &k("start"), &b.start, 0);
        let end = offset(is, &k("end"), &b.end, end_us);
        if end <= start {
            is.at(sp.clone(), k("end"), "must be after `start`");
        }
        benign.push(BenignSpec {
            app,
            clients,
            servers,
            rate,
            interarrival: dist_or(
                is,
                &k("interarrival"),
                &b.interarrival,
                Dist::of(Family::Exponential { mean: 1.0 }),
            ),
            start_us: start,
            end_us: end,
            request_bytes: dist_or(is, &k("request_bytes"), &b.request_bytes, req),
            response_bytes: dist_or(is, &k("response_bytes"), &b.response_bytes, resp),
            exchanges: dist_or(is, &k("exchanges"), &b.exchanges, exch),
            think: dist_or(is, &k("think"), &b.think, think),
        });
    }

    // [[campaign]]
    let mut campaigns = Vec::new();
    let mut step_ids = BTreeMap::new();
    for (ci, c) in raw.campaign.iter().enumerate() {
        let csp = c.span();
        let c = c.get_ref();
        let k = |f: &str| format!("campaign[{ci}].{f}");
        let name = match &c.name {
            Some(n) => n.get_ref().clone(),
            None => {
                is.at(csp.clone(), k("name"), "missing");
                String::new()
            }
        };
        let attacker = match &c.attacker {
            Some(a) => match names.hosts.get(a.get_ref()) {
                Some(&h) => Some(h),
                None => {
                    is.at(
                        a.span(),
                        k("attacker"),
                        format!("unknown host `{}` (a [[host]] name)", a.get_ref()),
                    );
                    None
                }
            },
            None => {
                is.at(
                    csp.clone(),
                    k("attacker"),
                    "missing: the attacking host's name",
                );
                None
            }
        };
        if c.step.is_empty() {
            is.at(
                csp.clone(),
                k("step"),
                "a campaign needs at least one [[campaign.step]]",
            );
        }
        let mut steps = Vec::new();
        for (si, s) in c.step.iter().enumerate() {
            let ssp = s.span();
            let s = s.get_ref();
            let k = |f: &str| format!("campaign[{ci}].step[{si}].{f}");
            let kind = match &s.kind {
                Some(x) => {
                    let kinds = AttackKind::ALL.map(|a| (a.name(), a));
                    match is.choose(x, &k("kind"), "attack kind", &kinds) {
                        Some(a) => a,
                        None => continue,
                    }
                }
                None => {
                    is.at(ssp, k("kind"), "missing");
                    continue;
                }
            };
            let id = match &s.id {
                Some(x) => {
                    if let Some(prev) = step_ids.insert((name.clone(), x.get_ref().clone()), si) {
                        is.at(
                            x.span(),
                            k("id"),
                            format!("step id `{}` is used by step {prev} too", x.get_ref()),
                        );
                    }
                    x.get_ref().clone()
                }
                None => format!("{}-{}", kind.name(), si + 1),
            };
            let (required, optional) = kind.keys();
            for (key, span) in s.present() {
                if !required.contains(&key) && !optional.contains(&key) {
                    is.at(
                        span,
                        k(key),
                        format!(
                            "does not apply to kind `{}` (it takes {})",
                            kind.name(),
                            required
                                .iter()
                                .chain(optional)
                                .chain(STEP_COMMON)
                                .copied()
                                .collect::<Vec<_>>()
                                .join(", ")
                        ),
                    );
                }
            }
            let present: Vec<&str> = s.present().into_iter().map(|(k, _)| k).collect();
            for key in required {
                if !present.contains(key) {
                    is.at(
                        ssp.clone(),
                        k(key),
                        format!("missing: kind `{}` needs it", kind.name()),
                    );
                }
            }
            let from = match &s.from {
                Some(f) => match names.hosts.get(f.get_ref()) {
                    Some(&h) => Some(h),
                    None => {
                        is.at(
                            f.span(),
                            k("from"),
                            format!("unknown host `{}`", f.get_ref()),
                        );
                        None
                    }
                },
                None => attacker,
            };
            let targets = match &s.targets {
                Some(t) => {
                    let v = resolve(is, &k("targets"), t);
                    if let Some(svc) = kind.service() {
                        let lacking = lacking_service(&hosts, &v, svc);
                        if !lacking.is_empty() && s.port.is_none() {
                            is.at(
                                t.span(),
                                k("targets"),
                                format!(
                                    "kind `{}` needs targets offering `{}`; not offered by {}",
                                    kind.name(),
                                    svc.name(),
                                    lacking.join(", ")
                                ),
                            );
                        }
                    }
                    if let Some(f) = from
                        && v.contains(&f)
                    {
                        is.at(
                            t.span(),
                            k("targets"),
                            format!("targets include the source host `{}`", hosts[f].name),
                        );
                    }
                    v
                }
                None => {
                    is.at(
                        ssp.clone(),
                        k("targets"),
                        "missing: a host or subnet name (or a list)",
                    );
                    Vec::new()
                }
            };
            let start = offset(is, &k("start"), &s.start, 0);
            let duration = match &s.duration {
                Some(d) => match parse_duration_us(d.get_ref()) {
                    Ok(0) => {
                        is.at(d.span(), k("duration"), "must be > 0");
                        0
                    }
                    Ok(v) => v,
                    Err(m) => {
                        is.at(d.span(), k("duration"), m);
                        0
                    }
                },
                None => 0,
            };
            let rate = match &s.rate {
                Some(r) if r.get_ref().is_finite() && *r.get_ref() > 0.0 && *r.get_ref() <= 1e7 => {
                    r.get_ref() * f64::from(scale)
                }
                Some(r) => {
                    is.at(r.span(), k("rate"), "must be in (0, 1e7] per second");
                    1.0
                }
                None => 1.0,
            };
            let count = match &s.count {
                Some(c) if *c.get_ref() > 0 && *c.get_ref() <= 100_000_000 => {
                    (*c.get_ref() as u64) * u64::from(scale)
                }
                Some(c) => {
                    is.at(c.span(), k("count"), "must be in 1..=100000000");
                    1
                }
                None => 1,
            };
            let ports = match &s.ports {
                Some(p) => parse_ports(p.get_ref()).unwrap_or_else(|m| {
                    is.at(p.span(), k("ports"), m);
                    Vec::new()
                }),
                None => Vec::new(),
            };
            let port = match &s.port {
                Some(p) => match u16::try_from(*p.get_ref()) {
                    Ok(v) if v > 0 => Some(v),
                    _ => {
                        is.at(p.span(), k("port"), "must be in 1..=65535");
                        None
                    }
                },
                None => None,
            };
            let default_bytes = match kind {
                AttackKind::UdpFlood => Dist::constant(512.0),
                AttackKind::SlowRead => Dist::constant(1_048_576.0),
                AttackKind::SmbLateral => Dist::constant(262_144.0),
                // Task-less check-ins: the server has little to say.
                AttackKind::C2HttpsBeacon => Dist {
                    family: Family::LogNormal {
                        median: 48.0,
                        sigma: 0.5,
                    },
                    min: Some(1.0),
                    max: Some(2000.0),
                },
                _ => Dist::of(Family::LogNormal {
                    median: 400.0,
                    sigma: 0.3,
                }),
            };
            let bytes = dist_or(is, &k("bytes"), &s.bytes, default_bytes);
            let period = match &s.period {
                Some(d) => match parse_duration_us(d.get_ref()) {
                    Ok(v) if v >= 1000 => v,
                    Ok(_) => {
                        is.at(d.span(), k("period"), "must be at least 1ms");
                        1_000_000
                    }
                    Err(m) => {
                        is.at(d.span(), k("period"), m);
                        1_000_000
                    }
                },
                None => 10_000_000,
            };
            let jitter = match &s.jitter {
                Some(j) if (0.0..1.0).contains(j.get_ref()) => *j.get_ref(),
                Some(j) => {
                    is.at(
                        j.span(),
                        k("jitter"),
                        "must be in [0, 1): a fraction of the period",
                    );
                    0.0
                }
                None => 0.1,
            };
            let domain = match &s.domain {
                Some(d) if valid_domain(d.get_ref()) => d.get_ref().to_ascii_lowercase(),
                Some(d) => {
                    is.at(d.span(), k("domain"), "expected a DNS name like \"cdn-update.example\" (labels of a-z, 0-9, '-', at most 100 characters)");
                    String::new()
                }
                None => String::new(),
            };
            let spoof = match &s.spoof {
                Some(x) => parse_cidr(x.get_ref()).unwrap_or_else(|m| {
                    is.at(x.span(), k("spoof"), m);
                    (Ipv4Addr::UNSPECIFIED, 0)
                }),
                None => (Ipv4Addr::UNSPECIFIED, 0),
            };
            if targets.is_empty() {
                continue;
            }
            let Some(from) = from else { continue };
            steps.push(StepSpec {
                id,
                kind,
                label: s
                    .label
                    .as_ref()
                    .map_or(kind.label().to_string(), |l| l.get_ref().clone()),
                technique: s
                    .technique
                    .as_ref()
                    .map_or(kind.technique().to_string(), |t| t.get_ref().clone()),
                from,
                targets,
                start_us: start,
                duration_us: duration,
                rate,
                count,
                ports,
                port,
                bytes,
                period_us: period,
                jitter,
                domain,
                spoof,
            });
        }
        if let Some(attacker) = attacker {
            campaigns.push(CampaignSpec {
                name,
                attacker,
                steps,
            });
        }
    }
    if benign.is_empty() && campaigns.is_empty() {
        is.at(
            0..0,
            "",
            "the spec generates nothing: add [[benign]] sources or [[campaign]]s",
        );
    }
    Some(SynthSpec {
        path: path.to_string(),
        start_us,
        duration_us,
        seed,
        scale,
        format,
        snaplen,
        gateway_mac,
        hosts,
        subnets,
        benign,
        campaigns,
    })
}

/// Names of (at most five of) `hosts` that do not offer `svc`.
fn lacking_service<'a>(all: &'a [HostSpec], hosts: &[usize], svc: Service) -> Vec<&'a str> {
    hosts
        .iter()
        .filter(|&&h| !all[h].services.has(svc))
        .map(|&h| all[h].name.as_str())
        .take(5)
        .collect()
}

fn valid_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

fn valid_domain(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 100
        && s.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: &str = r#"
[capture]
start = "2026-03-02T09:00:00Z"
duration = "2m"

[[subnet]]
name = "office"
cidr = "10.1.0.0/24"
hosts = 3

[[subnet]]
name = "web"
cidr = "10.2.0.0/28"
hosts = 2
services = ["http", "https"]

[[host]]
name = "attacker"
ip = "203.0.113.9"
external = true

[[benign]]
app = "http"
clients = "office"
servers = "web"
rate = 2.5

[[campaign]]
name = "c"
attacker = "attacker"
[[campaign.step]]
id = "scan"
kind = "syn_scan"
targets = "web"
ports = "20-25,80"
rate = 100
"#;

    #[test]
    fn a_minimal_spec_validates() {
        let s = parse("min.toml", MIN, Overrides::default()).unwrap();
        assert_eq!(s.start_us, 1_772_442_000_000_000);
        assert_eq!(s.duration_us, 120_000_000);
        assert_eq!(s.hosts.len(), 6);
        assert_eq!(s.hosts[1].name, "office-1");
        assert_eq!(s.hosts[1].ip, Ipv4Addr::new(10, 1, 0, 10));
        assert_eq!(s.hosts[4].ip, Ipv4Addr::new(10, 2, 0, 1));
        assert!(s.hosts[4].services.has(Service::Http));
        assert_eq!(s.benign[0].servers, vec![4, 5]);
        let step = &s.campaigns[0].steps[0];
        assert_eq!(step.ports, vec![20, 21, 22, 23, 24, 25, 80]);
        assert_eq!(
            (step.label.as_str(), step.technique.as_str()),
            ("PortScan", "T1046")
        );
    }

    #[test]
    fn scale_multiplies_hosts_and_rates() {
        let ov = Overrides {
            scale: Some(3),
            ..Overrides::default()
        };
        let s = parse("min.toml", MIN, ov).unwrap();
        assert_eq!(s.subnets[0].hosts.len(), 9);
        assert!((s.benign[0].rate - 7.5).abs() < 1e-12);
        assert!((s.campaigns[0].steps[0].rate - 300.0).abs() < 1e-9);
        // 2 hosts x 8 do not fit in a /28 from .1: a clear error.
        let ov = Overrides {
            scale: Some(8),
            ..Overrides::default()
        };
        let e = parse("min.toml", MIN, ov).unwrap_err();
        assert!(
            e.iter()
                .any(|i| i.key == "subnet[1].hosts" && i.message.contains("widen")),
            "{e:?}"
        );
    }

    #[test]
    fn every_problem_is_listed_with_line_and_key() {
        let bad = MIN
            .replace("rate = 2.5", "rate = -1\nbogus = 3")
            .replace("ports = \"20-25,80\"", "ports = \"80-20\"\nperiod = \"5s\"")
            .replace("servers = \"web\"", "servers = \"office\"")
            .replace(
                "duration = \"2m\"",
                "duration = \"2 fortnights\"\nextra = 1",
            );
        let e = parse("bad.toml", &bad, Overrides::default()).unwrap_err();
        let keys: Vec<&str> = e.iter().map(|i| i.key.as_str()).collect();
        for want in [
            "capture.duration",
            "capture.extra",
            "benign[0].bogus",
            "benign[0].rate",
            "benign[0].servers",
            "campaign[0].step[0].ports",
            "campaign[0].step[0].period",
        ] {
            assert!(keys.contains(&want), "{want} missing from {e:#?}");
        }
        let extra = e.iter().find(|i| i.key == "capture.extra").unwrap();
        let line = bad.lines().position(|l| l.starts_with("extra")).unwrap() + 1;
        assert_eq!((extra.line, extra.column), (line, 1));
        // Sorted by place in the file.
        assert!(
            e.windows(2)
                .all(|w| (w[0].line, w[0].column) <= (w[1].line, w[1].column))
        );
    }

    #[test]
    fn syntax_and_type_errors_have_a_place() {
        let e = parse("x.toml", "[capture\nstart = 1", Overrides::default()).unwrap_err();
        assert_eq!(e.len(), 1);
        assert_eq!(e[0].line, 1);
        let e = parse(
            "x.toml",
            &MIN.replace("hosts = 3", "hosts = \"three\""),
            Overrides::default(),
        )
        .unwrap_err();
        assert_eq!(e.len(), 1, "{e:?}");
        let line = MIN.lines().position(|l| l == "hosts = 3").unwrap() + 1;
        assert_eq!(e[0].line, line, "{e:?}");
    }

    #[test]
    fn unknown_names_and_services_are_explained() {
        let bad = MIN
            .replace("targets = \"web\"", "targets = \"wbe\"")
            .replace("[\"http\", \"https\"]", "[\"http\", \"gopher\"]");
        let e = parse("x.toml", &bad, Overrides::default()).unwrap_err();
        let text: Vec<String> = e.iter().map(ToString::to_string).collect();
        assert!(
            text.iter()
                .any(|t| t.contains("unknown host or subnet `wbe`")
                    && t.contains("known: office, web")),
            "{text:#?}"
        );
        assert!(
            text.iter().any(|t| t.contains("unknown service `gopher`")),
            "{text:#?}"
        );
    }

    #[test]
    fn distributions_parse_and_reject_bad_parameters() {
        let d = |s: &str| {
            let v: RawNumOrDist =
                toml::from_str::<BTreeMap<String, RawNumOrDist>>(&format!("x = {s}"))
                    .unwrap()
                    .remove("x")
                    .unwrap();
            to_dist(&v)
        };
        assert_eq!(d("3").unwrap(), Dist::constant(3.0));
        assert!(matches!(
            d("{ dist = \"pareto\", scale = 2, shape = 1.5 }")
                .unwrap()
                .family,
            Family::Pareto { .. }
        ));
        assert!(
            d("{ dist = \"pareto\", scale = 2 }")
                .unwrap_err()
                .contains("shape")
        );
        assert!(
            d("{ dist = \"pareto\", shape = 1, sigma = 2 }")
                .unwrap_err()
                .contains("sigma")
        );
        assert!(
            d("{ dist = \"zipf\" }")
                .unwrap_err()
                .contains("unknown distribution")
        );
        assert!(d("-1").is_err());
    }
}
