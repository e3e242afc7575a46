//! The code editor on fixture stacks (`tests/fixtures/tf/`): every test
//! asserts the whole output file, so any byte changed outside the intended
//! edit fails it; a property test checks random tag and attribute edits.

use std::collections::BTreeMap;
use std::path::Path;

use driftd::pr::editor::{self, EditPlan, Files};
use driftd::pr::ProposedDrift;
use driftd::report::{AttrChange, DriftKind};
use serde_json::{json, Value};

fn load(dir: &Path, rel: &str, out: &mut Files) {
    for e in std::fs::read_dir(dir.join(rel)).unwrap() {
        let e = e.unwrap();
        let name = e.file_name().into_string().unwrap();
        let r = if rel.is_empty() {
            name.clone()
        } else {
            format!("{rel}/{name}")
        };
        if e.file_type().unwrap().is_dir() {
            load(dir, &r, out);
        } else {
            out.insert(r, std::fs::read_to_string(e.path()).unwrap());
        }
    }
}

pub fn app() -> Files {
    let mut f = Files::new();
    load(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tf/app"),
        "",
        &mut f,
    );
    f
}

pub fn drift(address: &str, rtype: &str, attrs: &[(&str, Value, Value)]) -> ProposedDrift {
    ProposedDrift {
        address: Some(address.into()),
        rtype: rtype.into(),
        id: format!("id-{address}"),
        kind: DriftKind::Changed,
        attributes: attrs
            .iter()
            .map(|(p, e, a)| AttrChange {
                path: p.to_string(),
                expected: e.clone(),
                actual: a.clone(),
            })
            .collect(),
        first_seen: Some("2024-05-01T10:00:00Z".into()),
        critical: false,
        reason: "rule keep-live".into(),
        live: None,
        changed_by: None,
    }
}

fn plan(files: &Files, drifts: &[ProposedDrift]) -> EditPlan {
    let refs: Vec<&ProposedDrift> = drifts.iter().collect();
    editor::plan(files, "", &refs)
}

/// Replace exactly one occurrence.
fn edit(text: &str, from: &str, to: &str) -> String {
    assert_eq!(
        text.matches(from).count(),
        1,
        "fixture snippet not unique: {from}"
    );
    text.replacen(from, to, 1)
}

fn only(p: &EditPlan, file: &str) -> String {
    assert!(
        p.needs_human.is_empty(),
        "unexpected needs-a-human: {:#?}",
        p.needs_human
    );
    assert_eq!(p.files.keys().collect::<Vec<_>>(), vec![file], "{p:#?}");
    let out = p.files[file].clone();
    hcl_edit::parser::parse_body(&out).expect("the result parses");
    out
}

#[test]
fn literal_attribute_keeps_its_comment_and_spacing() {
    let f = app();
    let p = plan(
        &f,
        &[drift(
            "aws_instance.api",
            "aws_instance",
            &[("instance_type", json!("t3.micro"), json!("t3.large"))],
        )],
    );
    let out = only(&p, "main.tf");
    assert_eq!(
        out,
        edit(
            &f["main.tf"],
            "instance_type   = \"t3.micro\"   // keep small",
            "instance_type   = \"t3.large\"   // keep small"
        )
    );
    assert_eq!(p.applied.len(), 1);
    assert_eq!(p.applied[0].code_value, "\"t3.micro\"");
    assert_eq!(p.applied[0].live_value, "t3.large");
}

#[test]
fn tags_add_change_and_remove_keys() {
    let f = app();
    let p = plan(
        &f,
        &[drift(
            "aws_instance.api",
            "aws_instance",
            &[
                ("tags[\"Cost Center\"]", json!("1234"), json!("5678")),
                ("tags.Name", json!("api"), Value::Null),
                ("tags.Owner", Value::Null, json!("ops \"core\" ${team}")),
            ],
        )],
    );
    let out = only(&p, "main.tf");
    let want = edit(
        &f["main.tf"],
        "  tags = {\n    Name          = \"api\"\n    \"Cost Center\" = \"1234\"\n  }",
        "  tags = {\n    \"Cost Center\" = \"5678\"\n    Owner         = \"ops \\\"core\\\" $${team}\"\n  }",
    );
    assert_eq!(out, want);
}

#[test]
fn nested_blocks_and_new_attributes() {
    let f = app();
    let p = plan(
        &f,
        &[drift(
            "aws_instance.api",
            "aws_instance",
            &[
                (
                    "metadata_options.http_tokens",
                    json!("optional"),
                    json!("required"),
                ),
                ("root_block_device.volume_size", json!(8), json!(20)),
                ("monitoring", json!(false), json!(true)),
                ("ebs_optimized", json!(false), json!(true)),
                (
                    "metadata_options.http_put_response_hop_limit",
                    json!(1),
                    json!(2),
                ),
            ],
        )],
    );
    let out = only(&p, "main.tf");
    let mut want = edit(
        &f["main.tf"],
        "http_tokens   = \"optional\"",
        "http_tokens   = \"required\"",
    );
    want = edit(&want, "volume_size = 8\n", "volume_size = 20\n");
    want = edit(
        &want,
        "  monitoring = false\n",
        "  monitoring = true\n  ebs_optimized = true\n",
    );
    want = edit(
        &want,
        "    http_endpoint = \"enabled\"\n",
        "    http_endpoint = \"enabled\"\n    http_put_response_hop_limit = 2\n",
    );
    assert_eq!(out, want);
}

