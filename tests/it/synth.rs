//! `synth` end to end: generated captures are valid, deterministic, and
//! their ground truth labels every flow the extractor finds.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use maximus_sim::capture;
use maximus_sim::dataset::labels::{BENIGN, LabelSet, UNLABELLED};
use maximus_sim::flow::{FlowExtractor, FlowParams, FlowRecord, FlowStats, Profile};
use maximus_sim::synth::{self, Overrides, SynthSpec, Timeline};
use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::path::{Path, PathBuf};

const EVERY_KIND: &str = "tests/fixtures/synth/every-kind.toml";

fn spec(path: &str, ov: Overrides) -> SynthSpec {
    synth::load_spec(Path::new(path), ov).unwrap()
}

fn generate(spec: &SynthSpec, dir: &Path) -> (synth::OutputPaths, Timeline) {
    synth::generate(spec, dir, &mut |_t: i64, _n: u64| {}).unwrap()
}

/// Extract flows from a capture with `params`.
fn flows(capture: &Path, params: FlowParams) -> (Vec<FlowRecord>, FlowStats) {
    let mut x = FlowExtractor::with_params(params).unwrap();
    let mut rows = Vec::new();
    let outcome = capture::read_file(capture, |p| {
        x.push(p);
        x.take_ready(&mut rows);
    })
    .unwrap();
    assert!(outcome.error.is_none(), "{:?}", outcome.error);
    let st = &outcome.summary.stats;
    assert_eq!(
        st.decoded, st.records,
        "every generated frame decodes: {st:?}"
    );
    let stats = x.finish(&mut rows);
    assert!(stats.is_balanced());
    (rows, stats)
}

fn duration_col(profile: Profile) -> usize {
    profile
        .columns()
        .iter()
        .position(|c| c.trim() == "Flow Duration")
        .unwrap()
}

/// Label every flow; gives (label, technique, step) per flow and the set.
fn join(
    rows: &[FlowRecord],
    profile: Profile,
    labels: &Path,
) -> (Vec<(String, String, String)>, LabelSet) {
    let mut set = LabelSet::read(labels).unwrap();
    let d = duration_col(profile);
    let out = rows
        .iter()
        .map(|r| {
            let dur = r.number(d).unwrap() as i64;
            let l = set.label_flow(&r.key, r.start_us, r.start_us + dur);
            (l.label, l.technique, l.step)
        })
        .collect();
    (out, set)
}

#[test]
fn every_flow_gets_its_true_label_and_technique() {
    let s = spec(EVERY_KIND, Overrides::default());
    let dir = tempfile::tempdir().unwrap();
    let (paths, tl) = generate(&s, dir.path());
    let (rows, _) = flows(&paths.capture, FlowParams::new(Profile::Corrected));
    let (labels, set) = join(&rows, Profile::Corrected, &paths.labels);
    let st = set.stats();
    assert_eq!(st.unlabelled, 0, "flows without a label");
    assert_eq!(
        st.rows_unmatched,
        0,
        "label rows without a flow: {:?}",
        set.unmatched().take(5).collect::<Vec<_>>()
    );
    assert_eq!(
        rows.len() as u64,
        st.rows,
        "one flow per generated conversation"
    );

    // Every step shows up with its kind's label and technique, and its
    // flows run between its source (or spoofed sources) and its targets.
    let mut by_step: BTreeMap<String, (String, String)> = BTreeMap::new();
    for c in &tl.campaigns {
        for step in &c.steps {
            by_step.insert(
                step.id.clone(),
                (step.label.clone(), step.technique.clone()),
            );
            assert!(step.counts.flows > 0, "step {} generated nothing", step.id);
        }
    }
    let kinds: BTreeSet<&str> = tl
        .campaigns
        .iter()
        .flat_map(|c| c.steps.iter().map(|s| s.kind.as_str()))
        .collect();
    assert_eq!(
        kinds.len(),
        20,
        "the fixture covers every attack kind: {kinds:?}"
    );
    let mut seen = BTreeSet::new();
    for ((label, technique, step), r) in labels.iter().zip(&rows) {
        if label == BENIGN {
            assert!(technique.is_empty());
            continue;
        }
        let (want_label, want_tech) = &by_step[step];
        assert_eq!(
            (label, technique),
            (want_label, want_tech),
            "flow {:?}",
            r.key
        );
        let rec = tl.campaigns[0]
            .steps
            .iter()
            .find(|s| &s.id == step)
            .unwrap();
        let ends = [r.key.a, r.key.b];
        let source = rec.source.ip;
        let targets: BTreeSet<IpAddr> = rec.targets.iter().map(|h| h.ip).collect();
        let touches_target = ends.iter().any(|ip| targets.contains(ip));
        if rec.kind == "syn_flood" {
            assert!(touches_target, "{step}: {:?}", r.key);
        } else {
            assert!(
                ends.contains(&source) && touches_target,
                "{step}: {:?} not between {source} and {targets:?}",
                r.key
            );
        }
        seen.insert(step.clone());
    }
    assert_eq!(seen.len(), by_step.len(), "every step has labelled flows");
    // Benign apps all ran.
    assert!(
        tl.benign.iter().all(|b| b.counts.flows > 0),
        "{:?}",
        tl.benign
    );
}

