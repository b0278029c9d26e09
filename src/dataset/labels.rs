//! Ground-truth labels: the `labels.csv` format, its writer and reader, and
//! the join that gives every extracted flow its true label.
//!
//! Takes label rows (one per generated conversation, written by `synth`) and
//! flow rows (from [`crate::flow`]); gives each flow the label of the
//! conversation it was cut from. The format, one header line then one row
//! per conversation, in the order conversations ended:
//!
//! | column | meaning |
//! |---|---|
//! | `flow_id` | the conversation's number, in start order |
//! | `protocol` | IP protocol number (6 TCP, 17 UDP, 1 ICMP) |
//! | `src_ip`, `src_port` | the initiator (ports are 0 for ICMP) |
//! | `dst_ip`, `dst_port` | the responder |
//! | `start_us`, `end_us` | first and last packet, µs since the epoch |
//! | `packets`, `bytes` | frames and their bytes on the wire |
//! | `label` | `BENIGN` or the attack class |
//! | `technique` | MITRE ATT&CK technique id (empty for benign) |
//! | `campaign`, `step` | campaign name and step id; for benign rows the campaign is empty and the step is the application |
//!
//! The join: a flow gets the label of a row with the same bidirectional
//! 5-tuple whose `[start_us, end_us]` holds the flow's first packet; when
//! several do (a 5-tuple reused), the one overlapping the flow most, then
//! the lowest `flow_id`. A conversation the extractor cut into several
//! flows (timeouts) labels every part. Flows with no such row and rows no
//! flow matched are counted ([`JoinStats`]), never hidden.

use super::DatasetError;
use crate::flow::FlowKey;
use crate::flow::key::{FlowMap, flow_map};
use std::collections::BTreeMap;
use std::io::{BufRead, Write};
use std::net::IpAddr;
use std::path::Path;

/// The header line of `labels.csv`.
pub const HEADER: &str = "flow_id,protocol,src_ip,src_port,dst_ip,dst_port,start_us,end_us,packets,bytes,label,technique,campaign,step";

/// The label of benign traffic.
pub const BENIGN: &str = "BENIGN";

/// What a flow is, by ground truth.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Label {
    pub label: String,
    pub technique: String,
    pub campaign: String,
    pub step: String,
}

/// One conversation of `labels.csv`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LabelRow {
    pub flow_id: u64,
    pub protocol: u8,
    pub src: IpAddr,
    pub src_port: u16,
    pub dst: IpAddr,
    pub dst_port: u16,
    pub start_us: i64,
    pub end_us: i64,
    pub packets: u64,
    pub bytes: u64,
}

/// Writes `labels.csv`.
#[derive(Debug)]
pub struct LabelWriter<W: Write> {
    out: W,
    line: String,
    rows: u64,
}

impl<W: Write> LabelWriter<W> {
    pub fn new(mut out: W) -> std::io::Result<LabelWriter<W>> {
        out.write_all(HEADER.as_bytes())?;
        out.write_all(b"\n")?;
        Ok(LabelWriter {
            out,
            line: String::with_capacity(256),
            rows: 0,
        })
    }

    pub fn write(&mut self, r: &LabelRow, l: &Label) -> std::io::Result<()> {
        use std::fmt::Write as _;
        self.line.clear();
        let _ = write!(
            self.line,
            "{},{},{},{},{},{},{},{},{},{},",
            r.flow_id,
            r.protocol,
            r.src,
            r.src_port,
            r.dst,
            r.dst_port,
            r.start_us,
            r.end_us,
            r.packets,
            r.bytes
        );
        for (i, f) in [&l.label, &l.technique, &l.campaign, &l.step]
            .into_iter()
            .enumerate()
        {
            if i > 0 {
                self.line.push(',');
            }
            crate::flow::csv::push_text(f, &mut self.line);
        }
        self.line.push('\n');
        self.rows += 1;
        self.out.write_all(self.line.as_bytes())
    }

    pub fn rows(&self) -> u64 {
        self.rows
    }

    pub fn finish(mut self) -> std::io::Result<W> {
        self.out.flush()?;
        Ok(self.out)
    }
}

/// Result of labelling flows.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct JoinStats {
    /// Label rows read.
    pub rows: u64,
    /// Flows that got a label.
    pub labelled: u64,
    /// Flows with no label row (their label cell says `UNLABELLED`).
    pub unlabelled: u64,
    /// Label rows no flow matched (conversations the extractor did not
    /// write, e.g. one-packet flows in the compat profiles, or merged into
    /// another flow by a reused 5-tuple).
    pub rows_unmatched: u64,
    /// Labelled flows per label.
    pub per_label: BTreeMap<String, u64>,
}

/// The label of a flow nothing matched.
pub const UNLABELLED: &str = "UNLABELLED";

/// All rows of a `labels.csv`, indexed by bidirectional 5-tuple.
#[derive(Debug)]
pub struct LabelSet {
    rows: Vec<(LabelRow, u32)>,
    labels: Vec<Label>,
    index: FlowMap<Vec<u32>>,
    matched: Vec<bool>,
    stats: JoinStats,
}