#[test]
fn count_instance_indexed_variable_default() {
    let f = app();
    let p = plan(
        &f,
        &[drift(
            "aws_instance.web[1]",
            "aws_instance",
            &[("instance_type", json!("t3.micro"), json!("t3.large"))],
        )],
    );
    let out = only(&p, "variables.tf");
    assert_eq!(
        out,
        edit(
            &f["variables.tf"],
            "default = [\"t3.micro\", \"t3.micro\", \"t3.micro\"]",
            "default = [\"t3.micro\", \"t3.large\", \"t3.micro\"]"
        )
    );
    assert!(p.applied[0].file == "variables.tf");
}

#[test]
fn value_shared_by_count_instances_needs_a_human_unless_all_drifted() {
    let f = app();
    let one = plan(
        &f,
        &[drift(
            "aws_instance.web[1]",
            "aws_instance",
            &[("tags.Team", json!("web"), json!("ops"))],
        )],
    );
    assert!(one.files.is_empty());
    assert_eq!(one.needs_human.len(), 1);
    assert!(
        one.needs_human[0]
            .reason
            .contains("shared by all 3 instances"),
        "{:?}",
        one.needs_human
    );
    assert_eq!(one.needs_human[0].live_value, "ops");

    let all: Vec<ProposedDrift> = (0..3)
        .map(|i| {
            drift(
                &format!("aws_instance.web[{i}]"),
                "aws_instance",
                &[("tags.Team", json!("web"), json!("ops"))],
            )
        })
        .collect();
    let p = plan(&f, &all);
    let out = only(&p, "main.tf");
    assert_eq!(
        out,
        edit(
            &f["main.tf"],
            "Team     =   \"web\"   # owning team",
            "Team     =   \"ops\"   # owning team"
        )
    );
}

#[test]
fn for_each_entry_is_edited_in_tfvars() {
    let f = app();
    let p = plan(
        &f,
        &[
            drift(
                "aws_instance.worker[\"b\"]",
                "aws_instance",
                &[("instance_type", json!("t3.medium"), json!("t3.large"))],
            ),
            drift(
                "aws_instance.worker[\"a\"]",
                "aws_instance",
                &[("instance_type", json!("t3.small"), json!("t3.xlarge"))],
            ),
        ],
    );
    let out = only(&p, "terraform.tfvars");
    let mut want = edit(
        &f["terraform.tfvars"],
        "instance_type = \"t3.medium\"",
        "instance_type = \"t3.large\"",
    );
    want = edit(
        &want,
        "a = { instance_type = \"t3.small\" }   # first",
        "a = { instance_type = \"t3.xlarge\" }   # first",
    );
    assert_eq!(out, want);
}

#[test]
fn local_module_and_split_s3_resources() {
    let f = app();
    let p = plan(
        &f,
        &[
            drift(
                "module.storage.aws_s3_bucket_versioning.assets",
                "aws_s3_bucket_versioning",
                &[(
                    "versioning_configuration.status",
                    json!("Enabled"),
                    json!("Suspended"),
                )],
            ),
            drift(
                "module.storage.aws_s3_bucket_server_side_encryption_configuration.assets",
                "aws_s3_bucket_server_side_encryption_configuration",
                &[(
                    "rule.apply_server_side_encryption_by_default.sse_algorithm",
                    json!("aws:kms"),
                    json!("AES256"),
                )],
            ),
            drift(
                "module.storage.aws_s3_bucket_public_access_block.assets",
                "aws_s3_bucket_public_access_block",
                &[("block_public_policy", json!(true), json!(false))],
            ),
            drift(
                "module.storage.aws_s3_bucket.assets",
                "aws_s3_bucket",
                &[("tags.Env", Value::Null, json!("prod"))],
            ),
        ],
    );
    let out = only(&p, "modules/storage/main.tf");
    let mut want = edit(
        &f["modules/storage/main.tf"],
        "status = \"Enabled\"",
        "status = \"Suspended\"",
    );
    want = edit(
        &want,
        "sse_algorithm = \"aws:kms\"",
        "sse_algorithm = \"AES256\"",
    );
    want = edit(
        &want,
        "block_public_policy     = true   # keep this on",
        "block_public_policy     = false   # keep this on",
    );
    want = edit(
        &want,
        "tags   = { Project = \"demo\" }",
        "tags   = { Project = \"demo\", Env = \"prod\" }",
    );
    assert_eq!(out, want);
}

