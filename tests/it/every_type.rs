//! The call table of `bench/RESULTS.md` ("one world with every type"), made
//! permanent: one scan of a moto world holding every registered type moto
//! can serve costs exactly the minimal call set, operation by operation.
//! The world and the minimal set are `bench/src/every_type_world.rs`,
//! shared with the `every_type` benchmark binary.

use std::collections::BTreeSet;

use driftd::aws::{registry, ApiCalls};
use driftd::env::MapEnv;
use driftd::scan::{self, ScanOptions};

use crate::every_type_world as etw;
use crate::moto::Moto;
use crate::world;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_world_with_every_type_costs_the_minimal_call_set() {
    let moto = Moto::start();
    let c = moto.clients().await;
    let w = etw::seed(&c).await;
    // The world holds every registered type except those said not seeded.
    let registered: BTreeSet<String> = registry::names().iter().map(|n| n.to_string()).collect();
    let not_seeded: BTreeSet<String> = etw::NOT_SEEDED.iter().map(|(t, _)| t.to_string()).collect();
    assert_eq!(
        w.types(),
        registered
            .difference(&not_seeded)
            .cloned()
            .collect::<BTreeSet<_>>(),
        "every registered type is in the every-type world, or in NOT_SEEDED with its reason"
    );
    let dir = world::temp_dir("every-type");
    std::fs::write(
        dir.join("every-type.tfstate"),
        serde_json::to_vec(&w.state).unwrap(),
    )
    .unwrap();
    let text = etw::config(&moto.url);
    let path = dir.join("driftd.toml");
    std::fs::write(&path, &text).unwrap();
    let cfg = driftd::config::parse(&text, &path, &MapEnv::default()).unwrap();
    let calls = ApiCalls::new();
    let options = ScanOptions {
        client: crate::moto::client_options(),
        ..Default::default()
    };
    let r = scan::run(&cfg, &options, &calls).await;
    let s = &r.stacks[0];
    assert_eq!(s.counts.unknown, 0, "{}", r.to_text());
    assert_eq!(
        s.counts.managed,
        w.state["resources"].as_array().unwrap().len(),
        "{}",
        r.to_text()
    );
    // The EC2 network types written the way the provider writes them are
    // in sync (the world's other drift is of attributes it does not write).
    let net2 = [
        "aws_default_security_group",
        "aws_vpc_endpoint",
        "aws_egress_only_internet_gateway",
        "aws_vpc_dhcp_options",
        "aws_vpc_peering_connection",
        "aws_flow_log",
    ];
    let drifted: Vec<&str> = s
        .drifts
        .iter()
        .filter(|d| net2.contains(&d.rtype.as_str()))
        .map(|d| d.rtype.as_str())
        .collect();
    assert!(drifted.is_empty(), "{drifted:?}\n{}", r.to_text());
    let rows = etw::table(&calls.by_operation(), &w.minimal());
    // Equal to the minimal set, operation by operation, but for the excess
    // known today (listed under the table; fixing it means lowering it).
    assert!(
        rows.iter().all(etw::Row::as_known),
        "driftd's calls differ from the minimal set (plus its known excess):\n{}",
        etw::markdown(&rows)
    );
}
