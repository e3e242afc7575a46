//! The comparison rule itself: desired (state, canonical) versus live
//! (canonical), attribute by attribute.
//!
//! Why it lives in the provider interface: the engine reports with it, and a
//! provider may use it to settle a live resource as soon as it is read
//! ([`crate::Live::settle`]), so that a scan of 100,000 in-sync instances does
//! not hold a second copy of every one of them. One function, so the two can
//! never disagree. The engine's tests of it are in `src/diff.rs`.
//!
//! The one rule that matters most: a live attribute that is *absent* was not
//! observed, and is never reported as drift.

use crate::{AttrDiff, Attrs, Shape, Value};

/// Compare desired and live attributes. `shape` says how each top-level
/// attribute is compared. Output is sorted by path.
pub fn diff(desired: &Attrs, live: &Attrs, shape: impl Fn(&str) -> Shape) -> Vec<AttrDiff> {
    let mut out = Vec::new();
    for (key, d) in desired {
        let Some(l) = live.get(key) else { continue };
        let path = vec![key.clone()];
        match (shape(key), d, l) {
            (Shape::Map, Value::Object(dm), Value::Object(lm)) => {
                let keys: std::collections::BTreeSet<&String> =
                    dm.keys().chain(lm.keys()).collect();
                for k in keys {
                    let (dv, lv) = (
                        dm.get(k).unwrap_or(&Value::Null),
                        lm.get(k).unwrap_or(&Value::Null),
                    );
                    if dv != lv {
                        out.push(AttrDiff {
                            path: vec![key.clone(), k.clone()],
                            expected: dv.clone(),
                            actual: lv.clone(),
                        });
                    }
                }
            }
            (Shape::Block, Value::Object(_), Value::Object(_)) => block(path, d, l, &mut out),
            _ => {
                if d != l {
                    out.push(AttrDiff {
                        path,
                        expected: d.clone(),
                        actual: l.clone(),
                    });
                }
            }
        }
    }
    out.sort_by(|a, b| a.path.cmp(&b.path));
    out
}

fn block(path: Vec<String>, d: &Value, l: &Value, out: &mut Vec<AttrDiff>) {
    match (d, l) {
        (Value::Object(dm), Value::Object(lm)) => {
            for (k, dv) in dm {
                if let Some(lv) = lm.get(k) {
                    let mut p = path.clone();
                    p.push(k.clone());
                    block(p, dv, lv, out);
                }
            }
        }
        _ if d != l => out.push(AttrDiff {
            path,
            expected: d.clone(),
            actual: l.clone(),
        }),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use crate::{Attrs, Live, Shape};
    use serde_json::json;

    fn attrs(v: serde_json::Value) -> Attrs {
        v.as_object().unwrap().clone()
    }

    fn shape(k: &str) -> Shape {
        if k == "tags" {
            Shape::Map
        } else {
            Shape::Block
        }
    }

    #[test]
    fn an_in_sync_live_resource_settles_to_its_id_and_still_compares_equal() {
        let desired = attrs(json!({"instance_type": "t3.micro", "tags": {"a": "1"},
                                   "metadata_options": {"http_tokens": "required"}}));
        // Live carries more than the state declares (a nested key, an
        // attribute not compared): still in sync.
        let mut live = Live {
            id: "i-1".into(),
            attrs: attrs(json!({"instance_type": "t3.micro", "tags": {"a": "1"},
                                "metadata_options": {"http_tokens": "required", "hop": 2},
                                "extra": true})),
            ..Default::default()
        };
        assert!(live.settle(&desired, shape));
        assert!(live.attrs.is_empty());
        assert_eq!(live.id, "i-1");
        assert!(super::diff(&desired, &live.attrs, shape).is_empty());
        // An attribute added after settling is compared as usual.
        live.attrs.insert("instance_type".into(), json!("m5.large"));
        assert_eq!(super::diff(&desired, &live.attrs, shape).len(), 1);
    }

    #[test]
    fn a_drifted_live_resource_keeps_every_attribute() {
        let desired = attrs(json!({"instance_type": "t3.micro", "tags": {"a": "1"}}));
        for drifted in [
            json!({"instance_type": "m5.large", "tags": {"a": "1"}}),
            json!({"instance_type": "t3.micro", "tags": {"a": "1", "b": "2"}}),
            json!({"instance_type": "t3.micro", "tags": {}}),
        ] {
            let mut live = Live {
                id: "i-1".into(),
                attrs: attrs(drifted.clone()),
                ..Default::default()
            };
            assert!(!live.settle(&desired, shape));
            assert_eq!(live.attrs, attrs(drifted));
        }
    }
}
