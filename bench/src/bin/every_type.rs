//! The call table of one scan of a world holding every registered type moto
//! can serve: driftd's calls per operation next to the minimal set (one
//! listing per `Describe*` per scope, per-bucket `Get*` only for declared
//! configurations), equal or not.
//!
//! `bench/every_type.sh` starts moto on a free loopback port and runs this
//! against it; `tests/it/every_type.rs` asserts the same table. The world
//! and the minimal set are in `bench/src/every_type_world.rs`.
//!
//! Exit status: 0 every operation equal to the minimal set (or differing by
//! exactly its known excess, listed under the table), 1 another difference,
//! 2 an error.

#[path = "../every_type_world.rs"]
mod every_type_world;

use std::path::PathBuf;
use std::process::ExitCode;

use driftd::aws::{ApiCalls, ClientOptions, Clients, StaticCredentials, Target};

fn usage() -> ! {
    eprintln!("usage: every_type --endpoint http://127.0.0.1:PORT [--workdir DIR]");
    std::process::exit(2)
}

#[tokio::main]
async fn main() -> ExitCode {
    let mut endpoint = None;
    let mut workdir = PathBuf::from("target/driftd-bench-every-type");
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--endpoint" => endpoint = Some(args.next().unwrap_or_else(|| usage())),
            "--workdir" => workdir = PathBuf::from(args.next().unwrap_or_else(|| usage())),
            _ => usage(),
        }
    }
    let Some(endpoint) = endpoint else { usage() };
    // Loopback only: never a real AWS endpoint.
    if !(endpoint.starts_with("http://127.0.0.1:") || endpoint.starts_with("http://localhost:")) {
        eprintln!("every_type: only a loopback endpoint is accepted, not {endpoint}");
        return ExitCode::from(2);
    }
    let options = ClientOptions {
        static_credentials: Some(StaticCredentials {
            access_key_id: "bench".into(),
            secret_access_key: "bench".into(),
        }),
        ..Default::default()
    };
    let target = Target {
        region: every_type_world::REGION.into(),
        endpoint_url: Some(endpoint.clone()),
        assume_role_arn: None,
    };
    let seeding = Clients::new(&target, &options, &ApiCalls::new()).await;
    let world = every_type_world::seed(&seeding).await;

    std::fs::create_dir_all(&workdir).expect("workdir");
    let state = workdir.join("every-type.tfstate");
    let config_path = workdir.join("driftd.toml");
    std::fs::write(&state, serde_json::to_vec_pretty(&world.state).unwrap()).expect("state");
    let text = every_type_world::config(&endpoint);
    std::fs::write(&config_path, &text).expect("config");
    let config = match driftd::config::parse(&text, &config_path, &driftd::env::MapEnv::default()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("every_type: config: {e}");
            return ExitCode::from(2);
        }
    };
    let calls = ApiCalls::new();
    let scan_options = driftd::scan::ScanOptions {
        client: options,
        ..Default::default()
    };
    let report = driftd::scan::run(&config, &scan_options, &calls).await;

    let types = world.types();
    let rows = every_type_world::table(&calls.by_operation(), &world.minimal());
    println!("## Call table: one world with every type\n");
    println!(
        "{} resources of {} types in one scope ({}), unmanaged detection on; \
         not seeded (moto 5.1.22 cannot serve them): {}.\n",
        world.state["resources"].as_array().map_or(0, Vec::len),
        types.len(),
        every_type_world::REGION,
        every_type_world::NOT_SEEDED
            .iter()
            .map(|(t, _)| format!("`{t}`"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    print!("{}", every_type_world::markdown(&rows));
    let s = &report.stacks[0];
    println!(
        "\nScan: status {:?}, {} managed, {} in sync, {} changed, {} missing, {} unknown \
         (attributes not written from the live answers may differ; calls do not depend on it).",
        s.status,
        s.counts.managed,
        s.counts.in_sync,
        s.counts.changed,
        s.counts.missing,
        s.counts.unknown
    );
    // Which resources differ, by attribute path only (never a value).
    for d in &s.drifts {
        let paths: Vec<&str> = d.attributes.iter().map(|a| a.path.as_str()).collect();
        println!(
            "- {} {}: {}",
            d.kind.as_str(),
            d.address.as_deref().unwrap_or(&d.id),
            paths.join(", ")
        );
    }
    for e in &s.errors {
        println!("- error: {e}");
    }
    if rows.iter().all(every_type_world::Row::as_known) {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}
