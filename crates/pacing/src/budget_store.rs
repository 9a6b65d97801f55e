//! The budget store: where ledgers live, behind a trait so a distributed implementation
//! (budgets leased in slices from a shared store) can replace the in-process one.
//!
//! # Synchronization
//! [`InProcessBudgetStore`] keeps `Arc<BudgetLedger>`s in a `papaya::HashMap` (lock-free
//! reads under an epoch guard); every money operation is then the ledger's own atomic
//! protocol (see the ledger's docs). No `Ordering` is chosen in this module.

use crate::error::Error;
use crate::ledger::{BudgetConfig, BudgetLedger, Expired, LedgerSnapshot, Reservation, Spend};
use adloop_core::{CampaignId, Money, Timestamp};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// Where campaign budgets are kept and charged.
///
/// The in-process [`InProcessBudgetStore`] is the default. An implementation on a shared
/// store would lease each process a slice of the budget and reserve locally against it;
/// the trait is shaped so the decide path never waits on the network: `try_reserve` must
/// answer from local state.
pub trait BudgetStore: Send + Sync {
    /// Reserves `amount` of `campaign`'s budget at `now`.
    fn try_reserve(
        &self,
        campaign: CampaignId,
        amount: Money,
        now: Timestamp,
    ) -> Result<Reservation, Error>;
    /// Charges `actual ≤ reservation.amount` and returns the rest.
    fn commit(&self, reservation: &Reservation, actual: Money) -> Result<(), Error>;
    /// Returns the whole reservation.
    fn release(&self, reservation: &Reservation) -> Result<(), Error>;
    /// Expires every reservation whose time-to-live has passed, in every campaign.
    fn expire(&self, now: Timestamp) -> Expired;
    /// What `campaign` has spent, seen at `now`.
    fn spend(&self, campaign: CampaignId, now: Timestamp) -> Result<Spend, Error>;
}

/// Persistent state of an [`InProcessBudgetStore`]: one snapshot per ledger.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BudgetStoreSnapshot {
    /// The ledgers, in campaign order.
    pub ledgers: Vec<LedgerSnapshot>,
}

/// The in-process [`BudgetStore`]: one [`BudgetLedger`] per campaign in a lock-free map.
///
/// Callers that hold a campaign's `Arc<BudgetLedger>` (from [`ledger`](Self::ledger))
/// can skip the map lookup entirely on the hot path.
pub struct InProcessBudgetStore {
    ledgers: papaya::HashMap<CampaignId, Arc<BudgetLedger>, ahash::RandomState>,
}

impl std::fmt::Debug for InProcessBudgetStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InProcessBudgetStore")
            .field("campaigns", &self.ledgers.len())
            .finish()
    }
}

impl Default for InProcessBudgetStore {
    fn default() -> Self {
        Self::new()
    }
}

impl InProcessBudgetStore {
    /// An empty store.
    pub fn new() -> Self {
        InProcessBudgetStore {
            ledgers: papaya::HashMap::builder()
                .hasher(ahash::RandomState::new())
                .resize_mode(papaya::ResizeMode::Blocking)
                .build(),
        }
    }

    /// Adds `campaign` with `config`, or updates the budget of an existing one in place
    /// (its spend and outstanding reservations survive). Returns its ledger.
    pub fn upsert(
        &self,
        campaign: CampaignId,
        config: BudgetConfig,
    ) -> Result<Arc<BudgetLedger>, Error> {
        let map = self.ledgers.pin();
        if let Some(existing) = map.get(&campaign) {
            existing.update_config(config)?;
            return Ok(Arc::clone(existing));
        }
        let fresh = Arc::new(BudgetLedger::new(campaign, config)?);
        Ok(Arc::clone(map.get_or_insert(campaign, fresh)))
    }

    /// The ledger of `campaign`, to keep beside the campaign for lookup-free access.
    pub fn ledger(&self, campaign: CampaignId) -> Option<Arc<BudgetLedger>> {
        self.ledgers.pin().get(&campaign).cloned()
    }

    /// Forgets `campaign` (outstanding tokens for it become unknown).
    pub fn remove(&self, campaign: CampaignId) -> Option<Arc<BudgetLedger>> {
        self.ledgers.pin().remove(&campaign).cloned()
    }

