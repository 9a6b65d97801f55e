//! OpenRTB 2.6: a BidRequest JSON in, [`AdRequest`]s out; [`Decision`]s in, a BidResponse out.
//!
//! # Mapping
//! | OpenRTB | adloop |
//! |---|---|
//! | `id` (required) | [`RtbRequest::id`]; hashed with the imp index into [`AdRequest::id`] |
//! | `imp[i].id` (required), `banner` | one display slot |
//! | `imp[i].video` with `maxduration` | one video slot |
//! | `video.poddur`, `maxseq`, `rqddurs` | a dynamic [`Pod`] |
//! | several imps sharing `video.podid` (`slotinpod`) | one structured [`Pod`], slots ordered by `slotinpod` |
//! | `imp[i].bidfloor`, `bidfloorcur` | [`AdRequest::floor`] (the currency must be the engine's) |
//! | `imp[i].pmp.private_auction`, `deals[j].{id, bidfloor, at}` | [`AdRequest::deals`]; `at = 3` makes the floor a fixed price |
//! | `user.id` (else `device.ifa`), `user.ext.household` | user and household ids |
//! | `user.data[k].segment[m].id` | attribute `segment` |
//! | `device.geo` (else `user.geo`): `country`, `region`, `metro`, `city` | `geo.country`, `geo.region`, `geo.metro`, `geo.city` |
//! | `device.devicetype`, `device.os` | `device.type` (int), `device.os` |
//! | `device.language` (else `device.langb`) | `device.language`, the primary language subtag |
//! | `site`/`app` `.content.genre`, `.content.cat`, `.cat`, `.publisher.id` | `content.genre`, `content.cat`, `publisher.cat`, `publisher` |
//! | `site`/`app` `.content.language` (else `.content.langb`) | `content.language`, the primary language subtag |
//! | `bcat`, `badv` | blocked categories and advertiser domains |
//! | `ext.adloop.trace` | [`AdRequest::trace`] (and loss reasons in the response) |
//!
//! Languages: OpenRTB 2.6 gives ISO 639-1 codes in `language` and IETF BCP 47 tags in
//! `langb` ("only one of language or langb should be present"); both map to the tag's
//! primary language subtag (`"pt-BR"` → `"pt"`), since creatives list ISO 639 languages.
//! A creative's languages are matched against `content.language`, else, when the
//! content's language is not given, `device.language` (the viewer's interface language).
//!
//! String ids become the numeric ids adloop uses: a decimal string is read as its number, any
//! other string is hashed with 64-bit FNV-1a (stable across runs and machines). Deal ids keep
//! their original text for the response.
//!
//! Prices cross between OpenRTB's floating-point CPMs and adloop's integer micro-units in one
//! place, [`cpm_from_f64`] (rounded to the nearest micro) and `cpm_to_f64` (exact for every
//! price under 2⁵³ micros).
//!
//! Errors name the JSON path of the offending value (`imp[1].video.poddur: expected a
//! non-negative integer`). Documents and lists larger than [`RtbLimits`] are rejected before
//! any work is done on them.

use crate::campaign::Format;
use crate::error::Error;
use crate::request::{AdRequest, DealOffer, Decision, Fate, MAX_SLOTS, Opportunity, Pod};
use adloop_core::{CampaignId, Cpm, DealId, HouseholdId, UserId};
use adloop_targeting::Request;
use serde_json::{Map, Value, json};

/// Size and length limits applied to a BidRequest before it is mapped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RtbLimits {
    /// Largest document, in bytes.
    pub max_bytes: usize,
    /// Most `imp` objects.
    pub max_imps: usize,
    /// Most deals per imp.
    pub max_deals: usize,
    /// Most `user.data` objects.
    pub max_data: usize,
    /// Most segments over all `user.data` objects.
    pub max_segments: usize,
    /// Most entries in any other list (`bcat`, `badv`, `cat`, `rqddurs`).
    pub max_list: usize,
    /// Longest string value, in bytes.
    pub max_string: usize,
}

impl Default for RtbLimits {
    fn default() -> Self {
        Self {
            max_bytes: 256 * 1024,
            max_imps: 32,
            max_deals: 64,
            max_data: 32,
            max_segments: 2_048,
            max_list: 256,
            max_string: 1_024,
        }
    }
}

