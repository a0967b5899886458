//! Where decided events go: the [`EventSink`] trait and its implementations.
//!
//! The stream engine decides and hands each event to a sink, with its evidence images. A sink
//! is idempotent by `event_id` (upstream delivers at least once) and says whether an id is
//! already stored, so that a second replay into the same folder never rewrites the evidence of
//! an event it holds.
//!
//! - [`FolderSink`]: a data folder — `events.jsonl`, `journal.db` and `evidence/` — as `replay`
//!   writes it;
//! - [`MemorySink`]: events and encoded evidence in memory, for tests;
//! - [`NullSink`]: encodes the evidence (its cost is part of deciding) and keeps nothing, for
//!   `passwatch bench`.
//!
//! The fleet's publisher (NATS) goes behind the same trait.

use crate::evidence::{encode_evidence, write_evidence, Evidence};
use crate::{Event, EventError, Journal, JsonlSink};
use image::RgbImage;
use std::collections::HashSet;
use std::path::{Path, PathBuf};

/// Where events go. Implementations are idempotent by `event_id`: emitting an event whose id
/// was already emitted does nothing.
pub trait EventSink {
    /// Whether an event with this id is already stored (by this sink or an earlier run).
    fn contains(&self, event_id: &str) -> bool;
    /// Stores the evidence images of `event_id` (the best crop and its frame, faces already
    /// blurred) and returns the record the event will carry.
    fn store_evidence(
        &mut self,
        event_id: &str,
        crop: &RgbImage,
        frame: &RgbImage,
    ) -> Result<Evidence, EventError>;
    /// Writes one event (or nothing, if its id was written before).
    fn emit(&mut self, event: &Event) -> Result<(), EventError>;
    /// Makes everything emitted so far durable.
    fn flush(&mut self) -> Result<(), EventError>;
}

/// A data folder: `events.jsonl` (de-duplicated by `event_id`), `journal.db` (`INSERT OR
/// IGNORE`), and `evidence/<event_id>/` beside them. It holds the folder's writer lock
/// ([`crate::retention::lock_writer`]) while open, so that a purge by another process never
/// rewrites `events.jsonl` under it, and a second writer is refused.
#[derive(Debug)]
pub struct FolderSink {
    dir: PathBuf,
    /// The folder's writer lock.
    pub writer: crate::retention::WriterLock,
    /// `events.jsonl`.
    pub jsonl: JsonlSink,
    /// `journal.db`.
    pub journal: Journal,
}

impl FolderSink {
    /// Opens (or creates) the data folder `dir`.
    pub fn open(dir: impl AsRef<Path>) -> Result<FolderSink, EventError> {
        let dir = dir.as_ref().to_owned();
        std::fs::create_dir_all(&dir).map_err(|source| EventError::Write {
            path: dir.clone(),
            source,
        })?;
        let writer = crate::retention::lock_writer(&dir)?;
        Ok(FolderSink {
            writer,
            jsonl: JsonlSink::open(dir.join("events.jsonl"))?,
            journal: Journal::open(dir.join("journal.db"))?,
            dir,
        })
    }

    /// The folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

impl EventSink for FolderSink {
    fn contains(&self, event_id: &str) -> bool {
        self.jsonl.contains(event_id)
    }

    fn store_evidence(
        &mut self,
        event_id: &str,
        crop: &RgbImage,
        frame: &RgbImage,
    ) -> Result<Evidence, EventError> {
        write_evidence(&self.dir, event_id, crop, frame)
    }

    fn emit(&mut self, event: &Event) -> Result<(), EventError> {
        self.jsonl.emit(event)?;
        self.journal.insert(event).map(|_| ())
    }

    fn flush(&mut self) -> Result<(), EventError> {
        self.jsonl.flush()
    }
}

/// Events and their encoded evidence in memory.
#[derive(Debug, Default)]
pub struct MemorySink {
    /// The events emitted, in order.
    pub events: Vec<Event>,
    /// The evidence stored: `(event_id, crop JPEG, frame JPEG)`.
    pub evidence: Vec<(String, Vec<u8>, Vec<u8>)>,
    ids: HashSet<String>,
}

impl EventSink for MemorySink {
    fn contains(&self, event_id: &str) -> bool {
        self.ids.contains(event_id)
    }

    fn store_evidence(
        &mut self,
        event_id: &str,
        crop: &RgbImage,
        frame: &RgbImage,
    ) -> Result<Evidence, EventError> {
        let e = encode_evidence(event_id, crop, frame)?;
        self.evidence.push((event_id.to_owned(), e.crop, e.frame));
        Ok(e.evidence)
    }

    fn emit(&mut self, event: &Event) -> Result<(), EventError> {
        if self.ids.insert(event.event_id.clone()) {
            self.events.push(event.clone());
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<(), EventError> {
        Ok(())
    }
}

/// Keeps nothing; encodes the evidence so that deciding costs what it costs in the product.
#[derive(Debug, Default)]
pub struct NullSink {
    /// Events emitted.
    pub emitted: u64,
}

impl EventSink for NullSink {
    fn contains(&self, _event_id: &str) -> bool {
        false
    }

    fn store_evidence(
        &mut self,
        event_id: &str,
        crop: &RgbImage,
        frame: &RgbImage,
    ) -> Result<Evidence, EventError> {
        Ok(encode_evidence(event_id, crop, frame)?.evidence)
    }

    fn emit(&mut self, _event: &Event) -> Result<(), EventError> {
        self.emitted += 1;
        Ok(())
    }

    fn flush(&mut self) -> Result<(), EventError> {
        Ok(())
    }
}
