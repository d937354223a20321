//! One stable sort for every caller (issue 11, the wasm's size).
//!
//! `slice::sort_by` is a large function (the stable driftsort: about 4 KiB
//! of wasm) copied once per element type and comparator. [`sort_by`] sorts
//! positions with one small non-generic merge sort instead, then moves the elements
//! into that order: the same result as `slice::sort_by` (stable: equal
//! elements keep their order), for lists of hundreds, not millions.
//!
//! ```
//! let mut v = vec![(2, "b"), (1, "x"), (2, "a"), (1, "y")];
//! bgsession::core::order::sort_by(&mut v, |a, b| a.0.cmp(&b.0));
//! assert_eq!(v, [(1, "x"), (1, "y"), (2, "b"), (2, "a")]);
//! ```

use std::cmp::Ordering;

/// Sorts `v` stably by `cmp`, as `v.sort_by(cmp)` does.
pub fn sort_by<T>(v: &mut Vec<T>, cmp: impl Fn(&T, &T) -> Ordering) {
    // Already in order (a journal read by key, usually): n - 1 comparisons
    // and no moves, where the merge sort makes n log n and moves every
    // element twice (1.6-3.4 ms of a 1,000-entry relaunch's main thread,
    // by the machine's spell).
    if v.windows(2).all(|w| cmp(&w[0], &w[1]) != Ordering::Greater) {
        return;
    }
    let order = positions(v.len(), &|a, b| cmp(&v[a], &v[b]));
    let mut slots: Vec<Option<T>> = v.drain(..).map(Some).collect();
    v.extend(order.into_iter().filter_map(|i| slots[i].take()));
}

/// `0..n` sorted stably by `cmp`: the one sort instance, a bottom-up
/// merge sort (a few hundred bytes of wasm; the standard library's stable
/// sort is about 4 KiB even as one instance). O(n log n) comparisons.
#[inline(never)]
fn positions(n: usize, cmp: &dyn Fn(usize, usize) -> Ordering) -> Vec<usize> {
    let mut from: Vec<usize> = (0..n).collect();
    let mut to = vec![0; n];
    let mut width = 1;
    while width < n {
        let mut start = 0;
        while start < n {
            let mid = (start + width).min(n);
            let end = (start + 2 * width).min(n);
            let (mut i, mut j) = (start, mid);
            for slot in &mut to[start..end] {
                // The left run's head first unless the right's is smaller: stable.
                if i < mid && (j == end || cmp(from[j], from[i]) != Ordering::Less) {
                    *slot = from[i];
                    i += 1;
                } else {
                    *slot = from[j];
                    j += 1;
                }
            }
            start = end;
        }
        std::mem::swap(&mut from, &mut to);
        width *= 2;
    }
    from
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn input_in_order_ties_included_is_left_as_it_is() {
        for v in [vec![], vec![(1, 'a')], vec![(1, 'a'), (1, 'b'), (2, 'c'), (2, 'd'), (7, 'e')], (0..1000).map(|i| (i / 3, char::from(b'a' + (i % 26) as u8))).collect()] {
            let mut ours = v.clone();
            sort_by(&mut ours, |a, b| a.0.cmp(&b.0));
            assert_eq!(ours, v);
        }
        // One element out of place at the end: sorted, stably.
        let mut v = vec![(1, 'a'), (2, 'b'), (2, 'c'), (3, 'd'), (2, 'e')];
        sort_by(&mut v, |a, b| a.0.cmp(&b.0));
        assert_eq!(v, [(1, 'a'), (2, 'b'), (2, 'c'), (2, 'e'), (3, 'd')]);
    }

    #[test]
    fn the_same_order_as_slice_sort_by_ties_included() {
        let mut x: u64 = 0x2545_F491_4F6C_DD1D;
        for len in [0usize, 1, 2, 3, 4, 5, 7, 8, 9, 20, 33, 100, 1000, 1025] {
            let v: Vec<(u64, usize)> = (0..len)
                .map(|i| {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    (x % 5, i) // many ties: stability shows
                })
                .collect();
            let mut ours = v.clone();
            sort_by(&mut ours, |a, b| a.0.cmp(&b.0));
            let mut std = v.clone();
            std.sort_by_key(|a| a.0);
            assert_eq!(ours, std, "len {len}");
        }
    }
}