/// A mapped BidRequest.
#[derive(Clone, Debug)]
pub struct RtbRequest {
    /// The BidRequest id, echoed in the response.
    pub id: String,
    /// One entry per opportunity (a structured pod's imps form one entry).
    pub imps: Vec<RtbImp>,
}

/// One opportunity of a BidRequest.
#[derive(Clone, Debug)]
pub struct RtbImp {
    /// The OpenRTB imp ids: one, or for a structured pod one per slot in slot order.
    pub imp_ids: Vec<String>,
    /// The request to pass to [`Engine::decide`](crate::Engine::decide).
    pub request: AdRequest,
    /// Original text of each deal id offered.
    pub deal_names: Vec<(DealId, String)>,
}

/// Converts an OpenRTB price (CPM as a float) to integer micro-units, rounded to the nearest
/// micro. `None` for a negative, non-finite or absurd (≥ 10⁹) price.
pub fn cpm_from_f64(price: f64) -> Option<Cpm> {
    if !price.is_finite() || !(0.0..1e9).contains(&price) {
        return None;
    }
    Some(Cpm::from_micros((price * 1e6).round() as i64))
}

fn cpm_to_f64(cpm: Cpm) -> f64 {
    cpm.micros() as f64 / 1e6
}

/// 64-bit FNV-1a: a stable hash for string ids.
pub(crate) fn fnv1a(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

fn numeric_or_hash(s: &str) -> u64 {
    s.parse::<u64>().unwrap_or_else(|_| fnv1a(s.as_bytes()))
}

/// The [`DealId`] an OpenRTB deal id string maps to: its number when it is a decimal
/// string, else its 64-bit FNV-1a hash. Campaigns name deals by these ids.
pub fn deal_id(text: &str) -> DealId {
    DealId::new(numeric_or_hash(text))
}

struct Walker<'a> {
    limits: &'a RtbLimits,
}

