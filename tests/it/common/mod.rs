//! Helpers shared by the integration tests: the shared dataset folder and
//! packet builders.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use etherparse::PacketBuilder;
use std::path::PathBuf;

/// The binary under test.
/// What a finished command wrote to stderr.
pub fn stderr(a: &assert_cmd::assert::Assert) -> String {
    String::from_utf8_lossy(&a.get_output().stderr).into_owned()
}

/// A JSON file (a model, metrics, a timeline).
pub fn read_json(path: &std::path::Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

pub fn bin() -> assert_cmd::Command {
    assert_cmd::Command::cargo_bin("maximus-sim").unwrap()
}

/// The capture CICFlowMeter V3 wrote the reference CSVs from, when the
/// shared datasets are there (the reason is printed when not).
pub fn reference_pcap() -> Option<PathBuf> {
    let p = data_dir()?.join("cicflowmeter-reference/cic2017-v3/test.pcap");
    if p.is_file() {
        Some(p)
    } else {
        eprintln!("skipping: {} not found (set MAXIMUS_DATA_DIR)", p.display());
        None
    }
}

/// `$MAXIMUS_DATA_DIR`, else `../shared/datasets` beside the crate; `None`
/// (with the reason printed) when it is absent.
pub fn data_dir() -> Option<PathBuf> {
    let dir = std::env::var_os("MAXIMUS_DATA_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/datasets"));
    if dir.join("MANIFEST.json").is_file() {
        Some(dir)
    } else {
        eprintln!(
            "skipping: shared datasets not found at {} (set MAXIMUS_DATA_DIR)",
            dir.display()
        );
        None
    }
}

/// One manifest entry: local path (relative to the data dir), format and packet count.
#[derive(Debug, Clone)]
pub struct Entry {
    pub path: PathBuf,
    pub rel: String,
    pub ftype: String,
    pub pkts: u64,
}

/// Every capture listed in MANIFEST.json.
pub fn manifest_captures(dir: &std::path::Path) -> Vec<Entry> {
    let text = std::fs::read_to_string(dir.join("MANIFEST.json")).unwrap();
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    let mut out = Vec::new();
    for e in v.as_array().unwrap() {
        let ftype = e["ftype"].as_str().unwrap().to_string();
        if ftype == "csv" {
            continue;
        }
        let local = e["local"].as_str().unwrap();
        let rel = local.strip_prefix("datasets/").unwrap().to_string();
        let pkts: u64 = e["pkts"]
            .as_str()
            .unwrap()
            .split_whitespace()
            .next()
            .unwrap()
            .parse()
            .unwrap();
        out.push(Entry {
            path: dir.join(&rel),
            rel,
            ftype,
            pkts,
        });
    }
    out
}

/// What a generated test packet should decode to.
#[derive(Debug, Clone, PartialEq)]
pub struct Expect {
    pub ipv6: bool,
    pub src: std::net::IpAddr,
    pub dst: std::net::IpAddr,
    pub protocol: u8,
    pub src_port: u16,
    pub dst_port: u16,
    pub flags: u8,
    pub seq: u32,
    pub ack: u32,
    pub window: u16,
    pub ttl: u8,
    pub vlan: Option<u16>,
    /// Bytes before the IP header.
    pub l3_offset: u16,
    pub payload_len: u32,
    pub transport_header_len: u16,
}

