//! The `STARLING_*` environment layer of the configuration.
//!
//! The client commands (`starling ctl`) share the prefix for their own settings
//! (`STARLING_API_KEY`, `STARLING_ADMIN_URL`, ...). An operator sets them in the same shell or
//! pod as the broker, so the broker's layer leaves them out: otherwise they would be unknown keys
//! that stop `serve` and `config check`. ctl's unit tests keep [`CLIENT_VARIABLES`] equal to the
//! variables its flags read.

use figment::providers::Env;

/// Variables that belong to the client commands, not to the broker's configuration.
pub const CLIENT_VARIABLES: &[&str] = &[
    "STARLING_ADMIN_URL",
    "STARLING_API_KEY",
    "STARLING_ADMIN_CA",
    "STARLING_ADMIN_CLIENT_CERT",
    "STARLING_ADMIN_CLIENT_KEY",
];

/// `STARLING_` variables, `__` between table names, the client variables left out.
pub fn layer() -> Env {
    Env::prefixed("STARLING_")
        .filter(|key| !CLIENT_VARIABLES.iter().any(|v| v.strip_prefix("STARLING_").is_some_and(|v| key == v)))
        .split("__")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Config, Overrides};

    #[test]
    fn client_variables_are_not_configuration() {
        figment::Jail::expect_with(|jail| {
            for v in CLIENT_VARIABLES {
                jail.set_env(v, "x");
            }
            jail.set_env("STARLING_NODE_NAME", "from-env");
            let c = Config::load_with_env(None, &Overrides::default(), layer()).map_err(|e| e.to_string())?;
            assert_eq!(c.node_name, "from-env");
            Ok(())
        });
    }
}