impl Walker<'_> {
    fn obj<'v>(&self, v: &'v Value, path: &str) -> Result<&'v Map<String, Value>, Error> {
        v.as_object()
            .ok_or_else(|| Error::rtb(path, "expected an object"))
    }

    fn opt_obj<'v>(
        &self,
        parent: &'v Map<String, Value>,
        key: &str,
        path: &str,
    ) -> Result<Option<&'v Map<String, Value>>, Error> {
        match parent.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(v) => self.obj(v, &join(path, key)).map(Some),
        }
    }

    fn opt_str<'v>(
        &self,
        parent: &'v Map<String, Value>,
        key: &str,
        path: &str,
    ) -> Result<Option<&'v str>, Error> {
        match parent.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) if s.len() <= self.limits.max_string => Ok(Some(s)),
            Some(Value::String(_)) => Err(Error::rtb(
                join(path, key),
                format!("string longer than {} bytes", self.limits.max_string),
            )),
            Some(_) => Err(Error::rtb(join(path, key), "expected a string")),
        }
    }

    /// The primary language subtag of `language` (ISO 639-1), else of `langb` (BCP 47);
    /// `None` when neither is given or the subtag is empty.
    fn language<'v>(
        &self,
        parent: &'v Map<String, Value>,
        path: &str,
    ) -> Result<Option<&'v str>, Error> {
        let tag = match self.opt_str(parent, "language", path)? {
            Some(tag) => Some(tag),
            None => self.opt_str(parent, "langb", path)?,
        };
        Ok(tag
            .and_then(|t| t.trim().split(['-', '_']).next())
            .filter(|l| !l.is_empty()))
    }

    fn req_str<'v>(
        &self,
        parent: &'v Map<String, Value>,
        key: &str,
        path: &str,
    ) -> Result<&'v str, Error> {
        self.opt_str(parent, key, path)?
            .ok_or_else(|| Error::rtb(join(path, key), "required field is missing"))
    }

    fn opt_int(
        &self,
        parent: &Map<String, Value>,
        key: &str,
        path: &str,
    ) -> Result<Option<i64>, Error> {
        match parent.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(v) => v
                .as_i64()
                .map(Some)
                .ok_or_else(|| Error::rtb(join(path, key), "expected an integer")),
        }
    }

    fn opt_u32(
        &self,
        parent: &Map<String, Value>,
        key: &str,
        path: &str,
    ) -> Result<Option<u32>, Error> {
        match self.opt_int(parent, key, path)? {
            None => Ok(None),
            Some(n) => u32::try_from(n).map(Some).map_err(|_| {
                Error::rtb(
                    join(path, key),
                    format!("expected a non-negative integer, got {n}"),
                )
            }),
        }
    }

    fn opt_price(
        &self,
        parent: &Map<String, Value>,
        key: &str,
        path: &str,
    ) -> Result<Option<Cpm>, Error> {
        match parent.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(v) => {
                let p = v
                    .as_f64()
                    .ok_or_else(|| Error::rtb(join(path, key), "expected a number"))?;
                cpm_from_f64(p).map(Some).ok_or_else(|| {
                    Error::rtb(join(path, key), format!("price {p} is out of range"))
                })
            }
        }
    }

    fn opt_array<'v>(
        &self,
        parent: &'v Map<String, Value>,
        key: &str,
        path: &str,
        max: usize,
    ) -> Result<&'v [Value], Error> {
        match parent.get(key) {
            None | Some(Value::Null) => Ok(&[]),
            Some(Value::Array(a)) if a.len() <= max => Ok(a),
            Some(Value::Array(a)) => Err(Error::rtb(
                join(path, key),
                format!("{} entries, over the limit of {max}", a.len()),
            )),
            Some(_) => Err(Error::rtb(join(path, key), "expected an array")),
        }
    }

    fn str_list(
        &self,
        parent: &Map<String, Value>,
        key: &str,
        path: &str,
    ) -> Result<Vec<String>, Error> {
        let list = self.opt_array(parent, key, path, self.limits.max_list)?;
        list.iter()
            .enumerate()
            .map(|(i, v)| match v {
                Value::String(s) if s.len() <= self.limits.max_string => Ok(s.clone()),
                _ => Err(Error::rtb(
                    format!("{}[{i}]", join(path, key)),
                    "expected a string",
                )),
            })
            .collect()
    }

    fn currency(&self, parent: &Map<String, Value>, path: &str, engine: &str) -> Result<(), Error> {
        match self.opt_str(parent, "bidfloorcur", path)? {
            Some(cur) if !cur.eq_ignore_ascii_case(engine) => Err(Error::rtb(
                join(path, "bidfloorcur"),
                format!("currency {cur} is not the engine's currency {engine}"),
            )),
            _ => Ok(()),
        }
    }
}

/// A structured pod being assembled: its id, its entry in the output, and each slot's
/// (ordering key, imp id).
type StructuredPod = (String, usize, Vec<(i64, String)>);

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_owned()
    } else {
        format!("{path}.{key}")
    }
}