/// Build an Ethernet frame (with 0, 1 or 2 VLAN tags) carrying TCP or UDP.
#[allow(clippy::too_many_arguments)]
pub fn build_frame(
    ipv6: bool,
    src: [u8; 16],
    dst: [u8; 16],
    tcp: bool,
    ports: (u16, u16),
    flags: u8,
    seq_ack_win: (u32, u32, u16),
    ttl: u8,
    vlans: &[u16],
    payload: &[u8],
) -> (Vec<u8>, Expect) {
    use etherparse::VlanId;
    let eth = PacketBuilder::ethernet2([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2]);
    let mut v = Vec::new();
    macro_rules! finish {
        ($ip:expr) => {{
            let ip = $ip;
            if tcp {
                let mut b = ip.tcp(ports.0, ports.1, seq_ack_win.0, seq_ack_win.2);
                if flags & 0x01 != 0 {
                    b = b.fin();
                }
                if flags & 0x02 != 0 {
                    b = b.syn();
                }
                if flags & 0x04 != 0 {
                    b = b.rst();
                }
                if flags & 0x08 != 0 {
                    b = b.psh();
                }
                if flags & 0x10 != 0 {
                    b = b.ack(seq_ack_win.1);
                }
                if flags & 0x20 != 0 {
                    b = b.urg(0);
                }
                if flags & 0x40 != 0 {
                    b = b.ece();
                }
                if flags & 0x80 != 0 {
                    b = b.cwr();
                }
                b.write(&mut v, payload).unwrap();
            } else {
                ip.udp(ports.0, ports.1).write(&mut v, payload).unwrap();
            }
        }};
    }
    macro_rules! with_ip {
        ($step:expr) => {{
            let step = $step;
            if ipv6 {
                finish!(step.ipv6(src, dst, ttl));
            } else {
                let s4 = [src[0], src[1], src[2], src[3]];
                let d4 = [dst[0], dst[1], dst[2], dst[3]];
                finish!(step.ipv4(s4, d4, ttl));
            }
        }};
    }
    match vlans {
        [] => with_ip!(eth),
        [a] => with_ip!(eth.single_vlan(VlanId::try_new(*a).unwrap())),
        [a, b, ..] => {
            with_ip!(eth.double_vlan(VlanId::try_new(*a).unwrap(), VlanId::try_new(*b).unwrap()))
        }
    }
    let to_ip = |b: [u8; 16]| -> std::net::IpAddr {
        if ipv6 {
            std::net::Ipv6Addr::from(b).into()
        } else {
            std::net::Ipv4Addr::new(b[0], b[1], b[2], b[3]).into()
        }
    };
    let expect = Expect {
        ipv6,
        src: to_ip(src),
        dst: to_ip(dst),
        protocol: if tcp { 6 } else { 17 },
        src_port: ports.0,
        dst_port: ports.1,
        flags: if tcp { flags } else { 0 },
        seq: if tcp { seq_ack_win.0 } else { 0 },
        ack: if tcp && flags & 0x10 != 0 {
            seq_ack_win.1
        } else {
            0
        },
        window: if tcp { seq_ack_win.2 } else { 0 },
        ttl,
        vlan: vlans.first().copied(),
        l3_offset: 14 + 4 * vlans.len().min(2) as u16,
        payload_len: payload.len() as u32,
        transport_header_len: if tcp { 20 } else { 8 },
    };
    (v, expect)
}

/// The bytes `run` writes to a FIFO at `dir/name` (given its path), read
/// on another thread; checks that the path is still a FIFO afterwards (an
/// output renamed over it would replace it) before waiting for the reader,
/// which would then never see a writer. `None` (skipped, with the reason
/// printed) when `mkfifo` is not available.
#[cfg(unix)]
pub fn through_fifo(
    dir: &std::path::Path,
    name: &str,
    run: impl FnOnce(&std::path::Path),
) -> Option<Vec<u8>> {
    use std::os::unix::fs::FileTypeExt;
    let fifo = dir.join(name);
    let made = std::process::Command::new("mkfifo").arg(&fifo).status();
    if !made.is_ok_and(|s| s.success()) {
        eprintln!("skipped the pipe output: mkfifo is not available");
        return None;
    }
    let reader = {
        let fifo = fifo.clone();
        std::thread::spawn(move || std::fs::read(fifo).unwrap())
    };
    run(&fifo);
    assert!(std::fs::metadata(&fifo).unwrap().file_type().is_fifo());
    Some(reader.join().unwrap())
}
