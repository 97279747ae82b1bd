//! The pure core: values and rules of the depot, decided from values alone.
//!
//! Nothing here does I/O, reads a clock, or knows about SQLite, HTTP, MQTT or
//! Modbus; a test (`tests/tidy.rs`) fails if a file here names them. Adapters
//! load values, ask the domain to decide, and write what it decided.

pub mod access;
pub mod article;
pub mod booking;
pub mod chain;
pub mod clock;
pub mod delivery;
pub mod epoch;
pub mod gate;
pub mod ledger;
pub mod location;
pub mod login;
pub mod quantity;
pub mod rate;
pub mod stock;
pub mod utilization;

/// A value that failed validation: which field and why, in words a user can act on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    /// The field's name as the API spells it, e.g. `gtin`.
    pub field: &'static str,
    /// What is wrong with it.
    pub reason: String,
}

impl FieldError {
    pub(crate) fn new(field: &'static str, reason: impl Into<String>) -> Self {
        Self {
            field,
            reason: reason.into(),
        }
    }
}

impl std::fmt::Display for FieldError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.field, self.reason)
    }
}

impl std::error::Error for FieldError {}

/// Declares a string-backed enum with its wire names, `parse` and `as_str`.
macro_rules! named_enum {
    ($(#[$meta:meta])* $name:ident, $field:literal { $($(#[$vmeta:meta])* $variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum $name { $($(#[$vmeta])* $variant),+ }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The wire name.
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }

            /// Parses a wire name.
            pub fn parse(text: &str) -> Result<Self, $crate::domain::FieldError> {
                match text {
                    $($text => Ok($name::$variant),)+
                    _ => Err($crate::domain::FieldError::new(
                        $field,
                        format!(
                            "'{}' is not one of: {}",
                            text,
                            [$($text),+].join(", ")
                        ),
                    )),
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}
pub(crate) use named_enum;
