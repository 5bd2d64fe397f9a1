//! Per-layer progress events streamed to the CLI during pull, push, load
//! and import, shaped like docker's progress lines.

use crate::digest::Digest;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProgressAction {
    Waiting,
    Downloading,
    Verifying,
    Extracting,
    /// The layer (or blob) is complete: downloaded and unpacked, or pushed.
    Done,
    AlreadyExists,
    Pushing,
    Pushed,
}

impl ProgressAction {
    /// Docker's wording for the action.
    pub fn as_str(self) -> &'static str {
        match self {
            ProgressAction::Waiting => "Waiting",
            ProgressAction::Downloading => "Downloading",
            ProgressAction::Verifying => "Verifying Checksum",
            ProgressAction::Extracting => "Extracting",
            ProgressAction::Done => "Done",
            ProgressAction::AlreadyExists => "Already exists",
            ProgressAction::Pushing => "Pushing",
            ProgressAction::Pushed => "Pushed",
        }
    }
}

/// One progress event about one blob.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Progress {
    /// The 12-digit short id of the blob, as docker prints it.
    pub id: String,
    pub digest: Digest,
    pub action: ProgressAction,
    /// Bytes handled so far.
    pub current: u64,
    /// Total bytes, when known.
    pub total: Option<u64>,
}

impl Progress {
    pub(crate) fn new(
        digest: &Digest,
        action: ProgressAction,
        current: u64,
        total: Option<u64>,
    ) -> Progress {
        Progress {
            id: digest.short().to_string(),
            digest: digest.clone(),
            action,
            current,
            total,
        }
    }
}
