//! The kinds of error the core reports, for drivers to act on.

/// What an error is about, for the driver to act on: a model error skips the frame, an ingest
/// error ends the source's session (files: the file; cameras: reconnect), an event write error
/// halts decisions on the stream, a registry error skips the decision's search.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    /// A model failed on a frame.
    Model,
    /// Decoding failed (see `ingest::IngestError`).
    Ingest,
    /// An event or its evidence could not be written.
    EventWrite,
    /// A registry snapshot could not answer.
    Registry,
}
