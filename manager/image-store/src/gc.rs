//! Garbage collection: blobs and unpacked layers that no image, container
//! snapshot or in-flight operation holds.

use std::collections::HashSet;

use crate::images::image_items;
use crate::{Error, ImageStore};

impl ImageStore {
    /// Deletes unreferenced blobs and layers — only those in `only`, when
    /// given. Returns (blobs deleted, layers deleted, bytes freed).
    pub(crate) fn collect(
        &self,
        only: Option<&HashSet<String>>,
    ) -> Result<(usize, usize, u64), Error> {
        let _g = self.commit_lock.lock().unwrap_or_else(|e| e.into_inner());
        let mut live: HashSet<String> = HashSet::new();
        for (_, rec) in self.meta.images()? {
            live.extend(image_items(&rec));
        }
        for (_, c) in self.meta.containers()? {
            live.extend(c.chain.iter().map(|d| d.to_string()));
        }
        let leased: HashSet<String> = self
            .leases
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .keys()
            .cloned()
            .collect();
        let doomed = |item: &str| {
            !live.contains(item) && !leased.contains(item) && only.is_none_or(|o| o.contains(item))
        };
        let (mut blobs, mut layers, mut bytes) = (0, 0, 0);
        for d in self.content.list()? {
            if doomed(d.as_str()) {
                bytes += self.content.delete(&d)?;
                blobs += 1;
            }
        }
        for (chain, rec) in self.meta.layers()? {
            if doomed(&chain) {
                // Record first: a crash then leaves a directory open() removes.
                let chain = crate::Digest::parse(&chain)?;
                self.meta.remove_layer(&chain)?;
                bytes += self.remove_layer_dir(rec.id);
                layers += 1;
            }
        }
        Ok((blobs, layers, bytes))
    }
}
