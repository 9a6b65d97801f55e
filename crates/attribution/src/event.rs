use adloop_core::{
    AdvertiserId, CampaignId, ConversionId, CreativeId, HouseholdId, ImpressionId, Money,
    Timestamp, UserId,
};
use serde::{Deserialize, Serialize};

/// An ad shown (or, for a holdout control identity, a *ghost*: the opportunity the campaign
/// won but did not show, recorded so that the control group can be measured).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Impression {
    /// The impression (receipt) id; clicks refer to it.
    pub id: ImpressionId,
    /// When it was shown.
    pub time: Timestamp,
    /// The viewer.
    pub user: UserId,
    /// The viewer's household.
    pub household: HouseholdId,
    /// The advertiser that owns the campaign.
    pub advertiser: AdvertiserId,
    /// The campaign.
    pub campaign: CampaignId,
    /// The creative shown.
    pub creative: CreativeId,
    /// What the impression cost the advertiser (zero when unknown); CPA, ROAS and iROAS
    /// divide by the sum of these.
    pub cost: Money,
    /// `true` for a ghost impression (holdout control: not shown, never a touch).
    pub ghost: bool,
}

/// A click on an impression. Identity, advertiser and campaign come from the impression;
/// a click whose impression is unknown is counted as orphaned.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Click {
    /// The impression clicked.
    pub impression: ImpressionId,
    /// When it was clicked.
    pub time: Timestamp,
}

/// What kind of conversion happened.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum ConversionKind {
    /// A subscription started.
    Subscription,
    /// A purchase.
    Purchase,
    /// An advertiser-defined action, by the advertiser's own code.
    Custom(u32),
}

/// An order id: conversions of one advertiser with the same order id are one purchase
/// reported more than once (dedup keeps the first).
///
/// It is an opaque `u64`; [`OrderId::from_text`] derives one from a string order number with
/// a stable 64-bit hash (two distinct strings collide with probability about 2⁻⁶⁴ per pair).
/// Callers that need exactness map strings to numbers themselves (the `attribute` example
/// interns them).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct OrderId(pub u64);

impl OrderId {
    /// A stable id for a textual order number (FNV-1a then a 64-bit finalizer; the same on
    /// every platform and release).
    pub fn from_text(text: &str) -> OrderId {
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for b in text.bytes() {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
        OrderId(crate::holdout::mix64(h))
    }
}

/// A subscription, purchase or other action reported by the advertiser.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Conversion {
    /// The conversion id (unique per report; duplicates are detected by order id).
    pub id: ConversionId,
    /// When it happened.
    pub time: Timestamp,
    /// The person who converted (as known to the advertiser's match).
    pub user: UserId,
    /// Their household.
    pub household: HouseholdId,
    /// The advertiser it belongs to; only that advertiser's touches are eligible.
    pub advertiser: AdvertiserId,
    /// What happened.
    pub kind: ConversionKind,
    /// Its value, if reported.
    pub value: Option<Money>,
    /// Its order id, if reported (dedup key with the advertiser).
    pub order_id: Option<OrderId>,
}

/// One event of the attribution stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Event {
    /// An impression (or ghost impression).
    Impression(Impression),
    /// A click.
    Click(Click),
    /// A conversion.
    Conversion(Conversion),
}

impl Event {
    /// The event time.
    #[inline]
    pub fn time(&self) -> Timestamp {
        match self {
            Event::Impression(i) => i.time,
            Event::Click(c) => c.time,
            Event::Conversion(c) => c.time,
        }
    }

    /// The kind of event.
    #[inline]
    pub fn kind(&self) -> EventKind {
        match self {
            Event::Impression(_) => EventKind::Impression,
            Event::Click(_) => EventKind::Click,
            Event::Conversion(_) => EventKind::Conversion,
        }
    }
}

impl From<Impression> for Event {
    fn from(i: Impression) -> Event {
        Event::Impression(i)
    }
}

impl From<Click> for Event {
    fn from(c: Click) -> Event {
        Event::Click(c)
    }
}

impl From<Conversion> for Event {
    fn from(c: Conversion) -> Event {
        Event::Conversion(c)
    }
}

/// The kind of an [`Event`], for counters and late-event reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum EventKind {
    /// [`Event::Impression`].
    Impression,
    /// [`Event::Click`].
    Click,
    /// [`Event::Conversion`].
    Conversion,
}

/// Words in the fixed-size encoding the lock-free queues carry.
pub(crate) const EVENT_WORDS: usize = 9;

const TAG_IMPRESSION: u64 = 1;
const TAG_CLICK: u64 = 2;
const TAG_CONVERSION: u64 = 3;

