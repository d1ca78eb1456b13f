//! `PartTable`: the partition → device table kept in the compact form ring
//! files store it (2- or 4-byte ids, either byte order), so a decoded file's
//! bytes become the lookup table without a conversion pass or a copy.

/// How ids are laid out in a table's bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdLayout {
    U16Le,
    U16Be,
    U32Le,
    U32Be,
}

impl IdLayout {
    /// Bytes per id.
    pub fn width(self) -> usize {
        match self {
            IdLayout::U16Le | IdLayout::U16Be => 2,
            IdLayout::U32Le | IdLayout::U32Be => 4,
        }
    }
}

/// Replica rows of device ids, row `r` starting `r * stride` ids after the
/// first one; each row has its own length (at most `stride`).
#[derive(Debug, Clone)]
pub struct PartTable {
    bytes: Vec<u8>,
    /// Where the decompressed stream the table came from starts in `bytes`.
    origin: usize,
    start: usize,
    layout: IdLayout,
    stride: usize,
    row_lens: Vec<usize>,
}

impl PartTable {
    /// A table over `bytes[start..]`: `row_lens.len()` rows of `stride` ids
    /// apart. Fails (naming the shortfall) if `bytes` is too short for them.
    pub fn new(
        bytes: Vec<u8>,
        start: usize,
        layout: IdLayout,
        stride: usize,
        row_lens: Vec<usize>,
    ) -> Result<PartTable, String> {
        let end = row_lens
            .iter()
            .enumerate()
            .map(|(r, &len)| {
                if len > stride {
                    return None;
                }
                (r as u128 * stride as u128 + len as u128).checked_mul(layout.width() as u128)
            })
            .try_fold(0u128, |acc, e| e.map(|e| acc.max(e)))
            .ok_or("a table row is longer than the partition count")?;
        let avail = bytes.len().saturating_sub(start) as u128;
        if start > bytes.len() || end > avail {
            return Err(format!(
                "table needs {end} bytes after offset {start}, {avail} present"
            ));
        }
        Ok(PartTable {
            bytes,
            origin: 0,
            start,
            layout,
            stride,
            row_lens,
        })
    }

    /// Packs rows of ids (2 bytes each when every id fits, else 4).
    pub fn from_rows(rows: &[Vec<u32>]) -> PartTable {
        let stride = rows.iter().map(Vec::len).max().unwrap_or(0);
        let narrow = rows.iter().flatten().all(|&id| id <= 0xFFFF);
        let layout = if narrow {
            IdLayout::U16Le
        } else {
            IdLayout::U32Le
        };
        let mut bytes = vec![0u8; rows.len() * stride * layout.width()];
        for (r, row) in rows.iter().enumerate() {
            let out = &mut bytes[r * stride * layout.width()..];
            if narrow {
                for (chunk, &id) in out.chunks_exact_mut(2).zip(row) {
                    chunk.copy_from_slice(&(id as u16).to_le_bytes());
                }
            } else {
                for (chunk, &id) in out.chunks_exact_mut(4).zip(row) {
                    chunk.copy_from_slice(&id.to_le_bytes());
                }
            }
        }
        PartTable {
            bytes,
            origin: 0,
            start: 0,
            layout,
            stride,
            row_lens: rows.iter().map(Vec::len).collect(),
        }
    }

    /// Marks `bytes[origin..]` as the decompressed stream the table was
    /// decoded from (what [`PartTable::source_bytes`] returns); the bytes
    /// before it are padding. `origin` is at most the table's start.
    pub fn with_origin(mut self, origin: usize) -> PartTable {
        self.origin = origin.min(self.start);
        self
    }

    /// The rows as plain vectors.
    pub fn to_rows(&self) -> Vec<Vec<u32>> {
        (0..self.rows())
            .map(|r| {
                let mut row = Vec::with_capacity(self.row_len(r));
                self.for_each_in_row(r, |id| row.push(id));
                row
            })
            .collect()
    }

    /// The buffer the table lives in, from its origin (for a table decoded
    /// from a ring file: the entire decompressed stream, the rows at some
    /// offset).
    pub fn source_bytes(&self) -> &[u8] {
        &self.bytes[self.origin..]
    }

    /// Number of replica rows.
    pub fn rows(&self) -> usize {
        self.row_lens.len()
    }

