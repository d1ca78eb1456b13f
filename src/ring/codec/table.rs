//! The partition → device table as bytes: rows of 2- or 4-byte ids in either
//! byte order, converted in bulk.

use super::error::RingFileError;

/// Byte order of the ids in a table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endian {
    Little,
    Big,
}

/// Appends one row as `width`-byte ids, failing if an id does not fit.
pub fn encode_row(
    out: &mut Vec<u8>,
    row: &[u32],
    width: u8,
    endian: Endian,
) -> Result<(), RingFileError> {
    out.reserve(row.len() * usize::from(width));
    if width == 2 {
        if let Some(&too_big) = row.iter().find(|&&id| id > 0xFFFF) {
            return Err(RingFileError::Unwritable(format!(
                "device id {too_big} does not fit in 2 bytes (dev_id_bytes is 2)"
            )));
        }
        for &id in row {
            let id = id as u16;
            out.extend_from_slice(&match endian {
                Endian::Little => id.to_le_bytes(),
                Endian::Big => id.to_be_bytes(),
            });
        }
    } else {
        for &id in row {
            out.extend_from_slice(&match endian {
                Endian::Little => id.to_le_bytes(),
                Endian::Big => id.to_be_bytes(),
            });
        }
    }
    Ok(())
}

/// Number of partitions for a part shift (`2^(32 - part_shift)`).
pub fn partitions(part_shift: u32) -> u64 {
    1u64 << (32 - part_shift.min(32))
}
