//! Configuration errors: one line naming the field, exit code 2; the config template parses.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Command;

fn run(args: &[&str], env: &[(&str, &str)]) -> (i32, String) {
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_surge-node"));
    cmd.args(args).arg("--datadir").arg(dir.path()).env_remove("RUST_LOG");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    (out.status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stderr).trim().to_string())
}

#[test]
fn invalid_configuration_is_one_line_naming_the_field_and_exit_code_2() {
    let a = "0x00000000000000000000000000000000000000aa";
    let b = "0x00000000000000000000000000000000000000bb";
    type Case<'a> = (&'a [&'a str], &'a [(&'a str, &'a str)], &'a str);
    let cases: [Case; 7] = [
        (&["--dev"], &[("L2_BRIDGE_ADDRESS", a), ("BRIDGE_L2_ADDRESS", b)], "BRIDGE_L2_ADDRESS"),
        (&["--dev"], &[("L1_BRIDGE_ADDRESS", "0xnope")], "L1_BRIDGE_ADDRESS"),
        (&["--dev"], &[("SURGE_BLOCK_TIME", "soon")], "SURGE_BLOCK_TIME"),
        (&["--dev", "--l2.bridge", a], &[], "l2_bridge"),
        (&["--dev", "--config", "/nonexistent/surge.toml"], &[], "--config"),
        (&["--dev", "--db.durable-every", "0"], &[], "--db.durable-every"),
        (&["--dev"], &[("SURGE_DB_DURABLE_EVERY", "0")], "SURGE_DB_DURABLE_EVERY"),
    ];
    for (args, env, field) in cases {
        let (code, stderr) = run(args, env);
        assert_eq!(code, 2, "{args:?} {env:?}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "one line: {stderr}");
        assert!(stderr.contains(field), "{field} named in: {stderr}");
    }
    // Running an L2 needs a fee recipient (dev mode has dev account 0).
    let genesis = concat!(env!("CARGO_MANIFEST_DIR"), "/../../etc/dev/l2-genesis.json");
    let chain = ["--chain", genesis, "--l1.rpc-url", "http://127.0.0.1:9"];
    for (env, field) in [(&[][..], "fee_recipient"), (&[("L2_SUGGESTED_FEE_RECIPIENT", "0xnope")][..], "L2_SUGGESTED")]
    {
        let (code, stderr) = run(&chain, env);
        assert_eq!(code, 2, "{stderr}");
        assert!(stderr.lines().count() == 1 && stderr.contains(field), "{field} named in: {stderr}");
    }
    let (code, stderr) = run(&["--dev", "--http.port", "seventy"], &[]);
    assert_eq!(code, 2, "{stderr}");
}

#[test]
fn the_config_template_parses() {
    // The log filter is checked after the file is read: reaching that error means the template parsed.
    let template = surge_test_utils::workspace_root().join("etc/surge-node.toml");
    let (code, stderr) = run(&["--dev", "--config", template.to_str().unwrap(), "--log", "=bad=filter="], &[]);
    assert_eq!(code, 2);
    assert!(stderr.contains("log"), "the template parsed and the log filter was checked next: {stderr}");
}

#[test]
fn the_readme_durability_flag_is_accepted() {
    // As in the README; the bad log filter stops the node right after the settings resolved.
    let (code, stderr) = run(&["--dev", "--db.durable-every", "1", "--log", "=bad=filter="], &[]);
    assert_eq!(code, 2);
    assert!(stderr.contains("log") && !stderr.contains("durable"), "the flag was accepted: {stderr}");
}
