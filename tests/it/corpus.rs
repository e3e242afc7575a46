//! Parser tests over real Terraform-produced state files (driftctl's
//! fixtures, Terraform 0.12 to 1.3). The files are not in this repository:
//! `DRIFTD_TFSTATE_CORPUS` points at them (set by `.ci/run`).

use std::collections::BTreeMap;
use std::path::PathBuf;

use driftd::aws::AwsSchema;
use driftd::state::{self, StateFile};
use driftd_core::Schema;

fn corpus() -> Option<Vec<(PathBuf, Vec<u8>)>> {
    let Ok(dir) = std::env::var("DRIFTD_TFSTATE_CORPUS") else {
        eprintln!("skipped: DRIFTD_TFSTATE_CORPUS is not set (point it at shared/corpus/tfstate-driftctl; .ci/run does)");
        return None;
    };
    let mut files = Vec::new();
    for entry in
        std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("DRIFTD_TFSTATE_CORPUS={dir}: {e}"))
    {
        let p = entry.unwrap().path().join("terraform.tfstate");
        if p.is_file() {
            let bytes = std::fs::read(&p).unwrap();
            files.push((p, bytes));
        }
    }
    files.sort();
    Some(files)
}

fn parsed() -> Option<BTreeMap<String, StateFile>> {
    let files = corpus()?;
    assert!(
        files.len() >= 147,
        "expected the 147 corpus files, found {}",
        files.len()
    );
    let mut out = BTreeMap::new();
    for (p, bytes) in files {
        let folder = p
            .parent()
            .unwrap()
            .file_name()
            .unwrap()
            .to_string_lossy()
            .to_string();
        let f = state::parse(&p.display().to_string(), &bytes).unwrap_or_else(|e| panic!("{e}"));
        out.insert(folder, f);
    }
    Some(out)
}

#[test]
fn every_corpus_file_parses_with_terraform_addresses() {
    let Some(all) = parsed() else { return };
    for (folder, f) in &all {
        assert!(
            f.lineage.is_some() && f.serial.is_some(),
            "{folder}: serial/lineage"
        );
        for r in &f.resources {
            let a = &r.address;
            let body = a
                .strip_prefix("module.")
                .map(|_| a.rsplit_once(&format!("{}.", r.rtype)).map(|(_, b)| b));
            assert!(
                a.contains(&format!("{}.", r.rtype)) && body.is_none_or(|b| b.is_some()),
                "{folder}: bad address {a}"
            );
            assert!(!r.rtype.is_empty(), "{folder}: {a}");
        }
        // Real Terraform output never needs the "unsupported state form" refusal.
        assert!(
            f.held
                .iter()
                .all(|h| !matches!(h.reason, state::HeldReason::Unsupported(_))),
            "{folder}: {:?}",
            f.held
        );
        // Data sources never become resources.
        assert!(
            f.resources.iter().all(|r| !r.address.starts_with("data.")),
            "{folder}"
        );
    }
}

#[test]
fn known_corpus_resources_are_extracted() {
    let Some(all) = parsed() else { return };
    let addrs = |folder: &str, rtype: &str| -> Vec<(String, String)> {
        all[folder]
            .resources
            .iter()
            .filter(|r| r.rtype == rtype)
            .map(|r| (r.address.clone(), r.id.clone()))
            .collect()
    };
    assert_eq!(
        addrs("aws_ec2_instance", "aws_instance"),
        vec![(
            "aws_instance.test".to_string(),
            "i-0d3650a23f4e45dc0".to_string()
        )]
    );
    let rules = addrs("aws_vpc_security_group_rule", "aws_security_group_rule");
    assert_eq!(rules.len(), 11);
    assert!(rules
        .iter()
        .all(|(a, id)| a.starts_with("aws_security_group_rule.") && id.starts_with("sgrule-")));
    assert_eq!(addrs("aws_s3_full", "aws_s3_bucket").len(), 3);
    assert_eq!(addrs("aws_s3_full", "aws_s3_bucket_policy").len(), 3);
    // Modules and count index keys.
    let user = addrs("module.iam_iam-user", "aws_iam_user");
    assert_eq!(user[0].0, "module.iam_iam-user.aws_iam_user.this[0]");
    let keys = all["aws_iam_access_key_multiple"]
        .resources
        .iter()
        .filter(|r| r.address.ends_with("[0]"))
        .count();
    assert!(keys >= 1);
}