#[test]
fn flows_split_by_timeouts_are_labelled_in_every_part() {
    let s = spec(EVERY_KIND, Overrides::default());
    let dir = tempfile::tempdir().unwrap();
    let (paths, _) = generate(&s, dir.path());
    // Slowloris and interactive SSH idle for seconds: a 1 s idle timeout
    // cuts them into several flows each.
    let params = FlowParams::new(Profile::Corrected)
        .with_timeouts(1.0, 5.0)
        .unwrap();
    let (rows, stats) = flows(&paths.capture, params);
    let (labels, set) = join(&rows, Profile::Corrected, &paths.labels);
    let st = set.stats();
    assert!(
        rows.len() as u64 > st.rows + 50,
        "timeouts split flows: {} rows, {} conversations",
        rows.len(),
        st.rows
    );
    assert!(stats.closed_by_idle + stats.closed_by_active_timeout > 50);
    assert_eq!(st.unlabelled, 0);
    assert_eq!(st.rows_unmatched, 0);
    assert!(labels.iter().all(|l| l.0 != UNLABELLED));
    let slow: usize = labels.iter().filter(|l| l.0 == "DoS Slowloris").count();
    assert!(slow > 5, "slowloris connections are cut into parts: {slow}");
}

#[test]
fn compat_profiles_label_every_written_flow() {
    let s = spec(EVERY_KIND, Overrides::default());
    let dir = tempfile::tempdir().unwrap();
    let (paths, _) = generate(&s, dir.path());
    for profile in [Profile::Cic2017, Profile::Engelen] {
        let (rows, stats) = flows(&paths.capture, FlowParams::new(profile));
        let (_, set) = join(&rows, profile, &paths.labels);
        let st = set.stats();
        assert_eq!(st.unlabelled, 0, "{profile}");
        // A TCP/UDP conversation goes unmatched only when all of it went
        // into one-packet flows the profile does not write (a FIN probe and
        // its RST, a lone SYN); ICMP ones also when V3 merges every ICMP
        // exchange of two hosts into one protocol-0 flow.
        let lonely: Vec<_> = set.unmatched().filter(|(r, _)| r.protocol != 1).collect();
        assert!(
            lonely.len() as u64 <= stats.single_packet_flows_not_written,
            "{profile}: {st:?} {stats:?}"
        );
        assert!(
            lonely.iter().all(|(r, _)| r.packets <= 2),
            "{profile}: {:?}",
            lonely.iter().find(|(r, _)| r.packets > 2)
        );
        if profile == Profile::Engelen {
            assert_eq!(
                st.rows_unmatched,
                lonely.len() as u64,
                "engelen keeps ICMP apart"
            );
        }
    }
}

#[test]
fn same_seed_gives_the_same_bytes_another_seed_other_bytes() {
    let read = |p: &PathBuf| std::fs::read(p).unwrap();
    let s = spec(EVERY_KIND, Overrides::default());
    let (a, b, c) = (
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
    );
    let (pa, _) = generate(&s, a.path());
    let (pb, _) = generate(&s, b.path());
    for (x, y) in [
        (&pa.capture, &pb.capture),
        (&pa.labels, &pb.labels),
        (&pa.timeline, &pb.timeline),
    ] {
        assert!(read(x) == read(y), "{} differs between runs", x.display());
    }
    let other = spec(
        EVERY_KIND,
        Overrides {
            seed: Some(12),
            ..Overrides::default()
        },
    );
    let (pc, _) = generate(&other, c.path());
    assert!(read(&pa.capture) != read(&pc.capture));
    assert!(read(&pa.labels) != read(&pc.labels));
}

#[test]
fn scale_multiplies_the_traffic() {
    let one = spec(EVERY_KIND, Overrides::default());
    let three = spec(
        EVERY_KIND,
        Overrides {
            scale: Some(3),
            ..Overrides::default()
        },
    );
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (_, t1) = generate(&one, a.path());
    let (_, t3) = generate(&three, b.path());
    let ratio = t3.total.flows as f64 / t1.total.flows as f64;
    assert!((2.2..4.0).contains(&ratio), "flows x{ratio}");
    let ratio = t3.total.packets as f64 / t1.total.packets as f64;
    assert!((2.0..4.0).contains(&ratio), "packets x{ratio}");
}

