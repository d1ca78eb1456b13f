//! Memory for loading large ring files quickly: the file mapped read-only
//! (its page-cache pages used in place, not copied into the heap), and the
//! inflate buffer laid out so the kernel can back it with 2 MiB pages
//! (a few page faults instead of thousands, and less to unmap later). A
//! helper thread can fault both in ahead of the inflate that reads and
//! writes them, so the kernel's share of the work (mapping the file's
//! pages, zeroing the huge pages) overlaps it.
//!
//! A mapped ring file must not be truncated in place while it is read; ring
//! files are only ever replaced by rename (`atomic_file`), which leaves the
//! mapped file intact. The mapping lives only while the file is decoded.

use std::fs::{File, Metadata};
use std::io::{self, Read};
use std::ops::Deref;
use std::os::fd::AsRawFd;

use crate::ring::codec::StreamBuf;

/// Files smaller than this are read, not mapped (mapping costs more).
const MAP_MIN: u64 = 1 << 20;
/// The huge page size the inflate buffer is aligned to.
const HUGE_PAGE: usize = 2 << 20;

/// A whole file's bytes: mapped read-only, or read into the heap.
pub struct FileBytes {
    map: Option<Mapping>,
    heap: Vec<u8>,
}

/// A private read-only mapping, unmapped on drop.
struct Mapping {
    ptr: *mut libc::c_void,
    len: usize,
}

// SAFETY: the mapping is read-only and owned by this value alone.
unsafe impl Send for Mapping {}
// SAFETY: shared access only ever reads it.
unsafe impl Sync for Mapping {}

impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: unmaps exactly the region mmap returned, which no slice
        // outlives (slices borrow the owning `FileBytes`).
        unsafe { libc::munmap(self.ptr, self.len) };
    }
}

impl Deref for FileBytes {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        match &self.map {
            // SAFETY: a live mapping of `len` readable bytes.
            Some(m) => unsafe { std::slice::from_raw_parts(m.ptr as *const u8, m.len) },
            None => &self.heap,
        }
    }
}

impl FileBytes {
    /// The contents of `file` (described by `meta`): a large regular file
    /// is mapped (its pages mapped in as they are first read, or ahead by
    /// [`prefault`]); anything else (small, not a regular file, or a
    /// mapping refused) is read.
    pub fn of(file: &mut File, meta: &Metadata) -> io::Result<FileBytes> {
        let len = meta.len();
        if meta.is_file() && len >= MAP_MIN {
            if let Ok(len) = usize::try_from(len) {
                // SAFETY: a fresh private read-only mapping of an open file;
                // the result is checked before use.
                let ptr = unsafe {
                    libc::mmap(
                        std::ptr::null_mut(),
                        len,
                        libc::PROT_READ,
                        libc::MAP_PRIVATE,
                        file.as_raw_fd(),
                        0,
                    )
                };
                if ptr != libc::MAP_FAILED {
                    return Ok(FileBytes {
                        map: Some(Mapping { ptr, len }),
                        heap: Vec::new(),
                    });
                }
            }
        }
        let mut heap = Vec::with_capacity(usize::try_from(len).unwrap_or(0));
        file.read_to_end(&mut heap)?;
        Ok(FileBytes { map: None, heap })
    }
}

/// Starts a thread on `scope` that maps in the pages of `file` (if mapped)
/// and then the huge pages after the first of `buf`, a [`stream_buffer`]
/// for `len` bytes, while the caller
/// inflates from the one into the other. Neither is read or written by the
/// thread (the kernel only installs pages), so it cannot disturb the
/// caller; it merely takes page faults off the caller's path.
pub fn prefault<'scope>(
    scope: &'scope std::thread::Scope<'scope, '_>,
    file: &FileBytes,
    buf: &StreamBuf,
    len: usize,
) {
    let file_pages = file.map.as_ref().map(|m| (m.ptr as usize, m.len));
    let span = len.div_ceil(HUGE_PAGE) * HUGE_PAGE;
    let tail = (len >= HUGE_PAGE && span > HUGE_PAGE).then(|| {
        let start = buf.bytes.as_ptr() as usize + buf.base + HUGE_PAGE;
        (start, span - HUGE_PAGE)
    });
    if file_pages.is_none() && tail.is_none() {
        return;
    }
    scope.spawn(move || {
        for (addr, len, advice) in [
            file_pages.map(|(a, l)| (a, l, libc::MADV_POPULATE_READ)),
            tail.map(|(a, l)| (a, l, libc::MADV_POPULATE_WRITE)),
        ]
        .into_iter()
        .flatten()
        {
            // SAFETY: advice on a range of this process's memory; populating
            // never changes contents. If the owner has already freed the
            // range, the kernel refuses (or populates whatever is there now,
            // equally harmlessly); the result is only a hint.
            unsafe { libc::madvise(addr as *mut libc::c_void, len, advice) };
        }
    });
}

/// A zeroed buffer for a `len`-byte stream. Large streams start on a 2 MiB
/// boundary inside an allocation with room up to the next boundary past
/// their end, and the kernel is asked to back that span with huge pages.
/// The padding is virtual memory that is never touched.
pub fn stream_buffer(len: usize) -> StreamBuf {
    if len < HUGE_PAGE {
        return StreamBuf::zeroed(len);
    }
    let span = len.div_ceil(HUGE_PAGE) * HUGE_PAGE;
    let mut bytes = vec![0u8; span + HUGE_PAGE];
    let addr = bytes.as_ptr() as usize;
    let base = addr.next_multiple_of(HUGE_PAGE) - addr;
    // SAFETY: advice on memory this vector owns (`base + span` is within
    // it); it changes how pages are backed, never their contents.
    unsafe {
        libc::madvise(
            bytes.as_mut_ptr().add(base).cast(),
            span,
            libc::MADV_HUGEPAGE,
        )
    };
    StreamBuf { bytes, base }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn large_buffers_are_aligned_zeroed_and_big_enough() {
        for len in [HUGE_PAGE, 6_913_604, 3 * HUGE_PAGE + 1] {
            let buf = stream_buffer(len);
            assert_eq!((buf.bytes.as_ptr() as usize + buf.base) % HUGE_PAGE, 0);
            assert!(buf.base + len.next_multiple_of(HUGE_PAGE) <= buf.bytes.len());
            assert!(buf.bytes[buf.base..buf.base + len].iter().all(|&b| b == 0));
        }
        let small = stream_buffer(1000);
        assert_eq!((small.base, small.bytes.len()), (0, 1000));
    }

    #[test]
    fn mapped_and_read_files_give_the_file_bytes() {
        let dir = tempfile::tempdir().unwrap();
        for len in [0usize, 10, MAP_MIN as usize + 12345] {
            let path = dir.path().join(format!("f{len}"));
            let data: Vec<u8> = (0..len).map(|i| (i * 31 % 251) as u8).collect();
            std::fs::write(&path, &data).unwrap();
            let mut file = File::open(&path).unwrap();
            let meta = file.metadata().unwrap();
            let bytes = FileBytes::of(&mut file, &meta).unwrap();
            assert_eq!(bytes.map.is_some(), len >= MAP_MIN as usize);
            assert_eq!(&*bytes, &data[..]);
        }
    }
}
