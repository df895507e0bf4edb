//! The configuration's key tree, for tools that check a configuration without the broker: the
//! NixOS module checks `services.starling.settings` against `nixos/config-keys.json` at
//! evaluation time. The unit test below keeps that file equal to what [`Config`] accepts.

use serde_json::{Map, Value};

use super::{BridgeConfig, ClusterConfig, Config, ListenerConfig};

/// Every table's keys: a table is an object, a value `null`, and `"*"` stands for any name
/// (the named `[listeners.<name>]` tables).
pub fn key_tree() -> Value {
    let mut full = Config { cluster: Some(ClusterConfig::default()), ..Config::default() };
    full.listeners.clear();
    let mut tree = shape(&serde_json::to_value(&full).unwrap_or(Value::Null));
    if let Value::Object(m) = &mut tree {
        let listener = shape(&serde_json::to_value(ListenerConfig::default()).unwrap_or(Value::Null));
        m.insert("listeners".into(), Value::Object(Map::from_iter([("*".to_string(), listener)])));
        let bridge = BridgeConfig { tls: Some(Default::default()), ..BridgeConfig::default() };
        let bridge = shape(&serde_json::to_value(bridge).unwrap_or(Value::Null));
        m.insert("bridges".into(), Value::Object(Map::from_iter([("*".to_string(), bridge)])));
    }
    tree
}

/// Objects keep their keys; everything else becomes `null`.
fn shape(v: &Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(m.iter().map(|(k, v)| (k.clone(), shape(v))).collect()),
        _ => Value::Null,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `STARLING_UPDATE_KEYS=1 cargo test --lib config_keys` rewrites the file.
    #[test]
    fn config_keys_file_matches_the_code() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("nixos/config-keys.json");
        let want = serde_json::to_string_pretty(&key_tree()).expect("JSON") + "\n";
        if std::env::var_os("STARLING_UPDATE_KEYS").is_some() {
            std::fs::write(&path, &want).expect("write nixos/config-keys.json");
        }
        let have = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            have == want,
            "nixos/config-keys.json is not the configuration's key tree; run \
             STARLING_UPDATE_KEYS=1 cargo test --lib config_keys (it should be):\n{want}"
        );
    }
}