impl Event {
    /// Packs the event into plain words so a queue slot can hold it in atomics (no `unsafe`,
    /// no allocation).
    pub(crate) fn to_words(self) -> [u64; EVENT_WORDS] {
        let mut w = [0u64; EVENT_WORDS];
        match self {
            Event::Impression(i) => {
                w[0] = TAG_IMPRESSION | (u64::from(i.ghost) << 8);
                w[1] = i.id.0;
                w[2] = i.time.as_millis() as u64;
                w[3] = i.user.0;
                w[4] = i.household.0;
                w[5] = i.advertiser.0;
                w[6] = i.campaign.0;
                w[7] = i.creative.0;
                w[8] = i.cost.micros() as u64;
            }
            Event::Click(c) => {
                w[0] = TAG_CLICK;
                w[1] = c.impression.0;
                w[2] = c.time.as_millis() as u64;
            }
            Event::Conversion(c) => {
                let (kind, custom) = match c.kind {
                    ConversionKind::Subscription => (0u64, 0u32),
                    ConversionKind::Purchase => (1, 0),
                    ConversionKind::Custom(x) => (2, x),
                };
                w[0] = TAG_CONVERSION
                    | (kind << 8)
                    | (u64::from(c.value.is_some()) << 16)
                    | (u64::from(c.order_id.is_some()) << 17)
                    | (u64::from(custom) << 32);
                w[1] = c.id.0;
                w[2] = c.time.as_millis() as u64;
                w[3] = c.user.0;
                w[4] = c.household.0;
                w[5] = c.advertiser.0;
                w[6] = c.value.map_or(0, |v| v.micros() as u64);
                w[7] = c.order_id.map_or(0, |o| o.0);
            }
        }
        w
    }

    /// The inverse of [`Event::to_words`]; `None` only for words no event produced.
    pub(crate) fn from_words(w: &[u64; EVENT_WORDS]) -> Option<Event> {
        let time = Timestamp::from_millis(w[2] as i64);
        match w[0] & 0xff {
            TAG_IMPRESSION => Some(Event::Impression(Impression {
                id: ImpressionId(w[1]),
                time,
                user: UserId(w[3]),
                household: HouseholdId(w[4]),
                advertiser: AdvertiserId(w[5]),
                campaign: CampaignId(w[6]),
                creative: CreativeId(w[7]),
                cost: Money::from_micros(w[8] as i64),
                ghost: (w[0] >> 8) & 1 == 1,
            })),
            TAG_CLICK => Some(Event::Click(Click {
                impression: ImpressionId(w[1]),
                time,
            })),
            TAG_CONVERSION => {
                let kind = match (w[0] >> 8) & 0xff {
                    0 => ConversionKind::Subscription,
                    1 => ConversionKind::Purchase,
                    2 => ConversionKind::Custom((w[0] >> 32) as u32),
                    _ => return None,
                };
                Some(Event::Conversion(Conversion {
                    id: ConversionId(w[1]),
                    time,
                    user: UserId(w[3]),
                    household: HouseholdId(w[4]),
                    advertiser: AdvertiserId(w[5]),
                    kind,
                    value: ((w[0] >> 16) & 1 == 1).then(|| Money::from_micros(w[6] as i64)),
                    order_id: ((w[0] >> 17) & 1 == 1).then_some(OrderId(w[7])),
                }))
            }
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn arb_event() -> impl Strategy<Value = Event> {
        let imp = (
            any::<u64>(),
            any::<i64>(),
            any::<[u64; 5]>(),
            any::<i64>(),
            any::<bool>(),
        )
            .prop_map(|(id, t, ids, cost, ghost)| {
                Event::Impression(Impression {
                    id: ImpressionId(id),
                    time: Timestamp::from_millis(t),
                    user: UserId(ids[0]),
                    household: HouseholdId(ids[1]),
                    advertiser: AdvertiserId(ids[2]),
                    campaign: CampaignId(ids[3]),
                    creative: CreativeId(ids[4]),
                    cost: Money::from_micros(cost),
                    ghost,
                })
            });
        let click = (any::<u64>(), any::<i64>()).prop_map(|(i, t)| {
            Event::Click(Click {
                impression: ImpressionId(i),
                time: Timestamp::from_millis(t),
            })
        });
        let kind = prop_oneof![
            Just(ConversionKind::Subscription),
            Just(ConversionKind::Purchase),
            any::<u32>().prop_map(ConversionKind::Custom)
        ];
        let conv = (
            any::<[u64; 4]>(),
            any::<i64>(),
            kind,
            any::<Option<i64>>(),
            any::<Option<u64>>(),
        )
            .prop_map(|(ids, t, kind, value, order)| {
                Event::Conversion(Conversion {
                    id: ConversionId(ids[0]),
                    time: Timestamp::from_millis(t),
                    user: UserId(ids[1]),
                    household: HouseholdId(ids[2]),
                    advertiser: AdvertiserId(ids[3]),
                    kind,
                    value: value.map(Money::from_micros),
                    order_id: order.map(OrderId),
                })
            });
        prop_oneof![imp, click, conv]
    }

    proptest! {
        #[test]
        fn words_round_trip(e in arb_event()) {
            prop_assert_eq!(Event::from_words(&e.to_words()), Some(e));
        }
    }

    #[test]
    fn order_ids_from_text_are_stable() {
        assert_eq!(OrderId::from_text("A-1"), OrderId::from_text("A-1"));
        assert_ne!(OrderId::from_text("A-1"), OrderId::from_text("A-2"));
    }
}
