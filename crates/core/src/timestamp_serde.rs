//! Serde adapters that write times in the one fixed form of [`crate::timestamp`] and read any
//! RFC 3339 time: `#[serde(with = "countersign_core::timestamp_serde")]` for an
//! `OffsetDateTime`, `…::timestamp_serde::option` for an `Option<OffsetDateTime>`.

use std::borrow::Cow;

use serde::de::Error;
use serde::{Deserialize, Deserializer, Serializer};
use time::OffsetDateTime;

use crate::timestamp;

pub fn serialize<S: Serializer>(at: &OffsetDateTime, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&timestamp::format(*at))
}

pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<OffsetDateTime, D::Error> {
    let text = Cow::<'de, str>::deserialize(deserializer)?;
    timestamp::parse(&text).map_err(D::Error::custom)
}

/// The same for an optional time (`null` when `None`).
pub mod option {
    use std::borrow::Cow;

    use serde::de::Error;
    use serde::{Deserialize, Deserializer, Serializer};
    use time::OffsetDateTime;

    use crate::timestamp;

    pub fn serialize<S: Serializer>(
        at: &Option<OffsetDateTime>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        match at {
            Some(at) => serializer.serialize_some(&timestamp::format(*at)),
            None => serializer.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<OffsetDateTime>, D::Error> {
        Option::<Cow<'de, str>>::deserialize(deserializer)?
            .map(|text| timestamp::parse(&text).map_err(D::Error::custom))
            .transpose()
    }
}

#[cfg(test)]
mod tests {
    use serde::{Deserialize, Serialize};
    use time::macros::datetime;

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Times {
        #[serde(with = "super")]
        at: time::OffsetDateTime,
        #[serde(with = "super::option")]
        maybe: Option<time::OffsetDateTime>,
    }

    #[test]
    fn writes_the_fixed_form_and_reads_it_back() {
        let times = Times {
            at: datetime!(2025-01-02 03:04:05.25 UTC),
            maybe: Some(datetime!(2025-01-02 03:04:06 UTC)),
        };
        let json = serde_json::to_string(&times).unwrap();
        assert_eq!(
            json,
            r#"{"at":"2025-01-02T03:04:05.250000Z","maybe":"2025-01-02T03:04:06.000000Z"}"#
        );
        assert_eq!(serde_json::from_str::<Times>(&json).unwrap(), times);
    }

    #[test]
    fn reads_other_rfc3339_forms_and_null() {
        let times: Times =
            serde_json::from_str(r#"{"at":"2025-01-02T05:04:05+02:00","maybe":null}"#).unwrap();
        assert_eq!(times.at, datetime!(2025-01-02 03:04:05 UTC));
        assert_eq!(times.maybe, None);
        assert!(serde_json::from_str::<Times>(r#"{"at":"soon","maybe":null}"#).is_err());
    }
}
