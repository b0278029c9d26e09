//! Synthetic labelled traffic: a traffic spec in, a real capture with its
//! ground truth out.
//!
//! Takes a validated [`SynthSpec`] (hosts, benign background, attack
//! campaigns; see [`spec`]); gives, in one streaming pass:
//! - the capture (legacy pcap or pcapng, Ethernet, µs timestamps) of every
//!   conversation, packets in time order, TCP handshakes, sequence numbers,
//!   checksums and application payloads that real tools accept;
//! - `labels.csv` ([`crate::dataset::labels`]): one row per conversation
//!   (plus one per ICMP-error exchange a scan provoked), with label,
//!   ATT&CK technique, campaign and step;
//! - `timeline.json` ([`Timeline`], `schema_version` 1): campaigns and steps
//!   with their real start/end on the capture clock, attacker and victims,
//!   and the flow/packet/byte counts per label.
//!
//! Determinism: one seed, split into named streams ([`rng`]); one thread;
//! ties in time broken by creation order. Same spec and seed give the same
//! bytes on any machine. Memory follows the conversations open at one time,
//! not the output size.

pub mod conv;
pub mod dist;
pub mod proto;
pub use crate::rng;
pub mod source;
pub mod spec;
pub mod wire;
pub mod world;

pub use spec::{CaptureFormat, Overrides, SpecIssue, SynthSpec};

use crate::capture::writer::{PcapNgWriter, PcapWriter};
use crate::dataset::labels::{BENIGN, Label, LabelRow, LabelWriter};
use conv::{Conv, PktKind};
use rng::Rng;
use serde::Serialize;
use source::{Plan, Source, Spawned};
use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap};
use std::fs::File;
use std::io::{BufWriter, Write};
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use world::World;

/// Errors of the generator.
#[derive(Debug, thiserror::Error)]
pub enum SynthError {
    #[error("{}", crate::config::format_issues(.path, "traffic spec", .issues))]
    Spec {
        path: String,
        issues: Vec<SpecIssue>,
    },
    #[error("cannot read {path}: {source}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot write {path}: {source} (check the output folder and free space)")]
    Write {
        path: String,
        #[source]
        source: std::io::Error,
    },
}

impl SynthError {
    /// True for a missing or unreadable spec file.
    pub fn is_missing_input(&self) -> bool {
        matches!(self, SynthError::Read { .. })
    }
}

/// Read and validate a spec file.
pub fn load_spec(path: &Path, ov: Overrides) -> Result<SynthSpec, SynthError> {
    let text = std::fs::read_to_string(path).map_err(|e| SynthError::Read {
        path: path.display().to_string(),
        source: e,
    })?;
    let name = path.display().to_string();
    spec::parse(&name, &text, ov).map_err(|issues| SynthError::Spec { path: name, issues })
}

/// Counts of one label (or one source).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    pub flows: u64,
    pub packets: u64,
    pub bytes: u64,
}

/// A host as `timeline.json` names it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HostRef {
    pub name: String,
    pub ip: IpAddr,
}

/// One attack step as it happened.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StepRecord {
    pub id: String,
    pub kind: String,
    pub label: String,
    pub technique: String,
    /// Planned start, µs since the epoch.
    pub planned_start_us: i64,
    /// First and last packet (absent when it sent nothing in the capture).
    pub start_us: Option<i64>,
    pub end_us: Option<i64>,
    pub source: HostRef,
    /// At most 1000 targets; `targets_total` counts all.
    pub targets: Vec<HostRef>,
    pub targets_total: usize,
    #[serde(flatten)]
    pub counts: Counts,
}

/// One campaign as it happened.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CampaignRecord {
    pub name: String,
    pub attacker: HostRef,
    pub steps: Vec<StepRecord>,
}

/// One benign source as it happened.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BenignRecord {
    pub app: String,
    #[serde(flatten)]
    pub counts: Counts,
}