fn canon(protocol: u8, a: IpAddr, ap: u16, b: IpAddr, bp: u16) -> FlowKey {
    FlowKey::canonical(a, b, ap, bp, protocol)
}

impl LabelSet {
    /// Read `labels.csv`.
    pub fn read(path: &Path) -> Result<LabelSet, DatasetError> {
        let f = std::fs::File::open(path).map_err(|e| DatasetError::Open {
            path: path.display().to_string(),
            source: e,
        })?;
        LabelSet::from_reader(std::io::BufReader::new(f), &path.display().to_string())
    }

    /// Parse label rows from `r`; `name` is used in messages.
    pub fn from_reader(r: impl BufRead, name: &str) -> Result<LabelSet, DatasetError> {
        let mut set = LabelSet {
            rows: Vec::new(),
            labels: Vec::new(),
            index: flow_map(),
            matched: Vec::new(),
            stats: JoinStats::default(),
        };
        let mut interned: BTreeMap<Label, u32> = BTreeMap::new();
        let bad = |line: usize, msg: String| DatasetError::Labels {
            path: name.to_string(),
            line,
            message: msg,
        };
        for (i, line) in r.lines().enumerate() {
            let line = line.map_err(|e| DatasetError::Read {
                path: name.to_string(),
                source: e,
            })?;
            let line = line.trim_end_matches('\r');
            if i == 0 {
                if line != HEADER {
                    return Err(bad(1, format!("expected the header `{HEADER}`")));
                }
                continue;
            }
            if line.is_empty() {
                continue;
            }
            let f = crate::flow::csv::split_line(line);
            if f.len() != 14 {
                return Err(bad(i + 1, format!("{} fields, expected 14", f.len())));
            }
            let num = |k: usize| -> Result<i64, DatasetError> {
                f[k].parse::<i64>().map_err(|_| {
                    bad(
                        i + 1,
                        format!(
                            "column `{}`: `{}` is not an integer",
                            HEADER.split(',').nth(k).unwrap_or("?"),
                            f[k]
                        ),
                    )
                })
            };
            let ip = |k: usize| -> Result<IpAddr, DatasetError> {
                f[k].parse::<IpAddr>().map_err(|_| {
                    bad(
                        i + 1,
                        format!(
                            "column `{}`: `{}` is not an IP address",
                            HEADER.split(',').nth(k).unwrap_or("?"),
                            f[k]
                        ),
                    )
                })
            };
            let in_range = |k: usize, max: i64| -> Result<i64, DatasetError> {
                let v = num(k)?;
                if (0..=max).contains(&v) {
                    Ok(v)
                } else {
                    Err(bad(
                        i + 1,
                        format!(
                            "column `{}`: {v} is out of range",
                            HEADER.split(',').nth(k).unwrap_or("?")
                        ),
                    ))
                }
            };
            let row = LabelRow {
                flow_id: in_range(0, i64::MAX)? as u64,
                protocol: in_range(1, 255)? as u8,
                src: ip(2)?,
                src_port: in_range(3, 65_535)? as u16,
                dst: ip(4)?,
                dst_port: in_range(5, 65_535)? as u16,
                start_us: num(6)?,
                end_us: num(7)?,
                packets: in_range(8, i64::MAX)? as u64,
                bytes: in_range(9, i64::MAX)? as u64,
            };
            if row.end_us < row.start_us {
                return Err(bad(i + 1, "end_us is before start_us".into()));
            }
            let label = Label {
                label: f[10].clone(),
                technique: f[11].clone(),
                campaign: f[12].clone(),
                step: f[13].clone(),
            };
            let next = interned.len() as u32;
            let li = *interned.entry(label.clone()).or_insert_with(|| {
                set.labels.push(label);
                next
            });
            let key = canon(row.protocol, row.src, row.src_port, row.dst, row.dst_port);
            set.index
                .entry(key)
                .or_default()
                .push(set.rows.len() as u32);
            set.rows.push((row, li));
        }
        set.matched = vec![false; set.rows.len()];
        set.stats.rows = set.rows.len() as u64;
        Ok(set)
    }

    /// The label of the flow with this key whose first packet is at
    /// `start_us` and last at `end_us`; marks the row matched.
    pub fn lookup(&mut self, key: &FlowKey, start_us: i64, end_us: i64) -> Option<&Label> {
        let mut k = canon(key.protocol, key.a, key.a_port, key.b, key.b_port);
        // The V3 profiles write protocol 0 for anything but TCP and UDP.
        if k.protocol == 0 {
            k.protocol = 1;
        }
        let cands = self.index.get(&k)?;
        let mut best: Option<(i64, u64, u32)> = None;
        for &i in cands {
            let (r, _) = &self.rows[i as usize];
            if r.start_us <= start_us && start_us <= r.end_us {
                let overlap = r.end_us.min(end_us) - start_us;
                let better = match best {
                    None => true,
                    Some((o, id, _)) => overlap > o || (overlap == o && r.flow_id < id),
                };
                if better {
                    best = Some((overlap, r.flow_id, i));
                }
            }
        }
        let (_, _, i) = best?;
        self.matched[i as usize] = true;
        Some(&self.labels[self.rows[i as usize].1 as usize])
    }