/// Legacy pcap records of our own writer: (frame) per record.
fn frames(path: &Path) -> Vec<Vec<u8>> {
    let b = std::fs::read(path).unwrap();
    assert_eq!(&b[..4], &0xa1b2_c3d4u32.to_le_bytes());
    let mut at = 24;
    let mut out = Vec::new();
    while at < b.len() {
        let cap = u32::from_le_bytes(b[at + 8..at + 12].try_into().unwrap()) as usize;
        out.push(b[at + 16..at + 16 + cap].to_vec());
        at += 16 + cap;
    }
    out
}

#[test]
fn every_checksum_is_valid_and_time_never_goes_back() {
    use etherparse::{NetSlice, SlicedPacket, TransportSlice};
    let s = spec(EVERY_KIND, Overrides::default());
    let dir = tempfile::tempdir().unwrap();
    let (paths, tl) = generate(&s, dir.path());
    let all = frames(&paths.capture);
    assert_eq!(all.len() as u64, tl.total.packets);
    let (mut tcp, mut udp, mut icmp) = (0, 0, 0);
    for f in &all {
        let p = SlicedPacket::from_ethernet(f).unwrap();
        let Some(NetSlice::Ipv4(ip)) = &p.net else {
            panic!("not IPv4")
        };
        let h = ip.header().to_header();
        assert_eq!(h.header_checksum, h.calc_header_checksum());
        assert!(h.time_to_live > 0);
        match &p.transport {
            Some(TransportSlice::Tcp(t)) => {
                tcp += 1;
                assert_eq!(
                    t.checksum(),
                    t.to_header().calc_checksum_ipv4(&h, t.payload()).unwrap()
                );
            }
            Some(TransportSlice::Udp(u)) => {
                udp += 1;
                assert_eq!(
                    u.checksum(),
                    u.to_header().calc_checksum_ipv4(&h, u.payload()).unwrap()
                );
            }
            Some(TransportSlice::Icmpv4(i)) => {
                icmp += 1;
                assert_eq!(
                    i.checksum(),
                    i.header().icmp_type.calc_checksum(i.payload())
                );
            }
            other => panic!("unexpected transport {other:?}"),
        }
    }
    assert!(tcp > 1000 && udp > 100 && icmp > 10, "{tcp} {udp} {icmp}");
    // Timestamps are non-decreasing.
    let b = std::fs::read(&paths.capture).unwrap();
    let mut at = 24;
    let mut last = 0u64;
    while at < b.len() {
        let sec = u64::from(u32::from_le_bytes(b[at..at + 4].try_into().unwrap()));
        let us = u64::from(u32::from_le_bytes(b[at + 4..at + 8].try_into().unwrap()));
        let t = sec * 1_000_000 + us;
        assert!(t >= last);
        last = t;
        at += 16 + u32::from_le_bytes(b[at + 8..at + 12].try_into().unwrap()) as usize;
    }
}

