//! Test helpers: hand-built decoded packets and typed cell access.

use super::{FlowParams, FlowRecord, FlowStats, Profile, Value};
use crate::capture::{PacketRepr, TcpFlags};

pub const A: &str = "10.0.0.1";
pub const B: &str = "10.0.0.2";

/// A decoded Ethernet/IPv4 packet; transport header TCP 20, else 8 bytes.
pub fn pkt(ts_us: i64, src: (&str, u16), dst: (&str, u16), proto: u8, payload: u32) -> PacketRepr {
    let v6 = src.0.contains(':');
    PacketRepr {
        ts_ns: ts_us * 1000,
        link_type: 1,
        vlan: None,
        l3_offset: 14,
        ip_version: if v6 { 6 } else { 4 },
        src: src.0.parse().unwrap(),
        dst: dst.0.parse().unwrap(),
        protocol: proto,
        ttl: 64,
        ip_header_len: if v6 { 40 } else { 20 },
        transport_header_len: if proto == 6 { 20 } else { 8 },
        payload_len: payload,
        frame_payload_len: payload,
        src_port: src.1,
        dst_port: dst.1,
        ..PacketRepr::default()
    }
}

/// TCP between A:40000 and B:80; `fwd` means A -> B.
pub fn tcp(ts_us: i64, fwd: bool, flags: u8, payload: u32, window: u16) -> PacketRepr {
    let (s, d) = if fwd {
        ((A, 40000), (B, 80))
    } else {
        ((B, 80), (A, 40000))
    };
    let mut p = pkt(ts_us, s, d, 6, payload);
    p.tcp_flags = TcpFlags(flags);
    p.tcp_window = window;
    p
}

/// Run `params` over `pkts`, checking conservation.
pub fn run_with(params: FlowParams, pkts: &[PacketRepr]) -> (Vec<FlowRecord>, FlowStats) {
    let mut x = super::FlowExtractor::with_params(params).unwrap();
    let mut rows = Vec::new();
    for p in pkts {
        x.push(p);
        x.take_ready(&mut rows);
    }
    let stats = x.finish(&mut rows);
    assert!(stats.is_balanced(), "{stats:?}");
    assert_eq!(stats.packets, pkts.len() as u64);
    (rows, stats)
}

/// Typed access to the cells of one profile's rows.
pub struct Cells(pub Profile);

impl Cells {
    pub fn cell<'a>(&self, r: &'a FlowRecord, name: &str) -> &'a Value {
        let i = self
            .0
            .columns()
            .iter()
            .position(|c| *c == name)
            .unwrap_or_else(|| panic!("no column {name}"));
        &r.values[i]
    }

    pub fn f(&self, r: &FlowRecord, name: &str) -> f64 {
        match self.cell(r, name) {
            Value::Float(x) => *x,
            v => panic!("{name} is {v:?}, expected a double"),
        }
    }

    pub fn i(&self, r: &FlowRecord, name: &str) -> i64 {
        match self.cell(r, name) {
            Value::Int(x) => *x,
            v => panic!("{name} is {v:?}, expected an integer"),
        }
    }

    pub fn text<'a>(&self, r: &'a FlowRecord, name: &str) -> &'a str {
        match self.cell(r, name) {
            Value::Text(x) => x,
            v => panic!("{name} is {v:?}, expected text"),
        }
    }
}