    /// Number of ids in row `r` (0 past the last row).
    pub fn row_len(&self, r: usize) -> usize {
        self.row_lens.get(r).copied().unwrap_or(0)
    }

    /// The id of replica `r` of partition `part`, if that slot exists.
    #[inline]
    pub fn get(&self, r: usize, part: usize) -> Option<u32> {
        if part >= *self.row_lens.get(r)? {
            return None;
        }
        let at = self.start + (r * self.stride + part) * self.layout.width();
        let b = &self.bytes;
        Some(match self.layout {
            IdLayout::U16Le => u32::from(u16::from_le_bytes([b[at], b[at + 1]])),
            IdLayout::U16Be => u32::from(u16::from_be_bytes([b[at], b[at + 1]])),
            IdLayout::U32Le => u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]]),
            IdLayout::U32Be => u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]]),
        })
    }

    /// Sets `marks[id]` for every id in the table; returns false if some id
    /// is `marks.len()` or more (those are not marked).
    pub fn mark_ids(&self, marks: &mut [bool]) -> bool {
        let mut in_range = true;
        if self.layout.width() != 2 {
            for r in 0..self.rows() {
                self.for_each_in_row(r, |id| match marks.get_mut(id as usize) {
                    Some(mark) => *mark = true,
                    None => in_range = false,
                });
            }
            return in_range;
        }
        // Two-byte ids: mark a table of every possible id (no bounds checks
        // in the loop over millions of slots), then copy the marks over. A
        // large table is split in two halves marked on two threads.
        let width = self.layout.width();
        let mut slices: Vec<&[u8]> = (0..self.rows())
            .filter_map(|r| {
                let from = self.start + r * self.stride * width;
                self.bytes.get(from..from + self.row_len(r) * width)
            })
            .collect();
        let total: usize = slices.iter().map(|s| s.len()).sum();
        let big_endian = self.layout == IdLayout::U16Be;
        let seen = if total < PARALLEL_MARK_MIN {
            mark_u16(&slices, big_endian)
        } else {
            let second = split_slices(&mut slices, total / 2 / width * width);
            std::thread::scope(|scope| {
                let helper = scope.spawn(|| mark_u16(&second, big_endian));
                let mut seen = mark_u16(&slices, big_endian);
                let other = helper
                    .join()
                    .unwrap_or_else(|_| mark_u16(&second, big_endian));
                seen.iter_mut().zip(other.iter()).for_each(|(a, b)| *a |= b);
                seen
            })
        };
        for (id, _) in seen.iter().enumerate().filter(|(_, &s)| s) {
            match marks.get_mut(id) {
                Some(mark) => *mark = true,
                None => in_range = false,
            }
        }
        in_range
    }

    /// Calls `f` with every id of row `r`, in partition order.
    pub fn for_each_in_row(&self, r: usize, mut f: impl FnMut(u32)) {
        let width = self.layout.width();
        let from = self.start + r * self.stride * width;
        let Some(bytes) = self.bytes.get(from..from + self.row_len(r) * width) else {
            return;
        };
        match self.layout {
            IdLayout::U16Le => bytes
                .chunks_exact(2)
                .for_each(|c| f(u32::from(u16::from_le_bytes([c[0], c[1]])))),
            IdLayout::U16Be => bytes
                .chunks_exact(2)
                .for_each(|c| f(u32::from(u16::from_be_bytes([c[0], c[1]])))),
            IdLayout::U32Le => bytes
                .chunks_exact(4)
                .for_each(|c| f(u32::from_le_bytes([c[0], c[1], c[2], c[3]]))),
            IdLayout::U32Be => bytes
                .chunks_exact(4)
                .for_each(|c| f(u32::from_be_bytes([c[0], c[1], c[2], c[3]]))),
        }
    }
}

/// Two-byte tables with at least this many bytes are marked on two threads.
const PARALLEL_MARK_MIN: usize = 1 << 20;

/// Which of the 65,536 possible ids the 2-byte ids in `slices` use.
fn mark_u16(slices: &[&[u8]], big_endian: bool) -> Box<[bool; 1 << 16]> {
    let mut seen = Box::new([false; 1 << 16]);
    for bytes in slices {
        let chunks = bytes.chunks_exact(2);
        if big_endian {
            chunks.for_each(|c| seen[usize::from(u16::from_be_bytes([c[0], c[1]]))] = true);
        } else {
            chunks.for_each(|c| seen[usize::from(u16::from_le_bytes([c[0], c[1]]))] = true);
        }
    }
    seen
}