#[test]
fn security_group_rules_add_and_remove() {
    let f = app();
    let p = plan(
        &f,
        &[drift(
            "aws_security_group.web",
            "aws_security_group",
            &[
                (
                    "ingress[\"tcp:8080-8080:cidr:10.1.0.0/16\"]",
                    Value::Null,
                    json!("alt http"),
                ),
                (
                    "ingress[\"tcp:443-443:cidr:10.0.0.0/8\"]",
                    json!("https"),
                    Value::Null,
                ),
                (
                    "ingress[\"tcp:22-22:cidr:203.0.113.0/24\"]",
                    json!("ssh from office"),
                    Value::Null,
                ),
                ("egress[\"all:*:ipv6:::/0\"]", Value::Null, json!("")),
            ],
        )],
    );
    let out = only(&p, "main.tf");
    let mut want = edit(
        &f["main.tf"],
        "cidr_blocks = [\"0.0.0.0/0\", \"10.0.0.0/8\"]",
        "cidr_blocks = [\"0.0.0.0/0\"]",
    );
    want = edit(
        &want,
        "\n  ingress {\n    description = \"ssh from office\"\n    from_port   = 22\n    to_port     = 22\n    protocol    = \"tcp\"\n    cidr_blocks = [\"203.0.113.0/24\"]\n  }\n",
        "",
    );
    want = edit(
        &want,
        "    cidr_blocks = [\"0.0.0.0/0\"]\n  }\n}\n\nmodule \"storage\"",
        "    cidr_blocks = [\"0.0.0.0/0\"]\n  }\n\n  ingress {\n    from_port   = 8080\n    to_port     = 8080\n    protocol    = \"tcp\"\n    cidr_blocks = [\"10.1.0.0/16\"]\n    description = \"alt http\"\n  }\n\n  egress {\n    from_port        = 0\n    to_port          = 0\n    protocol         = \"-1\"\n    ipv6_cidr_blocks = [\"::/0\"]\n  }\n}\n\nmodule \"storage\"",
    );
    assert_eq!(out, want);
}

#[test]
fn what_cannot_be_expressed_needs_a_human() {
    let f = app();
    let mut missing = drift("aws_instance.gone", "aws_instance", &[]);
    missing.kind = DriftKind::Missing;
    let mut unmanaged = drift("x", "aws_s3_bucket", &[]);
    unmanaged.address = None;
    unmanaged.id = "demo-scratch".into();
    unmanaged.kind = DriftKind::Unmanaged;
    let p = plan(
        &f,
        &[
            drift(
                "aws_instance.web[0]",
                "aws_instance",
                &[("ami", json!("ami-a"), json!("ami-b"))],
            ),
            drift(
                "aws_instance.api",
                "aws_instance",
                &[("user_data", json!("(sensitive)"), json!("(sensitive)"))],
            ),
            drift(
                "module.vpc.aws_vpc.this",
                "aws_vpc",
                &[("tags.Name", json!("a"), json!("b"))],
            ),
            drift(
                "module.storage.aws_s3_bucket_policy.assets",
                "aws_s3_bucket_policy",
                &[(
                    "policy",
                    json!({"Version": "2012-10-17"}),
                    json!({"Version": "2008-10-17"}),
                )],
            ),
            drift(
                "aws_instance.api",
                "aws_instance",
                &[("key_name", json!("a"), Value::Null)],
            ),
            drift(
                "aws_instance.api",
                "aws_instance",
                &[("tags.Team", json!("core"), json!("ops"))],
            ),
            missing,
            unmanaged,
        ],
    );
    assert!(p.files.is_empty(), "{:#?}", p.files);
    let reasons: BTreeMap<String, String> = p
        .needs_human
        .iter()
        .map(|h| {
            (
                format!("{} {}", h.resource, h.attribute.clone().unwrap_or_default()),
                format!("{} | {}", h.live_value, h.reason),
            )
        })
        .collect();
    let has = |k: &str, needle: &str| {
        let r = reasons
            .get(k)
            .unwrap_or_else(|| panic!("no item {k}: {reasons:#?}"));
        assert!(r.contains(needle), "{k}: {r}");
    };
    has(
        "aws_instance.web[0] ami",
        "computed (`data.aws_ami.al2023.id`)",
    );
    has(
        "aws_instance.api user_data",
        "(sensitive) | the value is sensitive",
    );
    has(
        "module.vpc.aws_vpc.this tags.Name",
        "terraform-aws-modules/vpc/aws",
    );
    has(
        "module.storage.aws_s3_bucket_policy.assets policy",
        "policy documents",
    );
    has("aws_instance.api key_name", "does not set this attribute");
    has("aws_instance.api tags.Team", "default_tags");
    has("aws_instance.gone ", "no longer exists");
    has("aws_s3_bucket demo-scratch ", "import");
    // Never a sensitive value, anywhere.
    assert!(!format!("{p:?}").contains("secret"));
}

