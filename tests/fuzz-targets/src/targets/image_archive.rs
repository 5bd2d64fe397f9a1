//! `berth load`: an OCI or `docker save` archive (tar, maybe gzipped)
//! imported into a store, then a container snapshot of each image made (which
//! unpacks its layers) and everything removed again. A refused archive must
//! leave the store's images as they were, and nothing may be written outside
//! the store.

pub const GENERATED: usize = 600;

use berth_image_store::ImageStore;

use crate::scratch::Scratch;

thread_local! {
    static STORE: (Scratch, ImageStore) = {
        let scratch = Scratch::new();
        let store = ImageStore::open(&scratch.place()).expect("open image store");
        (scratch, store)
    };
}

pub fn run(data: &[u8]) {
    STORE.with(|(scratch, store)| {
        std::fs::write(scratch.input(), data).expect("write archive");
        let before = names(store);
        match store.import_archive(&scratch.input(), |_| {}) {
            Ok(images) => {
                for img in &images {
                    if store.prepare("fuzz", &img.id.to_string()).is_ok() {
                        store.remove_snapshot("fuzz").expect("remove the fuzz snapshot");
                    }
                }
                for img in &images {
                    let _ = store.remove(&img.id.to_string(), true);
                }
            }
            Err(e) => {
                assert!(!e.to_string().contains('\n'), "multi-line error: {e}");
                assert_eq!(names(store), before, "a refused archive changed the store");
            }
        }
        scratch.check();
    });
}

fn names(store: &ImageStore) -> Vec<String> {
    let mut v: Vec<String> = store
        .list_all()
        .expect("list images")
        .into_iter()
        .map(|i| format!("{} {:?}", i.id, i.name))
        .collect();
    v.sort();
    v
}