#[test]
fn tshark_decodes_it_without_malformed_packets_or_tcp_anomalies() {
    if std::process::Command::new("tshark")
        .arg("--version")
        .output()
        .is_err()
    {
        eprintln!("skipping: tshark is not installed (.ci/run installs it)");
        return;
    }
    let s = spec(EVERY_KIND, Overrides::default());
    let dir = tempfile::tempdir().unwrap();
    let (paths, _) = generate(&s, dir.path());
    let tshark = |args: &[&str]| {
        let out = std::process::Command::new("tshark")
            .args(["-n", "-r"])
            .arg(&paths.capture)
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let text = tshark(&["-q", "-z", "expert,warn"]);
    assert!(!text.contains("Errors ("), "tshark found errors:\n{text}");
    assert!(!text.contains("Malformed"), "{text}");
    // Warnings: resets (scans, brute force) and the slow-read attack's full
    // window are what the traffic is; anything else (dissector complaints,
    // lost segments, ACKs of unseen data) is a bug.
    for l in text
        .lines()
        .map(str::trim)
        .filter(|l| l.chars().next().is_some_and(|c| c.is_ascii_digit()))
    {
        assert!(
            l.ends_with("Connection reset (RST)")
                || l.ends_with("TCP window specified by the receiver is now completely full"),
            "unexpected tshark warning: {l}\n{text}"
        );
    }
    assert!(
        text.contains("Connection reset (RST)"),
        "the scans' resets are seen:\n{text}"
    );
    // No TCP analysis flag but the full window and SYN retransmissions (SYN
    // flood, connect-scan retries): sequence numbers, ACKs and windows agree.
    let bad = tshark(&[
        "-Y",
        "_ws.malformed || _ws.expert.severity == error || (tcp.analysis.flags && !tcp.analysis.window_full && !(tcp.analysis.retransmission && tcp.flags.syn == 1))",
        "-T",
        "fields",
        "-e",
        "frame.number",
    ]);
    assert!(
        bad.trim().is_empty(),
        "frames tshark flags: {}",
        bad.lines().take(20).collect::<Vec<_>>().join(" ")
    );
}

#[test]
fn committed_quickstart_dataset_matches_its_spec() {
    let base = Path::new("datasets/quickstart");
    let s = spec("datasets/quickstart/spec.toml", Overrides::default());
    let dir = tempfile::tempdir().unwrap();
    let (paths, _) = generate(&s, dir.path());
    let files = [
        (&paths.capture, "traffic.pcap"),
        (&paths.labels, "labels.csv"),
        (&paths.timeline, "timeline.json"),
    ];
    if std::env::var_os("MAXIMUS_UPDATE_FIXTURES").is_some() {
        for (p, name) in files {
            std::fs::copy(p, base.join(name)).unwrap();
        }
    }
    for (p, name) in files {
        let want = std::fs::read(base.join(name)).unwrap_or_default();
        assert!(
            std::fs::read(p).unwrap() == want,
            "datasets/quickstart/{name} is not what spec.toml generates: MAXIMUS_UPDATE_FIXTURES=1 cargo test --test it synth:: rewrites it"
        );
    }
    let total: u64 = files
        .iter()
        .map(|(_, n)| std::fs::metadata(base.join(n)).unwrap().len())
        .sum();
    assert!(
        total < 900_000,
        "the committed quick-start data stays small: {total} bytes"
    );
}

#[test]
fn every_bundled_spec_validates_and_train_test_differ_only_where_they_should() {
    let mut specs = BTreeMap::new();
    for e in std::fs::read_dir("datasets").unwrap() {
        let p = e.unwrap().path().join("spec.toml");
        if p.is_file() {
            let s = synth::load_spec(&p, Overrides::default()).unwrap_or_else(|e| panic!("{e}"));
            specs.insert(
                p.parent()
                    .unwrap()
                    .file_name()
                    .unwrap()
                    .to_string_lossy()
                    .into_owned(),
                s,
            );
        }
    }
    for name in ["quickstart", "train", "test", "bench"] {
        assert!(specs.contains_key(name), "datasets/{name}/spec.toml");
    }
    let (train, test) = (&specs["train"], &specs["test"]);
    let kinds = |s: &SynthSpec| {
        s.campaigns
            .iter()
            .flat_map(|c| c.steps.iter().map(|s| s.kind))
            .map(|k| k.name())
            .collect::<BTreeSet<_>>()
    };
    assert_eq!(kinds(train), kinds(test), "same attack kinds");
    assert!(kinds(train).len() >= 10);
    assert_ne!(train.seed, test.seed);
    let ips = |s: &SynthSpec| s.hosts.iter().map(|h| h.ip).collect::<BTreeSet<_>>();
    assert!(ips(train).is_disjoint(&ips(test)), "no host is in both");
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(96))]

    /// A damaged spec (cut, or a byte changed) is a spec or a list of
    /// issues with a place in the file, never a panic.
    #[test]
    fn damaged_specs_never_panic(cut in 0usize..7000, at in 0usize..7000, byte in 0u8..128) {
        let text = std::fs::read_to_string("datasets/quickstart/spec.toml").unwrap();
        let mut b = text.into_bytes();
        let at = at % b.len();
        b[at] = byte;
        b.truncate(cut.min(b.len()));
        if let Ok(t) = String::from_utf8(b) {
            match synth::spec::parse("x.toml", &t, Overrides::default()) {
                Ok(_) => {}
                Err(issues) => {
                    proptest::prop_assert!(!issues.is_empty());
                    let lines = t.lines().count().max(1);
                    for i in &issues {
                        proptest::prop_assert!(i.line <= lines + 1, "{i:?}");
                    }
                }
            }
        }
    }

    /// Any bytes given as labels.csv or a flow table give a value or an error.
    #[test]
    fn arbitrary_tables_never_panic(data in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..600)) {
        let _ = LabelSet::from_reader(&data[..], "x.csv");
        let _ = maximus_sim::dataset::table::read_csv_from(&data[..], "x.csv", maximus_sim::dataset::table::NonFinite::Clip);
    }
}