#[test]
fn code_already_changed_or_pending_is_not_touched() {
    let f = app();
    // Code already has the live value: nothing to do.
    let p = plan(
        &f,
        &[drift(
            "aws_instance.api",
            "aws_instance",
            &[("instance_type", json!("t3.nano"), json!("t3.micro"))],
        )],
    );
    assert!(p.files.is_empty() && p.needs_human.is_empty() && p.applied.is_empty());
    // Code differs from both state and live: a change awaits apply.
    let p = plan(
        &f,
        &[drift(
            "aws_instance.api",
            "aws_instance",
            &[("instance_type", json!("t3.nano"), json!("t3.large"))],
        )],
    );
    assert!(p.files.is_empty());
    assert!(p.needs_human[0].reason.contains("waiting to be applied"));
}

#[test]
fn variable_used_in_several_places_needs_a_human() {
    let mut f = Files::new();
    f.insert(
        "main.tf".into(),
        "variable \"size\" {\n  default = \"t3.micro\"\n}\n\nresource \"aws_instance\" \"a\" {\n  instance_type = var.size\n}\n\nresource \"aws_instance\" \"b\" {\n  instance_type = var.size\n}\n".into(),
    );
    let p = plan(
        &f,
        &[drift(
            "aws_instance.a",
            "aws_instance",
            &[("instance_type", json!("t3.micro"), json!("t3.large"))],
        )],
    );
    assert!(p.files.is_empty());
    assert!(
        p.needs_human[0]
            .reason
            .contains("var.size is used in 2 places"),
        "{:?}",
        p.needs_human
    );

    // Used once: the default is edited.
    let mut g = Files::new();
    g.insert(
        "main.tf".into(),
        "variable \"size\" {\n  default = \"t3.micro\" # small\n}\n\nresource \"aws_instance\" \"a\" {\n  instance_type = var.size\n}\n".into(),
    );
    let p = plan(
        &g,
        &[drift(
            "aws_instance.a",
            "aws_instance",
            &[("instance_type", json!("t3.micro"), json!("t3.large"))],
        )],
    );
    assert_eq!(
        only(&p, "main.tf"),
        edit(
            &g["main.tf"],
            "default = \"t3.micro\" # small",
            "default = \"t3.large\" # small"
        )
    );
}

#[test]
fn addresses_and_paths_parse() {
    let a = editor::parse_address("module.a.module.b.aws_instance.web[\"x y\"]").unwrap();
    assert_eq!(a.modules.len(), 2);
    assert_eq!(a.name, "web");
    assert_eq!(a.key, Some(editor::InstanceKey::Str("x y".into())));
    assert_eq!(
        editor::parse_path("rule.apply_server_side_encryption_by_default.sse_algorithm").unwrap(),
        vec![
            "rule",
            "apply_server_side_encryption_by_default",
            "sse_algorithm"
        ]
    );
    assert_eq!(
        editor::parse_path("ingress[\"tcp:22-22:cidr:0.0.0.0/0\"]").unwrap(),
        vec!["ingress", "tcp:22-22:cidr:0.0.0.0/0"]
    );
    assert!(editor::parse_address("data.aws_ami.x").is_none());
}

mod props {
    use super::*;
    use proptest::prelude::*;

    const BASE: &str = "# header comment\nresource \"aws_instance\" \"x\" {\n  ami           = \"ami-1\"   # pinned\n  instance_type = \"t3.micro\"\n\n  tags = {\n    Name  = \"x\" // the name\n    Team  = \"core\"\n    \"a b\" = \"c\"\n  }\n}\n\n# trailing comment\nresource \"aws_s3_bucket\" \"other\" {\n  bucket = \"b\"\n}\n";

    fn value() -> impl Strategy<Value = String> {
        prop_oneof![
            "[a-zA-Z0-9 _.:/=+-]{0,12}",
            Just("${x}".to_string()),
            Just("%{ if }".to_string()),
            Just("quote\"back\\slash".to_string()),
            Just("line\nbreak\ttab".to_string()),
            Just("ünïcødé ✓".to_string()),
        ]
    }

