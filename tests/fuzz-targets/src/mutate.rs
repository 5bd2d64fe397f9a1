//! Deterministic mutations of corpus inputs for the stable-toolchain replay:
//! the kinds of edit libFuzzer makes (bit flips, interesting bytes,
//! truncation, duplication, insertion, splicing two inputs), drawn from a
//! fixed-seed generator so every run of `cargo test` checks the same cases.

/// A small xorshift generator: reproducible, no dependency.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed | 1)
    }

    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    /// A number in `0..n` (`n` > 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }
}

const INTERESTING: &[u8] = &[
    0, 1, 0x7f, 0x80, 0xff, b'/', b'.', b'"', b'\\', b'{', b'[', b'$', b'\n',
];

/// `count` inputs derived from `seeds` (which must not be empty).
pub fn cases(seeds: &[Vec<u8>], count: usize, seed: u64) -> Vec<Vec<u8>> {
    let mut rng = Rng::new(seed);
    (0..count)
        .map(|_| {
            let mut data = seeds[rng.below(seeds.len())].clone();
            for _ in 0..=rng.below(4) {
                mutate(&mut data, seeds, &mut rng);
            }
            data
        })
        .collect()
}

/// One random edit of `data`.
pub fn mutate(data: &mut Vec<u8>, seeds: &[Vec<u8>], rng: &mut Rng) {
    if data.is_empty() {
        data.push(rng.next_u64() as u8);
        return;
    }
    let at = rng.below(data.len());
    match rng.below(7) {
        0 => data[at] ^= 1 << rng.below(8),
        1 => data[at] = INTERESTING[rng.below(INTERESTING.len())],
        2 => data.truncate(at),
        3 => {
            let len = rng.below(data.len() - at) + 1;
            let chunk = data[at..at + len].to_vec();
            let to = rng.below(data.len());
            data.splice(to..to, chunk);
        }
        4 => {
            let n = rng.below(16) + 1;
            let bytes: Vec<u8> = (0..n).map(|_| rng.next_u64() as u8).collect();
            data.splice(at..at, bytes);
        }
        5 => {
            let len = rng.below(data.len() - at) + 1;
            data.drain(at..at + len);
        }
        _ => {
            let other = &seeds[rng.below(seeds.len())];
            if !other.is_empty() {
                let from = rng.below(other.len());
                data.truncate(at);
                data.extend_from_slice(&other[from..]);
            }
        }
    }
}
