//! Embeds the git revision in the binary (`apigw-operator --version`), from
//! APIGW_GIT_REVISION (set by the container build, which has no .git) or git.

use std::process::Command;

fn main() {
    println!("cargo:rerun-if-env-changed=APIGW_GIT_REVISION");
    println!("cargo:rerun-if-changed=.git/HEAD");
    println!("cargo:rerun-if-changed=.git/refs/heads");
    let revision = std::env::var("APIGW_GIT_REVISION")
        .ok()
        .filter(|r| !r.is_empty())
        .or_else(|| {
            let out = Command::new("git")
                .args(["rev-parse", "--short=12", "HEAD"])
                .output()
                .ok()?;
            out.status
                .success()
                .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
        })
        .unwrap_or_else(|| "unknown".to_string());
    println!("cargo:rustc-env=APIGW_GIT_REVISION={revision}");
}