    fn key() -> impl Strategy<Value = String> {
        prop_oneof![
            Just("Name".to_string()),
            Just("Team".to_string()),
            Just("a b".to_string()),
            "[A-Za-z][A-Za-z0-9_:-]{0,8}",
            "[a-z ]{1,6}",
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(200))]
        #[test]
        fn random_edits_reparse_and_keep_untouched_bytes(
            edits in proptest::collection::btree_map(key(), proptest::option::of(value()), 0..5),
            itype in proptest::option::of(value()),
        ) {
            let mut files = Files::new();
            files.insert("main.tf".into(), BASE.to_string());
            let before: BTreeMap<String, String> = [("Name", "x"), ("Team", "core"), ("a b", "c")]
                .iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
            let mut attrs: Vec<(String, Value, Value)> = Vec::new();
            let mut want = before.clone();
            for (k, v) in &edits {
                let exp = before.get(k).map(|s| json!(s)).unwrap_or(Value::Null);
                let act = v.as_ref().map(|s| json!(s)).unwrap_or(Value::Null);
                if exp == act { continue; }
                if exp.is_null() && act.as_str() == Some("") { continue; }
                match v { Some(s) => { want.insert(k.clone(), s.clone()); } None => { want.remove(k); } }
                let path = driftd::diff::render_path(&["tags".to_string(), k.clone()]);
                attrs.push((path, exp, act));
            }
            if let Some(t) = &itype {
                if !t.is_empty() && t != "t3.micro" {
                    attrs.push(("instance_type".into(), json!("t3.micro"), json!(t)));
                }
            }
            let refs: Vec<(&str, Value, Value)> = attrs.iter().map(|(p, e, a)| (p.as_str(), e.clone(), a.clone())).collect();
            let d = drift("aws_instance.x", "aws_instance", &refs);
            let p = editor::plan(&files, "", &[&d]);
            let out = p.files.get("main.tf").cloned().unwrap_or_else(|| BASE.to_string());
            // Always parses.
            let body = hcl_edit::parser::parse_body(&out).expect("output parses");
            // Untouched bytes: everything before the resource's first attribute
            // line and from the closing brace of the resource on.
            let head = "# header comment\nresource \"aws_instance\" \"x\" {\n  ami           = \"ami-1\"   # pinned\n";
            let tail = "\n# trailing comment\nresource \"aws_s3_bucket\" \"other\" {\n  bucket = \"b\"\n}\n";
            prop_assert!(out.starts_with(head), "{}", out);
            prop_assert!(out.ends_with(tail), "{}", out);
            prop_assert!(out.contains("Name  = \"x\" // the name") || !want.contains_key("Name") || want["Name"] != "x");
            prop_assert!(p.needs_human.is_empty(), "{:?}", p.needs_human);
            // And it means what was asked.
            let res = body.get_blocks("resource").next().unwrap();
            let tags = &res.body.get_attribute("tags").unwrap().value;
            let got: BTreeMap<String, String> = match tags {
                hcl_edit::expr::Expression::Object(o) => o.iter().map(|(k, v)| {
                    let k = match k {
                        hcl_edit::expr::ObjectKey::Ident(i) => i.as_str().to_string(),
                        hcl_edit::expr::ObjectKey::Expression(hcl_edit::expr::Expression::String(s)) => s.value().to_string(),
                        other => panic!("{other:?}"),
                    };
                    let v = match v.expr() {
                        hcl_edit::expr::Expression::String(s) => s.value().to_string(),
                        other => panic!("{other:?}"),
                    };
                    (k, v)
                }).collect(),
                other => panic!("{other:?}"),
            };
            prop_assert_eq!(got, want);
            if let Some(t) = itype.filter(|t| !t.is_empty()) {
                match &res.body.get_attribute("instance_type").unwrap().value {
                    hcl_edit::expr::Expression::String(s) => prop_assert_eq!(s.value().as_str(), t.as_str()),
                    other => prop_assert!(false, "{:?}", other),
                }
            }
        }
    }
}

/// Issue 12, fix 1: a literal `toset([...])`, `[...]` and `{...}` for_each
/// are all literal: a value shared by every instance is edited when every
/// instance drifted the same way, and needs a human otherwise.
#[test]
fn for_each_literal_set_list_and_map_are_treated_alike() {
    for for_each in [
        "toset([\"a\", \"b\"])",
        "[\"a\", \"b\"]",
        "{ a = \"a\", b = \"b\" }",
        "local.names",
    ] {
        let main = format!(
            "locals {{\n  names = toset([\"a\", \"b\"])\n}}\n\nresource \"aws_instance\" \"w\" {{\n  for_each      = {for_each}\n  ami           = \"ami-1\"\n  instance_type = \"t3.micro\"\n}}\n"
        );
        let f: Files = [("main.tf".to_string(), main.clone())].into();
        let d = |k: &str| {
            drift(
                &format!("aws_instance.w[\"{k}\"]"),
                "aws_instance",
                &[("instance_type", json!("t3.micro"), json!("t3.large"))],
            )
        };
        let p = plan(&f, &[d("a"), d("b")]);
        assert_eq!(
            only(&p, "main.tf"),
            main.replace("\"t3.micro\"", "\"t3.large\""),
            "for_each = {for_each}"
        );
        let one = plan(&f, &[d("a")]);
        assert!(one.files.is_empty(), "for_each = {for_each}: {one:?}");
        assert!(
            one.needs_human[0]
                .reason
                .contains("shared by all 2 instances"),
            "for_each = {for_each}: {:?}",
            one.needs_human
        );
    }
}