    /// Label one flow and count it.
    pub fn label_flow(&mut self, key: &FlowKey, start_us: i64, end_us: i64) -> Label {
        match self.lookup(key, start_us, end_us).cloned() {
            Some(l) => {
                self.stats.labelled += 1;
                *self.stats.per_label.entry(l.label.clone()).or_insert(0) += 1;
                l
            }
            None => {
                self.stats.unlabelled += 1;
                Label {
                    label: UNLABELLED.into(),
                    technique: String::new(),
                    campaign: String::new(),
                    step: String::new(),
                }
            }
        }
    }

    /// The join's counters, with the rows no flow matched.
    pub fn stats(&self) -> JoinStats {
        let mut s = self.stats.clone();
        s.rows_unmatched = self.matched.iter().filter(|m| !**m).count() as u64;
        s
    }

    /// The rows no flow matched, in file order.
    pub fn unmatched(&self) -> impl Iterator<Item = (&LabelRow, &Label)> {
        self.rows
            .iter()
            .zip(&self.matched)
            .filter(|(_, m)| !**m)
            .map(|((r, l), _)| (r, &self.labels[*l as usize]))
    }

    pub fn len(&self) -> usize {
        self.rows.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(id: u64, sport: u16, start: i64, end: i64) -> LabelRow {
        LabelRow {
            flow_id: id,
            protocol: 6,
            src: "10.0.0.1".parse().unwrap(),
            src_port: sport,
            dst: "10.0.0.2".parse().unwrap(),
            dst_port: 80,
            start_us: start,
            end_us: end,
            packets: 3,
            bytes: 180,
        }
    }

    fn lab(s: &str) -> Label {
        Label {
            label: s.into(),
            technique: if s == BENIGN {
                String::new()
            } else {
                "T1046".into()
            },
            campaign: "c,1".into(),
            step: "s\"q".into(),
        }
    }

    fn set(rows: &[(LabelRow, Label)]) -> LabelSet {
        let mut w = LabelWriter::new(Vec::new()).unwrap();
        for (r, l) in rows {
            w.write(r, l).unwrap();
        }
        let bytes = w.finish().unwrap();
        LabelSet::from_reader(&bytes[..], "t.csv").unwrap()
    }

    #[test]
    fn rows_round_trip_and_join_both_directions() {
        let mut s = set(&[
            (row(1, 5000, 100, 200), lab("PortScan")),
            (row(2, 5001, 100, 200), lab(BENIGN)),
        ]);
        assert_eq!(s.len(), 2);
        // The reverse direction finds the same row; quoting survived.
        let k = FlowKey::canonical(
            "10.0.0.2".parse().unwrap(),
            "10.0.0.1".parse().unwrap(),
            80,
            5000,
            6,
        );
        let l = s.label_flow(&k, 150, 200);
        assert_eq!(l, lab("PortScan"));
        let st = s.stats();
        assert_eq!((st.labelled, st.unlabelled, st.rows_unmatched), (1, 0, 1));
        assert_eq!(s.unmatched().next().unwrap().0.flow_id, 2);
    }

    #[test]
    fn reused_tuples_pick_the_row_holding_the_flow_start() {
        let mut s = set(&[
            (row(1, 5000, 100, 200), lab("A")),
            (row(2, 5000, 300, 400), lab("B")),
        ]);
        let k = FlowKey::canonical(
            "10.0.0.1".parse().unwrap(),
            "10.0.0.2".parse().unwrap(),
            5000,
            80,
            6,
        );
        assert_eq!(s.label_flow(&k, 300, 350).label, "B");
        assert_eq!(s.label_flow(&k, 100, 100).label, "A");
        assert_eq!(s.label_flow(&k, 250, 260).label, UNLABELLED);
        let st = s.stats();
        assert_eq!((st.labelled, st.unlabelled, st.rows_unmatched), (2, 1, 0));
    }

    #[test]
    fn bad_files_name_the_line_and_column() {
        let text = format!(
            "{HEADER}\n1,6,10.0.0.1,1,10.0.0.2,2,5,9,1,1,A,,,\n2,6,10.0.0.x,1,10.0.0.2,2,5,9,1,1,A,,,\n"
        );
        let e = LabelSet::from_reader(text.as_bytes(), "l.csv")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("l.csv") && e.contains("line 3") && e.contains("src_ip"),
            "{e}"
        );
        let e = LabelSet::from_reader("a,b\n".as_bytes(), "l.csv")
            .unwrap_err()
            .to_string();
        assert!(e.contains("header"), "{e}");
    }
}
