//! The machinery of the built-in strategy registry: what a strategy file provides
//! ([`BuiltinStrategy`]), one table entry per strategy ([`StrategyEntry`]), the errors,
//! and the `registry!` macro that turns the one-line-per-strategy list in
//! `builtin/mod.rs` into the [`Builtin`](super::Builtin) and
//! [`BuiltinConfig`](super::BuiltinConfig) enums, their static dispatch and the
//! [`BUILTIN`](super::BUILTIN) table.
//!
//! Nothing here names a strategy: adding one touches its own file and one line of the
//! list, and every name list (config parsing, the CLI's help, error messages) comes
//! from the table.

use core::fmt;

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::{BUILTIN, BuiltinConfig};
use crate::strategy::Strategy;

/// What a built-in strategy's file provides besides its [`Strategy`] impl.
///
/// The registry name is given in the registry list and becomes the inherent constant
/// `NAME` of the type, which its [`Strategy::name`] returns.
pub trait BuiltinStrategy: Strategy + Sized {
    /// The configuration: a serde struct whose every field has a default (an empty
    /// table selects the defaults) and which refuses unknown fields.
    type Config: Clone + fmt::Debug + Default + PartialEq + Eq + Serialize + DeserializeOwned;

    /// One line for the CLI's help and the docs.
    const SUMMARY: &'static str;

    /// The strategy, after validating `config`.
    fn from_config(config: Self::Config) -> Result<Self, ConfigError>;
}

/// One row of the registry table.
#[derive(Clone, Copy, Debug)]
pub struct StrategyEntry {
    /// Registry name (the `name` of a configuration, the `--strategy` value).
    pub name: &'static str,
    /// One line describing the strategy.
    pub summary: &'static str,
    /// Its default configuration.
    pub default_config: fn() -> BuiltinConfig,
}

/// The registry entry named `name`.
pub fn lookup(name: &str) -> Result<&'static StrategyEntry, RegistryError> {
    BUILTIN
        .iter()
        .find(|e| e.name == name)
        .ok_or_else(|| RegistryError::Unknown {
            name: name.to_owned(),
        })
}

/// The registry names, comma-separated, in table order (for help texts and errors).
#[derive(Clone, Copy, Debug, Default)]
pub struct KnownNames;

impl fmt::Display for KnownNames {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in BUILTIN.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            f.write_str(e.name)?;
        }
        Ok(())
    }
}

/// Why a configuration was refused: which field, and why.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {reason}")]
pub struct ConfigError {
    /// The offending field.
    pub field: &'static str,
    /// What is wrong with it.
    pub reason: &'static str,
}

/// Why a strategy could not be built from its name and configuration.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RegistryError {
    /// No strategy has this name.
    #[error("unknown strategy {name:?} (known: {KnownNames})")]
    Unknown {
        /// The name asked for.
        name: String,
    },
    /// The configuration did not deserialize.
    #[error("strategy {name}: bad configuration: {message}")]
    Parse {
        /// The strategy.
        name: &'static str,
        /// The deserializer's message.
        message: String,
    },
    /// The configuration deserialized but is not valid.
    #[error("strategy {name}: {error}")]
    Invalid {
        /// The strategy.
        name: &'static str,
        /// What is wrong.
        error: ConfigError,
    },
}

/// Wraps a [`ConfigError`] for strategy `name`.
pub(super) fn invalid(name: &'static str) -> impl Fn(ConfigError) -> RegistryError {
    move |error| RegistryError::Invalid { name, error }
}

