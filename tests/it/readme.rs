//! The README's quick-start commands stay true: the first runs the binary's
//! main job on bundled data, the second is the test command `.ci/run` uses.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common;

fn quick_start() -> Vec<String> {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let block = readme.split("## Quick start").nth(1).unwrap();
    let code = block
        .split("```sh")
        .nth(1)
        .unwrap()
        .split("```")
        .next()
        .unwrap();
    code.lines()
        .map(|l| l.split('#').next().unwrap().trim().to_string())
        .filter(|l| !l.is_empty())
        .collect()
}

#[test]
fn quick_start_has_two_commands_and_the_first_works() {
    let cmds = quick_start();
    assert_eq!(cmds.len(), 2, "{cmds:?}");
    let args: Vec<&str> = cmds[0]
        .strip_prefix("cargo run --release -- ")
        .expect("cargo run --release -- ...")
        .split_whitespace()
        .collect();
    // Same arguments, but the output goes to a temporary folder.
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let mut fixed = Vec::new();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        fixed.push(a.to_string());
        if *a == "-o" {
            it.next().unwrap();
            fixed.push(out.display().to_string());
        }
    }
    common::bin()
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(&fixed)
        .assert()
        .success();
    let text = std::fs::read_to_string(&out).unwrap();
    assert!(text.lines().count() > 5, "too few flow rows:\n{text}");
}

#[test]
fn second_command_is_what_ci_runs() {
    let cmds = quick_start();
    let ci = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/.ci/run")).unwrap();
    assert!(
        ci.lines().any(|l| l.trim() == cmds[1]),
        "`{}` not in .ci/run",
        cmds[1]
    );
}
