//! Application payloads that real dissectors accept: HTTP/1.1, TLS 1.3
//! handshakes and records, DNS, NTP, SSH-2 (banner, KEXINIT, ECDH, NEWKEYS,
//! then encrypted packets), SMB2 over NetBIOS, FTP, DCE/RPC bind.
//!
//! Takes sizes, names and a [`Rng`]; gives [`Content`]: exact protocol bytes
//! plus "fill" runs (pseudo-random bytes, produced only when a segment is
//! written) and TLS application-data runs (record headers laid out every
//! 16 KiB), so a 50 MB transfer costs a few words until it is sent.
//! tshark decodes every message built here without a malformed-packet
//! warning (tested in `tests/it/synth.rs`).

use super::rng::Rng;
use std::sync::OnceLock;

/// Bytes of TLS payload per application-data record (plus a 5-byte header).
const TLS_RECORD: u32 = 16_384;

/// One run of a message's bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Part {
    /// Exact bytes.
    Bytes(Vec<u8>),
    /// This many pseudo-random bytes.
    Fill(u32),
    /// TLS application-data records carrying this many bytes in total,
    /// headers included.
    TlsData(u32),
}

impl Part {
    fn len(&self) -> u32 {
        match self {
            Part::Bytes(b) => b.len() as u32,
            Part::Fill(n) | Part::TlsData(n) => *n,
        }
    }
}

/// A message: what one side sends in one go (an HTTP request, a TLS
/// flight, a DNS query).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Content {
    parts: Vec<Part>,
    len: u32,
}

impl Content {
    pub fn new() -> Content {
        Content::default()
    }

    pub fn bytes(b: Vec<u8>) -> Content {
        let mut c = Content::new();
        c.push(Part::Bytes(b));
        c
    }

    pub fn fill(n: u32) -> Content {
        let mut c = Content::new();
        c.push(Part::Fill(n));
        c
    }

    pub fn push(&mut self, p: Part) {
        if p.len() > 0 {
            self.len = self.len.saturating_add(p.len());
            self.parts.push(p);
        }
    }

    pub fn then(mut self, p: Part) -> Content {
        self.push(p);
        self
    }

    pub fn len(&self) -> u32 {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Append bytes `off..off + len` to `out`; fill bytes start at
    /// `fill_seed` in the fill table.
    pub fn copy_into(&self, mut off: u32, mut len: u32, fill_seed: u32, out: &mut Vec<u8>) {
        let mut base = 0u32;
        for p in &self.parts {
            let plen = p.len();
            if len == 0 {
                break;
            }
            if off >= base + plen {
                base += plen;
                continue;
            }
            let start = off - base;
            let take = (plen - start).min(len);
            match p {
                Part::Bytes(b) => {
                    out.extend_from_slice(&b[start as usize..(start + take) as usize])
                }
                Part::Fill(_) => {
                    fill_bytes(fill_seed.wrapping_add(base).wrapping_add(start), take, out)
                }
                Part::TlsData(total) => {
                    tls_bytes(*total, start, take, fill_seed.wrapping_add(base), out)
                }
            }
            off += take;
            len -= take;
            base += plen;
        }
    }
}

/// 64 KiB of fixed pseudo-random bytes (xorshift, seed fixed): fill runs
/// are windows into it.
fn fill_table() -> &'static [u8] {
    static TABLE: OnceLock<Vec<u8>> = OnceLock::new();
    TABLE.get_or_init(|| {
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        let mut v = Vec::with_capacity(1 << 16);
        while v.len() < 1 << 16 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            v.extend_from_slice(&x.to_le_bytes());
        }
        v
    })
}

fn fill_bytes(start: u32, mut len: u32, out: &mut Vec<u8>) {
    let t = fill_table();
    let mut at = (start as usize) & 0xffff;
    while len > 0 {
        let n = (t.len() - at).min(len as usize);
        out.extend_from_slice(&t[at..at + n]);
        len -= n as u32;
        at = 0;
    }
}

/// Bytes `start..start + len` of a run of application-data records.
fn tls_bytes(total: u32, start: u32, len: u32, seed: u32, out: &mut Vec<u8>) {
    let rec = TLS_RECORD + 5;
    let mut pos = start;
    let end = start + len;
    while pos < end {
        let r = pos / rec;
        let in_rec = pos % rec;
        let rec_start = r * rec;
        let rec_len = (total - rec_start).min(rec);
        if in_rec < 5 {
            let body = (rec_len - 5) as u16;
            let hdr = [0x17, 0x03, 0x03, (body >> 8) as u8, body as u8];
            let n = (5 - in_rec).min(end - pos);
            out.extend_from_slice(&hdr[in_rec as usize..(in_rec + n) as usize]);
            pos += n;
        } else {
            let n = (rec_len - in_rec).min(end - pos);
            fill_bytes(seed.wrapping_add(pos), n, out);
            pos += n;
        }
    }
}