/// Splits `slices` after `at` bytes (in order): `slices` keeps the first
/// part, the rest is returned.
fn split_slices<'a>(slices: &mut Vec<&'a [u8]>, mut at: usize) -> Vec<&'a [u8]> {
    for i in 0..slices.len() {
        if at < slices[i].len() {
            let (head, tail) = slices[i].split_at(at);
            let mut rest = vec![tail];
            rest.extend(slices.drain(i + 1..));
            slices[i] = head;
            return rest;
        }
        at -= slices[i].len();
    }
    Vec::new()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_round_trip_in_both_widths() {
        let narrow = vec![vec![1, 2, 3], vec![4, 5, 6], vec![7]];
        let wide = vec![vec![1, 70_000], vec![3, 4]];
        for rows in [narrow, wide] {
            let table = PartTable::from_rows(&rows);
            assert_eq!(table.to_rows(), rows);
            assert_eq!(table.get(0, 1), Some(rows[0][1]));
            assert_eq!(table.get(rows.len() - 1, 5), None);
            assert_eq!(table.get(rows.len(), 0), None);
        }
    }

    #[test]
    fn marks_every_id_and_reports_ids_out_of_range() {
        let narrow = PartTable::from_rows(&[vec![1, 2, 3], vec![4, 2]]);
        let wide = PartTable::from_rows(&[vec![1, 70_000], vec![3, 1]]);
        let be = PartTable::new(vec![0, 3, 1, 0], 0, IdLayout::U16Be, 2, vec![2]).unwrap();
        for (table, ids) in [
            (narrow, vec![1, 2, 3, 4]),
            (wide, vec![1, 3, 70_000]),
            (be, vec![3, 256]),
        ] {
            let mut marks = vec![false; 70_001];
            assert!(table.mark_ids(&mut marks));
            let marked: Vec<u32> = (0..marks.len() as u32)
                .filter(|&i| marks[i as usize])
                .collect();
            assert_eq!(marked, ids);
            let mut short = vec![false; 3];
            assert!(!table.mark_ids(&mut short));
            assert_eq!(short[1], ids.contains(&1));
        }
    }

    #[test]
    fn large_tables_are_marked_in_two_halves() {
        // Row 1 alone uses id 60_000, past the middle of the table.
        let mut rows = vec![vec![7u32; 300_000]; 3];
        rows[1][299_999] = 60_000;
        rows[2][5] = 3;
        let table = PartTable::from_rows(&rows);
        let mut marks = vec![false; 60_001];
        assert!(table.mark_ids(&mut marks));
        let marked: Vec<usize> = (0..marks.len()).filter(|&i| marks[i]).collect();
        assert_eq!(marked, vec![3, 7, 60_000]);
        let mut slices: Vec<&[u8]> = vec![&[1, 2, 3, 4], &[5, 6], &[7, 8]];
        assert_eq!(
            split_slices(&mut slices, 2),
            vec![&[3, 4][..], &[5, 6], &[7, 8]]
        );
        assert_eq!(slices, vec![&[1, 2][..]]);
    }

    #[test]
    fn big_endian_bytes_at_an_offset() {
        let bytes = vec![9, 9, 9, 0, 1, 0, 2, 1, 0, 0, 0];
        let table = PartTable::new(bytes.clone(), 3, IdLayout::U16Be, 2, vec![2, 1]).unwrap();
        assert_eq!(table.to_rows(), vec![vec![1, 2], vec![256]]);
        assert!(PartTable::new(bytes.clone(), 3, IdLayout::U16Be, 2, vec![2, 2, 1]).is_err());
        assert!(PartTable::new(bytes.clone(), 3, IdLayout::U16Be, 2, vec![3]).is_err());
        let wide = PartTable::new(bytes, 3, IdLayout::U32Be, 1, vec![1, 1]).unwrap();
        assert_eq!(wide.to_rows(), vec![vec![0x0001_0002], vec![0x0100_0000]]);
    }
}
