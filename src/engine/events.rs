//! `events::` — the events journal under the state root (`runtime::events`).

use super::{RhaiResult, at, context, from_dyn, json_to_dyn, rt};
use crate::runtime::{clock, events};
use rhai::plugin::*;
use rhai::{Array, Map};

fn cursor_to_dyn(c: events::Cursor) -> Dynamic {
    let mut m = Map::new();
    m.insert("ino".into(), Dynamic::from_int(c.ino as i64));
    m.insert("offset".into(), Dynamic::from_int(c.offset as i64));
    Dynamic::from_map(m)
}

fn events_to_dyn(list: Vec<serde_json::Value>) -> Array {
    list.into_iter().map(json_to_dyn).collect()
}

fn batch(list: Vec<serde_json::Value>, next: events::Cursor) -> Map {
    let mut m = Map::new();
    m.insert("events".into(), Dynamic::from_array(events_to_dyn(list)));
    m.insert("cursor".into(), cursor_to_dyn(next));
    m
}

fn emitted(e: &serde_json::Value) -> bool {
    match events::append(&context().root, e) {
        Ok(()) => true,
        Err(err) => {
            log::warn!("event {} {} not recorded: {err}", e["Type"], e["Action"]);
            false
        }
    }
}

#[export_module]
mod api {
    use super::*;

    /// Record an event: `typ` (container, image, volume, network), `action`
    /// (create, start, die, …), the object's `id`, and its `attributes`
    /// (`#{name, image, …}`: strings). A journal that cannot be written is
    /// logged as a warning and false returned: an event never fails a command.
    #[rhai_fn(return_raw)]
    pub fn emit(typ: &str, action: &str, id: &str, attributes: Map) -> RhaiResult<bool> {
        let attrs: serde_json::Map<String, serde_json::Value> =
            attributes.into_iter().map(|(k, v)| (k.to_string(), v.to_string().into())).collect();
        let e = events::event(typ, action, id, attrs, clock::now_ns());
        Ok(emitted(&e))
    }

    /// Record a container event from its record `r`: attributes `name`,
    /// `image` and its labels, plus `extra` (`#{exitCode: 0}`, `#{signal: "15"}`).
    #[rhai_fn(name = "container", return_raw)]
    pub fn container_event(r: Map, action: &str, extra: Map) -> RhaiResult<bool> {
        let rec: serde_json::Map<String, serde_json::Value> = from_dyn("record", Dynamic::from_map(r))?;
        let extra: serde_json::Map<String, serde_json::Value> =
            extra.into_iter().map(|(k, v)| (k.to_string(), v.to_string().into())).collect();
        Ok(emitted(&events::container(&rec, action, extra, clock::now_ns())))
    }

    /// Every recorded event, oldest first (Docker's shape: `Type`, `Action`,
    /// `Actor.ID`, `Actor.Attributes`, `time`, `timeNano`), as `#{events,
    /// cursor}`: `since(cursor)` then returns only what came after.
    #[rhai_fn(return_raw)]
    pub fn all(ctx: NativeCallContext) -> RhaiResult<Map> {
        at(&ctx, || rt(events::all(&context().root)).map(|(list, next)| batch(list, next)))
    }

    /// Where the journal ends now, as a cursor for `since`.
    pub fn end() -> Dynamic {
        cursor_to_dyn(events::end(&context().root))
    }

    /// The events recorded after `cursor`: `#{events: [...], cursor}` (pass
    /// the new cursor next time; a rotation in between loses nothing).
    #[rhai_fn(return_raw)]
    pub fn since(ctx: NativeCallContext, cursor: Map) -> RhaiResult<Map> {
        at(&ctx, || {
            let ino: i64 =
                from_dyn("cursor.ino", cursor.get("ino").cloned().unwrap_or(Dynamic::from_int(0)))?;
            let offset: i64 =
                from_dyn("cursor.offset", cursor.get("offset").cloned().unwrap_or(Dynamic::from_int(0)))?;
            let c = events::Cursor { ino: ino as u64, offset: offset as u64 };
            let (list, next) = rt(events::since(&context().root, c))?;
            Ok(batch(list, next))
        })
    }
}

pub fn module() -> Module {
    exported_module!(api)
}