/// Smallest TLS application-data run carrying `payload` bytes.
pub fn tls_data(payload: u32) -> Part {
    let payload = payload.max(1);
    let records = payload.div_ceil(TLS_RECORD);
    Part::TlsData(payload + 5 * records)
}

fn u16be(v: &mut Vec<u8>, x: u16) {
    v.extend_from_slice(&x.to_be_bytes());
}
fn u32be(v: &mut Vec<u8>, x: u32) {
    v.extend_from_slice(&x.to_be_bytes());
}
fn u16le(v: &mut Vec<u8>, x: u16) {
    v.extend_from_slice(&x.to_le_bytes());
}
fn u32le(v: &mut Vec<u8>, x: u32) {
    v.extend_from_slice(&x.to_le_bytes());
}
fn u64le(v: &mut Vec<u8>, x: u64) {
    v.extend_from_slice(&x.to_le_bytes());
}

fn random_bytes(rng: &mut Rng, n: usize) -> Vec<u8> {
    let mut b = vec![0u8; n];
    rng.fill(&mut b);
    b
}

/// `n` lowercase hex characters.
pub fn hex_token(rng: &mut Rng, n: usize) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    (0..n)
        .map(|_| HEX[rng.below(16) as usize] as char)
        .collect()
}

// ------------------------------------------------------------------ HTTP

/// An HTTP/1.1 request of about `size` bytes (padded with a cookie).
pub fn http_request(
    rng: &mut Rng,
    method: &str,
    host: &str,
    path: &str,
    body: &[u8],
    size: u32,
) -> Content {
    let mut h = format!(
        "{method} {path} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0 Safari/537.36\r\nAccept: */*\r\nAccept-Encoding: gzip, deflate\r\nConnection: keep-alive\r\n"
    );
    if !body.is_empty() {
        h.push_str(&format!(
            "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n",
            body.len()
        ));
    }
    let base = h.len() + 2 + body.len() + "Cookie: sid=\r\n".len();
    if (size as usize) > base {
        let pad = (size as usize - base).min(7000);
        h.push_str("Cookie: sid=");
        h.push_str(&hex_token(rng, pad));
        h.push_str("\r\n");
    }
    h.push_str("\r\n");
    let mut b = h.into_bytes();
    b.extend_from_slice(body);
    Content::bytes(b)
}

/// An HTTP/1.1 response with a `body_len`-byte body of opaque data.
pub fn http_response(status: u16, reason: &str, body_len: u32) -> Content {
    let h = format!(
        "HTTP/1.1 {status} {reason}\r\nServer: nginx/1.24.0\r\nContent-Type: application/octet-stream\r\nContent-Length: {body_len}\r\nConnection: keep-alive\r\n\r\n"
    );
    Content::bytes(h.into_bytes()).then(Part::Fill(body_len))
}