/// Parses an OpenRTB 2.6 BidRequest and maps it to one [`AdRequest`] per opportunity.
///
/// `currency` is the engine's currency (ISO 4217, e.g. `"USD"`): floors in any other currency
/// are rejected rather than converted.
pub fn parse_bid_request(
    json: &[u8],
    currency: &str,
    limits: &RtbLimits,
) -> Result<RtbRequest, Error> {
    if json.len() > limits.max_bytes {
        return Err(Error::rtb(
            "$",
            format!(
                "document is {} bytes, over the limit of {}",
                json.len(),
                limits.max_bytes
            ),
        ));
    }
    let root: Value = serde_json::from_slice(json).map_err(|e| {
        Error::rtb(
            "$",
            format!(
                "malformed json at line {} column {}: {e}",
                e.line(),
                e.column()
            ),
        )
    })?;
    let w = Walker { limits };
    let root = w.obj(&root, "$")?;
    let id = w.req_str(root, "id", "")?.to_owned();

    // Request-wide facts shared by every imp.
    let mut shared = AdRequest::default();
    let mut attributes = Request::new();
    if let Some(user) = w.opt_obj(root, "user", "")? {
        if let Some(uid) = w.opt_str(user, "id", "user")? {
            shared.user = Some(UserId::new(numeric_or_hash(uid)));
        }
        if let Some(ext) = w.opt_obj(user, "ext", "user")? {
            shared.household = match ext.get("household") {
                None | Some(Value::Null) => None,
                Some(Value::String(s)) => Some(HouseholdId::new(numeric_or_hash(s))),
                Some(v) => Some(HouseholdId::new(v.as_u64().ok_or_else(|| {
                    Error::rtb("user.ext.household", "expected a string or an integer")
                })?)),
            };
        }
        let data = w.opt_array(user, "data", "user", limits.max_data)?;
        let mut segments = 0usize;
        let segment = attributes.slot("segment");
        for (k, d) in data.iter().enumerate() {
            let dpath = format!("user.data[{k}]");
            let d = w.obj(d, &dpath)?;
            let segs = w.opt_array(d, "segment", &dpath, limits.max_segments)?;
            for (m, s) in segs.iter().enumerate() {
                let spath = format!("{dpath}.segment[{m}]");
                let s = w.obj(s, &spath)?;
                let sid = w.req_str(s, "id", &spath)?;
                if segments >= limits.max_segments {
                    return Err(Error::rtb(
                        spath,
                        format!("more than {} segments in all", limits.max_segments),
                    ));
                }
                segments += 1;
                match sid.parse::<i64>() {
                    Ok(n) => attributes.push_int_at(segment, n),
                    Err(_) => attributes.push_str_at(segment, sid),
                }
            }
        }
    }
    let mut geo = None;
    if let Some(device) = w.opt_obj(root, "device", "")? {
        if let Some(t) = w.opt_int(device, "devicetype", "device")? {
            attributes.push_int("device.type", t);
        }
        if let Some(os) = w.opt_str(device, "os", "device")? {
            attributes.push_str("device.os", os);
        }
        if let Some(language) = w.language(device, "device")? {
            attributes.push_str("device.language", language);
        }
        if shared.user.is_none()
            && let Some(ifa) = w.opt_str(device, "ifa", "device")?
        {
            shared.user = Some(UserId::new(numeric_or_hash(ifa)));
        }
        geo = w
            .opt_obj(device, "geo", "device")?
            .map(|g| (g, "device.geo"));
    }
    if geo.is_none()
        && let Some(user) = w.opt_obj(root, "user", "")?
    {
        geo = w.opt_obj(user, "geo", "user")?.map(|g| (g, "user.geo"));
    }
    if let Some((g, gpath)) = geo {
        for (key, attr) in [
            ("country", "geo.country"),
            ("region", "geo.region"),
            ("metro", "geo.metro"),
            ("city", "geo.city"),
        ] {
            if let Some(v) = w.opt_str(g, key, gpath)? {
                attributes.push_str(attr, v);
            }
        }
    }
    for (key, path) in [("site", "site"), ("app", "app")] {
        let Some(place) = w.opt_obj(root, key, "")? else {
            continue;
        };
        for cat in w.str_list(place, "cat", path)? {
            attributes.push_str("publisher.cat", &cat);
        }
        if let Some(p) = w.opt_obj(place, "publisher", path)?
            && let Some(pid) = w.opt_str(p, "id", &join(path, "publisher"))?
        {
            attributes.push_str("publisher", pid);
        }
        if let Some(content) = w.opt_obj(place, "content", path)? {
            let cpath = join(path, "content");
            if let Some(genre) = w.opt_str(content, "genre", &cpath)? {
                attributes.push_str("content.genre", genre);
            }
            for cat in w.str_list(content, "cat", &cpath)? {
                attributes.push_str("content.cat", &cat);
            }
            if let Some(language) = w.language(content, &cpath)? {
                attributes.push_str("content.language", language);
            }
        }
    }
    shared.attributes = attributes;
    shared.blocked_categories = w.str_list(root, "bcat", "")?;
    shared.blocked_domains = w.str_list(root, "badv", "")?;
    if let Some(ext) = w.opt_obj(root, "ext", "")?
        && let Some(a) = w.opt_obj(ext, "adloop", "ext")?
    {
        shared.trace = match a.get("trace") {
            None | Some(Value::Null) => false,
            Some(Value::Bool(b)) => *b,
            Some(_) => return Err(Error::rtb("ext.adloop.trace", "expected a boolean")),
        };
    }

    let imps = match root.get("imp") {
        None | Some(Value::Null) => return Err(Error::rtb("imp", "required field is missing")),
        Some(_) => w.opt_array(root, "imp", "", limits.max_imps)?,
    };
    if imps.is_empty() {
        return Err(Error::rtb("imp", "at least one imp is required"));
    }

    let base = fnv1a(id.as_bytes());
    let mut out: Vec<RtbImp> = Vec::with_capacity(imps.len());
    // Structured pods: podid → index in `out`, with each slot's ordering key.
    let mut pods: Vec<StructuredPod> = Vec::new();
    for (i, imp) in imps.iter().enumerate() {
        let path = format!("imp[{i}]");
        let imp = w.obj(imp, &path)?;
        let imp_id = w.req_str(imp, "id", &path)?.to_owned();
        let mut request = shared.clone();
        request.id = base ^ (i as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        w.currency(imp, &path, currency)?;
        request.floor = w.opt_price(imp, "bidfloor", &path)?.unwrap_or_default();
        let mut deal_names = Vec::new();
        if let Some(pmp) = w.opt_obj(imp, "pmp", &path)? {
            let ppath = join(&path, "pmp");
            request.private_auction = w.opt_int(pmp, "private_auction", &ppath)?.unwrap_or(0) == 1;
            let deals = w.opt_array(pmp, "deals", &ppath, limits.max_deals)?;
            for (j, d) in deals.iter().enumerate() {
                let dpath = format!("{ppath}.deals[{j}]");
                let d = w.obj(d, &dpath)?;
                let name = w.req_str(d, "id", &dpath)?;
                w.currency(d, &dpath, currency)?;
                let floor = w.opt_price(d, "bidfloor", &dpath)?.unwrap_or_default();
                let at = w.opt_int(d, "at", &dpath)?;
                let did = deal_id(name);
                request.deals.push(DealOffer {
                    id: did,
                    floor,
                    fixed_price: (at == Some(3)).then_some(floor),
                });
                deal_names.push((did, name.to_owned()));
            }
        }
        let banner = w.opt_obj(imp, "banner", &path)?;
        let video = w.opt_obj(imp, "video", &path)?;
        match (video, banner) {
            (Some(v), _) => {
                let vpath = join(&path, "video");
                let maxduration = w.opt_u32(v, "maxduration", &vpath)?.unwrap_or(0);
                let poddur = w.opt_u32(v, "poddur", &vpath)?;
                let maxseq = w.opt_u32(v, "maxseq", &vpath)?;
                let rqd = w.opt_array(v, "rqddurs", &vpath, limits.max_list)?;
                let mut required = Vec::with_capacity(rqd.len());
                for (k, d) in rqd.iter().enumerate() {
                    required.push(
                        d.as_u64()
                            .and_then(|d| u32::try_from(d).ok())
                            .filter(|d| *d > 0)
                            .ok_or_else(|| {
                                Error::rtb(
                                    format!("{vpath}.rqddurs[{k}]"),
                                    "expected a positive integer",
                                )
                            })?,
                    );
                }
                let podid = w.opt_str(v, "podid", &vpath)?;
                let slotinpod = w.opt_int(v, "slotinpod", &vpath)?.unwrap_or(0);
                if let Some(poddur) = poddur {
                    if poddur == 0 {
                        return Err(Error::rtb(join(&vpath, "poddur"), "must be positive"));
                    }
                    let max_slots = maxseq
                        .filter(|m| *m > 0)
                        .unwrap_or(MAX_SLOTS as u32)
                        .min(MAX_SLOTS as u32);
                    request.opportunity = Opportunity::Pod(Pod {
                        max_slots,
                        max_duration_s: poddur,
                        required_durations_s: required,
                    });
                } else if let Some(podid) = podid {
                    // A structured pod: merge imps sharing the pod id into one request.
                    let order = match slotinpod {
                        1 => i64::MIN,
                        -1 => i64::MAX,
                        0 => i64::MAX / 2,
                        n => n,
                    };
                    if let Some((_, at, slots)) = pods.iter_mut().find(|(p, _, _)| p == podid) {
                        let entry = &mut out[*at];
                        if slots.len() >= MAX_SLOTS {
                            return Err(Error::rtb(
                                vpath,
                                format!("pod {podid} has more than {MAX_SLOTS} slots"),
                            ));
                        }
                        slots.push((order, imp_id));
                        if let Opportunity::Pod(pod) = &mut entry.request.opportunity {
                            pod.max_slots += 1;
                            pod.max_duration_s = pod.max_duration_s.saturating_add(maxduration);
                            for d in required {
                                if !pod.required_durations_s.contains(&d) {
                                    pod.required_durations_s.push(d);
                                }
                            }
                        }
                        continue;
                    }
                    if maxduration == 0 {
                        return Err(Error::rtb(
                            join(&vpath, "maxduration"),
                            "a structured pod slot needs a positive maxduration",
                        ));
                    }
                    request.opportunity = Opportunity::Pod(Pod {
                        max_slots: 1,
                        max_duration_s: maxduration,
                        required_durations_s: required,
                    });
                    pods.push((podid.to_owned(), out.len(), vec![(order, imp_id.clone())]));
                } else {
                    request.opportunity = Opportunity::Single {
                        format: Format::Video,
                        max_duration_s: maxduration,
                    };
                }
            }
            (None, Some(_)) => {
                request.opportunity = Opportunity::Single {
                    format: Format::Display,
                    max_duration_s: 0,
                };
            }
            (None, None) => {
                return Err(Error::rtb(path, "needs a banner or a video object"));
            }
        }
        out.push(RtbImp {
            imp_ids: vec![imp_id],
            request,
            deal_names,
        });
    }
    for (_, at, mut slots) in pods {
        slots.sort_by_key(|(order, _)| *order);
        out[at].imp_ids = slots.into_iter().map(|(_, id)| id).collect();
    }
    Ok(RtbRequest { id, imps: out })
}

/// What the response needs to know about a campaign that the decision does not carry.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AdInfo {
    /// Advertiser domain (`adomain`).
    pub domain: String,
    /// IAB categories (`cat`).
    pub categories: Vec<String>,
}