/// Generates the registry from a list of `"name" => module::Type,` lines: declares and
/// re-exports each module, gives each type its `NAME`, and builds [`super::Builtin`],
/// [`super::BuiltinConfig`], [`super::BUILTIN`] and the name-driven parsing.
macro_rules! registry {
    ($($name:literal => $module:ident :: $strategy:ident,)+) => {
        $(
            mod $module;
            pub use $module::*;

            impl $strategy {
                /// The registry name (`name` in a configuration, `--strategy` value).
                pub const NAME: &'static str = $name;
            }
        )+

        /// Any built-in strategy (static dispatch).
        #[derive(Clone, Debug)]
        pub enum Builtin {
            $(
                #[doc = concat!("A [`", stringify!($strategy), "`] (`", $name, "`).")]
                $strategy($strategy),
            )+
        }

        /// A configuration of any built-in strategy, tagged by its registry name
        /// (`name = "market_maker"` plus the strategy's fields).
        #[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
        #[serde(tag = "name")]
        pub enum BuiltinConfig {
            $(
                #[doc = concat!("Configuration of a [`", stringify!($strategy), "`].")]
                #[serde(rename = $name)]
                $strategy(<$strategy as $crate::builtin::BuiltinStrategy>::Config),
            )+
        }

        /// The registry, in the order the CLI lists it.
        pub const BUILTIN: &[$crate::builtin::StrategyEntry] = &[
            $(
                $crate::builtin::StrategyEntry {
                    name: $name,
                    summary: <$strategy as $crate::builtin::BuiltinStrategy>::SUMMARY,
                    default_config: || BuiltinConfig::$strategy(Default::default()),
                },
            )+
        ];

        /// The registry names, in the order the CLI lists them.
        pub const NAMES: &[&str] = &[$($name),+];

        impl BuiltinConfig {
            /// Deserializes the configuration of the strategy registered as `name` from
            /// any serde deserializer (a TOML table, for example), without validating it.
            pub fn parse<'de, D: serde::Deserializer<'de>>(
                name: &str,
                config: D,
            ) -> Result<BuiltinConfig, $crate::builtin::RegistryError> {
                use serde::Deserialize as _;
                match name {
                    $(
                        $name => <$strategy as $crate::builtin::BuiltinStrategy>::Config::deserialize(config)
                            .map(BuiltinConfig::$strategy)
                            .map_err(|e| $crate::builtin::RegistryError::Parse {
                                name: $name,
                                message: e.to_string(),
                            }),
                    )+
                    other => Err($crate::builtin::RegistryError::Unknown {
                        name: other.to_owned(),
                    }),
                }
            }

            /// The registry name of the strategy this configures.
            pub const fn name(&self) -> &'static str {
                match self {
                    $(BuiltinConfig::$strategy(_) => $name,)+
                }
            }
        }

        impl Builtin {
            /// The strategy a configuration describes, after validating it.
            pub fn from_config(
                config: BuiltinConfig,
            ) -> Result<Builtin, $crate::builtin::RegistryError> {
                match config {
                    $(
                        BuiltinConfig::$strategy(c) => {
                            <$strategy as $crate::builtin::BuiltinStrategy>::from_config(c)
                                .map(Builtin::$strategy)
                                .map_err($crate::builtin::registry::invalid($name))
                        }
                    )+
                }
            }
        }

        impl $crate::strategy::Strategy for Builtin {
            fn name(&self) -> &str {
                match self {
                    $(Builtin::$strategy(s) => s.name(),)+
                }
            }

            fn instruments(&self) -> &[tickwarp_wire::InstrumentId] {
                match self {
                    $(Builtin::$strategy(s) => s.instruments(),)+
                }
            }

            fn on_tick(
                &mut self,
                tick: &$crate::event::Tick<'_>,
                ctx: &mut $crate::ctx::Ctx<'_>,
            ) {
                match self {
                    $(Builtin::$strategy(s) => s.on_tick(tick, ctx),)+
                }
            }

            fn on_execution(
                &mut self,
                report: &$crate::strategy::ExecReport<'_>,
                ctx: &mut $crate::ctx::Ctx<'_>,
            ) {
                match self {
                    $(Builtin::$strategy(s) => s.on_execution(report, ctx),)+
                }
            }

            fn on_timer(&mut self, now: tickwarp_wire::Nanos, ctx: &mut $crate::ctx::Ctx<'_>) {
                match self {
                    $(Builtin::$strategy(s) => s.on_timer(now, ctx),)+
                }
            }

            fn on_pricing(
                &mut self,
                result: &tickwarp_pricing::JobResult,
                ctx: &mut $crate::ctx::Ctx<'_>,
            ) {
                match self {
                    $(Builtin::$strategy(s) => s.on_pricing(result, ctx),)+
                }
            }
        }
    };
}

pub(super) use registry;
