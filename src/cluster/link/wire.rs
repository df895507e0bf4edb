//! Link frames: `u32` big-endian length, a kind byte, the body (see the parent module).

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::*;

/// Bytes asked of the socket per read by a link connection's reader.
pub(super) const READ_BUF: usize = 64 * 1024;

/// A frame in a read buffer: its kind, its body and the bytes it takes there.
pub(super) type Framed<'a> = (u8, &'a [u8], usize);

/// The first complete frame in `buf`; `None` until all of it has arrived.
pub(super) fn next_frame(buf: &[u8]) -> Result<Option<Framed<'_>>, LinkError> {
    let Some(head) = buf.get(..5) else { return Ok(None) };
    let len = u32::from_be_bytes([head[0], head[1], head[2], head[3]]) as usize;
    if len == 0 || len > MAX_FRAME {
        return Err(LinkError::Protocol(format!("bad frame length {len}")));
    }
    Ok(buf.get(5..4 + len).map(|body| (head[4], body, 4 + len)))
}

pub(super) fn split_id(body: &[u8]) -> Option<(u64, &[u8])> {
    let id = u64::from_be_bytes(body.get(..8)?.try_into().ok()?);
    Some((id, body.get(8..)?))
}

pub(super) async fn write_frame<W: AsyncWriteExt + Unpin>(w: &mut W, kind: u8, parts: &[&[u8]]) -> std::io::Result<()> {
    let len: usize = 1 + parts.iter().map(|p| p.len()).sum::<usize>();
    let len = u32::try_from(len).map_err(|_| std::io::Error::other("frame too large"))?;
    w.write_all(&len.to_be_bytes()).await?;
    w.write_all(&[kind]).await?;
    for p in parts {
        w.write_all(p).await?;
    }
    Ok(())
}

/// Read one frame of at most `max` bytes (before the handshake completes: a few KiB, so an
/// unauthenticated peer cannot make this node allocate much).
pub(super) async fn read_frame<R: AsyncReadExt + Unpin>(r: &mut R, max: usize) -> Result<(u8, Vec<u8>), LinkError> {
    let mut head = [0u8; 5];
    r.read_exact(&mut head).await?;
    let [a, b, c, d, kind] = head;
    let len = u32::from_be_bytes([a, b, c, d]) as usize;
    if len == 0 || len > max {
        return Err(LinkError::Protocol(format!("bad frame length {len}")));
    }
    let mut buf = vec![0u8; len - 1];
    r.read_exact(&mut buf).await?;
    Ok((kind, buf))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_are_cut_from_a_read_buffer() {
        let mut b = Vec::new();
        b.extend_from_slice(&4u32.to_be_bytes());
        b.push(PUBLISH);
        b.extend_from_slice(b"abc");
        b.extend_from_slice(&2u32.to_be_bytes());
        b.push(REQUEST);
        // The second frame's body is still on its way.
        let (kind, body, used) = next_frame(&b).expect("valid").expect("complete");
        assert_eq!((kind, body, used), (PUBLISH, &b"abc"[..], 8));
        assert!(next_frame(&b[used..]).expect("valid").is_none());
        b.push(b'x');
        assert_eq!(next_frame(&b[used..]).expect("valid"), Some((REQUEST, &b"x"[..], 6)));
        assert!(next_frame(&b[..3]).expect("valid").is_none(), "header not complete yet");
        assert!(next_frame(&[0, 0, 0, 0, 1]).is_err(), "length 0");
        assert!(next_frame(&u32::MAX.to_be_bytes()).is_ok(), "4 bytes: header not complete");
        let mut huge = (MAX_FRAME as u32 + 1).to_be_bytes().to_vec();
        huge.push(PUBLISH);
        assert!(next_frame(&huge).is_err(), "over the frame limit");
    }
}
