//! `solum-e2e-bench [--out DIR]`: where the seconds of an app VM's first boot go (bench/e2e.sh).
//!
//! Builds `app-vm`, boots it in qemu (TCG, 2 vCPUs, 2 GiB) with the metadata Heat derives from
//! heat/app-vm.yaml (the world of the app-VM test), and prints, from qemu's start: the login
//! prompt, the agent's registration, the first deployment signalled, the first app healthy, all
//! apps healthy, the wait condition; after a power cut: the apps healthy again. Then the
//! image's size, the VM's memory in use with both apps running, the agent's RSS, and the
//! alternative to preloading the stack images: `docker load` of both at first boot, timed in a
//! second VM. The journal of each boot (monotonic timestamps) is kept in DIR.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::json;
use solum_tests::appvm::{self, received_at, wait_answers, wait_until, World};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let out = match args.as_slice() {
        [] => None,
        [flag, dir] if flag == "--out" => Some(PathBuf::from(dir)),
        _ => {
            eprintln!("usage: solum-e2e-bench [--out DIR]");
            std::process::exit(2);
        }
    };
    let tmp = tempfile::Builder::new()
        .prefix("solum-e2e-bench-")
        .tempdir_in("/var/tmp")
        .expect("temp dir");
    let work = tmp.path();
    let relay = std::env::current_exe()
        .expect("own path")
        .with_file_name("solum-relay");
    let solum_image = appvm::current_binaries();
    let (image, built) = appvm::build_image(&solum_image, work, appvm::APP_VM);
    eprintln!("app-vm built in {built:.0} s");
    let mut world = World::prepare(work, &image, &relay, appvm::APP_VM, &solum_image);
    let long = Duration::from_secs(900);

    let mut vm = world.boot(1);
    let login = vm.wait_console("login:", 0, long);
    // Both apps probed in one loop; the Heat-side events timed by when the fixture got them.
    let healthy = wait_answers(
        &[
            (&world.api_url(), "from dockerfile-web"),
            (&world.web_url(), "web v1"),
        ],
        long,
        &mut vm,
    );
    let (api, web) = (healthy[0], healthy[1]);
    wait_until("the wait condition", long, &vm, || {
        !world.wait_signals().is_empty()
    });
    let first = |reqs: Vec<solum_tests::fixture::Request>| {
        reqs.iter()
            .map(|r| received_at(r, &vm))
            .fold(f64::INFINITY, f64::min)
    };
    let registered = first(world.registrations());
    let first_signal = first(world.signals());
    let wait = first(world.wait_signals());
    let used_mb: f64 = world
        .ssh("free -m | awk '/^Mem:/ {print $3}'")
        .trim()
        .parse()
        .unwrap_or(f64::NAN);
    let agent_rss_kb: f64 = world
        .ssh("ps -o rss= -C solum-agent | head -1")
        .trim()
        .parse()
        .unwrap_or(f64::NAN);
    let journal1 = world.ssh("sudo journalctl -b -o short-monotonic --no-pager -u solum-agent-init -u docker -u containerd -u solum-agent");
    let blame1 = world.ssh(
        "systemd-analyze critical-chain solum-agent.service; systemd-analyze blame | head -15",
    );

    vm.kill();
    let mut vm2 = world.boot(2);
    let login2 = vm2.wait_console("login:", 0, long);
    let back = wait_answers(
        &[
            (&world.api_url(), "from dockerfile-web"),
            (&world.web_url(), "web v1"),
        ],
        long,
        &mut vm2,
    );
    let (api2, web2) = (back[0], back[1]);
    let journal2 = world.ssh(
        "sudo journalctl -b -o short-monotonic --no-pager -u docker -u containerd -u solum-agent",
    );
    drop(vm2);

    // The alternative: the stack images loaded at first boot (a VM without metadata).
    let load = first_boot_load(&mut world, work, &image);

    let image_mib = std::fs::metadata(&image).map(|m| m.len()).unwrap_or(0) as f64 / 1048576.0;
    let first_app = api.min(web);
    let all_apps = api.max(web);
    let back = api2.max(web2);
    let report = json!({
        "login_prompt_s": login, "registered_s": registered,
        "first_deployment_signalled_s": first_signal, "first_app_healthy_s": first_app,
        "all_apps_healthy_s": all_apps, "wait_condition_s": wait,
        "reboot_login_prompt_s": login2, "reboot_apps_healthy_s": back,
        "image_qcow2_mib": image_mib, "vm_memory_used_mib": used_mb,
        "agent_rss_mib": agent_rss_kb / 1024.0,
        "stacks_docker_load_at_first_boot_s": load,
    });
    println!("| from qemu start (TCG, 2 vCPUs) | seconds |");
    println!("|---|---|");
    for (what, v) in [
        ("login prompt", login),
        ("agent registered", registered),
        ("first deployment signalled", first_signal),
        ("first app healthy", first_app),
        ("all apps healthy", all_apps),
        ("wait condition SUCCESS", wait),
        ("after a power cut: login prompt", login2),
        ("after a power cut: apps healthy", back),
        (
            "stack images by `docker load` at first boot (the alternative)",
            load,
        ),
    ] {
        println!("| {what} | {v:.1} |");
    }
    println!(
        "\nimage {image_mib:.0} MiB (qcow2), VM memory in use {used_mb:.0} MiB, agent RSS {:.1} MiB",
        agent_rss_kb / 1024.0
    );
    println!("{report}");
    if let Some(dir) = out {
        std::fs::create_dir_all(&dir).expect("--out dir");
        for (name, text) in [
            ("journal-boot1.txt", journal1),
            ("critical-chain-boot1.txt", blame1),
            ("journal-boot2.txt", journal2),
            ("report.json", report.to_string()),
        ] {
            std::fs::write(dir.join(name), text).expect("writing the report");
        }
        for n in 1..=3 {
            let _ = std::fs::copy(
                work.join(format!("console-{n}.log")),
                dir.join(format!("console-{n}.log")),
            );
        }
    }
}

/// Boots a fresh copy of the image without metadata, removes the preloaded stack images and
/// times `docker load` of both (saved in the VM first): what importing at first boot costs.
fn first_boot_load(world: &mut World, work: &Path, image: &Path) -> f64 {
    let disk = work.join("load.qcow2");
    solum_tests::vm::overlay(image, &disk, "8G");
    let keep = (world.spec.disk.clone(), world.spec.config_drive.clone());
    world.spec.disk = disk;
    // Keys still come from the config drive; the agent finds no deployments to run.
    world.publish(Vec::new());
    let mut vm = world.boot(3);
    vm.wait_console("login:", 0, Duration::from_secs(600));
    wait_until("ssh", Duration::from_secs(300), &vm, || {
        solum_tests::vm::ssh(world.ssh_port, &world.key, "debian", "true")
            .status
            .success()
    });
    let images = "solum/stack-build:bookworm solum/stack-run:bookworm";
    world.ssh(&format!(
        "sudo systemctl stop solum-agent && sudo docker save -o /var/tmp/stacks.tar {images} && (sudo docker rm -f $(sudo docker ps -aq) >/dev/null 2>&1; true) && sudo docker rmi {images} >/dev/null && sync"
    ));
    let secs: f64 = world
        .ssh("s=$(date +%s.%N); sudo docker load -q -i /var/tmp/stacks.tar >/dev/null && sync; e=$(date +%s.%N); awk \"BEGIN {print $e - $s}\"")
        .trim()
        .parse()
        .unwrap_or(f64::NAN);
    drop(vm);
    world.spec.disk = keep.0;
    world.spec.config_drive = keep.1;
    secs
}
