//! `tickwarp passwd` end to end: a password piped in comes out as an argon2id PHC string
//! that verifies against it (and not against another), an empty one is refused, and a
//! topology with a plaintext `password` is refused naming `tickwarp passwd`.

use std::io::Write;
use std::process::{Command, Output, Stdio};

use anyhow::{Context, Result, ensure};
use tickwarp_gateway::service::acceptor::{check_phc, verify_password};

fn passwd(input: &[u8]) -> Result<Output> {
    let mut child = Command::new(env!("CARGO_BIN_EXE_tickwarp"))
        .arg("passwd")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    child.stdin.take().context("stdin")?.write_all(input)?;
    Ok(child.wait_with_output()?)
}

#[test]
fn a_piped_password_round_trips_through_its_hash() -> Result<()> {
    let out = passwd(b"s3cret horse\n")?;
    ensure!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout)?;
    let phc = stdout.trim_end();
    ensure!(stdout.lines().count() == 1, "{stdout:?}");
    check_phc(phc)?;
    ensure!(phc.starts_with("$argon2id$"), "{phc}");
    ensure!(
        verify_password(phc, b"s3cret horse"),
        "the hash does not verify"
    );
    ensure!(
        !verify_password(phc, b"s3cret horse\n"),
        "the newline was hashed"
    );
    ensure!(
        !verify_password(phc, b"s3cret hors"),
        "another password verifies"
    );
    // A fresh salt each time.
    let again = String::from_utf8(passwd(b"s3cret horse\n")?.stdout)?;
    ensure!(
        again.trim_end() != phc,
        "two hashes of one password are equal"
    );
    Ok(())
}

#[test]
fn an_empty_password_is_refused() -> Result<()> {
    let out = passwd(b"\n")?;
    ensure!(!out.status.success());
    ensure!(out.stdout.is_empty());
    let err = String::from_utf8_lossy(&out.stderr);
    ensure!(err.contains("empty password"), "{err}");
    Ok(())
}

#[test]
fn a_topology_with_a_plaintext_password_is_refused() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let demo = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/demo.toml"),
    )?;
    let text = format!(
        "{}\n[[node.gateway.fix_session]]\nsender_comp_id = \"C1\"\ntarget_comp_id = \"TW\"\n\
         account = 101\npassword = \"secret\"\n",
        demo.replace(
            "[node.gateway]\n",
            "[node.gateway]\nfix_listen = \"127.0.0.1:0\"\n"
        )
    );
    let path = dir.path().join("t.toml");
    std::fs::write(&path, text)?;
    let out = Command::new(env!("CARGO_BIN_EXE_tickwarp"))
        .args(["run", "--check", "--config"])
        .arg(&path)
        .output()?;
    ensure!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    ensure!(
        err.contains("fix_session[0].password") && err.contains("tickwarp passwd"),
        "{err}"
    );
    Ok(())
}