/// Issue 12, fix 2: an edit of a `terraform fmt`-clean file is
/// `terraform fmt`-clean: compared with the output of `terraform fmt` itself
/// (the corpus in tests/fixtures/fmt, produced once, offline).
#[test]
fn edits_of_fmt_clean_files_are_fmt_clean() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/fmt");
    let cases: Vec<(&str, ProposedDrift)> = vec![
        (
            "tag_removed",
            drift(
                "aws_instance.app",
                "aws_instance",
                &[("tags.VeryLongTagKey", json!("x"), Value::Null)],
            ),
        ),
        (
            "tags_block_added",
            drift(
                "aws_instance.app",
                "aws_instance",
                &[("tags.Owner", Value::Null, json!("ops"))],
            ),
        ),
        (
            "tag_added_longer_key",
            drift(
                "aws_s3_bucket.logs",
                "aws_s3_bucket",
                &[("tags[\"Cost Center\"]", Value::Null, json!("1234"))],
            ),
        ),
        (
            "nested_attribute_added",
            drift(
                "aws_instance.api",
                "aws_instance",
                &[
                    (
                        "metadata_options.http_tokens",
                        json!("optional"),
                        json!("required"),
                    ),
                    (
                        "metadata_options.http_put_response_hop_limit",
                        json!(1),
                        json!(2),
                    ),
                ],
            ),
        ),
        (
            "comment_chain_value_changed",
            drift(
                "aws_instance.api",
                "aws_instance",
                &[(
                    "instance_type",
                    json!("t3.micro"),
                    json!("m7i-flex.2xlarge.extra.long"),
                )],
            ),
        ),
        (
            "heredoc_then_attribute_added",
            drift(
                "aws_instance.api",
                "aws_instance",
                &[("iam_instance_profile", json!(""), json!("api-profile"))],
            ),
        ),
    ];
    let dirs = std::fs::read_dir(&root)
        .unwrap()
        .filter(|e| e.as_ref().unwrap().file_type().unwrap().is_dir())
        .count();
    assert_eq!(dirs, cases.len(), "every corpus directory has a case");
    for (name, d) in cases {
        let main = std::fs::read_to_string(root.join(name).join("main.tf")).unwrap();
        let want = std::fs::read_to_string(root.join(name).join("expected.tf")).unwrap();
        assert!(driftd::pr::fmt::is_aligned(&main), "{name}: main.tf");
        assert!(driftd::pr::fmt::is_aligned(&want), "{name}: expected.tf");
        let f: Files = [("main.tf".to_string(), main)].into();
        let p = plan(&f, &[d]);
        assert_eq!(only(&p, "main.tf"), want, "{name}");
    }
}

fn missing(address: &str, rtype: &str) -> ProposedDrift {
    let mut d = drift(address, rtype, &[]);
    d.kind = DriftKind::Missing;
    d
}

fn remove_mode() -> driftd::pr::CodeOptions {
    driftd::pr::CodeOptions {
        missing: driftd::pr::MissingMode::Remove,
        ..Default::default()
    }
}

/// Issue 12, removal: a resource gone from AWS, with `missing = "remove"`:
/// its block becomes a `removed` block (destroy = false); instances of
/// count/for_each, referenced blocks and shared modules need a human; the
/// default (report) changes nothing.
#[test]
fn missing_resources_become_removed_blocks_or_need_a_human() {
    let f = app();
    let drifts = [
        missing("aws_instance.api", "aws_instance"),
        missing("aws_instance.web[1]", "aws_instance"),
        missing("aws_instance.worker[\"b\"]", "aws_instance"),
        missing(
            "module.storage.aws_s3_bucket_policy.assets",
            "aws_s3_bucket_policy",
        ),
        missing("module.storage.aws_s3_bucket.assets", "aws_s3_bucket"),
    ];
    let refs: Vec<&ProposedDrift> = drifts.iter().collect();

    let report = editor::plan(&f, "", &refs);
    assert!(report.files.is_empty(), "{report:?}");
    assert_eq!(report.needs_human.len(), 5);

    let p = editor::plan_with(&f, "", &refs, &remove_mode());
    let main = &p.files["main.tf"];
    let start = f["main.tf"]
        .find("resource \"aws_instance\" \"api\" {")
        .unwrap();
    let end = start + f["main.tf"][start..].find("\n}\n").unwrap() + 3;
    let removed =
        "removed {\n  from = aws_instance.api\n\n  lifecycle {\n    destroy = false\n  }\n}\n";
    let mut want = f["main.tf"].clone();
    want.replace_range(start..end, removed);
    want.push_str("\nremoved {\n  from = module.storage.aws_s3_bucket_policy.assets\n\n  lifecycle {\n    destroy = false\n  }\n}\n");
    assert_eq!(main, &want);
    hcl_edit::parser::parse_body(main).unwrap();
    let module = &p.files["modules/storage/main.tf"];
    assert!(!module.contains("aws_s3_bucket_policy"), "{module}");
    assert_eq!(
        module,
        &f["modules/storage/main.tf"].replace("\n\nresource \"aws_s3_bucket_policy\" \"assets\" {\n  bucket = aws_s3_bucket.assets.id\n  policy = jsonencode({ Version = \"2012-10-17\", Statement = [] })\n}\n", "\n")
    );
    let why = |who: &str| {
        p.needs_human
            .iter()
            .find(|h| h.resource == who)
            .map(|h| h.reason.clone())
            .unwrap_or_else(|| panic!("{who}: {:?}", p.needs_human))
    };
    assert!(
        why("aws_instance.web[1]").contains("count"),
        "{}",
        why("aws_instance.web[1]")
    );
    assert!(
        why("aws_instance.worker[\"b\"]")
            .contains("drop the key \"b\" from its for_each (`for_each = var.workers`"),
        "{}",
        why("aws_instance.worker[\"b\"]")
    );
    assert!(
        why("module.storage.aws_s3_bucket.assets")
            .contains("other code refers to aws_s3_bucket.assets"),
        "{}",
        why("module.storage.aws_s3_bucket.assets")
    );
    assert_eq!(p.needs_human.len(), 3, "{:?}", p.needs_human);

    // Once merged (the removed block in the code), nothing more to do.
    let mut merged = f.clone();
    for (path, text) in &p.files {
        merged.insert(path.clone(), text.clone());
    }
    let again = editor::plan_with(&merged, "", &refs[..1], &remove_mode());
    assert!(
        again.files.is_empty() && again.needs_human.is_empty(),
        "{again:?}"
    );

    // A module called from two places.
    let mut two = f.clone();
    two.insert(
        "more.tf".into(),
        "module \"storage2\" {\n  source      = \"./modules/storage\"\n  bucket_name = \"more\"\n}\n".into(),
    );
    let d = [missing(
        "module.storage.aws_s3_bucket_policy.assets",
        "aws_s3_bucket_policy",
    )];
    let refs: Vec<&ProposedDrift> = d.iter().collect();
    let p = editor::plan_with(&two, "", &refs, &remove_mode());
    assert!(p.files.is_empty());
    assert!(
        p.needs_human[0]
            .reason
            .contains("called from several places"),
        "{:?}",
        p.needs_human
    );
}

