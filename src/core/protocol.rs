//! The one protocol between pages and the daemon: commands a page sends,
//! the daemon's replies, and what it broadcasts. Serde enums, so nothing
//! crossing the worker boundary is read by a string name; the browser hosts
//! and the simulator use the same types.
//!
//! # Examples
//!
//! ```
//! use bgsession::core::protocol::Command;
//!
//! let cmd = Command::Suspend { session: "com.example".into(), task_id: 3 };
//! let json = serde_json::to_string(&cmd).unwrap();
//! assert_eq!(json, r#"{"op":"suspend","session":"com.example","taskId":3}"#);
//! assert_eq!(serde_json::from_str::<Command>(&json).unwrap(), cmd);
//! assert!(serde_json::from_str::<Command>(r#"{"op":"format"}"#).is_err(), "unknown operations are refused");
//! ```

use crate::core::config::ConfigData;
use crate::core::network::NetworkInfo;
use crate::core::request::Request;
use crate::core::task::TaskRecord;
use serde::{Deserialize, Serialize};

/// The BroadcastChannel on which the daemon tells pages what it did.
pub const CHANNEL: &str = "bgsession";

/// While a page has running tasks it pokes the daemon this often (a
/// command): each extends the worker's lifetime, and wakes (and so resumes)
/// a daemon the browser has stopped.
pub const PAGE_HEARTBEAT_MS: u32 = 2_000;

/// A page opening a session wakes the daemon once the queued events are
/// delivered, or after this long if that takes longer (the replay has the
/// page's main thread and IndexedDB first).
pub const PAGE_WAKE_AFTER_MS: u32 = 500;

/// The Web Lock a page holds while it receives a session's events (one page
/// at a time per identifier). The daemon shows a launch notification only
/// when no page holds it.
pub fn session_lock(identifier: &str) -> String {
    format!("bgsession:events:{identifier}")
}

/// The Web Lock a worker holds while it runs a task (an old and a new worker
/// version can briefly coexist during an update).
pub fn task_lock(session: &str, task_id: u64) -> String {
    format!("bgsession:task:{session}:{task_id}")
}

/// Reads a record inside a command (a task, a configuration, a request)
/// from its JSON text, as the stores read them, not from serde's buffer of
/// an internally tagged enum: then the wasm holds one decoder of each record
/// type, not two (issue 11). Errors read the same (no text position).
#[cfg(test)] // the hand-written decoders call `from_text`; the tests' derived mirrors, this
pub(crate) fn via_text<'de, D: serde::Deserializer<'de>, T: serde::de::DeserializeOwned>(d: D) -> Result<T, D::Error> {
    let value = serde_json::Value::deserialize(d)?;
    from_text(&value)
}

/// [`via_text`] for an optional record (`null` or absent: `None`).
#[cfg(test)]
pub(crate) fn via_text_opt<'de, D: serde::Deserializer<'de>, T: serde::de::DeserializeOwned>(d: D) -> Result<Option<T>, D::Error> {
    match Option::<serde_json::Value>::deserialize(d)? {
        None => Ok(None),
        Some(value) => from_text(&value).map(Some),
    }
}

pub(crate) fn from_text<E: serde::de::Error, T: serde::de::DeserializeOwned>(value: &serde_json::Value) -> Result<T, E> {
    serde_json::from_str(&value.to_string()).map_err(|e| {
        let text = e.to_string();
        E::custom(match text.rfind(" at line ") {
            Some(i) => &text[..i],
            None => &text,
        })
    })
}

/// Reads an internally tagged enum's object as serde's derive would (the
/// same errors), from a `serde_json::Value`: the derive's own decoder
/// buffers the object in serde's `Content` and is the largest function of
/// its wasm for each such enum (issue 11). Returns the variant's index in
/// `variants` and the object's fields.
pub(crate) fn tagged<'a>(value: &'a serde_json::Value, name: &'static str, tag: &'static str, variants: &'static [&'static str]) -> Result<(usize, &'a serde_json::Map<String, serde_json::Value>), serde_json::Error> {
    use serde::de::{Deserializer, Error};
    let Some(map) = value.as_object() else {
        // The derive also reads a sequence (tag first), which serde never
        // writes: an empty one lacks the tag, as the derive says; others
        // are refused here.
        if value.as_array().is_some_and(|a| a.is_empty()) {
            return Err(Error::missing_field(tag));
        }
        return Err(value.deserialize_any(Expecting(name)).unwrap_err());
    };
    let variant = match map.get(tag) {
        None => return Err(Error::missing_field(tag)),
        Some(serde_json::Value::String(v)) => v,
        Some(other) => return Err(other.deserialize_any(Expecting("variant identifier")).unwrap_err()),
    };
    match variants.iter().position(|v| v == variant) {
        Some(i) => Ok((i, map)),
        None => Err(Error::unknown_variant(variant, variants)),
    }
}

/// A field of a [`tagged`] object, as the derive reads it.
pub(crate) fn field<T: serde::de::DeserializeOwned>(map: &serde_json::Map<String, serde_json::Value>, name: &'static str) -> Result<T, serde_json::Error> {
    match map.get(name) {
        Some(v) => T::deserialize(v),
        None => Err(serde::de::Error::missing_field(name)),
    }
}

/// A record field of a [`tagged`] object, read from its text ([`from_text`]).
pub(crate) fn field_text<T: serde::de::DeserializeOwned>(map: &serde_json::Map<String, serde_json::Value>, name: &'static str) -> Result<T, serde_json::Error> {
    match map.get(name) {
        Some(v) => from_text(v),
        None => Err(serde::de::Error::missing_field(name)),
    }
}

/// Reads a unit-only enum as serde's derive does (`deserialize_enum`, the
/// same errors), returning the variant's index in `variants`: one visitor
/// for every such enum instead of a derived decoder each (issue 11).
pub(crate) fn unit_variant<'de, D: serde::Deserializer<'de>>(d: D, name: &'static str, variants: &'static [&'static str]) -> Result<usize, D::Error> {
    d.deserialize_enum(name, variants, UnitEnum { name, variants })
}

struct UnitEnum {
    name: &'static str,
    variants: &'static [&'static str],
}

impl<'de> serde::de::Visitor<'de> for UnitEnum {
    type Value = usize;
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        write!(f, "enum {}", self.name)
    }
    fn visit_enum<A: serde::de::EnumAccess<'de>>(self, data: A) -> Result<usize, A::Error> {
        use serde::de::VariantAccess;
        let (i, variant) = data.variant_seed(VariantIndex(self.variants))?;
        variant.unit_variant()?;
        Ok(i)
    }
}

