use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        ///
        /// A transparent `u64` newtype: serialized as a plain integer, displayed as one.
        #[derive(
            Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
        )]
        #[serde(transparent)]
        pub struct $name(pub u64);

        impl $name {
            /// Wraps a raw id.
            #[inline]
            pub const fn new(raw: u64) -> Self {
                Self(raw)
            }

            /// The raw id.
            #[inline]
            pub const fn get(self) -> u64 {
                self.0
            }
        }

        impl From<u64> for $name {
            #[inline]
            fn from(raw: u64) -> Self {
                Self(raw)
            }
        }

        impl From<$name> for u64 {
            #[inline]
            fn from(id: $name) -> u64 {
                id.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(&self.0, f)
            }
        }

        impl FromStr for $name {
            type Err = std::num::ParseIntError;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                s.parse::<u64>().map(Self)
            }
        }
    };
}

id_type!(
    /// A campaign: one budget, one targeting expression, one bid.
    CampaignId
);
id_type!(
    /// A creative (one asset variant) of a campaign.
    CreativeId
);
id_type!(
    /// An advertiser, the party that owns campaigns and receives conversions.
    AdvertiserId
);
id_type!(
    /// A private-marketplace or programmatic-guaranteed deal.
    DealId
);
id_type!(
    /// A viewer (a profile on the streaming service).
    UserId
);
id_type!(
    /// A household: the join key for TV measurement and most frequency caps.
    HouseholdId
);
id_type!(
    /// An audience segment (a targeting attribute value).
    SegmentId
);
id_type!(
    /// One served impression (also the receipt number of a placement).
    ImpressionId
);
id_type!(
    /// One conversion event (a subscription, a purchase, …).
    ConversionId
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_as_plain_integers() {
        let id = CampaignId::new(42);
        assert_eq!(serde_json::to_string(&id).unwrap(), "42");
        assert_eq!(serde_json::from_str::<CampaignId>("42").unwrap(), id);
        assert_eq!(id.to_string(), "42");
        assert_eq!("42".parse::<CampaignId>().unwrap(), id);
        assert!("-1".parse::<CampaignId>().is_err());
        assert_eq!(u64::from(HouseholdId::from(7)), 7);
    }
}