/// Code with keyed sets of blocks: routes (by destination), NACL rules (by
/// rule number), lifecycle rules (by id).
fn keyed_code() -> Files {
    let mut f = Files::new();
    f.insert(
        "net.tf".into(),
        r#"resource "aws_route_table" "private" {
  vpc_id = "vpc-1"

  route {
    cidr_block     = "0.0.0.0/0"
    nat_gateway_id = "nat-1"
  }

  route {
    cidr_block = "10.9.0.0/16"
    gateway_id = "vgw-1"
  }
}

resource "aws_network_acl" "private" {
  vpc_id = "vpc-1"

  ingress {
    rule_no    = 100
    protocol   = "6"
    action     = "allow"
    cidr_block = "10.0.0.0/8"
    from_port  = 443
    to_port    = 443
  }
}

resource "aws_security_group" "web" {
  name = "web"

  ingress {
    from_port   = 443
    to_port     = 443
    protocol    = "tcp"
    cidr_blocks = ["0.0.0.0/0"]
  }
}

resource "aws_s3_bucket_lifecycle_configuration" "logs" {
  bucket = "logs"

  rule {
    id     = "a"
    status = "Enabled"

    expiration {
      days = 30
    }
  }

  rule {
    id     = "b"
    status = "Enabled"

    expiration {
      days = 30
    }
  }
}
"#
        .into(),
    );
    f
}

#[test]
fn keyed_route_blocks_change_remove_and_refuse_what_is_ambiguous() {
    let f = keyed_code();
    // The default route moved from the NAT gateway to an internet gateway.
    let p = plan(
        &f,
        &[drift(
            "aws_route_table.private",
            "aws_route_table",
            &[(
                "route[\"0.0.0.0/0\"]",
                json!({"nat_gateway_id": "nat-1"}),
                json!({"gateway_id": "igw-1"}),
            )],
        )],
    );
    let out = only(&p, "net.tf");
    let flat = out
        .split(' ')
        .filter(|w| !w.is_empty())
        .collect::<Vec<_>>()
        .join(" ");
    assert!(
        flat.contains("cidr_block = \"0.0.0.0/0\"\n gateway_id = \"igw-1\"\n }"),
        "{out}"
    );
    assert!(!out.contains("nat-1"), "{out}");
    assert!(
        out.contains("gateway_id = \"vgw-1\""),
        "the other route is untouched: {out}"
    );

    // A route gone live: its block goes.
    let p = plan(
        &f,
        &[drift(
            "aws_route_table.private",
            "aws_route_table",
            &[(
                "route[\"10.9.0.0/16\"]",
                json!({"gateway_id": "vgw-1"}),
                Value::Null,
            )],
        )],
    );
    let out = only(&p, "net.tf");
    assert!(
        !out.contains("10.9.0.0/16") && !out.contains("vgw-1"),
        "{out}"
    );
    assert!(out.contains("nat-1"), "{out}");

    // A route added live: which argument holds its destination (IPv4, IPv6
    // or prefix list) is the human's call; the rest of the file still edits.
    let p = plan(
        &f,
        &[
            drift(
                "aws_route_table.private",
                "aws_route_table",
                &[(
                    "route[\"192.168.0.0/16\"]",
                    Value::Null,
                    json!({"vpc_peering_connection_id": "pcx-1"}),
                )],
            ),
            drift(
                "aws_security_group.web",
                "aws_security_group",
                &[(
                    "ingress[\"tcp:22-22:cidr:0.0.0.0/0\"]",
                    Value::Null,
                    json!("debug"),
                )],
            ),
        ],
    );
    assert_eq!(p.needs_human.len(), 1, "{:#?}", p.needs_human);
    assert!(
        p.needs_human[0].reason.contains("add it by hand"),
        "{:#?}",
        p.needs_human
    );
    let out = &p.files["net.tf"];
    hcl_edit::parser::parse_body(out).expect("the result parses");
    assert!(
        out.contains("from_port   = 22") || out.contains("from_port = 22"),
        "{out}"
    );
}