struct VariantIndex(&'static [&'static str]);

impl<'de> serde::de::DeserializeSeed<'de> for VariantIndex {
    type Value = usize;
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<usize, D::Error> {
        d.deserialize_identifier(self)
    }
}

impl serde::de::Visitor<'_> for VariantIndex {
    type Value = usize;
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("variant identifier")
    }
    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<usize, E> {
        self.0.iter().position(|x| *x == v).ok_or_else(|| E::unknown_variant(v, self.0))
    }
}

/// A struct read field by field into a record that starts with every
/// default, as serde's derive reads it (the same errors, text positions
/// included): keys in the object's order, `duplicate field` on a second
/// one, unknown keys skipped, then the first missing field with no default
/// in declaration order; a sequence is read positionally (the derive's
/// `visit_seq`). The derive keeps a local `Option` per field and builds the
/// struct at the end, twice (object and sequence) and with the drop of
/// every local on each error, for each record type: the largest code of
/// the worker's wasm for `TaskRecord` (issue 11). Here a record only lists
/// its fields as typed [`Slot`]s: one visitor and one reader per field
/// type serve every record.
pub(crate) trait Fields {
    /// Field `i` (declaration order) of the record, to be written.
    fn slot(&mut self, i: usize) -> Slot<'_>;
}

/// What the derive knows of a struct besides its fields' types.
pub(crate) struct Shape {
    /// The struct's name (`deserialize_struct`'s; the errors say "struct
    /// Name", and "struct Name with N elements" for a sequence too short,
    /// as the derive's do).
    pub name: &'static str,
    /// The serialised field names, in declaration order.
    pub names: &'static [&'static str],
    /// Bit `i`: field `i` has no default (missing is an error).
    pub required: u64,
}