#[test]
fn supported_corpus_resources_project_without_panics() {
    let Some(all) = parsed() else { return };
    let schema = AwsSchema::default();
    let mut projected = 0;
    for (folder, f) in &all {
        let supported: Vec<_> = f
            .resources
            .iter()
            .filter(|r| schema.supported_types().contains(&r.rtype.as_str()))
            .cloned()
            .collect();
        let desired = schema.desired(&supported);
        assert_eq!(desired.len(), supported.len(), "{folder}");
        let regions = schema.regions(&supported);
        assert_eq!(regions.len(), supported.len());
        for (d, r) in desired.iter().zip(&supported) {
            assert_eq!(d.address, r.address);
            assert!(!d.id.is_empty(), "{folder}: {} has no id", d.address);
        }
        projected += desired.len();
    }
    assert!(
        projected >= 20,
        "only {projected} supported resources found in the corpus"
    );
    // The v3 bucket with a split aws_s3_bucket_policy compares the policy once.
    let s3 = &all["aws_s3_full"];
    let supported: Vec<_> = s3
        .resources
        .iter()
        .filter(|r| schema.supported_types().contains(&r.rtype.as_str()))
        .cloned()
        .collect();
    let d = schema.desired(&supported);
    let bucket = d
        .iter()
        .find(|d| d.address == "aws_s3_bucket.bucket")
        .unwrap();
    assert!(!bucket.attrs.contains_key("policy"));
    // Every corpus bucket is provider v3 with empty inline blocks,
    // `acceleration_status = ""` and `request_payer = "BucketOwner"`: none of
    // them is declared, so none is compared and no call is made for it (no
    // false drift from a computed default).
    let mut buckets = 0;
    for (folder, f) in &all {
        let b: Vec<_> = f
            .resources
            .iter()
            .filter(|r| r.rtype == "aws_s3_bucket")
            .cloned()
            .collect();
        for d in schema.desired(&b) {
            for i in driftd::aws::resources::s3::bucket::INLINE {
                assert!(
                    !d.attrs.contains_key(i.attr),
                    "{folder}: {} declares {}",
                    d.address,
                    i.attr
                );
            }
            buckets += 1;
        }
    }
    assert!(buckets >= 6, "{buckets}");
    // The instance's region comes from its ARN.
    let inst: Vec<_> = all["aws_ec2_instance"]
        .resources
        .iter()
        .filter(|r| r.rtype == "aws_instance")
        .cloned()
        .collect();
    assert!(schema.regions(&inst)[0].is_some());
}

#[test]
fn corrupted_corpus_files_fail_cleanly() {
    let Some(files) = corpus() else { return };
    // Truncate every file at a few points: an error naming the file, never a panic.
    for (p, bytes) in files.iter().take(40) {
        for cut in [
            1,
            bytes.len() / 3,
            bytes.len() / 2,
            bytes.len().saturating_sub(2),
        ] {
            let name = p.display().to_string();
            if let Err(e) = state::parse(&name, &bytes[..cut]) {
                assert!(e.to_string().starts_with(&name), "{e}");
            }
        }
    }
}

/// Every corpus state gives the same scan input whether each instance is
/// projected as it is parsed (what a scan does, so the raw forms of a large
/// state are never all held) or projected later from its raw form: the same
/// resources, regions and canonical forms, under every projection setting,
/// from bytes and from a reader.
#[test]
fn projecting_while_parsing_equals_projecting_after() {
    use driftd::aws::InstanceAttributeReads;
    let Some(files) = corpus() else { return };
    let mut prepared_resources = 0;
    for reads in [
        InstanceAttributeReads::Protected,
        InstanceAttributeReads::All,
        InstanceAttributeReads::None,
    ] {
        let schema = AwsSchema {
            instance_attribute_reads: reads,
        };
        for (p, bytes) in &files {
            let name = p.display().to_string();
            let raw = state::parse(&name, bytes).unwrap();
            let early = state::with_schema(&schema, || state::parse(&name, bytes)).unwrap();
            let streamed = state::with_schema(&schema, || state::parse_reader(&name, &bytes[..]))
                .expect("a plain v4 state streams");
            for f in [&early, &streamed] {
                let addrs = |f: &StateFile| -> Vec<(String, String)> {
                    f.resources
                        .iter()
                        .map(|r| (r.address.clone(), r.id.clone()))
                        .collect()
                };
                assert_eq!(addrs(f), addrs(&raw), "{name}");
                assert_eq!(f.held.len(), raw.held.len(), "{name}");
                let supported = |f: &StateFile| -> Vec<driftd_core::StateResource> {
                    f.resources
                        .iter()
                        .filter(|r| schema.supported_types().contains(&r.rtype.as_str()))
                        .cloned()
                        .collect()
                };
                let (a, b) = (supported(&raw), supported(f));
                assert_eq!(schema.regions(&b), schema.regions(&a), "{name}");
                assert_eq!(schema.desired(&b), schema.desired(&a), "{name} ({reads:?})");
                let mut freed = b.clone();
                assert_eq!(
                    schema.desired_freeing(&mut freed),
                    schema.desired(&a),
                    "{name}"
                );
                for r in &b {
                    assert!(r.prepared.is_some(), "{name}: {} not prepared", r.address);
                    assert!(
                        r.attrs.is_empty(),
                        "{name}: {} keeps its raw form",
                        r.address
                    );
                }
                prepared_resources += b.len();
            }
        }
    }
    assert!(prepared_resources >= 60, "{prepared_resources}");
}