    /// Number of campaigns.
    pub fn len(&self) -> usize {
        self.ledgers.len()
    }

    /// `true` when no campaign is tracked.
    pub fn is_empty(&self) -> bool {
        self.ledgers.is_empty()
    }

    /// Snapshots every ledger (see [`BudgetLedger::snapshot`] for consistency under load).
    pub fn snapshot(&self) -> BudgetStoreSnapshot {
        let mut ledgers: Vec<LedgerSnapshot> =
            self.ledgers.pin().values().map(|l| l.snapshot()).collect();
        ledgers.sort_by_key(|l| l.campaign);
        BudgetStoreSnapshot { ledgers }
    }

    /// A store rebuilt from a snapshot; every ledger is validated, nothing partial is
    /// returned.
    pub fn from_snapshot(snapshot: &BudgetStoreSnapshot) -> Result<Self, Error> {
        let store = Self::new();
        {
            let map = store.ledgers.pin();
            for l in &snapshot.ledgers {
                let ledger = Arc::new(BudgetLedger::from_snapshot(l)?);
                if map.insert(l.campaign, ledger).is_some() {
                    return Err(Error::InvalidSnapshot {
                        what: "ledgers",
                        reason: "campaign listed twice",
                    });
                }
            }
        }
        Ok(store)
    }

    fn get(&self, campaign: CampaignId) -> Result<Arc<BudgetLedger>, Error> {
        self.ledger(campaign)
            .ok_or(Error::UnknownCampaign(campaign))
    }
}

impl BudgetStore for InProcessBudgetStore {
    fn try_reserve(
        &self,
        campaign: CampaignId,
        amount: Money,
        now: Timestamp,
    ) -> Result<Reservation, Error> {
        let map = self.ledgers.pin();
        map.get(&campaign)
            .ok_or(Error::UnknownCampaign(campaign))?
            .try_reserve(amount, now)
    }

    fn commit(&self, reservation: &Reservation, actual: Money) -> Result<(), Error> {
        let map = self.ledgers.pin();
        map.get(&reservation.campaign)
            .ok_or(Error::UnknownCampaign(reservation.campaign))?
            .commit(reservation, actual)
    }

    fn release(&self, reservation: &Reservation) -> Result<(), Error> {
        let map = self.ledgers.pin();
        map.get(&reservation.campaign)
            .ok_or(Error::UnknownCampaign(reservation.campaign))?
            .release(reservation)
    }

    fn expire(&self, now: Timestamp) -> Expired {
        let mut total = Expired::default();
        for l in self.ledgers.pin().values() {
            total.merge(l.expire(now));
        }
        total
    }

    fn spend(&self, campaign: CampaignId, now: Timestamp) -> Result<Spend, Error> {
        Ok(self.get(campaign)?.spend(now))
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn store_routes_by_campaign_and_round_trips() {
        let s = InProcessBudgetStore::new();
        let now = Timestamp::from_millis(1_000);
        s.upsert(CampaignId(1), BudgetConfig::daily(Money::from_micros(100)))
            .unwrap();
        s.upsert(CampaignId(2), BudgetConfig::daily(Money::from_micros(50)))
            .unwrap();
        let r = s
            .try_reserve(CampaignId(1), Money::from_micros(80), now)
            .unwrap();
        assert!(
            s.try_reserve(CampaignId(3), Money::from_micros(1), now)
                .is_err()
        );
        s.commit(&r, Money::from_micros(60)).unwrap();
        assert!(s.commit(&r, Money::from_micros(60)).is_err());
        // Upsert keeps spend.
        s.upsert(CampaignId(1), BudgetConfig::daily(Money::from_micros(70)))
            .unwrap();
        assert_eq!(
            s.spend(CampaignId(1), now).unwrap().committed_today,
            Money::from_micros(60)
        );
        let snap = s.snapshot();
        let back = InProcessBudgetStore::from_snapshot(&snap).unwrap();
        assert_eq!(back.snapshot().ledgers.len(), 2);
        assert_eq!(
            back.spend(CampaignId(1), now).unwrap(),
            s.spend(CampaignId(1), now).unwrap()
        );
        let mut dup = snap.clone();
        dup.ledgers.push(snap.ledgers[0].clone());
        assert!(InProcessBudgetStore::from_snapshot(&dup).is_err());
    }
}
