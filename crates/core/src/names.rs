//! Enums that are stored and sent as fixed lower-case names (`pending_review`, `high`,
//! `request.submitted` …): one declaration gives each its name table, `as_str`, `FromStr`,
//! `Display` and serde, so a name is written exactly once.

use std::fmt;

/// A text that is not one of the names an enum accepts (from the store, a query string or a
/// file); its `Display` lists the names that would have been accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {what} {value:?}: expected one of {}", Expected(expected))]
pub struct UnknownName {
    /// What was being parsed, in words ("request status").
    pub what: &'static str,
    /// The text that was given.
    pub value: String,
    /// Every accepted name.
    pub expected: &'static [&'static str],
}

struct Expected(&'static [&'static str]);

impl fmt::Display for Expected {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, name) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            f.write_str(name)?;
        }
        Ok(())
    }
}

/// Declares a fieldless enum whose variants have fixed names, used by serde, `as_str`,
/// `FromStr` (error: [`UnknownName`]) and `Display`. `ALL` lists the variants in declaration
/// order.
macro_rules! named_enum {
    (
        $(#[$meta:meta])*
        $vis:vis enum $name:ident ($what:literal) {
            $( $(#[$vmeta:meta])* $variant:ident = $text:literal, )+
        }
    ) => {
        $(#[$meta])*
        #[derive(
            Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord,
            serde::Serialize, serde::Deserialize,
        )]
        $vis enum $name {
            $( $(#[$vmeta])* #[serde(rename = $text)] $variant, )+
        }

        impl $name {
            /// Every variant, in declaration order.
            pub const ALL: &'static [Self] = &[$(Self::$variant),+];

            /// The names, in the order of [`Self::ALL`].
            pub const NAMES: &'static [&'static str] = &[$($text),+];

            /// The stored and serialized name.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $(Self::$variant => $text,)+
                }
            }
        }

        impl ::std::fmt::Display for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl ::std::str::FromStr for $name {
            type Err = $crate::names::UnknownName;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s {
                    $($text => Ok(Self::$variant),)+
                    _ => Err($crate::names::UnknownName {
                        what: $what,
                        value: s.to_owned(),
                        expected: Self::NAMES,
                    }),
                }
            }
        }
    };
}

pub(crate) use named_enum;

#[cfg(test)]
mod tests {
    named_enum! {
        /// A test enum.
        enum Colour ("colour") {
            Red = "red",
            DarkBlue = "dark_blue",
        }
    }

    #[test]
    fn names_round_trip_through_text_and_serde() {
        for &colour in Colour::ALL {
            assert_eq!(colour.as_str().parse::<Colour>(), Ok(colour));
            assert_eq!(colour.to_string(), colour.as_str());
            let json = serde_json::to_string(&colour).unwrap();
            assert_eq!(json, format!("\"{}\"", colour.as_str()));
            assert_eq!(serde_json::from_str::<Colour>(&json).unwrap(), colour);
        }
        assert_eq!(Colour::NAMES, ["red", "dark_blue"]);
    }

    #[test]
    fn an_unknown_name_lists_the_accepted_ones() {
        let err = "Red".parse::<Colour>().unwrap_err();
        assert_eq!(err.value, "Red");
        assert_eq!(
            err.to_string(),
            r#"unknown colour "Red": expected one of red, dark_blue"#
        );
        assert!(serde_json::from_str::<Colour>("\"green\"").is_err());
    }
}
