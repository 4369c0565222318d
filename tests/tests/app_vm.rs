//! The app VM end to end: `solum-image build app-vm`, booted in qemu (TCG) with nothing but what
//! Nova and Heat give a server of heat/app-vm.yaml (a config drive with `meta_data.json` and
//! Heat's SOFTWARE_CONFIG user_data; the POLL_TEMP_URL metadata, TEMP_URL_SIGNAL signals, the
//! wait condition handle and the registrar played by the fixture at http://169.254.169.254),
//! the agent running with its shipped defaults. Nothing else is reachable from the guest.
//!
//! One VM lives through the whole story, as an operator's would:
//! 1. first boot, power cut while the first app builds;
//! 2. second boot: registration with the server's uuid, the script deployment (a file under
//!    /etc and an output), the Dockerfile app and the buildpack app answering through forwarded
//!    ports, each deployment signalled once with status 0, then the wait condition SUCCESS;
//!    ssh as `debian` with the key pair Heat named, the hostname from the metadata, the root
//!    file system grown;
//! 3. an UPDATE of the buildpack app (new source) served with no failed request while it
//!    switches, signalled once;
//! 4. a power cut and a third boot: both apps answer again without a rebuild, nothing applied
//!    or signalled again;
//! 5. no secret (TempURL signatures, tokens) on the consoles or in the agent's journal; the
//!    agent's warnings (the deployment the power cut interrupted) found by `journalctl -p
//!    warning`, without escape codes.
//!
//! The CoreOS-like variant (`coreos-app-vm`, heat/coreos-app-vm.yaml) boots once with its
//! Ignition config as user_data (Heat adds the metadata to it as files): the same deployments,
//! signals and wait condition, and Ignition's own work (its user and key). Both stories run
//! at once (one test binary, two threads), each with its own VM.

use std::path::Path;
use std::time::{Duration, Instant};

use solum_tests::appvm::{
    self, wait_answer, wait_until, Variant, World, APP_VM, COREOS_APP_VM, DEPLOYMENTS, WAIT_TOKEN,
};
use solum_tests::{http_get, require_docker, require_program, require_root};

const RELAY: &str = env!("CARGO_BIN_EXE_solum-relay");

/// Fails (never skips) without the tools; builds the variant's image and prepares its world
/// in a fresh directory under /var/tmp.
/// `n` requests to the buildpack app: the instances (container host names) that answered and the
/// last visit count (`web v1: hello from Heat (visit 7 on 3f2a...)`).
fn visits(url: &str, n: usize) -> (std::collections::BTreeSet<String>, u64) {
    let mut hosts = std::collections::BTreeSet::new();
    let mut last = 0;
    for _ in 0..n {
        let r = http_get(url, Duration::from_secs(10)).expect("the web app answers");
        assert_eq!(r.status, 200, "{}", r.body);
        let Some(rest) = r.body.split("(visit ").nth(1) else {
            panic!("no visit count: the app has no REDIS_URL: {}", r.body)
        };
        let mut words = rest.trim_end().trim_end_matches(')').split(" on ");
        let count: u64 = words.next().and_then(|c| c.parse().ok()).expect("a count");
        assert!(count > last, "the count went from {last} to {count}");
        last = count;
        hosts.insert(words.next().unwrap_or("").to_string());
    }
    (hosts, last)
}

fn setup(variant: Variant) -> (tempfile::TempDir, World) {
    require_root();
    require_docker();
    for p in [
        "qemu-system-x86_64",
        "qemu-img",
        "genisoimage",
        "ssh",
        "ssh-keygen",
        "tar",
    ] {
        require_program(p);
    }
    let tmp = tempfile::Builder::new()
        .prefix(&format!("solum-{}-", variant.element))
        .tempdir_in("/var/tmp")
        .unwrap();
    let solum_image = appvm::current_binaries();
    let (image, built) = appvm::build_image(&solum_image, tmp.path(), variant);
    eprintln!("{} built in {built:.0} s", variant.element);
    let world = World::prepare(tmp.path(), &image, Path::new(RELAY), variant, &solum_image);
    (tmp, world)
}