/// `timeline.json`: what was generated, when, by whom, against whom.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Timeline {
    pub schema_version: u32,
    pub spec: String,
    pub seed: u64,
    pub scale: u32,
    pub format: &'static str,
    /// Capture window, µs since the epoch, and its start as RFC 3339.
    pub capture_start_us: i64,
    pub capture_end_us: i64,
    pub capture_start: String,
    /// First and last packet written.
    pub first_packet_us: Option<i64>,
    pub last_packet_us: Option<i64>,
    #[serde(flatten)]
    pub total: Counts,
    pub campaigns: Vec<CampaignRecord>,
    pub benign: Vec<BenignRecord>,
    pub labels: BTreeMap<String, Counts>,
}

/// Called every 65 536 packets with the capture time reached (µs) and the
/// packets written.
pub trait Progress {
    fn update(&mut self, t_us: i64, packets: u64);
}

impl<F: FnMut(i64, u64)> Progress for F {
    fn update(&mut self, t_us: i64, packets: u64) {
        self(t_us, packets)
    }
}

/// The capture writer of either format.
enum CapWriter<W: Write> {
    Pcap(PcapWriter<W>),
    PcapNg(PcapNgWriter<W>),
}

impl<W: Write> CapWriter<W> {
    fn new(out: W, format: CaptureFormat, snaplen: u32) -> std::io::Result<CapWriter<W>> {
        Ok(match format {
            CaptureFormat::Pcap => CapWriter::Pcap(PcapWriter::new(out, 1, snaplen, false)?),
            CaptureFormat::PcapNg => {
                let mut w = PcapNgWriter::new(out)?;
                w.add_interface(1, snaplen, 6)?;
                CapWriter::PcapNg(w)
            }
        })
    }

    fn write(&mut self, t_us: i64, frame: &[u8], snaplen: u32) -> std::io::Result<()> {
        let wire = frame.len() as u32;
        let cut = &frame[..frame.len().min(snaplen as usize)];
        match self {
            CapWriter::Pcap(w) => w.write_packet(t_us * 1000, cut, wire),
            CapWriter::PcapNg(w) => w.write_packet(0, t_us * 1000, cut, wire),
        }
    }

    fn finish(self) -> std::io::Result<W> {
        match self {
            CapWriter::Pcap(w) => w.finish(),
            CapWriter::PcapNg(w) => w.finish(),
        }
    }
}

/// A conversation being written, with its label row so far.
struct Live {
    conv: Conv,
    meta: u32,
    row: LabelRow,
}

/// Heap entries: sources have the top bit set, conversations are slots.
const SOURCE_BIT: u32 = 1 << 31;

/// Paths of the files [`generate`] writes into a folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutputPaths {
    pub capture: PathBuf,
    pub labels: PathBuf,
    pub timeline: PathBuf,
}

impl OutputPaths {
    pub fn in_dir(dir: &Path, format: CaptureFormat) -> OutputPaths {
        OutputPaths {
            capture: dir.join(match format {
                CaptureFormat::Pcap => "traffic.pcap",
                CaptureFormat::PcapNg => "traffic.pcapng",
            }),
            labels: dir.join("labels.csv"),
            timeline: dir.join("timeline.json"),
        }
    }
}

/// Generate into `dir`: `traffic.pcap[ng]`, `labels.csv`, `timeline.json`.
/// Files are written under temporary names and renamed when complete.
pub fn generate(
    spec: &SynthSpec,
    dir: &Path,
    progress: &mut dyn Progress,
) -> Result<(OutputPaths, Timeline), SynthError> {
    let paths = OutputPaths::in_dir(dir, spec.format);
    let werr = |p: &Path| {
        let p = p.display().to_string();
        move |e: std::io::Error| SynthError::Write {
            path: p.clone(),
            source: e,
        }
    };
    std::fs::create_dir_all(dir).map_err(werr(dir))?;
    let tmp = |p: &Path| {
        let mut n = p.file_name().unwrap_or_default().to_os_string();
        n.push(".partial");
        p.with_file_name(n)
    };
    let (cap_tmp, lab_tmp) = (tmp(&paths.capture), tmp(&paths.labels));
    let cap = File::create(&cap_tmp).map_err(werr(&cap_tmp))?;
    let lab = File::create(&lab_tmp).map_err(werr(&lab_tmp))?;
    let result = generate_to(
        spec,
        BufWriter::with_capacity(1 << 20, cap),
        BufWriter::with_capacity(1 << 16, lab),
        progress,
    );
    let timeline = match result {
        Ok((c, l, t)) => {
            // Flushed, not synced: the rename makes the file appear whole,
            // and forcing it to disk would bound generation by the disk.
            c.into_inner()
                .map_err(|e| e.into_error())
                .map_err(werr(&cap_tmp))?;
            l.into_inner()
                .map_err(|e| e.into_error())
                .map_err(werr(&lab_tmp))?;
            t
        }
        Err(e) => {
            let _ = std::fs::remove_file(&cap_tmp);
            let _ = std::fs::remove_file(&lab_tmp);
            let which = if e.0 { &paths.capture } else { &paths.labels };
            return Err(SynthError::Write {
                path: which.display().to_string(),
                source: e.1,
            });
        }
    };
    crate::outfile::publish(&cap_tmp, &paths.capture).map_err(werr(&paths.capture))?;
    crate::outfile::publish(&lab_tmp, &paths.labels).map_err(werr(&paths.labels))?;
    let json = serde_json::to_string_pretty(&timeline).map_err(|e| SynthError::Write {
        path: paths.timeline.display().to_string(),
        source: std::io::Error::other(e),
    })?;
    std::fs::write(&paths.timeline, json + "\n").map_err(werr(&paths.timeline))?;
    Ok((paths, timeline))
}