/// An HTTP/1.1 response with a small text body.
pub fn http_text_response(status: u16, reason: &str, body: &str) -> Content {
    Content::bytes(
        format!(
            "HTTP/1.1 {status} {reason}\r\nServer: Apache/2.4.57 (Debian)\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
        .into_bytes(),
    )
}

// ------------------------------------------------------------------ TLS 1.3

/// A TLS 1.3 ClientHello record with this server name.
pub fn tls_client_hello(rng: &mut Rng, sni: &str) -> Vec<u8> {
    let mut hs = Vec::with_capacity(512);
    u16be(&mut hs, 0x0303);
    hs.extend(random_bytes(rng, 32));
    hs.push(32);
    hs.extend(random_bytes(rng, 32));
    let suites: [u16; 8] = [
        0x1301, 0x1302, 0x1303, 0xc02b, 0xc02f, 0xc02c, 0xc030, 0xcca9,
    ];
    u16be(&mut hs, (suites.len() * 2) as u16);
    for s in suites {
        u16be(&mut hs, s);
    }
    hs.extend_from_slice(&[1, 0]);
    let mut ext = Vec::with_capacity(256);
    // server_name
    let name = sni.as_bytes();
    u16be(&mut ext, 0);
    u16be(&mut ext, (name.len() + 5) as u16);
    u16be(&mut ext, (name.len() + 3) as u16);
    ext.push(0);
    u16be(&mut ext, name.len() as u16);
    ext.extend_from_slice(name);
    // supported_groups: x25519, secp256r1
    ext.extend_from_slice(&[0, 10, 0, 6, 0, 4, 0, 0x1d, 0, 0x17]);
    // ec_point_formats: uncompressed
    ext.extend_from_slice(&[0, 11, 0, 2, 1, 0]);
    // signature_algorithms
    ext.extend_from_slice(&[0, 13, 0, 8, 0, 6, 4, 3, 8, 4, 4, 1]);
    // supported_versions: TLS 1.3, 1.2
    ext.extend_from_slice(&[0, 43, 0, 5, 4, 3, 4, 3, 3]);
    // psk_key_exchange_modes: psk_dhe_ke
    ext.extend_from_slice(&[0, 45, 0, 2, 1, 1]);
    // key_share: x25519
    ext.extend_from_slice(&[0, 51, 0, 38, 0, 36, 0, 0x1d, 0, 32]);
    ext.extend(random_bytes(rng, 32));
    u16be(&mut hs, ext.len() as u16);
    hs.extend(ext);
    handshake_record(1, &hs, 0x0301)
}

/// The server's first flight: ServerHello and ChangeCipherSpec records,
/// then the encrypted rest of the handshake as application data (about
/// `encrypted` bytes: certificate chain, CertificateVerify, Finished).
pub fn tls_server_flight(rng: &mut Rng, encrypted: u32) -> Content {
    let mut hs = Vec::with_capacity(128);
    u16be(&mut hs, 0x0303);
    hs.extend(random_bytes(rng, 32));
    hs.push(32);
    hs.extend(random_bytes(rng, 32));
    u16be(&mut hs, 0x1301);
    hs.push(0);
    let mut ext = vec![0, 43, 0, 2, 3, 4, 0, 51, 0, 36, 0, 0x1d, 0, 32];
    ext.extend(random_bytes(rng, 32));
    u16be(&mut hs, ext.len() as u16);
    hs.extend(ext);
    let mut b = handshake_record(2, &hs, 0x0303);
    b.extend_from_slice(&[0x14, 3, 3, 0, 1, 1]);
    Content::bytes(b).then(tls_data(encrypted))
}

/// The client's second flight: ChangeCipherSpec and its encrypted Finished.
pub fn tls_client_finished() -> Content {
    Content::bytes(vec![0x14, 3, 3, 0, 1, 1]).then(tls_data(53))
}

fn handshake_record(msg_type: u8, body: &[u8], record_version: u16) -> Vec<u8> {
    let mut r = Vec::with_capacity(body.len() + 9);
    r.push(0x16);
    u16be(&mut r, record_version);
    u16be(&mut r, (body.len() + 4) as u16);
    r.push(msg_type);
    let n = body.len() as u32;
    r.extend_from_slice(&n.to_be_bytes()[1..]);
    r.extend_from_slice(body);
    r
}

// ------------------------------------------------------------------ DNS

/// DNS record types used here.
pub mod qtype {
    pub const A: u16 = 1;
    pub const TXT: u16 = 16;
    pub const AAAA: u16 = 28;
}

fn dns_name(v: &mut Vec<u8>, name: &str) {
    for label in name.split('.').filter(|l| !l.is_empty()) {
        let l = &label.as_bytes()[..label.len().min(63)];
        v.push(l.len() as u8);
        v.extend_from_slice(l);
    }
    v.push(0);
}

/// A recursive query for `name`.
pub fn dns_query(id: u16, name: &str, qt: u16) -> Vec<u8> {
    let mut v = Vec::with_capacity(name.len() + 18);
    u16be(&mut v, id);
    u16be(&mut v, 0x0100);
    v.extend_from_slice(&[0, 1, 0, 0, 0, 0, 0, 0]);
    dns_name(&mut v, name);
    u16be(&mut v, qt);
    u16be(&mut v, 1);
    v
}

/// The answer to [`dns_query`]: A/AAAA records until about `size` bytes, or
/// TXT strings carrying `txt` bytes of base32 text.
pub fn dns_response(rng: &mut Rng, id: u16, name: &str, qt: u16, size: u32, txt: u32) -> Vec<u8> {
    let mut v = dns_query(id, name, qt);
    v[2] = 0x81;
    v[3] = 0x80;
    let mut answers = 0u16;
    let add = |v: &mut Vec<u8>, rtype: u16, rdata: &[u8]| {
        v.extend_from_slice(&[0xc0, 0x0c]);
        u16be(v, rtype);
        u16be(v, 1);
        u32be(v, 300);
        u16be(v, rdata.len() as u16);
        v.extend_from_slice(rdata);
    };
    match qt {
        qtype::TXT => {
            let mut left = txt.clamp(1, 400) as usize;
            let text = base32_token(rng, left);
            let mut at = 0;
            let mut rdata = Vec::new();
            while left > 0 {
                let n = left.min(255);
                rdata.push(n as u8);
                rdata.extend_from_slice(&text.as_bytes()[at..at + n]);
                at += n;
                left -= n;
            }
            add(&mut v, qtype::TXT, &rdata);
            answers = 1;
        }
        _ => {
            let per = if qt == qtype::AAAA { 28 } else { 16 };
            let target = (size as usize).clamp(v.len() + per, 500);
            while v.len() + per <= target && answers < 30 {
                let ip = random_bytes(rng, per - 12);
                add(&mut v, qt, &ip);
                answers += 1;
            }
        }
    }
    v[6..8].copy_from_slice(&answers.to_be_bytes());
    v
}

/// `n` characters of lowercase base32 (the alphabet of DNS tunnels).
pub fn base32_token(rng: &mut Rng, n: usize) -> String {
    const B32: &[u8; 32] = b"abcdefghijklmnopqrstuvwxyz234567";
    (0..n)
        .map(|_| B32[rng.below(32) as usize] as char)
        .collect()
}

/// A name under `domain` carrying `bytes` of data as base32 labels of at
/// most 63 characters (DNS tunnel / DNS C2 encoding).
pub fn tunnel_name(rng: &mut Rng, domain: &str, bytes: u32) -> String {
    let chars = (bytes as usize * 8)
        .div_ceil(5)
        .clamp(4, 250 - domain.len().min(200));
    let text = base32_token(rng, chars);
    let mut name = String::with_capacity(chars + chars / 63 + domain.len() + 2);
    for (i, ch) in text.as_bytes().chunks(63).enumerate() {
        if i > 0 {
            name.push('.');
        }
        name.push_str(std::str::from_utf8(ch).unwrap_or("a"));
    }
    name.push('.');
    name.push_str(domain);
    name
}

/// Bytes of data one tunnel query carries (names are at most 253 characters).
pub fn tunnel_capacity(domain: &str) -> u32 {
    let chars = 250usize.saturating_sub(domain.len()).saturating_sub(4);
    ((chars - chars / 64) * 5 / 8) as u32
}

// ------------------------------------------------------------------ NTP

/// An NTPv4 client (mode 3) or server (mode 4) packet at `unix_us`.
pub fn ntp(server: bool, unix_us: i64, rng: &mut Rng) -> Vec<u8> {
    let mut v = Vec::with_capacity(48);
    v.push(if server { 0x24 } else { 0x23 });
    v.push(if server { 2 } else { 0 });
    v.push(6);
    v.push(0xe9);
    let ts = |us: i64| -> u64 {
        let secs = (us.div_euclid(1_000_000) + 2_208_988_800) as u64;
        let frac = ((us.rem_euclid(1_000_000) as u64) << 32) / 1_000_000;
        (secs << 32) | frac
    };
    if server {
        u32be(&mut v, 0x0000_0400);
        u32be(&mut v, 0x0000_0800);
        v.extend_from_slice(&[192, 0, 2, 1]);
        v.extend_from_slice(&ts(unix_us - 30_000_000).to_be_bytes());
        v.extend_from_slice(&ts(unix_us - 500).to_be_bytes());
        v.extend_from_slice(&ts(unix_us - 200).to_be_bytes());
        v.extend_from_slice(&ts(unix_us).to_be_bytes());
    } else {
        v.extend_from_slice(&[0; 12]);
        v.extend_from_slice(&[0; 24]);
        v.extend_from_slice(&(ts(unix_us) ^ (rng.u64() & 0xffff)).to_be_bytes());
    }
    v
}

// ------------------------------------------------------------------ SSH

pub const SSH_SERVER_BANNER: &[u8] = b"SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3\r\n";
pub const SSH_CLIENT_BANNER: &[u8] = b"SSH-2.0-OpenSSH_9.6\r\n";
pub const SSH_BRUTE_BANNER: &[u8] = b"SSH-2.0-libssh2_1.10.0\r\n";

/// An unencrypted SSH binary packet around `payload`.
fn ssh_packet(rng: &mut Rng, payload: &[u8]) -> Vec<u8> {
    let mut pad = 8 - ((5 + payload.len()) % 8);
    if pad < 4 {
        pad += 8;
    }
    let mut v = Vec::with_capacity(5 + payload.len() + pad);
    u32be(&mut v, (1 + payload.len() + pad) as u32);
    v.push(pad as u8);
    v.extend_from_slice(payload);
    v.extend(random_bytes(rng, pad));
    v
}

fn ssh_string(v: &mut Vec<u8>, s: &[u8]) {
    u32be(v, s.len() as u32);
    v.extend_from_slice(s);
}

/// SSH_MSG_KEXINIT.
pub fn ssh_kexinit(rng: &mut Rng, server: bool) -> Vec<u8> {
    let mut p = vec![20];
    p.extend(random_bytes(rng, 16));
    let kex: &[u8] = if server {
        b"curve25519-sha256,curve25519-sha256@libssh.org,ecdh-sha2-nistp256,kex-strict-s-v00@openssh.com"
    } else {
        b"curve25519-sha256,curve25519-sha256@libssh.org,ecdh-sha2-nistp256,ext-info-c,kex-strict-c-v00@openssh.com"
    };
    let lists: [&[u8]; 10] = [
        kex,
        b"ssh-rsa,rsa-sha2-512,ecdsa-sha2-nistp256,ssh-ed25519",
        b"chacha20-poly1305@openssh.com,aes128-ctr,aes256-gcm@openssh.com",
        b"chacha20-poly1305@openssh.com,aes128-ctr,aes256-gcm@openssh.com",
        b"hmac-sha2-256-etm@openssh.com,hmac-sha2-256",
        b"hmac-sha2-256-etm@openssh.com,hmac-sha2-256",
        b"none,zlib@openssh.com",
        b"none,zlib@openssh.com",
        b"",
        b"",
    ];
    for l in lists {
        ssh_string(&mut p, l);
    }
    p.push(0);
    u32be(&mut p, 0);
    ssh_packet(rng, &p)
}

/// SSH_MSG_KEX_ECDH_INIT (client) or _REPLY (server), curve25519 with an
/// RSA host key.
pub fn ssh_ecdh(rng: &mut Rng, server: bool) -> Vec<u8> {
    let mut p = Vec::with_capacity(200);
    if server {
        p.push(31);
        // An RSA host key and ssh-rsa signature: tshark 4.0 decodes only
        // RSA and DSA signatures and flags every ECDSA/ed25519 one, even
        // in real captures.
        let mut key = Vec::new();
        ssh_string(&mut key, b"ssh-rsa");
        ssh_string(&mut key, &[1, 0, 1]);
        let mut n = random_bytes(rng, 257);
        n[0] = 0;
        n[1] |= 0x80;
        ssh_string(&mut key, &n);
        ssh_string(&mut p, &key);
        ssh_string(&mut p, &random_bytes(rng, 32));
        let mut sig = Vec::new();
        ssh_string(&mut sig, b"ssh-rsa");
        let mut m = random_bytes(rng, 256);
        m[0] &= 0x7f;
        ssh_string(&mut sig, &m);
        ssh_string(&mut p, &sig);
    } else {
        p.push(30);
        ssh_string(&mut p, &random_bytes(rng, 32));
    }
    ssh_packet(rng, &p)
}

/// SSH_MSG_NEWKEYS.
pub fn ssh_newkeys(rng: &mut Rng) -> Vec<u8> {
    ssh_packet(rng, &[21])
}

/// Bytes on the wire of an encrypted chacha20-poly1305 packet carrying
/// about `payload` bytes: length, padded body, 16-byte tag.
pub fn ssh_encrypted_len(payload: u32) -> u32 {
    let body = (payload + 1 + 4).div_ceil(8) * 8;
    4 + body + 16
}

// ------------------------------------------------------------------ FTP

pub fn ftp_line(s: &str) -> Content {
    Content::bytes(format!("{s}\r\n").into_bytes())
}

// ------------------------------------------------------------------ SMB2

/// SMB2 commands used here.
pub mod smb2 {
    pub const NEGOTIATE: u16 = 0;
    pub const SESSION_SETUP: u16 = 1;
    pub const LOGOFF: u16 = 2;
    pub const TREE_CONNECT: u16 = 3;
    pub const TREE_DISCONNECT: u16 = 4;
    pub const CREATE: u16 = 5;
    pub const CLOSE: u16 = 6;
    pub const READ: u16 = 8;
    pub const WRITE: u16 = 9;
}

/// State of one SMB2 session (message ids, tree and file ids).
#[derive(Debug, Clone)]
pub struct Smb2 {
    msg_id: u64,
    pub session: u64,
    pub tree: u32,
    file: [u8; 16],
}

impl Smb2 {
    pub fn new(rng: &mut Rng) -> Smb2 {
        let mut file = [0u8; 16];
        rng.fill(&mut file);
        Smb2 {
            msg_id: 0,
            session: rng.u64() | 1,
            tree: 1 + rng.below(64) as u32,
            file,
        }
    }

    /// One request/response pair: NetBIOS header + SMB2 header + body
    /// (+ `data` fill bytes after it).
    fn pair(
        &mut self,
        cmd: u16,
        req: &[u8],
        req_data: u32,
        resp: &[u8],
        resp_data: u32,
    ) -> (Content, Content) {
        let id = self.msg_id;
        self.msg_id += 1;
        let (sess, tree) = match cmd {
            smb2::NEGOTIATE => (0, 0),
            smb2::SESSION_SETUP | smb2::LOGOFF | smb2::TREE_CONNECT => (self.session, 0),
            _ => (self.session, self.tree),
        };
        let q = self.message(cmd, false, id, sess, tree, req, req_data);
        let tree_r = if cmd == smb2::TREE_CONNECT {
            self.tree
        } else {
            tree
        };
        let r = self.message(cmd, true, id, sess, tree_r, resp, resp_data);
        (q, r)
    }

    #[allow(clippy::too_many_arguments)]
    fn message(
        &self,
        cmd: u16,
        response: bool,
        id: u64,
        sess: u64,
        tree: u32,
        body: &[u8],
        data: u32,
    ) -> Content {
        let mut v = Vec::with_capacity(68 + body.len());
        let len = 64 + body.len() as u32 + data;
        u32be(&mut v, len & 0x00ff_ffff);
        v.extend_from_slice(&[0xfe, b'S', b'M', b'B']);
        u16le(&mut v, 64);
        u16le(&mut v, 1);
        u32le(&mut v, 0);
        u16le(&mut v, cmd);
        u16le(&mut v, if response { 32 } else { 31 });
        u32le(&mut v, u32::from(response));
        u32le(&mut v, 0);
        u64le(&mut v, id);
        u32le(&mut v, 0xfeff);
        u32le(&mut v, tree);
        u64le(&mut v, sess);
        v.extend_from_slice(&[0; 16]);
        v.extend_from_slice(body);
        Content::bytes(v).then(Part::Fill(data))
    }

    pub fn negotiate(&mut self, rng: &mut Rng) -> (Content, Content) {
        let mut q = Vec::new();
        let dialects = [0x0202u16, 0x0210, 0x0300, 0x0302];
        u16le(&mut q, 36);
        u16le(&mut q, dialects.len() as u16);
        u16le(&mut q, 1);
        u16le(&mut q, 0);
        u32le(&mut q, 0x7f);
        q.extend(random_bytes(rng, 16));
        u64le(&mut q, 0);
        for d in dialects {
            u16le(&mut q, d);
        }
        let mut r = Vec::new();
        u16le(&mut r, 65);
        u16le(&mut r, 1);
        u16le(&mut r, 0x0302);
        u16le(&mut r, 0);
        r.extend(random_bytes(rng, 16));
        u32le(&mut r, 0x2f);
        u32le(&mut r, 8 << 20);
        u32le(&mut r, 8 << 20);
        u32le(&mut r, 8 << 20);
        u64le(&mut r, 0x01da_0000_0000_0000);
        u64le(&mut r, 0);
        u16le(&mut r, 0);
        u16le(&mut r, 0);
        u32le(&mut r, 0);
        self.pair(smb2::NEGOTIATE, &q, 0, &r, 0)
    }

    pub fn session_setup(&mut self) -> (Content, Content) {
        let mut q = Vec::new();
        u16le(&mut q, 25);
        q.push(0);
        q.push(1);
        u32le(&mut q, 1);
        u32le(&mut q, 0);
        u16le(&mut q, 0);
        u16le(&mut q, 0);
        u64le(&mut q, 0);
        let mut r = Vec::new();
        u16le(&mut r, 9);
        u16le(&mut r, 0);
        u16le(&mut r, 0);
        u16le(&mut r, 0);
        self.pair(smb2::SESSION_SETUP, &q, 0, &r, 0)
    }

    pub fn tree_connect(&mut self, path: &str) -> (Content, Content) {
        let name = utf16(path);
        let mut q = Vec::new();
        u16le(&mut q, 9);
        u16le(&mut q, 0);
        u16le(&mut q, 72);
        u16le(&mut q, name.len() as u16);
        q.extend(name);
        let mut r = Vec::new();
        u16le(&mut r, 16);
        r.push(1);
        r.push(0);
        u32le(&mut r, 0);
        u32le(&mut r, 0);
        u32le(&mut r, 0x001f_01ff);
        self.pair(smb2::TREE_CONNECT, &q, 0, &r, 0)
    }

    pub fn create(&mut self, file: &str, size: u64, write: bool) -> (Content, Content) {
        let name = utf16(file);
        let mut q = Vec::new();
        u16le(&mut q, 57);
        q.push(0);
        q.push(0);
        u32le(&mut q, 2);
        u64le(&mut q, 0);
        u64le(&mut q, 0);
        u32le(&mut q, if write { 0x0012_019f } else { 0x0012_0089 });
        u32le(&mut q, 0x80);
        u32le(&mut q, 1);
        u32le(&mut q, if write { 5 } else { 1 });
        u32le(&mut q, 0x40);
        u16le(&mut q, 120);
        u16le(&mut q, name.len() as u16);
        u32le(&mut q, 0);
        u32le(&mut q, 0);
        q.extend(name);
        let mut r = Vec::new();
        u16le(&mut r, 89);
        r.push(0);
        r.push(0);
        u32le(&mut r, if write { 2 } else { 1 });
        for _ in 0..4 {
            u64le(&mut r, 0x01da_0000_0000_0000);
        }
        u64le(&mut r, size.div_ceil(4096) * 4096);
        u64le(&mut r, size);
        u32le(&mut r, 0x80);
        u32le(&mut r, 0);
        r.extend_from_slice(&self.file);
        u32le(&mut r, 0);
        u32le(&mut r, 0);
        self.pair(smb2::CREATE, &q, 0, &r, 0)
    }

    pub fn read(&mut self, offset: u64, len: u32) -> (Content, Content) {
        let mut q = Vec::new();
        u16le(&mut q, 49);
        q.push(0x50);
        q.push(0);
        u32le(&mut q, len);
        u64le(&mut q, offset);
        q.extend_from_slice(&self.file);
        u32le(&mut q, 0);
        u32le(&mut q, 0);
        u32le(&mut q, 0);
        u16le(&mut q, 0);
        u16le(&mut q, 0);
        q.push(0);
        let mut r = Vec::new();
        u16le(&mut r, 17);
        r.push(80);
        r.push(0);
        u32le(&mut r, len);
        u32le(&mut r, 0);
        u32le(&mut r, 0);
        self.pair(smb2::READ, &q, 0, &r, len)
    }

    pub fn write(&mut self, offset: u64, len: u32) -> (Content, Content) {
        let mut q = Vec::new();
        u16le(&mut q, 49);
        u16le(&mut q, 112);
        u32le(&mut q, len);
        u64le(&mut q, offset);
        q.extend_from_slice(&self.file);
        u32le(&mut q, 0);
        u32le(&mut q, 0);
        u16le(&mut q, 0);
        u16le(&mut q, 0);
        u32le(&mut q, 0);
        let mut r = Vec::new();
        u16le(&mut r, 17);
        u16le(&mut r, 0);
        u32le(&mut r, len);
        u32le(&mut r, 0);
        u16le(&mut r, 0);
        u16le(&mut r, 0);
        self.pair(smb2::WRITE, &q, len, &r, 0)
    }

    pub fn close(&mut self) -> (Content, Content) {
        let mut q = Vec::new();
        u16le(&mut q, 24);
        u16le(&mut q, 0);
        u32le(&mut q, 0);
        q.extend_from_slice(&self.file);
        let mut r = Vec::new();
        u16le(&mut r, 60);
        u16le(&mut r, 0);
        u32le(&mut r, 0);
        r.extend_from_slice(&[0; 48]);
        u32le(&mut r, 0);
        self.pair(smb2::CLOSE, &q, 0, &r, 0)
    }

    pub fn tree_disconnect(&mut self) -> (Content, Content) {
        let b = [4, 0, 0, 0];
        self.pair(smb2::TREE_DISCONNECT, &b, 0, &b, 0)
    }

    pub fn logoff(&mut self) -> (Content, Content) {
        let b = [4, 0, 0, 0];
        self.pair(smb2::LOGOFF, &b, 0, &b, 0)
    }
}

fn utf16(s: &str) -> Vec<u8> {
    s.encode_utf16().flat_map(u16::to_le_bytes).collect()
}

// ------------------------------------------------------------------ DCE/RPC

/// A DCE/RPC bind to the endpoint mapper and its bind_ack.
pub fn dcerpc_bind(call_id: u32) -> (Content, Content) {
    // EPMv4 e1af8308-5d1f-11c9-91a4-08002b14a0fa v3.0, NDR 8a885d04-1ceb-11c9-9fe8-08002b104860 v2.
    let epm: [u8; 16] = [
        0x08, 0x83, 0xaf, 0xe1, 0x1f, 0x5d, 0xc9, 0x11, 0x91, 0xa4, 0x08, 0x00, 0x2b, 0x14, 0xa0,
        0xfa,
    ];
    let ndr: [u8; 16] = [
        0x04, 0x5d, 0x88, 0x8a, 0xeb, 0x1c, 0xc9, 0x11, 0x9f, 0xe8, 0x08, 0x00, 0x2b, 0x10, 0x48,
        0x60,
    ];
    let header = |v: &mut Vec<u8>, ptype: u8| {
        v.extend_from_slice(&[5, 0, ptype, 3, 0x10, 0, 0, 0, 0, 0, 0, 0]);
        u32le(v, call_id);
    };
    let mut q = Vec::new();
    header(&mut q, 11);
    u16le(&mut q, 5840);
    u16le(&mut q, 5840);
    u32le(&mut q, 0);
    q.extend_from_slice(&[1, 0, 0, 0]);
    u16le(&mut q, 0);
    q.extend_from_slice(&[1, 0]);
    q.extend_from_slice(&epm);
    u16le(&mut q, 3);
    u16le(&mut q, 0);
    q.extend_from_slice(&ndr);
    u32le(&mut q, 2);
    let n = q.len() as u16;
    q[8..10].copy_from_slice(&n.to_le_bytes());
    let mut r = Vec::new();
    header(&mut r, 12);
    u16le(&mut r, 5840);
    u16le(&mut r, 5840);
    u32le(&mut r, 0x0001_2345);
    u16le(&mut r, 4);
    r.extend_from_slice(b"135\0");
    r.extend_from_slice(&[0, 0]);
    r.extend_from_slice(&[1, 0, 0, 0]);
    u16le(&mut r, 0);
    u16le(&mut r, 0);
    r.extend_from_slice(&ndr);
    u32le(&mut r, 2);
    let n = r.len() as u16;
    r[8..10].copy_from_slice(&n.to_le_bytes());
    (Content::bytes(q), Content::bytes(r))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(c: &Content) -> Vec<u8> {
        let mut v = Vec::new();
        c.copy_into(0, c.len(), 7, &mut v);
        v
    }

    #[test]
    fn content_copies_any_window_of_its_parts() {
        let c = Content::bytes(b"head".to_vec())
            .then(Part::Fill(10))
            .then(Part::Bytes(b"tail".to_vec()));
        let whole = all(&c);
        assert_eq!(whole.len(), 18);
        assert_eq!(&whole[..4], b"head");
        assert_eq!(&whole[14..], b"tail");
        for off in 0..18 {
            for len in 0..=(18 - off) {
                let mut v = Vec::new();
                c.copy_into(off, len, 7, &mut v);
                assert_eq!(v, whole[off as usize..(off + len) as usize]);
            }
        }
    }

    #[test]
    fn tls_runs_are_records_of_at_most_16k() {
        let part = tls_data(40_000);
        let c = Content::new().then(part);
        let b = all(&c);
        let mut at = 0;
        let mut carried = 0;
        while at < b.len() {
            assert_eq!(&b[at..at + 3], &[0x17, 3, 3]);
            let n = u16::from_be_bytes([b[at + 3], b[at + 4]]) as usize;
            assert!(n <= 16_384 && n > 0);
            carried += n;
            at += 5 + n;
        }
        assert_eq!(at, b.len());
        assert_eq!(carried, 40_000);
    }

    #[test]
    fn dns_messages_have_consistent_counts_and_lengths() {
        let mut rng = Rng::stream(1, "dns");
        let q = dns_query(0x1234, "www.example.com", qtype::A);
        assert_eq!(q.len(), 12 + 17 + 4);
        let r = dns_response(&mut rng, 0x1234, "www.example.com", qtype::A, 120, 0);
        let answers = u16::from_be_bytes([r[6], r[7]]) as usize;
        assert_eq!(r.len(), q.len() + 16 * answers);
        assert!(answers >= 5);
        let t = dns_response(&mut rng, 1, "x.example", qtype::TXT, 0, 300);
        assert_eq!(u16::from_be_bytes([t[6], t[7]]), 1);
        let name = tunnel_name(&mut rng, "t.example", tunnel_capacity("t.example"));
        assert!(name.len() <= 253, "{}", name.len());
        assert!(name.split('.').all(|l| l.len() <= 63));
    }

    #[test]
    fn ssh_packets_are_block_aligned() {
        let mut rng = Rng::stream(1, "ssh");
        for p in [
            ssh_kexinit(&mut rng, true),
            ssh_ecdh(&mut rng, false),
            ssh_ecdh(&mut rng, true),
            ssh_newkeys(&mut rng),
        ] {
            let len = u32::from_be_bytes([p[0], p[1], p[2], p[3]]) as usize;
            assert_eq!(len + 4, p.len());
            assert_eq!(p.len() % 8, 0);
            assert!(p[4] >= 4);
        }
    }

    #[test]
    fn smb2_lengths_cover_header_body_and_data() {
        let mut rng = Rng::stream(1, "smb");
        let mut s = Smb2::new(&mut rng);
        let (q, r) = s.read(0, 65_536);
        let rb = all(&r);
        let nb = u32::from_be_bytes([0, rb[1], rb[2], rb[3]]) as usize;
        assert_eq!(nb + 4, rb.len());
        assert_eq!(&rb[4..8], &[0xfe, b'S', b'M', b'B']);
        let qb = all(&q);
        assert_eq!(
            u32::from_be_bytes([0, qb[1], qb[2], qb[3]]) as usize + 4,
            qb.len()
        );
        // Message ids advance.
        let (q2, _) = s.close();
        assert_eq!(all(&q2)[28], 1);
    }
}