#[test]
fn keyed_nacl_rule_added_with_its_number_and_lifecycle_rule_edited_by_id() {
    let f = keyed_code();
    let p = plan(
        &f,
        &[
            drift(
                "aws_network_acl.private",
                "aws_network_acl",
                &[(
                    "ingress[\"200\"]",
                    Value::Null,
                    json!({"action": "deny", "protocol": "6", "cidr_block": "0.0.0.0/0",
                           "from_port": 22, "to_port": 22}),
                )],
            ),
            drift(
                "aws_s3_bucket_lifecycle_configuration.logs",
                "aws_s3_bucket_lifecycle_configuration",
                &[("rule.b.expiration.days", json!(30), json!(7))],
            ),
        ],
    );
    let out = only(&p, "net.tf");
    // Whitespace aside (the result is `terraform fmt`-aligned).
    let out = out
        .split(' ')
        .filter(|w| !w.is_empty())
        .collect::<Vec<_>>()
        .join(" ");
    assert!(out.contains("rule_no = 200"), "{out}");
    assert!(out.contains("action = \"deny\""), "{out}");
    // Rule "a" keeps 30 days, rule "b" gets 7.
    let a = out.find("id = \"a\"").unwrap();
    let b = out.find("id = \"b\"").unwrap();
    assert!(out[a..b].contains("days = 30"), "{out}");
    assert!(out[b..].contains("days = 7"), "{out}");
}

#[test]
fn a_set_key_is_never_written_as_an_argument() {
    // A path segment that is a key (a CIDR), not an argument name: writing
    // it would break the file. Needs a human; nothing is edited.
    let f = keyed_code();
    let p = plan(
        &f,
        &[drift(
            "aws_network_acl.private",
            "aws_network_acl",
            &[("vpc_id.0.0.0.0/0", Value::Null, json!("x"))],
        )],
    );
    assert_eq!(p.needs_human.len(), 1, "{:#?}", p.needs_human);
    assert!(p.files.is_empty(), "{:#?}", p.files);
}

/// Provider-v3 inline blocks of `aws_s3_bucket` (issue #11): the plain
/// `acceleration_status` and `request_payer` arguments are edited in place
/// (or added), blocks compared in their split type's form (lifecycle rules
/// by id, grants, ...) go to "needs a human" with the live value.
#[test]
fn s3_v3_inline_blocks_are_edited_or_left_to_a_human() {
    let mut f = Files::new();
    let main = "resource \"aws_s3_bucket\" \"legacy\" {\n  bucket              = \"legacy\"\n  acceleration_status = \"Enabled\"\n\n  lifecycle_rule {\n    id      = \"expire\"\n    enabled = true\n\n    expiration {\n      days = 90\n    }\n  }\n}\n";
    f.insert("main.tf".into(), main.into());
    let p = plan(
        &f,
        &[drift(
            "aws_s3_bucket.legacy",
            "aws_s3_bucket",
            &[
                ("acceleration_status", json!("Enabled"), json!("Suspended")),
                ("request_payer", json!("BucketOwner"), json!("Requester")),
                (
                    "lifecycle_rule.rule.expire.expiration.days",
                    json!(90),
                    json!(30),
                ),
                (
                    "grant",
                    json!(["CanonicalUser:o:FULL_CONTROL"]),
                    json!([
                        "CanonicalUser:o:FULL_CONTROL",
                        "Group:http://acs.amazonaws.com/groups/global/AllUsers:READ"
                    ]),
                ),
            ],
        )],
    );
    let out = &p.files["main.tf"];
    assert!(
        out.contains("acceleration_status = \"Suspended\"") && out.contains("request_payer"),
        "{out}"
    );
    assert!(out.contains("days = 90"), "lifecycle left as it is: {out}");
    hcl_edit::parser::parse_body(out).expect("the result parses");
    let humans: Vec<(&str, &str)> = p
        .needs_human
        .iter()
        .map(|h| (h.attribute.as_deref().unwrap_or(""), h.live_value.as_str()))
        .collect();
    assert_eq!(humans.len(), 2, "{:#?}", p.needs_human);
    assert!(
        humans
            .iter()
            .any(|(a, v)| *a == "lifecycle_rule.rule.expire.expiration.days" && *v == "30"),
        "{humans:?}"
    );
    assert!(
        humans
            .iter()
            .any(|(a, v)| *a == "grant" && v.contains("AllUsers:READ")),
        "{humans:?}"
    );
    assert!(p
        .needs_human
        .iter()
        .all(|h| h.reason.contains("inline block")));
}