/// A write error: (true when it was the capture, the error).
pub type SinkError = (bool, std::io::Error);

/// Generate into two writers (capture, labels); gives them back flushed,
/// with the timeline.
#[allow(clippy::too_many_lines)]
pub fn generate_to<C: Write, L: Write>(
    spec: &SynthSpec,
    capture: C,
    labels: L,
    progress: &mut dyn Progress,
) -> Result<(C, L, Timeline), SinkError> {
    let cap_err = |e| (true, e);
    let lab_err = |e| (false, e);
    let t0 = spec.start_us;
    let end = spec.end_us();
    let mut world = World::new(spec, &mut Rng::stream(spec.seed, "world"));
    let mut cap = CapWriter::new(capture, spec.format, spec.snaplen).map_err(cap_err)?;
    let mut lw = LabelWriter::new(labels).map_err(lab_err)?;

    // Labels and sources: benign sources first, then campaign steps.
    let mut metas: Vec<Label> = Vec::new();
    let mut counts: Vec<Counts> = Vec::new();
    let mut spans: Vec<(Option<i64>, Option<i64>)> = Vec::new();
    let mut sources: Vec<Source> = Vec::new();
    for (i, b) in spec.benign.iter().enumerate() {
        metas.push(Label {
            label: BENIGN.into(),
            technique: String::new(),
            campaign: String::new(),
            step: b.app.name().into(),
        });
        let rng = Rng::stream(spec.seed, &format!("benign/{i}"));
        sources.push(Source::new(
            Plan::Benign(b.clone()),
            (metas.len() - 1) as u32,
            rng,
            t0,
            end,
        ));
    }
    for (ci, c) in spec.campaigns.iter().enumerate() {
        for (si, s) in c.steps.iter().enumerate() {
            metas.push(Label {
                label: s.label.clone(),
                technique: s.technique.clone(),
                campaign: c.name.clone(),
                step: s.id.clone(),
            });
            let rng = Rng::stream(spec.seed, &format!("campaign/{ci}/step/{si}"));
            sources.push(Source::new(
                Plan::Step(s.clone()),
                (metas.len() - 1) as u32,
                rng,
                t0,
                end,
            ));
        }
    }
    counts.resize(metas.len(), Counts::default());
    spans.resize(metas.len(), (None, None));

    let mut heap: BinaryHeap<Reverse<(i64, u64, u32)>> = BinaryHeap::new();
    let mut order = 0u64;
    for (i, s) in sources.iter().enumerate() {
        if let Some(t) = s.next_time() {
            heap.push(Reverse((t, order, i as u32 | SOURCE_BIT)));
            order += 1;
        }
    }
    let mut slots: Vec<Option<Live>> = Vec::new();
    let mut free: Vec<u32> = Vec::new();
    let mut spawned: Vec<Spawned> = Vec::new();
    let mut next_flow_id = 0u64;
    // ICMP errors a scan provoked: one label row per (from, to) pair.
    let mut icmp_errors: BTreeMap<(IpAddr, IpAddr), (LabelRow, u32)> = BTreeMap::new();
    let (mut scratch, mut frame) = (Vec::with_capacity(2048), Vec::with_capacity(2048));
    let mut total = Counts::default();
    let (mut first_pkt, mut last_pkt) = (None::<i64>, None::<i64>);

    let finish_row = |live: Live,
                      lw: &mut LabelWriter<L>,
                      counts: &mut [Counts],
                      spans: &mut [(Option<i64>, Option<i64>)],
                      total: &mut Counts|
     -> std::io::Result<()> {
        if live.row.packets == 0 {
            return Ok(());
        }
        let m = live.meta as usize;
        counts[m].flows += 1;
        total.flows += 1;
        let sp = &mut spans[m];
        sp.0 = Some(sp.0.map_or(live.row.start_us, |s| s.min(live.row.start_us)));
        sp.1 = Some(sp.1.map_or(live.row.end_us, |e| e.max(live.row.end_us)));
        lw.write(&live.row, &metas[m])
    };

    while let Some(Reverse((t, _, who))) = heap.pop() {
        if t >= end {
            // Nothing at or after the end of the capture is written; open
            // conversations are cut as a capture would cut them.
            continue;
        }
        if who & SOURCE_BIT != 0 {
            let si = (who & !SOURCE_BIT) as usize;
            sources[si].spawn(&mut world, &mut spawned);
            for sp in spawned.drain(..) {
                let mut conv = sp.conv;
                let Some(first) = conv.next_time() else {
                    continue;
                };
                let row = LabelRow {
                    flow_id: next_flow_id,
                    protocol: conv.proto,
                    src: IpAddr::V4(conv.c.ep.ip),
                    src_port: if conv.proto == conv::ICMP {
                        0
                    } else {
                        conv.c.port
                    },
                    dst: IpAddr::V4(conv.s.ep.ip),
                    dst_port: if conv.proto == conv::ICMP {
                        0
                    } else {
                        conv.s.port
                    },
                    start_us: first,
                    end_us: first,
                    packets: 0,
                    bytes: 0,
                };
                next_flow_id += 1;
                let live = Live {
                    conv,
                    meta: sp.meta,
                    row,
                };
                let slot = match free.pop() {
                    Some(s) => {
                        slots[s as usize] = Some(live);
                        s
                    }
                    None => {
                        slots.push(Some(live));
                        (slots.len() - 1) as u32
                    }
                };
                heap.push(Reverse((first, order, slot)));
                order += 1;
            }
            if let Some(nt) = sources[si].next_time() {
                heap.push(Reverse((nt, order, who)));
                order += 1;
            }
            continue;
        }
        // A conversation: write its packets up to the next event of anyone else.
        let slot = who as usize;
        let Some(mut live) = slots[slot].take() else {
            continue;
        };
        let limit = heap.peek().map_or(i64::MAX, |Reverse((t, _, _))| *t);
        let mut next = Some(t);
        while let Some(nt) = next {
            if nt > limit || nt >= end {
                break;
            }
            let Some(p) = live.conv.pop() else { break };
            live.conv.render(&p, &mut scratch, &mut frame);
            if !frame.is_empty() {
                cap.write(p.t, &frame, spec.snaplen).map_err(cap_err)?;
                let bytes = frame.len() as u64;
                total.packets += 1;
                total.bytes += bytes;
                first_pkt.get_or_insert(p.t);
                last_pkt = Some(p.t);
                let m = live.meta as usize;
                counts[m].packets += 1;
                counts[m].bytes += bytes;
                if let PktKind::Unreachable { .. } = p.kind {
                    let (from, to) = if p.from_c {
                        (&live.conv.c, &live.conv.s)
                    } else {
                        (&live.conv.s, &live.conv.c)
                    };
                    let key = (IpAddr::V4(from.ep.ip), IpAddr::V4(to.ep.ip));
                    let e = icmp_errors.entry(key).or_insert_with(|| {
                        let row = LabelRow {
                            flow_id: next_flow_id,
                            protocol: conv::ICMP,
                            src: key.0,
                            src_port: 0,
                            dst: key.1,
                            dst_port: 0,
                            start_us: p.t,
                            end_us: p.t,
                            packets: 0,
                            bytes: 0,
                        };
                        next_flow_id += 1;
                        (row, live.meta)
                    });
                    e.0.end_us = p.t;
                    e.0.packets += 1;
                    e.0.bytes += bytes;
                } else {
                    live.row.end_us = p.t;
                    live.row.packets += 1;
                    live.row.bytes += bytes;
                }
                if total.packets.is_multiple_of(65_536) {
                    progress.update(p.t, total.packets);
                }
            }
            next = live.conv.next_time();
        }
        match next {
            Some(nt) if nt < end => {
                slots[slot] = Some(live);
                heap.push(Reverse((nt, order, slot as u32)));
                order += 1;
            }
            _ => {
                free.push(slot as u32);
                finish_row(live, &mut lw, &mut counts, &mut spans, &mut total).map_err(lab_err)?;
            }
        }
    }
    // Conversations cut by the end of the capture, in slot order.
    for live in slots.into_iter().flatten() {
        finish_row(live, &mut lw, &mut counts, &mut spans, &mut total).map_err(lab_err)?;
    }
    let mut errs: Vec<(LabelRow, u32)> = icmp_errors.into_values().collect();
    errs.sort_by_key(|(r, _)| r.flow_id);
    for (row, meta) in errs {
        let live_counts = &mut counts[meta as usize];
        live_counts.flows += 1;
        total.flows += 1;
        let sp = &mut spans[meta as usize];
        sp.0 = Some(sp.0.map_or(row.start_us, |s| s.min(row.start_us)));
        sp.1 = Some(sp.1.map_or(row.end_us, |e| e.max(row.end_us)));
        lw.write(&row, &metas[meta as usize]).map_err(lab_err)?;
    }
    progress.update(last_pkt.unwrap_or(t0), total.packets);
    let capture = cap.finish().map_err(cap_err)?;
    let labels = lw.finish().map_err(lab_err)?;

    // The timeline.
    let href = |h: usize| HostRef {
        name: spec.hosts[h].name.clone(),
        ip: IpAddr::V4(spec.hosts[h].ip),
    };
    let nb = spec.benign.len();
    let mut by_label: BTreeMap<String, Counts> = BTreeMap::new();
    for (m, c) in metas.iter().zip(&counts) {
        let e = by_label.entry(m.label.clone()).or_default();
        e.flows += c.flows;
        e.packets += c.packets;
        e.bytes += c.bytes;
    }
    let mut mi = nb;
    let campaigns = spec
        .campaigns
        .iter()
        .map(|c| CampaignRecord {
            name: c.name.clone(),
            attacker: href(c.attacker),
            steps: c
                .steps
                .iter()
                .map(|s| {
                    let (start_us, end_us) = spans[mi];
                    let r = StepRecord {
                        id: s.id.clone(),
                        kind: s.kind.name().into(),
                        label: s.label.clone(),
                        technique: s.technique.clone(),
                        planned_start_us: t0 + s.start_us,
                        start_us,
                        end_us,
                        source: href(s.from),
                        targets: s.targets.iter().take(1000).map(|&h| href(h)).collect(),
                        targets_total: s.targets.len(),
                        counts: counts[mi],
                    };
                    mi += 1;
                    r
                })
                .collect(),
        })
        .collect();
    let timeline = Timeline {
        schema_version: 1,
        spec: spec.path.clone(),
        seed: spec.seed,
        scale: spec.scale,
        format: match spec.format {
            CaptureFormat::Pcap => "pcap",
            CaptureFormat::PcapNg => "pcapng",
        },
        capture_start_us: t0,
        capture_end_us: end,
        capture_start: humantime::format_rfc3339_micros(
            std::time::UNIX_EPOCH + std::time::Duration::from_micros(t0.max(0) as u64),
        )
        .to_string(),
        first_packet_us: first_pkt,
        last_packet_us: last_pkt,
        total,
        campaigns,
        benign: spec
            .benign
            .iter()
            .zip(&counts)
            .map(|(b, c)| BenignRecord {
                app: b.app.name().into(),
                counts: *c,
            })
            .collect(),
        labels: by_label,
    };
    Ok((capture, labels, timeline))
}