/// Writes the BidResponse for `request`, given one decision per [`RtbRequest::imps`] entry.
///
/// `info` supplies each winning campaign's domain and categories (see
/// [`Engine::bid_response`](crate::Engine::bid_response), which reads them from the snapshot).
/// Decisions with a trace add `ext.adloop.losses`: every campaign that reached the auction
/// and lost, with the OpenRTB loss reason code where one exists.
pub fn write_bid_response(
    request: &RtbRequest,
    decisions: &[Decision],
    seat: &str,
    currency: &str,
    info: impl Fn(CampaignId) -> Option<AdInfo>,
) -> String {
    let mut bids = Vec::new();
    let mut losses = Vec::new();
    for (imp, decision) in request.imps.iter().zip(decisions) {
        for p in &decision.placements {
            let slot = p.slot as usize;
            let impid = imp
                .imp_ids
                .get(slot)
                .or_else(|| imp.imp_ids.first())
                .cloned()
                .unwrap_or_default();
            let ad = info(p.campaign).unwrap_or_default();
            let mut bid = json!({
                "id": p.receipt.impression.to_string(),
                "impid": impid,
                "price": cpm_to_f64(p.price_cpm),
                "adomain": if ad.domain.is_empty() { vec![] } else { vec![ad.domain] },
                "cat": ad.categories,
                "crid": p.creative.to_string(),
                "cid": p.campaign.to_string(),
            });
            let obj = bid.as_object_mut().expect("json! object");
            if let Some(deal) = p.deal {
                let name = imp
                    .deal_names
                    .iter()
                    .find(|(d, _)| *d == deal)
                    .map_or_else(|| deal.to_string(), |(_, n)| n.clone());
                obj.insert("dealid".into(), json!(name));
            }
            if p.duration_s > 0 {
                obj.insert("dur".into(), json!(p.duration_s));
            }
            if matches!(imp.request.opportunity, Opportunity::Pod(_)) && imp.imp_ids.len() == 1 {
                obj.insert("slotinpod".into(), json!(slot + 1));
            }
            bids.push(bid);
        }
        if let Some(trace) = &decision.trace {
            for e in &trace.entries {
                if matches!(e.fate, Fate::Won | Fate::NotTargeted) {
                    continue;
                }
                let mut l = json!({
                    "impid": imp.imp_ids.first().cloned().unwrap_or_default(),
                    "cid": e.campaign.to_string(),
                    "reason": serde_json::to_value(e.fate).unwrap_or(Value::Null),
                });
                if let Some(code) = e.fate.openrtb_loss_code() {
                    l.as_object_mut()
                        .expect("json! object")
                        .insert("lossreason".into(), json!(code));
                }
                losses.push(l);
            }
        }
    }
    let mut resp = json!({ "id": request.id, "cur": currency });
    let obj = resp.as_object_mut().expect("json! object");
    if !bids.is_empty() {
        obj.insert("seatbid".into(), json!([{ "seat": seat, "bid": bids }]));
    } else {
        obj.insert("seatbid".into(), json!([]));
    }
    if !losses.is_empty() {
        obj.insert("ext".into(), json!({ "adloop": { "losses": losses } }));
    }
    resp.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use adloop_targeting::ValueRef;

    fn parse(s: &str) -> Result<RtbRequest, Error> {
        parse_bid_request(s.as_bytes(), "USD", &RtbLimits::default())
    }

    fn path_of(e: Error) -> String {
        match e {
            Error::OpenRtb { path, .. } => path,
            other => panic!("not an openrtb error: {other}"),
        }
    }

    #[test]
    fn banner_with_segments_and_geo() {
        let r = parse(
            r#"{"id":"r1","imp":[{"id":"1","banner":{"w":300,"h":250},"bidfloor":1.5}],
            "user":{"id":"42","ext":{"household":"hh-9"},
                    "data":[{"segment":[{"id":"7"},{"id":"x"}]}]},
            "device":{"devicetype":3,"os":"tvOS","geo":{"country":"USA"}},
            "app":{"cat":["IAB1"],"content":{"genre":"drama","cat":["IAB1-5"]}},
            "bcat":["IAB25"],"badv":["bad.example"]}"#,
        )
        .unwrap();
        assert_eq!(r.imps.len(), 1);
        let q = &r.imps[0].request;
        assert_eq!(q.floor, Cpm::from_micros(1_500_000));
        assert_eq!(q.user, Some(UserId::new(42)));
        assert_eq!(q.household, Some(HouseholdId::new(fnv1a(b"hh-9"))));
        let values = |name| q.attributes.values(name).collect::<Vec<_>>();
        assert_eq!(values("segment"), [ValueRef::Int(7), ValueRef::Str("x")]);
        assert_eq!(values("device.type"), [ValueRef::Int(3)]);
        assert_eq!(values("geo.country"), [ValueRef::Str("USA")]);
        assert_eq!(values("content.genre"), [ValueRef::Str("drama")]);
        assert_eq!(values("publisher.cat"), [ValueRef::Str("IAB1")]);
        assert_eq!(q.blocked_categories, vec!["IAB25".to_string()]);
        assert!(matches!(
            q.opportunity,
            Opportunity::Single {
                format: Format::Display,
                ..
            }
        ));
    }

    #[test]
    fn content_and_device_languages() {
        let values = |json: &str, name: &str| -> Vec<String> {
            let r = parse(json).unwrap();
            r.imps[0]
                .request
                .attributes
                .values(name)
                .map(|v| match v {
                    ValueRef::Str(s) => s.to_owned(),
                    other => panic!("{other:?}"),
                })
                .collect()
        };
        let imp = r#""imp":[{"id":"1","video":{"maxduration":30}}]"#;
        // ISO 639-1 `language`, on site or app content; the device's separately.
        let site = format!(
            r#"{{"id":"r",{imp},"site":{{"content":{{"language":"de"}}}},
                "device":{{"language":"en"}}}}"#
        );
        assert_eq!(values(&site, "content.language"), ["de"]);
        assert_eq!(values(&site, "device.language"), ["en"]);
        // BCP 47 `langb` when `language` is absent: its primary language subtag.
        let app = format!(
            r#"{{"id":"r",{imp},"app":{{"content":{{"langb":"pt-BR"}}}},
                "device":{{"langb":"zh-Hant-TW"}}}}"#
        );
        assert_eq!(values(&app, "content.language"), ["pt"]);
        assert_eq!(values(&app, "device.language"), ["zh"]);
        let both = format!(
            r#"{{"id":"r",{imp},"app":{{"content":{{"language":"fr","langb":"es-MX"}}}}}}"#
        );
        assert_eq!(values(&both, "content.language"), ["fr"]);
        let none = format!(r#"{{"id":"r",{imp},"app":{{"content":{{"langb":"-x"}}}}}}"#);
        assert!(values(&none, "content.language").is_empty());
        // A language of the wrong type is an error at its path.
        let bad = format!(r#"{{"id":"r",{imp},"site":{{"content":{{"language":7}}}}}}"#);
        assert_eq!(path_of(parse(&bad).unwrap_err()), "site.content.language");
        let bad = format!(r#"{{"id":"r",{imp},"device":{{"langb":["en"]}}}}"#);
        assert_eq!(path_of(parse(&bad).unwrap_err()), "device.langb");
    }

    #[test]
    fn errors_name_the_json_path() {
        assert_eq!(path_of(parse(r#"{"imp":[]}"#).unwrap_err()), "id");
        assert_eq!(path_of(parse(r#"{"id":"a"}"#).unwrap_err()), "imp");
        assert_eq!(
            path_of(parse(r#"{"id":"a","imp":[{"id":"1"}]}"#).unwrap_err()),
            "imp[0]"
        );
        assert_eq!(
            path_of(parse(r#"{"id":"a","imp":[{"id":"1","video":{"poddur":"x"}}]}"#).unwrap_err()),
            "imp[0].video.poddur"
        );
        assert_eq!(
            path_of(
                parse(r#"{"id":"a","imp":[{"id":"1","banner":{},"bidfloor":-1}]}"#).unwrap_err()
            ),
            "imp[0].bidfloor"
        );
        assert_eq!(
            path_of(
                parse(r#"{"id":"a","imp":[{"id":"1","banner":{},"bidfloorcur":"EUR"}]}"#)
                    .unwrap_err()
            ),
            "imp[0].bidfloorcur"
        );
        assert_eq!(
            path_of(
                parse(r#"{"id":"a","imp":[{"id":"1","banner":{},"pmp":{"deals":[{}]}}]}"#)
                    .unwrap_err()
            ),
            "imp[0].pmp.deals[0].id"
        );
        assert_eq!(
            path_of(
                parse(r#"{"id":"a","imp":[{"id":"1","banner":{}}],"user":{"data":[{"segment":[{"id":3}]}]}}"#)
                    .unwrap_err()
            ),
            "user.data[0].segment[0].id"
        );
        let e = parse(r#"{"id":"a", imp"#).unwrap_err();
        assert!(e.to_string().contains("malformed json at line 1"), "{e}");
    }

    #[test]
    fn limits_are_enforced() {
        let limits = RtbLimits {
            max_bytes: 40,
            ..RtbLimits::default()
        };
        let doc = format!(r#"{{"id":"{}","imp":[]}}"#, "x".repeat(64));
        assert!(parse_bid_request(doc.as_bytes(), "USD", &limits).is_err());
        let imps: Vec<String> = (0..33)
            .map(|i| format!(r#"{{"id":"{i}","banner":{{}}}}"#))
            .collect();
        let doc = format!(r#"{{"id":"a","imp":[{}]}}"#, imps.join(","));
        let e = parse(&doc).unwrap_err();
        assert!(e.to_string().contains("over the limit of 32"), "{e}");
    }

    #[test]
    fn float_prices_round_to_the_nearest_micro() {
        assert_eq!(cpm_from_f64(4.2), Some(Cpm::from_micros(4_200_000)));
        assert_eq!(cpm_from_f64(0.0000004), Some(Cpm::from_micros(0)));
        assert_eq!(cpm_from_f64(f64::NAN), None);
        assert_eq!(cpm_from_f64(-0.5), None);
        assert_eq!(cpm_to_f64(Cpm::from_micros(4_200_000)), 4.2);
    }
}