#[test]
fn app_vm_from_heat_metadata_end_to_end() {
    let t0 = Instant::now();
    let (tmp, mut world) = setup(APP_VM);
    let work = tmp.path();

    // 1. First boot; the power is cut while the first app builds.
    let mut vm1 = world.boot(1);
    // (Polled here rather than with wait_until: on a timeout, the agent's and Docker's journal
    // from inside the VM say why, which the console does not.)
    while world.file_fetches().is_empty() {
        if vm1.started.elapsed() > Duration::from_secs(300) {
            let journal = solum_tests::vm::ssh(
                world.ssh_port,
                &world.key,
                "debian",
                "sudo journalctl --no-pager -o short-monotonic -u solum-agent -u docker | tail -80",
            );
            panic!(
                "the first source fetch did not happen within 300 s; the VM's journal:\n{}{}",
                String::from_utf8_lossy(&journal.stdout),
                String::from_utf8_lossy(&journal.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let fetched = vm1.started.elapsed().as_secs_f64();
    eprintln!("boot 1: first source fetched at {fetched:.0} s; cutting the power");
    std::thread::sleep(Duration::from_secs(3));
    vm1.kill();
    assert!(
        world.signals().is_empty(),
        "nothing was signalled before the power cut"
    );

    // 2. Second boot: everything completes.
    let mut vm2 = world.boot(2);
    let registered = wait_until("registration", Duration::from_secs(240), &vm2, || {
        world.registrations().len() >= 2
    });
    let reg = world.registrations().pop().unwrap();
    assert_eq!(reg.json()["instance_uuid"], world.stack.server_id);
    let api_up = wait_answer(
        &world.api_url(),
        "from dockerfile-web",
        Duration::from_secs(600),
        &mut vm2,
    );
    let web_up = wait_answer(
        &world.web_url(),
        "web v1: hello from Heat",
        Duration::from_secs(600),
        &mut vm2,
    );
    let waited = wait_until("the wait condition", Duration::from_secs(120), &vm2, || {
        !world.wait_signals().is_empty()
    });
    eprintln!(
        "boot 2: registered {registered:.0} s, api {api_up:.0} s, web {web_up:.0} s, wait condition {waited:.0} s"
    );
    for resource in DEPLOYMENTS {
        let mine = world.signals_of(resource, "CREATE");
        assert_eq!(mine.len(), 1, "{resource} signalled {} times", mine.len());
        let body = mine[0].json();
        assert_eq!(
            body["deploy_status_code"], 0,
            "{resource}: {}",
            body["deploy_stderr"]
        );
        assert_eq!(
            mine[0].status, 200,
            "the fixture refused {resource}'s signal"
        );
    }
    let setup = world.signals_of("setup_deployment", "CREATE")[0].json();
    assert_eq!(setup["motd"], "hello from Heat\n");
    let web = world.signals_of("web_deployment", "CREATE")[0].json();
    assert!(
        web["url"]
            .as_str()
            .is_some_and(|u| u.starts_with("http://")),
        "{web}"
    );
    let wait = world.wait_signals();
    assert_eq!(wait.len(), 1);
    assert_eq!(wait[0].json()["status"], "SUCCESS", "{}", wait[0].json());
    assert_eq!(
        wait[0].headers.get("x-auth-token").map(String::as_str),
        Some(WAIT_TOKEN)
    );

    // The VM as an operator sees it: ssh with Heat's key pair, the hostname, the /etc file the
    // script wrote, passwordless sudo, the root file system grown to the 8 GB disk.
    assert_eq!(
        world.ssh("hostname").trim(),
        world.stack.physical_name("server")
    );
    assert_eq!(world.ssh("cat /etc/solum-app/motd"), "hello from Heat\n");
    assert_eq!(world.ssh("sudo -n id -u").trim(), "0");
    let root_kb: u64 = world
        .ssh("df -k --output=size / | tail -1")
        .trim()
        .parse()
        .unwrap();
    assert!(
        root_kb > 6 * 1024 * 1024,
        "the root file system was not grown: {root_kb} KiB"
    );

    // The web app's Redis ran in the VM from the preloaded services image, the app got its URL,
    // and the proxy spreads requests over both instances.
    let (hosts, visits_before_update) = visits(&world.web_url(), 12);
    assert_eq!(hosts.len(), 2, "not both instances answered: {hosts:?}");
    let listed = world.ssh("sudo solum-agent services");
    assert!(
        listed.contains("visits") && listed.contains("redis"),
        "{listed}"
    );

    // 3. UPDATE: a new derived config for the buildpack app (new source); probed every second.
    let fetches_before_update = world.file_fetches().len();
    world.update_web("web-v2.tgz");
    let (mut probes, mut failures) = (0, Vec::new());
    let deadline = Instant::now() + Duration::from_secs(600);
    loop {
        probes += 1;
        match http_get(&world.web_url(), Duration::from_secs(10)) {
            Ok(r) if r.status == 200 && r.body.contains("web v2") => break,
            Ok(r) if r.status == 200 && r.body.contains("web v1") => {}
            Ok(r) => failures.push(format!("{} {}", r.status, r.body)),
            Err(e) => failures.push(e.to_string()),
        }
        assert!(
            Instant::now() < deadline,
            "the update was not served in time"
        );
        std::thread::sleep(Duration::from_secs(1));
    }
    assert!(
        failures.is_empty(),
        "requests failed during the switch: {failures:?}"
    );
    let signalled = wait_until("the update's signal", Duration::from_secs(60), &vm2, || {
        !world.signals_of("web_deployment", "UPDATE").is_empty()
    });
    eprintln!("update served after {probes} probes, signalled at {signalled:.0} s");
    std::thread::sleep(Duration::from_secs(5));
    let update = world.signals_of("web_deployment", "UPDATE");
    assert_eq!(update.len(), 1);
    assert_eq!(update[0].json()["deploy_status_code"], 0);
    assert!(world.file_fetches().len() > fetches_before_update);

    // The agent's journal, for the secrets check below (before the power cut).
    let journal = world.ssh("sudo journalctl --no-pager -o cat -u solum-agent -u solum-agent-init");
    // Its warnings reach the journal with their priority (the `<4>` prefix journald reads from
    // JOURNAL_STREAM's stream): the deployment the first power cut interrupted is one of them.
    let warnings = world.ssh("sudo journalctl --no-pager -o cat -p warning -u solum-agent");
    assert!(
        warnings.contains("was cut off by an agent restart; applying it again"),
        "journalctl -p warning does not show the agent's warning: {warnings}"
    );
    assert!(
        !warnings.contains('\u{1b}') && !warnings.contains("<4>"),
        "the journal's warnings hold escape codes or a raw priority prefix: {warnings:?}"
    );
    assert!(
        !warnings.contains("applying deployment"),
        "info lines are filed as warnings: {warnings}"
    );

    // 4. Power cut, third boot: the apps come back from what is on disk.
    let (signals_n, waits_n, fetches_n) = (
        world.signals().len(),
        world.wait_signals().len(),
        world.file_fetches().len(),
    );
    vm2.kill();
    let mut vm3 = world.boot(3);
    let web_back = wait_answer(
        &world.web_url(),
        "web v2",
        Duration::from_secs(300),
        &mut vm3,
    );
    let api_back = wait_answer(
        &world.api_url(),
        "from dockerfile-web",
        Duration::from_secs(300),
        &mut vm3,
    );
    eprintln!("boot 3: web back at {web_back:.0} s, api at {api_back:.0} s");
    // The visits counted before the power cut are still there: the service's volume survived.
    let (_, visits_after_cut) = visits(&world.web_url(), 2);
    assert!(
        visits_after_cut > visits_before_update,
        "the Redis data did not survive the power cut: {visits_after_cut} after, {visits_before_update} before"
    );
    wait_until(
        "the agent's registration",
        Duration::from_secs(120),
        &vm3,
        || world.registrations().len() >= 3,
    );
    std::thread::sleep(Duration::from_secs(10));
    assert_eq!(
        world.signals().len(),
        signals_n,
        "a deployment was signalled again"
    );
    assert_eq!(
        world.wait_signals().len(),
        waits_n,
        "the wait condition was signalled again"
    );
    assert_eq!(
        world.file_fetches().len(),
        fetches_n,
        "a source was fetched again (a rebuild)"
    );

    // 5. No secret on any console or in the agent's journal.
    assert!(
        journal.contains("applying deployment"),
        "the journal shows the agent's work"
    );
    let mut texts = vec![("the agent's journal".to_string(), journal)];
    for n in 1..=3 {
        let p = work.join(format!("console-{n}.log"));
        let text = String::from_utf8_lossy(&std::fs::read(&p).unwrap()).into_owned();
        texts.push((p.display().to_string(), text));
    }
    assert!(
        !texts[0].1.contains('\u{1b}'),
        "the journal holds terminal escape codes"
    );
    for (name, text) in &texts {
        for s in &world.secrets {
            assert!(
                !text.contains(s.as_str()),
                "{name} holds a secret ({}...)",
                &s[..6]
            );
        }
    }
    drop(vm3);
    eprintln!("app VM story done in {:.0} s", t0.elapsed().as_secs_f64());
}

#[test]
fn coreos_app_vm_from_ignition_and_heat_metadata() {
    let t0 = Instant::now();
    let (_tmp, mut world) = setup(COREOS_APP_VM);
    let mut vm = world.boot(1);
    let ignition = vm.wait_console("Ignition (files)", 0, Duration::from_secs(600));
    let api = wait_answer(
        &world.api_url(),
        "from dockerfile-web",
        Duration::from_secs(900),
        &mut vm,
    );
    let web = wait_answer(
        &world.web_url(),
        "web v1: hello from Heat",
        Duration::from_secs(900),
        &mut vm,
    );
    let waited = wait_until("the wait condition", Duration::from_secs(120), &vm, || {
        !world.wait_signals().is_empty()
    });
    eprintln!("coreos boot: Ignition files {ignition:.0} s, api {api:.0} s, web {web:.0} s, wait condition {waited:.0} s");
    // The same plan as app-vm's: two instances counting visits in the VM's own Redis.
    let (hosts, _) = visits(&world.web_url(), 12);
    assert_eq!(hosts.len(), 2, "not both instances answered: {hosts:?}");
    let reg = world.registrations().pop().expect("the agent registered");
    assert_eq!(reg.json()["instance_uuid"], world.stack.server_id);
    for resource in DEPLOYMENTS {
        let mine = world.signals_of(resource, "CREATE");
        assert_eq!(mine.len(), 1, "{resource} signalled {} times", mine.len());
        assert_eq!(
            mine[0].json()["deploy_status_code"],
            0,
            "{resource}: {}",
            mine[0].json()["deploy_stderr"]
        );
    }
    assert_eq!(world.wait_signals()[0].json()["status"], "SUCCESS");
    // Ignition's work: Heat's metadata written where the agent reads it, its user with the key.
    let cfn = world.ssh("sudo cat /var/lib/heat-cfntools/cfn-init-data");
    assert!(cfn.contains("os-collect-config"), "{cfn}");
    let keys = world.ssh("sudo cat /home/solum/.ssh/authorized_keys");
    assert!(
        keys.contains("solum-test"),
        "Ignition's user has no key: {keys}"
    );
    assert_eq!(world.ssh("cat /etc/solum-app/motd"), "hello from Heat\n");
    let journal = world.ssh("sudo journalctl --no-pager -o cat -u solum-agent");
    for s in &world.secrets {
        assert!(
            !journal.contains(s.as_str()),
            "the journal holds a secret ({}...)",
            &s[..6]
        );
        assert!(
            !vm.console_text().contains(s.as_str()),
            "the console holds a secret"
        );
    }
    drop(vm);
    eprintln!(
        "coreos app VM story done in {:.0} s",
        t0.elapsed().as_secs_f64()
    );
}