/// A field of a record read with [`Fields`]: one variant per field type of
/// the records so read.
pub(crate) enum Slot<'a> {
    U16(&'a mut u16),
    U32(&'a mut u32),
    U64(&'a mut u64),
    I64(&'a mut i64),
    F64(&'a mut f64),
    Bool(&'a mut bool),
    Text(&'a mut String),
    OptText(&'a mut Option<String>),
    OptF64(&'a mut Option<f64>),
    OptU64(&'a mut Option<u64>),
    OptBool(&'a mut Option<bool>),
    Lengths(&'a mut Vec<u64>),
    Headers(&'a mut std::collections::BTreeMap<String, String>),
    Info(&'a mut std::collections::BTreeMap<String, serde_json::Value>),
    Kind(&'a mut crate::core::task::TaskKind),
    State(&'a mut crate::core::task::TaskState),
    Request(&'a mut Request),
    Response(&'a mut Option<crate::core::request::ResponseInfo>),
    Validator(&'a mut Option<crate::core::task::Validator>),
    Error(&'a mut Option<crate::core::error::NsError>),
    Transport(&'a mut crate::core::config::Transport),
    Policy(&'a mut crate::core::network::NetworkPolicy),
}

impl<'de> serde::de::DeserializeSeed<'de> for Slot<'_> {
    type Value = ();
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        fn set<'de, T: Deserialize<'de>, D: serde::Deserializer<'de>>(field: &mut T, d: D) -> Result<(), D::Error> {
            *field = T::deserialize(d)?;
            Ok(())
        }
        match self {
            Slot::U16(f) => set(f, d),
            Slot::U32(f) => set(f, d),
            Slot::U64(f) => set(f, d),
            Slot::I64(f) => set(f, d),
            Slot::F64(f) => set(f, d),
            Slot::Bool(f) => set(f, d),
            Slot::Text(f) => set(f, d),
            Slot::OptText(f) => set(f, d),
            Slot::OptF64(f) => set(f, d),
            Slot::OptU64(f) => set(f, d),
            Slot::OptBool(f) => set(f, d),
            Slot::Lengths(f) => set(f, d),
            Slot::Headers(f) => set(f, d),
            Slot::Info(f) => set(f, d),
            Slot::Kind(f) => set(f, d),
            Slot::State(f) => set(f, d),
            Slot::Request(f) => set(f, d),
            Slot::Response(f) => set(f, d),
            Slot::Validator(f) => set(f, d),
            Slot::Error(f) => set(f, d),
            Slot::Transport(f) => set(f, d),
            Slot::Policy(f) => set(f, d),
        }
    }
}

/// A `Deserialize` of a [`Fields`] record: `blank` (every default; the
/// required fields anything) with what `d` holds written in.
pub(crate) fn read_fields<'de, D: serde::Deserializer<'de>, T: Fields>(d: D, shape: &'static Shape, mut blank: T) -> Result<T, D::Error> {
    d.deserialize_struct(shape.name, shape.names, FieldsVisitor { shape, record: &mut blank })?;
    Ok(blank)
}

struct FieldsVisitor<'a> {
    shape: &'static Shape,
    record: &'a mut dyn Fields,
}

/// A key: the field's index, `None` for a key the struct does not have.
/// `next` is tried first: records are written in their fields' order, so
/// the key after field i is usually field i + 1 (one comparison, not a
/// search of the names, for each of a relaunch's thousands of keys).
struct Key {
    names: &'static [&'static str],
    next: usize,
}

impl Key {
    fn find(&self, is: impl Fn(&str) -> bool) -> Option<usize> {
        match self.names.get(self.next) {
            Some(n) if is(n) => Some(self.next),
            _ => self.names.iter().position(|n| is(n)),
        }
    }
}

impl<'de> serde::de::DeserializeSeed<'de> for Key {
    type Value = Option<usize>;
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Option<usize>, D::Error> {
        d.deserialize_identifier(self)
    }
}

impl serde::de::Visitor<'_> for Key {
    type Value = Option<usize>;
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("field identifier")
    }
    fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Option<usize>, E> {
        Ok((v < self.names.len() as u64).then_some(v as usize))
    }
    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Option<usize>, E> {
        Ok(self.find(|n| n == v))
    }
    fn visit_bytes<E: serde::de::Error>(self, v: &[u8]) -> Result<Option<usize>, E> {
        Ok(self.find(|n| n.as_bytes() == v))
    }
}

impl<'de> serde::de::Visitor<'de> for FieldsVisitor<'_> {
    type Value = ();
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        write!(f, "struct {}", self.shape.name)
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        use serde::de::Error;
        let names = self.shape.names;
        let mut seen = 0u64;
        let mut next = 0;
        while let Some(key) = map.next_key_seed(Key { names, next })? {
            let Some(i) = key else {
                map.next_value::<serde::de::IgnoredAny>()?;
                continue;
            };
            if seen & 1 << i != 0 {
                return Err(Error::duplicate_field(names[i]));
            }
            map.next_value_seed(self.record.slot(i))?;
            seen |= 1 << i;
            next = i + 1;
        }
        match (0..names.len()).find(|i| self.shape.required & !seen & 1 << i != 0) {
            Some(i) => Err(Error::missing_field(names[i])),
            None => Ok(()),
        }
    }
    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        for i in 0..self.shape.names.len() {
            if seq.next_element_seed(self.record.slot(i))?.is_none() && self.shape.required & 1 << i != 0 {
                return Err(serde::de::Error::invalid_length(i, &WithElements(self.shape)));
            }
        }
        Ok(())
    }
}

/// "struct Name with N elements": what a sequence too short was expected to be.
struct WithElements(&'static Shape);

impl serde::de::Expected for WithElements {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        write!(f, "struct {} with {} elements", self.0.name, self.0.names.len())
    }
}

/// Test helper: `A` (read with [`Fields`]) and `B` (its derived mirror,
/// named `Derived`) decode each input alike, from text and from a `Value`:
/// the same value (as serialised) or the same error.
#[cfg(test)]
pub(crate) fn decodes_as_derived<A: Serialize + serde::de::DeserializeOwned, B: Serialize + serde::de::DeserializeOwned>(name: &str, cases: &[String]) {
    fn outcome<T: Serialize + serde::de::DeserializeOwned>(json: &str, name: &str) -> [Result<serde_json::Value, String>; 2] {
        let error = |e: serde_json::Error| e.to_string().replace("Derived", name);
        let text = serde_json::from_str::<T>(json).map(|t| serde_json::to_value(t).unwrap()).map_err(error);
        let value = serde_json::from_str::<serde_json::Value>(json).map_err(|e| e.to_string()).and_then(|v| serde_json::from_value::<T>(v).map(|t| serde_json::to_value(t).unwrap()).map_err(error));
        [text, value]
    }
    for json in cases {
        assert_eq!(outcome::<A>(json, name), outcome::<B>(json, name), "{json}");
    }
}

/// Test helper: inputs around `full` (every field set): each field
/// missing, from it and from `min`, and each set to a value of each JSON
/// type, or twice; an unknown key; non-objects. (Sequences, which need
/// the declaration order, are the caller's.)
#[cfg(test)]
pub(crate) fn struct_cases(full: &serde_json::Value, min: &serde_json::Value) -> Vec<String> {
    use serde_json::json;
    let edit = |base: &serde_json::Value, key: &str, v: Option<serde_json::Value>| {
        let mut o = base.as_object().unwrap().clone();
        match v {
            Some(v) => o.insert(key.to_string(), v),
            None => o.remove(key),
        };
        serde_json::Value::Object(o).to_string()
    };
    let mut cases = vec![full.to_string(), min.to_string(), "{}".into(), "[]".into(), "[0]".into(), "null".into(), "5".into(), r#""x""#.into(), r#"{"x":1"#.into()];
    let keys: Vec<&String> = full.as_object().unwrap().keys().collect();
    for key in &keys {
        cases.push(edit(full, key, None));
        cases.push(edit(min, key, None));
        for bad in [json!("x"), json!(-1), json!(1.5), json!(null), json!(true), json!([]), json!({}), json!({"deep": [1, {}]})] {
            cases.push(edit(full, key, Some(bad)));
        }
        // Twice: the derive says `duplicate field`.
        let text = min.to_string();
        cases.push(format!("{{\"{key}\":{},{}", full[key.as_str()], &text[1..]));
    }
    cases.push(edit(min, "unknown", Some(json!({"deep": [1, 2]}))));
    cases
}

/// A visitor that accepts nothing: its errors say what was expected.
struct Expecting(&'static str);

impl serde::de::Visitor<'_> for Expecting {
    type Value = ();
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str(self.0)
    }
}

/// A page's answer to `willBeginDelayedRequest`.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "decision", rename_all = "camelCase")]
pub enum DelayedAnswer {
    /// `.continueLoading`.
    Continue,
    /// `.cancel`: the task completes with -999.
    Cancel,
    /// `.useNewRequest(request)`.
    Request {
        /// The request the task makes instead.
        request: Request,
    },
}

impl<'de> Deserialize<'de> for DelayedAnswer {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let value = serde_json::Value::deserialize(d)?;
        let answer = match tagged(&value, "internally tagged enum DelayedAnswer", "decision", &["continue", "cancel", "request"]) {
            Ok((0, _)) => Ok(DelayedAnswer::Continue),
            Ok((1, _)) => Ok(DelayedAnswer::Cancel),
            Ok((_, map)) => field_text(map, "request").map(|request| DelayedAnswer::Request { request }),
            Err(e) => Err(e),
        };
        answer.map_err(serde::de::Error::custom)
    }
}

/// A command from a page to the daemon.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "op", rename_all = "camelCase")]
pub enum Command {
    /// `task.resume()`: store the task (first time) and run it.
    #[serde(rename_all = "camelCase")]
    Resume {
        /// The task as the page knows it.
        task: TaskRecord,
        /// The page has not stored this task yet (its first `resume()`).
        fresh: bool,
        /// Task identifiers below this are taken in the session (renumbering floor).
        id_floor: u64,
        /// The session's configuration, stored with the task.
        config: Option<ConfigData>,
        /// The session's `sessionDescription` (stored with its
        /// configuration: a launch notification shows it).
        #[serde(skip_serializing_if = "Option::is_none")]
        session_description: Option<String>,
    },
    /// `task.suspend()`.
    #[serde(rename_all = "camelCase")]
    Suspend {
        /// The session identifier.
        session: String,
        /// The task's identifier.
        task_id: u64,
    },
    /// `task.cancel()`.
    #[serde(rename_all = "camelCase")]
    Cancel {
        /// The session identifier.
        session: String,
        /// The task's identifier.
        task_id: u64,
        /// The task as the page knows it: a task never resumed is not
        /// stored yet, and is cancelled (and stored) as given.
        #[serde(skip_serializing_if = "Option::is_none")]
        task: Option<TaskRecord>,
    },
    /// `cancel(byProducingResumeData:)`.
    #[serde(rename_all = "camelCase")]
    CancelByProducingResumeData {
        /// The session identifier.
        session: String,
        /// The task's identifier.
        task_id: u64,
    },
    /// The app's answer to `willBeginDelayedRequest`.
    #[serde(rename_all = "camelCase")]
    DelayedRequest {
        /// The session identifier.
        session: String,
        /// The task's identifier.
        task_id: u64,
        /// What the delegate decided.
        answer: DelayedAnswer,
    },
    /// `simulateNetworkConditions`: judge as if the link were this (`None`: the real one).
    SimulateNetwork {
        /// The link to assume.
        conditions: Option<NetworkInfo>,
    },
    /// The page could not start the task's Background Fetch (the browser
    /// has none, or refused): the task runs with `fetch`.
    #[serde(rename_all = "camelCase")]
    BackgroundFetchUnavailable {
        /// The session identifier.
        session: String,
        /// The task's identifier.
        task_id: u64,
    },
    /// Any page of the origin loaded the library: resume what is pending.
    Wake,
    /// A page's heartbeat (keeps engines that stop idle workers from doing so).
    Ping,
    /// `daemonStatus()`.
    Status,
}

const OPS: &[&str] = &["resume", "suspend", "cancel", "cancelByProducingResumeData", "delayedRequest", "simulateNetwork", "backgroundFetchUnavailable", "wake", "ping", "status"];

/// Read by hand from a `serde_json::Value` as the derive read it
/// (`deny_unknown_fields`; fields in the object's order, then the missing
/// ones in declaration order; records from their text, `via_text`): the
/// derive's decoder of an internally tagged enum brings serde's `Content`
/// buffer into the worker's wasm. Test `commands_decode_as_the_derive`
/// compares the two.
impl<'de> Deserialize<'de> for Command {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let value = serde_json::Value::deserialize(d)?;
        Command::from_value(&value).map_err(serde::de::Error::custom)
    }
}

/// A [`Command`]'s fields as read, before the variant is built.
#[derive(Default)]
struct CommandFields {
    task: Option<Option<TaskRecord>>,
    fresh: Option<bool>,
    id_floor: Option<u64>,
    config: Option<Option<ConfigData>>,
    session_description: Option<Option<String>>,
    session: Option<String>,
    task_id: Option<u64>,
    answer: Option<DelayedAnswer>,
    conditions: Option<Option<NetworkInfo>>,
}

/// `null` or a record read from its text (`via_text_opt`).
pub(crate) fn opt_text<T: serde::de::DeserializeOwned>(v: &serde_json::Value) -> Result<Option<T>, serde_json::Error> {
    if v.is_null() {
        Ok(None)
    } else {
        from_text(v).map(Some)
    }
}

fn need<T>(v: Option<T>, name: &'static str) -> Result<T, serde_json::Error> {
    v.ok_or_else(|| serde::de::Error::missing_field(name))
}

impl Command {
    fn from_value(value: &serde_json::Value) -> Result<Command, serde_json::Error> {
        use serde::de::Error;
        let (op, map) = tagged(value, "internally tagged enum Command", "op", OPS)?;
        let names: &'static [&'static str] = match op {
            0 => &["task", "fresh", "idFloor", "config", "sessionDescription"],
            2 => &["session", "taskId", "task"],
            4 => &["session", "taskId", "answer"],
            5 => &["conditions"],
            7 => return Ok(Command::Wake),
            8 => return Ok(Command::Ping),
            9 => return Ok(Command::Status),
            _ => &["session", "taskId"],
        };
        let mut f = CommandFields::default();
        for (key, v) in map {
            match key.as_str() {
                "op" => {}
                k if !names.contains(&k) => return Err(Error::unknown_field(k, names)),
                "task" if op == 0 => f.task = Some(Some(from_text(v)?)),
                "task" => f.task = Some(opt_text(v)?),
                "fresh" => f.fresh = Some(Deserialize::deserialize(v)?),
                "idFloor" => f.id_floor = Some(Deserialize::deserialize(v)?),
                "config" => f.config = Some(opt_text(v)?),
                "sessionDescription" => f.session_description = Some(Deserialize::deserialize(v)?),
                "session" => f.session = Some(Deserialize::deserialize(v)?),
                "taskId" => f.task_id = Some(Deserialize::deserialize(v)?),
                "answer" => f.answer = Some(Deserialize::deserialize(v)?),
                _ => f.conditions = Some(Deserialize::deserialize(v)?),
            }
        }
        if op == 0 {
            let task = need(f.task, "task")?.unwrap_or_else(|| unreachable!("read from text"));
            return Ok(Command::Resume { task, fresh: f.fresh.unwrap_or_default(), id_floor: f.id_floor.unwrap_or_default(), config: f.config.flatten(), session_description: f.session_description.flatten() });
        }
        if op == 5 {
            return Ok(Command::SimulateNetwork { conditions: f.conditions.flatten() });
        }
        let session = need(f.session, "session")?;
        let task_id = need(f.task_id, "taskId")?;
        Ok(match op {
            1 => Command::Suspend { session, task_id },
            2 => Command::Cancel { session, task_id, task: f.task.flatten() },
            3 => Command::CancelByProducingResumeData { session, task_id },
            4 => Command::DelayedRequest { session, task_id, answer: need(f.answer, "answer")? },
            _ => Command::BackgroundFetchUnavailable { session, task_id },
        })
    }
}

/// What a page (or the worker's own script) may ask of the worker host
/// itself rather than of the machine.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "op", rename_all = "camelCase")]
pub enum HostRequest {
    /// `simulateDaemonKill()`: end this worker life as a browser would.
    /// Answered with [`Reply::Killed`].
    SimulateKill,
    /// Background Sync asks whether any task is unfinished. Answered with
    /// [`Reply::Pending`].
    Pending,
}

/// Read by hand ([`tagged`]), as [`Command`] is.
impl<'de> Deserialize<'de> for HostRequest {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let value = serde_json::Value::deserialize(d)?;
        HostRequest::from_value(&value).map_err(serde::de::Error::custom)
    }
}

impl HostRequest {
    fn from_value(value: &serde_json::Value) -> Result<HostRequest, serde_json::Error> {
        let (i, _) = tagged(value, "internally tagged enum HostRequest", "op", &["simulateKill", "pending"])?;
        Ok(if i == 0 { HostRequest::SimulateKill } else { HostRequest::Pending })
    }
}

/// A page's message to the worker, decoded ([`decode_page_message`]).
#[derive(Clone, Debug, PartialEq)]
#[allow(clippy::large_enum_variant)] // decoded once per message and moved, never stored
pub enum PageMessage {
    /// A command for the machine.
    Command {
        /// The `op` it came with.
        op: String,
        /// The command.
        command: Command,
    },
    /// A request for the worker host itself.
    Host(HostRequest),
}

/// Decodes what a page posts: a [`Command`] or a [`HostRequest`], as
/// serde writes them (`{op, ...}`). The shapes pages of earlier versions
/// sent are accepted too, so that an open page of the previous release
/// keeps working with a newly installed worker: `delayedRequest` with its
/// `decision` and `request` flat, `suspend` with the page's `task`,
/// `backgroundFetchUnavailable` with a `reason`, and `resume` with the
/// `sessionDescription` inside its configuration. Anything else is refused
/// with a sentence naming the problem.
///
/// ```
/// use bgsession::core::protocol::{decode_page_message, Command, DelayedAnswer, HostRequest, PageMessage};
///
/// let cancel = Command::DelayedRequest { session: "s".into(), task_id: 2, answer: DelayedAnswer::Cancel };
/// let sent = serde_json::to_string(&cancel).unwrap();
/// assert_eq!(decode_page_message(&sent).unwrap(), PageMessage::Command { op: "delayedRequest".into(), command: cancel.clone() });
/// let flat = r#"{"op":"delayedRequest","session":"s","taskId":2,"decision":"cancel"}"#;
/// assert_eq!(decode_page_message(flat).unwrap(), PageMessage::Command { op: "delayedRequest".into(), command: cancel });
/// assert_eq!(decode_page_message(r#"{"op":"simulateKill"}"#).unwrap(), PageMessage::Host(HostRequest::SimulateKill));
/// assert!(decode_page_message(r#"{"op":"format"}"#).unwrap_err().contains("format"));
/// assert!(decode_page_message(r#""hello""#).unwrap_err().contains("object"));
/// ```
pub fn decode_page_message(json: &str) -> Result<PageMessage, String> {
    let mut value: serde_json::Value = serde_json::from_str(json).map_err(|e| format!("a daemon command must be an object {{op, ...}}: {e}"))?;
    let obj = value.as_object_mut().ok_or("a daemon command must be an object {op, ...}")?;
    let op = obj.get("op").and_then(|o| o.as_str()).unwrap_or_default().to_string();
    let Some(shape) = page_shape(&op) else {
        return Err(format!("unknown daemon command \"{op}\" (a daemon command is an object {{op, ...}})"));
    };
    if matches!(op.as_str(), "simulateKill" | "pending") {
        return HostRequest::from_value(&value).map(PageMessage::Host).map_err(|e| format!("daemon command \"{op}\" {shape}: {e}"));
    }
    upgrade_earlier_shape(&op, obj);
    let command = Command::from_value(&value).map_err(|e| format!("daemon command \"{op}\" {shape}: {e}"))?;
    Ok(PageMessage::Command { op, command })
}

/// Rewrites what a page of an earlier version sent as the [`Command`] it meant.
fn upgrade_earlier_shape(op: &str, obj: &mut serde_json::Map<String, serde_json::Value>) {
    match op {
        "suspend" => drop(obj.remove("task")),
        "backgroundFetchUnavailable" => drop(obj.remove("reason")),
        "delayedRequest" if !obj.contains_key("answer") => {
            let mut answer = serde_json::Map::new();
            answer.insert("decision".into(), obj.remove("decision").unwrap_or_default());
            if let Some(r) = obj.remove("request").filter(|r| !r.is_null()) {
                answer.insert("request".into(), r);
            }
            obj.insert("answer".into(), answer.into());
        }
        "resume" if !obj.contains_key("sessionDescription") => {
            let inner = obj.get_mut("config").and_then(|c| c.as_object_mut()).and_then(|c| c.remove("sessionDescription"));
            if let Some(d) = inner.filter(|d| d.is_string()) {
                obj.insert("sessionDescription".into(), d);
            }
        }
        _ => {}
    }
}

/// The fields a page sends with each `op` (for error messages); `None`:
/// no such command.
fn page_shape(op: &str) -> Option<&'static str> {
    Some(match op {
        "resume" => "{op, task, fresh, idFloor, config, sessionDescription}",
        "suspend" | "cancelByProducingResumeData" => "{op, session, taskId}",
        "cancel" => "{op, session, taskId, task}",
        "delayedRequest" => "{op, session, taskId, answer: {decision, request}}",
        "backgroundFetchUnavailable" => "{op, session, taskId}",
        "simulateNetwork" => "{op, conditions}",
        "wake" | "ping" | "status" | "simulateKill" | "pending" => "{op}",
        _ => return None,
    })
}

/// The daemon's answer to a [`Command`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[allow(clippy::large_enum_variant)] // one per command, moved once
#[serde(tag = "reply", rename_all = "camelCase")]
pub enum Reply {
    /// The task as stored after the command.
    Task {
        /// The stored record (boxed: the other replies are small).
        task: Box<TaskRecord>,
    },
    /// `cancelByProducingResumeData`: the resume data, if the download can continue.
    ResumeData {
        /// The bytes (`None`: nothing to resume from).
        data: Option<Vec<u8>>,
    },
    /// Done (or, `false`, nothing to do).
    Done {
        /// Whether the command changed anything.
        changed: bool,
    },
    /// `daemonStatus()`.
    #[serde(rename_all = "camelCase")]
    Status {
        /// Transfers running in this worker (`fetch`).
        transfers: usize,
        /// Transfers the browser's download service runs (Background Fetch).
        #[serde(default)]
        background_fetches: usize,
        /// Tasks not yet completed.
        pending: usize,
    },
    /// [`HostRequest::SimulateKill`]: the worker life ended.
    Killed {
        /// Transfers it stopped.
        transfers: usize,
    },
    /// [`HostRequest::Pending`].
    Pending {
        /// Whether a task is still running.
        running: bool,
    },
    /// The link the daemon judges by.
    Network {
        /// As judged.
        network: NetworkInfo,
    },
    /// The command was refused; `name` is the rule (e.g. `InvalidStateError`).
    Error {
        /// The error's name.
        name: String,
        /// What was wrong, in a sentence.
        message: String,
    },
}

/// What the daemon is doing, for timelines.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum DaemonEvent {
    /// A new worker life began.
    Started,
    /// A transfer started with none running.
    Busy,
    /// Nothing runs or waits for a timer.
    Idle,
    /// The worker life ended (`simulateDaemonKill`): transfers stopped.
    Killed,
}

impl<'de> Deserialize<'de> for DaemonEvent {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let all = [Self::Started, Self::Busy, Self::Idle, Self::Killed];
        Ok(all[unit_variant(d, "DaemonEvent", &["started", "busy", "idle", "killed"])?])
    }
}

/// A message from the daemon to every page of the origin.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "camelCase")]
pub enum Broadcast {
    /// The journal of `session` grew.
    Journal {
        /// The session identifier.
        session: String,
    },
    /// A new task of `session` is stored under `task_id`: every page
    /// numbers its next tasks of that session above it. (The localStorage
    /// counter the tabs share may reach another tab late: Chromium's
    /// per-process copies were seen lagging under load, and a tab drew a
    /// number the daemon had just given, so its task was renumbered.)
    Numbered {
        /// The session identifier.
        session: String,
        /// The task's identifier.
        #[serde(rename = "taskId")]
        task_id: u64,
    },
    /// The daemon's own life.
    Daemon {
        /// What happened.
        event: DaemonEvent,
        /// Transfers running now.
        transfers: usize,
        /// When (ms since epoch).
        at: f64,
    },
}

/// Read by hand ([`tagged`]): the derive's decoder of an internally tagged
/// enum brings serde's `Content` buffer into the page's wasm.
impl<'de> Deserialize<'de> for Broadcast {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let value = serde_json::Value::deserialize(d)?;
        let read = |value: &serde_json::Value| -> Result<Broadcast, serde_json::Error> {
            Ok(match tagged(value, "internally tagged enum Broadcast", "type", &["journal", "numbered", "daemon"])? {
                (0, map) => Broadcast::Journal { session: field(map, "session")? },
                (1, map) => Broadcast::Numbered { session: field(map, "session")?, task_id: field(map, "taskId")? },
                (_, map) => Broadcast::Daemon { event: field(map, "event")?, transfers: field(map, "transfers")?, at: field(map, "at")? },
            })
        };
        read(&value).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_messages_decode_or_say_what_is_wrong() {
        let suspend = decode_page_message(r#"{"op":"suspend","session":"s","taskId":3,"task":{"whatever":1}}"#).unwrap();
        assert_eq!(suspend, PageMessage::Command { op: "suspend".into(), command: Command::Suspend { session: "s".into(), task_id: 3 } });
        let unavailable = decode_page_message(r#"{"op":"backgroundFetchUnavailable","session":"s","taskId":3,"reason":"NotSupportedError"}"#).unwrap();
        assert!(matches!(unavailable, PageMessage::Command { command: Command::BackgroundFetchUnavailable { task_id: 3, .. }, .. }));
        let delayed = decode_page_message(r#"{"op":"delayedRequest","session":"s","taskId":1,"decision":"request","request":{"url":"https://example.test/b"}}"#);
        assert!(matches!(delayed, Ok(PageMessage::Command { command: Command::DelayedRequest { answer: DelayedAnswer::Request { .. }, .. }, .. })), "{delayed:?}");
        assert_eq!(decode_page_message(r#"{"op":"simulateKill"}"#), Ok(PageMessage::Host(HostRequest::SimulateKill)));
        assert_eq!(decode_page_message(r#"{"op":"pending"}"#), Ok(PageMessage::Host(HostRequest::Pending)));
        for (bad, names) in [
            (r#"{"op":"resume","task":5}"#, "resume"),
            (r#"{"op":"suspend","session":"s"}"#, "taskId"),
            (r#"{"op":"suspend","session":5,"taskId":"seven"}"#, "session, taskId"),
            (r#"{"op":"resume","task":42}"#, "task"),
            (r#"{"session":"s"}"#, "unknown daemon command \"\""),
            (r#"{"op":"resume","fresh":true}"#, "missing field `task`"),
            (r#"[1,2]"#, "object"),
            (r#"{"op":"frobnicate"}"#, "frobnicate"),
        ] {
            let err = decode_page_message(bad).unwrap_err();
            assert!(err.contains(names), "{bad}: {err}");
        }
    }

    /// What a page of this version sends is what the worker decodes; what
    /// a page of the previous version sent still decodes to the same.
    #[test]
    fn commands_round_trip_and_earlier_shapes_still_decode() {
        let task = TaskRecord::new_download("s", 4, Request::get("https://example.test/a").unwrap(), 1.0, "b".into());
        let config = ConfigData::background("s").unwrap();
        let commands = [
            Command::Resume { task: task.clone(), fresh: true, id_floor: 4, config: Some(config.clone()), session_description: Some("Podcasts".into()) },
            Command::Suspend { session: "s".into(), task_id: 4 },
            Command::Cancel { session: "s".into(), task_id: 4, task: Some(task.clone()) },
            Command::CancelByProducingResumeData { session: "s".into(), task_id: 4 },
            Command::DelayedRequest { session: "s".into(), task_id: 4, answer: DelayedAnswer::Request { request: Request::get("https://example.test/b").unwrap() } },
            Command::DelayedRequest { session: "s".into(), task_id: 4, answer: DelayedAnswer::Continue },
            Command::SimulateNetwork { conditions: None },
            Command::BackgroundFetchUnavailable { session: "s".into(), task_id: 4 },
            Command::Wake,
            Command::Ping,
            Command::Status,
        ];
        for c in commands {
            let json = serde_json::to_string(&c).unwrap();
            match decode_page_message(&json) {
                Ok(PageMessage::Command { command, .. }) => assert_eq!(command, c, "{json}"),
                other => panic!("{json}: {other:?}"),
            }
        }
        for h in [HostRequest::SimulateKill, HostRequest::Pending] {
            assert_eq!(decode_page_message(&serde_json::to_string(&h).unwrap()), Ok(PageMessage::Host(h)));
        }
        // The previous version's resume: the description inside the configuration.
        let mut old_config = serde_json::to_value(&config).unwrap();
        old_config["sessionDescription"] = "Podcasts".into();
        let old = serde_json::json!({"op": "resume", "task": task, "config": old_config, "fresh": true, "idFloor": 4});
        match decode_page_message(&old.to_string()) {
            Ok(PageMessage::Command { command: Command::Resume { session_description, config: Some(c), .. }, .. }) => {
                assert_eq!(session_description.as_deref(), Some("Podcasts"));
                assert_eq!(c, config);
            }
            other => panic!("{other:?}"),
        }
    }
}

/// Records inside commands are read from their text (`from_text`): the errors
/// say what serde's derive said (checked against it when the change was made).
#[cfg(test)]
mod records_in_commands {
    use super::*;

    #[test]
    fn errors_read_as_before() {
        let cases = [
            (r#"{"op":"resume","task":{"session":5}}"#, r#"daemon command "resume" {op, task, fresh, idFloor, config, sessionDescription}: invalid type: integer `5`, expected a string"#),
            (r#"{"op":"resume","task":"x"}"#, r#"daemon command "resume" {op, task, fresh, idFloor, config, sessionDescription}: invalid type: string "x", expected struct TaskRecord"#),
            (r#"{"op":"resume","task":null}"#, r#"daemon command "resume" {op, task, fresh, idFloor, config, sessionDescription}: invalid type: null, expected struct TaskRecord"#),
            (r#"{"op":"resume","task":{"session":"s","taskId":1.5},"config":{"identifier":3}}"#, r#"daemon command "resume" {op, task, fresh, idFloor, config, sessionDescription}: invalid type: integer `3`, expected a string"#),
            (r#"{"op":"delayedRequest","session":"s","taskId":1,"answer":{"decision":"request","request":{"url":7}}}"#, r#"daemon command "delayedRequest" {op, session, taskId, answer: {decision, request}}: invalid type: integer `7`, expected a string"#),
            (r#"{"op":"delayedRequest","session":"s","taskId":1,"answer":{"decision":"request"}}"#, r#"daemon command "delayedRequest" {op, session, taskId, answer: {decision, request}}: missing field `request`"#),
        ];
        for (json, want) in cases {
            assert_eq!(decode_page_message(json).unwrap_err(), want);
        }
        let none = decode_page_message(r#"{"op":"cancel","session":"s","taskId":1,"task":null}"#).unwrap();
        assert!(matches!(none, PageMessage::Command { command: Command::Cancel { task: None, .. }, .. }));
    }
}

/// `unit_variant` decodes and fails as serde's derive does, from text and
/// from a `serde_json::Value`.
#[cfg(test)]
mod unit_enums {
    #[derive(serde::Deserialize, Debug)]
    #[serde(rename_all = "lowercase")]
    enum TaskState {
        Running,
        Suspended,
        Canceling,
        Completed,
    }

    #[test]
    fn decode_and_fail_as_the_derive() {
        for json in [r#""running""#, r#""completed""#, r#""Running""#, r#""weird""#, "5", "null", r#"{"running":null}"#, r#"{"running":1}"#, r#"{"x":1}"#, r#"["running"]"#, r#""""#, "{}"] {
            let derived = serde_json::from_str::<TaskState>(json).map(|v| format!("{v:?}")).map_err(|e| e.to_string());
            let ours = serde_json::from_str::<crate::core::task::TaskState>(json).map(|v| format!("{v:?}")).map_err(|e| e.to_string());
            assert_eq!(ours, derived, "{json}");
            let value: serde_json::Value = serde_json::from_str(json).unwrap();
            let derived = serde_json::from_value::<TaskState>(value.clone()).map(|v| format!("{v:?}")).map_err(|e| e.to_string());
            let ours = serde_json::from_value::<crate::core::task::TaskState>(value).map(|v| format!("{v:?}")).map_err(|e| e.to_string());
            assert_eq!(ours, derived, "{json} as a Value");
        }
    }
}

/// Broadcasts decode as they are written, and fail with the derive's
/// messages. (Their text positions are not kept: a page reads broadcasts
/// with `js::from_js`, which drops them.)
#[cfg(test)]
mod broadcasts {
    use super::*;

    /// What `derive(Deserialize)` made of `Broadcast`.
    #[derive(Deserialize, Debug)]
    #[serde(tag = "type", rename_all = "camelCase")]
    #[allow(dead_code)]
    enum Derived {
        Journal { session: String },
        Numbered {
            session: String,
            #[serde(rename = "taskId")]
            task_id: u64,
        },
        Daemon { event: DaemonEvent, transfers: usize, at: f64 },
    }

    #[test]
    fn round_trip_and_errors() {
        for b in [Broadcast::Journal { session: "s".into() }, Broadcast::Numbered { session: "s".into(), task_id: 7 }, Broadcast::Daemon { event: DaemonEvent::Idle, transfers: 2, at: 1.5 }] {
            let json = serde_json::to_string(&b).unwrap();
            assert_eq!(serde_json::from_str::<Broadcast>(&json).unwrap(), b, "{json}");
        }
        for (json, want) in [
            (r#"{"type":"journal"}"#, "missing field `session`"),
            (r#"{"session":"s"}"#, "missing field `type`"),
            (r#"{"type":"gone"}"#, "unknown variant `gone`, expected one of `journal`, `numbered`, `daemon`"),
            (r#"{"type":"numbered","session":"s"}"#, "missing field `taskId`"),
            (r#"{"type":"numbered","session":"s","taskId":-2}"#, "invalid value: integer `-2`, expected u64"),
            (r#"{"type":"daemon","event":"slept","transfers":0,"at":0}"#, "unknown variant `slept`, expected one of `started`, `busy`, `idle`, `killed`"),
            (r#"{"type":"daemon","event":"idle","transfers":-1,"at":0}"#, "invalid value: integer `-1`, expected usize"),
            ("[]", "missing field `type`"),
            ("5", "invalid type: integer `5`, expected internally tagged enum Broadcast"),
            (r#"{"type":5}"#, "invalid type: integer `5`, expected variant identifier"),
        ] {
            let err = serde_json::from_str::<Broadcast>(json).unwrap_err().to_string();
            assert_eq!(err.split(" at line ").next(), Some(want), "{json}");
            let derived = serde_json::from_str::<Derived>(json).unwrap_err().to_string().replace("Derived", "Broadcast");
            assert_eq!(derived.split(" at line ").next(), Some(want), "{json}: the derive");
        }
    }
}

/// `Command` and `HostRequest`, read by hand, decode and fail as the
/// derive did (a derived mirror with the attributes they had).
#[cfg(test)]
mod commands_as_derived {
    use super::*;

    #[derive(Serialize, Deserialize)]
    #[serde(tag = "op", rename_all = "camelCase", deny_unknown_fields)]
    #[allow(clippy::large_enum_variant)]
    enum Derived {
        #[serde(rename_all = "camelCase")]
        Resume {
            #[serde(deserialize_with = "via_text")]
            task: TaskRecord,
            #[serde(default)]
            fresh: bool,
            #[serde(default)]
            id_floor: u64,
            #[serde(default, deserialize_with = "via_text_opt")]
            config: Option<ConfigData>,
            #[serde(default, skip_serializing_if = "Option::is_none")]
            session_description: Option<String>,
        },
        #[serde(rename_all = "camelCase")]
        Suspend { session: String, task_id: u64 },
        #[serde(rename_all = "camelCase")]
        Cancel {
            session: String,
            task_id: u64,
            #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "via_text_opt")]
            task: Option<TaskRecord>,
        },
        #[serde(rename_all = "camelCase")]
        CancelByProducingResumeData { session: String, task_id: u64 },
        #[serde(rename_all = "camelCase")]
        DelayedRequest { session: String, task_id: u64, answer: DelayedAnswer },
        SimulateNetwork { conditions: Option<NetworkInfo> },
        #[serde(rename_all = "camelCase")]
        BackgroundFetchUnavailable { session: String, task_id: u64 },
        Wake,
        Ping,
        Status,
    }

    #[derive(Serialize, Deserialize)]
    #[serde(tag = "op", rename_all = "camelCase", deny_unknown_fields)]
    enum DerivedHost {
        SimulateKill,
        Pending,
    }

    fn same<A: Serialize + serde::de::DeserializeOwned, B: Serialize + serde::de::DeserializeOwned>(json: &str) {
        let value: serde_json::Value = serde_json::from_str(json).unwrap();
        let ours = serde_json::from_value::<A>(value.clone()).map(|c| serde_json::to_value(c).unwrap()).map_err(|e| e.to_string());
        let derived = serde_json::from_value::<B>(value).map(|c| serde_json::to_value(c).unwrap()).map_err(|e| e.to_string().replace("DerivedHost", "HostRequest").replace("Derived", "Command"));
        assert_eq!(ours, derived, "{json}");
    }

    #[test]
    fn commands_decode_as_the_derive() {
        let task = serde_json::to_string(&TaskRecord::new_download("s", 4, Request::get("https://example.test/a").unwrap(), 1.0, "b".into())).unwrap();
        let config = serde_json::to_string(&ConfigData::background("s").unwrap()).unwrap();
        let cases = [
            format!(r#"{{"op":"resume","task":{task},"fresh":true,"idFloor":4,"config":{config},"sessionDescription":"P"}}"#),
            format!(r#"{{"op":"resume","task":{task}}}"#),
            format!(r#"{{"op":"resume","task":{task},"config":null,"sessionDescription":null}}"#),
            format!(r#"{{"op":"resume","task":{task},"extra":1}}"#),
            format!(r#"{{"op":"resume","task":{task},"fresh":"yes"}}"#),
            format!(r#"{{"op":"resume","task":{task},"idFloor":-1,"zzz":1}}"#),
            format!(r#"{{"op":"cancel","session":"s","taskId":1,"task":{task}}}"#),
            r#"{"op":"resume","fresh":true}"#.into(),
            r#"{"op":"resume","task":null}"#.into(),
            r#"{"op":"resume","task":"x"}"#.into(),
            r#"{"op":"resume","task":{"session":5}}"#.into(),
            r#"{"op":"suspend","session":"s","taskId":3}"#.into(),
            r#"{"op":"suspend","session":"s"}"#.into(),
            r#"{"op":"suspend","taskId":3}"#.into(),
            r#"{"op":"suspend"}"#.into(),
            r#"{"op":"suspend","session":5,"taskId":"seven"}"#.into(),
            r#"{"op":"suspend","session":"s","taskId":3,"task":{}}"#.into(),
            r#"{"op":"suspend","aaa":1,"session":5}"#.into(),
            r#"{"op":"cancel","session":"s","taskId":1}"#.into(),
            r#"{"op":"cancel","session":"s","taskId":1,"task":null}"#.into(),
            r#"{"op":"cancel","session":"s","taskId":1,"task":3}"#.into(),
            r#"{"op":"cancelByProducingResumeData","session":"s","taskId":1}"#.into(),
            r#"{"op":"delayedRequest","session":"s","taskId":1,"answer":{"decision":"cancel"}}"#.into(),
            r#"{"op":"delayedRequest","session":"s","taskId":1,"answer":{"decision":"request","request":{"url":"https://a/b"}}}"#.into(),
            r#"{"op":"delayedRequest","session":"s","taskId":1,"answer":{"decision":"request"}}"#.into(),
            r#"{"op":"delayedRequest","session":"s","taskId":1,"answer":{"decision":"maybe"}}"#.into(),
            r#"{"op":"delayedRequest","session":"s","taskId":1}"#.into(),
            r#"{"op":"simulateNetwork","conditions":null}"#.into(),
            r#"{"op":"simulateNetwork"}"#.into(),
            r#"{"op":"simulateNetwork","conditions":{"type":"wifi","effectiveType":"4g","saveData":false}}"#.into(),
            r#"{"op":"simulateNetwork","conditions":5}"#.into(),
            r#"{"op":"backgroundFetchUnavailable","session":"s","taskId":2}"#.into(),
            r#"{"op":"wake"}"#.into(),
            r#"{"op":"ping","extra":1}"#.into(),
            r#"{"op":"status"}"#.into(),
            r#"{"op":"format"}"#.into(),
            r#"{"op":5}"#.into(),
            r#"{"session":"s"}"#.into(),
            r#"[]"#.into(),
            r#""hello""#.into(),
        ];
        for json in &cases {
            same::<Command, Derived>(json);
        }
        for json in [r#"{"op":"simulateKill"}"#, r#"{"op":"pending"}"#, r#"{"op":"pending","x":1}"#, r#"{"op":"resume"}"#, r#"{}"#, "7"] {
            same::<HostRequest, DerivedHost>(json);
        }
    }
}
