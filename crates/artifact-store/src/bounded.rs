//! Bounded reads: every object this crate reads whole goes through here, so a store (or a
//! server) that returns more than expected can never make us buffer without limit.

use bytes::{Bytes, BytesMut};
use futures::StreamExt as _;
use object_store::GetResult;

use crate::error::{Error, Result};

/// Reads the body of `result` when it is at most `max` bytes; `Ok(None)` when it is larger
/// (by its declared size or by what actually arrives, whichever shows first). `location`
/// names the object in errors.
pub(crate) async fn read_bounded(
    result: GetResult,
    max: u64,
    location: &str,
) -> Result<Option<Bytes>> {
    if result.meta.size > max {
        return Ok(None);
    }
    // Only a first allocation (at most 64 MiB, which fits any usize we build for); the buffer
    // grows as needed, so 0 on a platform where it did not fit would cost nothing but time.
    let capacity = usize::try_from(result.meta.size.min(max).min(64 << 20)).unwrap_or(0);
    let mut buf = BytesMut::with_capacity(capacity);
    let mut stream = result.into_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| Error::from_store(e, location))?;
        if (buf.len() + chunk.len()) as u64 > max {
            return Ok(None);
        }
        buf.extend_from_slice(&chunk);
    }
    Ok(Some(buf.freeze()))
}
